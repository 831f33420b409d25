//! NetworkManager keyfiles, and the line helpers of every `KEY=value` format (ifcfg and
//! systemd-networkd units too): each edit drops or rewrites whole lines and keeps every other
//! byte of the file as it was.

use super::{Edit, EditError, StaticConfig, lf};

/// `[name]` of a section header line.
pub fn section_of(line: &str) -> Option<&str> {
    let t = line.trim();
    t.strip_prefix('[')?.strip_suffix(']').map(str::trim)
}

/// The key and the unquoted value of a `KEY=value` line (an `export ` prefix is allowed, as in
/// shell files); `None` for blank lines, comments and section headers.
pub fn key_value(line: &str) -> Option<(&str, &str)> {
    let t = line.trim_start();
    if t.is_empty() || t.starts_with(['#', ';', '[']) {
        return None;
    }
    let t = t.strip_prefix("export ").unwrap_or(t);
    t.split_once('=')
        .map(|(k, v)| (k.trim(), v.trim().trim_matches(['"', '\''])))
}

/// The key of a `KEY=value` line; see [`key_value`].
pub fn key_of(line: &str) -> Option<&str> {
    key_value(line).map(|(k, _)| k)
}

/// Each line of `text` with the section it is in (a header line is in its own section);
/// `None` before the first header.
pub fn sectioned(text: &str) -> impl Iterator<Item = (Option<&str>, &str)> {
    let mut section = None;
    text.split_inclusive('\n').map(move |line| {
        if let Some(s) = section_of(line) {
            section = Some(s);
        }
        (section, line)
    })
}

/// `key` is `base` followed by nothing but digits (IPADDR, IPADDR0, address1, ...).
pub fn is_numbered(key: &str, base: &str) -> bool {
    key.strip_prefix(base)
        .is_some_and(|r| r.chars().all(|c| c.is_ascii_digit()))
}

/// Drop every `KEY=value` line for which `drop(section, key)` holds; returns the new text and
/// the keys dropped (in order). The section is `None` before the first header.
pub fn drop_keys(text: &str, drop: &dyn Fn(Option<&str>, &str) -> bool) -> (String, Vec<String>) {
    let mut out = String::with_capacity(text.len());
    let mut dropped = Vec::new();
    for (section, line) in sectioned(text) {
        if let Some(k) = key_of(line).filter(|k| drop(section, k)) {
            dropped.push(k.to_string());
            continue;
        }
        out.push_str(line);
    }
    (out, dropped)
}

/// Drop the lines of these keys, in any section: the new text and a note, `None` when the
/// file holds none of them.
pub fn drop_named(text: &str, keys: &[&str]) -> Option<Edit> {
    let (new, dropped) = drop_keys(text, &|_, k| keys.contains(&k));
    (!dropped.is_empty()).then(|| (new, removed_note(&dropped)))
}

/// "removed HWADDR, MACADDR" style note from dropped keys.
pub fn removed_note(dropped: &[String]) -> String {
    let mut d: Vec<&str> = dropped.iter().map(String::as_str).collect();
    d.dedup();
    format!("removed {}", d.join(", "))
}

/// Drop `mac-address` (the profile then applies to whichever device it names, or any).
pub fn drop_mac_address(text: &str) -> Option<Edit> {
    drop_named(text, &["mac-address"])
}

/// Drop the `dhcp-hostname` the profile sends to the DHCP server.
pub fn drop_hostname(text: &str) -> Option<Edit> {
    drop_named(text, &["dhcp-hostname"])
}

/// [ipv4]/[ipv6] method=manual; switched to method=auto without the addresses and gateway.
pub fn static_ip(text: &str, to_dhcp: bool) -> Result<Option<StaticConfig>, EditError> {
    let mut manual = Vec::new();
    for (section, l) in sectioned(text) {
        if let Some(s @ ("ipv4" | "ipv6")) = section
            && key_value(l) == Some(("method", "manual"))
        {
            manual.push(s);
        }
    }
    if manual.is_empty() {
        return Ok(None);
    }
    let what = format!("{} method=manual", manual.join(", "));
    StaticConfig::found(what, to_dhcp, || Ok(manual_to_auto(text, &manual)))
}

/// method=auto in the `manual` sections, without their addresses and gateway.
fn manual_to_auto(text: &str, manual: &[&str]) -> String {
    let mut out = String::with_capacity(text.len());
    for (section, l) in sectioned(text) {
        let in_manual = section.is_some_and(|s| manual.contains(&s));
        match key_of(l) {
            Some("method") if in_manual => {
                out.push_str("method=auto");
                out.push_str(lf(l));
            }
            Some(k)
                if in_manual
                    && (k == "gateway"
                        || is_numbered(k, "address")
                        || is_numbered(k, "addresses")) => {}
            _ => out.push_str(l),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::super::dhcp;
    use super::*;

    #[test]
    fn drops_only_the_keys_and_keeps_bytes() {
        let text = "# c\r\nDEVICE=eth0\nHWADDR=aa\n[s]\nexport HWADDR=\"bb\"\nX=1";
        let (out, d) = drop_keys(text, &|_, k| k == "HWADDR");
        assert_eq!(out, "# c\r\nDEVICE=eth0\n[s]\nX=1");
        assert_eq!(d, vec!["HWADDR", "HWADDR"]);
    }

    #[test]
    fn sections_are_tracked() {
        let text = "[a]\nk=1\n[b]\nk=2\n";
        let (out, _) = drop_keys(text, &|s, k| s == Some("b") && k == "k");
        assert_eq!(out, "[a]\nk=1\n[b]\n");
    }

    #[test]
    fn nm_manual_to_auto() {
        let t = "[ipv4]\nmethod=manual\naddress1=192.0.2.10/24,192.0.2.1\ndns=192.0.2.53;\n[ipv6]\nmethod=auto\n";
        assert_eq!(
            dhcp(static_ip, t),
            "[ipv4]\nmethod=auto\ndns=192.0.2.53;\n[ipv6]\nmethod=auto\n"
        );
    }
}
