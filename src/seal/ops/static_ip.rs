//! static-ip: static IPv4/IPv6 configuration is reported (a clone would take the same address);
//! with `static_ip_to_dhcp` it is switched to DHCP, line by line, keeping the rest of the file.

use crate::fs::{FsError, GuestFs, OsInfo};
use crate::seal::{Action, SealOp, SealOptions};

use super::hwaddr::{IFCFG_GLOBS, IFUPDOWN_GLOBS, NETPLAN_GLOBS, NM_GLOBS, config_files};
use super::keyfile::{self, key_of, section_of};
use super::{netplan, paths};

pub struct StaticIp;

/// Looks at one file's text: what static configuration it holds, and (when asked) the
/// DHCP version of the file.
type Check = fn(&str, bool) -> Result<Option<Found>, String>;

/// What one file holds and, when asked, its DHCP version.
struct Found {
    what: String,
    dhcp: Option<String>,
}

impl SealOp for StaticIp {
    fn name(&self) -> &'static str {
        "static-ip"
    }
    fn summary(&self) -> &'static str {
        "Report static IP configuration (switch it to DHCP with --static-ip-to-dhcp)"
    }
    fn default_enabled(&self) -> bool {
        true
    }
    fn plan(
        &self,
        fs: &dyn GuestFs,
        _os: &OsInfo,
        opts: &SealOptions,
    ) -> Result<Vec<Action>, FsError> {
        let to_dhcp = opts.static_ip_to_dhcp;
        let mut v = Vec::new();
        let mut files: Vec<(String, Check)> = Vec::new();
        for p in config_files(fs, IFCFG_GLOBS)? {
            files.push((p, ifcfg));
        }
        for p in config_files(fs, NM_GLOBS)? {
            files.push((p, nm_keyfile));
        }
        for p in config_files(fs, &["/etc/systemd/network/*.network"])? {
            files.push((p, networkd));
        }
        for p in config_files(fs, IFUPDOWN_GLOBS)? {
            files.push((p, ifupdown));
        }
        for p in config_files(fs, NETPLAN_GLOBS)? {
            files.push((p, netplan_file));
        }
        for (path, check) in files {
            let Some(text) = paths::read_text(fs, &path)? else {
                continue;
            };
            match check(&text, to_dhcp) {
                Ok(None) => {}
                Ok(Some(Found {
                    what,
                    dhcp: Some(new),
                })) => v.push(Action::Write {
                    path,
                    content: new.into_bytes(),
                    note: format!("switched to DHCP: {what}"),
                }),
                Ok(Some(Found { what, dhcp: None })) => v.push(Action::Report {
                    path,
                    note: format!("static IP configuration: {what}"),
                }),
                Err(why) => v.push(Action::Report {
                    path,
                    note: format!("static IP configuration not switched: {why}"),
                }),
            }
        }
        Ok(paths::sorted(v))
    }
}

fn unquote(v: &str) -> &str {
    v.trim().trim_matches(['"', '\''])
}

fn value_of(line: &str) -> &str {
    unquote(line.split_once('=').map(|(_, v)| v).unwrap_or(""))
}

fn is_numbered(key: &str, base: &str) -> bool {
    key.strip_prefix(base)
        .is_some_and(|r| r.chars().all(|c| c.is_ascii_digit()))
}

/// Red Hat ifcfg: BOOTPROTO none/static (or unset) with IPADDR.
fn ifcfg(text: &str, to_dhcp: bool) -> Result<Option<Found>, String> {
    let ls = keyfile::lines(text);
    let mut proto = None;
    let mut addrs = Vec::new();
    for l in &ls {
        match key_of(l) {
            Some("BOOTPROTO") => proto = Some(value_of(l).to_ascii_lowercase()),
            Some(k) if is_numbered(k, "IPADDR") => addrs.push(value_of(l).to_string()),
            _ => {}
        }
    }
    let is_static = matches!(proto.as_deref(), None | Some("none" | "static" | ""));
    if !is_static || addrs.is_empty() {
        return Ok(None);
    }
    let what = format!("IPADDR {}", addrs.join(", "));
    if !to_dhcp {
        return Ok(Some(Found { what, dhcp: None }));
    }
    let mut out = String::with_capacity(text.len());
    let mut set = false;
    for l in &ls {
        let k = key_of(l).unwrap_or("");
        if k == "BOOTPROTO" {
            out.push_str("BOOTPROTO=dhcp");
            out.push_str(if l.ends_with('\n') { "\n" } else { "" });
            set = true;
        } else if !["IPADDR", "PREFIX", "NETMASK", "GATEWAY"]
            .iter()
            .any(|b| is_numbered(k, b))
        {
            out.push_str(l);
        }
    }
    if !set {
        if !out.is_empty() && !out.ends_with('\n') {
            out.push('\n');
        }
        out.push_str("BOOTPROTO=dhcp\n");
    }
    Ok(Some(Found {
        what,
        dhcp: Some(out),
    }))
}

/// NetworkManager keyfile: [ipv4]/[ipv6] method=manual.
fn nm_keyfile(text: &str, to_dhcp: bool) -> Result<Option<Found>, String> {
    let ls = keyfile::lines(text);
    let mut section = None;
    let mut manual = Vec::new();
    for l in &ls {
        if let Some(s) = section_of(l) {
            section = Some(s);
        } else if let Some(s @ ("ipv4" | "ipv6")) = section
            && key_of(l) == Some("method")
            && value_of(l) == "manual"
        {
            manual.push(s);
        }
    }
    if manual.is_empty() {
        return Ok(None);
    }
    let what = format!("{} method=manual", manual.join(", "));
    if !to_dhcp {
        return Ok(Some(Found { what, dhcp: None }));
    }
    let mut out = String::with_capacity(text.len());
    let mut section = None;
    for l in &ls {
        if let Some(s) = section_of(l) {
            section = Some(s);
        }
        let in_manual = section.is_some_and(|s| manual.contains(&s));
        match key_of(l) {
            Some("method") if in_manual => {
                out.push_str("method=auto");
                out.push_str(if l.ends_with('\n') { "\n" } else { "" });
            }
            Some(k)
                if in_manual
                    && (k == "gateway"
                        || is_numbered(k, "address")
                        || is_numbered(k, "addresses")) => {}
            _ => out.push_str(l),
        }
    }
    Ok(Some(Found {
        what,
        dhcp: Some(out),
    }))
}

/// systemd-networkd .network: Address=/Gateway= in [Network], or [Address] sections.
fn networkd(text: &str, to_dhcp: bool) -> Result<Option<Found>, String> {
    let ls = keyfile::lines(text);
    let mut section = None;
    let mut addrs = Vec::new();
    for l in &ls {
        if let Some(s) = section_of(l) {
            section = Some(s);
        } else if matches!(section, Some("Network") | Some("Address"))
            && key_of(l) == Some("Address")
        {
            addrs.push(value_of(l).to_string());
        }
    }
    if addrs.is_empty() {
        return Ok(None);
    }
    let what = format!("Address {}", addrs.join(", "));
    if !to_dhcp {
        return Ok(Some(Found { what, dhcp: None }));
    }
    let mut out = String::with_capacity(text.len());
    let mut section = None;
    let mut dhcp_set = false;
    for l in &ls {
        if let Some(s) = section_of(l) {
            section = Some(s);
        }
        match (section, key_of(l)) {
            (Some("Address"), _) => {}
            (Some("Network"), Some("Address" | "Gateway")) => {}
            (Some("Network"), Some("DHCP")) => {
                out.push_str("DHCP=yes");
                out.push_str(if l.ends_with('\n') { "\n" } else { "" });
                dhcp_set = true;
            }
            _ => {
                out.push_str(l);
                if section_of(l) == Some("Network") && !dhcp_set {
                    if !l.ends_with('\n') {
                        out.push('\n');
                    }
                    out.push_str("DHCP=yes\n");
                    dhcp_set = true;
                }
            }
        }
    }
    if !dhcp_set {
        if !out.is_empty() && !out.ends_with('\n') {
            out.push('\n');
        }
        out.push_str("\n[Network]\nDHCP=yes\n");
    }
    // A DHCP= line after our inserted one would be a duplicate: keep only the first.
    let mut seen = false;
    let mut section = None;
    let out: String = keyfile::lines(&out)
        .into_iter()
        .filter(|l| {
            if let Some(s) = section_of(l) {
                section = Some(s);
            }
            if section == Some("Network") && key_of(l) == Some("DHCP") {
                if seen {
                    return false;
                }
                seen = true;
            }
            true
        })
        .collect();
    Ok(Some(Found {
        what,
        dhcp: Some(out),
    }))
}

/// Words that start a new stanza in /etc/network/interfaces.
fn starts_stanza(first: &str) -> bool {
    matches!(
        first,
        "iface" | "auto" | "mapping" | "source" | "source-directory" | "rename"
    ) || first.starts_with("allow-")
}

/// ifupdown: `iface X inet static` / `inet6 static`.
fn ifupdown(text: &str, to_dhcp: bool) -> Result<Option<Found>, String> {
    let ls = keyfile::lines(text);
    let mut found = Vec::new();
    let mut out = String::with_capacity(text.len());
    let mut in_static = false;
    for l in &ls {
        let words: Vec<&str> = l.split_whitespace().collect();
        let first = words.first().copied().unwrap_or("");
        if starts_stanza(first) {
            in_static = false;
        }
        if let ["iface", name, fam @ ("inet" | "inet6"), "static", ..] = words[..] {
            found.push(format!("{name} {fam} static"));
            in_static = true;
            let method = if fam == "inet" { "dhcp" } else { "auto" };
            // Replace the method word in place, keeping the spacing around it.
            let at = l
                .match_indices("static")
                .map(|(i, _)| i)
                .find(|&i| l[..i].split_whitespace().count() == 3)
                .ok_or("an iface line in an unexpected form")?;
            out.push_str(&l[..at]);
            out.push_str(method);
            out.push_str(&l[at + "static".len()..]);
            continue;
        }
        if in_static
            && matches!(
                first,
                "address" | "netmask" | "gateway" | "broadcast" | "network" | "pointopoint"
            )
        {
            continue;
        }
        out.push_str(l);
    }
    if found.is_empty() {
        return Ok(None);
    }
    Ok(Some(Found {
        what: found.join(", "),
        dhcp: to_dhcp.then_some(out),
    }))
}

fn netplan_file(text: &str, to_dhcp: bool) -> Result<Option<Found>, String> {
    let ids = netplan::static_ids(text);
    if ids.is_empty() {
        return Ok(None);
    }
    let what = format!("addresses on {}", ids.join(", "));
    if !to_dhcp {
        return Ok(Some(Found { what, dhcp: None }));
    }
    let (out, _) = netplan::static_to_dhcp(text)?.ok_or("no static addresses found to switch")?;
    Ok(Some(Found {
        what,
        dhcp: Some(out),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dhcp(f: Check, text: &str) -> String {
        f(text, true).unwrap().unwrap().dhcp.unwrap()
    }

    #[test]
    fn never_panics_on_garbage() {
        for seed in 0..3_000 {
            let t = crate::seal::ops::garbage(seed);
            for f in [ifcfg, nm_keyfile, networkd, ifupdown, netplan_file] {
                let _ = f(&t, false);
                let _ = f(&t, true);
            }
        }
    }

    #[test]
    fn ifcfg_static_to_dhcp() {
        let t = "DEVICE=eth0\nBOOTPROTO=none\nIPADDR=192.0.2.10\nPREFIX=24\nGATEWAY=192.0.2.1\nDNS1=192.0.2.53\n";
        assert!(ifcfg(t, false).unwrap().unwrap().dhcp.is_none());
        assert_eq!(
            dhcp(ifcfg, t),
            "DEVICE=eth0\nBOOTPROTO=dhcp\nDNS1=192.0.2.53\n"
        );
        assert!(ifcfg("BOOTPROTO=dhcp\n", true).unwrap().is_none());
    }

    #[test]
    fn nm_manual_to_auto() {
        let t = "[ipv4]\nmethod=manual\naddress1=192.0.2.10/24,192.0.2.1\ndns=192.0.2.53;\n[ipv6]\nmethod=auto\n";
        assert_eq!(
            dhcp(nm_keyfile, t),
            "[ipv4]\nmethod=auto\ndns=192.0.2.53;\n[ipv6]\nmethod=auto\n"
        );
    }

    #[test]
    fn networkd_address_to_dhcp() {
        let t = "[Match]\nName=eth0\n\n[Network]\nAddress=192.0.2.10/24\nGateway=192.0.2.1\nDNS=192.0.2.53\n";
        assert_eq!(
            dhcp(networkd, t),
            "[Match]\nName=eth0\n\n[Network]\nDHCP=yes\nDNS=192.0.2.53\n"
        );
        let t = "[Network]\nDHCP=no\n\n[Address]\nAddress=192.0.2.10/24\n";
        assert_eq!(dhcp(networkd, t), "[Network]\nDHCP=yes\n\n");
    }

    #[test]
    fn ifupdown_static_to_dhcp() {
        let t = "auto lo\niface lo inet loopback\n\nauto eth0\niface eth0 inet static\n    address 192.0.2.10/24\n    gateway 192.0.2.1\n    dns-nameservers 192.0.2.53\n\niface eth0 inet6 static\n  address 2001:db8::10/64\n";
        let f = ifupdown(t, false).unwrap().unwrap();
        assert_eq!(f.what, "eth0 inet static, eth0 inet6 static");
        assert_eq!(
            dhcp(ifupdown, t),
            "auto lo\niface lo inet loopback\n\nauto eth0\niface eth0 inet dhcp\n    dns-nameservers 192.0.2.53\n\niface eth0 inet6 auto\n"
        );
    }
}
