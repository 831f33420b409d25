//! `cloudseal convert`.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::Args;

use super::GlobalArgs;
use cloudseal::disk::{OpenOptions, open_image};
use cloudseal::output::{self, OutputOptions, OutputReport, OutputSpec, check_not_same_file};
use cloudseal::progress::Progress;
use cloudseal::units::Bytes;

#[derive(Args, Debug)]
pub struct ConvertArgs {
    /// Input image (raw or qcow2, detected by content).
    pub input: PathBuf,
    /// Output file; written to a temporary next to it and renamed when complete.
    pub output: PathBuf,
    #[command(flatten)]
    pub spec: OutputSpec,
    /// Replace an existing output file.
    #[arg(short, long)]
    pub force: bool,
    /// Compression threads (default: one per core). The output does not depend on it.
    #[arg(long, default_value_t = 0)]
    pub threads: usize,
    /// Print a JSON summary (sizes, hashes, time) on stdout at the end.
    #[arg(long)]
    pub json: bool,
}

pub fn run(g: &GlobalArgs, a: ConvertArgs) -> anyhow::Result<ExitCode> {
    let opts = OutputOptions {
        force: a.force,
        threads: a.threads,
        cancel: Some(output::interrupt_flag()?),
        ..a.spec.options()
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
    if a.spec.checksum_file {
        output::spec::write_checksum_files(&report)?;
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
