//! Reads the input in fixed batches on its own thread, skipping what the image says holds
//! nothing, and marks every `unit` (qcow2 cluster, or 4 KiB for raw) that is all zero.

use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::sync::mpsc::{Receiver, sync_channel};
use std::thread::Scope;

use super::{OutputError, check_cancel};
use crate::disk::{BlockDev, ExtentKind};

/// `buf` holds the virtual disk bytes at `off..off + buf.len()`; `zero[i]` says unit `i`
/// reads as zeros (the last unit may be short).
pub struct Batch {
    pub off: u64,
    pub buf: Arc<Vec<u8>>,
    pub unit: usize,
    pub zero: Vec<bool>,
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
    scope.spawn(move || {
        let size = src.size();
        let mut off = 0u64;
        while off < size {
            let len = (size - off).min(batch_bytes as u64);
            let res = check_cancel(cancel).and_then(|_| read_batch(src, off, len as usize, unit));
            let failed = res.is_err();
            if tx.send(res).is_err() || failed {
                return;
            }
            off += len;
        }
    });
    rx
}

fn read_batch(src: &dyn BlockDev, off: u64, len: usize, unit: usize) -> Result<Batch, OutputError> {
    let mut buf = vec![0u8; len];
    let nunits = len.div_ceil(unit);
    // Units touched by data that must be scanned; the rest are known zero.
    let mut touched = vec![false; nunits];
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
        }
        pos += n;
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
    })
}
