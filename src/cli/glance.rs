//! `cloudseal upload` and `cloudseal images`: parse and print; `glance::publish` does the
//! work. [`GlanceOpts`] is also flattened into `seal`.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Mutex;

use anyhow::{Context, bail};
use clap::{ArgGroup, Args, Subcommand};
use cloudseal::digest::Digests;
use cloudseal::glance::{
    self, Auth, Glance, ImageOptions, ImageRecord, UploadOptions, UploadOutcome, Visibility,
};
use cloudseal::progress::ProgressSink;
use cloudseal::units::Bytes;
use serde_json::json;

use super::GlobalArgs;

/// `upload`'s flags, also flattened into `seal`: the library's records (a recipe's `[glance]`
/// keys) plus the visibility shorthands.
#[derive(Args, Debug, Clone, Default)]
pub struct GlanceOpts {
    #[command(flatten)]
    pub image: ImageOptions,
    #[command(flatten)]
    pub shorthand: VisibilityFlags,
    #[command(flatten)]
    pub upload: UploadOptions,
    #[command(flatten)]
    pub auth: Auth,
}

/// `--public` for `--visibility public`, ...: command-line only (a recipe says
/// `visibility = "public"`).
#[derive(Args, Debug, Clone, Default)]
#[command(group(ArgGroup::new("visibility-shorthand").args(["public", "private", "shared", "community"])))]
pub struct VisibilityFlags {
    /// Visible to every project (needs the admin role by default policy).
    #[arg(long, conflicts_with = "visibility", help_heading = "Glance")]
    pub public: bool,
    /// Visible to the owner only.
    #[arg(long, conflicts_with = "visibility", help_heading = "Glance")]
    pub private: bool,
    /// Visible to the owner and the projects it is shared with (Glance's default).
    #[arg(long, conflicts_with = "visibility", help_heading = "Glance")]
    pub shared: bool,
    /// Usable by every project, not listed by default.
    #[arg(long, conflicts_with = "visibility", help_heading = "Glance")]
    pub community: bool,
}

impl VisibilityFlags {
    fn visibility(&self) -> Option<Visibility> {
        [
            (self.public, Visibility::Public),
            (self.private, Visibility::Private),
            (self.shared, Visibility::Shared),
            (self.community, Visibility::Community),
        ]
        .into_iter()
        .find_map(|(on, v)| on.then_some(v))
    }
}

/// The process environment, where the OS_* variables come from.
pub(super) fn env(k: &str) -> Option<String> {
    std::env::var(k).ok()
}

impl GlanceOpts {
    /// Log in and upload `file`: what `upload` and `seal --upload` both do. `known` are the
    /// hashes the output writer computed, if any.
    pub fn upload(
        &self,
        g: &GlobalArgs,
        file: &std::path::Path,
        known: Option<&Digests>,
    ) -> anyhow::Result<UploadOutcome> {
        let mut image = self.image.clone();
        if let Some(v) = self.shorthand.visibility() {
            image.visibility = Some(v);
        }
        let opts = UploadOptions {
            cancel: Some(cloudseal::output::interrupt_flag()?),
            ..self.upload.clone()
        };
        let progress = UploadProgress::new(g.quiet);
        Ok(glance::publish(
            &self.auth, &image, &opts, file, known, &env, &progress,
        )?)
    }
}

#[derive(Args, Debug)]
pub struct UploadArgs {
    /// The image file (qcow2 or raw) to register.
    pub file: PathBuf,
    #[command(flatten)]
    pub opts: GlanceOpts,
    /// Print the full image record as JSON instead of the id.
    #[arg(long)]
    pub json: bool,
}

#[derive(Subcommand, Debug)]
pub enum ImagesCommand {
    /// List images (optionally those with one name).
    List {
        #[arg(long)]
        name: Option<String>,
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        auth: Auth,
    },
    /// Change an image: protection and properties.
    Set {
        /// Image name or id (a name shared by several images needs the id).
        image: String,
        #[arg(long, conflicts_with = "unprotected")]
        protected: bool,
        #[arg(long)]
        unprotected: bool,
        #[arg(long = "property", value_name = "KEY=VALUE", value_parser = glance::settings::parse_property)]
        properties: Vec<(String, String)>,
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        auth: Auth,
    },
}

pub fn upload(g: &GlobalArgs, a: UploadArgs) -> anyhow::Result<ExitCode> {
    if !a.file.is_file() {
        bail!("{} is not a file", a.file.display());
    }
    let out = a.opts.upload(g, &a.file, None)?;
    say_if_unchanged(g, &out);
    print_record(&out.record, a.json)?;
    Ok(ExitCode::SUCCESS)
}

/// Say on stderr when `--if-changed` found the content in Glance already (`upload` and
/// `seal --upload`): the id printed is then the existing image's.
pub(super) fn say_if_unchanged(g: &GlobalArgs, out: &UploadOutcome) {
    if !out.uploaded && !g.quiet {
        eprintln!(
            "unchanged: image {} ({}) already holds this content; nothing uploaded",
            out.record.id(),
            out.record.name()
        );
    }
}

fn print_record(rec: &ImageRecord, as_json: bool) -> anyhow::Result<()> {
    if as_json {
        println!("{}", serde_json::to_string_pretty(rec)?);
    } else {
        println!("{}", rec.id());
    }
    Ok(())
}

pub fn images(_g: &GlobalArgs, c: ImagesCommand) -> anyhow::Result<ExitCode> {
    match c {
        ImagesCommand::List { name, json, auth } => {
            let client = auth.connect(&env)?;
            let filters: Vec<(&str, &str)> =
                name.as_deref().map(|n| ("name", n)).into_iter().collect();
            let list = client.list(&filters)?;
            if json {
                println!("{}", serde_json::to_string_pretty(&list)?);
            } else {
                for r in &list {
                    println!(
                        "{}  {:<8}  {:<9}  {:>12}  {}",
                        r.id(),
                        r.status(),
                        r.visibility(),
                        r.size()
                            .map(|s| s.to_string())
                            .unwrap_or_else(|| "-".into()),
                        r.name()
                    );
                }
            }
        }
        ImagesCommand::Set {
            image,
            protected,
            unprotected,
            properties,
            json,
            auth,
        } => {
            if !protected && !unprotected && properties.is_empty() {
                bail!("nothing to change: give --protected, --unprotected or --property");
            }
            let client = auth.connect(&env)?;
            let rec = resolve_image(&client, &image)?;
            let mut ops = Vec::new();
            if protected || unprotected {
                ops.push(json!({"op": "replace", "path": "/protected", "value": protected}));
            }
            for (k, v) in &properties {
                let op = if rec.raw.contains_key(k) {
                    "replace"
                } else {
                    "add"
                };
                ops.push(json!({"op": op, "path": format!("/{k}"), "value": v}));
            }
            let rec = client
                .patch(rec.id(), &serde_json::Value::Array(ops))
                .with_context(|| format!("changing image {image}"))?;
            print_record(&rec, json)?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// An id, or a name that only one visible image has.
fn resolve_image(client: &Glance, image: &str) -> anyhow::Result<ImageRecord> {
    if glance::images::looks_like_uuid(image) {
        match client.get(image) {
            Ok(r) => return Ok(r),
            Err(e) if e.status() == Some(404) => {}
            Err(e) => return Err(e.into()),
        }
    }
    let found = client.list(&[("name", image)])?;
    match found.len() {
        0 => bail!("no image named or with id {image}"),
        1 => Ok(found.into_iter().next().context("image list")?),
        n => {
            let ids: Vec<&str> = found.iter().map(|r| r.id()).collect();
            bail!(
                "{n} images are named {image} ({}): give the id instead",
                ids.join(", ")
            )
        }
    }
}

/// Upload progress: a bar on a terminal, a line per 10% otherwise, nothing with --quiet.
pub(super) struct UploadProgress {
    bar: Option<indicatif::ProgressBar>,
    plain: bool,
    /// The label and the last tenth printed.
    state: Mutex<(String, u64, u64)>,
}

impl UploadProgress {
    pub(super) fn new(quiet: bool) -> UploadProgress {
        let tty = std::io::stderr().is_terminal();
        let bar = (tty && !quiet).then(|| {
            let b = indicatif::ProgressBar::new(0);
            b.set_style(
                indicatif::ProgressStyle::with_template(
                    "{msg} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
                )
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
                .progress_chars("=> "),
            );
            b
        });
        UploadProgress {
            bar,
            plain: !tty && !quiet,
            state: Mutex::new((String::new(), 0, u64::MAX)),
        }
    }
}

impl ProgressSink for UploadProgress {
    fn start(&self, label: &str, total: u64) {
        if let Some(b) = &self.bar {
            b.set_message(label.to_string());
            b.set_length(total);
        }
        if let Ok(mut st) = self.state.lock() {
            *st = (label.to_string(), total, u64::MAX);
        }
    }

    fn set_position(&self, done: u64) {
        if let Some(b) = &self.bar {
            b.set_position(done);
            return;
        }
        let Ok(mut st) = self.state.lock() else {
            return;
        };
        let (label, total, last_tenth) = &mut *st;
        if self.plain && *total > 0 {
            let tenth = done.saturating_mul(10) / *total;
            if tenth != *last_tenth {
                *last_tenth = tenth;
                eprintln!(
                    "{label}: {}% ({:.1} of {:.1} MiB)",
                    tenth * 10,
                    Bytes(done).mib(),
                    Bytes(*total).mib()
                );
            }
        }
    }

    fn finish(&self) {
        if let Some(b) = &self.bar {
            b.finish_and_clear();
        }
    }
}
