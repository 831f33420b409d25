//! `cloudseal seal`.

use std::process::ExitCode;

use clap::Args;

use super::GlobalArgs;

#[derive(Args, Debug)]
pub struct SealArgs {}

pub fn run(_g: &GlobalArgs, _a: SealArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!("`cloudseal seal` is not implemented yet")
}
