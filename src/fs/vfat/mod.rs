//! vfat (FAT12/16/32: the EFI system partition) in userspace, through the fatfs crate: no
//! root, no kernel driver. The allocation table is checked by our own reader (`fat`) before
//! fatfs sees the volume, and fatfs is kept behind `catch_unwind`: a hostile image gets an
//! error, never a hang or a crash.
//!
//! FAT stores no owner, permission or symlink: metadata reports root-owned 0755 directories
//! and 0644 files, and changing those fails (clearly). Every time fatfs stamps (a written
//! file, a directory whose entries change) is the pinned time (`pin_time`, FAT's UTC date
//! and 2-second time), by default the DOS epoch (1980-01-01 00:00): the same bytes on every run.

pub mod fat;

use std::cell::Cell;
use std::io::{Read, SeekFrom, Write};
use std::panic::{AssertUnwindSafe, catch_unwind};

use fatfs::{Date, DateTime, FileSystem, FsOptions, ReadWriteSeek, Time, TimeProvider};

use super::{DirEntry, FileKind, FileMeta, FsError, GuestFs, GuestFsMut, clock, name};

pub struct VfatFs<T: ReadWriteSeek> {
    fs: FileSystem<T>,
    name: String,
    /// What fatfs stamps changed entries with (seconds since the epoch).
    time: i64,
}

thread_local! {
    /// The pinned time of the `VfatFs` whose call runs on this thread: fatfs takes one
    /// `&'static` clock for the life of a volume, so each call sets what it reads.
    static NOW: Cell<i64> = const { Cell::new(clock::DOS_EPOCH) };
}

/// The clock fatfs stamps changed entries with: the pinned time, never the host's (fatfs's
/// own default without chrono writes an invalid all-zero date).
#[derive(Debug)]
struct Pinned;

impl TimeProvider for Pinned {
    fn get_current_date(&self) -> Date {
        self.get_current_date_time().date
    }

    fn get_current_date_time(&self) -> DateTime {
        let (year, month, day, hour, min, sec) = clock::dos(NOW.with(Cell::get));
        DateTime {
            date: Date { year, month, day },
            time: Time {
                hour,
                min,
                sec,
                millis: 0,
            },
        }
    }
}

static PINNED: Pinned = Pinned;

/// Run a fatfs call: its errors name `what`; a panic inside it becomes an error too.
fn guarded<R>(what: &str, f: impl FnOnce() -> std::io::Result<R>) -> Result<R, FsError> {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(Ok(r)) => Ok(r),
        Ok(Err(source)) => Err(FsError::Io {
            context: what.to_string(),
            source,
        }),
        Err(_) => Err(FsError::Corrupt(format!(
            "{what}: the FAT library failed on this volume"
        ))),
    }
}

/// "/a/b" -> "a/b"; refuses '..', empty names and escaped bytes (FAT long names are UTF-16:
/// a name that is not UTF-8 cannot exist here, and must not be created as garbage).
fn relative(path: &str) -> Result<String, FsError> {
    if !path.starts_with('/') {
        return Err(FsError::path(path, "guest path is not absolute"));
    }
    if name::has_escapes(path) {
        return Err(FsError::path(
            path,
            "holds bytes that are not UTF-8, which a vfat name cannot",
        ));
    }
    let comps: Vec<&str> = path
        .split('/')
        .filter(|c| !c.is_empty() && *c != ".")
        .collect();
    if comps.contains(&"..") {
        return Err(FsError::path(path, "'..' in a guest path"));
    }
    Ok(comps.join("/"))
}

fn split(rel: &str) -> (&str, &str) {
    rel.rsplit_once('/').unwrap_or(("", rel))
}

fn no_such(path: &str) -> FsError {
    FsError::path(path, "no such file or directory")
}

impl<T: ReadWriteSeek> VfatFs<T> {
    /// Open the volume in `io` (its `len` bytes), after checking its table.
    pub fn open(mut io: T, len: u64, name: &str) -> Result<Self, FsError> {
        fat::Table::read(&mut io, len)
            .and_then(|t| t.check_dirs(&mut io))
            .map_err(|e| FsError::within(name, e))?;
        let what = format!("{name}: opening");
        let fs = guarded(&what, move || {
            io.seek(SeekFrom::Start(0))?;
            let opts = FsOptions::new()
                .update_accessed_date(false)
                .time_provider(&PINNED);
            FileSystem::new(io, opts)
        })?;
        Ok(VfatFs {
            fs,
            name: name.to_string(),
            time: clock::DOS_EPOCH,
        })
    }

    /// A fatfs call that may stamp times: it reads this volume's pinned time.
    fn stamped<R>(&self, what: &str, f: impl FnOnce() -> std::io::Result<R>) -> Result<R, FsError> {
        let before = NOW.replace(self.time);
        let r = guarded(what, f);
        NOW.set(before);
        r
    }

    /// Write back what fatfs keeps (FSInfo, the clean flag) and give the storage up.
    pub fn close(self) -> Result<(), FsError> {
        let what = format!("{}: closing", self.name);
        let before = NOW.replace(self.time);
        let fs = self.fs;
        let r = guarded(&what, move || fs.unmount());
        NOW.set(before);
        r
    }

    fn ctx(&self, path: &str) -> String {
        format!("{}: {path}", self.name)
    }

    /// The entry at `path` (not the root): (is_dir, size).
    fn entry(&self, path: &str) -> Result<Option<(bool, u64)>, FsError> {
        let rel = relative(path)?;
        let (parent, name) = split(&rel);
        let root = self.fs.root_dir();
        let found = guarded(&self.ctx(path), || {
            let dir = if parent.is_empty() {
                root
            } else {
                match root.open_dir(parent) {
                    Ok(d) => d,
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
                    Err(e) => return Err(e),
                }
            };
            for e in dir.iter() {
                let e = e?;
                if e.file_name().eq_ignore_ascii_case(name) {
                    return Ok(Some((e.is_dir(), e.len())));
                }
            }
            Ok(None)
        })?;
        Ok(found)
    }

    fn must_be(&self, path: &str, dir: bool) -> Result<String, FsError> {
        match self.entry(path)? {
            Some((d, _)) if d == dir => relative(path),
            Some(_) if dir => Err(FsError::path(path, "not a directory")),
            Some(_) => Err(FsError::path(path, "is a directory")),
            None => Err(no_such(path)),
        }
    }
}

impl<T: ReadWriteSeek> GuestFs for VfatFs<T> {
    fn metadata(&self, path: &str) -> Result<Option<FileMeta>, FsError> {
        let dir_meta = |size| FileMeta {
            kind: FileKind::Dir,
            size,
            mode: 0o040755,
            uid: 0,
            gid: 0,
        };
        if relative(path)?.is_empty() {
            return Ok(Some(dir_meta(0)));
        }
        Ok(self.entry(path)?.map(|(is_dir, size)| {
            if is_dir {
                dir_meta(size)
            } else {
                FileMeta {
                    kind: FileKind::File,
                    size,
                    mode: 0o100644,
                    uid: 0,
                    gid: 0,
                }
            }
        }))
    }

    fn read_dir(&self, path: &str) -> Result<Vec<DirEntry>, FsError> {
        let rel = relative(path)?;
        let root = self.fs.root_dir();
        let mut out = guarded(&self.ctx(path), || {
            let dir = if rel.is_empty() {
                root
            } else {
                root.open_dir(&rel)?
            };
            let mut out = Vec::new();
            for e in dir.iter() {
                let e = e?;
                let name = e.file_name();
                if name != "." && name != ".." {
                    let kind = if e.is_dir() {
                        FileKind::Dir
                    } else {
                        FileKind::File
                    };
                    out.push(DirEntry { name, kind });
                }
            }
            Ok(out)
        })?;
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }

    fn read_file(&self, path: &str, limit: u64) -> Result<Vec<u8>, FsError> {
        let rel = self.must_be(path, false)?;
        let root = self.fs.root_dir();
        let data = guarded(&self.ctx(path), || {
            let mut f = root.open_file(&rel)?;
            let mut data = Vec::new();
            (&mut f)
                .take(limit.saturating_add(1))
                .read_to_end(&mut data)?;
            Ok(data)
        })?;
        if data.len() as u64 > limit {
            return Err(FsError::path(path, format!("larger than {limit} bytes")));
        }
        Ok(data)
    }

    fn read_link(&self, path: &str) -> Result<String, FsError> {
        Err(FsError::path(path, "vfat has no symlinks"))
    }
}

impl<T: ReadWriteSeek> GuestFsMut for VfatFs<T> {
    fn pin_time(&mut self, t: Option<i64>) -> Option<i64> {
        if let Some(t) = t {
            self.time = t;
        }
        Some(self.time)
    }

    fn remove_file(&mut self, path: &str) -> Result<(), FsError> {
        let rel = self.must_be(path, false)?;
        let root = self.fs.root_dir();
        self.stamped(&self.ctx(path), || root.remove(&rel))
    }

    fn remove_dir(&mut self, path: &str) -> Result<(), FsError> {
        let rel = self.must_be(path, true)?;
        if rel.is_empty() {
            return Err(FsError::path(path, "the root cannot be removed"));
        }
        let root = self.fs.root_dir();
        self.stamped(&self.ctx(path), || root.remove(&rel))
    }

    fn truncate(&mut self, path: &str) -> Result<(), FsError> {
        let rel = self.must_be(path, false)?;
        let root = self.fs.root_dir();
        self.stamped(&self.ctx(path), || {
            let mut f = root.open_file(&rel)?;
            f.truncate()?;
            f.flush()
        })
    }

    fn write_file(&mut self, path: &str, data: &[u8], _mode: u32) -> Result<(), FsError> {
        let rel = relative(path)?;
        if self.entry(path)?.is_some_and(|(dir, _)| dir) {
            return Err(FsError::path(path, "is a directory"));
        }
        let root = self.fs.root_dir();
        self.stamped(&self.ctx(path), || {
            let mut f = root.create_file(&rel)?;
            f.truncate()?;
            f.write_all(data)?;
            f.flush()
        })
    }

    fn mkdir(&mut self, path: &str, _mode: u32) -> Result<(), FsError> {
        // fatfs 0.3.6 writes the new directory's "." and ".." with long-name entries that
        // fsck.vfat rejects: refuse rather than leave a volume it must repair.
        Err(FsError::path(
            path,
            "creating directories on vfat is not supported",
        ))
    }

    fn symlink(&mut self, path: &str, _target: &str) -> Result<(), FsError> {
        Err(FsError::path(path, "vfat has no symlinks"))
    }

    fn set_mode(&mut self, path: &str, _mode: u32) -> Result<(), FsError> {
        Err(FsError::path(path, "vfat stores no permissions"))
    }

    fn set_owner(&mut self, path: &str, _uid: u32, _gid: u32) -> Result<(), FsError> {
        Err(FsError::path(path, "vfat stores no owners"))
    }

    fn flush(&mut self) -> Result<(), FsError> {
        Ok(())
    }
}

/// A read-only stream for fatfs (which asks for `Write`): reads and seeks pass through,
/// writes fail. For looking into a volume without any chance of changing it.
pub struct ReadOnly<S>(pub S);

impl<S: Read> Read for ReadOnly<S> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        self.0.read(buf)
    }
}

impl<S: std::io::Seek> std::io::Seek for ReadOnly<S> {
    fn seek(&mut self, to: SeekFrom) -> std::io::Result<u64> {
        self.0.seek(to)
    }
}

impl<S> Write for ReadOnly<S> {
    fn write(&mut self, _: &[u8]) -> std::io::Result<usize> {
        Err(std::io::Error::new(
            std::io::ErrorKind::PermissionDenied,
            "opened read-only",
        ))
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_refuses_escaped_bytes() {
        assert_eq!(relative("/EFI/boot").unwrap(), "EFI/boot");
        let odd = format!("/EFI/{}", name::encode(b"caf\xe9"));
        let e = relative(&odd).unwrap_err().to_string();
        assert!(e.contains("/EFI/caf\\xe9"), "{e}");
        assert!(e.contains("not UTF-8"), "{e}");
    }

    /// A volume whose every read fails with EIO.
    struct Failing;
    impl std::io::Read for Failing {
        fn read(&mut self, _: &mut [u8]) -> std::io::Result<usize> {
            Err(std::io::Error::from_raw_os_error(libc::EIO))
        }
    }
    impl std::io::Write for Failing {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    impl std::io::Seek for Failing {
        fn seek(&mut self, _: SeekFrom) -> std::io::Result<u64> {
            Ok(0)
        }
    }

    /// Regression: the table check's io error was folded into a string with `to_string`,
    /// which drops an io error's own message ("vfat: reading", no errno).
    #[test]
    fn an_unreadable_volume_keeps_its_io_error() {
        let Err(e) = VfatFs::open(Failing, 1 << 20, "partition 1 (vfat)") else {
            panic!("opened a volume that cannot be read");
        };
        let mut chain = e.to_string();
        let mut cur = std::error::Error::source(&e);
        while let Some(c) = cur {
            chain = format!("{chain}: {c}");
            cur = c.source();
        }
        assert!(
            chain.starts_with("partition 1 (vfat): vfat: reading"),
            "{chain}"
        );
        assert!(chain.contains("Input/output error"), "{chain}");
    }
}
