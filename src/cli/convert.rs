//! `cloudseal convert`.

use std::process::ExitCode;

use clap::Args;

use super::GlobalArgs;

#[derive(Args, Debug)]
pub struct ConvertArgs {}

pub fn run(_g: &GlobalArgs, _a: ConvertArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!("`cloudseal convert` is not implemented yet")
}
