//! Digests of a byte stream (sha256, sha512, md5), each algorithm on its own thread.
//!
//! One chain of sha512 or md5 cannot be split; on their own threads the three cost about their
//! total CPU spread over the cores instead of their sum on one. The work is done by the system's
//! libcrypto (OpenSSL), whose assembly is the fastest here: sha512 ~620 MB/s and md5 ~650 MB/s
//! per core against ~440 and ~540 for the RustCrypto crates (docs/output.md); sha256 is ~1.5 GB/s
//! in both (SHA-NI). Where OpenSSL refuses an algorithm (md5 in FIPS mode) the RustCrypto one
//! is used instead. Input goes over in large chunks, shared and not copied: a chunk is one
//! buffer plus the pieces of it to hash in order (byte ranges, or runs of zeros that need no
//! buffer at all, e.g. a sparse file's holes). One message per megabytes, not per small write,
//! keeps the channel cost out of the profile.
//!
//! [`Digests`] is the one record of a stream's digests: an output's report and manifest list
//! it, and a Glance upload checks the image record against it.

use std::ops::Range;
use std::sync::Arc;
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::thread::JoinHandle;

use openssl::error::ErrorStack;
use sha2::Digest;

#[derive(Debug, thiserror::Error)]
pub enum DigestError {
    /// libcrypto failed in the middle of a digest (it does not, short of a broken library).
    #[error("computing the {algo}")]
    Failed {
        algo: &'static str,
        #[source]
        source: openssl::error::ErrorStack,
    },
    /// A [`Digests`] record asked of a digester that did not compute this algorithm.
    #[error("no {0} digest was computed")]
    Missing(&'static str),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Algo {
    Sha256,
    Sha512,
    Md5,
}

impl Algo {
    /// The algorithms of a [`Digests`] record, in its order.
    pub const ALL: [Algo; 3] = [Algo::Sha256, Algo::Sha512, Algo::Md5];

    /// As the `*sum` tools and file extensions name it: `sha256`, `sha512`, `md5`.
    pub fn name(self) -> &'static str {
        match self {
            Algo::Sha256 => "sha256",
            Algo::Sha512 => "sha512",
            Algo::Md5 => "md5",
        }
    }
}

/// The digests of one byte stream, hex as `sha256sum`, `sha512sum` and `md5sum` print them,
/// and its length.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Digests {
    /// Bytes hashed. Not serialized: reports carry the file size beside the digests.
    #[serde(skip)]
    pub size: u64,
    pub sha256: String,
    pub sha512: String,
    pub md5: String,
}

impl Digests {
    /// A digester for every algorithm of the record; finish it with [`Digester::digests`].
    pub fn digester() -> Digester {
        Digester::new(&Algo::ALL)
    }

    pub fn get(&self, a: Algo) -> &str {
        match a {
            Algo::Sha256 => &self.sha256,
            Algo::Sha512 => &self.sha512,
            Algo::Md5 => &self.md5,
        }
    }
}

/// Part of a chunk, hashed in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Piece {
    /// These bytes of the chunk's buffer.
    Bytes(Range<usize>),
    /// This many zero bytes.
    Zeros(u64),
}

struct Chunk {
    buf: Arc<Vec<u8>>,
    pieces: Arc<[Piece]>,
}

/// Chunks queued per digest thread: bounds memory to a few chunks.
const QUEUE: usize = 4;
/// `update` collects small writes up to this much before sending them.
const GATHER: usize = 1 << 20;

static ZEROS: [u8; 64 * 1024] = [0; 64 * 1024];

/// Hex digests of everything fed in, one thread per algorithm.
pub struct Digester {
    txs: Vec<SyncSender<Chunk>>,
    handles: Vec<(Algo, JoinHandle<Result<String, ErrorStack>>)>,
    /// Bytes fed so far (pending ones included).
    fed: u64,
    /// Small writes gathered by `update`, sent as one chunk.
    pending: Vec<u8>,
    /// Buffers the digest threads are done with, reused by `update` and `buffer`.
    spare: Vec<Arc<Vec<u8>>>,
}

/// One running digest.
trait Engine: Send {
    fn update(&mut self, data: &[u8]) -> Result<(), ErrorStack>;
    fn finish(self: Box<Self>) -> Result<Vec<u8>, ErrorStack>;
}

struct Openssl(openssl::hash::Hasher);

impl Engine for Openssl {
    fn update(&mut self, data: &[u8]) -> Result<(), ErrorStack> {
        self.0.update(data)
    }
    fn finish(mut self: Box<Self>) -> Result<Vec<u8>, ErrorStack> {
        self.0.finish().map(|d| d.to_vec())
    }
}

struct RustCrypto<D>(D);

impl<D: Digest + Send> Engine for RustCrypto<D> {
    fn update(&mut self, data: &[u8]) -> Result<(), ErrorStack> {
        self.0.update(data);
        Ok(())
    }
    fn finish(self: Box<Self>) -> Result<Vec<u8>, ErrorStack> {
        Ok(self.0.finalize().to_vec())
    }
}

fn rust_engine(a: Algo) -> Box<dyn Engine> {
    match a {
        Algo::Sha256 => Box::new(RustCrypto(sha2::Sha256::new())),
        Algo::Sha512 => Box::new(RustCrypto(sha2::Sha512::new())),
        Algo::Md5 => Box::new(RustCrypto(md5::Md5::new())),
    }
}

fn engine(a: Algo) -> Box<dyn Engine> {
    use openssl::hash::MessageDigest;
    let md = match a {
        Algo::Sha256 => MessageDigest::sha256(),
        Algo::Sha512 => MessageDigest::sha512(),
        Algo::Md5 => MessageDigest::md5(),
    };
    match openssl::hash::Hasher::new(md) {
        Ok(h) => Box::new(Openssl(h)),
        Err(e) => {
            log::debug!("libcrypto refuses {a:?} ({e}); using the built-in one");
            rust_engine(a)
        }
    }
}

fn digest_loop(mut d: Box<dyn Engine>, rx: Receiver<Chunk>) -> Result<String, ErrorStack> {
    for chunk in rx {
        for piece in chunk.pieces.iter() {
            match piece {
                Piece::Bytes(r) => d.update(&chunk.buf[r.clone()])?,
                Piece::Zeros(n) => {
                    let mut n = *n;
                    while n > 0 {
                        let k = n.min(ZEROS.len() as u64) as usize;
                        d.update(&ZEROS[..k])?;
                        n -= k as u64;
                    }
                }
            }
        }
    }
    d.finish().map(|b| hex(&b))
}

pub fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes.iter().fold(String::new(), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

impl Digester {
    pub fn new(algos: &[Algo]) -> Self {
        Self::with_engines(algos, engine)
    }

    fn with_engines(algos: &[Algo], make: fn(Algo) -> Box<dyn Engine>) -> Self {
        let mut txs = Vec::new();
        let mut handles = Vec::new();
        for &a in algos {
            let (tx, rx) = sync_channel(QUEUE);
            let d = make(a);
            txs.push(tx);
            let h = std::thread::Builder::new()
                .name(format!("{a:?}").to_lowercase())
                .spawn(move || digest_loop(d, rx))
                .expect("spawning a digest thread");
            handles.push((a, h));
        }
        Digester {
            txs,
            handles,
            fed: 0,
            pending: Vec::new(),
            spare: Vec::new(),
        }
    }

    /// Hash `pieces` of `buf` next, in order, without copying `buf`.
    pub fn pieces(&mut self, buf: &Arc<Vec<u8>>, pieces: Vec<Piece>) {
        self.flush_pending();
        self.fed += pieces
            .iter()
            .map(|p| match p {
                Piece::Bytes(r) => r.len() as u64,
                Piece::Zeros(n) => *n,
            })
            .sum::<u64>();
        if !pieces.is_empty() {
            self.send(buf.clone(), pieces.into());
        }
    }

    /// Hash a copy of `data` next (gathered with other small writes into one chunk).
    pub fn update(&mut self, data: &[u8]) {
        if self.pending.capacity() == 0 {
            self.pending = self.buffer();
            self.pending.clear();
        }
        self.pending.extend_from_slice(data);
        self.fed += data.len() as u64;
        if self.pending.len() >= GATHER {
            self.flush_pending();
        }
    }

    /// A buffer to fill and pass to [`Digester::owned`]: one the digest threads are done with
    /// when there is one, so steady streaming allocates (and faults in) nothing. Its length
    /// and contents are those of its last use: `resize` it (a no-op for a same-size refill)
    /// or `clear` it first.
    pub fn buffer(&mut self) -> Vec<u8> {
        self.spare
            .iter()
            .position(|b| Arc::strong_count(b) == 1)
            .and_then(|i| Arc::try_unwrap(self.spare.swap_remove(i)).ok())
            .unwrap_or_else(|| Vec::with_capacity(GATHER))
    }

    /// Hash all of `v` next, without copying it; it returns to the pool once hashed.
    pub fn owned(&mut self, v: Vec<u8>) {
        self.flush_pending();
        self.fed += v.len() as u64;
        self.send_owned(v);
    }

    fn send_owned(&mut self, v: Vec<u8>) {
        if v.is_empty() {
            return;
        }
        let n = v.len();
        let buf = Arc::new(v);
        self.send(buf.clone(), Arc::new([Piece::Bytes(0..n)]));
        // Enough to cover every chunk in flight (QUEUE per thread, plus one being hashed).
        if self.spare.len() < (QUEUE + 1) * self.txs.len() + 1 {
            self.spare.push(buf);
        }
    }

    fn flush_pending(&mut self) {
        if !self.pending.is_empty() {
            let v = std::mem::take(&mut self.pending);
            self.send_owned(v);
        }
    }

    fn send(&self, buf: Arc<Vec<u8>>, pieces: Arc<[Piece]>) {
        for tx in &self.txs {
            // A digest thread only stops when its channel closes (or it panicked, which
            // `finish` reports), so a failed send needs no handling here.
            let _ = tx.send(Chunk {
                buf: buf.clone(),
                pieces: pieces.clone(),
            });
        }
    }

    /// The hex digests, in the order of the algorithms given to `new`.
    pub fn finish(self) -> Result<Vec<String>, DigestError> {
        Ok(self.join()?.1.into_iter().map(|(_, h)| h).collect())
    }

    /// The record of every algorithm, each digest taken by its algorithm (a digester made
    /// for fewer algorithms is an error, not an empty digest).
    pub fn digests(self) -> Result<Digests, DigestError> {
        let (size, done) = self.join()?;
        let take = |a: Algo| {
            done.iter()
                .find(|(b, _)| *b == a)
                .map(|(_, h)| h.clone())
                .ok_or(DigestError::Missing(a.name()))
        };
        Ok(Digests {
            size,
            sha256: take(Algo::Sha256)?,
            sha512: take(Algo::Sha512)?,
            md5: take(Algo::Md5)?,
        })
    }

    /// Bytes fed, and each algorithm's hex digest.
    fn join(mut self) -> Result<(u64, Vec<(Algo, String)>), DigestError> {
        self.flush_pending();
        drop(self.txs);
        let done = self
            .handles
            .into_iter()
            .map(|(a, h)| {
                let hex = h
                    .join()
                    .unwrap_or_else(|p| std::panic::resume_unwind(p))
                    .map_err(|source| DigestError::Failed {
                        algo: a.name(),
                        source,
                    })?;
                Ok((a, hex))
            })
            .collect::<Result<_, DigestError>>()?;
        Ok((self.fed, done))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALL: [Algo; 3] = [Algo::Sha256, Algo::Sha512, Algo::Md5];

    fn one_shot(data: &[u8]) -> Vec<String> {
        vec![
            hex(&sha2::Sha256::digest(data)),
            hex(&sha2::Sha512::digest(data)),
            hex(&md5::Md5::digest(data)),
        ]
    }

    #[test]
    fn known_digests_of_abc() {
        let mut d = Digester::new(&ALL);
        d.update(b"ab");
        d.pieces(&Arc::new(b"xxcxx".to_vec()), vec![Piece::Bytes(2..3)]);
        let h = d.finish().unwrap();
        assert_eq!(
            h[0],
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert!(h[1].starts_with("ddaf35a193617aba") && h[1].ends_with("a54ca49f"));
        assert_eq!(h[2], "900150983cd24fb0d6963f7d28e17f72");
    }

    #[test]
    fn mixed_pieces_updates_and_zero_runs_hash_as_one_stream() {
        // Deterministic bytes; zero runs longer than the static zero buffer.
        let data: Vec<u8> = (0..3_000_000u32)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8)
            .collect();
        let mut expect = Vec::new();
        let mut d = Digester::new(&ALL);
        let shared = Arc::new(data.clone());
        d.pieces(
            &shared,
            vec![
                Piece::Bytes(0..1000),
                Piece::Zeros(200_000),
                Piece::Bytes(5000..2_500_000),
            ],
        );
        expect.extend_from_slice(&data[..1000]);
        expect.extend(std::iter::repeat_n(0u8, 200_000));
        expect.extend_from_slice(&data[5000..2_500_000]);
        // Small writes gathered past the 1 MiB flush point, then shared bytes again.
        for c in data[..1_500_000].chunks(8191) {
            d.update(c);
            expect.extend_from_slice(c);
        }
        d.pieces(&shared, vec![Piece::Bytes(7..9)]);
        expect.extend_from_slice(&data[7..9]);
        d.update(b"tail");
        expect.extend_from_slice(b"tail");
        assert_eq!(d.finish().unwrap(), one_shot(&expect));
    }

    #[test]
    fn libcrypto_and_the_builtin_digests_agree() {
        let data: Vec<u8> = (0..1_000_003u32).map(|i| (i % 251) as u8).collect();
        let shared = Arc::new(data);
        let run = |make: fn(Algo) -> Box<dyn Engine>| {
            let mut d = Digester::with_engines(&ALL, make);
            d.pieces(&shared, vec![Piece::Bytes(0..shared.len())]);
            d.pieces(&shared, vec![Piece::Zeros(70_000), Piece::Bytes(3..99)]);
            d.finish().unwrap()
        };
        assert_eq!(run(engine), run(rust_engine));
    }

    /// Regression: a record was filled by position, so a digester lacking an algorithm gave
    /// an empty string (or another algorithm's digest) in its place.
    #[test]
    fn a_record_needs_every_algorithm_and_takes_each_by_name() {
        let err = Digester::new(&[Algo::Md5, Algo::Sha512]).digests();
        assert!(
            matches!(err, Err(DigestError::Missing("sha256"))),
            "{err:?}"
        );
        let mut d = Digester::new(&[Algo::Md5, Algo::Sha256, Algo::Sha512]);
        d.update(b"ab");
        d.pieces(
            &Arc::new(b"xc".to_vec()),
            vec![Piece::Bytes(1..2), Piece::Zeros(2)],
        );
        d.owned(b"d".to_vec());
        let r = d.digests().unwrap();
        let want = one_shot(b"abc\0\0d");
        assert_eq!(
            (r.size, [r.sha256, r.sha512, r.md5]),
            (6, [want[0].clone(), want[1].clone(), want[2].clone()])
        );
    }

    #[test]
    fn nothing_fed_gives_the_empty_digests() {
        assert_eq!(Digester::new(&ALL).finish().unwrap(), one_shot(b""));
        let d = Digester::new(&[Algo::Md5]);
        assert_eq!(
            d.finish().unwrap(),
            vec!["d41d8cd98f00b204e9800998ecf8427e"]
        );
    }
}
