//! Sparse raw output: data written in place, zero and unallocated ranges left as holes.
//! The digests are computed from the same buffers as they are written (holes hash as zeros).

use std::fs::File;
use std::os::unix::fs::FileExt;

use super::hashing::{Checksums, Hasher};
use super::source::spawn_reader;
use super::writeback::Writeback;
use super::{OutputError, OutputOptions, check_cancel};
use crate::disk::BlockDev;
use crate::progress::ProgressSink;

/// Zero detection granularity: one filesystem block, as qemu-img's default `-S 4k`.
const UNIT: usize = 4096;
const BATCH: usize = 2 << 20;

pub fn write(
    src: &dyn BlockDev,
    file: &File,
    opts: &OutputOptions,
    progress: &dyn ProgressSink,
) -> Result<Option<Checksums>, OutputError> {
    let size = src.size();
    let hasher = opts.checksums.then(Hasher::new);
    let mut writeback = Writeback::new(file);
    progress.start("writing", size);
    std::thread::scope(|s| -> Result<(), OutputError> {
        let rx = spawn_reader(s, src, UNIT, BATCH, &opts.cancel);
        for batch in rx {
            let batch = batch?;
            check_cancel(&opts.cancel)?;
            let mut i = 0;
            while i < batch.units() {
                let zero = batch.zero[i];
                let mut j = i + 1;
                while j < batch.units() && batch.zero[j] == zero {
                    j += 1;
                }
                let (a, _) = batch.unit_range(i);
                let (_, b) = batch.unit_range(j - 1);
                if zero {
                    if let Some(h) = &hasher {
                        h.zeros((b - a) as u64);
                    }
                } else {
                    file.write_all_at(&batch.buf[a..b], batch.off + a as u64)
                        .map_err(|e| OutputError::io("writing the output", e))?;
                    if let Some(h) = &hasher {
                        h.bytes(&batch.buf, a, b);
                    }
                }
                i = j;
            }
            writeback.written_up_to(batch.off + batch.buf.len() as u64);
            progress.set_position(batch.off + batch.buf.len() as u64);
        }
        Ok(())
    })?;
    file.set_len(size)
        .map_err(|e| OutputError::io("setting the output size", e))?;
    progress.finish();
    Ok(hasher.map(Hasher::finish))
}
