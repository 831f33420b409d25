//! Raw disk image files, sparse or not.

use std::fs::File;
use std::path::PathBuf;

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
}

impl BlockDev for RawFile {
    fn size(&self) -> u64 {
        self.size
    }

    fn read_exact_at(&self, buf: &mut [u8], off: u64) -> Result<(), DiskError> {
        let _ = (&self.file, &self.path, buf, off);
        Err(DiskError::Unsupported("raw reader not written yet".into()))
    }

    fn extent_status(&self, _off: u64, len: u64) -> Result<Extent, DiskError> {
        Ok(Extent {
            kind: ExtentKind::Data,
            len,
        })
    }

    fn format(&self) -> ImageFormat {
        ImageFormat::Raw
    }

    fn allocated_bytes(&self) -> Result<u64, DiskError> {
        Ok(self.size)
    }
}
