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
    /// New content of written or truncated files.
    content: BTreeMap<String, Vec<u8>>,
}

impl<'a> Overlay<'a> {
    pub fn new(base: &'a dyn GuestFs) -> Self {
        Overlay {
            base,
            gone: BTreeSet::new(),
            emptied: BTreeSet::new(),
            content: BTreeMap::new(),
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
            Action::Write { path, content, .. } => {
                self.content.insert(path.clone(), content.clone());
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
        let base = self.base.metadata(path)?;
        Ok(match (base, self.content.get(path)) {
            (Some(mut m), Some(c)) => {
                m.size = c.len() as u64;
                Some(m)
            }
            (None, Some(c)) => Some(FileMeta {
                kind: FileKind::File,
                size: c.len() as u64,
                mode: 0o100644,
                uid: 0,
                gid: 0,
            }),
            (m, None) => m,
        })
    }

    fn read_dir(&self, path: &str) -> Result<Vec<DirEntry>, FsError> {
        if self.is_gone(path) {
            return Err(not_found(path));
        }
        let mut v: Vec<DirEntry> = self
            .base
            .read_dir(path)?
            .into_iter()
            .filter(|e| !self.is_gone(&join(path, &e.name)))
            .collect();
        // Files a Write creates.
        let want = match path.trim_end_matches('/') {
            "" => "/",
            p => p,
        };
        for p in self.content.keys() {
            if let Some((dir, name)) = p.rsplit_once('/') {
                let dir = if dir.is_empty() { "/" } else { dir };
                if dir == want && !v.iter().any(|e| e.name == name) {
                    v.push(DirEntry {
                        name: name.to_string(),
                        kind: FileKind::File,
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
        self.base.read_link(path)
    }
}
