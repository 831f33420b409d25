//! The digests of the bytes as they go by: md5 and sha512 are Glance's `checksum` and
//! `os_hash_value`; sha256 completes the record an output writer computes, so the two compare
//! whole. Each runs on its own thread (`crate::digest`), so hashing does not halve the upload
//! speed.

use std::io::Read;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::digest::{DigestError, Digester, Digests};

/// A `Read` wrapper that hashes everything read through it and reports progress.
pub struct HashingReader<'a, R> {
    inner: R,
    digests: Digester,
    done: u64,
    total: u64,
    progress: &'a mut dyn FnMut(u64, u64),
    stop: Option<Arc<AtomicBool>>,
}

impl<'a, R: Read> HashingReader<'a, R> {
    pub fn new(inner: R, total: u64, progress: &'a mut dyn FnMut(u64, u64)) -> Self {
        HashingReader {
            inner,
            digests: Digests::digester(),
            done: 0,
            total,
            progress,
            stop: None,
        }
    }

    /// Fail the next read once `stop` is set (Ctrl-C): the request is abandoned.
    pub fn stop_on(mut self, stop: Option<Arc<AtomicBool>>) -> Self {
        self.stop = stop;
        self
    }

    pub fn bytes_read(&self) -> u64 {
        self.done
    }

    pub fn finish(self) -> Result<Digests, DigestError> {
        self.digests.digests()
    }
}

impl<R: Read> Read for HashingReader<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.stop.as_ref().is_some_and(|s| s.load(Ordering::SeqCst)) {
            // Not ErrorKind::Interrupted: readers retry that.
            return Err(std::io::Error::other("interrupted"));
        }
        let n = self.inner.read(buf)?;
        let chunk = &buf[..n];
        self.digests.update(chunk);
        self.done += n as u64;
        (self.progress)(self.done, self.total);
        Ok(n)
    }
}

/// Hash a whole stream (the `--if-changed` look-up needs the sha512 before uploading).
pub fn hash_stream(
    r: impl Read,
    total: u64,
    progress: &mut dyn FnMut(u64, u64),
) -> std::io::Result<Digests> {
    let mut h = HashingReader::new(r, total, progress);
    std::io::copy(&mut h, &mut std::io::sink())?;
    h.finish().map_err(std::io::Error::other)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_digests_of_abc() {
        let h = hash_stream(&b"abc"[..], 3, &mut |_, _| {}).unwrap();
        assert_eq!(h.size, 3);
        assert_eq!(h.md5, "900150983cd24fb0d6963f7d28e17f72");
        assert!(h.sha512.starts_with("ddaf35a193617aba"));
        assert!(h.sha512.ends_with("a54ca49f"));
    }
}
