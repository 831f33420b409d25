//! Streaming qcow2 v3 writer. File layout, in write order:
//! `[header cluster][data clusters, each L2 table right after the data it maps][L1]
//! [refcount blocks][refcount table]`; the header is written last. Only one L2 table is held
//! in memory; refcounts take 2 bytes per host cluster.
//!
//! Compressed clusters are packed byte-contiguously like qemu does, in a region that raw
//! clusters allocated meanwhile do not break up. The digests need the header, which exists only at the
//! end, so they are computed by reading the finished file back (it is in the page cache).

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::sync::mpsc::sync_channel;

use rayon::prelude::*;

use super::compress::{Codec, compress_cluster};
use super::source::{Batch, spawn_reader};
use super::writeback::Writeback;
use super::{OutputError, OutputOptions, check_cancel};
use crate::digest::Digests;
use crate::disk::BlockDev;
use crate::progress::ProgressSink;

pub mod layout;

use layout::{COMPRESSED, COPIED, Header, MAX_L1_BYTES};

/// A cluster is stored raw unless compression saves at least 512 bytes (the rule:
/// decompressing to save less is not worth it). Measured on the bench disk, zlib level 9:
/// 1,000,603,648 bytes, still below qemu-img's 1,001,916,416 (which compresses any cluster
/// that shrinks; with that rule ours was 999,424,000).
const MIN_SAVING: usize = 512;
/// Bytes of input per batch (at least one cluster per thread).
const BATCH: usize = 2 << 20;

fn io_err(e: std::io::Error) -> OutputError {
    OutputError::io("writing the output", e)
}

/// Compressed clusters are packed byte by byte into a region of whole clusters; only the
/// clusters not yet full are kept in `buf` (qemu's byte allocator does the same). Raw clusters
/// and L2 tables are allocated after the region, so no space is lost to padding.
struct Packing {
    /// Host offset of `buf[0]` (cluster aligned).
    start: u64,
    buf: Vec<u8>,
    /// End of the clusters reserved for the region.
    reserved_end: u64,
}

struct Writer<'a> {
    file: &'a File,
    /// Next free cluster-aligned host offset.
    pos: u64,
    cs: u64,
    l2_entries: u64,
    csize_shift: u32,
    l1: Vec<u64>,
    l2_index: u64,
    l2: Vec<u64>,
    l2_used: bool,
    refcounts: Vec<u16>,
    packing: Option<Packing>,
    writeback: Writeback<'a>,
}

impl<'a> Writer<'a> {
    fn new(file: &'a File, cs: u64, l1_size: u64) -> Result<Self, OutputError> {
        let cluster_bits = cs.trailing_zeros();
        Ok(Writer {
            file,
            pos: cs,
            cs,
            l2_entries: cs / 8,
            csize_shift: 62 - (cluster_bits - 8),
            l1: vec![0; l1_size as usize],
            l2_index: 0,
            l2: vec![0; (cs / 8) as usize],
            l2_used: false,
            refcounts: vec![1], // the header cluster
            packing: None,
            writeback: Writeback::new(file),
        })
    }

    /// Write `data` at the cluster-aligned `pos` and advance it by whole clusters.
    fn write(&mut self, data: &[u8]) -> Result<(), OutputError> {
        self.file.write_all_at(data, self.pos).map_err(io_err)?;
        self.pos += (data.len() as u64).div_ceil(self.cs) * self.cs;
        Ok(())
    }

    fn add_ref(&mut self, cluster: u64) -> Result<(), OutputError> {
        let i = cluster as usize;
        if self.refcounts.len() <= i {
            self.refcounts.resize(i + 1, 0);
        }
        self.refcounts[i] = self.refcounts[i]
            .checked_add(1)
            .ok_or_else(|| OutputError::TooLarge("refcount overflow".into()))?;
        Ok(())
    }

    /// Make `index` the L2 table being filled, writing out the previous one if it maps anything.
    fn switch_l2(&mut self, index: u64) -> Result<(), OutputError> {
        if index == self.l2_index {
            return Ok(());
        }
        self.flush_l2()?;
        self.l2_index = index;
        Ok(())
    }

    fn flush_l2(&mut self) -> Result<(), OutputError> {
        if !self.l2_used {
            return Ok(());
        }
        let at = self.pos;
        self.l1[self.l2_index as usize] = at | COPIED;
        self.add_ref(at / self.cs)?;
        let bytes: Vec<u8> = self.l2.iter().flat_map(|e| e.to_be_bytes()).collect();
        self.write(&bytes)?;
        self.l2.fill(0);
        self.l2_used = false;
        Ok(())
    }

    /// Store whole clusters `guest0..` uncompressed; they must share one L2 table. A short
    /// final cluster (image size not a cluster multiple) reads as zero-padded.
    fn put_raw(&mut self, guest0: u64, data: &[u8]) -> Result<(), OutputError> {
        self.switch_l2(guest0 / self.l2_entries)?;
        let host0 = self.pos;
        self.write(data)?;
        let n = (data.len() as u64).div_ceil(self.cs);
        for k in 0..n {
            let host = host0 + k * self.cs;
            self.l2[((guest0 + k) % self.l2_entries) as usize] = host | COPIED;
            self.add_ref(host / self.cs)?;
        }
        self.l2_used = true;
        Ok(())
    }

    /// Start writeback of everything that is final: all below the packing region (whose
    /// last cluster is still being filled) and below `pos`.
    fn start_writeback(&mut self) {
        let end = self
            .packing
            .as_ref()
            .map_or(self.pos, |p| p.start.min(self.pos));
        self.writeback.written_up_to(end);
    }

    /// Write out what remains of the packing region.
    fn flush_packing(&mut self) -> Result<(), OutputError> {
        if let Some(p) = self.packing.take() {
            self.file.write_all_at(&p.buf, p.start).map_err(io_err)?;
        }
        Ok(())
    }

    fn put_compressed(&mut self, guest: u64, data: &[u8]) -> Result<(), OutputError> {
        self.switch_l2(guest / self.l2_entries)?;
        let len = data.len() as u64;
        let cs = self.cs;
        // Continue the current region if the data fits in it, or if the region ends where the
        // next free cluster starts (it can grow); else start a new one.
        let keep = match &self.packing {
            Some(p) => {
                let at = p.start + p.buf.len() as u64;
                (at + len <= p.reserved_end || p.reserved_end == self.pos)
                    && self.refcounts.get((at / cs) as usize) != Some(&u16::MAX)
            }
            None => false,
        };
        if !keep {
            self.flush_packing()?;
            self.packing = Some(Packing {
                start: self.pos,
                buf: Vec::with_capacity(2 * cs as usize),
                reserved_end: self.pos,
            });
        }
        let Some(p) = self.packing.as_mut() else {
            unreachable!("packing region set above")
        };
        let at = p.start + p.buf.len() as u64;
        while p.reserved_end < at + len {
            p.reserved_end += cs;
            self.pos += cs;
        }
        if at >= 1 << self.csize_shift {
            return Err(OutputError::TooLarge(format!(
                "compressed data offset {at} does not fit the L2 entry"
            )));
        }
        p.buf.extend_from_slice(data);
        // Clusters before the one holding the end of the data are complete: write them out.
        let full = ((p.buf.len() as u64 - 1) / cs * cs) as usize;
        if full > 0 {
            self.file
                .write_all_at(&p.buf[..full], p.start)
                .map_err(io_err)?;
            p.start += full as u64;
            p.buf.drain(..full);
        }
        let first = at / 512;
        let last = (at + len - 1) / 512;
        for c in (first * 512 / cs)..=(last * 512 / cs) {
            self.add_ref(c)?;
        }
        self.l2[(guest % self.l2_entries) as usize] =
            COMPRESSED | ((last - first) << self.csize_shift) | at;
        self.l2_used = true;
        Ok(())
    }

    /// Write the L1 table and refcount structures; returns the header fields they define.
    fn finish(mut self, size: u64, compression_type: u8) -> Result<Header, OutputError> {
        self.flush_l2()?;
        self.flush_packing()?;
        let cs = self.cs;
        let l1_offset = self.pos;
        let l1_bytes: Vec<u8> = self.l1.iter().flat_map(|e| e.to_be_bytes()).collect();
        let l1_clusters = (l1_bytes.len() as u64).div_ceil(cs);
        let base = l1_offset / cs + l1_clusters;
        let (rb, rt) = layout::refcount_clusters(base, cs);
        let total = base + rb + rt;
        self.refcounts.resize(total as usize, 0);
        for c in (l1_offset / cs)..total {
            self.refcounts[c as usize] = 1;
        }
        self.write(&l1_bytes)?;
        let rb_offset = self.pos;
        let per_block = (cs / 2) as usize;
        for j in 0..rb as usize {
            let end = ((j + 1) * per_block).min(self.refcounts.len());
            let mut block: Vec<u8> = self.refcounts[j * per_block..end]
                .iter()
                .flat_map(|r| r.to_be_bytes())
                .collect();
            block.resize(cs as usize, 0);
            self.write(&block)?;
        }
        let rt_offset = self.pos;
        let mut table: Vec<u8> = (0..rb)
            .flat_map(|j| (rb_offset + j * cs).to_be_bytes())
            .collect();
        table.resize((rt * cs) as usize, 0);
        self.write(&table)?;
        debug_assert_eq!(self.pos, total * cs);
        Ok(Header {
            cluster_bits: cs.trailing_zeros(),
            size,
            l1_size: self.l1.len() as u32,
            l1_offset,
            refcount_table_offset: rt_offset,
            refcount_table_clusters: rt as u32,
            compression_type,
        })
    }
}

/// A batch with, per cluster, its compressed form when compression paid off.
struct Packed {
    batch: Batch,
    compressed: Vec<Option<Vec<u8>>>,
}

pub fn write(
    src: &dyn BlockDev,
    file: &File,
    opts: &OutputOptions,
    progress: &dyn ProgressSink,
) -> Result<(), OutputError> {
    let cs = opts.cluster_size as u64;
    let size = src.size().div_ceil(512) * 512;
    let l1_size = size.div_ceil(cs * (cs / 8));
    if l1_size * 8 > MAX_L1_BYTES {
        return Err(OutputError::TooLarge(format!(
            "{size} bytes need an L1 table over 32 MiB with {cs}-byte clusters; use larger clusters"
        )));
    }
    let threads = opts.thread_count();
    let batch_bytes = BATCH.max(cs as usize * threads);
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .thread_name(|i| format!("compress-{i}"))
        .build()
        .map_err(|e| OutputError::Invalid(format!("starting compression threads: {e}")))?;
    let mut w = Writer::new(file, cs, l1_size)?;
    progress.start("writing", src.size());
    std::thread::scope(|s| -> Result<(), OutputError> {
        let batches = spawn_reader(s, src, cs as usize, batch_bytes, &opts.cancel);
        let (tx, packed) = sync_channel::<Result<Packed, OutputError>>(1);
        let compress = opts.compress;
        let pool = &pool;
        s.spawn(move || {
            for b in batches {
                let res = b.map(|batch| {
                    let compressed = match compress {
                        Some(c) => pool.install(|| compress_batch(&batch, c, cs as usize)),
                        None => Vec::new(),
                    };
                    Packed { batch, compressed }
                });
                let failed = res.is_err();
                if tx.send(res).is_err() || failed {
                    return;
                }
            }
        });
        for p in packed {
            let p = p?;
            check_cancel(&opts.cancel)?;
            write_packed(&mut w, &p)?;
            progress.set_position(p.batch.off + p.batch.buf.len() as u64);
        }
        Ok(())
    })?;
    let compression_type = match opts.compress {
        Some(c) if c.codec == Codec::Zstd => 1,
        _ => 0,
    };
    let header = w.finish(size, compression_type)?;
    file.write_all_at(&header.to_bytes(), 0).map_err(io_err)?;
    progress.finish();
    Ok(())
}

fn compress_batch(batch: &Batch, c: super::Compression, cs: usize) -> Vec<Option<Vec<u8>>> {
    (0..batch.units())
        .into_par_iter()
        .map_init(Vec::new, |padded, i| {
            if batch.zero[i] {
                return None;
            }
            let (a, b) = batch.unit_range(i);
            let mut data = &batch.buf[a..b];
            if data.len() < cs {
                // qemu zero-pads the last cluster of an image that is not a cluster multiple
                padded.clear();
                padded.extend_from_slice(data);
                padded.resize(cs, 0);
                data = &padded[..];
            }
            let mut out = Vec::new();
            compress_cluster(c, data, &mut out, MIN_SAVING).then_some(out)
        })
        .collect()
}

fn write_packed(w: &mut Writer, p: &Packed) -> Result<(), OutputError> {
    let b = &p.batch;
    let first_guest = b.off / w.cs;
    let mut i = 0;
    while i < b.units() {
        if b.zero[i] {
            i += 1;
            continue;
        }
        if let Some(Some(c)) = p.compressed.get(i) {
            w.put_compressed(first_guest + i as u64, c)?;
            i += 1;
            continue;
        }
        // A run of raw clusters within one L2 table, written with one call.
        let l2 = (first_guest + i as u64) / w.l2_entries;
        let mut j = i + 1;
        while j < b.units()
            && !b.zero[j]
            && !matches!(p.compressed.get(j), Some(Some(_)))
            && (first_guest + j as u64) / w.l2_entries == l2
        {
            j += 1;
        }
        let (a, _) = b.unit_range(i);
        let (_, e) = b.unit_range(j - 1);
        w.put_raw(first_guest + i as u64, &b.buf[a..e])?;
        i = j;
    }
    w.start_writeback();
    Ok(())
}

/// Digest the finished file, read back in order (holes read as zeros).
pub fn hash_file(
    file: &File,
    opts: &OutputOptions,
    progress: &dyn ProgressSink,
) -> Result<Digests, OutputError> {
    let len = file
        .metadata()
        .map_err(|e| OutputError::io("reading the output back", e))?
        .len();
    let mut digests = Digests::digester();
    progress.start("hashing", len);
    let mut off = 0u64;
    while off < len {
        check_cancel(&opts.cancel)?;
        let n = (len - off).min(BATCH as u64) as usize;
        let mut v = digests.buffer();
        v.resize(n, 0);
        file.read_exact_at(&mut v, off)
            .map_err(|e| OutputError::io("reading the output back", e))?;
        digests.owned(v);
        off += n as u64;
        progress.set_position(off);
    }
    progress.finish();
    Ok(digests.digests()?)
}
