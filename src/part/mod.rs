//! Partition tables: GPT (primary, or backup when the primary is damaged), MBR, or none.
//!
//! GPT is probed first: an MBR read of a GPT disk shows only the protective 0xEE entry.
//! The `gpt` and `mbrman` crates trust their input in places (asserts, unchecked sums), so
//! every field they would trip on is validated here first; see gpt.rs and mbr.rs.

mod devio;
pub mod gpt;
pub mod mbr;
pub mod mem;

use crate::disk::{BlockDev, DiskError};

/// Logical sector size assumed for MBR (GPT also probes 4096).
pub const SECTOR: u64 = 512;

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TableKind {
    Gpt,
    Mbr,
    /// No partition table: the whole disk is one filesystem (or nothing recognised).
    None,
}

impl std::fmt::Display for TableKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            TableKind::Gpt => "gpt",
            TableKind::Mbr => "mbr",
            TableKind::None => "none",
        })
    }
}

/// One partition (or, with no table, the whole disk as partition 1).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Partition {
    /// 1-based, as the kernel numbers them (MBR logical partitions from 5).
    pub number: u32,
    /// Start on the disk, in bytes.
    pub start: u64,
    /// Size in bytes.
    pub size: u64,
    /// GPT type GUID (upper-case, hyphenated) or MBR type byte as "0x83"; "" with no table.
    pub type_id: String,
    /// Human name of the type ("Linux filesystem", "EFI System", ...).
    pub type_name: String,
    /// GPT partition name ("" for MBR).
    pub name: String,
    /// GPT unique partition GUID (upper-case, hyphenated); "" for MBR.
    pub uuid: String,
}

/// What `read_table` found.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct PartTable {
    pub kind: TableKind,
    /// GPT disk GUID, or the MBR disk signature as "0x1234abcd"; "" with no table.
    pub disk_id: String,
    pub partitions: Vec<Partition>,
    /// Things worth saying that are not errors ("primary GPT header damaged, using the backup").
    pub notes: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum PartError {
    #[error(transparent)]
    Disk(#[from] DiskError),
    #[error("corrupt GPT: {0}")]
    Gpt(String),
    #[error("corrupt MBR: {0}")]
    Mbr(String),
}

/// Read the partition table of `dev`: GPT, then MBR, else the whole disk as one partition.
pub fn read_table(dev: &dyn BlockDev) -> Result<PartTable, PartError> {
    let table = if let Some(t) = gpt::probe(dev)? {
        t
    } else if let Some(t) = mbr::probe(dev)? {
        t
    } else {
        PartTable {
            kind: TableKind::None,
            disk_id: String::new(),
            partitions: vec![Partition {
                number: 1,
                start: 0,
                size: dev.size(),
                type_id: String::new(),
                type_name: "whole disk".into(),
                name: String::new(),
                uuid: String::new(),
            }],
            notes: Vec::new(),
        }
    };
    check_layout(&table, dev.size())?;
    Ok(table)
}

/// Every partition inside the disk, none overlapping another.
fn check_layout(t: &PartTable, disk_size: u64) -> Result<(), PartError> {
    let err = |msg: String| match t.kind {
        TableKind::Mbr => PartError::Mbr(msg),
        _ => PartError::Gpt(msg),
    };
    let mut spans: Vec<(u64, u64, u32)> = Vec::with_capacity(t.partitions.len());
    for p in &t.partitions {
        let end = p
            .start
            .checked_add(p.size)
            .ok_or_else(|| err(format!("partition {} has an impossible size", p.number)))?;
        if end > disk_size {
            return Err(err(format!(
                "partition {} ends past the end of the disk (at byte {end}, disk is {disk_size} bytes)",
                p.number
            )));
        }
        spans.push((p.start, end, p.number));
    }
    spans.sort_unstable();
    for w in spans.windows(2) {
        if w[1].0 < w[0].1 {
            return Err(err(format!("partitions {} and {} overlap", w[0].2, w[1].2)));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use mem::MemDisk;

    #[test]
    fn zeros_are_no_table() {
        let d = MemDisk::new(vec![0; 64 * 1024]);
        let t = read_table(&d).expect("a zero disk has no table");
        assert_eq!(t.kind, TableKind::None);
        assert_eq!(t.partitions.len(), 1);
        assert_eq!(t.partitions[0].size, 64 * 1024);
    }

    #[test]
    fn tiny_disks_are_no_table() {
        for n in [0usize, 1, 511, 512, 513, 1024, 1535] {
            let d = MemDisk::new(vec![0; n]);
            let t = read_table(&d).expect("tiny disks are not errors");
            assert_eq!(t.kind, TableKind::None, "size {n}");
        }
    }
}
