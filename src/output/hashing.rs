//! sha256, sha512 and md5 of the output bytes, each digest on its own thread so the three run
//! side by side (sha512 and md5 are each slower than a disk write on their own).

use std::sync::Arc;
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::thread::JoinHandle;

use sha2::Digest;

/// Hex digests of a file's bytes (`sha256sum`, `sha512sum`, `md5sum` format).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Checksums {
    pub sha256: String,
    pub sha512: String,
    pub md5: String,
}

/// A run of output bytes handed to the digest threads.
#[derive(Clone)]
pub enum Chunk {
    /// `buf[start..end]`, shared with the writer without copying.
    Bytes(Arc<Vec<u8>>, usize, usize),
    /// `n` zero bytes (a hole).
    Zeros(u64),
}

/// Feeds every digest thread the same chunks, in order.
pub struct Hasher {
    txs: Vec<SyncSender<Chunk>>,
    handles: Vec<JoinHandle<String>>,
}

/// Chunks queued per digest thread; bounds memory to a few batches.
const QUEUE: usize = 4;

static ZEROS: [u8; 64 * 1024] = [0; 64 * 1024];

fn digest_loop<D: Digest>(rx: Receiver<Chunk>) -> String {
    let mut d = D::new();
    for chunk in rx {
        match chunk {
            Chunk::Bytes(buf, a, b) => d.update(&buf[a..b]),
            Chunk::Zeros(mut n) => {
                while n > 0 {
                    let k = n.min(ZEROS.len() as u64) as usize;
                    d.update(&ZEROS[..k]);
                    n -= k as u64;
                }
            }
        }
    }
    hex(&d.finalize())
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes.iter().fold(String::new(), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

impl Hasher {
    pub fn new() -> Self {
        let mut txs = Vec::new();
        let mut handles = Vec::new();
        let spawners: [fn(Receiver<Chunk>) -> String; 3] = [
            digest_loop::<sha2::Sha256>,
            digest_loop::<sha2::Sha512>,
            digest_loop::<md5::Md5>,
        ];
        for f in spawners {
            let (tx, rx) = sync_channel(QUEUE);
            txs.push(tx);
            handles.push(std::thread::spawn(move || f(rx)));
        }
        Hasher { txs, handles }
    }

    /// Hash `buf[start..end]` next.
    pub fn bytes(&self, buf: &Arc<Vec<u8>>, start: usize, end: usize) {
        if start < end {
            self.send(Chunk::Bytes(buf.clone(), start, end));
        }
    }

    /// Hash `n` zero bytes next.
    pub fn zeros(&self, n: u64) {
        if n > 0 {
            self.send(Chunk::Zeros(n));
        }
    }

    /// Hash a small owned buffer next.
    pub fn owned(&self, v: Vec<u8>) {
        let n = v.len();
        self.bytes(&Arc::new(v), 0, n);
    }

    fn send(&self, c: Chunk) {
        for tx in &self.txs {
            // A digest thread only stops when the channel closes, so send cannot fail.
            let _ = tx.send(c.clone());
        }
    }

    pub fn finish(self) -> Checksums {
        drop(self.txs);
        let mut out = self
            .handles
            .into_iter()
            .map(|h| h.join().unwrap_or_default());
        Checksums {
            sha256: out.next().unwrap_or_default(),
            sha512: out.next().unwrap_or_default(),
            md5: out.next().unwrap_or_default(),
        }
    }
}

impl Default for Hasher {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_digests_of_abc_and_zeros() {
        let h = Hasher::new();
        h.owned(b"ab".to_vec());
        h.bytes(&Arc::new(b"xxcxx".to_vec()), 2, 3);
        let c = h.finish();
        assert_eq!(
            c.sha256,
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(c.md5, "900150983cd24fb0d6963f7d28e17f72");
        assert!(c.sha512.starts_with("ddaf35a193617aba"));

        let h = Hasher::new();
        h.zeros(100_000);
        let z = h.finish();
        let mut d = md5::Md5::new();
        d.update(vec![0u8; 100_000]);
        assert_eq!(z.md5, hex(&d.finalize()));
    }
}
