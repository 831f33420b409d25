//! The operating system of a guest, from os-release(5), and which filesystem is the root.

use std::sync::Arc;

use super::detect::FsInfo;
use super::ext4::read::Ext4ReadFs;
use super::{FileKind, FsError, GuestFs, OsInfo};
use crate::disk::BlockDev;
use crate::part::Partition;

/// os-release files larger than this are not os-release files.
const MAX_OS_RELEASE: u64 = 64 * 1024;
/// Symlink hops followed inside the guest (the kernel's limit).
const MAX_HOPS: usize = 40;

/// Is this the root filesystem? It has /etc/os-release (a file or a symlink).
pub fn is_root(fs: &dyn GuestFs) -> Result<bool, FsError> {
    Ok(fs.metadata("/etc/os-release")?.is_some())
}

/// Read /etc/os-release, else /usr/lib/os-release; `None` when neither exists
/// (or /etc/os-release is a dangling symlink, as with a separate /usr).
pub fn read_os_release(fs: &dyn GuestFs) -> Result<Option<OsInfo>, FsError> {
    for path in ["/etc/os-release", "/usr/lib/os-release"] {
        if let Some(real) = resolve(fs, path)? {
            let data = fs.read_file(&real, MAX_OS_RELEASE)?;
            return Ok(Some(parse(&String::from_utf8_lossy(&data))));
        }
    }
    Ok(None)
}

/// The root filesystem of a disk, opened read-only.
pub struct Root {
    /// Index into the partition list given to [`find_root`].
    pub index: usize,
    pub fs: Ext4ReadFs,
    /// Empty fields when /etc/os-release exists but cannot be followed (a separate /usr).
    pub os: OsInfo,
}

/// The first ext2/3/4 partition with /etc/os-release. Errors name the partition.
/// (xfs and btrfs roots need the mount backend and are not looked into here.)
pub fn find_root(
    dev: &Arc<dyn BlockDev>,
    parts: &[(Partition, FsInfo)],
) -> Result<Option<Root>, FsError> {
    for (index, (p, info)) in parts.iter().enumerate() {
        if !info.kind.is_ext() {
            continue;
        }
        // Name the likely cause: ext4-view replays only journals the kernel wrote (csum v3).
        let dirty = info.features.iter().any(|f| f == "needs_recovery");
        let what = if dirty {
            format!("partition {} (its journal needs recovery)", p.number)
        } else {
            format!("partition {}", p.number)
        };
        let ctx = |e| FsError::within(&what, e);
        let fs = Ext4ReadFs::open(Arc::clone(dev), p.start, p.size).map_err(ctx)?;
        if is_root(&fs).map_err(ctx)? {
            let os = read_os_release(&fs).map_err(ctx)?.unwrap_or_default();
            return Ok(Some(Root { index, fs, os }));
        }
    }
    Ok(None)
}

/// Follow symlinks inside the guest; `None` when the path (or a target) does not exist.
/// Works on any `GuestFs`, whether or not its `read_file` follows links.
fn resolve(fs: &dyn GuestFs, path: &str) -> Result<Option<String>, FsError> {
    let mut cur = path.to_string();
    for _ in 0..MAX_HOPS {
        match fs.metadata(&cur)? {
            None => return Ok(None),
            Some(m) if m.kind == FileKind::Symlink => {
                let target = fs.read_link(&cur)?;
                let base = if target.starts_with('/') {
                    String::new()
                } else {
                    cur.rsplit_once('/')
                        .map(|(d, _)| d)
                        .unwrap_or("")
                        .to_string()
                };
                cur = normalize(&format!("{base}/{target}"));
            }
            Some(_) => return Ok(Some(cur)),
        }
    }
    Err(FsError::path(path, "too many levels of symbolic links"))
}

/// Collapse ".", ".." and "//"; ".." at the root stays at the root (as in the guest).
fn normalize(path: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for c in path.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            c => parts.push(c),
        }
    }
    format!("/{}", parts.join("/"))
}

/// Parse os-release: KEY=value lines, values optionally quoted, shell-style escapes.
pub fn parse(text: &str) -> OsInfo {
    let mut os = OsInfo::default();
    for line in text.lines() {
        let line = line.trim();
        if line.starts_with('#') {
            continue;
        }
        let Some((key, value)) = line.split_once('=') else {
            continue;
        };
        let value = unquote(value.trim());
        match key.trim() {
            "ID" => os.id = value,
            "ID_LIKE" => os.id_like = value.split_whitespace().map(str::to_string).collect(),
            "VERSION_ID" => os.version_id = value,
            "PRETTY_NAME" => os.pretty_name = value,
            _ => {}
        }
    }
    os
}

fn unquote(v: &str) -> String {
    let quote = match v.chars().next() {
        Some(q @ ('"' | '\'')) => q,
        _ => return v.to_string(),
    };
    let mut out = String::new();
    let mut chars = v[1..].chars();
    while let Some(c) = chars.next() {
        match c {
            c if c == quote => break,
            '\\' if quote == '"' => {
                if let Some(n) = chars.next() {
                    out.push(n);
                }
            }
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_quoted_and_unquoted_values() {
        let os = parse(
            "# comment\nPRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nID=debian\n\
             ID_LIKE='rhel fedora'\nVERSION_ID=\"12\"\nNAME=\"say \\\"hi\\\"\"\njunk\n",
        );
        assert_eq!(os.id, "debian");
        assert_eq!(os.version_id, "12");
        assert_eq!(os.pretty_name, "Debian GNU/Linux 12 (bookworm)");
        assert_eq!(os.id_like, vec!["rhel", "fedora"]);
    }

    #[test]
    fn normalize_stays_inside_the_guest() {
        assert_eq!(
            normalize("/etc/../usr/lib/os-release"),
            "/usr/lib/os-release"
        );
        assert_eq!(normalize("/etc/../../../../usr/lib/x"), "/usr/lib/x");
        assert_eq!(normalize("//a/./b/"), "/a/b");
    }
}
