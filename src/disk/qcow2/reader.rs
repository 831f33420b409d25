//! Reading: guest ranges split into runs of one kind (contiguous data, zeros, unallocated,
//! one compressed cluster), each served with one host read or one decompression.

use std::sync::Arc;

use super::Qcow2;
use super::decompress::decompress;
use super::l2cache::Table;
use super::tables::{Cluster, OFFSET_MASK};
use crate::disk::{DiskError, Extent, ExtentKind};

/// How many decompressed clusters to keep for reads smaller than a cluster.
const DECOMPRESSED_KEEP: usize = 8;

/// Where a run of guest bytes comes from.
#[derive(Debug, Clone, Copy)]
enum Run {
    Unallocated,
    Zero,
    /// Host offset of the run's first byte; the run is contiguous on the host.
    Data(u64),
    /// One compressed cluster; the run starts `skip` bytes into it.
    Compressed {
        off: u64,
        len: u64,
        skip: u64,
    },
}

impl Qcow2 {
    /// The L2 table for L1 index `i`, or `None` when the whole range it maps is unallocated.
    fn l2_table(&self, i: u64) -> Result<Option<Table>, DiskError> {
        let entry = usize::try_from(i)
            .ok()
            .and_then(|i| self.l1.get(i))
            .copied()
            .ok_or_else(|| self.corrupt(format!("L1 index {i} is outside the L1 table")))?;
        let off = entry & OFFSET_MASK;
        if off == 0 {
            return Ok(None);
        }
        let cs = self.geo.cluster_size();
        if off & (cs - 1) != 0 {
            return Err(self.corrupt(format!(
                "L2 table offset {off:#x} (L1 entry {i}) is not cluster aligned"
            )));
        }
        let file_len = self.host.len();
        if off.checked_add(cs).is_none_or(|end| end > file_len) {
            return Err(self.corrupt(format!(
                "L2 table at offset {off:#x} (L1 entry {i}) lies past the end of the file ({file_len} bytes)"
            )));
        }
        let table = self.l2.get(off, || {
            let mut raw = vec![0u8; cs as usize];
            self.host.read_exact_at(&mut raw, off).map_err(|e| {
                DiskError::io(
                    format!("reading the L2 table at {off:#x} of {}", self.name),
                    e,
                )
            })?;
            Ok::<_, DiskError>(
                raw.chunks_exact(8)
                    .map(|c| u64::from_be_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]))
                    .collect(),
            )
        })?;
        Ok(Some(table))
    }

    fn decode_at(&self, table: &Table, i: usize, guest: u64) -> Result<Cluster, DiskError> {
        let entry = table.get(i).copied().unwrap_or(0);
        self.geo
            .decode(entry)
            .map_err(|e| self.corrupt(format!("{e} (L2 entry for guest offset {guest:#x})")))
    }

    /// The run starting at guest offset `pos`: its source and length (1..=max bytes).
    /// The caller guarantees `max > 0` and `pos + max <= size`.
    fn run_at(&self, pos: u64, max: u64) -> Result<(Run, u64), DiskError> {
        let cb = self.geo.cluster_bits;
        let cs = self.geo.cluster_size();
        let cluster = pos >> cb;
        let in_off = pos & (cs - 1);
        let l1i = cluster >> self.geo.l2_bits();
        let l2i = (cluster & (self.geo.l2_entries() - 1)) as usize;
        let Some(table) = self.l2_table(l1i)? else {
            // l1i < 2^22 and l2_bits + cb <= 39: no overflow.
            let span_end = (l1i + 1) << (self.geo.l2_bits() + cb);
            return Ok((Run::Unallocated, max.min(span_end - pos)));
        };
        let first = self.decode_at(&table, l2i, pos)?;
        let mut len = (cs - in_off).min(max);
        let run = match first {
            Cluster::Compressed { off, len: clen } => {
                let run = Run::Compressed {
                    off,
                    len: clen,
                    skip: in_off,
                };
                return Ok((run, len));
            }
            Cluster::Data(h) => Run::Data(h + in_off),
            Cluster::Zero => Run::Zero,
            Cluster::Unallocated => Run::Unallocated,
        };
        let mut i = l2i + 1;
        while len < max && i < table.len() {
            let next = self.decode_at(&table, i, pos + len)?;
            let same = match (first, next) {
                (Cluster::Data(h0), Cluster::Data(h)) => {
                    Some(h)
                        == ((i - l2i) as u64)
                            .checked_mul(cs)
                            .and_then(|d| h0.checked_add(d))
                }
                (Cluster::Zero, Cluster::Zero) | (Cluster::Unallocated, Cluster::Unallocated) => {
                    true
                }
                _ => false,
            };
            if !same {
                break;
            }
            len += cs.min(max - len);
            i += 1;
        }
        if let Run::Data(h) = run {
            let file_len = self.host.len();
            if h.checked_add(len).is_none_or(|end| end > file_len) {
                return Err(self.corrupt(format!(
                    "data for guest offset {pos:#x} at host offset {h:#x} ({len} bytes) lies past the end of the file ({file_len} bytes)"
                )));
            }
        }
        Ok((run, len))
    }

    pub(super) fn read_at(&self, buf: &mut [u8], off: u64) -> Result<(), DiskError> {
        let size = self.header.size;
        let total = buf.len() as u64;
        if off.checked_add(total).is_none_or(|end| end > size) {
            return Err(DiskError::OutOfRange {
                off,
                len: total,
                size,
            });
        }
        let mut done = 0usize;
        while done < buf.len() {
            let pos = off + done as u64;
            let (run, len) = self.run_at(pos, (buf.len() - done) as u64)?;
            let out = &mut buf[done..done + len as usize];
            match run {
                Run::Data(h) => self.host.read_exact_at(out, h).map_err(|e| {
                    DiskError::io(
                        format!("reading {len} bytes at host offset {h:#x} of {}", self.name),
                        e,
                    )
                })?,
                Run::Zero => out.fill(0),
                Run::Unallocated => self.read_backing(out, pos)?,
                Run::Compressed { off, len, skip } => {
                    self.read_compressed(off, len, skip, out, pos)?
                }
            }
            done += out.len();
        }
        Ok(())
    }

    /// Unallocated clusters read from the backing file, or as zeros past its end / without one.
    fn read_backing(&self, out: &mut [u8], pos: u64) -> Result<(), DiskError> {
        let mut n = 0;
        if let Some(b) = &self.backing {
            let bsize = b.size();
            if pos < bsize {
                n = out.len().min((bsize - pos) as usize);
                b.read_exact_at(&mut out[..n], pos)?;
            }
        }
        out[n..].fill(0);
        Ok(())
    }

    fn read_compressed(
        &self,
        off: u64,
        clen: u64,
        skip: u64,
        out: &mut [u8],
        guest: u64,
    ) -> Result<(), DiskError> {
        let cs = self.geo.cluster_size() as usize;
        if out.len() == cs {
            return self.decompress_cluster(off, clen, out, guest);
        }
        // A partial read: keep the cluster, the next small read likely wants the rest.
        let cached = {
            let g = self.clusters.lock().unwrap_or_else(|p| p.into_inner());
            g.iter().find(|c| c.0 == off).map(|c| c.1.clone())
        };
        let data = match cached {
            Some(d) => d,
            None => {
                let mut v = vec![0u8; cs];
                self.decompress_cluster(off, clen, &mut v, guest)?;
                let d: Arc<[u8]> = v.into();
                let mut g = self.clusters.lock().unwrap_or_else(|p| p.into_inner());
                if g.len() >= DECOMPRESSED_KEEP {
                    g.remove(0);
                }
                g.push((off, d.clone()));
                d
            }
        };
        let skip = skip as usize;
        out.copy_from_slice(&data[skip..skip + out.len()]);
        Ok(())
    }

    fn decompress_cluster(
        &self,
        off: u64,
        clen: u64,
        out: &mut [u8],
        guest: u64,
    ) -> Result<(), DiskError> {
        let file_len = self.host.len();
        if off >= file_len {
            return Err(self.corrupt(format!(
                "compressed cluster for guest offset {guest:#x} at host offset {off:#x} lies past the end of the file ({file_len} bytes)"
            )));
        }
        // The last sector of the file may be partial; clen <= 2 * cluster size.
        let mut src = vec![0u8; clen.min(file_len - off) as usize];
        self.host.read_exact_at(&mut src, off).map_err(|e| {
            DiskError::io(
                format!("reading a compressed cluster at {off:#x} of {}", self.name),
                e,
            )
        })?;
        decompress(self.header.compression, &src, out).map_err(|e| {
            self.corrupt(format!(
                "compressed cluster for guest offset {guest:#x} at host offset {off:#x}: {e}"
            ))
        })
    }

    pub(super) fn status(&self, off: u64, len: u64) -> Result<Extent, DiskError> {
        let size = self.header.size;
        if len == 0 || off >= size {
            return Err(DiskError::OutOfRange { off, len, size });
        }
        let max = len.min(size - off);
        let mut total = 0;
        let mut kind = None;
        while total < max {
            let pos = off + total;
            let (run, rlen) = self.run_at(pos, max - total)?;
            let (k, klen) = match run {
                Run::Data(_) | Run::Compressed { .. } => (ExtentKind::Data, rlen),
                Run::Zero => (ExtentKind::Zero, rlen),
                Run::Unallocated => self.backing_status(pos, rlen)?,
            };
            match kind {
                None => kind = Some(k),
                Some(k0) if k0 != k => break,
                Some(_) => {}
            }
            total += klen;
        }
        Ok(Extent {
            kind: kind.unwrap_or(ExtentKind::Unallocated),
            len: total,
        })
    }

    fn backing_status(&self, pos: u64, len: u64) -> Result<(ExtentKind, u64), DiskError> {
        match &self.backing {
            Some(b) if pos < b.size() => {
                let e = b.extent_status(pos, len.min(b.size() - pos))?;
                Ok((e.kind, e.len.clamp(1, len)))
            }
            _ => Ok((ExtentKind::Unallocated, len)),
        }
    }
}
