//! A disk held in memory: for fuzz targets and unit tests of the table readers.

use crate::disk::{BlockDev, DiskError, Extent, ExtentKind, ImageFormat};

pub struct MemDisk {
    data: Vec<u8>,
}

impl MemDisk {
    pub fn new(data: Vec<u8>) -> Self {
        MemDisk { data }
    }
}

impl BlockDev for MemDisk {
    fn size(&self) -> u64 {
        self.data.len() as u64
    }

    fn read_exact_at(&self, buf: &mut [u8], off: u64) -> Result<(), DiskError> {
        let len = buf.len() as u64;
        let range = usize::try_from(off)
            .ok()
            .and_then(|s| Some(s..s.checked_add(buf.len())?))
            .filter(|r| r.end <= self.data.len())
            .ok_or(DiskError::OutOfRange {
                off,
                len,
                size: self.size(),
            })?;
        buf.copy_from_slice(&self.data[range]);
        Ok(())
    }

    fn extent_status(&self, off: u64, len: u64) -> Result<Extent, DiskError> {
        if off >= self.size() || len == 0 {
            return Err(DiskError::OutOfRange {
                off,
                len,
                size: self.size(),
            });
        }
        Ok(Extent {
            kind: ExtentKind::Data,
            len: len.min(self.size() - off),
        })
    }

    fn format(&self) -> ImageFormat {
        ImageFormat::Raw
    }

    fn allocated_bytes(&self) -> Result<u64, DiskError> {
        Ok(self.size())
    }
}
