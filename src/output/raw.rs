//! Sparse raw output: data written in place, zero and unallocated ranges left as holes.
//! The digests are computed from the same buffers as they are written (holes hash as zeros).

use std::fs::File;
use std::os::unix::fs::FileExt;

use super::source::spawn_reader;
use super::writeback::Writeback;
use super::{OutputError, OutputOptions, check_cancel};
use crate::digest::{Digests, Piece};
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
) -> Result<Option<Digests>, OutputError> {
    let size = src.size();
    let mut digests = opts.checksums.then(Digests::digester);
    let mut writeback = Writeback::new(file);
    progress.start("writing", size);
    std::thread::scope(|s| -> Result<(), OutputError> {
        let rx = spawn_reader(s, src, UNIT, BATCH, &opts.cancel);
        for batch in rx {
            let batch = batch?;
            check_cancel(&opts.cancel)?;
            // The batch's runs in file order, hashed as one chunk (holes as zeros).
            let mut pieces = Vec::new();
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
                    pieces.push(Piece::Zeros((b - a) as u64));
                } else {
                    file.write_all_at(&batch.buf[a..b], batch.off + a as u64)
                        .map_err(|e| OutputError::io("writing the output", e))?;
                    pieces.push(Piece::Bytes(a..b));
                }
                i = j;
            }
            if let Some(d) = &mut digests {
                d.pieces(&batch.buf, pieces);
            }
            writeback.written_up_to(batch.off + batch.buf.len() as u64);
            progress.set_position(batch.off + batch.buf.len() as u64);
        }
        Ok(())
    })?;
    file.set_len(size)
        .map_err(|e| OutputError::io("setting the output size", e))?;
    progress.finish();
    Ok(digests.map(|d| d.digests()).transpose()?)
}
