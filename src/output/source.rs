//! Reads the input in fixed batches on its own thread, skipping what the image says holds
//! nothing, and marks every `unit` (qcow2 cluster, or 4 KiB for raw) that is all zero.

use std::sync::atomic::AtomicBool;
use std::sync::mpsc::{Receiver, sync_channel};
use std::sync::{Arc, Mutex};
use std::thread::Scope;

use super::{OutputError, check_cancel};
use crate::disk::{BlockDev, ExtentKind};

/// `buf` holds the virtual disk bytes at `off..off + buf.len()`; `zero[i]` says unit `i`
/// reads as zeros (the last unit may be short). The bytes of a zero unit are unspecified
/// (the buffer is reused): consumers must not read them. Dropping the batch hands the
/// buffer back to the reader.
pub struct Batch {
    pub off: u64,
    pub buf: Arc<Vec<u8>>,
    pub unit: usize,
    pub zero: Vec<bool>,
    pool: Arc<BufPool>,
}

impl Drop for Batch {
    fn drop(&mut self) {
        self.pool.give(std::mem::take(&mut self.buf));
    }
}

/// Buffers of finished batches, reused by the reader: a fresh buffer per batch costs a
/// zero fill (or page faults) per byte read. A buffer still shared (e.g. queued for the
/// digest threads) is reused only once its last other holder dropped it.
#[derive(Default)]
struct BufPool {
    free: Mutex<Vec<Arc<Vec<u8>>>>,
}

/// Buffers kept for reuse. Few, and the most recently returned one first: the kernel copies
/// into and out of these buffers, and a small working set that stays in the CPU cache made
/// the uncompressed path faster (6 buffers taken in turn were slower than no reuse at all).
const POOL: usize = 3;

impl BufPool {
    fn take(&self, len: usize) -> Vec<u8> {
        let reusable = self.free.lock().ok().and_then(|mut free| {
            let i = free.iter().rposition(|b| Arc::strong_count(b) == 1)?;
            Arc::try_unwrap(free.swap_remove(i)).ok()
        });
        match reusable {
            Some(mut v) => {
                v.resize(len, 0);
                v
            }
            None => vec![0u8; len],
        }
    }

    fn give(&self, buf: Arc<Vec<u8>>) {
        if buf.capacity() == 0 {
            return;
        }
        if let Ok(mut free) = self.free.lock()
            && free.len() < POOL
        {
            free.push(buf);
        }
    }
}

impl Batch {
    pub fn units(&self) -> usize {
        self.zero.len()
    }

    /// Byte range of unit `i` inside `buf`.
    pub fn unit_range(&self, i: usize) -> (usize, usize) {
        let a = i * self.unit;
        (a, (a + self.unit).min(self.buf.len()))
    }
}

/// True when every byte is zero; written so the compiler vectorizes it.
pub fn is_zero(b: &[u8]) -> bool {
    b.chunks(512)
        .all(|c| c.iter().fold(0u8, |acc, &x| acc | x) == 0)
}

/// Batches queued ahead of the consumer (memory bound: (QUEUE + 2) batches).
const QUEUE: usize = 1;

/// Start the reader thread; batches arrive in order, an error ends the stream.
pub fn spawn_reader<'scope, 'env>(
    scope: &'scope Scope<'scope, 'env>,
    src: &'env dyn BlockDev,
    unit: usize,
    batch_bytes: usize,
    cancel: &'env Option<Arc<AtomicBool>>,
) -> Receiver<Result<Batch, OutputError>> {
    let (tx, rx) = sync_channel(QUEUE);
    let pool = Arc::new(BufPool::default());
    scope.spawn(move || {
        let size = src.size();
        let mut off = 0u64;
        while off < size {
            let len = (size - off).min(batch_bytes as u64);
            let res =
                check_cancel(cancel).and_then(|_| read_batch(src, off, len as usize, unit, &pool));
            let failed = res.is_err();
            if tx.send(res).is_err() || failed {
                return;
            }
            off += len;
        }
    });
    rx
}

fn read_batch(
    src: &dyn BlockDev,
    off: u64,
    len: usize,
    unit: usize,
    pool: &Arc<BufPool>,
) -> Result<Batch, OutputError> {
    let mut buf = pool.take(len);
    let nunits = len.div_ceil(unit);
    // Units touched by data that must be scanned; the rest are known zero.
    let mut touched = vec![false; nunits];
    // Ranges the image says read as zeros (not read into the reused buffer).
    let mut holes = Vec::new();
    let mut pos = 0usize;
    while pos < len {
        let ext = src
            .extent_status(off + pos as u64, (len - pos) as u64)
            .map_err(OutputError::Read)?;
        if ext.len == 0 {
            return Err(OutputError::Read(crate::disk::DiskError::Corrupt(format!(
                "empty extent at offset {}",
                off + pos as u64
            ))));
        }
        let n = ext.len.min((len - pos) as u64) as usize;
        if ext.kind == ExtentKind::Data {
            src.read_exact_at(&mut buf[pos..pos + n], off + pos as u64)
                .map_err(OutputError::Read)?;
            for t in &mut touched[pos / unit..(pos + n).div_ceil(unit)] {
                *t = true;
            }
        } else {
            holes.push((pos, pos + n));
        }
        pos += n;
    }
    // A unit shared by data and a hole is scanned and may be written: zero its hole part.
    // Units wholly inside a hole are never scanned or read, so they are left as they are.
    for (a, b) in holes {
        for u in [a / unit, (b - 1) / unit] {
            if touched[u] {
                let (ua, ub) = (u * unit, ((u + 1) * unit).min(len));
                buf[ua.max(a)..ub.min(b)].fill(0);
            }
        }
    }
    let zero = (0..nunits)
        .map(|i| {
            let a = i * unit;
            !touched[i] || is_zero(&buf[a..(a + unit).min(len)])
        })
        .collect();
    Ok(Batch {
        off,
        buf: Arc::new(buf),
        unit,
        zero,
        pool: pool.clone(),
    })
}
