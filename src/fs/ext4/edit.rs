//! `Ext4Fs`: an ext2/3/4 filesystem inside a raw file (at a byte offset), read and edited
//! through libext2fs. Implements `GuestFs` and `GuestFsMut`.

use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use super::ffi::{self, BlockIo, Code, Handle, SuperInfo};
use crate::fs::{DirEntry, FileKind, FileMeta, FsError, GuestFs, GuestFsMut, name};

const INCOMPAT_RECOVER: u32 = 0x0004;
const STATE_VALID: u32 = 0x0001;
const STATE_ERROR: u32 = 0x0002;
/// Longest symlink target we read (PATH_MAX).
const MAX_LINK: usize = 4096;

/// Errors of opening, editing or closing an ext filesystem; every one names what it was
/// working on.
#[derive(Debug, thiserror::Error)]
pub enum Ext4Error {
    #[error("{what}: {op}: {msg}")]
    Lib {
        what: String,
        op: &'static str,
        code: i64,
        msg: String,
    },
    #[error(
        "{fs}: the journal needs recovery (the guest was not shut down cleanly); refusing to \
         edit it. Boot the VM and shut it down cleanly, or run `e2fsck -fy` on a copy of the \
         image and seal that copy (`cloudseal seal --replay-journal` does that)"
    )]
    NeedsRecovery { fs: String },
    #[error(
        "{fs}: {why}; refusing to edit it. Run `e2fsck -fy` on a copy of the image and seal \
         that copy"
    )]
    NotClean { fs: String, why: &'static str },
}

impl Ext4Error {
    fn lib(what: impl Into<String>, op: &'static str, code: Code) -> Self {
        Ext4Error::Lib {
            what: what.into(),
            op,
            code: code.0,
            msg: code.message(),
        }
    }
}

impl From<Ext4Error> for FsError {
    fn from(e: Ext4Error) -> Self {
        match e {
            Ext4Error::Lib { what, op, msg, .. } => FsError::Path {
                path: what,
                msg: format!("{op}: {msg}"),
            },
            other => FsError::Unsupported(other.to_string()),
        }
    }
}

/// A byte range inside the filesystem (offset from its first byte).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ByteRange {
    pub start: u64,
    pub len: u64,
}

/// An ext2/3/4 filesystem opened with libext2fs.
pub struct Ext4Fs {
    h: Handle,
    /// "partition 2 of disk.raw": for error messages.
    name: String,
    writable: bool,
}

fn kind_of(mode: u32) -> FileKind {
    match mode & 0o170000 {
        0o100000 => FileKind::File,
        0o040000 => FileKind::Dir,
        0o120000 => FileKind::Symlink,
        _ => FileKind::Other,
    }
}

fn cpath(path: &str) -> Result<CString, FsError> {
    if !path.starts_with('/') {
        return Err(FsError::path(path, "not an absolute guest path"));
    }
    CString::new(name::decode(path).into_owned())
        .map_err(|_| FsError::path(path, "contains a NUL byte"))
}

/// Split "/a/b/c" into ("/a/b", "c"); refuses "/", "." and "..".
fn split(path: &str) -> Result<(CString, CString), FsError> {
    let trimmed = path.trim_end_matches('/');
    let (parent, name) = trimmed
        .rsplit_once('/')
        .ok_or_else(|| FsError::path(path, "not an absolute guest path"))?;
    if name.is_empty() || name == "." || name == ".." {
        return Err(FsError::path(path, "has no final name to act on"));
    }
    let parent = if parent.is_empty() { "/" } else { parent };
    let name = CString::new(name::decode(name).into_owned())
        .map_err(|_| FsError::path(path, "contains a NUL byte"))?;
    Ok((cpath(parent)?, name))
}

impl Ext4Fs {
    /// Open the filesystem that starts `offset` bytes into `image`. A filesystem whose journal
    /// needs recovery, or that records errors, is refused (its on-disk state is not what the
    /// guest last saw).
    pub fn open(image: &Path, offset: u64, writable: bool, name: &str) -> Result<Self, Ext4Error> {
        let c = CString::new(image.as_os_str().as_bytes()).map_err(|_| Ext4Error::Lib {
            what: name.to_string(),
            op: "opening",
            code: 0,
            msg: "image path contains a NUL byte".into(),
        })?;
        let h =
            Handle::open(&c, offset, writable).map_err(|e| Ext4Error::lib(name, "opening", e))?;
        Self::checked(h, writable, name)
    }

    /// Open the filesystem whose bytes `io` reads and writes (an overlay over a disk image:
    /// nothing is written anywhere else). Same refusals as [`Ext4Fs::open`].
    pub fn open_io(io: Box<dyn BlockIo>, writable: bool, name: &str) -> Result<Self, Ext4Error> {
        let h = Handle::open_io(io, writable).map_err(|e| Ext4Error::lib(name, "opening", e))?;
        Self::checked(h, writable, name)
    }

    fn checked(h: Handle, writable: bool, name: &str) -> Result<Self, Ext4Error> {
        let s = h.super_info();
        if s.feature_incompat & INCOMPAT_RECOVER != 0 {
            return Err(Ext4Error::NeedsRecovery { fs: name.into() });
        }
        if s.state & STATE_ERROR != 0 {
            return Err(Ext4Error::NotClean {
                fs: name.into(),
                why: "the filesystem records errors",
            });
        }
        if s.state & STATE_VALID == 0 {
            return Err(Ext4Error::NotClean {
                fs: name.into(),
                why: "the filesystem was not unmounted cleanly",
            });
        }
        Ok(Ext4Fs {
            h,
            name: name.to_string(),
            writable,
        })
    }

    /// Write every timestamp as `t` (seconds since the epoch), or as the filesystem's last
    /// write time when `None`: reproducible edits. Returns the time used.
    pub fn pinned_time(&mut self, t: Option<i64>) -> i64 {
        self.h.pin_time(t.unwrap_or(0))
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn super_info(&self) -> SuperInfo {
        self.h.super_info()
    }

    /// Write everything back (when opened writable) and close.
    pub fn close(self) -> Result<(), Ext4Error> {
        let name = self.name;
        self.h
            .close(self.writable)
            .map_err(|e| Ext4Error::lib(name, "closing", e))
    }

    /// Free blocks of the in-memory block bitmap (current edits included), as byte ranges
    /// relative to the start of the filesystem, in ascending order, adjacent runs merged.
    pub fn free_ranges(&self) -> Result<Vec<ByteRange>, Ext4Error> {
        let s = self.h.super_info();
        let bs = u64::from(s.block_size);
        let mut out: Vec<ByteRange> = Vec::new();
        if s.blocks_count == 0 {
            return Ok(out);
        }
        let last = s.blocks_count - 1;
        let mut at = u64::from(s.first_data_block);
        let err = |e| Ext4Error::lib(self.name.clone(), "reading the block bitmap", e);
        while at <= last {
            let Some(free) = self.h.find_first_free(at, last).map_err(err)? else {
                break;
            };
            let used = self.h.find_first_used(free, last).map_err(err)?;
            let end = used.unwrap_or(last + 1);
            let (Some(start), Some(len)) = (free.checked_mul(bs), (end - free).checked_mul(bs))
            else {
                return Err(Ext4Error::lib(
                    self.name.clone(),
                    "reading the block bitmap",
                    Code::errno(libc::EOVERFLOW),
                ));
            };
            out.push(ByteRange { start, len });
            at = end;
        }
        Ok(out)
    }

    fn err(&self, path: &str, op: &'static str, e: Code) -> FsError {
        Ext4Error::lib(format!("{}: {path}", self.name), op, e).into()
    }

    /// Inode of `path`; None when it or a parent does not exist.
    fn find(&self, path: &str, follow: bool) -> Result<Option<u32>, FsError> {
        match self.h.lookup(&cpath(path)?, follow) {
            Ok(ino) => Ok(Some(ino)),
            Err(e) if e.is_not_found() || e.is_not_dir() => Ok(None),
            Err(e) => Err(self.err(path, "looking up", e)),
        }
    }

    fn must_find(&self, path: &str, follow: bool) -> Result<u32, FsError> {
        self.find(path, follow)?
            .ok_or_else(|| FsError::path(path, "no such file or directory"))
    }

    fn stat(&self, path: &str, ino: u32) -> Result<ffi::Stat, FsError> {
        self.h
            .stat(ino)
            .map_err(|e| self.err(path, "reading the inode", e))
    }

    /// The parent directory's inode and the final name, for a change to `path`.
    fn parent_of(&self, path: &str) -> Result<(u32, CString), FsError> {
        let (parent, name) = split(path)?;
        let p = name::encode(parent.as_bytes());
        let ino = match self.h.lookup(&parent, true) {
            Ok(ino) => ino,
            Err(e) if e.is_not_found() || e.is_not_dir() => {
                return Err(FsError::path(path, "parent directory does not exist"));
            }
            Err(e) => return Err(self.err(&p, "looking up", e)),
        };
        if kind_of(self.stat(&p, ino)?.mode) != FileKind::Dir {
            return Err(FsError::path(path, "parent is not a directory"));
        }
        Ok((ino, name))
    }

    fn check_writable(&self, path: &str) -> Result<(), FsError> {
        if self.writable {
            Ok(())
        } else {
            Err(FsError::path(path, "filesystem opened read-only"))
        }
    }
}

impl GuestFs for Ext4Fs {
    fn metadata(&self, path: &str) -> Result<Option<FileMeta>, FsError> {
        let Some(ino) = self.find(path, false)? else {
            return Ok(None);
        };
        let st = self.stat(path, ino)?;
        Ok(Some(FileMeta {
            kind: kind_of(st.mode),
            size: st.size,
            mode: st.mode,
            uid: st.uid,
            gid: st.gid,
        }))
    }

    fn read_dir(&self, path: &str) -> Result<Vec<DirEntry>, FsError> {
        let ino = self.must_find(path, true)?;
        if kind_of(self.stat(path, ino)?.mode) != FileKind::Dir {
            return Err(FsError::path(path, "not a directory"));
        }
        let mut out = Vec::new();
        self.h
            .read_dir(ino, &mut |raw, _ino, kind| {
                if raw == b"." || raw == b".." {
                    return;
                }
                out.push(DirEntry {
                    name: name::encode(raw).into_owned(),
                    kind: match kind {
                        ffi::KIND_FILE => FileKind::File,
                        ffi::KIND_DIR => FileKind::Dir,
                        ffi::KIND_SYMLINK => FileKind::Symlink,
                        _ => FileKind::Other,
                    },
                });
            })
            .map_err(|e| self.err(path, "reading the directory", e))?;
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }

    fn read_file(&self, path: &str, limit: u64) -> Result<Vec<u8>, FsError> {
        let ino = self.must_find(path, true)?;
        let st = self.stat(path, ino)?;
        if kind_of(st.mode) != FileKind::File {
            return Err(FsError::path(path, "not a regular file"));
        }
        if st.size > limit {
            return Err(FsError::path(
                path,
                format!("is {} bytes, more than the limit of {limit}", st.size),
            ));
        }
        let len = usize::try_from(st.size).map_err(|_| FsError::path(path, "too large"))?;
        let mut buf = vec![0u8; len];
        let got = self
            .h
            .read(ino, 0, &mut buf)
            .map_err(|e| self.err(path, "reading", e))?;
        if got != len {
            return Err(FsError::Corrupt(format!(
                "{}: {path}: read {got} of {len} bytes",
                self.name
            )));
        }
        Ok(buf)
    }

    fn read_link(&self, path: &str) -> Result<String, FsError> {
        let ino = self.must_find(path, false)?;
        let target = self
            .h
            .readlink(ino, MAX_LINK)
            .map_err(|e| self.err(path, "reading the symlink", e))?;
        Ok(name::encode(&target).into_owned())
    }
}

impl GuestFsMut for Ext4Fs {
    fn pin_time(&mut self, t: Option<i64>) -> Option<i64> {
        Some(self.pinned_time(t))
    }

    fn remove_file(&mut self, path: &str) -> Result<(), FsError> {
        self.check_writable(path)?;
        let ino = self.must_find(path, false)?;
        let (dir, name) = self.parent_of(path)?;
        self.h
            .unlink_file(dir, &name, ino)
            .map_err(|e| self.err(path, "removing", e))
    }

    fn remove_dir(&mut self, path: &str) -> Result<(), FsError> {
        self.check_writable(path)?;
        let ino = self.must_find(path, false)?;
        let (dir, name) = self.parent_of(path)?;
        self.h
            .rmdir(dir, &name, ino)
            .map_err(|e| self.err(path, "removing the directory", e))
    }

    fn truncate(&mut self, path: &str) -> Result<(), FsError> {
        self.check_writable(path)?;
        let ino = self.must_find(path, false)?;
        if kind_of(self.stat(path, ino)?.mode) != FileKind::File {
            return Err(FsError::path(path, "not a regular file"));
        }
        self.h
            .truncate(ino)
            .map_err(|e| self.err(path, "truncating", e))
    }

    fn write_file(&mut self, path: &str, data: &[u8], mode: u32) -> Result<(), FsError> {
        self.check_writable(path)?;
        let ino = match self.find(path, false)? {
            Some(ino) => {
                if kind_of(self.stat(path, ino)?.mode) != FileKind::File {
                    return Err(FsError::path(path, "not a regular file"));
                }
                ino
            }
            None => {
                let (dir, name) = self.parent_of(path)?;
                self.h
                    .create(dir, &name, mode & 0o7777)
                    .map_err(|e| self.err(path, "creating", e))?
            }
        };
        self.h
            .write(ino, data)
            .map_err(|e| self.err(path, "writing", e))
    }

    fn mkdir(&mut self, path: &str, mode: u32) -> Result<(), FsError> {
        self.check_writable(path)?;
        if self.find(path, false)?.is_some() {
            return Err(FsError::path(path, "already exists"));
        }
        let (dir, name) = self.parent_of(path)?;
        let ino = self
            .h
            .mkdir(dir, &name)
            .map_err(|e| self.err(path, "creating the directory", e))?;
        self.h
            .set_attr(ino, mode & 0o7777, 0, 0)
            .map_err(|e| self.err(path, "setting the mode", e))
    }

    fn symlink(&mut self, path: &str, target: &str) -> Result<(), FsError> {
        self.check_writable(path)?;
        if self.find(path, false)?.is_some() {
            return Err(FsError::path(path, "already exists"));
        }
        let (dir, name) = self.parent_of(path)?;
        let t = CString::new(name::decode(target).into_owned())
            .map_err(|_| FsError::path(path, "target contains NUL"))?;
        self.h
            .symlink(dir, &name, &t)
            .map_err(|e| self.err(path, "creating the symlink", e))?;
        Ok(())
    }

    fn set_mode(&mut self, path: &str, mode: u32) -> Result<(), FsError> {
        self.check_writable(path)?;
        let ino = self.must_find(path, false)?;
        let st = self.stat(path, ino)?;
        self.h
            .set_attr(ino, mode & 0o7777, st.uid, st.gid)
            .map_err(|e| self.err(path, "chmod", e))
    }

    fn set_owner(&mut self, path: &str, uid: u32, gid: u32) -> Result<(), FsError> {
        self.check_writable(path)?;
        let ino = self.must_find(path, false)?;
        let st = self.stat(path, ino)?;
        self.h
            .set_attr(ino, st.mode & 0o7777, uid, gid)
            .map_err(|e| self.err(path, "chown", e))
    }

    fn flush(&mut self) -> Result<(), FsError> {
        if !self.writable {
            return Ok(());
        }
        let name = self.name.clone();
        self.h
            .flush()
            .map_err(|e| Ext4Error::lib(name, "flushing", e).into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_paths() {
        let (p, n) = split("/etc/ssh/key").unwrap();
        assert_eq!(
            (p.to_str().unwrap(), n.to_str().unwrap()),
            ("/etc/ssh", "key")
        );
        let (p, n) = split("/tmp/").unwrap();
        assert_eq!((p.to_str().unwrap(), n.to_str().unwrap()), ("/", "tmp"));
        assert!(split("/").is_err());
        assert!(split("/etc/..").is_err());
        assert!(split("relative").is_err());
    }
}
