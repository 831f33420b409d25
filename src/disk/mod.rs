//! Disk images as read-only block devices: raw files and qcow2, detected by magic.
//!
//! Nothing in this module ever writes to an input image.

use std::path::{Path, PathBuf};

pub mod qcow2;
pub mod raw;
pub mod view;

pub use view::Slice;

/// What a run of bytes on a virtual disk holds, so writers can skip what holds nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExtentKind {
    /// Bytes that must be read (they may still happen to be zero).
    Data,
    /// Known to read as zeros (qcow2 zero cluster).
    Zero,
    /// Not allocated in the image (raw hole, qcow2 unallocated cluster); reads as zeros.
    Unallocated,
}

/// The status of the run that starts at the queried offset: `len` bytes of `kind`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Extent {
    pub kind: ExtentKind,
    pub len: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ImageFormat {
    Raw,
    Qcow2,
}

impl std::fmt::Display for ImageFormat {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            ImageFormat::Raw => "raw",
            ImageFormat::Qcow2 => "qcow2",
        })
    }
}

#[derive(Debug, thiserror::Error)]
pub enum DiskError {
    #[error("{context}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
    /// The image is damaged or malformed.
    #[error("corrupt image: {0}")]
    Corrupt(String),
    /// A valid image that uses a feature we refuse or do not support.
    #[error("unsupported image: {0}")]
    Unsupported(String),
    #[error("read past the end of the disk: offset {off} + {len} > size {size}")]
    OutOfRange { off: u64, len: u64, size: u64 },
}

impl DiskError {
    pub fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        DiskError::Io {
            context: context.into(),
            source,
        }
    }
}

/// A read-only virtual disk.
pub trait BlockDev: Send + Sync {
    /// Virtual size in bytes.
    fn size(&self) -> u64;
    /// Fill `buf` with the virtual disk's bytes at `off`; errors past the end.
    fn read_exact_at(&self, buf: &mut [u8], off: u64) -> Result<(), DiskError>;
    /// Status of the run starting at `off`, at most `len` bytes long (never 0 when len > 0).
    fn extent_status(&self, off: u64, len: u64) -> Result<Extent, DiskError>;
    fn format(&self) -> ImageFormat;
    /// Bytes the image file occupies on the host (allocated blocks).
    fn allocated_bytes(&self) -> Result<u64, DiskError>;
}

/// Whether every byte of the disk reads as zero: nothing was written to it (a fresh
/// `qemu-img create`). Runs that hold data are read, up to the first byte that is not zero.
pub fn reads_as_zeros(dev: &dyn BlockDev) -> Result<bool, DiskError> {
    const CHUNK: usize = 1 << 20;
    let size = dev.size();
    let mut buf = vec![0u8; CHUNK];
    let mut off = 0;
    while off < size {
        let e = dev.extent_status(off, size - off)?;
        if e.len == 0 {
            return Err(DiskError::Corrupt(format!("empty extent at offset {off}")));
        }
        let end = off.saturating_add(e.len).min(size);
        if e.kind == ExtentKind::Data {
            let mut at = off;
            while at < end {
                let n = (end - at).min(CHUNK as u64) as usize;
                dev.read_exact_at(&mut buf[..n], at)?;
                if buf[..n].iter().any(|&b| b != 0) {
                    return Ok(false);
                }
                at += n as u64;
            }
        }
        off = end;
    }
    Ok(true)
}

/// Options for opening an image.
#[derive(Debug, Clone, Default)]
pub struct OpenOptions {
    /// Allow a qcow2 backing file. Off by default: a crafted header must not make us open
    /// an arbitrary host path.
    pub allow_backing: bool,
}

/// Open an image file, detecting its format by magic (never by extension).
pub fn open_image(path: &Path, opts: &OpenOptions) -> Result<Box<dyn BlockDev>, DiskError> {
    open_backing(path, None, opts, 0)
}

/// Open an image as the backing file at `depth` of a chain; `format` comes from the
/// overlay's backing format extension and, when given, must match.
pub(crate) fn open_backing(
    path: &Path,
    format: Option<&str>,
    opts: &OpenOptions,
    depth: u32,
) -> Result<Box<dyn BlockDev>, DiskError> {
    let file = std::fs::File::open(path)
        .map_err(|e| DiskError::io(format!("opening {}", path.display()), e))?;
    let mut magic = [0u8; 4];
    let n = std::os::unix::fs::FileExt::read_at(&file, &mut magic, 0)
        .map_err(|e| DiskError::io(format!("reading {}", path.display()), e))?;
    let is_qcow2 = n == 4 && magic == qcow2::MAGIC;
    match format {
        None | Some("qcow2") if is_qcow2 => Ok(Box::new(qcow2::Qcow2::open_at_depth(
            file, path, opts, depth,
        )?)),
        Some("qcow2") => Err(DiskError::Corrupt(format!(
            "{}: backing format is qcow2 but the file has no qcow2 magic",
            path.display()
        ))),
        None | Some("raw") => Ok(Box::new(raw::RawFile::open(file, PathBuf::from(path))?)),
        Some(other) => Err(DiskError::Unsupported(format!(
            "{}: backing file format {other} is not supported",
            path.display()
        ))),
    }
}
