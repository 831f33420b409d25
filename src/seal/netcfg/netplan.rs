//! Netplan YAML: line edits that keep comments and layout, checked by parsing the result.

use serde_json::Value;

use super::{ETHERNET_GLOB, Edit, EditError, StaticConfig, lines};

/// One YAML line: indentation and the content without a trailing comment.
struct Line<'a> {
    raw: &'a str,
    indent: usize,
    body: &'a str,
}

fn parse_lines(text: &str) -> Vec<Line<'_>> {
    lines(text)
        .into_iter()
        .map(|raw| {
            let content = raw.trim_end_matches(['\n', '\r']);
            let indent = content.len() - content.trim_start_matches(' ').len();
            let mut body = content.trim();
            // A comment starts at " #" outside quotes; MACs and netplan values hold no '#'.
            if body.starts_with('#') {
                body = "";
            } else if let Some(i) = body.find(" #") {
                body = body[..i].trim_end();
            }
            Line { raw, indent, body }
        })
        .collect()
}

/// Index of the mapping key that owns line `i` (nearest earlier line indented less).
fn parent(ls: &[Line<'_>], i: usize) -> Option<usize> {
    (0..i)
        .rev()
        .find(|&j| !ls[j].body.is_empty() && ls[j].indent < ls[i].indent)
}

/// Lines below `p` that belong to it (more indented), not counting blanks and comments.
fn children(ls: &[Line<'_>], p: usize) -> Vec<usize> {
    let mut out = Vec::new();
    for (j, l) in ls.iter().enumerate().skip(p + 1) {
        if l.body.is_empty() {
            continue;
        }
        if l.indent <= ls[p].indent {
            break;
        }
        out.push(j);
    }
    out
}

fn newline_of(raw: &str) -> &str {
    if raw.ends_with("\r\n") {
        "\r\n"
    } else if raw.ends_with('\n') {
        "\n"
    } else {
        ""
    }
}

/// Remove every `macaddress:` key. In a `match:` it held alone, it becomes
/// `name: "e*"`, so the interface is still matched. Returns `Ok(None)` when there is no MAC,
/// `Err(why)` when the file cannot be edited safely (it is then left alone and reported).
pub fn drop_macaddress(text: &str) -> Result<Option<Edit>, EditError> {
    if !text.contains("macaddress") {
        return Ok(None);
    }
    let orig = parse(text).map_err(EditError::NotYaml)?;
    let ls = parse_lines(text);
    let mut replace: Vec<Option<String>> = vec![None; ls.len()];
    let mut notes = Vec::new();
    for (i, l) in ls.iter().enumerate() {
        let nl = newline_of(l.raw);
        let pad = " ".repeat(l.indent);
        if let Some(value) = l.body.strip_prefix("macaddress:") {
            if value.trim().is_empty() {
                return Err(EditError::MacValueNotOnItsLine);
            }
            let in_match = parent(&ls, i).is_some_and(|p| ls[p].body == "match:");
            let alone = in_match
                && parent(&ls, i).is_some_and(|p| children(&ls, p).iter().all(|&c| c == i));
            if alone {
                replace[i] = Some(format!("{pad}name: \"{ETHERNET_GLOB}\"{nl}"));
                notes.push(format!("match on macaddress now name \"{ETHERNET_GLOB}\""));
            } else {
                replace[i] = Some(String::new());
                notes.push("removed macaddress".to_string());
            }
        } else if let Some(flow) = l.body.strip_prefix("match:") {
            let flow = flow.trim();
            if !flow.contains("macaddress") {
                continue;
            }
            let inner = flow
                .strip_prefix('{')
                .and_then(|f| f.strip_suffix('}'))
                .ok_or(EditError::MatchLayout)?;
            let kept: Vec<&str> = inner
                .split(',')
                .map(str::trim)
                .filter(|item| !item.is_empty() && !item.starts_with("macaddress"))
                .collect();
            let items = if kept.is_empty() {
                notes.push(format!("match on macaddress now name \"{ETHERNET_GLOB}\""));
                format!("name: \"{ETHERNET_GLOB}\"")
            } else {
                notes.push("removed macaddress".to_string());
                kept.join(", ")
            };
            let key_at = l.raw.find("match:").unwrap_or(0);
            replace[i] = Some(format!("{}match: {{{items}}}{nl}", &l.raw[..key_at]));
        }
    }
    if replace.iter().all(Option::is_none) {
        // No line to edit; a MAC may still hide in a flow mapping: say so, do not miss it.
        return if has_mac(&orig) {
            Err(EditError::MacInFlowMapping)
        } else {
            Ok(None)
        };
    }
    let mut out = String::with_capacity(text.len());
    for (l, r) in ls.iter().zip(&replace) {
        out.push_str(r.as_deref().unwrap_or(l.raw));
    }
    let doc = parse(&out).map_err(EditError::EditNotYaml)?;
    check(&doc)?;
    notes.dedup();
    Ok(Some((out, notes.join("; "))))
}

fn parse(text: &str) -> Result<Value, String> {
    serde_saphyr::from_str::<Value>(text).map_err(|e| e.to_string())
}

/// Does any mapping in the document have a `macaddress` key?
fn has_mac(v: &Value) -> bool {
    match v {
        Value::Object(m) => m.iter().any(|(k, c)| k == "macaddress" || has_mac(c)),
        Value::Array(a) => a.iter().any(has_mac),
        _ => false,
    }
}

/// The edited document holds no macaddress and no empty match.
fn check(v: &Value) -> Result<(), EditError> {
    match v {
        Value::Object(m) => {
            for (k, child) in m {
                if k == "macaddress" {
                    return Err(EditError::MacLeft);
                }
                if k == "match" && child.as_object().is_none_or(|o| o.is_empty()) {
                    return Err(EditError::EmptyMatch);
                }
                check(child)?;
            }
            Ok(())
        }
        Value::Array(a) => a.iter().try_for_each(check),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn match_with_only_a_mac_gets_a_name_pattern() {
        let text = "network:\n  ethernets:\n    eth0:\n      match:\n        macaddress: \"52:54:00:12:34:56\"  # nic\n      set-name: eth0\n      dhcp4: true\n";
        let (out, note) = drop_macaddress(text).unwrap().unwrap();
        assert_eq!(
            out,
            "network:\n  ethernets:\n    eth0:\n      match:\n        name: \"e*\"\n      set-name: eth0\n      dhcp4: true\n"
        );
        assert!(note.contains("name"));
    }

    #[test]
    fn match_with_a_driver_keeps_the_driver() {
        let text = "network:\n  ethernets:\n    id0:\n      match:\n        driver: virtio_net\n        macaddress: aa:bb:cc:dd:ee:ff\n      macaddress: 02:00:00:00:00:01\n";
        let (out, _) = drop_macaddress(text).unwrap().unwrap();
        assert_eq!(
            out,
            "network:\n  ethernets:\n    id0:\n      match:\n        driver: virtio_net\n"
        );
    }

    #[test]
    fn flow_match() {
        let text = "network:\n  ethernets:\n    e:\n      match: {macaddress: \"aa:bb:cc:dd:ee:ff\"}\n      dhcp4: yes\n";
        let (out, _) = drop_macaddress(text).unwrap().unwrap();
        assert!(out.contains("      match: {name: \"e*\"}\n"), "{out}");
        let text = "network:\n  ethernets:\n    e:\n      match: {driver: ixgbe, macaddress: \"aa:bb:cc:dd:ee:ff\"}\n";
        let (out, _) = drop_macaddress(text).unwrap().unwrap();
        assert!(out.contains("      match: {driver: ixgbe}\n"), "{out}");
    }

    #[test]
    fn no_mac_no_edit_and_bad_yaml_is_refused() {
        assert!(
            drop_macaddress("network:\n  version: 2\n")
                .unwrap()
                .is_none()
        );
        assert!(drop_macaddress("network: [\n  macaddress: x\n").is_err());
    }
}

/// Interface sections whose `addresses:` are static addresses (not nameservers').
const DEVICE_KINDS: &[&str] = &[
    "ethernets:",
    "bonds:",
    "bridges:",
    "vlans:",
    "wifis:",
    "modems:",
    "tunnels:",
    "vrfs:",
];

/// The interface ids (lines) that hold static `addresses:`.
fn static_interfaces(ls: &[Line<'_>]) -> Vec<usize> {
    let mut out = Vec::new();
    for (i, l) in ls.iter().enumerate() {
        if !l.body.starts_with("addresses:") {
            continue;
        }
        let Some(id) = parent(ls, i) else { continue };
        if parent(ls, id).is_some_and(|k| DEVICE_KINDS.contains(&ls[k].body)) && !out.contains(&id)
        {
            out.push(id);
        }
    }
    out
}

fn id_name(l: &Line<'_>) -> String {
    l.body
        .trim_end_matches(':')
        .trim_matches(['"', '\''])
        .to_string()
}

/// Interfaces configured with static addresses, for the report.
pub fn static_ids(text: &str) -> Vec<String> {
    let ls = parse_lines(text);
    static_interfaces(&ls)
        .iter()
        .map(|&i| id_name(&ls[i]))
        .collect()
}

/// Switch every interface with static `addresses:` to `dhcp4: true`, dropping its addresses
/// and gateway4/gateway6 (routes stay). `Err(why)` when it cannot be done safely.
pub fn static_to_dhcp(text: &str) -> Result<Option<Edit>, EditError> {
    parse(text).map_err(EditError::NotYaml)?;
    let ls = parse_lines(text);
    let ids = static_interfaces(&ls);
    if ids.is_empty() {
        return Ok(None);
    }
    let mut replace: Vec<Option<String>> = vec![None; ls.len()];
    for &id in &ids {
        let kids = children(&ls, id);
        let Some(&first) = kids.first() else { continue };
        let step = ls[first].indent;
        let pad = " ".repeat(step);
        let mut dhcp_done = false;
        let mut first_drop = None;
        for &k in kids.iter().filter(|&&k| ls[k].indent == step) {
            let key = ls[k].body.split(':').next().unwrap_or("");
            match key {
                "addresses" | "gateway4" | "gateway6" => {
                    first_drop.get_or_insert(k);
                    replace[k] = Some(String::new());
                    for c in children(&ls, k) {
                        replace[c] = Some(String::new());
                    }
                    // Blank and comment lines inside the dropped block go too.
                    let end = children(&ls, k).last().copied().unwrap_or(k);
                    for r in replace.iter_mut().take(end + 1).skip(k) {
                        r.get_or_insert_with(String::new);
                    }
                }
                "dhcp4" => {
                    replace[k] = Some(format!("{pad}dhcp4: true{}", newline_of(ls[k].raw)));
                    dhcp_done = true;
                }
                _ => {}
            }
        }
        if let Some(k) = first_drop.filter(|_| !dhcp_done) {
            replace[k] = Some(format!("{pad}dhcp4: true{}", newline_of(ls[k].raw)));
        }
    }
    let mut out = String::with_capacity(text.len());
    for (l, r) in ls.iter().zip(&replace) {
        out.push_str(r.as_deref().unwrap_or(l.raw));
    }
    parse(&out).map_err(EditError::EditNotYaml)?;
    if !static_interfaces(&parse_lines(&out)).is_empty() {
        return Err(EditError::StaticLeft);
    }
    let names: Vec<String> = ids.iter().map(|&i| id_name(&ls[i])).collect();
    Ok(Some((
        out,
        format!(
            "switched {} from static addresses to DHCP",
            names.join(", ")
        ),
    )))
}

/// Interfaces with static `addresses:`, and the file switched to DHCP when asked.
pub fn static_ip(text: &str, to_dhcp: bool) -> Result<Option<StaticConfig>, EditError> {
    let ids = static_ids(text);
    if ids.is_empty() {
        return Ok(None);
    }
    let what = format!("addresses on {}", ids.join(", "));
    StaticConfig::found(what, to_dhcp, || {
        let (out, _) = static_to_dhcp(text)?.ok_or(EditError::NoStaticToSwitch)?;
        Ok(out)
    })
}

#[cfg(test)]
mod static_tests {
    use super::*;

    #[test]
    fn static_to_dhcp_keeps_nameservers_and_routes() {
        let text = "network:\n  version: 2\n  ethernets:\n    eth0:\n      addresses:\n        - 192.0.2.10/24\n      gateway4: 192.0.2.1\n      nameservers:\n        addresses: [192.0.2.53]\n      routes:\n        - to: 198.51.100.0/24\n          via: 192.0.2.254\n";
        assert_eq!(static_ids(text), ["eth0"]);
        let (out, _) = static_to_dhcp(text).unwrap().unwrap();
        assert_eq!(
            out,
            "network:\n  version: 2\n  ethernets:\n    eth0:\n      dhcp4: true\n      nameservers:\n        addresses: [192.0.2.53]\n      routes:\n        - to: 198.51.100.0/24\n          via: 192.0.2.254\n"
        );
        let doc = parse(&out).unwrap();
        assert_eq!(doc["network"]["ethernets"]["eth0"]["dhcp4"], true);
    }

    #[test]
    fn existing_dhcp4_false_is_flipped() {
        let text = "network:\n  ethernets:\n    eth0:\n      dhcp4: false\n      addresses: [192.0.2.10/24]\n";
        let (out, _) = static_to_dhcp(text).unwrap().unwrap();
        assert_eq!(
            out,
            "network:\n  ethernets:\n    eth0:\n      dhcp4: true\n"
        );
        assert!(
            static_to_dhcp("network:\n  ethernets:\n    e:\n      dhcp4: true\n")
                .unwrap()
                .is_none()
        );
    }
}
