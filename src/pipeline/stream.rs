//! A filesystem's overlay as a byte stream (`Read + Write + Seek`), for libraries that want
//! one (fatfs). Writes land in the overlay's pages, never in the input.

use std::io::{self, Read, Seek, SeekFrom, Write};

use crate::fs::ext4::BlockIo;

use super::cow::FsOverlay;

pub struct OverlayStream {
    io: FsOverlay,
    len: u64,
    pos: u64,
}

impl OverlayStream {
    /// The `len` bytes of the filesystem `io` covers.
    pub fn new(io: FsOverlay, len: u64) -> Self {
        OverlayStream { io, len, pos: 0 }
    }

    /// How many of `want` bytes fit before the end.
    fn room(&self, want: usize) -> usize {
        (self.len.saturating_sub(self.pos)).min(want as u64) as usize
    }
}

fn errno(e: i32) -> io::Error {
    io::Error::from_raw_os_error(e)
}

impl Read for OverlayStream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.room(buf.len());
        self.io.read_at(self.pos, &mut buf[..n]).map_err(errno)?;
        self.pos += n as u64;
        Ok(n)
    }
}

impl Write for OverlayStream {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        let n = self.room(data.len());
        if n == 0 && !data.is_empty() {
            return Err(io::Error::new(
                io::ErrorKind::WriteZero,
                "write past the end of the filesystem",
            ));
        }
        self.io.write_at(self.pos, &data[..n]).map_err(errno)?;
        self.pos += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Seek for OverlayStream {
    fn seek(&mut self, to: SeekFrom) -> io::Result<u64> {
        let target = match to {
            SeekFrom::Start(n) => Some(n),
            SeekFrom::End(d) => self.len.checked_add_signed(d),
            SeekFrom::Current(d) => self.pos.checked_add_signed(d),
        };
        match target {
            Some(t) if t <= self.len => {
                self.pos = t;
                Ok(t)
            }
            _ => Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "seek outside the filesystem",
            )),
        }
    }
}
