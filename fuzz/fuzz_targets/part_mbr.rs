//! MBR (and EBR chain) reading on arbitrary disks: the input is the disk.
#![no_main]

use cloudseal::part::{mem::MemDisk, read_table};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = read_table(&MemDisk::new(data.to_vec()));
});
