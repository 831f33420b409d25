//! Network configuration formats of a Linux guest: where each lives and, one file per format,
//! the pure text edits the seal operations plan (drop hard-coded MACs, find static IP
//! configuration, switch it to DHCP). Every edit keeps the rest of the file byte-identical
//! and leaves it valid; nothing here touches a filesystem.

pub mod ifcfg;
pub mod ifupdown;
pub mod keyfile;
pub mod netplan;
pub mod networkd;

/// What replaces a MAC-only match: every ethernet interface (en*, eth*), which is what a
/// single-NIC cloud VM has.
pub const ETHERNET_GLOB: &str = "e*";

pub const IFCFG_GLOBS: &[&str] = &[
    "/etc/sysconfig/network-scripts/ifcfg-*",
    "/etc/sysconfig/network/ifcfg-*",
];
pub const NM_GLOBS: &[&str] = &["/etc/NetworkManager/system-connections/*"];
pub const NETPLAN_GLOBS: &[&str] = &["/etc/netplan/*.yaml"];
pub const NETWORKD_GLOBS: &[&str] = &[NETWORKD_NETWORK_GLOB, "/etc/systemd/network/*.link"];
/// Only .network files configure addresses (.link files name and tune devices).
pub const NETWORKD_NETWORK_GLOB: &str = "/etc/systemd/network/*.network";
pub const IFUPDOWN_GLOBS: &[&str] = &["/etc/network/interfaces", "/etc/network/interfaces.d/*"];

/// Why a file was left as it was: its layout is beyond what the line edits handle safely, or
/// the edit would not check out. The text goes into the report.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EditError {
    #[error("not valid YAML: {0}")]
    NotYaml(String),
    #[error("the edit would not parse: {0}")]
    EditNotYaml(String),
    #[error("a macaddress value not on its own line")]
    MacValueNotOnItsLine,
    #[error("a match: that is neither a block nor a one-line {{...}}")]
    MatchLayout,
    #[error("a macaddress in a layout not edited (flow mapping)")]
    MacInFlowMapping,
    #[error("a macaddress is left after the edit")]
    MacLeft,
    #[error("a match: would be left empty")]
    EmptyMatch,
    #[error("static addresses left after the edit")]
    StaticLeft,
    #[error("no static addresses found to switch")]
    NoStaticToSwitch,
    #[error("an iface line in an unexpected form")]
    IfaceLayout,
}

/// A file's new text and a note of what changed, for the report.
pub type Edit = (String, String);

/// Static IP configuration found in one file and, when asked, the file switched to DHCP.
#[derive(Debug)]
pub struct StaticConfig {
    /// What is static, for the report.
    pub what: String,
    pub dhcp: Option<String>,
}

impl StaticConfig {
    /// `what` was found; `dhcp` rewrites the file, called only when asked to switch.
    fn found(
        what: String,
        to_dhcp: bool,
        dhcp: impl FnOnce() -> Result<String, EditError>,
    ) -> Result<Option<Self>, EditError> {
        let dhcp = if to_dhcp { Some(dhcp()?) } else { None };
        Ok(Some(StaticConfig { what, dhcp }))
    }
}

/// Every format's static IP finder: the file's text and whether to switch it to DHCP.
pub type StaticCheck = fn(&str, bool) -> Result<Option<StaticConfig>, EditError>;

/// The lines of `text`, each with its terminator.
pub fn lines(text: &str) -> Vec<&str> {
    text.split_inclusive('\n').collect()
}

/// The terminator a rewritten line gets: `\n` when `line` had one (a CRLF line's `\r` goes
/// with the old text, as before), none on a last line without one.
fn lf(line: &str) -> &'static str {
    if line.ends_with('\n') { "\n" } else { "" }
}

/// Append `line` (with its terminator) on a line of its own, ending an unterminated last
/// line of `out` first.
fn push_line(out: &mut String, line: &str) {
    if !out.is_empty() && !out.ends_with('\n') {
        out.push('\n');
    }
    out.push_str(line);
}

/// Pseudo-random config-like text for no-panic tests of the line editors.
#[cfg(test)]
pub(crate) fn garbage(seed: u64) -> String {
    const TOKENS: &[&str] = &[
        "network:",
        "ethernets:",
        "eth0:",
        "match:",
        "macaddress:",
        "addresses:",
        "dhcp4:",
        "gateway4:",
        "name:",
        "- ",
        "[",
        "]",
        "{",
        "}",
        ",",
        ":",
        "#",
        " #",
        "\n",
        "\r\n",
        "  ",
        "    ",
        "\t",
        "'",
        "\"",
        "=",
        "iface",
        "inet",
        "inet6",
        "static",
        "address",
        "hwaddress",
        "HWADDR",
        "BOOTPROTO",
        "IPADDR0",
        "[Match]",
        "[Network]",
        "[Address]",
        "[ipv4]",
        "MACAddress",
        "Address",
        "DHCP",
        "method",
        "manual",
        "mac-address",
        "é",
        "x",
        "52:54:00:12:34:56",
        "192.0.2.1/24",
        "true",
    ];
    let mut x = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    let mut out = String::new();
    for _ in 0..(seed % 64) {
        x = x
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        out.push_str(TOKENS[(x >> 33) as usize % TOKENS.len()]);
    }
    out
}

/// The DHCP version of `text` that a static IP finder returns.
#[cfg(test)]
fn dhcp(f: StaticCheck, text: &str) -> String {
    f(text, true).unwrap().unwrap().dhcp.unwrap()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_editors_never_panic_on_garbage() {
        for seed in 0..3_000 {
            let t = garbage(seed);
            let _ = netplan::drop_macaddress(&t);
            let _ = netplan::static_to_dhcp(&t);
            let _ = netplan::static_ids(&t);
            let _ = networkd::drop_mac(&t, "Name");
            let _ = ifupdown::drop_hwaddress(&t);
            let _ = keyfile::drop_keys(&t, &|_, k| k == "HWADDR");
        }
    }

    #[test]
    fn never_panics_on_garbage() {
        for seed in 0..3_000 {
            let t = garbage(seed);
            let finders: [StaticCheck; 5] = [
                ifcfg::static_ip,
                keyfile::static_ip,
                networkd::static_ip,
                ifupdown::static_ip,
                netplan::static_ip,
            ];
            for f in finders {
                let _ = f(&t, false);
                let _ = f(&t, true);
            }
        }
    }
}
