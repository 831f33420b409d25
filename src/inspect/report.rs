//! The typed report of `cloudseal inspect`: these structs *are* the `--json` schema
//! (docs/inspect-json.md). They deserialize too, so the schema can be checked by a round trip.

use serde::{Deserialize, Serialize};

use crate::disk::ImageFormat;
use crate::fs::OsInfo;
use crate::fs::detect::{FsInfo, FsKind};
use crate::part::{PartTable, Partition, TableKind};

/// Version of the JSON output; bumped only on incompatible changes.
pub const SCHEMA: u32 = 1;

/// What `inspect` found in one image.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InspectReport {
    /// Version of this schema ([`SCHEMA`]).
    pub schema: u32,
    /// The path as given.
    pub image: String,
    /// Detected from the content, never from the file name.
    pub format: ImageFormat,
    /// Size of the disk the guest sees, in bytes.
    pub virtual_size: u64,
    /// Bytes the image file occupies on the host.
    pub allocated_size: u64,
    /// Table, partitions, root and OS; inline in the JSON (no `survey` key).
    #[serde(flatten)]
    pub survey: Survey,
    /// Host-specific state present, by the operation that would remove it (root only).
    pub host_state: Vec<OpState>,
}

/// What a disk holds as far as the partition table, the superblocks and the root's
/// os-release tell: the facts `inspect`, `seal --dry-run` and `build --dry-run` show.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Survey {
    pub partition_table: TableReport,
    /// Every byte reads as zero: no table, no filesystem, no partitions listed.
    pub empty: bool,
    /// In table order.
    pub partitions: Vec<PartReport>,
    /// Partition number of the root filesystem.
    pub root: Option<u32>,
    /// From the root's os-release.
    pub os: Option<OsInfo>,
}

impl Survey {
    /// The table's facts and what each partition holds; no root looked for yet.
    pub(crate) fn new(table: PartTable, filesystems: Vec<FsInfo>) -> Survey {
        Survey {
            partition_table: TableReport {
                kind: table.kind,
                disk_id: table.disk_id,
                notes: table.notes,
            },
            empty: false,
            partitions: table
                .partitions
                .into_iter()
                .zip(filesystems)
                .map(|(partition, filesystem)| PartReport {
                    partition,
                    filesystem,
                })
                .collect(),
            root: None,
            os: None,
        }
    }

    /// No partition table and no filesystem anything recognises: an empty disk, or bytes
    /// nothing explains.
    pub fn unrecognised(&self) -> bool {
        self.partition_table.kind == TableKind::None
            && self
                .partitions
                .iter()
                .all(|p| p.filesystem.kind == FsKind::Unknown)
    }
}

/// The partition table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TableReport {
    pub kind: TableKind,
    /// GPT disk GUID, MBR disk signature as "0x0c5eaa01", "" with no table.
    pub disk_id: String,
    /// Things worth knowing that are not errors (a damaged primary GPT header, ...).
    pub notes: Vec<String>,
}

/// One partition and what it holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartReport {
    /// Inline in the JSON (`number`, `start`, `size`, ...).
    #[serde(flatten)]
    pub partition: Partition,
    pub filesystem: FsInfo,
}

/// Host state one sealing operation would remove or edit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OpState {
    /// Operation name, as in `cloudseal ops`.
    pub op: String,
    /// The operation's one-line summary.
    pub summary: String,
    /// Guest paths, sorted. Bytes of names that are not UTF-8 show as `\xNN` in the JSON (one
    /// way: read back, such a path stays the `\xNN` text).
    #[serde(serialize_with = "crate::fs::name::serialize_all")]
    pub paths: Vec<String>,
    /// Paths found but not listed (a lower bound when a walk was cut short).
    pub more: usize,
}
