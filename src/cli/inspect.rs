//! `cloudseal inspect`.

use std::process::ExitCode;

use clap::Args;

use super::GlobalArgs;

#[derive(Args, Debug)]
pub struct InspectArgs {}

pub fn run(_g: &GlobalArgs, _a: InspectArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!("`cloudseal inspect` is not implemented yet")
}
