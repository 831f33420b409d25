//! `--replay-journal`: a filesystem whose journal needs recovery is copied out of the input
//! into a private temporary file, checked with `e2fsck -fy` there (journal replayed, orphans
//! processed), and sealed from that copy. The input is only read. (e2fsck cannot replay a
//! journal at an offset inside a disk image: it re-opens the device by name without it.)

use std::path::Path;
use std::process::Command;
use std::sync::Arc;

use crate::disk::BlockDev;
use crate::disk::raw::RawFile;

use super::ImageError;

/// The filesystem of `len` bytes at `start` of `dev`, recovered, as a device of its own (its
/// temporary file is already unlinked).
pub fn recovered_copy(
    dev: &dyn BlockDev,
    start: u64,
    len: u64,
    dir: &Path,
    what: &str,
) -> Result<Arc<dyn BlockDev>, ImageError> {
    let io = |op: &str, e| ImageError::io(format!("{what}: {op} for the journal replay"), e);
    let tmp = tempfile::Builder::new()
        .prefix(".cloudseal-replay-")
        .tempfile_in(dir)
        .map_err(|e| io("creating a temporary file", e))?;
    super::stage::copy_into(dev, start, len, tmp.as_file(), what)?;
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
    if let Err(e) = std::fs::remove_file(&path) {
        log::warn!(
            "{what}: removing {} after the journal replay: {e}",
            path.display()
        );
    }
    Ok(Arc::new(dev?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::part::mem::MemDisk;

    #[test]
    fn a_replay_copy_that_cannot_be_made_keeps_its_io_error() {
        let dev = MemDisk::new(vec![1; 4096]);
        let err = recovered_copy(&dev, 0, 4096, Path::new("/nonexistent/dir"), "partition 1")
            .err()
            .expect("no copy in a missing directory");
        assert_eq!(
            err.to_string(),
            "partition 1: creating a temporary file for the journal replay"
        );
        let io = std::error::Error::source(&err)
            .and_then(|s| s.downcast_ref::<std::io::Error>())
            .expect("the io error as the source");
        assert_eq!(io.kind(), std::io::ErrorKind::NotFound);
    }
}
