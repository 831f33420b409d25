//! Read-only `GuestFs` for ext2/3/4 through `ext4-view` (journal replayed in memory).
//!
//! ext4-view wants a `'static` reader, so this owns an `Arc` of the disk and a window on it
//! rather than borrowing a `disk::Slice`. Symlinks are resolved by ext4-view inside the
//! filesystem: an absolute target never leaves the guest.

use std::sync::Arc;

use ext4_view::{Ext4, Ext4Error, Ext4Read, FileType};

use crate::disk::{BlockDev, DiskError};
use crate::fs::{DirEntry, FileKind, FileMeta, FsError, GuestFs, name};

/// One partition of a disk, as ext4-view reads it.
struct PartReader {
    dev: Arc<dyn BlockDev>,
    start: u64,
    len: u64,
}

impl Ext4Read for PartReader {
    fn read(
        &mut self,
        start_byte: u64,
        dst: &mut [u8],
    ) -> Result<(), Box<dyn std::error::Error + Send + Sync + 'static>> {
        let n = dst.len() as u64;
        match start_byte.checked_add(n) {
            Some(end) if end <= self.len => {}
            _ => {
                return Err(Box::new(DiskError::OutOfRange {
                    off: start_byte,
                    len: n,
                    size: self.len,
                }));
            }
        }
        self.dev.read_exact_at(dst, self.start + start_byte)?;
        Ok(())
    }
}

/// An ext2/3/4 filesystem opened read-only.
pub struct Ext4ReadFs {
    fs: Ext4,
}

impl Ext4ReadFs {
    /// Open the filesystem in `len` bytes of `dev` at `start`.
    pub fn open(dev: Arc<dyn BlockDev>, start: u64, len: u64) -> Result<Self, FsError> {
        match start.checked_add(len) {
            Some(end) if end <= dev.size() => {}
            _ => {
                return Err(FsError::Disk(DiskError::OutOfRange {
                    off: start,
                    len,
                    size: dev.size(),
                }));
            }
        }
        let fs = Ext4::load(Box::new(PartReader { dev, start, len }))
            .map_err(|e| map_err("reading the superblock", e))?;
        Ok(Ext4ReadFs { fs })
    }

    pub fn label(&self) -> String {
        self.fs.label().to_str().unwrap_or_default().to_string()
    }

    pub fn uuid(&self) -> String {
        self.fs.uuid().to_string()
    }
}

fn map_err(what: &str, e: Ext4Error) -> FsError {
    match e {
        Ext4Error::Corrupt(c) => FsError::Corrupt(format!("{what}: {c}")),
        Ext4Error::Incompatible(i) => FsError::Unsupported(format!("{what}: {i}")),
        e => FsError::path(what, e.to_string()),
    }
}

fn kind_of(t: FileType) -> FileKind {
    if t.is_regular_file() {
        FileKind::File
    } else if t.is_dir() {
        FileKind::Dir
    } else if t.is_symlink() {
        FileKind::Symlink
    } else {
        FileKind::Other
    }
}

/// st_mode type bits.
fn type_bits(t: FileType) -> u32 {
    if t.is_regular_file() {
        0o100000
    } else if t.is_dir() {
        0o040000
    } else if t.is_symlink() {
        0o120000
    } else if t.is_char_dev() {
        0o020000
    } else if t.is_block_dev() {
        0o060000
    } else if t.is_fifo() {
        0o010000
    } else {
        0o140000
    }
}

impl GuestFs for Ext4ReadFs {
    fn metadata(&self, path: &str) -> Result<Option<FileMeta>, FsError> {
        match self.fs.symlink_metadata(&*name::decode(path)) {
            Ok(m) => Ok(Some(FileMeta {
                kind: kind_of(m.file_type()),
                size: m.len(),
                mode: type_bits(m.file_type()) | u32::from(m.mode()),
                uid: m.uid(),
                gid: m.gid(),
            })),
            Err(Ext4Error::NotFound | Ext4Error::NotADirectory) => Ok(None),
            Err(e) => Err(map_err(path, e)),
        }
    }

    fn read_dir(&self, path: &str) -> Result<Vec<DirEntry>, FsError> {
        let mut out = Vec::new();
        for entry in self
            .fs
            .read_dir(&*name::decode(path))
            .map_err(|e| map_err(path, e))?
        {
            let entry = entry.map_err(|e| map_err(path, e))?;
            let file_name = entry.file_name();
            let raw: &[u8] = file_name.as_ref();
            if raw == b"." || raw == b".." {
                continue;
            }
            let kind = kind_of(entry.file_type().map_err(|e| map_err(path, e))?);
            out.push(DirEntry {
                name: name::encode(raw).into_owned(),
                kind,
            });
        }
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }

    fn read_file(&self, path: &str, limit: u64) -> Result<Vec<u8>, FsError> {
        let mut file = self
            .fs
            .open(&*name::decode(path))
            .map_err(|e| map_err(path, e))?;
        let size = file.metadata().len();
        if size > limit {
            return Err(FsError::path(
                path,
                format!("file is {size} bytes, more than the {limit} allowed"),
            ));
        }
        // size <= limit, which callers keep small.
        let mut data = vec![0u8; size as usize];
        let mut at = 0;
        while at < data.len() {
            let n = file
                .read_bytes(&mut data[at..])
                .map_err(|e| map_err(path, e))?;
            if n == 0 {
                return Err(FsError::Corrupt(format!("{path}: file ends early")));
            }
            at += n;
        }
        Ok(data)
    }

    fn read_link(&self, path: &str) -> Result<String, FsError> {
        let target = self
            .fs
            .read_link(&*name::decode(path))
            .map_err(|e| map_err(path, e))?;
        Ok(name::encode(target.as_ref()).into_owned())
    }
}
