//! `cloudseal build`: fetch and verify the base, then one pass of the image pipeline (the same
//! one `cloudseal seal` runs) with the customize steps hooked in after sealing, every output
//! written from the one sealed view, an optional upload, and the manifest.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Instant;

use sha2::{Digest, Sha256};

use crate::digest::hex;

use super::customize::{self, StepReport};
use super::fetch::{self, Fetched};
use super::load::Loaded;
use super::manifest::{BaseEntry, GlanceEntry, Manifest, OutputEntry};
use super::schema::Output;
use crate::disk::OpenOptions;
use crate::fs::GuestFsMut;
use crate::fs::mount::Backend;
use crate::glance::{self, Auth, UploadOptions};
use crate::output::{self, OutputOptions, OutputReport, atomic};
use crate::pipeline::{self, ImageReport, SealImageOptions};
use crate::progress::ProgressSink;
use crate::seal::Selection;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error("build stage {stage}")]
    Stage {
        stage: &'static str,
        #[source]
        source: BoxError,
    },
}

fn stage<E: Into<BoxError>>(stage: &'static str) -> impl FnOnce(E) -> BuildError {
    move |e| BuildError::Stage {
        stage,
        source: e.into(),
    }
}

#[derive(Debug, Clone, Default)]
pub struct BuildOptions {
    /// Fetch, then plan the sealing and list the steps; nothing is written.
    pub dry_run: bool,
    /// Where downloaded base images are kept.
    pub cache_dir: PathBuf,
    /// Replace existing output files.
    pub force: bool,
    /// Compression threads (0: one per core); outputs do not depend on it.
    pub threads: usize,
    /// Timestamp for every inode the build touches (SOURCE_DATE_EPOCH); default: the base
    /// root filesystem's last write time, so the same recipe and base give the same bytes
    /// (`SealImageOptions::timestamp`, the rule `seal` follows too).
    pub timestamp: Option<i64>,
    pub cancel: Option<Arc<AtomicBool>>,
    /// How filesystems are opened (userspace ext2/3/4, kernel mounts for the rest).
    pub backend: Backend,
    /// The operations to run instead of the recipe's `[seal]` selection (command-line flags).
    pub selection: Option<Selection>,
    /// Login settings set on the command line: they override the recipe's `[glance]` ones.
    pub auth: Auth,
}

/// What a build did.
#[derive(Debug, Clone)]
pub struct BuildResult {
    pub manifest: Manifest,
    /// Where the manifest was written (none in a dry run).
    pub manifest_path: Option<PathBuf>,
    pub image: ImageReport,
}

fn output_options(o: &Output, opts: &BuildOptions) -> OutputOptions {
    OutputOptions {
        force: opts.force,
        threads: opts.threads,
        cancel: opts.cancel.clone(),
        ..o.spec.options()
    }
}

/// The manifest file for a build: beside the first output, named after it.
pub fn manifest_path(first_output: &Path) -> PathBuf {
    let mut name = first_output
        .file_name()
        .map(|n| n.to_os_string())
        .unwrap_or_default();
    name.push(".manifest.json");
    first_output.with_file_name(name)
}

/// Run a loaded recipe. `on_stage` hears each stage as it starts.
pub fn build(
    loaded: &Loaded,
    opts: &BuildOptions,
    progress: &dyn ProgressSink,
    on_stage: &mut dyn FnMut(&str),
) -> Result<BuildResult, BuildError> {
    let r = &loaded.recipe;
    let mut timings = BTreeMap::new();
    let started = Instant::now();

    on_stage("fetch base image");
    let t = Instant::now();
    let base = r
        .base
        .as_ref()
        .ok_or_else(|| stage::<BoxError>("fetch")("no [base]".into()))?;
    let Fetched {
        path: base_path,
        sha256: base_sha,
        source,
    } = fetch::fetch(base, &opts.cache_dir).map_err(stage("fetch"))?;
    timings.insert("fetch".to_string(), t.elapsed().as_secs_f64());

    let s = &r.seal;
    let selection = opts.selection.clone().unwrap_or_else(|| s.selection());
    let image_opts = SealImageOptions {
        selection,
        seal: s.options.clone(),
        output: OutputOptions::default(),
        open: OpenOptions::default(),
        dry_run: opts.dry_run,
        // A dirty journal is refused, as it always was here.
        replay_journal: false,
        backend: opts.backend,
        timestamp: opts.timestamp,
    };
    let out_opts: Vec<(PathBuf, OutputOptions)> = r
        .output
        .iter()
        .map(|o| (PathBuf::from(&o.item.path), output_options(&o.item, opts)))
        .collect();
    let outputs: Vec<(&Path, &OutputOptions)> =
        out_opts.iter().map(|(p, o)| (p.as_path(), o)).collect();

    // Inside the pipeline, on the root filesystem (its clock pinned by the pipeline, as for
    // `seal`): customize after sealing (sealing cleans the base's host state; what the
    // recipe adds, like an SSH key, stays).
    // Written by the hook, read once the pipeline is done (a plain borrow: the hook runs on
    // this thread, and a lock here could only hide a panic as an empty report).
    let mut steps_done: Vec<StepReport> = Vec::new();
    let mut customize_hook = |fs: &mut dyn GuestFsMut| -> Result<(), BoxError> {
        steps_done = customize::apply(fs, &r.customize)?;
        Ok(())
    };
    on_stage(if opts.dry_run {
        "plan (dry run: nothing is written)"
    } else {
        "seal, customize, sparsify and write the outputs"
    });
    let (report, written) = pipeline::process_image(
        &base_path,
        &outputs,
        &image_opts,
        pipeline::RootHooks {
            after_seal: Some(&mut customize_hook),
        },
        progress,
    )
    .map_err(|e| {
        let name = match &e {
            pipeline::ImageError::Customize { .. } => "customize",
            pipeline::ImageError::Seal(_) => "seal",
            pipeline::ImageError::Output(_) => "output",
            _ => "open image",
        };
        stage::<BoxError>(name)(Box::new(e))
    })?;
    for o in &r.output {
        if let (true, Some(w)) = (
            o.item.spec.checksum_file,
            written.iter().find(|w| w.path == Path::new(&o.item.path)),
        ) {
            output::spec::write_checksum_files(w).map_err(stage("output"))?;
        }
    }
    let t = &report.timings;
    for (k, v) in [
        ("seal-and-customize", t.seal),
        ("sparsify-and-output", t.output),
    ] {
        timings.insert(k.to_string(), v);
    }

    let mut glance = None;
    if let (Some(g), false) = (&r.glance, opts.dry_run) {
        on_stage("upload to glance");
        let t = Instant::now();
        let file = g
            .output
            .as_ref()
            .map(PathBuf::from)
            .or_else(|| written.first().map(|w| w.path.clone()))
            .ok_or_else(|| stage::<BoxError>("upload")("no output to upload".into()))?;
        let upload = UploadOptions {
            cancel: opts.cancel.clone(),
            ..g.upload.clone()
        };
        let env = |k: &str| std::env::var(k).ok();
        let out = glance::publish(
            &g.auth().overlay(&opts.auth),
            &g.image,
            &upload,
            &file,
            None,
            &env,
            progress,
        )
        .map_err(stage("upload"))?;
        glance = Some(GlanceEntry {
            image_id: out.record.id().to_string(),
            name: g.image.name.clone().unwrap_or_default(),
        });
        timings.insert("upload".to_string(), t.elapsed().as_secs_f64());
    }

    let customize = steps_done;
    let seal = report
        .filesystems
        .iter()
        .filter_map(|f| f.changes.as_ref())
        .flat_map(|c| c.ops.iter().cloned())
        .collect();
    timings.insert("total".to_string(), started.elapsed().as_secs_f64());
    let manifest = Manifest {
        cloudseal_version: env!("CARGO_PKG_VERSION"),
        recipe_sha256: hex(&Sha256::digest(loaded.text.as_bytes())),
        vars: r.vars.clone(),
        base: BaseEntry {
            source,
            sha256: base_sha,
        },
        customize,
        seal,
        outputs: written.iter().map(output_entry).collect(),
        glance,
        timings,
    };
    let mut manifest_path = None;
    if let (false, Some(first)) = (opts.dry_run, written.first()) {
        on_stage("write manifest");
        let p = self::manifest_path(&first.path);
        let json = serde_json::to_string_pretty(&manifest).map_err(stage("manifest"))?;
        // Always replaced: it describes the outputs just written.
        atomic::write_file(&p, format!("{json}\n").as_bytes(), true).map_err(stage("manifest"))?;
        manifest_path = Some(p);
    }
    Ok(BuildResult {
        manifest,
        manifest_path,
        image: report,
    })
}

fn output_entry(w: &OutputReport) -> OutputEntry {
    let (sha256, sha512) = w
        .checksums
        .as_ref()
        .map(|c| (c.sha256.clone(), c.sha512.clone()))
        .unwrap_or_default();
    OutputEntry {
        file: w
            .path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default(),
        format: w.format.to_string(),
        compression: w
            .compression
            .map(|c| c.codec.to_string())
            .unwrap_or_else(|| "none".into()),
        size: w.file_size,
        sha256,
        sha512,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seal_disabled_selects_nothing() {
        let none = Selection::defaults().operations("-all").resolve().unwrap();
        assert!(none.is_empty());
        assert!(!Selection::defaults().resolve().unwrap().is_empty());
    }

    #[test]
    fn manifest_sits_beside_the_first_output() {
        assert_eq!(
            manifest_path(Path::new("/out/debian.qcow2")),
            Path::new("/out/debian.qcow2.manifest.json")
        );
    }
}
