//! `cloudseal recipe check`: parse and validate a recipe, listing every problem at once.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Subcommand};

use cloudseal::recipe::{self, VarSource};

use super::GlobalArgs;

#[derive(Subcommand, Debug)]
pub enum RecipeCommand {
    /// Check a recipe without doing anything: syntax, keys, files, names, formats.
    Check(CheckArgs),
}

#[derive(Args, Debug)]
pub struct CheckArgs {
    /// The recipe file (TOML).
    pub recipe: PathBuf,
    /// Set a recipe variable: --var name=value (overrides [vars] and the environment).
    #[arg(long = "var", value_name = "NAME=VALUE")]
    pub vars: Vec<String>,
    /// Print the resolved recipe (or the problems) as JSON.
    #[arg(long)]
    pub json: bool,
    /// Treat warnings (a local base image that does not exist yet) as errors, as `build` does.
    #[arg(long)]
    pub strict: bool,
}

pub fn run(_g: &GlobalArgs, c: RecipeCommand) -> anyhow::Result<ExitCode> {
    let RecipeCommand::Check(a) = c;
    let vars = VarSource::from_args(&a.vars, true).map_err(anyhow::Error::msg)?;
    let loaded = if a.strict {
        recipe::load_strict(&a.recipe, &vars)
    } else {
        recipe::load(&a.recipe, &vars)
    };
    match loaded {
        Ok(loaded) => {
            for w in &loaded.warnings {
                eprintln!("cloudseal: warning: {}: {w}", a.recipe.display());
            }
            if a.json {
                println!("{}", serde_json::to_string_pretty(&loaded.recipe)?);
            } else {
                let r = &loaded.recipe;
                println!(
                    "{}: ok ({} customize step(s), {} output(s){})",
                    a.recipe.display(),
                    r.customize.len(),
                    r.output.len(),
                    if r.glance.is_some() { ", upload" } else { "" }
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            if a.json {
                println!("{}", serde_json::to_string_pretty(&e.problems)?);
            }
            eprintln!("cloudseal: error: {e}");
            Ok(ExitCode::FAILURE)
        }
    }
}
