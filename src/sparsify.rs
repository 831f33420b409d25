//! Sparsify: turn free filesystem blocks and unpartitioned space into holes.
//!
//! Works on a raw staging file: every range handed in is punched (`fallocate(PUNCH_HOLE |
//! KEEP_SIZE)`), so it reads back as zeros and holds no data on the host. After sealing, the
//! freed blocks still hold the deleted secrets; punching them is what makes them gone.

use std::fs::File;
use std::os::unix::fs::FileExt;

use nix::fcntl::{FallocateFlags, fallocate};

use crate::part::TableKind;

/// A byte range on the disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Range {
    pub start: u64,
    pub len: u64,
}

impl Range {
    pub fn end(&self) -> u64 {
        self.start.saturating_add(self.len)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SparsifyError {
    #[error("{context}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
}

/// Space at the end of a GPT disk left alone: the backup header and entries (33 sectors of
/// 512 bytes, or 6 of 4096), with margin.
const GPT_TAIL: u64 = 1 << 20;

/// Disk ranges outside every partition (given as start and size) that hold nothing the guest
/// needs.
///
/// Never included: everything before the first partition (the partition table, and the
/// bootloader code GRUB embeds after the MBR), the end of a GPT disk (backup table), and on
/// MBR disks the gaps between partitions (extended boot records live there): only the
/// space after the last partition. A disk without a table has no outside.
pub fn unpartitioned(disk_size: u64, table: TableKind, parts: &[(u64, u64)]) -> Vec<Range> {
    if table == TableKind::None || parts.is_empty() {
        return Vec::new();
    }
    let mut spans: Vec<(u64, u64)> = parts
        .iter()
        .map(|&(start, size)| (start, start.saturating_add(size).min(disk_size)))
        .collect();
    spans.sort_unstable();
    let limit = match table {
        TableKind::Gpt => disk_size.saturating_sub(GPT_TAIL),
        _ => disk_size,
    };
    let mut out = Vec::new();
    let mut covered = spans[0].1;
    for &(start, end) in &spans[1..] {
        if table == TableKind::Gpt && start > covered {
            push_clamped(&mut out, covered, start, limit);
        }
        covered = covered.max(end);
    }
    push_clamped(&mut out, covered, limit, limit);
    out
}

fn push_clamped(out: &mut Vec<Range>, start: u64, end: u64, limit: u64) {
    let end = end.min(limit);
    if end > start {
        out.push(Range {
            start,
            len: end - start,
        });
    }
}

/// Sort ranges and merge the ones that touch or overlap.
pub fn merge(mut ranges: Vec<Range>) -> Vec<Range> {
    ranges.retain(|r| r.len > 0);
    ranges.sort_unstable_by_key(|r| r.start);
    let mut out: Vec<Range> = Vec::with_capacity(ranges.len());
    for r in ranges {
        match out.last_mut() {
            Some(last) if r.start <= last.end() => {
                let end = last.end().max(r.end());
                last.len = end - last.start;
            }
            _ => out.push(r),
        }
    }
    out
}

/// Punch every range of `file` (already merged or not). Where the host filesystem cannot
/// punch holes, the range is overwritten with zeros instead. Returns the bytes covered.
pub fn punch(file: &File, ranges: &[Range]) -> Result<u64, SparsifyError> {
    let mut total = 0u64;
    let flags = FallocateFlags::FALLOC_FL_PUNCH_HOLE | FallocateFlags::FALLOC_FL_KEEP_SIZE;
    let mut can_punch = true;
    for r in merge(ranges.to_vec()) {
        let (Ok(off), Ok(len)) = (i64::try_from(r.start), i64::try_from(r.len)) else {
            return Err(io_err(r, std::io::ErrorKind::InvalidInput.into()));
        };
        if can_punch {
            match fallocate(file, flags, off, len) {
                Ok(()) => {
                    total += r.len;
                    continue;
                }
                Err(nix::errno::Errno::EOPNOTSUPP) => {
                    log::warn!("the staging filesystem cannot punch holes: writing zeros");
                    can_punch = false;
                }
                Err(e) => return Err(io_err(r, e.into())),
            }
        }
        zero_fill(file, r)?;
        total += r.len;
    }
    Ok(total)
}

fn zero_fill(file: &File, r: Range) -> Result<(), SparsifyError> {
    let zeros = vec![0u8; 1 << 20];
    let mut at = r.start;
    while at < r.end() {
        let n = (r.end() - at).min(zeros.len() as u64) as usize;
        file.write_all_at(&zeros[..n], at)
            .map_err(|e| io_err(r, e))?;
        at += n as u64;
    }
    Ok(())
}

fn io_err(r: Range, source: std::io::Error) -> SparsifyError {
    SparsifyError::Io {
        context: format!(
            "punching a hole at {}..{} of the staging file",
            r.start,
            r.end()
        ),
        source,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn part(start: u64, size: u64) -> (u64, u64) {
        (start, size)
    }

    const MIB: u64 = 1 << 20;

    fn r(start: u64, len: u64) -> Range {
        Range { start, len }
    }

    #[test]
    fn gpt_gaps_and_tail_but_not_the_tables() {
        let parts = [part(2 * MIB, 10 * MIB), part(20 * MIB, 10 * MIB)];
        let got = unpartitioned(100 * MIB, TableKind::Gpt, &parts);
        assert_eq!(got, vec![r(12 * MIB, 8 * MIB), r(30 * MIB, 69 * MIB)]);
    }

    #[test]
    fn mbr_only_after_the_last_partition() {
        // An extended partition with a logical one: the gap holds an EBR.
        let parts = [part(MIB, 10 * MIB), part(20 * MIB, 10 * MIB)];
        let got = unpartitioned(40 * MIB, TableKind::Mbr, &parts);
        assert_eq!(got, vec![r(30 * MIB, 10 * MIB)]);
    }

    #[test]
    fn nothing_outside_a_bare_filesystem_or_a_full_disk() {
        assert!(unpartitioned(10 * MIB, TableKind::None, &[part(0, 10 * MIB)]).is_empty());
        assert!(unpartitioned(10 * MIB, TableKind::Mbr, &[part(MIB, 9 * MIB)]).is_empty());
        // A partition claiming to run past the disk end clamps instead of overflowing.
        assert!(unpartitioned(10 * MIB, TableKind::Gpt, &[part(MIB, u64::MAX)]).is_empty());
    }

    #[test]
    fn merging() {
        let got = merge(vec![r(10, 5), r(0, 10), r(30, 0), r(12, 10), r(40, 1)]);
        assert_eq!(got, vec![r(0, 22), r(40, 1)]);
    }

    #[test]
    fn punched_ranges_read_as_zero_and_stop_being_allocated() {
        let mut f = tempfile::tempfile().unwrap();
        let data = vec![0xa5u8; 4 * MIB as usize];
        std::io::Write::write_all(&mut f, &data).unwrap();
        f.sync_all().unwrap();
        let before = nix::sys::stat::fstat(&f).unwrap().st_blocks;
        let n = punch(&f, &[r(MIB, MIB), r(2 * MIB, 1024), r(3 * MIB + 100, 50)]).unwrap();
        assert_eq!(n, MIB + 1024 + 50);
        let mut back = vec![0u8; data.len()];
        f.read_exact_at(&mut back, 0).unwrap();
        for (i, b) in back.iter().enumerate() {
            let i = i as u64;
            let holed =
                (MIB..2 * MIB + 1024).contains(&i) || (3 * MIB + 100..3 * MIB + 150).contains(&i);
            assert_eq!(*b, if holed { 0 } else { 0xa5 }, "byte {i}");
        }
        let after = nix::sys::stat::fstat(&f).unwrap().st_blocks;
        assert!(after < before, "no blocks released: {before} -> {after}");
        assert_eq!(f.metadata().unwrap().len(), data.len() as u64);
    }
}
