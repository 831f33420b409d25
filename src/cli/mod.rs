//! Command-line interface: clap types and one function per subcommand. The only place that prints.

use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

mod build;
mod convert;
mod generate;
mod glance;
mod inspect;
mod ops;
#[cfg(test)]
mod parity;
mod recipe;
mod seal;

#[derive(Parser, Debug)]
#[command(
    name = "cloudseal",
    version,
    // Help and man pages wrap at the terminal, at most 100 columns (also when not a terminal).
    max_term_width = 100,
    about = "Build and seal cloud images: strip host state, sparsify, convert, upload",
    long_about = "cloudseal turns a base disk image (qcow2 or raw) into a sealed cloud image: \
        host-specific state (SSH host keys, machine-id, leases, logs, ...) removed, free space \
        turned into holes, written as qcow2 or raw, and optionally registered with OpenStack \
        Glance. ext2/3/4 guests are edited in userspace without root."
)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Args, Debug, Clone)]
pub struct GlobalArgs {
    /// More log output (-v info, -vv debug, -vvv trace).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// No progress and no informational output.
    #[arg(short, long, global = true)]
    pub quiet: bool,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Show an image's format, partitions, filesystems, OS and host-specific state.
    Inspect(inspect::InspectArgs),
    /// Convert an image to qcow2 (optionally compressed) or sparse raw.
    Convert(convert::ConvertArgs),
    /// Seal an image: remove host state, sparsify, write the output, optionally upload.
    Seal(seal::SealArgs),
    /// List the sealing operations with their defaults.
    Ops(ops::OpsArgs),
    /// Upload an existing image file to OpenStack Glance.
    Upload(glance::UploadArgs),
    /// Small conveniences on Glance images (list, set).
    #[command(subcommand)]
    Images(glance::ImagesCommand),
    /// Build an image from a recipe: fetch, customize, seal, sparsify, convert, upload.
    Build(build::BuildArgs),
    /// Work with recipes without building (check).
    #[command(subcommand)]
    Recipe(recipe::RecipeCommand),
    /// Generate man pages and shell completions (bash, zsh, fish, ...) from this program.
    #[command(subcommand)]
    Generate(generate::GenerateCommand),
}

pub fn init_logging(g: &GlobalArgs) {
    let level = match (g.quiet, g.verbose) {
        (true, _) => log::LevelFilter::Error,
        (false, 0) => log::LevelFilter::Warn,
        (false, 1) => log::LevelFilter::Info,
        (false, 2) => log::LevelFilter::Debug,
        (false, _) => log::LevelFilter::Trace,
    };
    // ureq_proto traces raw request bytes (auth bodies, X-Auth-Token): never below debug.
    let http_level = level.min(log::LevelFilter::Debug);
    let fat_level = if g.verbose > 0 {
        level
    } else {
        log::LevelFilter::Error
    };
    env_logger::Builder::new()
        .filter_level(level)
        .filter_module("ureq", http_level)
        .filter_module("ureq_proto", http_level)
        .filter_module("rustls", http_level)
        // fatfs warns about legal BPB values mkfs.vfat writes (reserved sectors != 1).
        .filter_module("fatfs", fat_level)
        .format_timestamp(None)
        .init();
}

pub fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let g = cli.global;
    match cli.command {
        Command::Inspect(a) => inspect::run(&g, a),
        Command::Convert(a) => convert::run(&g, a),
        Command::Seal(a) => seal::run(&g, a),
        Command::Ops(a) => ops::run(&g, a),
        Command::Upload(a) => glance::upload(&g, a),
        Command::Images(c) => glance::images(&g, c),
        Command::Build(a) => build::run(&g, a),
        Command::Recipe(c) => recipe::run(&g, c),
        Command::Generate(c) => generate::run(&g, c),
    }
}
