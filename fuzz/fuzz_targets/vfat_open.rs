//! vfat on arbitrary bytes: our FAT check, then fatfs (behind catch_unwind) walking, reading
//! and editing the volume as sealing would. Errors are fine; a crash, hang or huge
//! allocation is a bug.
#![no_main]

use std::io::Cursor;

use cloudseal::fs::vfat::VfatFs;
use cloudseal::fs::{FileKind, GuestFs, GuestFsMut, join};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let len = data.len() as u64;
    let Ok(mut fs) = VfatFs::open(Cursor::new(data.to_vec()), len, "fuzz") else {
        return;
    };
    let mut dirs = vec!["/".to_string()];
    let mut files = Vec::new();
    while let Some(d) = dirs.pop() {
        if files.len() + dirs.len() > 256 {
            break;
        }
        let Ok(entries) = fs.read_dir(&d) else { continue };
        for e in entries {
            let p = join(&d, &e.name);
            match e.kind {
                FileKind::Dir if p.matches('/').count() < 8 => dirs.push(p),
                FileKind::File => files.push(p),
                _ => {}
            }
        }
    }
    for f in &files {
        let _ = fs.read_file(f, 1 << 20);
    }
    if let Some(f) = files.first() {
        let _ = fs.remove_file(f);
        let _ = fs.write_file(f, b"x", 0o644);
    }
    let _ = fs.close();
});
