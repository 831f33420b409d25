//! Red Hat / SUSE ifcfg files (`/etc/sysconfig/network-scripts/ifcfg-*`): shell `KEY=value`
//! lines, edited with the [`keyfile`](super::keyfile) line helpers.

use super::keyfile::{drop_named, is_numbered, key_of, key_value};
use super::{Edit, EditError, StaticConfig, lf, lines, push_line};

/// Drop HWADDR, MACADDR and LLADDR (the device is then matched by DEVICE= or the file name).
pub fn drop_hwaddr(text: &str) -> Option<Edit> {
    drop_named(text, &["HWADDR", "MACADDR", "LLADDR"])
}

/// Drop HOSTNAME and DHCP_HOSTNAME (virt-sysprep's net-hostname).
pub fn drop_hostname(text: &str) -> Option<Edit> {
    drop_named(text, &["HOSTNAME", "DHCP_HOSTNAME"])
}

/// BOOTPROTO none/static (or unset) with IPADDR; switched to BOOTPROTO=dhcp without the
/// addresses, prefixes, netmasks and gateways.
pub fn static_ip(text: &str, to_dhcp: bool) -> Result<Option<StaticConfig>, EditError> {
    let ls = lines(text);
    let mut proto = None;
    let mut addrs = Vec::new();
    for l in &ls {
        match key_value(l) {
            Some(("BOOTPROTO", v)) => proto = Some(v.to_ascii_lowercase()),
            Some((k, v)) if is_numbered(k, "IPADDR") => addrs.push(v.to_string()),
            _ => {}
        }
    }
    let is_static = matches!(proto.as_deref(), None | Some("none" | "static" | ""));
    if !is_static || addrs.is_empty() {
        return Ok(None);
    }
    let what = format!("IPADDR {}", addrs.join(", "));
    StaticConfig::found(what, to_dhcp, || Ok(to_dhcp_text(&ls)))
}

/// BOOTPROTO=dhcp (added when missing) and no addressing keys.
fn to_dhcp_text(ls: &[&str]) -> String {
    let mut out = String::new();
    let mut set = false;
    for l in ls {
        let k = key_of(l).unwrap_or("");
        if k == "BOOTPROTO" {
            out.push_str("BOOTPROTO=dhcp");
            out.push_str(lf(l));
            set = true;
        } else if !["IPADDR", "PREFIX", "NETMASK", "GATEWAY"]
            .iter()
            .any(|b| is_numbered(k, b))
        {
            out.push_str(l);
        }
    }
    if !set {
        push_line(&mut out, "BOOTPROTO=dhcp\n");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::super::dhcp;
    use super::*;

    #[test]
    fn ifcfg_static_to_dhcp() {
        let t = "DEVICE=eth0\nBOOTPROTO=none\nIPADDR=192.0.2.10\nPREFIX=24\nGATEWAY=192.0.2.1\nDNS1=192.0.2.53\n";
        assert!(static_ip(t, false).unwrap().unwrap().dhcp.is_none());
        assert_eq!(
            dhcp(static_ip, t),
            "DEVICE=eth0\nBOOTPROTO=dhcp\nDNS1=192.0.2.53\n"
        );
        assert!(static_ip("BOOTPROTO=dhcp\n", true).unwrap().is_none());
    }
}
