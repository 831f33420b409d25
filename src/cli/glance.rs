//! `cloudseal upload` and `cloudseal images`; [`GlanceOpts`] is also flattened into `seal`.

use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::{ArgGroup, Args, Subcommand};
use cloudseal::digest::Digests;
use cloudseal::glance::{
    self, AuthConfig, Glance, ImageRecord, ImageSpec, Secret, Settings, UploadOptions,
    UploadOutcome, Visibility, http::Timeouts,
};
use cloudseal::units::Bytes;
use serde_json::json;

use super::GlobalArgs;

/// Where to find the cloud and who we are. Flags override clouds.yaml / OS_* variables.
#[derive(Args, Debug, Clone, Default)]
pub struct AuthArgs {
    /// Cloud in clouds.yaml (+ secure.yaml) to use; without it, the OS_* variables.
    #[arg(long, env = "OS_CLOUD", help_heading = "OpenStack")]
    pub os_cloud: Option<String>,
    /// Keystone URL (OS_AUTH_URL).
    #[arg(long, help_heading = "OpenStack")]
    pub os_auth_url: Option<String>,
    /// password, v3applicationcredential or token (OS_AUTH_TYPE).
    #[arg(long, help_heading = "OpenStack")]
    pub os_auth_type: Option<String>,
    #[arg(long, help_heading = "OpenStack")]
    pub os_username: Option<String>,
    #[arg(long, help_heading = "OpenStack")]
    pub os_user_id: Option<String>,
    /// Password (prefer OS_PASSWORD or secure.yaml: the command line is visible to others).
    #[arg(long, help_heading = "OpenStack")]
    pub os_password: Option<String>,
    #[arg(long, help_heading = "OpenStack")]
    pub os_project_name: Option<String>,
    #[arg(long, help_heading = "OpenStack")]
    pub os_project_id: Option<String>,
    #[arg(long, help_heading = "OpenStack")]
    pub os_user_domain_name: Option<String>,
    #[arg(long, help_heading = "OpenStack")]
    pub os_user_domain_id: Option<String>,
    #[arg(long, help_heading = "OpenStack")]
    pub os_project_domain_name: Option<String>,
    #[arg(long, help_heading = "OpenStack")]
    pub os_project_domain_id: Option<String>,
    /// Domain scope instead of a project.
    #[arg(long, help_heading = "OpenStack")]
    pub os_domain_name: Option<String>,
    #[arg(long, help_heading = "OpenStack")]
    pub os_domain_id: Option<String>,
    /// A pre-issued token (OS_TOKEN).
    #[arg(long, help_heading = "OpenStack")]
    pub os_token: Option<String>,
    #[arg(long, help_heading = "OpenStack")]
    pub os_application_credential_id: Option<String>,
    #[arg(long, help_heading = "OpenStack")]
    pub os_application_credential_name: Option<String>,
    #[arg(long, help_heading = "OpenStack")]
    pub os_application_credential_secret: Option<String>,
    #[arg(long, help_heading = "OpenStack")]
    pub os_region_name: Option<String>,
    /// Endpoint interface: public, internal or admin.
    #[arg(long, help_heading = "OpenStack")]
    pub os_interface: Option<String>,
    /// Glance URL, instead of the one in the service catalog (OS_IMAGE_URL).
    #[arg(long, help_heading = "OpenStack")]
    pub os_image_url: Option<String>,
    /// CA bundle (PEM) to verify TLS with (OS_CACERT).
    #[arg(long, help_heading = "OpenStack")]
    pub os_cacert: Option<PathBuf>,
    /// Do not verify TLS certificates.
    #[arg(long, help_heading = "OpenStack")]
    pub insecure: bool,
    /// Seconds to wait for a TCP connection.
    #[arg(long, default_value_t = 10, help_heading = "OpenStack")]
    pub connect_timeout: u64,
}

impl AuthArgs {
    fn flags(&self) -> Settings {
        let s = |v: &Option<String>| v.clone();
        let secret = |v: &Option<String>| v.clone().map(Secret::new);
        Settings {
            auth_url: s(&self.os_auth_url),
            auth_type: s(&self.os_auth_type),
            username: s(&self.os_username),
            user_id: s(&self.os_user_id),
            password: secret(&self.os_password),
            project_name: s(&self.os_project_name),
            project_id: s(&self.os_project_id),
            user_domain_name: s(&self.os_user_domain_name),
            user_domain_id: s(&self.os_user_domain_id),
            project_domain_name: s(&self.os_project_domain_name),
            project_domain_id: s(&self.os_project_domain_id),
            domain_name: s(&self.os_domain_name),
            domain_id: s(&self.os_domain_id),
            default_domain_id: None,
            token: secret(&self.os_token),
            application_credential_id: s(&self.os_application_credential_id),
            application_credential_name: s(&self.os_application_credential_name),
            application_credential_secret: secret(&self.os_application_credential_secret),
            region_name: s(&self.os_region_name),
            interface: s(&self.os_interface),
            image_url: s(&self.os_image_url),
            cacert: self.os_cacert.clone(),
            insecure: self.insecure.then_some(true),
        }
    }

    /// Resolve the settings and log in.
    pub fn connect(&self) -> anyhow::Result<Glance> {
        let env = |k: &str| std::env::var(k).ok();
        let (settings, source) =
            glance::config::resolve(self.os_cloud.as_deref(), self.flags(), &env)?;
        log::info!("openstack settings from {source}");
        let cfg = AuthConfig::from_settings(settings, &source)?;
        let timeouts = Timeouts {
            connect: Duration::from_secs(self.connect_timeout.max(1)),
            ..Timeouts::default()
        };
        Ok(Glance::connect(&cfg, timeouts)?)
    }
}

/// Image registration options, shared by `upload` and `seal --upload`.
#[derive(Args, Debug, Clone, Default)]
#[command(group(ArgGroup::new("visibility").args(["public", "private", "shared", "community"])))]
pub struct GlanceOpts {
    /// Image name in Glance (names are not unique there).
    #[arg(long, help_heading = "Glance")]
    pub name: Option<String>,
    /// Disk format (default: detected from the file, qcow2 or raw).
    #[arg(long, help_heading = "Glance")]
    pub disk_format: Option<String>,
    #[arg(long, default_value = "bare", help_heading = "Glance")]
    pub container_format: String,
    /// Visible to every project (needs the admin role by default policy).
    #[arg(long, help_heading = "Glance")]
    pub public: bool,
    /// Visible to the owner only.
    #[arg(long, help_heading = "Glance")]
    pub private: bool,
    /// Visible to the owner and the projects it is shared with (Glance's default).
    #[arg(long, help_heading = "Glance")]
    pub shared: bool,
    /// Usable by every project, not listed by default.
    #[arg(long, help_heading = "Glance")]
    pub community: bool,
    /// Protect the image from deletion.
    #[arg(long, help_heading = "Glance")]
    pub protected: bool,
    /// Minimum disk size in GiB.
    #[arg(long, help_heading = "Glance")]
    pub min_disk: Option<u64>,
    /// Minimum RAM in MiB.
    #[arg(long, help_heading = "Glance")]
    pub min_ram: Option<u64>,
    /// A tag (repeatable).
    #[arg(long = "tag", value_name = "TAG", help_heading = "Glance")]
    pub tags: Vec<String>,
    /// A string property KEY=VALUE (repeatable): os_distro, os_version, hw_disk_bus, ...
    #[arg(long = "property", value_name = "KEY=VALUE", value_parser = parse_property, help_heading = "Glance")]
    pub properties: Vec<(String, String)>,
    /// Use the interoperable import flow (/stage + glance-direct) instead of PUT /file.
    #[arg(long, help_heading = "Glance")]
    pub import: bool,
    /// Leave a failed image in Glance instead of deleting it.
    #[arg(long, help_heading = "Glance")]
    pub keep_failed: bool,
    /// Do nothing when an active image with this name, owner and sha512 already exists.
    #[arg(long, help_heading = "Glance")]
    pub if_changed: bool,
    /// Times a failed data upload restarts on a fresh image.
    #[arg(long, default_value_t = 2, help_heading = "Glance")]
    pub retries: u32,
    /// Seconds to wait for the image to become active.
    #[arg(long, default_value_t = 600, help_heading = "Glance")]
    pub wait_timeout: u64,
    #[command(flatten)]
    pub auth: AuthArgs,
}

fn parse_property(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((k, v)) if !k.is_empty() => Ok((k.to_string(), v.to_string())),
        _ => Err(format!("{s:?} is not KEY=VALUE")),
    }
}

impl GlanceOpts {
    pub fn spec(&self, name: &str) -> ImageSpec {
        let visibility = [
            (self.public, Visibility::Public),
            (self.private, Visibility::Private),
            (self.shared, Visibility::Shared),
            (self.community, Visibility::Community),
        ]
        .into_iter()
        .find_map(|(on, v)| on.then_some(v));
        ImageSpec {
            name: name.to_string(),
            disk_format: self.disk_format.clone(),
            container_format: self.container_format.clone(),
            visibility,
            protected: self.protected,
            min_disk: self.min_disk,
            min_ram: self.min_ram,
            tags: self.tags.clone(),
            properties: self.properties.iter().cloned().collect::<BTreeMap<_, _>>(),
        }
    }

    pub fn upload_options(&self) -> UploadOptions {
        UploadOptions {
            import: self.import,
            keep_failed: self.keep_failed,
            if_changed: self.if_changed,
            retries: self.retries,
            wait_timeout: Duration::from_secs(self.wait_timeout),
            cancel: None,
        }
    }

    /// Log in and upload `file`: what `upload` and `seal --upload` both do. `known` are the
    /// hashes the output writer computed, if any.
    pub fn upload(
        &self,
        g: &GlobalArgs,
        file: &std::path::Path,
        known: Option<&Digests>,
    ) -> anyhow::Result<UploadOutcome> {
        let Some(name) = self.name.as_deref().filter(|n| !n.is_empty()) else {
            bail!("--name is required to upload to glance");
        };
        let client = self.auth.connect()?;
        let spec = self.spec(name);
        let mut progress = Progress::new(g, &format!("uploading {}", file.display()));
        let opts = UploadOptions {
            cancel: Some(cloudseal::output::interrupt_flag()?),
            ..self.upload_options()
        };
        let out = glance::upload_file(&client, file, &spec, &opts, known, &mut |d, t| {
            progress.update(d, t)
        })?;
        progress.finish();
        Ok(out)
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
        auth: AuthArgs,
    },
    /// Change an image: protection and properties.
    Set {
        /// Image name or id (a name shared by several images needs the id).
        image: String,
        #[arg(long, conflicts_with = "unprotected")]
        protected: bool,
        #[arg(long)]
        unprotected: bool,
        #[arg(long = "property", value_name = "KEY=VALUE", value_parser = parse_property)]
        properties: Vec<(String, String)>,
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        auth: AuthArgs,
    },
}

pub fn upload(g: &GlobalArgs, a: UploadArgs) -> anyhow::Result<ExitCode> {
    if !a.file.is_file() {
        bail!("{} is not a file", a.file.display());
    }
    let out = a.opts.upload(g, &a.file, None)?;
    if !out.uploaded && !g.quiet {
        eprintln!(
            "unchanged: image {} ({}) already holds this content; nothing uploaded",
            out.record.id(),
            out.record.name()
        );
    }
    print_record(&out.record, a.json)?;
    Ok(ExitCode::SUCCESS)
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
            let client = auth.connect()?;
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
            let client = auth.connect()?;
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
struct Progress {
    bar: Option<indicatif::ProgressBar>,
    plain: bool,
    label: String,
    last_tenth: u64,
}

impl Progress {
    fn new(g: &GlobalArgs, label: &str) -> Progress {
        let tty = std::io::stderr().is_terminal();
        let bar = (tty && !g.quiet).then(|| {
            let b = indicatif::ProgressBar::new(0);
            b.set_style(
                indicatif::ProgressStyle::with_template(
                    "{msg} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
                )
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
                .progress_chars("=> "),
            );
            b.set_message(label.to_string());
            b
        });
        Progress {
            bar,
            plain: !tty && !g.quiet,
            label: label.to_string(),
            last_tenth: u64::MAX,
        }
    }

    fn update(&mut self, done: u64, total: u64) {
        if let Some(b) = &self.bar {
            b.set_length(total);
            b.set_position(done);
        } else if self.plain && total > 0 {
            let tenth = done.saturating_mul(10) / total;
            if tenth != self.last_tenth {
                self.last_tenth = tenth;
                eprintln!(
                    "{}: {}% ({:.1} of {:.1} MiB)",
                    self.label,
                    tenth * 10,
                    Bytes(done).mib(),
                    Bytes(total).mib()
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
