//! A window onto part of a `BlockDev` (a partition), with a `Read + Seek` adapter.

use std::io::{self, Read, Seek, SeekFrom};

use super::{BlockDev, DiskError};

/// `len` bytes of `dev` starting at `start`.
pub struct Slice<'a> {
    dev: &'a dyn BlockDev,
    start: u64,
    len: u64,
    pos: u64,
}

impl<'a> Slice<'a> {
    /// Errors if the window does not fit on the device.
    pub fn new(dev: &'a dyn BlockDev, start: u64, len: u64) -> Result<Self, DiskError> {
        match start.checked_add(len) {
            Some(end) if end <= dev.size() => Ok(Slice {
                dev,
                start,
                len,
                pos: 0,
            }),
            _ => Err(DiskError::OutOfRange {
                off: start,
                len,
                size: dev.size(),
            }),
        }
    }

    pub fn len(&self) -> u64 {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Read exactly `buf.len()` bytes at `off` inside the window.
    pub fn read_exact_at(&self, buf: &mut [u8], off: u64) -> Result<(), DiskError> {
        let n = buf.len() as u64;
        match off.checked_add(n) {
            Some(end) if end <= self.len => self.dev.read_exact_at(buf, self.start + off),
            _ => Err(DiskError::OutOfRange {
                off,
                len: n,
                size: self.len,
            }),
        }
    }
}

impl Read for Slice<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let left = self.len.saturating_sub(self.pos);
        let n = (buf.len() as u64).min(left) as usize;
        if n == 0 {
            return Ok(0);
        }
        self.read_exact_at(&mut buf[..n], self.pos)
            .map_err(io::Error::other)?;
        self.pos += n as u64;
        Ok(n)
    }
}

impl Seek for Slice<'_> {
    fn seek(&mut self, pos: SeekFrom) -> io::Result<u64> {
        let new = match pos {
            SeekFrom::Start(p) => Some(p),
            SeekFrom::End(d) => self.len.checked_add_signed(d),
            SeekFrom::Current(d) => self.pos.checked_add_signed(d),
        };
        match new {
            Some(p) => {
                self.pos = p;
                Ok(p)
            }
            None => Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "seek before the start of the slice",
            )),
        }
    }
}
