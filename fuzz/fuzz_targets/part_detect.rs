//! Partition table, then filesystem detection on every partition found.
#![no_main]

use cloudseal::disk::Slice;
use cloudseal::fs::detect::detect;
use cloudseal::part::{mem::MemDisk, read_table};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let disk = MemDisk::new(data.to_vec());
    if let Ok(t) = read_table(&disk) {
        for p in &t.partitions {
            if let Ok(s) = Slice::new(&disk, p.start, p.size) {
                let _ = detect(&s);
            }
        }
    }
});
