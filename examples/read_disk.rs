//! Benchmark helper: read a whole image through `open_image` in fixed chunks, as the output
//! writer does, and print bytes and MB/s. `cargo run --release --example read_disk IMAGE [CHUNK]`
use std::time::Instant;

use cloudseal::disk::{OpenOptions, open_image};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let path = args.next().ok_or("usage: read_disk IMAGE [CHUNK_BYTES]")?;
    let chunk: usize = args
        .next()
        .map(|c| c.parse())
        .transpose()?
        .unwrap_or(4 << 20);
    let dev = open_image(std::path::Path::new(&path), &OpenOptions::default())?;
    let mut buf = vec![0u8; chunk];
    let start = Instant::now();
    let mut off = 0u64;
    let mut sum = 0u64;
    while off < dev.size() {
        let n = chunk.min((dev.size() - off) as usize);
        dev.read_exact_at(&mut buf[..n], off)?;
        sum = sum.wrapping_add(u64::from(buf[n - 1]));
        off += n as u64;
    }
    let secs = start.elapsed().as_secs_f64();
    println!(
        "{path}: {off} bytes in {secs:.2} s, {:.0} MB/s (checksum byte sum {sum})",
        off as f64 / secs / 1e6
    );
    Ok(())
}
