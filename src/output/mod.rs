//! Output writers: sparse raw and streaming qcow2, with hashes of the output file bytes.
//!
//! Entry point: [`write_image`]. Output goes to a temporary file in the destination directory
//! that is fsynced and renamed over the final name only on success; on any error (or an
//! interrupt seen through [`OutputOptions::cancel`]) the temporary is removed.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crate::digest::Digests;
use crate::disk::{BlockDev, DiskError};
use crate::progress::ProgressSink;

pub mod atomic;
pub mod compress;
pub mod qcow2;
pub mod raw;
pub mod source;
pub mod spec;
pub mod writeback;

pub use atomic::{check_not_same_file, interrupt_flag};
pub use compress::{Codec, Compression};
pub use spec::OutputSpec;

/// The format written.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum OutputFormat {
    Raw,
    #[default]
    Qcow2,
}

/// By hand, for a message that names the setting (a recipe reports it as it stands).
impl<'de> serde::Deserialize<'de> for OutputFormat {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        match s.as_str() {
            "qcow2" => Ok(OutputFormat::Qcow2),
            "raw" => Ok(OutputFormat::Raw),
            _ => Err(serde::de::Error::custom(format!(
                "output format {s:?}: expected qcow2 or raw"
            ))),
        }
    }
}

impl std::fmt::Display for OutputFormat {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            OutputFormat::Raw => "raw",
            OutputFormat::Qcow2 => "qcow2",
        })
    }
}

/// Default qcow2 cluster size, as qemu-img.
pub const DEFAULT_CLUSTER_SIZE: u32 = 64 * 1024;
pub const MIN_CLUSTER_SIZE: u32 = 512;
pub const MAX_CLUSTER_SIZE: u32 = 2 * 1024 * 1024;

/// How to write an image.
#[derive(Debug, Clone)]
pub struct OutputOptions {
    pub format: OutputFormat,
    /// qcow2 only: compress clusters with this codec (`None`: store them raw).
    pub compress: Option<Compression>,
    /// qcow2 only: a power of two from 512 B to 2 MiB.
    pub cluster_size: u32,
    /// Replace an existing file at the destination.
    pub force: bool,
    /// Compression threads; 0 means one per core. The output does not depend on it.
    pub threads: usize,
    /// Compute sha256, sha512 and md5 of the output file.
    pub checksums: bool,
    /// Set (e.g. by a signal handler, see [`interrupt_flag`]) to abort the write cleanly.
    pub cancel: Option<Arc<AtomicBool>>,
}

impl Default for OutputOptions {
    fn default() -> Self {
        OutputOptions {
            format: OutputFormat::Qcow2,
            compress: None,
            cluster_size: DEFAULT_CLUSTER_SIZE,
            force: false,
            threads: 0,
            checksums: true,
            cancel: None,
        }
    }
}

/// What was written.
#[derive(Debug, Clone, serde::Serialize)]
pub struct OutputReport {
    pub path: PathBuf,
    pub format: OutputFormat,
    pub compression: Option<Compression>,
    pub cluster_size: Option<u32>,
    /// Virtual disk size in bytes.
    pub virtual_size: u64,
    /// Length of the output file in bytes.
    pub file_size: u64,
    /// Bytes allocated on the host for the output file (holes excluded).
    pub allocated_size: u64,
    /// Hex digests of the output file bytes, when asked for.
    pub checksums: Option<Digests>,
    #[serde(serialize_with = "serialize_secs")]
    pub duration: Duration,
}

fn serialize_secs<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(d.as_secs_f64())
}

#[derive(Debug, thiserror::Error)]
pub enum OutputError {
    #[error("{context}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
    #[error("reading the input")]
    Read(#[source] DiskError),
    #[error("{0} already exists (use --force to replace it)")]
    Exists(PathBuf),
    #[error("output {0} is the input image")]
    SameAsInput(PathBuf),
    #[error("invalid option: {0}")]
    Invalid(String),
    #[error("interrupted")]
    Interrupted,
    #[error("image too large for the chosen cluster size: {0}")]
    TooLarge(String),
    #[error("hashing the output")]
    Digest(#[from] crate::digest::DigestError),
}

impl OutputError {
    pub(crate) fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        OutputError::Io {
            context: context.into(),
            source,
        }
    }
}

/// Error out if the cancel flag is set.
pub(crate) fn check_cancel(cancel: &Option<Arc<AtomicBool>>) -> Result<(), OutputError> {
    match cancel {
        Some(c) if c.load(Ordering::Relaxed) => Err(OutputError::Interrupted),
        _ => Ok(()),
    }
}

impl OutputOptions {
    /// Reject option combinations that make no sense before any file is created.
    pub fn validate(&self) -> Result<(), OutputError> {
        let cs = self.cluster_size;
        if !cs.is_power_of_two() || !(MIN_CLUSTER_SIZE..=MAX_CLUSTER_SIZE).contains(&cs) {
            return Err(OutputError::Invalid(format!(
                "cluster size {cs} is not a power of two from 512 to 2097152"
            )));
        }
        if let Some(c) = &self.compress {
            if self.format == OutputFormat::Raw {
                return Err(OutputError::Invalid(
                    "compression needs qcow2 output".to_string(),
                ));
            }
            c.validate()?;
        }
        Ok(())
    }

    /// The number of worker threads to use.
    pub fn thread_count(&self) -> usize {
        if self.threads > 0 {
            self.threads
        } else {
            std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(1)
        }
    }
}

/// Write `src` to `dest` as raw (sparse) or qcow2 (optionally compressed), atomically.
///
/// Zero and unallocated ranges become holes (raw) or unallocated clusters (qcow2). The same
/// input and options always give byte-identical output, whatever `threads` is. Memory stays
/// bounded (a few MiB of buffers plus 2 bytes per host cluster of qcow2 output).
/// Refuses to replace an existing `dest` unless `opts.force`; checking that `dest` is not the
/// input is the caller's job ([`check_not_same_file`]), as a `BlockDev` has no path.
pub fn write_image(
    src: &dyn BlockDev,
    dest: &Path,
    opts: &OutputOptions,
    progress: &dyn ProgressSink,
) -> Result<OutputReport, OutputError> {
    let started = Instant::now();
    opts.validate()?;
    let out = atomic::AtomicFile::create(dest, opts.force)?;
    let raw_sums = match opts.format {
        OutputFormat::Raw => raw::write(src, out.file(), opts, progress)?,
        OutputFormat::Qcow2 => {
            qcow2::write(src, out.file(), opts, progress)?;
            None
        }
    };
    check_cancel(&opts.cancel)?;
    // qcow2 output is hashed by reading it back (docs/output.md): do that while the fsync
    // waits for the disk, instead of one after the other.
    let checksums = std::thread::scope(|s| -> Result<Option<Digests>, OutputError> {
        let synced = s.spawn(|| out.sync());
        let sums = if opts.format == OutputFormat::Qcow2 && opts.checksums {
            qcow2::hash_file(out.file(), opts, progress).map(Some)
        } else {
            Ok(raw_sums)
        };
        let synced = synced
            .join()
            .unwrap_or_else(|_| Err(OutputError::Invalid("the fsync thread panicked".into())));
        synced?;
        sums
    })?;
    let (file_size, allocated_size) = out.sizes()?;
    out.commit()?;
    Ok(OutputReport {
        path: dest.to_path_buf(),
        format: opts.format,
        compression: opts.compress,
        cluster_size: (opts.format == OutputFormat::Qcow2).then_some(opts.cluster_size),
        virtual_size: src.size(),
        file_size,
        allocated_size,
        checksums,
        duration: started.elapsed(),
    })
}
