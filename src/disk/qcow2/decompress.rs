//! Compressed clusters: raw deflate (zlib type) or one zstd frame, exactly one cluster out.
//!
//! Like qemu, the input may carry trailing bytes (the last 512-byte sector is padding), and
//! the output must fill the cluster exactly.

use std::cell::RefCell;

use flate2::{Decompress, FlushDecompress, Status};
use zstd::stream::raw::{DParameter, Decoder, InBuffer, Operation, OutBuffer};

use super::header::Compression;

/// zstd window cap: a 2 MiB cluster needs 2^21; a crafted frame must not make us
/// allocate the default 128 MiB.
const ZSTD_WINDOW_LOG_MAX: u32 = 22;

thread_local! {
    static INFLATE: RefCell<Option<Decompress>> = const { RefCell::new(None) };
    static ZSTD: RefCell<Option<Decoder<'static>>> = const { RefCell::new(None) };
}

/// Decompress `src` into all of `dst`; the error says what went wrong.
pub fn decompress(kind: Compression, src: &[u8], dst: &mut [u8]) -> Result<(), String> {
    match kind {
        Compression::Zlib => inflate(src, dst),
        Compression::Zstd => unzstd(src, dst),
    }
}

fn inflate(src: &[u8], dst: &mut [u8]) -> Result<(), String> {
    INFLATE.with(|cell| {
        let mut slot = cell.borrow_mut();
        let d = slot.get_or_insert_with(|| Decompress::new(false));
        d.reset(false);
        loop {
            let (inp, out) = (d.total_in() as usize, d.total_out() as usize);
            let status = d
                .decompress(&src[inp..], &mut dst[out..], FlushDecompress::Finish)
                .map_err(|e| format!("deflate data is invalid: {e}"))?;
            let done = d.total_out() as usize;
            if done == dst.len() {
                return Ok(());
            }
            let stalled = d.total_in() as usize == inp && done == out;
            if status == Status::StreamEnd || stalled {
                return Err(format!(
                    "deflate data ends after {done} bytes, the cluster has {}",
                    dst.len()
                ));
            }
        }
    })
}

fn unzstd(src: &[u8], dst: &mut [u8]) -> Result<(), String> {
    ZSTD.with(|cell| {
        let mut slot = cell.borrow_mut();
        let d = match slot.as_mut() {
            Some(d) => {
                d.reinit().map_err(|e| format!("zstd: {e}"))?;
                d
            }
            None => {
                let mut d = Decoder::new().map_err(|e| format!("zstd: {e}"))?;
                d.set_parameter(DParameter::WindowLogMax(ZSTD_WINDOW_LOG_MAX))
                    .map_err(|e| format!("zstd: {e}"))?;
                slot.insert(d)
            }
        };
        let mut input = InBuffer::around(src);
        let mut output = OutBuffer::around(dst);
        let mut hint = 1;
        while output.pos() < output.capacity() {
            let (inp, out) = (input.pos(), output.pos());
            let r = d.run(&mut input, &mut output);
            hint = match r {
                Ok(h) => h,
                Err(e) => {
                    // Leave the context usable for the next cluster.
                    *slot = None;
                    return Err(format!("zstd data is invalid: {e}"));
                }
            };
            if input.pos() == inp && output.pos() == out {
                break;
            }
        }
        let done = output.pos();
        if done != output.capacity() {
            return Err(format!(
                "zstd data ends after {done} bytes, the cluster has {}",
                output.capacity()
            ));
        }
        // A frame that still has output pending holds more than one cluster.
        if hint != 0 {
            let mut extra = [0u8; 1];
            let mut more = OutBuffer::around(&mut extra[..]);
            if d.run(&mut input, &mut more).is_ok() && more.pos() > 0 {
                *slot = None;
                return Err("zstd frame holds more than one cluster".into());
            }
        }
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn sample() -> Vec<u8> {
        (0..65536u32).map(|i| (i * 7 / 13) as u8).collect()
    }

    #[test]
    fn inflates_raw_deflate_with_padding() {
        let data = sample();
        let mut e = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::fast());
        e.write_all(&data).expect("deflate");
        let mut z = e.finish().expect("deflate");
        z.extend_from_slice(&[0u8; 300]); // sector padding
        let mut out = vec![0u8; data.len()];
        decompress(Compression::Zlib, &z, &mut out).expect("inflate");
        assert_eq!(out, data);
        // Too short an output cluster is fine (qemu stops when full); too long is an error.
        let mut long = vec![0u8; data.len() * 2];
        let err = decompress(Compression::Zlib, &z, &mut long).unwrap_err();
        assert!(err.contains("ends after 65536 bytes"), "{err}");
        let err = decompress(Compression::Zlib, &[0xff; 64], &mut out).unwrap_err();
        assert!(err.contains("deflate"), "{err}");
    }

    #[test]
    fn unzstds_one_frame_with_padding() {
        let data = sample();
        let mut z = zstd::bulk::compress(&data, 3).expect("zstd");
        z.extend_from_slice(&[0u8; 300]);
        let mut out = vec![0u8; data.len()];
        decompress(Compression::Zstd, &z, &mut out).expect("unzstd");
        assert_eq!(out, data);
        let mut long = vec![0u8; data.len() + 1];
        assert!(decompress(Compression::Zstd, &z, &mut long).is_err());
        let mut short = vec![0u8; data.len() - 1];
        assert!(decompress(Compression::Zstd, &z, &mut short).is_err());
        assert!(decompress(Compression::Zstd, &[0xff; 64], &mut out).is_err());
        // The context still works after errors.
        decompress(Compression::Zstd, &z, &mut out).expect("unzstd again");
        assert_eq!(out, data);
    }
}
