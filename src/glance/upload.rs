//! Register a file as a Glance image: no orphans, no duplicates, hashes checked.

use std::io::BufReader;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use super::hashing::{HashingReader, hash_stream};
use super::http::Retry;
use super::images::{Glance, ImageSpec, new_uuid};
use super::models::ImageRecord;
use super::{GlanceError, chain};
use crate::digest::Digests;

/// How an upload goes: `--import`, `--retries`, ... / `import = `, `retries = `, ....
#[derive(clap::Args, Debug, Clone, serde::Serialize, serde::Deserialize)]
#[serde(default, rename_all = "kebab-case", deny_unknown_fields)]
pub struct UploadOptions {
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
    /// Set (by a Ctrl-C handler) to stop sending: the image is deleted, never retried.
    #[arg(skip)]
    #[serde(skip)]
    pub cancel: Option<Arc<AtomicBool>>,
}

/// Equal settings; the cancel flag is not a setting.
impl PartialEq for UploadOptions {
    fn eq(&self, o: &Self) -> bool {
        (
            self.import,
            self.keep_failed,
            self.if_changed,
            self.retries,
            self.wait_timeout,
        ) == (
            o.import,
            o.keep_failed,
            o.if_changed,
            o.retries,
            o.wait_timeout,
        )
    }
}

fn cancelled(opts: &UploadOptions) -> bool {
    opts.cancel
        .as_ref()
        .is_some_and(|c| c.load(Ordering::SeqCst))
}

impl Default for UploadOptions {
    fn default() -> Self {
        UploadOptions {
            import: false,
            keep_failed: false,
            if_changed: false,
            retries: 2,
            wait_timeout: 600,
            cancel: None,
        }
    }
}

#[derive(Debug, Clone)]
pub struct UploadOutcome {
    pub record: ImageRecord,
    /// False when `--if-changed` found the same content already registered.
    pub uploaded: bool,
    /// What we sent (or would have sent).
    pub hashes: Digests,
}

/// `qcow2` when the file starts with the qcow2 magic, else `raw`.
pub fn detect_disk_format(path: &Path) -> Result<&'static str, GlanceError> {
    let f = std::fs::File::open(path)
        .map_err(|e| GlanceError::io(format!("opening {}", path.display()), e))?;
    let mut magic = [0u8; 4];
    let n = std::os::unix::fs::FileExt::read_at(&f, &mut magic, 0)
        .map_err(|e| GlanceError::io(format!("reading {}", path.display()), e))?;
    Ok(if n == 4 && magic == *b"QFI\xfb" {
        "qcow2"
    } else {
        "raw"
    })
}

/// Check Glance's record against what we sent. Loud on any difference.
pub fn verify(rec: &ImageRecord, ours: &Digests) -> Result<(), GlanceError> {
    let id = rec.id();
    let mut bad = Vec::new();
    if rec.size() != Some(ours.size) {
        bad.push(format!("size {:?} (we sent {})", rec.size(), ours.size));
    }
    if rec.checksum() != Some(ours.md5.as_str()) {
        bad.push(format!(
            "checksum (md5) {:?} (ours {})",
            rec.checksum(),
            ours.md5
        ));
    }
    if rec.os_hash_algo() != Some("sha512") {
        bad.push(format!(
            "os_hash_algo {:?} (expected sha512)",
            rec.os_hash_algo()
        ));
    } else if rec.os_hash_value() != Some(ours.sha512.as_str()) {
        bad.push(format!(
            "os_hash_value (sha512) {:?} (ours {})",
            rec.os_hash_value(),
            ours.sha512
        ));
    }
    if bad.is_empty() {
        Ok(())
    } else {
        Err(GlanceError::Verify(format!(
            "image {id} does not hold what we sent: {}",
            bad.join(", ")
        )))
    }
}

/// Upload `path` as a new image described by `spec`.
///
/// `known`: hashes the writer computed while producing the file (seal/convert output); they
/// are checked against the bytes actually streamed and against Glance's record.
/// `progress(done, total)` is called as bytes go out.
pub fn upload_file(
    glance: &Glance,
    path: &Path,
    spec: &ImageSpec,
    opts: &UploadOptions,
    known: Option<&Digests>,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<UploadOutcome, GlanceError> {
    let shown = path.display();
    let len = std::fs::metadata(path)
        .map_err(|e| GlanceError::io(format!("reading {shown}"), e))?
        .len();
    let disk_format = match &spec.disk_format {
        Some(f) => f.clone(),
        None => detect_disk_format(path)?.to_string(),
    };
    if opts.import
        && !glance
            .import_methods()?
            .iter()
            .any(|m| m == "glance-direct")
    {
        return Err(GlanceError::Config(
            "this cloud does not offer the glance-direct import method; upload without --import"
                .into(),
        ));
    }

    if opts.if_changed {
        let ours = match known {
            Some(h) => h.clone(),
            None => {
                log::info!("hashing {shown} to look for an identical image");
                let f = std::fs::File::open(path)
                    .map_err(|e| GlanceError::io(format!("opening {shown}"), e))?;
                hash_stream(BufReader::with_capacity(1 << 20, f), len, &mut |_, _| {})
                    .map_err(|e| GlanceError::io(format!("reading {shown}"), e))?
            }
        };
        if let Some(rec) = find_same(glance, &spec.name, &ours)? {
            log::info!(
                "image {} ({}) already holds this content",
                rec.id(),
                spec.name
            );
            return Ok(UploadOutcome {
                record: rec,
                uploaded: false,
                hashes: ours,
            });
        }
    }

    let mut attempt = 0;
    loop {
        attempt += 1;
        let id = new_uuid()?;
        let body = spec.create_body(&id, &disk_format)?;
        let rec = glance.create(&body)?;
        let id = rec.id().to_string();
        log::info!(
            "created image {id} ({}), status {}",
            spec.name,
            rec.status()
        );

        match send_and_check(glance, &id, path, len, opts, known, progress) {
            Ok((rec, hashes)) => {
                return Ok(UploadOutcome {
                    record: rec,
                    uploaded: true,
                    hashes,
                });
            }
            Err(err) => {
                let retry = err.is_transient() && attempt <= opts.retries && !cancelled(opts);
                let cleanup = cleanup(glance, &id, opts.keep_failed);
                let err = failed(err, path, &spec.name, &id, cancelled(opts), cleanup);
                if !retry {
                    return Err(err);
                }
                let msg = chain(&err);
                log::warn!(
                    "{msg}; starting again on a fresh image (attempt {} of {})",
                    attempt + 1,
                    opts.retries + 1
                );
                std::thread::sleep(Duration::from_secs(2u64.pow(attempt.min(5))));
            }
        }
    }
}

/// Stream the data, wait for `active`, compare hashes.
fn send_and_check(
    glance: &Glance,
    id: &str,
    path: &Path,
    len: u64,
    opts: &UploadOptions,
    known: Option<&Digests>,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<(ImageRecord, Digests), GlanceError> {
    let shown = path.display();
    let f =
        std::fs::File::open(path).map_err(|e| GlanceError::io(format!("opening {shown}"), e))?;
    let mut reader = HashingReader::new(BufReader::with_capacity(1 << 20, f), len, progress)
        .stop_on(opts.cancel.clone());
    glance.put_data(id, opts.import, &mut reader, len)?;
    let sent = reader.finish()?;
    if sent.size != len {
        return Err(GlanceError::Verify(format!(
            "{shown} changed while it was uploaded: {} bytes sent, {len} expected",
            sent.size
        )));
    }
    if let Some(k) = known
        && *k != sent
    {
        return Err(GlanceError::Verify(format!(
            "{shown} does not hold what was written: the bytes sent hash differently"
        )));
    }
    if opts.import {
        glance.import(id)?;
    }
    let rec = glance.wait_active(id, Duration::from_secs(opts.wait_timeout))?;
    verify(&rec, &sent)?;
    Ok((rec, sent))
}

/// The error of an upload attempt, with the image it created and what became of it.
fn failed(
    err: GlanceError,
    path: &Path,
    name: &str,
    id: &str,
    interrupted: bool,
    cleanup: String,
) -> GlanceError {
    GlanceError::Upload {
        file: path.display().to_string(),
        name: name.to_string(),
        id: id.to_string(),
        interrupted,
        cleanup,
        source: Box::new(err),
    }
}

/// Delete the image we created (waiting for a restarting Glance); say what happened.
fn cleanup(glance: &Glance, id: &str, keep: bool) -> String {
    if keep {
        return format!("image {id} was kept (--keep-failed)");
    }
    match glance.delete(id, Retry::CLEANUP) {
        Ok(()) => format!("image {id} was deleted"),
        Err(e) => format!(
            "image {id} could NOT be deleted ({}); delete it with `openstack image delete {id}`",
            chain(&e)
        ),
    }
}

/// An active image of ours with this name and content, if any.
fn find_same(
    glance: &Glance,
    name: &str,
    ours: &Digests,
) -> Result<Option<ImageRecord>, GlanceError> {
    let mut filters = vec![("name", name), ("status", "active")];
    if let Some(owner) = glance.session().project_id.as_deref() {
        filters.push(("owner", owner));
    }
    let found = glance.list(&filters)?;
    Ok(found.into_iter().find(|r| {
        r.name() == name
            && r.os_hash_algo() == Some("sha512")
            && r.os_hash_value() == Some(ours.sha512.as_str())
            && r.size() == Some(ours.size)
            && glance
                .session()
                .project_id
                .as_deref()
                .is_none_or(|p| r.owner() == Some(p))
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(md5: &str, sha: &str, size: u64) -> ImageRecord {
        ImageRecord::from_value(serde_json::json!({
            "id": "i1", "status": "active", "size": size, "checksum": md5,
            "os_hash_algo": "sha512", "os_hash_value": sha,
        }))
        .unwrap()
    }

    #[test]
    fn verify_accepts_equal_and_names_every_difference() {
        let ours = Digests {
            size: 3,
            md5: "m".into(),
            sha512: "s".into(),
            ..Digests::default()
        };
        assert!(verify(&rec("m", "s", 3), &ours).is_ok());
        let err = verify(&rec("x", "y", 4), &ours).unwrap_err().to_string();
        assert!(err.contains("image i1 does not hold what we sent"), "{err}");
        assert!(
            err.contains("size") && err.contains("md5") && err.contains("sha512"),
            "{err}"
        );
    }

    /// Regression: the upload's error flattened its cause into a string, so a caller could
    /// not tell a transient failure (worth another try later) from a permanent one.
    #[test]
    fn a_failed_upload_keeps_its_cause() {
        let cause = GlanceError::Status {
            what: "uploading the image data".into(),
            url: "http://glance/v2/images/i1/file".into(),
            status: 503,
            reason: "Service Unavailable".into(),
            message: "try later".into(),
        };
        assert!(cause.is_transient());
        let err = failed(
            cause,
            Path::new("/out/a.qcow2"),
            "debian",
            "i1",
            false,
            "image i1 was deleted".into(),
        );
        assert!(err.is_transient(), "{err:?}");
        assert_eq!(err.status(), Some(503));
        assert_eq!(
            chain(&err),
            "uploading /out/a.qcow2 as image debian (i1) failed (image i1 was deleted): \
             uploading the image data: http://glance/v2/images/i1/file answered 503 \
             Service Unavailable: try later"
        );
    }

    #[test]
    fn an_interrupted_upload_says_so() {
        let cause = GlanceError::io("reading /out/a.qcow2", std::io::Error::other("interrupted"));
        let err = failed(
            cause,
            Path::new("/out/a.qcow2"),
            "debian",
            "i1",
            true,
            "image i1 was deleted".into(),
        );
        assert!(!err.is_transient());
        assert!(
            err.to_string()
                .starts_with("uploading /out/a.qcow2 as image debian (i1) was interrupted"),
            "{err}"
        );
    }

    #[test]
    fn qcow2_magic_is_detected() {
        let dir = tempfile::tempdir().unwrap();
        let q = dir.path().join("q");
        std::fs::write(&q, b"QFI\xfb\0\0\0\x03").unwrap();
        assert_eq!(detect_disk_format(&q).unwrap(), "qcow2");
        let r = dir.path().join("r");
        std::fs::write(&r, b"QF").unwrap();
        assert_eq!(detect_disk_format(&r).unwrap(), "raw");
    }
}
