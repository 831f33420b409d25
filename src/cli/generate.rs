//! `cloudseal generate`: man pages and shell completions from the clap definitions, so they
//! never drift from `--help`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use clap::{Args, CommandFactory, Subcommand};
use clap_complete::Shell;

use super::{Cli, GlobalArgs};

#[derive(Subcommand, Debug)]
pub enum GenerateCommand {
    /// Write a man page for cloudseal and for each subcommand (cloudseal-seal.1, ...) into DIR.
    ///
    /// Read one with `man -l DIR/cloudseal-seal.1`, or install DIR into a man1 directory of
    /// your MANPATH and run `man cloudseal-seal`.
    Man(ManArgs),
    /// Print the completion script for SHELL on stdout.
    ///
    /// bash: `cloudseal generate completions bash > /etc/bash_completion.d/cloudseal`;
    /// zsh: into a directory of $fpath as `_cloudseal`; fish: into
    /// ~/.config/fish/completions/cloudseal.fish.
    Completions(CompletionsArgs),
}

#[derive(Args, Debug)]
pub struct ManArgs {
    /// Directory for the pages (created if missing).
    pub dir: PathBuf,
}

#[derive(Args, Debug)]
pub struct CompletionsArgs {
    #[arg(value_enum)]
    pub shell: Shell,
}

pub fn run(g: &GlobalArgs, c: GenerateCommand) -> anyhow::Result<ExitCode> {
    match c {
        GenerateCommand::Man(a) => {
            std::fs::create_dir_all(&a.dir)
                .with_context(|| format!("creating {}", a.dir.display()))?;
            let mut cmd = Cli::command();
            cmd.build();
            let written = write_pages(&cmd, &a.dir)?;
            if !g.quiet {
                eprintln!("wrote {written} man pages into {}", a.dir.display());
            }
        }
        GenerateCommand::Completions(a) => {
            let mut cmd = Cli::command();
            clap_complete::generate(a.shell, &mut cmd, "cloudseal", &mut std::io::stdout());
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The page of `cmd`, then one per subcommand, recursively. After `build()` clap names each
/// subcommand by its path (`cloudseal-images-list`), which is the page's name.
fn write_pages(cmd: &clap::Command, dir: &Path) -> anyhow::Result<usize> {
    let name = cmd.get_display_name().unwrap_or(cmd.get_name());
    let page = dir.join(format!("{name}.1"));
    let mut buf = Vec::new();
    clap_mangen::Man::new(cmd.clone())
        .render(&mut buf)
        .with_context(|| format!("rendering {}", page.display()))?;
    std::fs::write(&page, buf).with_context(|| format!("writing {}", page.display()))?;
    let mut n = 1;
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        if sub.get_name() != "help" {
            n += write_pages(sub, dir)?;
        }
    }
    Ok(n)
}
