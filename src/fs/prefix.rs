//! A filesystem as the guest sees it mounted at `prefix` (the EFI partition at /boot/efi, a
//! separate /var): guest paths under the prefix map into it; its ancestors are plain
//! directories leading to it; everything else does not exist here. Seal operations then run
//! unchanged on a non-root filesystem and touch only what lives on it.

use super::{DirEntry, FileKind, FileMeta, FsError, GuestFs, GuestFsMut};

pub struct PrefixFs<'a, F: ?Sized> {
    inner: &'a mut F,
    /// Absolute, no trailing '/', never "/".
    prefix: String,
}

/// Where a guest path falls relative to the prefix.
enum At {
    /// Inside: the path in the inner filesystem.
    Inside(String),
    /// "/" or a directory on the way to the prefix; the next component towards it.
    Above(String),
    Outside,
}

impl<'a, F: ?Sized> PrefixFs<'a, F> {
    /// `prefix` is the mount point ("/boot/efi"); `None` if it is not a usable one.
    pub fn new(inner: &'a mut F, prefix: &str) -> Option<PrefixFs<'a, F>> {
        let p = prefix.trim_end_matches('/');
        let ok = p.starts_with('/')
            && !p
                .split('/')
                .skip(1)
                .any(|c| c.is_empty() || c == "." || c == "..");
        ok.then(|| PrefixFs {
            inner,
            prefix: p.to_string(),
        })
    }

    fn at(&self, path: &str) -> At {
        let path = path.trim_end_matches('/');
        if path == self.prefix {
            return At::Inside("/".into());
        }
        if let Some(rest) = path.strip_prefix(&self.prefix)
            && rest.starts_with('/')
        {
            return At::Inside(rest.to_string());
        }
        let above = if path.is_empty() {
            Some(&self.prefix[1..])
        } else {
            self.prefix
                .strip_prefix(path)
                .and_then(|r| r.strip_prefix('/'))
        };
        match above {
            Some(r) => At::Above(r.split('/').next().unwrap_or_default().to_string()),
            None => At::Outside,
        }
    }

    fn inside(&self, path: &str) -> Result<String, FsError> {
        match self.at(path) {
            At::Inside(p) => Ok(p),
            _ => Err(FsError::path(
                path,
                format!("not on the filesystem mounted at {}", self.prefix),
            )),
        }
    }
}

impl<F: GuestFs + ?Sized> GuestFs for PrefixFs<'_, F> {
    fn metadata(&self, path: &str) -> Result<Option<FileMeta>, FsError> {
        match self.at(path) {
            At::Inside(p) => self.inner.metadata(&p),
            At::Above(_) => Ok(Some(FileMeta {
                kind: FileKind::Dir,
                size: 0,
                mode: 0o040755,
                uid: 0,
                gid: 0,
            })),
            At::Outside => Ok(None),
        }
    }

    fn read_dir(&self, path: &str) -> Result<Vec<DirEntry>, FsError> {
        match self.at(path) {
            At::Inside(p) => self.inner.read_dir(&p),
            At::Above(name) => Ok(vec![DirEntry {
                name,
                kind: FileKind::Dir,
            }]),
            At::Outside => Err(FsError::path(path, "no such directory")),
        }
    }

    fn read_file(&self, path: &str, limit: u64) -> Result<Vec<u8>, FsError> {
        self.inner.read_file(&self.inside(path)?, limit)
    }

    fn read_link(&self, path: &str) -> Result<String, FsError> {
        self.inner.read_link(&self.inside(path)?)
    }
}

impl<F: GuestFsMut + ?Sized> GuestFsMut for PrefixFs<'_, F> {
    fn remove_file(&mut self, path: &str) -> Result<(), FsError> {
        let p = self.inside(path)?;
        self.inner.remove_file(&p)
    }

    fn remove_dir(&mut self, path: &str) -> Result<(), FsError> {
        match self.at(path) {
            // The mount point itself stays.
            At::Inside(p) if p != "/" => self.inner.remove_dir(&p),
            _ => Err(FsError::path(path, "is a mount point or above one")),
        }
    }

    fn truncate(&mut self, path: &str) -> Result<(), FsError> {
        let p = self.inside(path)?;
        self.inner.truncate(&p)
    }

    fn write_file(&mut self, path: &str, data: &[u8], mode: u32) -> Result<(), FsError> {
        let p = self.inside(path)?;
        self.inner.write_file(&p, data, mode)
    }

    fn mkdir(&mut self, path: &str, mode: u32) -> Result<(), FsError> {
        let p = self.inside(path)?;
        self.inner.mkdir(&p, mode)
    }

    fn symlink(&mut self, path: &str, target: &str) -> Result<(), FsError> {
        let p = self.inside(path)?;
        self.inner.symlink(&p, target)
    }

    fn set_mode(&mut self, path: &str, mode: u32) -> Result<(), FsError> {
        let p = self.inside(path)?;
        self.inner.set_mode(&p, mode)
    }

    fn set_owner(&mut self, path: &str, uid: u32, gid: u32) -> Result<(), FsError> {
        let p = self.inside(path)?;
        self.inner.set_owner(&p, uid, gid)
    }

    fn flush(&mut self) -> Result<(), FsError> {
        self.inner.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fs::dir::DirFs;

    #[test]
    fn maps_inside_shows_the_way_down_and_hides_the_rest() {
        let t = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir_all(t.path().join("loader")).expect("mkdir");
        std::fs::write(t.path().join("loader/random-seed"), "seed").expect("write");
        let mut dir = DirFs::open(t.path()).expect("open");
        let mut fs = PrefixFs::new(&mut dir, "/boot/efi/").expect("prefix");
        let names = |fs: &PrefixFs<'_, DirFs>, p: &str| -> Vec<String> {
            fs.read_dir(p)
                .expect("read_dir")
                .into_iter()
                .map(|e| e.name)
                .collect()
        };
        assert_eq!(names(&fs, "/"), ["boot"]);
        assert_eq!(names(&fs, "/boot"), ["efi"]);
        assert_eq!(names(&fs, "/boot/efi"), ["loader"]);
        assert!(
            fs.metadata("/boot/efi/loader/random-seed")
                .expect("meta")
                .is_some()
        );
        assert!(fs.metadata("/etc/machine-id").expect("meta").is_none());
        assert!(fs.metadata("/boot/efiX").expect("meta").is_none());
        assert!(fs.read_dir("/etc").is_err());
        assert!(fs.remove_dir("/boot/efi").is_err());
        assert!(fs.remove_file("/etc/passwd").is_err());
        fs.remove_file("/boot/efi/loader/random-seed")
            .expect("remove");
        assert!(!t.path().join("loader/random-seed").exists());
        assert!(PrefixFs::new(&mut dir, "boot").is_none());
        assert!(PrefixFs::new(&mut dir, "/").is_none());
        assert!(PrefixFs::new(&mut dir, "/a/../b").is_none());
    }
}
