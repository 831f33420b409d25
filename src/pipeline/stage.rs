//! Private copies of one filesystem out of the input: what e2fsck replays a journal on and
//! what the kernel mounts. Only the input's data extents are copied; everything else stays
//! a hole. The input is only read.

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::Path;

use crate::disk::{BlockDev, ExtentKind};

use super::ImageError;

const COPY_BUF: u64 = 4 << 20;

/// The `len` bytes at `start` of `dev`, in a new sparse temporary file in `dir` that has
/// no name (it disappears with its last descriptor, even if we are killed).
pub fn anonymous_copy(
    dev: &dyn BlockDev,
    start: u64,
    len: u64,
    dir: &Path,
    what: &str,
) -> Result<File, ImageError> {
    let file = tempfile::tempfile_in(dir).map_err(|e| {
        ImageError::io(
            format!("{what}: creating a staging file in {}", dir.display()),
            e,
        )
    })?;
    copy_into(dev, start, len, &file, what)?;
    Ok(file)
}

/// Copy the data extents of `len` bytes at `start` of `dev` to offset 0 of `file`.
pub fn copy_into(
    dev: &dyn BlockDev,
    start: u64,
    len: u64,
    file: &File,
    what: &str,
) -> Result<(), ImageError> {
    let io = |op: &str, e| ImageError::io(format!("{what}: {op}"), e);
    file.set_len(len)
        .map_err(|e| io("sizing the staging file", e))?;
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
                file.write_all_at(&buf, at)
                    .map_err(|e| io("copying the filesystem out", e))?;
                at += n as u64;
            }
        }
        off += e.len;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::part::mem::MemDisk;

    /// The io error stays the source (its kind and errno), not text folded into a message.
    #[test]
    fn a_staging_file_that_cannot_be_made_keeps_its_io_error() {
        let dev = MemDisk::new(vec![1; 4096]);
        let err = anonymous_copy(&dev, 0, 4096, Path::new("/nonexistent/dir"), "partition 1")
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "partition 1: creating a staging file in /nonexistent/dir"
        );
        let io = std::error::Error::source(&err)
            .and_then(|s| s.downcast_ref::<std::io::Error>())
            .expect("the io error as the source");
        assert_eq!(io.kind(), std::io::ErrorKind::NotFound);
    }
}
