//! What is in an image, and which host-specific state sealing would remove, as a typed report
//! (`cloudseal inspect`; its `--json` is [`InspectReport`], see docs/inspect-json.md).
//!
//! [`survey`] is the one walk over the partitions and their superblocks: `inspect` and the
//! seal pipeline (`seal`, `build`, and their dry runs) both start from it. Nothing here writes
//! the image or mounts anything: the root is the first ext2/3/4 filesystem with an os-release.

mod host_state;
mod report;

use std::path::Path;
use std::sync::Arc;

use crate::disk::{self, BlockDev, DiskError, Slice};
use crate::fs::FsError;
use crate::fs::detect::{self, FsInfo};
use crate::fs::os::{self, Root};
use crate::part::{self, PartError, PartTable};

pub use host_state::StateError;
pub use report::{InspectReport, OpState, PartReport, SCHEMA, Survey, TableReport};

#[derive(Debug, thiserror::Error)]
pub enum InspectError {
    /// Opening or reading the image: disk errors name the file and what was being done.
    #[error(transparent)]
    Disk(#[from] DiskError),
    #[error("reading the partitions of {image}")]
    Partitions {
        image: String,
        #[source]
        source: PartError,
    },
    #[error("{image}")]
    Survey {
        image: String,
        #[source]
        source: SurveyError,
    },
    /// Bytes that no partition table or filesystem explains (an empty disk is not this).
    #[error("{image}: no partition table and no known filesystem")]
    Unrecognised { image: String },
    #[error("{image}: looking for the root filesystem")]
    Root {
        image: String,
        #[source]
        source: FsError,
    },
    #[error("{image}: planning")]
    Plan {
        image: String,
        #[source]
        source: StateError,
    },
    #[error("{image}: planning the filesystems the root mounts")]
    Mounted {
        image: String,
        #[source]
        source: StateError,
    },
}

/// Why a partition could not be surveyed; `number` is the partition's.
#[derive(Debug, thiserror::Error)]
pub enum SurveyError {
    /// The partition lies (partly) outside the disk.
    #[error("partition {number}")]
    Slice {
        number: u32,
        #[source]
        source: DiskError,
    },
    #[error("detecting the filesystem of partition {number}")]
    Detect {
        number: u32,
        #[source]
        source: FsError,
    },
}

/// Inspect the image file at `path` (raw or qcow2, by content); `image` in the report is the
/// path as given.
pub fn inspect(path: &Path) -> Result<InspectReport, InspectError> {
    let dev: Arc<dyn BlockDev> = Arc::from(disk::open_image(path, &disk::OpenOptions::default())?);
    inspect_dev(dev, &path.display().to_string())
}

/// Inspect an open disk; `name` names it in the report and in errors.
pub fn inspect_dev(dev: Arc<dyn BlockDev>, name: &str) -> Result<InspectReport, InspectError> {
    let image = || name.to_string();
    let allocated_size = dev.allocated_bytes()?;
    let table = part::read_table(&*dev).map_err(|source| InspectError::Partitions {
        image: image(),
        source,
    })?;
    let mut survey = survey(&*dev, table).map_err(|source| InspectError::Survey {
        image: image(),
        source,
    })?;
    if survey.unrecognised() {
        // A disk nothing was written to is valid (a fresh `qemu-img create`); bytes nothing
        // recognises are not.
        if !disk::reads_as_zeros(&*dev)? {
            return Err(InspectError::Unrecognised { image: image() });
        }
        survey.empty = true;
        survey.partitions.clear();
    }

    let parts: Vec<_> = survey
        .partitions
        .iter()
        .map(|p| (p.partition.clone(), p.filesystem.clone()))
        .collect();
    let root = os::find_root(&dev, &parts).map_err(|source| InspectError::Root {
        image: image(),
        source,
    })?;
    let mut state = Vec::new();
    if let Some(Root { index, fs, os }) = &root {
        state = host_state::of(fs, os).map_err(|source| InspectError::Plan {
            image: image(),
            source,
        })?;
        let others =
            host_state::mounted(&dev, &survey.partitions, *index, fs, os).map_err(|source| {
                InspectError::Mounted {
                    image: image(),
                    source,
                }
            })?;
        host_state::merge(&mut state, others);
        survey.root = Some(survey.partitions[*index].partition.number);
        survey.os = Some(os.clone());
    }

    Ok(InspectReport {
        schema: SCHEMA,
        image: image(),
        format: dev.format(),
        virtual_size: dev.size(),
        allocated_size,
        survey,
        host_state: state,
    })
}

/// Detect what every partition of `table` holds (by superblock magic only): the survey with
/// no root looked for and `empty` unset.
pub fn survey(dev: &dyn BlockDev, table: PartTable) -> Result<Survey, SurveyError> {
    let mut found: Vec<FsInfo> = Vec::with_capacity(table.partitions.len());
    for p in &table.partitions {
        let number = p.number;
        let slice = Slice::new(dev, p.start, p.size)
            .map_err(|source| SurveyError::Slice { number, source })?;
        let info =
            detect::detect(&slice).map_err(|source| SurveyError::Detect { number, source })?;
        found.push(info);
    }
    Ok(Survey::new(table, found))
}
