//! Sparsify: which disk ranges hold nothing and become zeros (holes in the output): the free
//! blocks of each filesystem (from its block bitmap, see `Ext4Fs::free_ranges`) and the space
//! outside the partitions that no table or bootloader uses. After sealing, the freed blocks
//! still hold the deleted secrets; zeroing them is what makes them gone. `pipeline::cow`
//! serves these ranges as zeros to the output writer, which skips them.

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
}
