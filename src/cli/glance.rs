//! `cloudseal upload` and `cloudseal images`.

use std::process::ExitCode;

use clap::{Args, Subcommand};

use super::GlobalArgs;

#[derive(Args, Debug)]
pub struct UploadArgs {}

#[derive(Subcommand, Debug)]
pub enum ImagesCommand {
    /// List images.
    List,
}

pub fn upload(_g: &GlobalArgs, _a: UploadArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!("`cloudseal upload` is not implemented yet")
}

pub fn images(_g: &GlobalArgs, _c: ImagesCommand) -> anyhow::Result<ExitCode> {
    anyhow::bail!("`cloudseal images` is not implemented yet")
}
