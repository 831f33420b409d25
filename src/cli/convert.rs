//! `cloudseal convert`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use clap::Args;

use super::GlobalArgs;
use cloudseal::disk::{OpenOptions, open_image};
use cloudseal::output::{
    self, Codec, Compression, OutputFormat, OutputOptions, OutputReport, check_not_same_file,
};
use cloudseal::progress::Progress;
use cloudseal::units::Bytes;

#[derive(Args, Debug)]
pub struct ConvertArgs {
    /// Input image (raw or qcow2, detected by content).
    pub input: PathBuf,
    /// Output file; written to a temporary next to it and renamed when complete.
    pub output: PathBuf,
    /// Output format.
    #[arg(short = 'O', long = "format", value_enum, default_value = "qcow2")]
    pub format: FormatArg,
    /// Compress qcow2 clusters with this codec.
    #[arg(short = 'c', long, value_name = "zlib|zstd")]
    pub compress: Option<Codec>,
    /// Compression level (zlib 0-9, default 9: zlib-rs at 9 compresses like qemu-img's zlib at
    /// its default 6; zstd 1-22, default 3 as qemu-img).
    #[arg(long, requires = "compress")]
    pub level: Option<i32>,
    /// qcow2 cluster size: a power of two from 512 to 2M (suffixes K and M allowed).
    #[arg(long, value_parser = parse_size, default_value = "64K")]
    pub cluster_size: u32,
    /// Replace an existing output file.
    #[arg(short, long)]
    pub force: bool,
    /// Compression threads (default: one per core). The output does not depend on it.
    #[arg(long, default_value_t = 0)]
    pub threads: usize,
    /// Also write OUTPUT.sha256, OUTPUT.sha512 and OUTPUT.md5 in `sha256sum -c` format.
    #[arg(long, conflicts_with = "no_checksums")]
    pub checksum_file: bool,
    /// Skip computing the sha256, sha512 and md5 of the output.
    #[arg(long)]
    pub no_checksums: bool,
    /// Print a JSON summary (sizes, hashes, time) on stdout at the end.
    #[arg(long)]
    pub json: bool,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug)]
pub enum FormatArg {
    Qcow2,
    Raw,
}

fn parse_size(s: &str) -> Result<u32, String> {
    let (num, mult) = match s.chars().last() {
        Some('k' | 'K') => (&s[..s.len() - 1], 1024u64),
        Some('m' | 'M') => (&s[..s.len() - 1], 1024 * 1024),
        _ => (s, 1),
    };
    num.parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(mult))
        .and_then(|n| u32::try_from(n).ok())
        .ok_or_else(|| format!("invalid size {s:?}"))
}

pub fn run(g: &GlobalArgs, a: ConvertArgs) -> anyhow::Result<ExitCode> {
    let format = output_format(a.format);
    let compress = compression(a.compress, a.level);
    let opts = OutputOptions {
        format,
        compress,
        cluster_size: a.cluster_size,
        force: a.force,
        threads: a.threads,
        checksums: !a.no_checksums,
        cancel: Some(output::interrupt_flag()?),
    };
    opts.validate()?;
    check_not_same_file(&a.input, &a.output)?;
    // The disk layer's errors name the file ("opening X: ..."), the writer's say what it was
    // writing: one context for the whole command.
    let src = open_image(&a.input, &OpenOptions::default())
        .with_context(|| format!("converting {}", a.input.display()))?;
    let progress = Progress::for_stderr(g.quiet || a.json);
    let report = output::write_image(src.as_ref(), &a.output, &opts, &progress)
        .with_context(|| format!("converting {}", a.input.display()))?;
    if a.checksum_file {
        write_checksum_files(&report)?;
    }
    if a.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else if !g.quiet {
        print_summary(&report);
    }
    Ok(ExitCode::SUCCESS)
}

fn print_summary(r: &OutputReport) {
    let comp = r
        .compression
        .map(|c| format!(", {} level {}", c.codec, c.level))
        .unwrap_or_default();
    println!(
        "wrote {} ({}{comp}): virtual {} MiB, file {} MiB, allocated {} MiB, {:.1} s",
        r.path.display(),
        r.format,
        Bytes(r.virtual_size).mib(),
        Bytes(r.file_size).mib(),
        Bytes(r.allocated_size).mib(),
        r.duration.as_secs_f64()
    );
    if let Some(c) = &r.checksums {
        println!("sha256 {}", c.sha256);
        println!("sha512 {}", c.sha512);
        println!("md5    {}", c.md5);
    }
}

/// `HASH  NAME` lines next to the output, with the bare file name so `sha256sum -c` works
/// from the output's directory.
fn write_checksum_files(r: &OutputReport) -> anyhow::Result<()> {
    let Some(c) = &r.checksums else {
        return Ok(());
    };
    let name = r
        .path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    for (ext, hash) in [
        ("sha256", &c.sha256),
        ("sha512", &c.sha512),
        ("md5", &c.md5),
    ] {
        let mut p = r.path.clone().into_os_string();
        p.push(".");
        p.push(ext);
        let p = Path::new(&p);
        std::fs::write(p, format!("{hash}  {name}\n"))
            .with_context(|| format!("writing {}", p.display()))?;
    }
    Ok(())
}

/// The writer's format for the `-O` flag (shared with `seal`).
pub(super) fn output_format(f: FormatArg) -> OutputFormat {
    match f {
        FormatArg::Qcow2 => OutputFormat::Qcow2,
        FormatArg::Raw => OutputFormat::Raw,
    }
}

/// `--compress` with an optional `--level` over the codec's default (shared with `seal`).
pub(super) fn compression(codec: Option<Codec>, level: Option<i32>) -> Option<Compression> {
    codec.map(|codec| {
        let mut c = Compression::default_for(codec);
        if let Some(l) = level {
            c.level = l;
        }
        c
    })
}
