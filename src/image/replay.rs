//! `--replay-journal`: a filesystem whose journal needs recovery is copied out of the input
//! into a private temporary file, checked with `e2fsck -fy` there (journal replayed, orphans
//! processed), and sealed from that copy. The input is only read. (e2fsck cannot replay a
//! journal at an offset inside a disk image: it re-opens the device by name without it.)

use std::os::unix::fs::FileExt;
use std::path::Path;
use std::process::Command;
use std::sync::Arc;

use crate::disk::raw::RawFile;
use crate::disk::{BlockDev, ExtentKind};

use super::ImageError;

const COPY_BUF: u64 = 4 << 20;

/// The filesystem of `len` bytes at `start` of `dev`, recovered, as a device of its own (its
/// temporary file is already unlinked).
pub fn recovered_copy(
    dev: &dyn BlockDev,
    start: u64,
    len: u64,
    dir: &Path,
    what: &str,
) -> Result<Arc<dyn BlockDev>, ImageError> {
    let io = |op: &str, e: std::io::Error| {
        ImageError::Refused(format!("{what}: {op} for the journal replay: {e}"))
    };
    let tmp = tempfile::Builder::new()
        .prefix(".cloudseal-replay-")
        .tempfile_in(dir)
        .map_err(|e| io("creating a temporary file", e))?;
    tmp.as_file()
        .set_len(len)
        .map_err(|e| io("sizing the temporary file", e))?;
    let mut buf = Vec::new();
    let mut off = 0u64;
    while off < len {
        let e = dev
            .extent_status(start + off, (len - off).min(256 << 20))
            .map_err(ImageError::Read)?;
        if e.len == 0 {
            return Err(ImageError::Refused(format!(
                "{what}: empty extent at {off}"
            )));
        }
        if e.kind == ExtentKind::Data {
            let mut at = off;
            while at < off + e.len {
                let n = (off + e.len - at).min(COPY_BUF) as usize;
                buf.resize(n, 0);
                dev.read_exact_at(&mut buf, start + at)
                    .map_err(ImageError::Read)?;
                tmp.as_file()
                    .write_all_at(&buf, at)
                    .map_err(|e| io("copying the filesystem", e))?;
                at += n as u64;
            }
        }
        off += e.len;
    }
    let out = Command::new("e2fsck")
        .arg("-fy")
        .arg(tmp.path())
        .output()
        .map_err(|e| io("running e2fsck (e2fsprogs)", e))?;
    // 0: clean, 1: errors corrected; anything else is not a filesystem to seal.
    if !matches!(out.status.code(), Some(0 | 1)) {
        return Err(ImageError::Refused(format!(
            "{what}: e2fsck -fy could not repair the copy ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stdout).trim()
        )));
    }
    let (file, path) = tmp
        .keep()
        .map_err(|e| io("keeping the temporary file", e.error))?;
    let dev = RawFile::open(file, path.clone()).map_err(ImageError::Read);
    // Unlinked now: the open file lives until the device is dropped, and nothing is left
    // behind if we are killed.
    let _ = std::fs::remove_file(&path);
    Ok(Arc::new(dev?))
}
