//! Fuzz the qcow2 reader: open arbitrary bytes as an in-memory image, then read a capped
//! part of the disk and walk its extents. Any panic, hang or oversized allocation is a bug.
#![no_main]

use cloudseal::disk::BlockDev;
use cloudseal::disk::qcow2::Qcow2;
use libfuzzer_sys::fuzz_target;

/// Bytes read from the start and from the end of the virtual disk.
const READ_CAP: u64 = 1 << 20;

fuzz_target!(|data: &[u8]| {
    let Ok(q) = Qcow2::from_bytes(data.to_vec()) else {
        return;
    };
    let size = q.size();
    let mut buf = vec![0u8; 64 << 10];
    let head = size.min(READ_CAP);
    let tail = size.saturating_sub(READ_CAP).max(head);
    for range in [0..head, tail..size] {
        let mut off = range.start;
        while off < range.end {
            let n = (buf.len() as u64).min(range.end - off) as usize;
            if q.read_exact_at(&mut buf[..n], off).is_err() {
                break;
            }
            off += n as u64;
        }
    }
    // Odd-sized reads inside a cluster go through the decompressed-cluster cache.
    let _ = q.read_exact_at(&mut buf[..1000], 7.min(size.saturating_sub(1000)));
    let mut off = 0;
    for _ in 0..256 {
        match q.extent_status(off, size - off) {
            Ok(e) if off + e.len < size => off += e.len,
            _ => break,
        }
    }
});
