//! net-hwaddr: hard-coded MAC addresses in the five network configuration syntaxes. Each file
//! is edited line by line (everything else kept byte-identical) and stays valid: a match on
//! the MAC alone becomes a match on an ethernet name pattern.

use crate::fs::{FileKind, FsError, GuestFs, OsInfo};
use crate::seal::{Action, SealOp, SealOptions};

use super::keyfile::{self, drop_keys, removed_note};
use super::{netplan, paths};

pub struct NetHwaddr;

/// What replaces a MAC-only match: every ethernet interface (en*, eth*), which is what a
/// single-NIC cloud VM has.
pub const ETHERNET_GLOB: &str = "e*";

pub const IFCFG_GLOBS: &[&str] = &[
    "/etc/sysconfig/network-scripts/ifcfg-*",
    "/etc/sysconfig/network/ifcfg-*",
];
pub const NM_GLOBS: &[&str] = &["/etc/NetworkManager/system-connections/*"];
pub const NETPLAN_GLOBS: &[&str] = &["/etc/netplan/*.yaml"];
pub const NETWORKD_GLOBS: &[&str] = &[
    "/etc/systemd/network/*.network",
    "/etc/systemd/network/*.link",
];
pub const IFUPDOWN_GLOBS: &[&str] = &["/etc/network/interfaces", "/etc/network/interfaces.d/*"];

/// Regular files matching any of the globs, sorted.
pub fn config_files(fs: &dyn GuestFs, globs: &[&str]) -> Result<Vec<String>, FsError> {
    let mut out = Vec::new();
    for g in globs {
        for (p, k) in paths::glob(fs, g)? {
            if k == FileKind::File {
                out.push(p);
            }
        }
    }
    out.sort();
    out.dedup();
    Ok(out)
}

impl SealOp for NetHwaddr {
    fn name(&self) -> &'static str {
        "net-hwaddr"
    }
    fn summary(&self) -> &'static str {
        "Remove HWADDR (hard-coded MAC address) configuration"
    }
    fn default_enabled(&self) -> bool {
        true
    }
    fn plan(
        &self,
        fs: &dyn GuestFs,
        _os: &OsInfo,
        _opts: &SealOptions,
    ) -> Result<Vec<Action>, FsError> {
        let mut v = Vec::new();
        let edit = |path: String, new: String, note: String| Action::Write {
            path,
            content: new.into_bytes(),
            note,
        };
        for p in config_files(fs, IFCFG_GLOBS)? {
            let Some(text) = paths::read_text(fs, &p)? else {
                continue;
            };
            let (new, d) = drop_keys(&text, &|_, k| matches!(k, "HWADDR" | "MACADDR" | "LLADDR"));
            if !d.is_empty() {
                v.push(edit(p, new, removed_note(&d)));
            }
        }
        for p in config_files(fs, NM_GLOBS)? {
            let Some(text) = paths::read_text(fs, &p)? else {
                continue;
            };
            let (new, d) = drop_keys(&text, &|_, k| k == "mac-address");
            if !d.is_empty() {
                v.push(edit(p, new, removed_note(&d)));
            }
        }
        for p in config_files(fs, NETWORKD_GLOBS)? {
            let Some(text) = paths::read_text(fs, &p)? else {
                continue;
            };
            let name_key = if p.ends_with(".link") {
                "OriginalName"
            } else {
                "Name"
            };
            if let Some((new, note)) = networkd_drop_mac(&text, name_key) {
                v.push(edit(p, new, note));
            }
        }
        for p in config_files(fs, IFUPDOWN_GLOBS)? {
            let Some(text) = paths::read_text(fs, &p)? else {
                continue;
            };
            if let Some(new) = ifupdown_drop_hwaddress(&text) {
                v.push(edit(p, new, "removed hwaddress".into()));
            }
        }
        for p in config_files(fs, NETPLAN_GLOBS)? {
            let Some(text) = paths::read_text(fs, &p)? else {
                continue;
            };
            match netplan::drop_macaddress(&text) {
                Ok(Some((new, note))) => v.push(edit(p, new, note)),
                Ok(None) => {}
                Err(why) => v.push(Action::Report {
                    path: p,
                    note: format!("holds a MAC address but was not edited: {why}"),
                }),
            }
        }
        Ok(paths::sorted(v))
    }
}

/// Drop MACAddress/PermanentMACAddress from [Match] and MACAddress from [Link]; a [Match]
/// left empty gets `{name_key}=e*` where the MAC was, so it still matches (and only) ethernet.
pub fn networkd_drop_mac(text: &str, name_key: &str) -> Option<(String, String)> {
    let ls = keyfile::lines(text);
    let mut section: Option<&str> = None;
    let mut drop = vec![false; ls.len()];
    let mut dropped = Vec::new();
    for (i, l) in ls.iter().enumerate() {
        if let Some(s) = keyfile::section_of(l) {
            section = Some(s);
        } else if let Some(k) = keyfile::key_of(l) {
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
    }
    if dropped.is_empty() {
        return None;
    }
    // Is some [Match] section left with no key? Then put the name match at its first drop.
    let mut out = String::with_capacity(text.len());
    let mut note = removed_note(&dropped);
    let mut i = 0;
    while i < ls.len() {
        if keyfile::section_of(ls[i]) == Some("Match") {
            let end = (i + 1..ls.len())
                .find(|&j| keyfile::section_of(ls[j]).is_some())
                .unwrap_or(ls.len());
            let kept = (i + 1..end).any(|j| !drop[j] && keyfile::key_of(ls[j]).is_some());
            let first_drop = (i + 1..end).find(|&j| drop[j]);
            out.push_str(ls[i]);
            for j in i + 1..end {
                if Some(j) == first_drop && !kept {
                    let nl = if ls[j].ends_with('\n') { "\n" } else { "" };
                    out.push_str(&format!("{name_key}={ETHERNET_GLOB}{nl}"));
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

/// Drop `hwaddress [ether] MAC` option lines of /etc/network/interfaces.
pub fn ifupdown_drop_hwaddress(text: &str) -> Option<String> {
    let mut hit = false;
    let mut out = String::with_capacity(text.len());
    for l in keyfile::lines(text) {
        if l.split_whitespace().next() == Some("hwaddress") {
            hit = true;
        } else {
            out.push_str(l);
        }
    }
    hit.then_some(out)
}
