//! Partition tables: GPT (primary, or backup when the primary is damaged), MBR, or none.

pub mod gpt;
pub mod mbr;

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum TableKind {
    Gpt,
    Mbr,
    /// No partition table: the whole disk is one filesystem (or nothing recognised).
    None,
}

/// One partition (or, with no table, the whole disk as partition 1).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Partition {
    /// 1-based, as the kernel numbers them.
    pub number: u32,
    /// Start on the disk, in bytes.
    pub start: u64,
    /// Size in bytes.
    pub size: u64,
    /// GPT type GUID (upper-case, hyphenated) or MBR type byte as "0x83".
    pub type_id: String,
    /// Human name of the type ("Linux filesystem", "EFI System", ...).
    pub type_name: String,
    /// GPT partition name ("" for MBR).
    pub name: String,
}
