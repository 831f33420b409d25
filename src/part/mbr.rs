//! MBR partition tables, through `mbrman` (probed after GPT).
//!
//! `mbrman` panics on a used entry starting at LBA 0 (alignment search) and adds EBR offsets
//! unchecked, so the primary entries and the EBR chain are walked and checked here first.

use std::io::{Read, Seek, SeekFrom};

use super::devio::DevIo;
use super::{PartError, PartTable, Partition, SECTOR, TableKind};
use crate::disk::BlockDev;

/// Logical partitions (EBRs) followed at most.
const MAX_LOGICAL: u32 = 128;

/// One raw 16-byte entry.
#[derive(Debug, Clone, Copy)]
struct Entry {
    boot: u8,
    sys: u8,
    start: u32,
    sectors: u32,
}

fn entries(sector: &[u8; 512]) -> [Entry; 4] {
    std::array::from_fn(|i| {
        let e = &sector[446 + 16 * i..446 + 16 * (i + 1)];
        Entry {
            boot: e[0],
            sys: e[4],
            start: u32::from_le_bytes([e[8], e[9], e[10], e[11]]),
            sectors: u32::from_le_bytes([e[12], e[13], e[14], e[15]]),
        }
    })
}

fn is_extended(sys: u8) -> bool {
    matches!(sys, 0x05 | 0x0f | 0x85 | 0xc5 | 0xd5)
}

/// A filesystem boot sector (FAT, NTFS, exFAT) also ends in 55 AA; it is not a table.
fn is_volume_boot_record(s: &[u8; 512]) -> bool {
    &s[0x36..0x39] == b"FAT"
        || &s[0x52..0x57] == b"FAT32"
        || &s[3..11] == b"NTFS    "
        || &s[3..11] == b"EXFAT   "
}

/// Read an MBR if there is one: `Ok(None)` when sector 0 holds no partition table.
pub fn probe(dev: &dyn BlockDev) -> Result<Option<PartTable>, PartError> {
    if dev.size() < SECTOR {
        return Ok(None);
    }
    let mut s0 = [0u8; 512];
    dev.read_exact_at(&mut s0, 0)?;
    if s0[510..512] != [0x55, 0xaa] || is_volume_boot_record(&s0) {
        return Ok(None);
    }
    let prim = entries(&s0);
    // Boot flags other than 0 / 0x80 mean boot code, not a table (what blkid does too).
    if prim.iter().any(|e| e.boot != 0 && e.boot != 0x80) || prim.iter().all(|e| e.sys == 0) {
        return Ok(None);
    }
    if prim.iter().any(|e| e.sys == 0xee) {
        return Err(PartError::Gpt(
            "protective MBR (type 0xee) but no GPT header found".into(),
        ));
    }
    let disk_sectors = dev.size() / SECTOR;
    let mut extended = None;
    for (i, e) in prim.iter().enumerate() {
        if e.sys == 0 {
            continue;
        }
        let n = i + 1;
        if e.start == 0 || e.sectors == 0 {
            return Err(PartError::Mbr(format!(
                "partition {n} starts at sector {} with {} sectors",
                e.start, e.sectors
            )));
        }
        let end = u64::from(e.start) + u64::from(e.sectors);
        if end > disk_sectors {
            return Err(PartError::Mbr(format!(
                "partition {n} ends past the end of the disk (at sector {end}, disk has {disk_sectors})"
            )));
        }
        if is_extended(e.sys) {
            if extended.is_some() {
                return Err(PartError::Mbr("more than one extended partition".into()));
            }
            extended = Some((n, *e));
        }
    }
    if let Some((_, ext)) = extended {
        check_ebr_chain(dev, &ext)?;
    }

    let mut io = DevIo::new(dev);
    let mbr = mbrman::MBR::read_from(&mut io, SECTOR as u32)
        .map_err(|e| PartError::Mbr(format!("reading the table: {e}")))?;

    let mut partitions = Vec::new();
    let mut notes = Vec::new();
    for (n, p) in mbr.iter() {
        if p.is_unused() {
            continue;
        }
        if p.is_extended() {
            notes.push(format!(
                "partition {n} is an extended partition (a container)"
            ));
            continue;
        }
        let number = u32::try_from(n).map_err(|_| PartError::Mbr("too many partitions".into()))?;
        partitions.push(Partition {
            number,
            start: u64::from(p.starting_lba) * SECTOR,
            size: u64::from(p.sectors) * SECTOR,
            type_id: format!("0x{:02x}", p.sys),
            type_name: type_name(p.sys).to_string(),
            name: String::new(),
            uuid: String::new(),
        });
    }
    let sig = mbr.header.disk_signature;
    Ok(Some(PartTable {
        kind: TableKind::Mbr,
        disk_id: format!("0x{:08x}", u32::from_le_bytes(sig)),
        partitions,
        notes,
    }))
}

/// Walk the EBR chain the way mbrman does, with checked arithmetic and a length cap.
fn check_ebr_chain(dev: &dyn BlockDev, ext: &Entry) -> Result<(), PartError> {
    let mut io = DevIo::new(dev);
    let ext_start = u64::from(ext.start);
    let ext_end = ext_start + u64::from(ext.sectors);
    let mut rel: u64 = 0;
    for count in 0..=MAX_LOGICAL {
        if count == MAX_LOGICAL {
            return Err(PartError::Mbr(format!(
                "more than {MAX_LOGICAL} logical partitions"
            )));
        }
        let ebr_lba = ext_start + rel;
        if ebr_lba >= ext_end {
            return Err(PartError::Mbr(format!(
                "extended boot record at sector {ebr_lba} lies outside the extended partition"
            )));
        }
        let mut s = [0u8; 512];
        io.seek(SeekFrom::Start(ebr_lba * SECTOR))
            .and_then(|_| io.read_exact(&mut s))
            .map_err(|e| PartError::Mbr(format!("reading the EBR at sector {ebr_lba}: {e}")))?;
        let [part, next, ..] = entries(&s);
        if s[510..512] != [0x55, 0xaa] || part.boot & 0x7f != 0 || next.boot & 0x7f != 0 {
            if rel == 0 {
                return Ok(()); // an empty extended partition needs no EBR
            }
            return Err(PartError::Mbr(format!(
                "bad extended boot record at sector {ebr_lba}"
            )));
        }
        if part.sys != 0 {
            let start = ebr_lba + u64::from(part.start);
            let end = start + u64::from(part.sectors);
            if part.start == 0 || part.sectors == 0 || end > ext_end || start > u64::from(u32::MAX)
            {
                return Err(PartError::Mbr(format!(
                    "logical partition {} lies outside the extended partition",
                    count + 5
                )));
            }
        }
        let next_rel = u64::from(next.start);
        if next_rel == 0 {
            return Ok(());
        }
        if next_rel <= rel || ext_start + next_rel > u64::from(u32::MAX) {
            return Err(PartError::Mbr(
                "inconsistent extended boot record chain".into(),
            ));
        }
        rel = next_rel;
    }
    Ok(())
}

/// Human names of MBR partition types (fdisk's names).
pub fn type_name(sys: u8) -> &'static str {
    match sys {
        0x01 => "FAT12",
        0x04 | 0x06 => "FAT16",
        0x05 => "Extended",
        0x07 => "HPFS/NTFS/exFAT",
        0x0b => "W95 FAT32",
        0x0c => "W95 FAT32 (LBA)",
        0x0e => "W95 FAT16 (LBA)",
        0x0f => "W95 Ext'd (LBA)",
        0x82 => "Linux swap",
        0x83 => "Linux",
        0x85 => "Linux extended",
        0x8e => "Linux LVM",
        0xa5 => "FreeBSD",
        0xda => "Non-FS data",
        0xe8 => "LUKS",
        0xea => "Linux extended boot",
        0xee => "GPT",
        0xef => "EFI (FAT-12/16/32)",
        0xfd => "Linux raid autodetect",
        _ => "unknown",
    }
}
