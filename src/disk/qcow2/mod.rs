//! qcow2 images (versions 2 and 3): our own read-only reader.
//!
//! Layout: `header` validates the header and extensions, `tables` decodes L1/L2 entries,
//! `l2cache` keeps recently used L2 tables, `reader` maps guest ranges to runs and reads
//! them, `decompress` inflates compressed clusters.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

mod decompress;
pub mod header;
mod host;
mod l2cache;
mod reader;
mod tables;

use super::{BlockDev, DiskError, Extent, ImageFormat, OpenOptions};
use header::Header;
use host::Host;
use l2cache::L2Cache;
use tables::Geometry;

/// "QFI\xfb"
pub const MAGIC: [u8; 4] = *b"QFI\xfb";
/// Longest chain of backing files we follow (qemu has no limit; loops must end).
pub const MAX_BACKING_DEPTH: u32 = 16;

pub struct Qcow2 {
    host: Host,
    /// Used in error messages.
    name: String,
    header: Header,
    geo: Geometry,
    l1: Vec<u64>,
    l2: L2Cache,
    /// The last few decompressed clusters (host offset, bytes), for small reads.
    clusters: Mutex<Vec<(u64, std::sync::Arc<[u8]>)>>,
    backing: Option<Box<dyn BlockDev>>,
}

impl Qcow2 {
    /// Open a qcow2 image file; a backing file is opened only if `opts.allow_backing`.
    pub fn open(file: File, path: PathBuf, opts: &OpenOptions) -> Result<Self, DiskError> {
        Self::open_at_depth(file, &path, opts, 0)
    }

    pub(crate) fn open_at_depth(
        file: File,
        path: &Path,
        opts: &OpenOptions,
        depth: u32,
    ) -> Result<Self, DiskError> {
        let name = path.display().to_string();
        let host = Host::file(file)
            .map_err(|e| DiskError::io(format!("reading metadata of {name}"), e))?;
        let mut q = Self::new(host, name)?;
        if let Some(b) = &q.header.backing {
            if !opts.allow_backing {
                return Err(DiskError::Unsupported(format!(
                    "{}: image has a backing file ({}); refusing to open it without allow_backing",
                    q.name,
                    b.name.display()
                )));
            }
            if depth + 1 >= MAX_BACKING_DEPTH {
                return Err(DiskError::Unsupported(format!(
                    "{}: backing file chain is deeper than {MAX_BACKING_DEPTH}",
                    q.name
                )));
            }
            let dir = path.parent().unwrap_or(Path::new("."));
            let bpath = dir.join(&b.name);
            let dev =
                super::open_backing(&bpath, b.format.as_deref(), opts, depth + 1).map_err(|e| {
                    match e {
                        DiskError::Io { context, source } => DiskError::Io {
                            context: format!("{context} (backing file of {})", q.name),
                            source,
                        },
                        other => other,
                    }
                })?;
            q.backing = Some(dev);
        }
        Ok(q)
    }

    /// Open an image held in memory (fuzzing, tests). Backing files are refused.
    pub fn from_bytes(bytes: Vec<u8>) -> Result<Self, DiskError> {
        let q = Self::new(Host::Memory(bytes), "<memory>".into())?;
        if let Some(b) = &q.header.backing {
            return Err(DiskError::Unsupported(format!(
                "<memory>: image has a backing file ({})",
                b.name.display()
            )));
        }
        Ok(q)
    }

    fn new(host: Host, name: String) -> Result<Self, DiskError> {
        let header = Header::parse(&host, &name)?;
        let geo = Geometry {
            cluster_bits: header.cluster_bits,
        };
        // Header::parse checked that the L1 table lies inside the file and is at most
        // MAX_L1_ENTRIES long, so this allocation is bounded by both.
        let mut raw = vec![0u8; (header.l1_entries * 8) as usize];
        host.read_exact_at(&mut raw, header.l1_offset)
            .map_err(|e| DiskError::io(format!("reading the L1 table of {name}"), e))?;
        let l1 = raw
            .chunks_exact(8)
            .map(|c| u64::from_be_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]))
            .collect();
        Ok(Qcow2 {
            l2: L2Cache::new(geo.cluster_size()),
            host,
            name,
            header,
            geo,
            l1,
            clusters: Mutex::new(Vec::new()),
            backing: None,
        })
    }

    pub fn header(&self) -> &Header {
        &self.header
    }

    fn corrupt(&self, msg: impl std::fmt::Display) -> DiskError {
        DiskError::Corrupt(format!("{}: {msg}", self.name))
    }
}

impl BlockDev for Qcow2 {
    fn size(&self) -> u64 {
        self.header.size
    }

    fn read_exact_at(&self, buf: &mut [u8], off: u64) -> Result<(), DiskError> {
        self.read_at(buf, off)
    }

    fn extent_status(&self, off: u64, len: u64) -> Result<Extent, DiskError> {
        self.status(off, len)
    }

    fn format(&self) -> ImageFormat {
        ImageFormat::Qcow2
    }

    fn allocated_bytes(&self) -> Result<u64, DiskError> {
        self.host
            .allocated_bytes()
            .map_err(|e| DiskError::io(format!("reading metadata of {}", self.name), e))
    }
}
