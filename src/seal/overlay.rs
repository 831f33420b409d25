//! The guest as it will be after the actions planned so far: each operation plans against it,
//! so two operations editing one file compose (net-hwaddr then net-hostname on an ifcfg file)
//! and nothing is planned twice.

use std::collections::{BTreeMap, BTreeSet};

use crate::fs::{DirEntry, FileKind, FileMeta, FsError, GuestFs, join};

use super::plan::Action;

pub struct Overlay<'a> {
    base: &'a dyn GuestFs,
    /// Removed, with everything below.
    gone: BTreeSet<String>,
    /// Emptied: everything below is gone, the directory stays.
    emptied: BTreeSet<String>,
    /// New content of written, created or truncated files.
    content: BTreeMap<String, Vec<u8>>,
    /// Directories created.
    dirs: BTreeSet<String>,
    /// Symlinks created, with their targets.
    links: BTreeMap<String, String>,
}

impl<'a> Overlay<'a> {
    pub fn new(base: &'a dyn GuestFs) -> Self {
        Overlay {
            base,
            gone: BTreeSet::new(),
            emptied: BTreeSet::new(),
            content: BTreeMap::new(),
            dirs: BTreeSet::new(),
            links: BTreeMap::new(),
        }
    }

    /// Is `path` removed by an action recorded so far?
    pub fn is_gone(&self, path: &str) -> bool {
        if self.gone.contains(path) {
            return true;
        }
        let mut p = path;
        while let Some(i) = p.rfind('/') {
            p = &p[..i];
            let parent = if p.is_empty() { "/" } else { p };
            if self.gone.contains(parent) || self.emptied.contains(parent) {
                return true;
            }
            if p.is_empty() {
                break;
            }
        }
        false
    }

    /// Record a planned action.
    pub fn record(&mut self, a: &Action) {
        match a {
            Action::Remove { path } | Action::RemoveTree { path } => {
                self.content.remove(path);
                self.gone.insert(path.clone());
            }
            Action::EmptyDir { path } => {
                self.emptied.insert(path.clone());
            }
            Action::Truncate { path } => {
                self.content.insert(path.clone(), Vec::new());
            }
            Action::Write { path, content, .. } | Action::Create { path, content, .. } => {
                self.content.insert(path.clone(), content.clone());
            }
            Action::Mkdir { path } => {
                self.dirs.insert(path.clone());
            }
            Action::Symlink { path, target } => {
                self.links.insert(path.clone(), target.clone());
            }
            Action::Report { .. } => {}
        }
    }
}

fn not_found(path: &str) -> FsError {
    FsError::Io {
        context: format!("opening {path}"),
        source: std::io::Error::from(std::io::ErrorKind::NotFound),
    }
}

impl GuestFs for Overlay<'_> {
    fn metadata(&self, path: &str) -> Result<Option<FileMeta>, FsError> {
        if self.is_gone(path) {
            return Ok(None);
        }
        if let Some(t) = self.links.get(path) {
            return Ok(Some(new_meta(FileKind::Symlink, t.len() as u64, 0o120777)));
        }
        if self.dirs.contains(path) && self.base.metadata(path)?.is_none() {
            return Ok(Some(new_meta(FileKind::Dir, 0, 0o40755)));
        }
        let base = self.base.metadata(path)?;
        Ok(match (base, self.content.get(path)) {
            (Some(mut m), Some(c)) => {
                m.size = c.len() as u64;
                Some(m)
            }
            (None, Some(c)) => Some(new_meta(FileKind::File, c.len() as u64, 0o100644)),
            (m, None) => m,
        })
    }

    fn read_dir(&self, path: &str) -> Result<Vec<DirEntry>, FsError> {
        if self.is_gone(path) {
            return Err(not_found(path));
        }
        let base = if self.dirs.contains(path) && self.base.metadata(path)?.is_none() {
            Vec::new()
        } else {
            self.base.read_dir(path)?
        };
        let mut v: Vec<DirEntry> = base
            .into_iter()
            .filter(|e| !self.is_gone(&join(path, &e.name)))
            .collect();
        // Files, directories and symlinks the plan creates.
        let want = match path.trim_end_matches('/') {
            "" => "/",
            p => p,
        };
        let created = (self.content.keys().map(|p| (p, FileKind::File)))
            .chain(self.dirs.iter().map(|p| (p, FileKind::Dir)))
            .chain(self.links.keys().map(|p| (p, FileKind::Symlink)));
        for (p, kind) in created {
            if let Some((dir, name)) = p.rsplit_once('/') {
                let dir = if dir.is_empty() { "/" } else { dir };
                if dir == want && !v.iter().any(|e| e.name == name) {
                    v.push(DirEntry {
                        name: name.to_string(),
                        kind,
                    });
                }
            }
        }
        v.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(v)
    }

    fn read_file(&self, path: &str, limit: u64) -> Result<Vec<u8>, FsError> {
        if self.is_gone(path) {
            return Err(not_found(path));
        }
        match self.content.get(path) {
            Some(c) if c.len() as u64 > limit => Err(FsError::path(path, "larger than allowed")),
            Some(c) => Ok(c.clone()),
            None => self.base.read_file(path, limit),
        }
    }

    fn read_link(&self, path: &str) -> Result<String, FsError> {
        if self.is_gone(path) {
            return Err(not_found(path));
        }
        match self.links.get(path) {
            Some(t) => Ok(t.clone()),
            None => self.base.read_link(path),
        }
    }
}

/// Metadata of something the plan creates: owned by root, as the executor makes it.
fn new_meta(kind: FileKind, size: u64, mode: u32) -> FileMeta {
    FileMeta {
        kind,
        size,
        mode,
        uid: 0,
        gid: 0,
    }
}
