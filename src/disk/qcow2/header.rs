//! The qcow2 header and its extensions: parsed and validated before any field is used.
//!
//! Field offsets follow qemu's docs/interop/qcow2.txt. Every check that fails names the field.

use std::path::PathBuf;

use super::host::Host;
use crate::disk::DiskError;

pub const MIN_CLUSTER_BITS: u32 = 9;
pub const MAX_CLUSTER_BITS: u32 = 21;
/// qemu's own cap on the L1 table (QCOW_MAX_L1_SIZE, 32 MiB of entries).
pub const MAX_L1_ENTRIES: u64 = (32 << 20) / 8;
/// qemu's cap on the number of snapshots.
const MAX_SNAPSHOTS: u32 = 65536;
/// qemu refuses backing file names longer than this.
const MAX_BACKING_NAME: u64 = 1023;
const V2_HEADER_LEN: usize = 72;
const V3_MIN_HEADER_LEN: u32 = 104;

pub const INCOMPAT_DIRTY: u64 = 1 << 0;
pub const INCOMPAT_CORRUPT: u64 = 1 << 1;
pub const INCOMPAT_DATA_FILE: u64 = 1 << 2;
pub const INCOMPAT_COMPRESSION: u64 = 1 << 3;
pub const INCOMPAT_EXTL2: u64 = 1 << 4;
const INCOMPAT_KNOWN: u64 = 0x1f;

const EXT_END: u32 = 0;
const EXT_BACKING_FORMAT: u32 = 0xe279_2aca;
const EXT_FEATURE_NAMES: u32 = 0x6803_f857;
const EXT_DATA_FILE: u32 = 0x4441_5441;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    Zlib,
    Zstd,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackingRef {
    /// The name as stored in the header (a path, usually relative to the image).
    pub name: PathBuf,
    /// From the backing format header extension, if present.
    pub format: Option<String>,
}

#[derive(Debug, Clone)]
pub struct Header {
    pub version: u32,
    pub cluster_bits: u32,
    /// Virtual disk size in bytes.
    pub size: u64,
    pub l1_entries: u64,
    pub l1_offset: u64,
    pub refcount_order: u32,
    pub compression: Compression,
    pub backing: Option<BackingRef>,
}

/// Big-endian field reader over the first cluster; out-of-range reads are header errors.
struct Fields<'a> {
    buf: &'a [u8],
    name: &'a str,
}

impl Fields<'_> {
    fn bytes(&self, off: usize, len: usize) -> Result<&[u8], DiskError> {
        off.checked_add(len)
            .and_then(|end| self.buf.get(off..end))
            .ok_or_else(|| {
                DiskError::Corrupt(format!(
                    "{}: header field at byte {off} lies past the end of the file",
                    self.name
                ))
            })
    }
    fn u8(&self, off: usize) -> Result<u8, DiskError> {
        Ok(self.bytes(off, 1)?[0])
    }
    fn u32(&self, off: usize) -> Result<u32, DiskError> {
        let b = self.bytes(off, 4)?;
        Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }
    fn u64(&self, off: usize) -> Result<u64, DiskError> {
        let b = self.bytes(off, 8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(u64::from_be_bytes(a))
    }
}

/// What the header extensions told us.
#[derive(Default)]
struct Extensions {
    backing_format: Option<String>,
    data_file: Option<String>,
    /// (type, bit, name) from the feature name table: type 0 = incompatible.
    feature_names: Vec<(u8, u8, String)>,
}

fn corrupt(name: &str, msg: impl std::fmt::Display) -> DiskError {
    DiskError::Corrupt(format!("{name}: {msg}"))
}

fn unsupported(name: &str, msg: impl std::fmt::Display) -> DiskError {
    DiskError::Unsupported(format!("{name}: {msg}"))
}

fn text(b: &[u8]) -> String {
    let end = b.iter().position(|&c| c == 0).unwrap_or(b.len());
    String::from_utf8_lossy(&b[..end]).into_owned()
}

/// Parse extensions in `[start, end)`: (type u32, len u32, data padded to 8) until type 0.
fn parse_extensions(f: &Fields, start: usize, end: usize) -> Result<Extensions, DiskError> {
    let mut ext = Extensions::default();
    let mut off = start;
    while off < end {
        if end - off < 8 {
            return Err(corrupt(
                f.name,
                format!("header extension at byte {off} is truncated"),
            ));
        }
        let kind = f.u32(off)?;
        let len = f.u32(off + 4)? as usize;
        let data_off = off + 8;
        if kind == EXT_END {
            return Ok(ext);
        }
        if len > end - data_off {
            return Err(corrupt(
                f.name,
                format!(
                    "header extension {kind:#010x} at byte {off} ({len} bytes) overflows the header cluster"
                ),
            ));
        }
        let data = f.bytes(data_off, len)?;
        match kind {
            EXT_BACKING_FORMAT => ext.backing_format = Some(text(data)),
            EXT_DATA_FILE => ext.data_file = Some(text(data)),
            EXT_FEATURE_NAMES => {
                for e in data.chunks_exact(48) {
                    ext.feature_names.push((e[0], e[1], text(&e[2..])));
                }
            }
            // Bitmaps, encryption header, unknown: nothing a reader needs.
            _ => {}
        }
        // Data is padded to 8 bytes; a padded length past `end` ends the loop above.
        off = data_off + len.div_ceil(8) * 8;
    }
    // qemu accepts extensions that fill the header space without an end marker.
    Ok(ext)
}

impl Header {
    /// Read and validate the header of `host`; `name` labels errors.
    pub fn parse(host: &Host, name: &str) -> Result<Header, DiskError> {
        let file_len = host.len();
        if file_len < V2_HEADER_LEN as u64 {
            return Err(corrupt(
                name,
                format!("file is {file_len} bytes, too short for a qcow2 header"),
            ));
        }
        let mut head = [0u8; 24];
        host.read_exact_at(&mut head, 0)
            .map_err(|e| DiskError::io(format!("reading the header of {name}"), e))?;
        let f = Fields { buf: &head, name };
        let version = f.u32(4)?;
        if version != 2 && version != 3 {
            return Err(unsupported(
                name,
                format!("qcow2 version {version} (only versions 2 and 3 are supported)"),
            ));
        }
        let cluster_bits = f.u32(20)?;
        if !(MIN_CLUSTER_BITS..=MAX_CLUSTER_BITS).contains(&cluster_bits) {
            return Err(unsupported(
                name,
                format!(
                    "cluster_bits {cluster_bits} (cluster size must be 512 B to 2 MiB, bits {MIN_CLUSTER_BITS}-{MAX_CLUSTER_BITS})"
                ),
            ));
        }
        let cluster_size = 1u64 << cluster_bits;
        // The header, its extensions and the backing file name all live in cluster 0.
        let mut buf = vec![0u8; cluster_size.min(file_len) as usize];
        host.read_exact_at(&mut buf, 0)
            .map_err(|e| DiskError::io(format!("reading the header of {name}"), e))?;
        let f = Fields { buf: &buf, name };

        let (incompat, refcount_order, header_len) = if version == 3 {
            let header_len = f.u32(100)?;
            if header_len < V3_MIN_HEADER_LEN || u64::from(header_len) > cluster_size {
                return Err(corrupt(
                    name,
                    format!(
                        "header_length {header_len} out of range ({V3_MIN_HEADER_LEN} to the cluster size {cluster_size})"
                    ),
                ));
            }
            (f.u64(72)?, f.u32(96)?, header_len as usize)
        } else {
            (0, 4, V2_HEADER_LEN)
        };

        let backing_off = f.u64(8)?;
        let backing_len = u64::from(f.u32(16)?);
        let ext_end = if backing_off != 0 {
            if backing_off > cluster_size {
                return Err(corrupt(
                    name,
                    format!("backing_file_offset {backing_off} is outside the header cluster"),
                ));
            }
            backing_off as usize
        } else {
            cluster_size as usize
        };
        let ext = parse_extensions(&f, header_len, ext_end.min(buf.len()))?;

        check_incompat(name, incompat, &ext)?;
        let crypt = f.u32(32)?;
        if crypt != 0 {
            return Err(unsupported(
                name,
                format!("encryption (crypt_method {crypt}) is not supported"),
            ));
        }
        if refcount_order > 6 {
            return Err(corrupt(
                name,
                format!("refcount_order {refcount_order} out of range (0-6)"),
            ));
        }
        let compression = compression(&f, name, incompat, header_len)?;

        let size = f.u64(24)?;
        if size > i64::MAX as u64 {
            return Err(corrupt(name, format!("virtual size {size} is too large")));
        }
        let l1_entries = u64::from(f.u32(36)?);
        let l1_offset = f.u64(40)?;
        check_l1(name, size, cluster_bits, l1_entries, l1_offset, file_len)?;
        check_refcount_table(name, &f, cluster_size, file_len)?;
        check_snapshots(name, &f, cluster_size, file_len)?;

        let backing = if backing_off != 0 {
            if backing_len == 0 || backing_len > MAX_BACKING_NAME.min(cluster_size - backing_off) {
                return Err(corrupt(
                    name,
                    format!("backing_file_size {backing_len} out of range (1-{MAX_BACKING_NAME})"),
                ));
            }
            let raw = f.bytes(backing_off as usize, backing_len as usize)?;
            use std::os::unix::ffi::OsStrExt;
            Some(BackingRef {
                name: PathBuf::from(std::ffi::OsStr::from_bytes(raw)),
                format: ext.backing_format.clone(),
            })
        } else {
            None
        };

        Ok(Header {
            version,
            cluster_bits,
            size,
            l1_entries,
            l1_offset,
            refcount_order,
            compression,
            backing,
        })
    }
}

fn check_incompat(name: &str, incompat: u64, ext: &Extensions) -> Result<(), DiskError> {
    let unknown = incompat & !INCOMPAT_KNOWN;
    if unknown != 0 {
        let names: Vec<String> = (0..64)
            .filter(|b| unknown & (1u64 << b) != 0)
            .map(|b| {
                ext.feature_names
                    .iter()
                    .find(|(t, bit, _)| *t == 0 && u32::from(*bit) == b)
                    .map(|(_, _, n)| format!("bit {b} \"{n}\""))
                    .unwrap_or_else(|| format!("bit {b}"))
            })
            .collect();
        return Err(unsupported(
            name,
            format!("unknown incompatible feature {}", names.join(", ")),
        ));
    }
    if incompat & INCOMPAT_CORRUPT != 0 {
        return Err(corrupt(
            name,
            "the corrupt bit is set: qemu found this image inconsistent (see qemu-img check)",
        ));
    }
    if incompat & INCOMPAT_DIRTY != 0 {
        return Err(unsupported(
            name,
            "the dirty bit is set: the image was not closed cleanly (repair it with qemu-img check -r all)",
        ));
    }
    if incompat & INCOMPAT_DATA_FILE != 0 {
        let file = ext.data_file.as_deref().unwrap_or("name not recorded");
        return Err(unsupported(
            name,
            format!("external data file ({file}) is not supported"),
        ));
    }
    if incompat & INCOMPAT_EXTL2 != 0 {
        return Err(unsupported(
            name,
            "extended L2 entries (subclusters, extended_l2=on) are not supported",
        ));
    }
    Ok(())
}

fn compression(
    f: &Fields,
    name: &str,
    incompat: u64,
    header_len: usize,
) -> Result<Compression, DiskError> {
    let kind = if header_len > 104 { f.u8(104)? } else { 0 };
    let bit = incompat & INCOMPAT_COMPRESSION != 0;
    match (kind, bit) {
        (0, false) => Ok(Compression::Zlib),
        (1, true) => Ok(Compression::Zstd),
        (0, true) => Err(corrupt(
            name,
            "compression type incompatible bit set with compression_type 0 (zlib)",
        )),
        (k, false) => Err(corrupt(
            name,
            format!("compression_type {k} without the compression type incompatible bit"),
        )),
        (k, true) => Err(unsupported(
            name,
            format!("compression_type {k} is unknown"),
        )),
    }
}

fn check_l1(
    name: &str,
    size: u64,
    cluster_bits: u32,
    l1_entries: u64,
    l1_offset: u64,
    file_len: u64,
) -> Result<(), DiskError> {
    // One L2 table maps cluster_size / 8 clusters; cluster_bits <= 21 keeps this < 2^40.
    let bytes_per_l2 = 1u64 << (2 * cluster_bits - 3);
    let needed = size.div_ceil(bytes_per_l2);
    if l1_entries > MAX_L1_ENTRIES {
        return Err(corrupt(
            name,
            format!("l1_size {l1_entries} exceeds the limit of {MAX_L1_ENTRIES} entries"),
        ));
    }
    if l1_entries < needed {
        return Err(corrupt(
            name,
            format!("l1_size {l1_entries} is too small: virtual size {size} needs {needed}"),
        ));
    }
    if l1_entries == 0 {
        return Ok(());
    }
    let cluster_mask = (1u64 << cluster_bits) - 1;
    if l1_offset & cluster_mask != 0 || l1_offset == 0 {
        return Err(corrupt(
            name,
            format!("l1_table_offset {l1_offset:#x} is not a valid cluster offset"),
        ));
    }
    let end = l1_offset.checked_add(l1_entries * 8);
    if end.is_none_or(|e| e > file_len) {
        return Err(corrupt(
            name,
            format!(
                "L1 table at offset {l1_offset:#x} ({l1_entries} entries) lies past the end of the file ({file_len} bytes)"
            ),
        ));
    }
    Ok(())
}

fn check_refcount_table(
    name: &str,
    f: &Fields,
    cluster_size: u64,
    file_len: u64,
) -> Result<(), DiskError> {
    let off = f.u64(48)?;
    let clusters = u64::from(f.u32(56)?);
    if clusters == 0 {
        return Err(corrupt(name, "refcount_table_clusters is 0"));
    }
    if off == 0 || off % cluster_size != 0 {
        return Err(corrupt(
            name,
            format!("refcount_table_offset {off:#x} is not a valid cluster offset"),
        ));
    }
    let end = clusters
        .checked_mul(cluster_size)
        .and_then(|n| n.checked_add(off));
    if end.is_none_or(|e| e > file_len) {
        return Err(corrupt(
            name,
            format!(
                "refcount table at offset {off:#x} ({clusters} clusters) lies past the end of the file ({file_len} bytes)"
            ),
        ));
    }
    Ok(())
}

fn check_snapshots(
    name: &str,
    f: &Fields,
    cluster_size: u64,
    file_len: u64,
) -> Result<(), DiskError> {
    let count = f.u32(60)?;
    let off = f.u64(64)?;
    if count == 0 {
        return Ok(());
    }
    if count > MAX_SNAPSHOTS {
        return Err(corrupt(
            name,
            format!("nb_snapshots {count} exceeds {MAX_SNAPSHOTS}"),
        ));
    }
    if off % cluster_size != 0 || off >= file_len {
        return Err(corrupt(
            name,
            format!("snapshots_offset {off:#x} is not a cluster offset inside the file"),
        ));
    }
    Ok(())
}
