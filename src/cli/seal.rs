//! `cloudseal seal`.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::Args;

use cloudseal::disk::OpenOptions;
use cloudseal::fs::mount::Backend;
use cloudseal::output::{self, OutputOptions, OutputSpec};
use cloudseal::pipeline::{self, ImageReport, SealImageOptions};
use cloudseal::progress::Progress;
use cloudseal::seal::select::SelectArgs;
use cloudseal::seal::{SealOptions, Selection};
use cloudseal::units::Bytes;

use super::GlobalArgs;

#[derive(Args, Debug)]
pub struct SealArgs {
    /// Input image (raw or qcow2, detected by content). Never modified.
    pub input: PathBuf,
    /// Output file; written to a temporary next to it and renamed when complete.
    #[arg(short, long, required_unless_present = "dry_run")]
    pub output: Option<PathBuf>,
    /// Format, compression, cluster size, checksums: as for `convert`.
    #[command(flatten)]
    pub spec: OutputSpec,
    /// Replace an existing output file.
    #[arg(short, long)]
    pub force: bool,
    /// Compression threads (default: one per core). The output does not depend on it.
    #[arg(long, default_value_t = 0)]
    pub threads: usize,
    #[command(flatten)]
    pub select: SelectArgs,
    #[command(flatten)]
    pub options: SealOptions,
    /// When a journal needs recovery, replay it with `e2fsck -fy` on a private copy of that
    /// filesystem (next to the output) instead of refusing. The input is not touched.
    #[arg(long)]
    pub replay_journal: bool,
    /// How filesystems are opened: `auto` seals ext2/3/4 in userspace (no root needed) and
    /// mounts xfs, btrfs and vfat through loop devices (root); `userspace` never mounts;
    /// `mount` mounts every filesystem, ext2/3/4 too (a cross-check of the userspace path).
    #[arg(long, value_enum, default_value = "auto")]
    pub backend: BackendArg,
    /// Time (seconds since the epoch) of every file, directory and superblock the seal
    /// writes; default: the root filesystem's last write time, so the same input gives the
    /// same output bytes (as `cloudseal build --timestamp`).
    #[arg(long, env = "SOURCE_DATE_EPOCH", value_name = "SECONDS")]
    pub timestamp: Option<i64>,
    /// Only show what would be done: nothing is written.
    #[arg(long)]
    pub dry_run: bool,
    /// Print the report as JSON on stdout.
    #[arg(long)]
    pub json: bool,
    /// Register the sealed output with OpenStack Glance (needs --name; see the Glance options).
    #[arg(long, requires = "name", conflicts_with = "dry_run")]
    pub upload: bool,
    #[command(flatten)]
    pub glance: super::glance::GlanceOpts,
}

/// `--backend` (shared with `build`).
#[derive(clap::ValueEnum, Clone, Copy, Debug)]
pub enum BackendArg {
    Auto,
    Userspace,
    Mount,
}

impl From<BackendArg> for Backend {
    fn from(b: BackendArg) -> Backend {
        match b {
            BackendArg::Auto => Backend::Auto,
            BackendArg::Userspace => Backend::Userspace,
            BackendArg::Mount => Backend::Mount,
        }
    }
}

pub fn run(g: &GlobalArgs, a: SealArgs) -> anyhow::Result<ExitCode> {
    let selection = a.select.selection();
    warn_identity_kept(&selection)?;
    let out_opts = OutputOptions {
        force: a.force,
        threads: a.threads,
        cancel: Some(output::interrupt_flag()?),
        ..a.spec.options()
    };
    out_opts.validate()?;
    let opts = SealImageOptions {
        selection,
        seal: a.options.clone(),
        output: out_opts,
        open: OpenOptions::default(),
        dry_run: a.dry_run,
        replay_journal: a.replay_journal,
        backend: a.backend.into(),
        timestamp: a.timestamp,
    };
    let progress = Progress::for_stderr(g.quiet || a.json);
    let output = if a.dry_run { None } else { a.output.as_deref() };
    let report = pipeline::seal_image(&a.input, output, &opts, &progress)
        .with_context(|| format!("sealing {}", a.input.display()))?;
    if a.spec.checksum_file
        && let Some(out) = &report.output
    {
        output::spec::write_checksum_files(out)?;
    }
    if a.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else if !g.quiet {
        print_report(&report);
    }
    if a.upload
        && let Some(out) = &report.output
    {
        // The writer's digests let Glance's checksum and os_hash_value be verified
        // without reading the output again.
        let up = a.glance.upload(g, &out.path, out.checksums.as_ref())?;
        super::glance::say_if_unchanged(g, &up);
        if a.json {
            println!("{}", serde_json::to_string_pretty(&up.record)?);
        } else {
            println!("{}", up.record.id());
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Resolve the selection and warn on stderr when it leaves an instance's identity in the
/// image (shared by `seal` and `build`).
pub(super) fn warn_identity_kept(selection: &Selection) -> anyhow::Result<()> {
    for (op, kept) in selection.identity_left_out()? {
        eprintln!("cloudseal: warning: {op} is not selected: {kept} will stay in the image");
    }
    Ok(())
}

fn print_report(r: &ImageReport) {
    if r.dry_run {
        // What is on the disk, as `inspect` shows it, before what would change.
        print!("{}", super::inspect::survey_text(&r.survey));
    }
    for f in &r.filesystems {
        let os =
            f.os.as_ref()
                .map(|o| format!(", root: {}", o.pretty_name))
                .unwrap_or_default();
        let how = if f.backend == "mount" {
            ", mounted"
        } else {
            ""
        };
        println!("partition {} ({}{how}{os})", f.partition, f.kind);
        if let Some(n) = &f.note {
            println!("  {n}");
        }
        match (&f.changes, r.dry_run) {
            (Some(c), _) => {
                for line in c.to_string().lines() {
                    println!("  {line}");
                }
            }
            (None, true) => {
                for p in &f.planned {
                    println!("  would {p}");
                }
            }
            (None, false) => {}
        }
        if !r.dry_run && f.backend != "none" {
            let punched = Bytes(f.punched_bytes).mib();
            println!("  punched {punched:.1} MiB of free blocks");
        }
    }
    if r.dry_run {
        println!("dry run: nothing was written");
        return;
    }
    let outside = Bytes(r.unpartitioned_punched).mib();
    println!("punched {outside:.1} MiB outside the partitions");
    if let Some(o) = &r.output {
        println!(
            concat!(
                "wrote {} ({}): virtual {:.1} MiB, file {:.1} MiB, ",
                "allocated {:.1} MiB, {:.1} s in all"
            ),
            o.path.display(),
            o.format,
            Bytes(o.virtual_size).mib(),
            Bytes(o.file_size).mib(),
            Bytes(o.allocated_size).mib(),
            r.timings.total
        );
        if let Some(c) = &o.checksums {
            println!("sha256 {}", c.sha256);
        }
    }
}
