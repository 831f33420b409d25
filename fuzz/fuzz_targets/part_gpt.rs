//! GPT reading on arbitrary disks. When the input has GPT signatures, the first byte chooses
//! whether their CRCs are fixed up first, so the fuzzer reaches the checks behind them.
#![no_main]

use cloudseal::part::{mem::MemDisk, read_table};
use libfuzzer_sys::fuzz_target;

fn crc32(b: &[u8]) -> u32 {
    let mut c = flate2::Crc::new();
    c.update(b);
    c.sum()
}

/// Recompute the entry-array and header CRCs of the header at `hdr`, if it fits.
fn fix(d: &mut [u8], hdr: usize) {
    if d.len() < hdr + 92 || &d[hdr..hdr + 8] != b"EFI PART" {
        return;
    }
    let u64at = |d: &[u8], o: usize| u64::from_le_bytes(d[o..o + 8].try_into().unwrap_or([0; 8]));
    let u32at = |d: &[u8], o: usize| u32::from_le_bytes(d[o..o + 4].try_into().unwrap_or([0; 4]));
    let start = u64at(d, hdr + 72).saturating_mul(512);
    let len = u64::from(u32at(d, hdr + 80)).saturating_mul(u64::from(u32at(d, hdr + 84)));
    if let Some(end) = start.checked_add(len)
        && end <= d.len() as u64
    {
        let c = crc32(&d[start as usize..end as usize]);
        d[hdr + 88..hdr + 92].copy_from_slice(&c.to_le_bytes());
    }
    d[hdr + 16..hdr + 20].fill(0);
    let c = crc32(&d[hdr..hdr + 92]);
    d[hdr + 16..hdr + 20].copy_from_slice(&c.to_le_bytes());
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let mut d = rest.to_vec();
    if mode & 1 != 0 {
        fix(&mut d, 512);
        let last = (d.len() / 512).saturating_sub(1) * 512;
        fix(&mut d, last);
    }
    let _ = read_table(&MemDisk::new(d));
});
