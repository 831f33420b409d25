//! `cloudseal ops`.

use std::process::ExitCode;

use clap::Args;

use super::GlobalArgs;

#[derive(Args, Debug)]
pub struct OpsArgs {}

pub fn run(_g: &GlobalArgs, _a: OpsArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!("`cloudseal ops` is not implemented yet")
}
