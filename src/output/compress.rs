//! Per-cluster compression for qcow2, with the stream formats qemu reads back:
//! zlib = raw deflate with a 4 KiB window (qemu inflates with windowBits -12), zstd = one frame.
//! Deflate uses qemu's `deflateInit2(level, Z_DEFLATED, -12, 9, Z_DEFAULT_STRATEGY)` through
//! zlib-rs directly: flate2 fixes memLevel at 8, whose smaller symbol buffer ends deflate
//! blocks sooner and costs a little output size.

use std::cell::RefCell;

use super::OutputError;

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Codec {
    #[serde(alias = "deflate")]
    Zlib,
    Zstd,
}

impl std::str::FromStr for Codec {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "zlib" | "deflate" => Ok(Codec::Zlib),
            "zstd" => Ok(Codec::Zstd),
            _ => Err(format!("unknown codec {s:?} (zlib or zstd)")),
        }
    }
}

impl std::fmt::Display for Codec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Codec::Zlib => "zlib",
            Codec::Zstd => "zstd",
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Compression {
    pub codec: Codec,
    pub level: i32,
}

impl Compression {
    /// Defaults that compress like qemu-img's: zstd ZSTD_CLEVEL_DEFAULT (3) as qemu; zlib 9,
    /// because zlib-rs at qemu's level 6 (Z_DEFAULT_COMPRESSION) uses zlib-ng's faster
    /// "medium" strategy and writes ~2.4% more than the system zlib qemu links; at 9 its
    /// output is no larger than qemu's at 6 and still faster than qemu-img on two cores
    /// (benches/RESULTS.md).
    pub fn default_for(codec: Codec) -> Self {
        let level = match codec {
            Codec::Zlib => 9,
            Codec::Zstd => 3,
        };
        Compression { codec, level }
    }

    pub fn validate(&self) -> Result<(), OutputError> {
        let ok = match self.codec {
            Codec::Zlib => (0..=9).contains(&self.level),
            Codec::Zstd => (1..=22).contains(&self.level),
        };
        if ok {
            Ok(())
        } else {
            Err(OutputError::Invalid(format!(
                "{} level {} out of range ({})",
                self.codec,
                self.level,
                match self.codec {
                    Codec::Zlib => "0-9",
                    Codec::Zstd => "1-22",
                }
            )))
        }
    }
}

/// A compressor context kept per worker thread (creating one per cluster is costly).
enum Ctx {
    Zlib(zlib_rs::Deflate),
    Zstd(zstd::bulk::Compressor<'static>),
}

thread_local! {
    static CTX: RefCell<Option<(Compression, Ctx)>> = const { RefCell::new(None) };
}

/// Compress one cluster into `out` (cleared first). Returns false when the result is not at
/// least `min_saving` bytes smaller than the input: the cluster is then stored raw.
pub fn compress_cluster(c: Compression, data: &[u8], out: &mut Vec<u8>, min_saving: usize) -> bool {
    let Some(limit) = data.len().checked_sub(min_saving) else {
        return false;
    };
    if limit == 0 {
        return false;
    }
    out.clear();
    // zlib-rs 0.6 panics when a stored block does not fit the output buffer, so give deflate
    // room for its worst case (deflateBound) and compare the size afterwards.
    out.resize(data.len() + data.len() / 8 + 64, 0);
    CTX.with(|cell| {
        let mut slot = cell.borrow_mut();
        if !matches!(&*slot, Some((have, _)) if *have == c) {
            *slot = new_ctx(c).map(|ctx| (c, ctx));
        }
        let Some((_, ctx)) = slot.as_mut() else {
            return false;
        };
        let n = match ctx {
            Ctx::Zlib(z) => {
                z.reset();
                match z.compress(data, out, zlib_rs::DeflateFlush::Finish) {
                    Ok(zlib_rs::Status::StreamEnd) => z.total_out() as usize,
                    _ => return false,
                }
            }
            Ctx::Zstd(z) => match z.compress_to_buffer(data, &mut out[..limit]) {
                Ok(n) => n,
                Err(_) => return false, // does not fit: incompressible
            },
        };
        if n > limit {
            return false;
        }
        out.truncate(n);
        true
    })
}

fn new_ctx(c: Compression) -> Option<Ctx> {
    match c.codec {
        Codec::Zlib => Some(Ctx::Zlib(zlib_rs::Deflate::new_with_config(
            zlib_rs::DeflateConfig {
                level: c.level.clamp(0, 9),
                method: zlib_rs::Method::Deflated,
                window_bits: -12,
                mem_level: 9,
                strategy: zlib_rs::Strategy::Default,
            },
        ))),
        Codec::Zstd => zstd::bulk::Compressor::new(c.level).ok().map(Ctx::Zstd),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text_cluster() -> Vec<u8> {
        let mut v = Vec::new();
        let mut i = 0u32;
        while v.len() < 65536 {
            v.extend_from_slice(format!("line {i} of some compressible text\n").as_bytes());
            i += 1;
        }
        v.truncate(65536);
        v
    }

    #[test]
    fn zlib_round_trips_with_a_4k_window() {
        let data = text_cluster();
        let mut out = Vec::new();
        assert!(compress_cluster(
            Compression::default_for(Codec::Zlib),
            &data,
            &mut out,
            512
        ));
        let mut d = flate2::Decompress::new_with_window_bits(false, 12);
        let mut back = vec![0u8; data.len()];
        let st = d
            .decompress(&out, &mut back, flate2::FlushDecompress::Finish)
            .expect("inflate");
        assert_eq!(st, flate2::Status::StreamEnd);
        assert_eq!(back, data);
    }

    #[test]
    fn zstd_round_trips() {
        let data = text_cluster();
        let mut out = Vec::new();
        assert!(compress_cluster(
            Compression::default_for(Codec::Zstd),
            &data,
            &mut out,
            512
        ));
        assert_eq!(
            zstd::bulk::decompress(&out, data.len()).expect("zstd"),
            data
        );
    }

    #[test]
    fn incompressible_cluster_is_refused() {
        // xorshift noise does not compress by 512 bytes
        let mut x = 0x1234_5678_9abc_def0u64;
        let data: Vec<u8> = (0..65536)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect();
        let mut out = Vec::new();
        for codec in [Codec::Zlib, Codec::Zstd] {
            assert!(!compress_cluster(
                Compression::default_for(codec),
                &data,
                &mut out,
                512
            ));
        }
    }
}
