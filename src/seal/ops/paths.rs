//! Path helpers for planning: glob expansion and walks over a `GuestFs`, home directories.
//!
//! Nothing here follows a symlink: a glob or walk only descends into real directories, and a
//! symlink that matches is itself the thing acted on (removed as a link, its target untouched).

use std::collections::BTreeSet;

use glob::{MatchOptions, Pattern};

use crate::fs::{FileKind, FsError, GuestFs, join};
use crate::seal::Action;

/// Deepest directory nesting a walk or removal descends into (a directory cycle in a corrupt
/// filesystem ends here; deeper real trees do not fit in PATH_MAX anyway).
pub const MAX_DEPTH: usize = 2048;
/// Most entries a single walk or glob visits before giving up with an error: far above what
/// /var holds even with container images, low enough to bound a corrupt filesystem.
pub const MAX_ENTRIES: usize = 5_000_000;
/// Largest config file an operation reads to edit or inspect.
pub const MAX_CONFIG: u64 = 4 << 20;

const MATCH: MatchOptions = MatchOptions {
    case_sensitive: true,
    require_literal_separator: true,
    require_literal_leading_dot: true,
};

/// Shell-like matching of one name: `*` does not match a leading dot, as in glob(3).
pub fn name_matches(pattern: &str, name: &str) -> bool {
    Pattern::new(pattern)
        .map(|p| p.matches_with(name, MATCH))
        .unwrap_or(false)
}

/// Name patterns compiled once, for walks that test every name.
pub struct NameGlobs(Vec<Pattern>);

impl NameGlobs {
    /// Patterns that do not compile match nothing (they are constants of this crate).
    pub fn new(patterns: &[&str]) -> Self {
        NameGlobs(
            patterns
                .iter()
                .filter_map(|p| Pattern::new(p).ok())
                .collect(),
        )
    }

    pub fn any(&self, name: &str) -> bool {
        self.0.iter().any(|p| p.matches_with(name, MATCH))
    }
}

fn has_wildcard(s: &str) -> bool {
    s.contains(['*', '?', '['])
}

/// lstat kind of a path, `None` when it does not exist.
pub fn kind(fs: &dyn GuestFs, path: &str) -> Result<Option<FileKind>, FsError> {
    Ok(fs.metadata(path)?.map(|m| m.kind))
}

/// Expand an absolute glob (wildcards allowed in any component) into existing paths, sorted.
/// A pattern starting with `~/` is expanded under every home directory (see [`home_dirs`]).
pub fn glob(fs: &dyn GuestFs, pattern: &str) -> Result<Vec<(String, FileKind)>, FsError> {
    if let Some(rest) = pattern.strip_prefix("~/") {
        let mut out = Vec::new();
        for home in home_dirs(fs)? {
            out.extend(glob(fs, &join(&home, rest))?);
        }
        out.sort_by(|a, b| a.0.cmp(&b.0));
        out.dedup();
        return Ok(out);
    }
    let comps: Vec<&str> = pattern.split('/').filter(|c| !c.is_empty()).collect();
    let mut current = vec!["/".to_string()];
    let mut visited = 0usize;
    for (i, comp) in comps.iter().enumerate() {
        let mut next = Vec::new();
        for dir in &current {
            // Every component but the last must be a real directory, never a symlink.
            if i > 0 && kind(fs, dir)? != Some(FileKind::Dir) {
                continue;
            }
            if has_wildcard(comp) {
                for e in fs.read_dir(dir)? {
                    visited += 1;
                    if visited > MAX_ENTRIES {
                        return Err(FsError::path(pattern, "too many entries to expand"));
                    }
                    if name_matches(comp, &e.name) {
                        next.push(join(dir, &e.name));
                    }
                }
            } else {
                next.push(join(dir, comp));
            }
        }
        current = next;
    }
    let mut out = Vec::new();
    for p in current {
        if let Some(k) = kind(fs, &p)? {
            out.push((p, k));
        }
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out.dedup();
    Ok(out)
}

/// Regular files matching any of the globs, sorted (configuration files to read and edit).
pub fn config_files(fs: &dyn GuestFs, globs: &[&str]) -> Result<Vec<String>, FsError> {
    let mut out = Vec::new();
    for g in globs {
        for (p, k) in glob(fs, g)? {
            if k == FileKind::File {
                out.push(p);
            }
        }
    }
    out.sort();
    out.dedup();
    Ok(out)
}

/// Path and text of each of [`config_files`] (see [`read_text`]).
pub fn config_texts(fs: &dyn GuestFs, globs: &[&str]) -> Result<Vec<(String, String)>, FsError> {
    let mut out = Vec::new();
    for p in config_files(fs, globs)? {
        if let Some(text) = read_text(fs, &p)? {
            out.push((p, text));
        }
    }
    Ok(out)
}

/// Visit every entry below `dir` (not `dir` itself), parents before children, not descending
/// into symlinks. `dir` missing or not a directory: nothing is visited. Iterative, so a deep
/// tree cannot exhaust the stack; a directory cycle (corrupt filesystem) ends at the caps.
pub fn walk(
    fs: &dyn GuestFs,
    dir: &str,
    visit: &mut dyn FnMut(&str, FileKind) -> Result<(), FsError>,
) -> Result<(), FsError> {
    if kind(fs, dir)? != Some(FileKind::Dir) {
        return Ok(());
    }
    let mut count = 0usize;
    let mut stack: Vec<(String, usize)> = vec![(dir.to_string(), 0)];
    while let Some((d, depth)) = stack.pop() {
        if depth >= MAX_DEPTH {
            return Err(FsError::path(&d, "directories nested too deep"));
        }
        let entries = fs.read_dir(&d)?;
        // Reversed onto the stack so that directories are visited in name order.
        let mut subdirs = Vec::new();
        for e in entries {
            count += 1;
            if count > MAX_ENTRIES {
                return Err(FsError::path(dir, "too many entries to walk"));
            }
            let p = join(&d, &e.name);
            visit(&p, e.kind)?;
            if e.kind == FileKind::Dir {
                subdirs.push(p);
            }
        }
        stack.extend(subdirs.into_iter().rev().map(|p| (p, depth + 1)));
    }
    Ok(())
}

/// Home directories: /root, every real directory in /home, and the home of every account in
/// /etc/passwd with uid >= 1000 (but not nobody). Sorted, existing directories only.
pub fn home_dirs(fs: &dyn GuestFs) -> Result<Vec<String>, FsError> {
    let mut homes = BTreeSet::new();
    homes.insert("/root".to_string());
    if kind(fs, "/home")? == Some(FileKind::Dir) {
        for e in fs.read_dir("/home")? {
            homes.insert(join("/home", &e.name));
        }
    }
    if let Some(text) = read_text(fs, "/etc/passwd")? {
        for line in text.lines() {
            let f: Vec<&str> = line.split(':').collect();
            let (Some(uid), Some(home)) = (f.get(2), f.get(5)) else {
                continue;
            };
            let Ok(uid) = uid.parse::<u32>() else {
                continue;
            };
            let home = home.trim_end_matches('/');
            if (1000..65534).contains(&uid)
                && home.starts_with('/')
                && !home.split('/').any(|c| c == "..")
            {
                homes.insert(home.to_string());
            }
        }
    }
    let mut out = Vec::new();
    for h in homes {
        if kind(fs, &h)? == Some(FileKind::Dir) {
            out.push(h);
        }
    }
    Ok(out)
}

/// A regular file's text, `None` when missing or not a regular file (a symlinked config is
/// not edited). Errors when it is not UTF-8 or too large.
pub fn read_text(fs: &dyn GuestFs, path: &str) -> Result<Option<String>, FsError> {
    if kind(fs, path)? != Some(FileKind::File) {
        return Ok(None);
    }
    let data = fs.read_file(path, MAX_CONFIG)?;
    String::from_utf8(data)
        .map(Some)
        .map_err(|_| FsError::path(path, "is not UTF-8 text"))
}

/// /etc/selinux/config says SELINUX=enforcing or permissive: new files need a relabel.
pub fn selinux_enabled(fs: &dyn GuestFs) -> Result<bool, FsError> {
    let p = "/etc/selinux/config";
    if fs.metadata(p)?.is_none() {
        return Ok(false);
    }
    let text = fs.read_file(p, MAX_CONFIG)?;
    Ok(String::from_utf8_lossy(&text).lines().any(|l| {
        let l = l.trim();
        l == "SELINUX=enforcing" || l == "SELINUX=permissive"
    }))
}

/// Remove every match of the globs: directories as trees, anything else as a file.
pub fn remove_globs(fs: &dyn GuestFs, globs: &[&str]) -> Result<Vec<Action>, FsError> {
    let mut out = Vec::new();
    for g in globs {
        for (path, k) in glob(fs, g)? {
            out.push(match k {
                FileKind::Dir => Action::RemoveTree { path },
                _ => Action::Remove { path },
            });
        }
    }
    Ok(sorted(out))
}

/// Remove the matches of the globs that are not directories (virt-sysprep's `rm` globs).
pub fn remove_file_globs(fs: &dyn GuestFs, globs: &[&str]) -> Result<Vec<Action>, FsError> {
    let mut out = Vec::new();
    for g in globs {
        for (path, k) in glob(fs, g)? {
            if k != FileKind::Dir {
                out.push(Action::Remove { path });
            }
        }
    }
    Ok(sorted(out))
}

/// Remove every non-directory below `dir`, keeping the directories (virt-sysprep's
/// rm_rf_only_files), except names for which `keep` says so.
pub fn remove_files_below(
    fs: &dyn GuestFs,
    dir: &str,
    keep: &dyn Fn(&str) -> bool,
) -> Result<Vec<Action>, FsError> {
    let mut out = Vec::new();
    walk(fs, dir, &mut |p, k| {
        let name = p.rsplit('/').next().unwrap_or(p);
        if k != FileKind::Dir && !keep(name) {
            out.push(Action::Remove {
                path: p.to_string(),
            });
        }
        Ok(())
    })?;
    Ok(sorted(out))
}

/// Sort by path and drop exact duplicates, so plans are deterministic.
pub fn sorted(mut v: Vec<Action>) -> Vec<Action> {
    v.sort_by(|a, b| a.path().cmp(b.path()));
    v.dedup();
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn star_skips_dotfiles() {
        assert!(name_matches("*", "a"));
        assert!(!name_matches("*", ".a"));
        assert!(name_matches(".*", ".a"));
        assert!(name_matches("*_host_*", "ssh_host_rsa_key.pub"));
        assert!(!name_matches("*.log*", "x.txt"));
        assert!(name_matches("ifcfg-*", "ifcfg-eth0"));
        let g = NameGlobs::new(&["*.bak", "*~"]);
        assert!(g.any("a.bak") && g.any("b~") && !g.any("bak") && !g.any("a.bak.x"));
    }
}
