//! `Read + Seek (+ Write)` over a `BlockDev`, for the `gpt` and `mbrman` crates.
//!
//! `gpt` wants `Read + Write + Seek + Debug` even to read: writes always fail here.
//! A byte range can be hidden (read as zeros) so `gpt` cannot pick a header we rejected,
//! and the number of reads is capped so a crafted chain (EBRs) cannot make us read forever.

use std::io::{self, Read, Seek, SeekFrom, Write};

use crate::disk::BlockDev;

/// Reads past this many are refused: far more than any sane table needs.
const MAX_READS: u32 = 1_000_000;

pub(crate) struct DevIo<'a> {
    dev: &'a dyn BlockDev,
    pos: u64,
    hidden: Option<(u64, u64)>,
    reads: u32,
}

impl<'a> DevIo<'a> {
    pub(crate) fn new(dev: &'a dyn BlockDev) -> Self {
        DevIo {
            dev,
            pos: 0,
            hidden: None,
            reads: 0,
        }
    }

    /// Make `[start, start + len)` read as zeros.
    pub(crate) fn hide(mut self, start: u64, len: u64) -> Self {
        self.hidden = Some((start, len));
        self
    }
}

impl std::fmt::Debug for DevIo<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DevIo")
            .field("size", &self.dev.size())
            .field("pos", &self.pos)
            .finish()
    }
}

impl Read for DevIo<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.reads += 1;
        if self.reads > MAX_READS {
            return Err(io::Error::other("too many reads for a partition table"));
        }
        let left = self.dev.size().saturating_sub(self.pos);
        let n = (buf.len() as u64).min(left) as usize;
        if n == 0 {
            return Ok(0);
        }
        let buf = &mut buf[..n];
        self.dev
            .read_exact_at(buf, self.pos)
            .map_err(io::Error::other)?;
        if let Some((hs, hl)) = self.hidden {
            // Zero the overlap of [pos, pos+n) with [hs, hs+hl).
            let lo = self.pos.max(hs);
            let hi = (self.pos + n as u64).min(hs.saturating_add(hl));
            if lo < hi {
                buf[(lo - self.pos) as usize..(hi - self.pos) as usize].fill(0);
            }
        }
        self.pos += n as u64;
        Ok(n)
    }
}

impl Seek for DevIo<'_> {
    fn seek(&mut self, pos: SeekFrom) -> io::Result<u64> {
        let new = match pos {
            SeekFrom::Start(p) => Some(p),
            SeekFrom::End(d) => self.dev.size().checked_add_signed(d),
            SeekFrom::Current(d) => self.pos.checked_add_signed(d),
        };
        let p = new.ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "bad seek"))?;
        self.pos = p;
        Ok(p)
    }
}

impl Write for DevIo<'_> {
    fn write(&mut self, _buf: &[u8]) -> io::Result<usize> {
        Err(io::Error::new(
            io::ErrorKind::PermissionDenied,
            "partition tables are read-only here",
        ))
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}
