//! Seal an image file end to end: seal the root filesystem (ext2/3/4 with libext2fs and vfat
//! with fatfs through a copy-on-write overlay over the input; xfs and btrfs on a private
//! staging copy the kernel mounts), then the filesystems its fstab mounts, turn every free
//! block and the unpartitioned space into zeros, write the output (raw or qcow2) from the
//! input with the overlay and the copies on top. The input is never written; `dry_run` plans
//! without changing anything and without writing an output.
//!
//! Sits beside `recipe` in the dependency order: it ties seal, the free-space holes and output together.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::disk::{self, BlockDev, DiskError, ImageFormat, OpenOptions};
use crate::fs::detect::FsKind;
use crate::fs::ext4::Ext4Error;
use crate::fs::mount::{self, Backend, Layout, MountError};
use crate::fs::{FsError, GuestFsMut, OsInfo, clock};
use crate::inspect::{self, PartReport, Survey, SurveyError};
use crate::output::{self, OutputError, OutputOptions, OutputReport};
use crate::part::{self, PartError, TableKind};
use crate::progress::ProgressSink;
use crate::seal::{self, PlannedAction, SealError, SealOptions, Selection};

mod cow;
mod each_fs;
mod holes;
mod replay;
mod stage;
mod stream;

use cow::SealedDisk;
use each_fs::{Outcome, State, staging_dir};

#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    #[error("reading the input")]
    Read(#[source] DiskError),
    #[error("reading the partition table")]
    Part(#[source] PartError),
    #[error("{what}")]
    Fs {
        what: String,
        #[source]
        source: FsError,
    },
    #[error(transparent)]
    Ext4(#[from] Ext4Error),
    /// From the filesystem itself: its errors already name it ("partition 3 (ext4): /etc: ...").
    #[error(transparent)]
    Guest(#[from] FsError),
    #[error(transparent)]
    Seal(#[from] SealError),
    #[error(transparent)]
    Mount(#[from] MountError),
    /// The writer's errors say what they were doing ("writing the output", "creating a
    /// temporary file in DIR"): a context here would repeat it.
    #[error(transparent)]
    Output(#[from] OutputError),
    #[error("{0}")]
    Refused(String),
    /// A private copy of a filesystem (staging, journal replay) could not be made or read.
    #[error("{context}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
    #[error("offset too large for this platform")]
    TooLarge,
    #[error(transparent)]
    Time(#[from] clock::OutOfRange),
    /// A root hook (`build`'s customize steps) failed on this filesystem; the caller names
    /// the stage, the hook's error the step.
    #[error("{what}")]
    Customize {
        what: String,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

impl ImageError {
    pub fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        ImageError::Io {
            context: context.into(),
            source,
        }
    }
}

/// Work done on the root filesystem (for `cloudseal build`: customize).
pub type RootHook<'a> =
    &'a mut dyn FnMut(&mut dyn GuestFsMut) -> Result<(), Box<dyn std::error::Error + Send + Sync>>;

/// Hooks around sealing the root filesystem; not run in a dry run.
#[derive(Default)]
pub struct RootHooks<'a> {
    /// After sealing: what a recipe adds (an SSH key) must not be swept away as host state.
    pub after_seal: Option<RootHook<'a>>,
}

/// How to seal an image.
#[derive(Debug, Clone)]
pub struct SealImageOptions {
    pub selection: Selection,
    pub seal: SealOptions,
    pub output: OutputOptions,
    pub open: OpenOptions,
    /// Plan only: report what would change; no output.
    pub dry_run: bool,
    /// A journal that needs recovery is replayed (e2fsck -fy on a private copy of the
    /// filesystem, next to the output) instead of refused.
    pub replay_journal: bool,
    /// Userspace (ext2/3/4) or kernel mounts (root only) for each filesystem.
    pub backend: Backend,
    /// Every time written into an ext2/3/4 or vfat filesystem (seconds since the epoch,
    /// SOURCE_DATE_EPOCH); `None`: the root filesystem's own last write time (see
    /// [`crate::fs::clock`]). Never the clock: the same input gives the same bytes.
    pub timestamp: Option<i64>,
}

/// What happened to one partition (or the bare filesystem).
#[derive(Debug, Clone, serde::Serialize)]
pub struct FsReport {
    pub partition: u32,
    pub start: u64,
    pub size: u64,
    pub kind: FsKind,
    /// How it was opened: "userspace", "mount", or "none" (left as it is).
    pub backend: &'static str,
    /// Mount backend on btrfs: the subvolume holding the root and those attached under it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub layout: Option<Layout>,
    /// The guest's OS, when this is the root filesystem that was sealed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub os: Option<OsInfo>,
    /// Every action planned, in order (what `--dry-run` prints).
    pub planned: Vec<PlannedAction>,
    /// What was changed (absent in a dry run and on filesystems that were not sealed).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub changes: Option<seal::Report>,
    /// Free blocks turned into zeros (holes in the output), in bytes.
    pub punched_bytes: u64,
    /// Why nothing (or only sparsify) was done here.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// Seconds spent in each phase.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Timings {
    pub seal: f64,
    pub output: f64,
    pub total: f64,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct ImageReport {
    pub input: PathBuf,
    pub input_format: ImageFormat,
    pub virtual_size: u64,
    pub dry_run: bool,
    pub table: TableKind,
    /// The partitions and what they hold, as `inspect` reports them; the root and its OS
    /// are the ones sealed (an xfs or btrfs root too, through a mount).
    pub survey: Survey,
    pub filesystems: Vec<FsReport>,
    /// Space outside the partitions turned into zeros, in bytes.
    pub unpartitioned_punched: u64,
    /// Bytes of filesystem metadata and files that the seal rewrote.
    pub written_bytes: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub output: Option<OutputReport>,
    pub timings: Timings,
}

fn secs(d: Duration) -> f64 {
    d.as_secs_f64()
}

fn label(table: TableKind, number: u32) -> String {
    match table {
        TableKind::None => "the filesystem".to_string(),
        _ => format!("partition {number}"),
    }
}

/// Seal `input` into `output` (ignored with `dry_run`).
pub fn seal_image(
    input: &Path,
    output: Option<&Path>,
    opts: &SealImageOptions,
    progress: &dyn ProgressSink,
) -> Result<ImageReport, ImageError> {
    let outputs: Vec<(&Path, &OutputOptions)> =
        output.map(|o| (o, &opts.output)).into_iter().collect();
    let (mut report, written) =
        process_image(input, &outputs, opts, RootHooks::default(), progress)?;
    report.output = written.into_iter().next();
    Ok(report)
}

/// The whole pipeline, for `cloudseal seal` and `cloudseal build`: seal the root filesystem
/// between `hooks` (not run in a dry run), then write every output from the one sealed view
/// (`opts.output` is not used). Returns the report and each output's report, in order.
pub fn process_image(
    input: &Path,
    outputs: &[(&Path, &OutputOptions)],
    opts: &SealImageOptions,
    mut hooks: RootHooks<'_>,
    progress: &dyn ProgressSink,
) -> Result<(ImageReport, Vec<OutputReport>), ImageError> {
    let started = Instant::now();
    clock::check(opts.timestamp)?;
    let dev: Arc<dyn BlockDev> =
        Arc::from(disk::open_image(input, &opts.open).map_err(ImageError::Read)?);
    if !opts.dry_run && outputs.is_empty() {
        return Err(ImageError::Refused("an output path is needed".into()));
    }
    for (o, _) in outputs {
        output::check_not_same_file(input, o)?;
    }
    let table = part::read_table(dev.as_ref()).map_err(ImageError::Part)?;
    let survey = survey(dev.as_ref(), table)?;
    let table_kind = survey.partition_table.kind;
    let found = &survey.partitions;

    let mut report = ImageReport {
        input: input.to_path_buf(),
        input_format: dev.format(),
        virtual_size: dev.size(),
        dry_run: opts.dry_run,
        table: table_kind,
        survey: survey.clone(),
        filesystems: Vec::new(),
        unpartitioned_punched: 0,
        written_bytes: 0,
        output: None,
        timings: Timings::default(),
    };

    let mut st = State {
        dev: Arc::clone(&dev),
        opts,
        staging: staging_dir(outputs),
        sealed_root: false,
        holes: Vec::new(),
        written: Vec::new(),
        replaced: Vec::new(),
        unmounted: None,
        deferring: true,
        fstab: Vec::new(),
        root_os: OsInfo::default(),
        time: opts.timestamp,
    };
    let t = Instant::now();
    // Root first: other filesystems are sealed where the root's fstab mounts them, so one
    // met before the root is handled again after it.
    let mut deferred = Vec::new();
    for (i, f) in found.iter().enumerate() {
        let (fr, outcome) = seal_one(&mut st, f, table_kind, &mut hooks)?;
        match outcome {
            Outcome::Done => report.filesystems.push(fr),
            Outcome::Deferred => deferred.push(i),
        }
    }
    st.deferring = false;
    for i in deferred {
        let (fr, _) = seal_one(&mut st, &found[i], table_kind, &mut hooks)?;
        report.filesystems.push(fr);
    }
    report.filesystems.sort_by_key(|f| f.start);
    if let Some(root) = report.filesystems.iter().find(|f| f.os.is_some()) {
        report.survey.root = Some(root.partition);
        report.survey.os.clone_from(&root.os);
    }
    report.timings.seal = secs(t.elapsed());

    let spans: Vec<(u64, u64)> = found
        .iter()
        .map(|f| (f.partition.start, f.partition.size))
        .collect();
    let outside = holes::unpartitioned(dev.size(), table_kind, &spans);
    report.unpartitioned_punched = outside.iter().map(|r| r.len).sum();
    let State {
        sealed_root,
        mut holes,
        written,
        replaced,
        unmounted,
        ..
    } = st;
    holes.extend(outside);

    if !sealed_root {
        // The root may well be on the filesystem that could not be mounted: say why.
        if let Some(e) = unmounted {
            return Err(e.into());
        }
        if survey.unrecognised() && disk::reads_as_zeros(dev.as_ref()).map_err(ImageError::Read)? {
            return Err(ImageError::Refused(
                "the disk is empty (no partition table, no filesystem): nothing to seal".into(),
            ));
        }
        // Writing the image unchanged would look like success while every secret stays.
        let hint = match opts.backend {
            Backend::Userspace => " (--backend userspace opens only ext2/3/4)",
            _ => "",
        };
        return Err(ImageError::Refused(format!(
            "no root filesystem (one with /etc/os-release) found: nothing to seal{hint}"
        )));
    }
    let mut outs = Vec::new();
    if !opts.dry_run && !outputs.is_empty() {
        let t = Instant::now();
        let mut sealed = SealedDisk::new(Arc::clone(&dev), holes);
        for (start, len, copy) in replaced {
            sealed.replace(start, len, copy);
        }
        for (start, len, pages) in &written {
            sealed.add_pages(*start, *len, pages);
        }
        report.written_bytes = sealed.written_bytes();
        for (out, out_opts) in outputs {
            outs.push(output::write_image(&sealed, out, out_opts, progress)?);
        }
        report.timings.output = secs(t.elapsed());
    }
    report.timings.total = secs(started.elapsed());
    Ok((report, outs))
}

/// Open one filesystem with the backend that fits it and seal it.
fn seal_one(
    st: &mut State<'_>,
    f: &PartReport,
    table: TableKind,
    hooks: &mut RootHooks<'_>,
) -> Result<(FsReport, Outcome), ImageError> {
    let mut fr = FsReport {
        partition: f.partition.number,
        start: f.partition.start,
        size: f.partition.size,
        kind: f.filesystem.kind,
        backend: "none",
        layout: None,
        os: None,
        planned: Vec::new(),
        changes: None,
        punched_bytes: 0,
        note: None,
    };
    let what_fs = format!(
        "{} ({})",
        label(table, f.partition.number),
        f.filesystem.kind
    );
    let outcome = if st.opts.backend.mounts(f.filesystem.kind) {
        fr.backend = "mount";
        st.mounted(f, &what_fs, &mut fr, hooks)?
    } else if f.filesystem.kind.is_ext() {
        fr.backend = "userspace";
        st.userspace(f, &what_fs, &mut fr, hooks)?
    } else if f.filesystem.kind == FsKind::Vfat {
        fr.backend = "userspace";
        st.userspace_vfat(f, &what_fs, &mut fr, hooks)?
    } else {
        fr.note = Some(match f.filesystem.kind {
            FsKind::Unknown => "nothing recognised: left as is".into(),
            FsKind::Swap => "swap: left as is".into(),
            k if mount::mountable(k) => {
                format!("{k}: left untouched (the userspace backend opens ext2/3/4 and vfat)")
            }
            k => format!("{k}: left untouched (cannot be opened)"),
        });
        Outcome::Done
    };
    Ok((fr, outcome))
}

/// What every partition holds (the survey `inspect` makes); refuse layouts we cannot seal
/// safely.
fn survey(dev: &dyn BlockDev, table: part::PartTable) -> Result<Survey, ImageError> {
    let kind = table.kind;
    let survey = inspect::survey(dev, table).map_err(|e| match e {
        SurveyError::Slice { source, .. } => ImageError::Read(source),
        SurveyError::Detect { number, source } => ImageError::Fs {
            what: label(kind, number),
            source,
        },
    })?;
    for p in &survey.partitions {
        let what = label(kind, p.partition.number);
        match p.filesystem.kind {
            FsKind::LvmPv => {
                return Err(ImageError::Refused(format!(
                    "{what} is an LVM physical volume: LVM guests cannot be sealed yet"
                )));
            }
            FsKind::Luks => {
                return Err(ImageError::Refused(format!(
                    "{what} is LUKS-encrypted: encrypted guests cannot be sealed"
                )));
            }
            _ => {}
        }
    }
    Ok(survey)
}
