//! systemd-networkd units (`/etc/systemd/network/*.network`, `*.link`): INI-style sections,
//! edited with the [`keyfile`](super::keyfile) line helpers.

use super::keyfile::{key_of, key_value, removed_note, section_of, sectioned};
use super::{ETHERNET_GLOB, Edit, EditError, StaticConfig, lf, lines, push_line};

/// The [Match] key that names a device: a .link file matches the kernel's name.
pub fn name_key(path: &str) -> &'static str {
    if path.ends_with(".link") {
        "OriginalName"
    } else {
        "Name"
    }
}

/// Drop MACAddress/PermanentMACAddress from [Match] and MACAddress from [Link]; a [Match]
/// left empty gets `{name_key}=e*` where the MAC was, so it still matches (and only) ethernet.
pub fn drop_mac(text: &str, name_key: &str) -> Option<Edit> {
    let ls = lines(text);
    let mut drop = vec![false; ls.len()];
    let mut dropped = Vec::new();
    for (i, (section, l)) in sectioned(text).enumerate() {
        let Some(k) = key_of(l) else { continue };
        let hit = match section {
            Some("Match") => matches!(k, "MACAddress" | "PermanentMACAddress"),
            Some("Link") => k == "MACAddress",
            _ => false,
        };
        if hit {
            drop[i] = true;
            dropped.push(k.to_string());
        }
    }
    if dropped.is_empty() {
        return None;
    }
    // Is some [Match] section left with no key? Then put the name match at its first drop.
    let mut out = String::with_capacity(text.len());
    let mut note = removed_note(&dropped);
    let mut i = 0;
    while i < ls.len() {
        if section_of(ls[i]) == Some("Match") {
            let end = (i + 1..ls.len())
                .find(|&j| section_of(ls[j]).is_some())
                .unwrap_or(ls.len());
            let kept = (i + 1..end).any(|j| !drop[j] && key_of(ls[j]).is_some());
            let first_drop = (i + 1..end).find(|&j| drop[j]);
            out.push_str(ls[i]);
            for j in i + 1..end {
                if Some(j) == first_drop && !kept {
                    out.push_str(&format!("{name_key}={ETHERNET_GLOB}{}", lf(ls[j])));
                    note = format!("{note}; [Match] now {name_key}={ETHERNET_GLOB}");
                } else if !drop[j] {
                    out.push_str(ls[j]);
                }
            }
            i = end;
            continue;
        }
        if !drop[i] {
            out.push_str(ls[i]);
        }
        i += 1;
    }
    Some((out, note))
}

/// Address=/Gateway= in [Network], or [Address] sections; switched to DHCP=yes in [Network]
/// without them (a [Network] is added when there is none).
pub fn static_ip(text: &str, to_dhcp: bool) -> Result<Option<StaticConfig>, EditError> {
    let mut addrs = Vec::new();
    for (section, l) in sectioned(text) {
        if let (Some("Network" | "Address"), Some(("Address", v))) = (section, key_value(l)) {
            addrs.push(v.to_string());
        }
    }
    if addrs.is_empty() {
        return Ok(None);
    }
    let what = format!("Address {}", addrs.join(", "));
    StaticConfig::found(what, to_dhcp, || Ok(to_dhcp_text(text)))
}

/// DHCP=yes in [Network] (added when missing), without addresses and gateways.
fn to_dhcp_text(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut dhcp_set = false;
    for (section, l) in sectioned(text) {
        match (section, key_of(l)) {
            (Some("Address"), _) => {}
            (Some("Network"), Some("Address" | "Gateway")) => {}
            (Some("Network"), Some("DHCP")) => {
                out.push_str("DHCP=yes");
                out.push_str(lf(l));
                dhcp_set = true;
            }
            _ => {
                out.push_str(l);
                if section_of(l) == Some("Network") && !dhcp_set {
                    push_line(&mut out, "DHCP=yes\n");
                    dhcp_set = true;
                }
            }
        }
    }
    if !dhcp_set {
        push_line(&mut out, "\n[Network]\nDHCP=yes\n");
    }
    // A DHCP= line after our inserted one would be a duplicate: keep only the first.
    let mut seen = false;
    sectioned(&out)
        .filter(|&(section, l)| {
            if section == Some("Network") && key_of(l) == Some("DHCP") {
                if seen {
                    return false;
                }
                seen = true;
            }
            true
        })
        .map(|(_, l)| l)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::super::dhcp;
    use super::*;

    #[test]
    fn networkd_address_to_dhcp() {
        let t = "[Match]\nName=eth0\n\n[Network]\nAddress=192.0.2.10/24\nGateway=192.0.2.1\nDNS=192.0.2.53\n";
        assert_eq!(
            dhcp(static_ip, t),
            "[Match]\nName=eth0\n\n[Network]\nDHCP=yes\nDNS=192.0.2.53\n"
        );
        let t = "[Network]\nDHCP=no\n\n[Address]\nAddress=192.0.2.10/24\n";
        assert_eq!(dhcp(static_ip, t), "[Network]\nDHCP=yes\n\n");
    }
}
