//! Line edits of `KEY=value` files (ifcfg, NetworkManager keyfiles, systemd units) that keep
//! every other byte of the file as it was.

/// The lines of `text`, each with its terminator.
pub fn lines(text: &str) -> Vec<&str> {
    text.split_inclusive('\n').collect()
}

/// `[name]` of a section header line.
pub fn section_of(line: &str) -> Option<&str> {
    let t = line.trim();
    t.strip_prefix('[')?.strip_suffix(']').map(str::trim)
}

/// The key of a `KEY=value` line (an `export ` prefix is allowed, as in shell files); `None`
/// for blank lines, comments and section headers.
pub fn key_of(line: &str) -> Option<&str> {
    let t = line.trim_start();
    if t.is_empty() || t.starts_with(['#', ';', '[']) {
        return None;
    }
    let t = t.strip_prefix("export ").unwrap_or(t);
    t.split_once('=').map(|(k, _)| k.trim())
}

/// Drop every `KEY=value` line for which `drop(section, key)` holds; returns the new text and
/// the keys dropped (in order). The section is `None` before the first header.
pub fn drop_keys(text: &str, drop: &dyn Fn(Option<&str>, &str) -> bool) -> (String, Vec<String>) {
    let mut out = String::with_capacity(text.len());
    let mut dropped = Vec::new();
    let mut section: Option<&str> = None;
    for line in lines(text) {
        if let Some(s) = section_of(line) {
            section = Some(s);
        } else if let Some(k) = key_of(line).filter(|k| drop(section, k)) {
            dropped.push(k.to_string());
            continue;
        }
        out.push_str(line);
    }
    (out, dropped)
}

/// "removed HWADDR, MACADDR" style note from dropped keys.
pub fn removed_note(dropped: &[String]) -> String {
    let mut d: Vec<&str> = dropped.iter().map(String::as_str).collect();
    d.dedup();
    format!("removed {}", d.join(", "))
}

#[cfg(test)]
mod tests {
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
}
