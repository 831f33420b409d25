//! `cloudseal build RECIPE`: base -> customize -> seal -> sparsify -> outputs -> upload, with
//! a manifest beside the outputs.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::Args;

use cloudseal::glance::Auth;
use cloudseal::output;
use cloudseal::progress::Progress;
use cloudseal::recipe::build::{self, BuildOptions};
use cloudseal::recipe::{self, VarSource};
use cloudseal::seal::Selection;

use super::GlobalArgs;

#[derive(Args, Debug)]
pub struct BuildArgs {
    /// The recipe file (TOML); see recipes/README.md.
    pub recipe: PathBuf,
    /// Set a recipe variable: --var name=value (overrides [vars] and the environment).
    #[arg(long = "var", value_name = "NAME=VALUE")]
    pub vars: Vec<String>,
    /// Check the recipe, fetch the base and print the sealing plan; write nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Replace existing output files.
    #[arg(short, long)]
    pub force: bool,
    /// Compression threads (default: one per core). The outputs do not depend on it.
    #[arg(long, default_value_t = 0)]
    pub threads: usize,
    /// Where downloaded base images are cached.
    #[arg(long, env = "CLOUDSEAL_CACHE", value_name = "DIR")]
    pub cache_dir: Option<PathBuf>,
    /// Timestamp (seconds since the epoch) for every file the build touches; default: the
    /// base filesystem's last write time.
    #[arg(long, env = "SOURCE_DATE_EPOCH", value_name = "SECONDS")]
    pub timestamp: Option<i64>,
    /// Seal with exactly these operations (as `cloudseal seal --operations`), instead of the
    /// recipe's [seal] selection.
    #[arg(long, value_name = "LIST")]
    pub operations: Vec<String>,
    /// Add operations to the recipe's [seal] selection, or to --operations when given (same
    /// syntax as --operations).
    #[arg(long, value_name = "LIST")]
    pub enable: Vec<String>,
    /// Remove operations from the selection (the recipe's, or --operations).
    #[arg(long, value_name = "LIST")]
    pub disable: Vec<String>,
    /// ssh-hostkeys: do not install the unit that recreates missing host keys at every boot
    /// (as `cloudseal seal --no-ssh-keygen-guard`; overrides the recipe's [seal.options]).
    #[arg(long)]
    pub no_ssh_keygen_guard: bool,
    /// How filesystems are opened (as `cloudseal seal --backend`): ext2/3/4 in userspace,
    /// xfs, btrfs and vfat through loop mounts (root).
    #[arg(long, value_enum, default_value = "auto")]
    pub backend: super::seal::BackendArg,
    /// Print the manifest as JSON on stdout.
    #[arg(long)]
    pub json: bool,
    /// Credentials for a recipe's [glance] upload (flags override the recipe's `cloud`).
    #[command(flatten)]
    pub auth: Auth,
}

/// $XDG_CACHE_HOME/cloudseal, else ~/.cache/cloudseal.
fn default_cache() -> PathBuf {
    if let Some(x) = std::env::var_os("XDG_CACHE_HOME") {
        return PathBuf::from(x).join("cloudseal");
    }
    match std::env::var_os("HOME") {
        Some(h) => PathBuf::from(h).join(".cache/cloudseal"),
        None => PathBuf::from(".cloudseal-cache"),
    }
}

pub fn run(g: &GlobalArgs, a: BuildArgs) -> anyhow::Result<ExitCode> {
    let vars = VarSource::from_args(&a.vars, true).map_err(anyhow::Error::msg)?;
    // A build needs the base: a missing one is an error here, not a warning.
    let mut loaded = recipe::load_strict(&a.recipe, &vars)?;
    if a.no_ssh_keygen_guard {
        loaded.recipe.seal.options.no_ssh_keygen_guard = true;
    }
    // --operations replaces the recipe's selection; --enable and --disable change it.
    let mut selection = if a.operations.is_empty() {
        loaded.recipe.seal.selection()
    } else {
        Selection::from_args(&a.operations, &[], &[])
    };
    for l in &a.enable {
        selection = selection.enable(l);
    }
    for l in &a.disable {
        selection = selection.disable(l);
    }
    super::seal::warn_identity_kept(&selection)?;
    let opts = BuildOptions {
        dry_run: a.dry_run,
        cache_dir: a.cache_dir.clone().unwrap_or_else(default_cache),
        force: a.force,
        threads: a.threads,
        timestamp: a.timestamp,
        cancel: Some(output::interrupt_flag()?),
        backend: a.backend.into(),
        selection: Some(selection),
        auth: a.auth.clone(),
    };
    let quiet = g.quiet || a.json;
    let progress = Progress::for_stderr(quiet);
    let mut n = 0;
    let mut on_stage = |s: &str| {
        n += 1;
        if !quiet {
            eprintln!("cloudseal build: [{n}] {s}");
        }
    };
    let res = build::build(&loaded, &opts, &progress, &mut on_stage)
        .with_context(|| format!("building {}", a.recipe.display()))?;
    if a.json {
        println!("{}", serde_json::to_string_pretty(&res.manifest)?);
        return Ok(ExitCode::SUCCESS);
    }
    if quiet {
        return Ok(ExitCode::SUCCESS);
    }
    let m = &res.manifest;
    for s in &m.customize {
        println!(
            "customize {} ({}): {} change(s)",
            s.step,
            s.op,
            s.changes.len()
        );
        for c in &s.changes {
            let kind = serde_json::to_value(c.change)?;
            println!(
                "  {} {}",
                kind.as_str().unwrap_or("changed"),
                cloudseal::fs::name::display(&c.path)
            );
        }
    }
    if a.dry_run {
        print!("{}", super::inspect::survey_text(&res.image.survey));
        for (i, st) in loaded.recipe.customize.iter().enumerate() {
            println!(
                "customize {} ({}, line {}): would run after sealing",
                i + 1,
                st.item.name(),
                st.line
            );
        }
        for f in &res.image.filesystems {
            for p in &f.planned {
                let v = serde_json::to_value(&p.action)?;
                let verb = v["action"].as_str().unwrap_or("change");
                println!("seal {}: would {verb} {}", p.op, p.action.path());
            }
        }
        println!("dry run: customize steps not applied, nothing written");
    } else {
        for op in &m.seal {
            println!("seal {}: {} change(s)", op.op, op.changes.len());
        }
    }
    for o in &m.outputs {
        println!(
            "wrote {} ({}, {} bytes, sha256 {})",
            o.file, o.format, o.size, o.sha256
        );
    }
    if let Some(gl) = &m.glance {
        println!("uploaded to glance: {} ({})", gl.image_id, gl.name);
    }
    if let Some(p) = &res.manifest_path {
        println!("manifest: {}", p.display());
    }
    Ok(ExitCode::SUCCESS)
}
