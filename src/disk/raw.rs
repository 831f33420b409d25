//! Raw disk image files, sparse or not.

use std::fs::File;
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::PathBuf;

use nix::errno::Errno;
use nix::unistd::{Whence, lseek};

use super::{BlockDev, DiskError, Extent, ExtentKind, ImageFormat};

pub struct RawFile {
    file: File,
    path: PathBuf,
    size: u64,
}

impl RawFile {
    pub fn open(file: File, path: PathBuf) -> Result<Self, DiskError> {
        let size = file
            .metadata()
            .map_err(|e| DiskError::io(format!("reading metadata of {}", path.display()), e))?
            .len();
        Ok(RawFile { file, path, size })
    }

    /// `lseek(off, whence)`; `None` when the kernel says there is no such offset (ENXIO:
    /// no data after `off`, i.e. a hole up to the end of the file).
    fn seek(&self, off: u64, whence: Whence) -> Result<Option<u64>, DiskError> {
        let off_t = i64::try_from(off)
            .map_err(|_| DiskError::Corrupt(format!("offset {off} too large")))?;
        match lseek(&self.file, off_t, whence) {
            Ok(pos) => Ok(Some(pos as u64)),
            Err(Errno::ENXIO) => Ok(None),
            Err(e) => Err(DiskError::io(
                format!("seeking in {}", self.path.display()),
                e.into(),
            )),
        }
    }
}

impl BlockDev for RawFile {
    fn size(&self) -> u64 {
        self.size
    }

    fn read_exact_at(&self, buf: &mut [u8], off: u64) -> Result<(), DiskError> {
        let len = buf.len() as u64;
        match off.checked_add(len) {
            Some(end) if end <= self.size => {}
            _ => {
                return Err(DiskError::OutOfRange {
                    off,
                    len,
                    size: self.size,
                });
            }
        }
        self.file.read_exact_at(buf, off).map_err(|e| {
            DiskError::io(
                format!("reading {len} bytes at {off} from {}", self.path.display()),
                e,
            )
        })
    }

    fn extent_status(&self, off: u64, len: u64) -> Result<Extent, DiskError> {
        if off >= self.size || len == 0 {
            return Err(DiskError::OutOfRange {
                off,
                len,
                size: self.size,
            });
        }
        let len = len.min(self.size - off);
        // Without SEEK_DATA support (EINVAL on some filesystems) everything is data.
        let data = match self.seek(off, Whence::SeekData) {
            Ok(d) => d,
            Err(DiskError::Io { source, .. }) if source.raw_os_error() == Some(libc::EINVAL) => {
                return Ok(Extent {
                    kind: ExtentKind::Data,
                    len,
                });
            }
            Err(e) => return Err(e),
        };
        match data {
            None => Ok(Extent {
                kind: ExtentKind::Unallocated,
                len,
            }),
            Some(d) if d > off => Ok(Extent {
                kind: ExtentKind::Unallocated,
                len: (d - off).min(len),
            }),
            Some(_) => {
                // Data at `off`: it runs up to the next hole (EOF counts as one).
                let hole = self.seek(off, Whence::SeekHole)?.unwrap_or(self.size);
                Ok(Extent {
                    kind: ExtentKind::Data,
                    len: hole.saturating_sub(off).clamp(1, len),
                })
            }
        }
    }

    fn format(&self) -> ImageFormat {
        ImageFormat::Raw
    }

    fn allocated_bytes(&self) -> Result<u64, DiskError> {
        let meta = self.file.metadata().map_err(|e| {
            DiskError::io(format!("reading metadata of {}", self.path.display()), e)
        })?;
        Ok(meta.blocks().saturating_mul(512))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    const MIB: u64 = 1 << 20;

    /// A 4 MiB sparse file: data in [1 MiB, 1 MiB + 8 KiB) and [3 MiB, 4 MiB), holes elsewhere.
    fn sparse_file() -> (tempfile::NamedTempFile, RawFile) {
        let mut tmp = tempfile::NamedTempFile::new().expect("temp file");
        tmp.as_file().set_len(4 * MIB).expect("set_len");
        tmp.as_file()
            .write_all_at(&[0xab; 8192], MIB)
            .expect("write");
        tmp.as_file()
            .write_all_at(&vec![0xcd; MIB as usize], 3 * MIB)
            .expect("write");
        tmp.flush().expect("flush");
        let f = File::open(tmp.path()).expect("reopen");
        let raw = RawFile::open(f, tmp.path().to_path_buf()).expect("open");
        (tmp, raw)
    }

    /// Walk the whole file with extent_status, merging equal kinds.
    fn map(raw: &RawFile, chunk: u64) -> Vec<(u64, ExtentKind, u64)> {
        let mut out: Vec<(u64, ExtentKind, u64)> = Vec::new();
        let mut off = 0;
        while off < raw.size() {
            let e = raw.extent_status(off, chunk).expect("extent_status");
            assert!(e.len > 0 && e.len <= chunk);
            match out.last_mut() {
                Some(last) if last.1 == e.kind => last.2 += e.len,
                _ => out.push((off, e.kind, e.len)),
            }
            off += e.len;
        }
        out
    }

    #[test]
    fn reads_bytes_and_zero_holes() {
        let (_tmp, raw) = sparse_file();
        assert_eq!(raw.size(), 4 * MIB);
        let mut buf = vec![0xffu8; 16384];
        raw.read_exact_at(&mut buf, MIB - 4096).expect("read");
        assert!(buf[..4096].iter().all(|&b| b == 0));
        assert!(buf[4096..4096 + 8192].iter().all(|&b| b == 0xab));
        assert!(buf[4096 + 8192..].iter().all(|&b| b == 0));
    }

    #[test]
    fn read_past_end_is_out_of_range() {
        let (_tmp, raw) = sparse_file();
        let mut buf = [0u8; 2];
        assert!(matches!(
            raw.read_exact_at(&mut buf, 4 * MIB - 1),
            Err(DiskError::OutOfRange { .. })
        ));
        assert!(matches!(
            raw.read_exact_at(&mut buf, u64::MAX),
            Err(DiskError::OutOfRange { .. })
        ));
        assert!(raw.extent_status(4 * MIB, 1).is_err());
    }

    #[test]
    fn extents_follow_holes() {
        let (_tmp, raw) = sparse_file();
        // tmpfs and ext4 report data at page/block granularity: 8 KiB of data is exact.
        let got = map(&raw, u64::MAX);
        assert_eq!(
            got,
            vec![
                (0, ExtentKind::Unallocated, MIB),
                (MIB, ExtentKind::Data, 8192),
                (MIB + 8192, ExtentKind::Unallocated, 2 * MIB - 8192),
                (3 * MIB, ExtentKind::Data, MIB),
            ]
        );
        // Small query lengths cap each run but give the same merged map.
        assert_eq!(map(&raw, 4096 * 3), got);
    }

    #[test]
    fn allocated_bytes_counts_blocks_not_size() {
        let (_tmp, raw) = sparse_file();
        let alloc = raw.allocated_bytes().expect("allocated");
        assert!(alloc >= MIB + 8192, "allocated {alloc}");
        assert!(alloc < 2 * MIB, "allocated {alloc}");
    }
}
