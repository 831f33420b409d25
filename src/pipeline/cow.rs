//! Copy-on-write over the input disk, instead of a staging copy: libext2fs reads a filesystem
//! through [`FsOverlay`] (the input's bytes, or the pages it wrote), and the output writer reads
//! the result through [`SealedDisk`]: the input, with the written pages on top and the free
//! ranges as zeros. The input is only ever read.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::collections::btree_map::Entry;
use std::rc::Rc;
use std::sync::Arc;

use super::holes::Range;
use crate::disk::{BlockDev, DiskError, Extent, ExtentKind, ImageFormat};
use crate::fs::ext4::BlockIo;

/// Overlay granularity: a page is read from the input the first time any byte of it is written.
const PAGE: u64 = 4096;

/// Pages written to one filesystem, by page index from the filesystem's start.
pub type Pages = Rc<RefCell<BTreeMap<u64, Box<[u8]>>>>;

/// One filesystem (`len` bytes at `start` of `base`) as libext2fs sees it.
pub struct FsOverlay {
    base: Arc<dyn BlockDev>,
    start: u64,
    len: u64,
    writable: bool,
    pages: Pages,
}

impl FsOverlay {
    pub fn new(
        base: Arc<dyn BlockDev>,
        start: u64,
        len: u64,
        writable: bool,
        pages: Pages,
    ) -> Self {
        FsOverlay {
            base,
            start,
            len,
            writable,
            pages,
        }
    }

    fn check(&self, off: u64, n: usize) -> Result<u64, i32> {
        match off.checked_add(n as u64) {
            Some(end) if end <= self.len => Ok(end),
            _ => Err(libc::EIO),
        }
    }

    /// Read from the input, fs-relative; a page past the end of the filesystem reads zeros.
    fn read_base(&self, off: u64, buf: &mut [u8]) -> Result<(), i32> {
        let inside = (self.len.saturating_sub(off) as usize).min(buf.len());
        buf[inside..].fill(0);
        if inside == 0 {
            return Ok(());
        }
        let at = self.start.checked_add(off).ok_or(libc::EIO)?;
        self.base
            .read_exact_at(&mut buf[..inside], at)
            .map_err(|e| {
                log::error!("reading the input at {at}: {e}");
                libc::EIO
            })
    }
}

impl BlockIo for FsOverlay {
    fn read_at(&self, off: u64, buf: &mut [u8]) -> Result<(), i32> {
        let end = self.check(off, buf.len())?;
        let pages = self.pages.try_borrow().map_err(|_| libc::EBUSY)?;
        let mut at = off;
        while at < end {
            let idx = at / PAGE;
            let dst = (at - off) as usize;
            if let Some(p) = pages.get(&idx) {
                let n = ((idx + 1) * PAGE).min(end) - at;
                let from = (at - idx * PAGE) as usize;
                buf[dst..dst + n as usize].copy_from_slice(&p[from..from + n as usize]);
                at += n;
                continue;
            }
            // A run of pages nobody wrote: one read from the input.
            let run_end = pages
                .range(idx + 1..)
                .next()
                .map_or(end, |(k, _)| (k * PAGE).min(end));
            self.read_base(at, &mut buf[dst..dst + (run_end - at) as usize])?;
            at = run_end;
        }
        Ok(())
    }

    fn write_at(&self, off: u64, data: &[u8]) -> Result<(), i32> {
        if !self.writable {
            return Err(libc::EROFS);
        }
        let end = self.check(off, data.len())?;
        let mut pages = self.pages.try_borrow_mut().map_err(|_| libc::EBUSY)?;
        let mut at = off;
        while at < end {
            let idx = at / PAGE;
            let n = ((idx + 1) * PAGE).min(end) - at;
            let from = (at - idx * PAGE) as usize;
            let p = match pages.entry(idx) {
                Entry::Occupied(e) => e.into_mut(),
                Entry::Vacant(e) => {
                    let mut p = vec![0u8; PAGE as usize].into_boxed_slice();
                    if n < PAGE {
                        self.read_base(idx * PAGE, &mut p)?;
                    }
                    e.insert(p)
                }
            };
            let src = (at - off) as usize;
            p[from..from + n as usize].copy_from_slice(&data[src..src + n as usize]);
            at += n;
        }
        Ok(())
    }
}

/// The sealed disk: the input, with written pages on top and the zero ranges zeroed.
pub struct SealedDisk {
    base: Arc<dyn BlockDev>,
    /// Disk offset -> bytes; never overlapping.
    chunks: BTreeMap<u64, Box<[u8]>>,
    /// Sorted, merged.
    zeros: Vec<Range>,
    /// (start, len, device): ranges whose bytes come from another device (a recovered copy
    /// of a filesystem); sorted, never overlapping.
    replaced: Vec<(u64, u64, Arc<dyn BlockDev>)>,
}

/// Where the bytes of a run come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Source {
    Zeroed,
    Written,
    Input(ExtentKind),
    /// From `replaced[i]`.
    Replaced(usize, ExtentKind),
}

impl SealedDisk {
    pub fn new(base: Arc<dyn BlockDev>, zeros: Vec<Range>) -> Self {
        SealedDisk {
            base,
            chunks: BTreeMap::new(),
            zeros: super::holes::merge(zeros),
            replaced: Vec::new(),
        }
    }

    /// Take the `len` bytes at `start` from `dev` (from its offset 0) instead of the input.
    pub fn replace(&mut self, start: u64, len: u64, dev: Arc<dyn BlockDev>) {
        self.replaced.push((start, len, dev));
        self.replaced.sort_by_key(|r| r.0);
    }

    /// Add the pages written to the filesystem of `len` bytes at `start`.
    pub fn add_pages(&mut self, start: u64, len: u64, pages: &Pages) {
        for (idx, p) in pages.borrow_mut().iter_mut() {
            let off = idx * PAGE;
            if off >= len {
                continue;
            }
            let n = (len - off).min(PAGE) as usize;
            let data = std::mem::take(p);
            self.chunks.insert(start + off, data[..n].into());
        }
    }

    /// Bytes of written pages kept in memory.
    pub fn written_bytes(&self) -> u64 {
        self.chunks.values().map(|c| c.len() as u64).sum()
    }

    /// The run at `off` (at most `len` bytes) and where it comes from.
    fn status(&self, off: u64, len: u64) -> Result<(u64, Source), DiskError> {
        let i = self.zeros.partition_point(|z| z.end() <= off);
        if let Some(z) = self.zeros.get(i)
            && z.start <= off
        {
            return Ok(((z.end() - off).min(len), Source::Zeroed));
        }
        let mut len = match self.zeros.get(i) {
            Some(z) => len.min(z.start - off),
            None => len,
        };
        if let Some((&cs, c)) = self.chunks.range(..=off).next_back() {
            let mut end = cs + c.len() as u64;
            if end > off {
                while let Some((&ns, nc)) = self.chunks.range(end..).next() {
                    if ns != end {
                        break;
                    }
                    end += nc.len() as u64;
                }
                return Ok(((end - off).min(len), Source::Written));
            }
        }
        if let Some((&ns, _)) = self.chunks.range(off..).next() {
            len = len.min(ns - off);
        }
        let i = self.replaced.partition_point(|r| r.0 + r.1 <= off);
        if let Some((rs, rl, dev)) = self.replaced.get(i) {
            if *rs <= off {
                let e = dev.extent_status(off - rs, len.min(rs + rl - off))?;
                return Ok((e.len.min(len), Source::Replaced(i, e.kind)));
            }
            len = len.min(rs - off);
        }
        let e = self.base.extent_status(off, len)?;
        Ok((e.len.min(len), Source::Input(e.kind)))
    }

    fn copy_written(&self, buf: &mut [u8], off: u64) {
        let end = off + buf.len() as u64;
        let first = self
            .chunks
            .range(..=off)
            .next_back()
            .map_or(off, |(&k, _)| k);
        for (&cs, c) in self.chunks.range(first..end) {
            let ce = cs + c.len() as u64;
            let (a, b) = (cs.max(off), ce.min(end));
            if a < b {
                buf[(a - off) as usize..(b - off) as usize]
                    .copy_from_slice(&c[(a - cs) as usize..(b - cs) as usize]);
            }
        }
    }
}

impl BlockDev for SealedDisk {
    fn size(&self) -> u64 {
        self.base.size()
    }

    fn read_exact_at(&self, buf: &mut [u8], off: u64) -> Result<(), DiskError> {
        let size = self.size();
        let end = match off.checked_add(buf.len() as u64) {
            Some(e) if e <= size => e,
            _ => {
                return Err(DiskError::OutOfRange {
                    off,
                    len: buf.len() as u64,
                    size,
                });
            }
        };
        let mut at = off;
        while at < end {
            let (n, src) = self.status(at, end - at)?;
            if n == 0 {
                return Err(DiskError::Corrupt(format!("empty extent at {at}")));
            }
            let dst = &mut buf[(at - off) as usize..(at - off + n) as usize];
            match src {
                Source::Zeroed
                | Source::Input(ExtentKind::Zero | ExtentKind::Unallocated)
                | Source::Replaced(_, ExtentKind::Zero | ExtentKind::Unallocated) => dst.fill(0),
                Source::Written => self.copy_written(dst, at),
                Source::Input(ExtentKind::Data) => self.base.read_exact_at(dst, at)?,
                Source::Replaced(i, ExtentKind::Data) => {
                    let (rs, _, dev) = &self.replaced[i];
                    dev.read_exact_at(dst, at - rs)?
                }
            }
            at += n;
        }
        Ok(())
    }

    fn extent_status(&self, off: u64, len: u64) -> Result<Extent, DiskError> {
        let size = self.size();
        if off >= size || len == 0 {
            return Err(DiskError::OutOfRange { off, len, size });
        }
        let (n, src) = self.status(off, len.min(size - off))?;
        let kind = match src {
            Source::Zeroed => ExtentKind::Zero,
            Source::Written => ExtentKind::Data,
            Source::Input(k) | Source::Replaced(_, k) => k,
        };
        Ok(Extent { kind, len: n })
    }

    fn format(&self) -> ImageFormat {
        self.base.format()
    }

    fn allocated_bytes(&self) -> Result<u64, DiskError> {
        self.base.allocated_bytes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::part::mem::MemDisk;

    fn disk(n: usize) -> Arc<dyn BlockDev> {
        Arc::new(MemDisk::new((0..n).map(|i| (i % 251) as u8).collect()))
    }

    #[test]
    fn overlay_reads_what_was_written_and_the_input_elsewhere() {
        let base = disk(64 * 1024);
        let pages: Pages = Default::default();
        let ov = FsOverlay::new(base.clone(), 1000, 40_000, true, pages.clone());
        ov.write_at(5000, &[7u8; 5000]).unwrap();
        let mut got = vec![0u8; 40_000];
        ov.read_at(0, &mut got).unwrap();
        for (i, b) in got.iter().enumerate() {
            let want = if (5000..10_000).contains(&i) {
                7
            } else {
                ((i + 1000) % 251) as u8
            };
            assert_eq!(*b, want, "byte {i}");
        }
        assert!(
            ov.read_at(39_999, &mut [0u8; 2]).is_err(),
            "read past the filesystem"
        );
        assert!(
            ov.write_at(39_999, &[0u8; 2]).is_err(),
            "write past the filesystem"
        );
        let ro = FsOverlay::new(base.clone(), 0, 100, false, Default::default());
        assert_eq!(ro.write_at(0, &[1]), Err(libc::EROFS));

        let mut sealed = SealedDisk::new(
            base,
            vec![Range {
                start: 30_000,
                len: 2000,
            }],
        );
        sealed.add_pages(1000, 40_000, &pages);
        let mut all = vec![0u8; 64 * 1024];
        sealed.read_exact_at(&mut all, 0).unwrap();
        for (i, b) in all.iter().enumerate() {
            let want = if (6000..11_000).contains(&i) {
                7
            } else if (30_000..32_000).contains(&i) {
                0
            } else {
                (i % 251) as u8
            };
            assert_eq!(*b, want, "disk byte {i}");
        }
        let e = sealed.extent_status(30_500, 10_000).unwrap();
        assert_eq!((e.kind, e.len), (ExtentKind::Zero, 1500));
        // The written pages cover 1000+4096 .. 1000+12288.
        let e = sealed.extent_status(5096, 100_000).unwrap();
        assert_eq!((e.kind, e.len), (ExtentKind::Data, 8192));
        // Bytes taken from another device.
        let other: Arc<dyn BlockDev> = Arc::new(MemDisk::new(vec![9u8; 3000]));
        let mut with = SealedDisk::new(disk(64 * 1024), Vec::new());
        with.replace(50_000, 3000, other);
        let mut b = vec![0u8; 4000];
        with.read_exact_at(&mut b, 49_500).unwrap();
        assert!(
            b[..500]
                .iter()
                .enumerate()
                .all(|(i, &x)| x == ((49_500 + i) % 251) as u8)
        );
        assert!(b[500..3500].iter().all(|&x| x == 9));
        assert_eq!(b[3500], (53_000 % 251) as u8);
        let e = with.extent_status(49_000, 10_000).unwrap();
        assert_eq!((e.kind, e.len), (ExtentKind::Data, 1000));
        // Unaligned reads across written, zeroed and input runs agree with the full read.
        for (off, n) in [(5000u64, 7000usize), (29_999, 2003), (13_000, 20_000)] {
            let mut part = vec![0u8; n];
            sealed.read_exact_at(&mut part, off).unwrap();
            assert_eq!(part[..], all[off as usize..off as usize + n]);
        }
    }
}
