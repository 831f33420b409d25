//! `cloudseal ops`: the sealing operations, their defaults and summaries.

use std::process::ExitCode;

use clap::Args;

use cloudseal::seal::ops::REGISTRY;

use super::GlobalArgs;

#[derive(Args, Debug)]
#[command(after_long_help = SELECTION_HELP)]
pub struct OpsArgs {
    /// Print JSON: [{"name", "default", "summary"}].
    #[arg(long)]
    pub json: bool,
}

const SELECTION_HELP: &str = "\
Choosing operations (seal, build, and a recipe's [seal] keys of the same names):
  --operations LIST  exactly LIST (`defaults` and `all` expand, `-name` drops one)
  --enable LIST      add to the defaults, or to --operations when given
  --disable LIST     remove from the selection

Unlike virt-sysprep, where --enable is an alias of --operations: there `--enable
user-account` runs that operation alone and leaves the SSH host keys and machine-id in
the image; here it runs the defaults plus user-account. For virt-sysprep's meaning, write
`--operations user-account`. A selection without ssh-hostkeys or machine-id is warned about.";

#[derive(serde::Serialize)]
struct OpRow {
    name: &'static str,
    default: bool,
    summary: &'static str,
}

pub fn run(_g: &GlobalArgs, a: OpsArgs) -> anyhow::Result<ExitCode> {
    let rows: Vec<OpRow> = REGISTRY
        .iter()
        .map(|op| OpRow {
            name: op.name(),
            default: op.default_enabled(),
            summary: op.summary(),
        })
        .collect();
    if a.json {
        println!("{}", serde_json::to_string_pretty(&rows)?);
        return Ok(ExitCode::SUCCESS);
    }
    let width = rows.iter().map(|r| r.name.len()).max().unwrap_or(0);
    for r in &rows {
        let star = if r.default { '*' } else { ' ' };
        println!("{:width$} {star} {}", r.name, r.summary);
    }
    println!("\n* = enabled by default; choose with --operations, --enable, --disable");
    Ok(ExitCode::SUCCESS)
}
