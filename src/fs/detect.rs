//! Filesystem detection by superblock magic (what blkid looks at, for the kinds we meet in
//! cloud images). Reads at most a few KiB at fixed offsets; a slice too small for a
//! signature simply does not have it.

use crate::disk::{DiskError, Slice};

use super::FsError;

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum FsKind {
    Ext2,
    Ext3,
    Ext4,
    Xfs,
    Btrfs,
    Vfat,
    Swap,
    LvmPv,
    Luks,
    Unknown,
}

impl FsKind {
    pub fn as_str(self) -> &'static str {
        match self {
            FsKind::Ext2 => "ext2",
            FsKind::Ext3 => "ext3",
            FsKind::Ext4 => "ext4",
            FsKind::Xfs => "xfs",
            FsKind::Btrfs => "btrfs",
            FsKind::Vfat => "vfat",
            FsKind::Swap => "swap",
            FsKind::LvmPv => "lvm-pv",
            FsKind::Luks => "luks",
            FsKind::Unknown => "unknown",
        }
    }

    /// ext2, ext3 or ext4: readable and editable in userspace.
    pub fn is_ext(self) -> bool {
        matches!(self, FsKind::Ext2 | FsKind::Ext3 | FsKind::Ext4)
    }
}

impl std::fmt::Display for FsKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What is on a partition.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct FsInfo {
    pub kind: FsKind,
    /// "" when none.
    pub label: String,
    /// As blkid prints it; "" when none.
    pub uuid: String,
    /// ext2/3/4 feature flags by their e2fsprogs names; empty for other kinds.
    pub features: Vec<String>,
}

impl FsInfo {
    fn new(kind: FsKind, label: String, uuid: String) -> Self {
        FsInfo {
            kind,
            label,
            uuid,
            features: Vec::new(),
        }
    }
}

/// Read `len` bytes at `off`; `None` when the slice is too small.
fn read(s: &Slice<'_>, off: u64, len: usize) -> Result<Option<Vec<u8>>, FsError> {
    let mut buf = vec![0u8; len];
    match s.read_exact_at(&mut buf, off) {
        Ok(()) => Ok(Some(buf)),
        Err(DiskError::OutOfRange { .. }) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// Detect what `s` holds.
pub fn detect(s: &Slice<'_>) -> Result<FsInfo, FsError> {
    if let Some(b) = read(s, 0, 4096)?
        && let Some(i) = luks(&b).or_else(|| lvm(&b)).or_else(|| xfs(&b))
    {
        return Ok(i);
    }
    if let Some(b) = read(s, 1024, 1024)?
        && let Some(i) = ext(&b)
    {
        return Ok(i);
    }
    if let Some(b) = read(s, 0x10000, 4096)?
        && let Some(i) = btrfs(&b)
    {
        return Ok(i);
    }
    for page in [4096u64, 8192, 16384, 65536] {
        if let Some(b) = read(s, page - 10, 10)?
            && (&b[..] == b"SWAPSPACE2" || &b[..] == b"SWAP-SPACE")
        {
            // The swap header: version, last page, bad pages, then uuid and label.
            let (uuid, label) = match read(s, 1024, 44)? {
                Some(h) => (uuid_str(&h[12..28]), cstr(&h[28..44])),
                None => (String::new(), String::new()),
            };
            return Ok(FsInfo::new(FsKind::Swap, label, uuid));
        }
    }
    if let Some(b) = read(s, 0, 512)?
        && let Some(i) = vfat(&b)
    {
        return Ok(i);
    }
    Ok(FsInfo::new(FsKind::Unknown, String::new(), String::new()))
}

fn le16(b: &[u8], o: usize) -> u16 {
    u16::from_le_bytes([b[o], b[o + 1]])
}

fn le32(b: &[u8], o: usize) -> u32 {
    u32::from_le_bytes([b[o], b[o + 1], b[o + 2], b[o + 3]])
}

/// A NUL-padded string field.
fn cstr(b: &[u8]) -> String {
    let end = b.iter().position(|&c| c == 0).unwrap_or(b.len());
    String::from_utf8_lossy(&b[..end]).trim_end().to_string()
}

/// 16 bytes as a hyphenated lower-case UUID; "" when all zero.
fn uuid_str(b: &[u8]) -> String {
    if b.iter().all(|&c| c == 0) {
        return String::new();
    }
    let h: String = b.iter().map(|c| format!("{c:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

fn luks(b: &[u8]) -> Option<FsInfo> {
    if &b[0..6] != b"LUKS\xba\xbe" {
        return None;
    }
    let version = u16::from_be_bytes([b[6], b[7]]);
    // LUKS2 keeps a label at 24; LUKS1 has the cipher name there.
    let label = if version == 2 {
        cstr(&b[24..72])
    } else {
        String::new()
    };
    Some(FsInfo::new(FsKind::Luks, label, cstr(&b[168..208])))
}

fn lvm(b: &[u8]) -> Option<FsInfo> {
    // The label sits in one of the first four sectors.
    (0..4).find_map(|i| {
        let l = &b[i * 512..(i + 1) * 512];
        if &l[0..8] != b"LABELONE" || &l[24..32] != b"LVM2 001" {
            return None;
        }
        let id = String::from_utf8_lossy(&l[32..64]).to_string();
        // LVM prints the 32-character id as 6-4-4-4-4-4-6.
        let mut uuid = String::new();
        let mut at = 0;
        for (n, w) in [6, 4, 4, 4, 4, 4, 6].iter().enumerate() {
            if n > 0 {
                uuid.push('-');
            }
            uuid.push_str(id.get(at..at + w).unwrap_or(""));
            at += w;
        }
        Some(FsInfo::new(FsKind::LvmPv, String::new(), uuid))
    })
}

fn xfs(b: &[u8]) -> Option<FsInfo> {
    if &b[0..4] != b"XFSB" {
        return None;
    }
    Some(FsInfo::new(
        FsKind::Xfs,
        cstr(&b[108..120]),
        uuid_str(&b[32..48]),
    ))
}

fn btrfs(b: &[u8]) -> Option<FsInfo> {
    if &b[0x40..0x48] != b"_BHRfS_M" {
        return None;
    }
    Some(FsInfo::new(
        FsKind::Btrfs,
        cstr(&b[0x12b..0x22b]),
        uuid_str(&b[0x20..0x30]),
    ))
}

fn vfat(b: &[u8]) -> Option<FsInfo> {
    if b[510..512] != [0x55, 0xaa] {
        return None;
    }
    // FAT32 keeps its extended BPB at 0x40, FAT12/16 at 0x24.
    let bpb = if &b[0x52..0x57] == b"FAT32" {
        0x40
    } else if &b[0x36..0x39] == b"FAT" {
        0x24
    } else {
        return None;
    };
    let serial = le32(b, bpb + 3);
    let label = cstr(&b[bpb + 7..bpb + 18]);
    let label = if label == "NO NAME" {
        String::new()
    } else {
        label
    };
    let uuid = format!("{:04X}-{:04X}", serial >> 16, serial & 0xffff);
    Some(FsInfo::new(FsKind::Vfat, label, uuid))
}

// ext superblock feature bits (e2fsprogs lib/ext2fs/ext2_fs.h) with their names.
const COMPAT: &[(u32, &str)] = &[
    (0x1, "dir_prealloc"),
    (0x2, "imagic_inodes"),
    (0x4, "has_journal"),
    (0x8, "ext_attr"),
    (0x10, "resize_inode"),
    (0x20, "dir_index"),
    (0x200, "sparse_super2"),
    (0x400, "fast_commit"),
    (0x800, "stable_inodes"),
    (0x1000, "orphan_file"),
];
const INCOMPAT: &[(u32, &str)] = &[
    (0x1, "compression"),
    (0x2, "filetype"),
    (0x4, "needs_recovery"),
    (0x8, "journal_dev"),
    (0x10, "meta_bg"),
    (0x40, "extent"),
    (0x80, "64bit"),
    (0x100, "mmp"),
    (0x200, "flex_bg"),
    (0x400, "ea_inode"),
    (0x1000, "dirdata"),
    (0x2000, "metadata_csum_seed"),
    (0x4000, "large_dir"),
    (0x8000, "inline_data"),
    (0x10000, "encrypt"),
    (0x20000, "casefold"),
];
const RO_COMPAT: &[(u32, &str)] = &[
    (0x1, "sparse_super"),
    (0x2, "large_file"),
    (0x8, "huge_file"),
    (0x10, "uninit_bg"),
    (0x20, "dir_nlink"),
    (0x40, "extra_isize"),
    (0x100, "quota"),
    (0x200, "bigalloc"),
    (0x400, "metadata_csum"),
    (0x1000, "read-only"),
    (0x2000, "project"),
    (0x4000, "shared_blocks"),
    (0x8000, "verity"),
    (0x10000, "orphan_present"),
];

/// What ext3 knows; anything beyond makes it ext4 (blkid's rule).
const EXT3_INCOMPAT: u32 = 0x2 | 0x4 | 0x10;
const EXT3_RO_COMPAT: u32 = 0x1 | 0x2 | 0x4;
const EXT_JOURNAL_DEV: u32 = 0x8;

/// `b` is the 1024-byte superblock.
fn ext(b: &[u8]) -> Option<FsInfo> {
    if le16(b, 0x38) != 0xef53 {
        return None;
    }
    let compat = le32(b, 0x5c);
    let incompat = le32(b, 0x60);
    let ro = le32(b, 0x64);
    if incompat & EXT_JOURNAL_DEV != 0 {
        // An external journal device, not a filesystem.
        return Some(FsInfo::new(
            FsKind::Unknown,
            String::new(),
            uuid_str(&b[0x68..0x78]),
        ));
    }
    let kind = if incompat & !EXT3_INCOMPAT != 0 || ro & !EXT3_RO_COMPAT != 0 {
        FsKind::Ext4
    } else if compat & 0x4 != 0 {
        FsKind::Ext3
    } else {
        FsKind::Ext2
    };
    let mut features = Vec::new();
    for (word, table) in [(compat, COMPAT), (incompat, INCOMPAT), (ro, RO_COMPAT)] {
        let mut known = 0;
        for &(bit, name) in table {
            known |= bit;
            if word & bit != 0 {
                features.push(name.to_string());
            }
        }
        let unknown = word & !known;
        if unknown != 0 {
            features.push(format!("unknown_{unknown:#x}"));
        }
    }
    Some(FsInfo {
        kind,
        label: cstr(&b[0x78..0x88]),
        uuid: uuid_str(&b[0x68..0x78]),
        features,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::part::mem::MemDisk;

    #[test]
    fn zeros_are_unknown_and_tiny_slices_do_not_error() {
        for n in [0usize, 100, 1024, 2000, 5000, 70000] {
            let d = MemDisk::new(vec![0; n]);
            let s = Slice::new(&d, 0, n as u64).expect("slice fits");
            assert_eq!(
                detect(&s).expect("no error").kind,
                FsKind::Unknown,
                "size {n}"
            );
        }
    }

    #[test]
    fn uuid_formatting() {
        let b: Vec<u8> = (1..=16).collect();
        assert_eq!(uuid_str(&b), "01020304-0506-0708-090a-0b0c0d0e0f10");
        assert_eq!(uuid_str(&[0; 16]), "");
    }
}
