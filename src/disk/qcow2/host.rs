//! The container bytes behind a qcow2 image: a host file, or memory (fuzzing, mutation tests).

use std::fs::File;
use std::io;
use std::os::unix::fs::{FileExt, MetadataExt};

pub enum Host {
    /// A file and its length, taken once at open (the image must not change under us).
    File {
        file: File,
        len: u64,
    },
    Memory(Vec<u8>),
}

impl Host {
    pub fn file(file: File) -> io::Result<Host> {
        let len = file.metadata()?.len();
        Ok(Host::File { file, len })
    }

    pub fn len(&self) -> u64 {
        match self {
            Host::File { len, .. } => *len,
            Host::Memory(v) => v.len() as u64,
        }
    }

    /// Fill `buf` from `off`; callers check bounds against `len()` first.
    pub fn read_exact_at(&self, buf: &mut [u8], off: u64) -> io::Result<()> {
        match self {
            Host::File { file, .. } => file.read_exact_at(buf, off),
            Host::Memory(v) => {
                let src = usize::try_from(off)
                    .ok()
                    .and_then(|o| Some(o..o.checked_add(buf.len())?))
                    .and_then(|r| v.get(r))
                    .ok_or_else(|| io::Error::from(io::ErrorKind::UnexpectedEof))?;
                buf.copy_from_slice(src);
                Ok(())
            }
        }
    }

    /// Bytes the container occupies on the host.
    pub fn allocated_bytes(&self) -> io::Result<u64> {
        match self {
            Host::File { file, .. } => Ok(file.metadata()?.blocks().saturating_mul(512)),
            Host::Memory(v) => Ok(v.len() as u64),
        }
    }
}
