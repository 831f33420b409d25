//! Debian's ifupdown (`/etc/network/interfaces` and `interfaces.d/`): stanzas of words, an
//! `iface` line and its indented options.

use super::{Edit, EditError, StaticConfig, lines};

/// Drop `hwaddress [ether] MAC` option lines.
pub fn drop_hwaddress(text: &str) -> Option<Edit> {
    let mut hit = false;
    let mut out = String::with_capacity(text.len());
    for l in lines(text) {
        if l.split_whitespace().next() == Some("hwaddress") {
            hit = true;
        } else {
            out.push_str(l);
        }
    }
    hit.then(|| (out, "removed hwaddress".into()))
}

/// Words that start a new stanza.
fn starts_stanza(first: &str) -> bool {
    matches!(
        first,
        "iface" | "auto" | "mapping" | "source" | "source-directory" | "rename"
    ) || first.starts_with("allow-")
}

/// `iface X inet static` / `inet6 static`; switched to `inet dhcp` / `inet6 auto` without the
/// address options.
pub fn static_ip(text: &str, to_dhcp: bool) -> Result<Option<StaticConfig>, EditError> {
    let ls = lines(text);
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
                .ok_or(EditError::IfaceLayout)?;
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
    Ok(Some(StaticConfig {
        what: found.join(", "),
        dhcp: to_dhcp.then_some(out),
    }))
}

#[cfg(test)]
mod tests {
    use super::super::dhcp;
    use super::*;

    #[test]
    fn ifupdown_static_to_dhcp() {
        let t = "auto lo\niface lo inet loopback\n\nauto eth0\niface eth0 inet static\n    address 192.0.2.10/24\n    gateway 192.0.2.1\n    dns-nameservers 192.0.2.53\n\niface eth0 inet6 static\n  address 2001:db8::10/64\n";
        let f = static_ip(t, false).unwrap().unwrap();
        assert_eq!(f.what, "eth0 inet static, eth0 inet6 static");
        assert_eq!(
            dhcp(static_ip, t),
            "auto lo\niface lo inet loopback\n\nauto eth0\niface eth0 inet dhcp\n    dns-nameservers 192.0.2.53\n\niface eth0 inet6 auto\n"
        );
    }
}
