//! vfat in userspace (the EFI partition): our FAT reader against mkfs.vfat/fsck.vfat, crafted
//! tables refused by name, random damage never panics or hangs, and the kernel path where
//! the kernel has a vfat driver.

use std::io::Cursor;
use std::path::{Path, PathBuf};
use std::process::Command;

use cloudseal::fs::vfat::VfatFs;
use cloudseal::fs::vfat::fat::Table;
use cloudseal::fs::{GuestFs, GuestFsMut};

use crate::util::{fixture, require_tool, run, run_ok, tempdir};

/// A 16 MiB FAT16 volume (2 KiB clusters) holding a 5-cluster file, a small one and a
/// directory, made by mkfs.vfat and mtools.
fn volume(dir: &Path) -> PathBuf {
    for t in ["mkfs.vfat", "mcopy", "mmd"] {
        require_tool(t);
    }
    let img = dir.join("esp.img");
    run_ok(
        Command::new("mkfs.vfat")
            .args(["-F", "16", "-s", "4", "-i", "0C5E0001", "-C"])
            .arg(&img)
            .arg("16384"),
    );
    let big = dir.join("big.bin");
    std::fs::write(&big, vec![0x5a; 10_000]).unwrap();
    let small = dir.join("random-seed");
    std::fs::write(&small, [7u8; 32]).unwrap();
    run_ok(
        Command::new("mmd")
            .arg("-i")
            .arg(&img)
            .args(["::/loader", "::/EFI"]),
    );
    run_ok(
        Command::new("mcopy")
            .arg("-i")
            .arg(&img)
            .arg(&big)
            .arg("::/EFI/big.bin"),
    );
    run_ok(
        Command::new("mcopy")
            .arg("-i")
            .arg(&img)
            .arg(&small)
            .arg("::/loader/random-seed"),
    );
    img
}

fn le16(b: &[u8], at: usize) -> usize {
    usize::from(u16::from_le_bytes([b[at], b[at + 1]]))
}

/// Byte offset of FAT entry `c` in the first FAT (FAT16).
fn fat16_entry(img: &[u8], c: usize) -> usize {
    le16(img, 0x0E) * le16(img, 0x0B) + 2 * c
}

/// The clusters of big.bin's chain, from the FAT (its first cluster from fsck's listing is
/// not needed: the only chain longer than one cluster is it).
fn long_chain(img: &[u8]) -> Vec<usize> {
    let next = |c: usize| le16(img, fat16_entry(img, c));
    for c in 2..8000 {
        let n = next(c);
        if (2..0xFFF0).contains(&n) {
            let mut chain = vec![c];
            let mut at = n;
            while (2..0xFFF0).contains(&at) {
                chain.push(at);
                at = next(at);
            }
            return chain;
        }
    }
    panic!("no multi-cluster chain in the volume");
}

/// One way to damage a volume.
type Damage<'a> = Box<dyn Fn(&mut Vec<u8>) + 'a>;

fn table_error(img: &[u8]) -> String {
    match Table::read(&mut Cursor::new(img.to_vec()), img.len() as u64) {
        Ok(_) => panic!("a damaged table was accepted"),
        Err(e) => e.to_string(),
    }
}

fn set16(img: &mut [u8], at: usize, v: u16) {
    img[at..at + 2].copy_from_slice(&v.to_le_bytes());
}

#[test]
fn free_clusters_agree_with_fsck_vfat() {
    require_tool("fsck.vfat");
    let t = tempdir();
    let img = volume(t.path());
    let bytes = std::fs::read(&img).unwrap();
    let table = Table::read(&mut Cursor::new(bytes.clone()), bytes.len() as u64).unwrap();
    let free: u64 = table.free_ranges().iter().map(|r| r.1).sum();
    // "esp.img: 4 files, 9/8167 clusters"
    let out = run_ok(Command::new("fsck.vfat").arg("-n").arg(&img));
    let frac = out
        .split_whitespace()
        .find(|w| {
            w.split_once('/')
                .is_some_and(|(a, _)| a.parse::<u64>().is_ok())
        })
        .unwrap_or_else(|| panic!("no used/total clusters in {out}"));
    let (used, total) = frac.split_once('/').unwrap();
    let (used, total): (u64, u64) = (used.parse().unwrap(), total.parse().unwrap());
    assert_eq!(free, (total - used) * 2048, "{out}");
}

#[test]
fn crafted_tables_are_refused_by_name() {
    let t = tempdir();
    let good = std::fs::read(volume(t.path())).unwrap();
    let chain = long_chain(&good);
    assert_eq!(chain.len(), 5, "{chain:?}");
    let cases: Vec<(&str, Damage<'_>)> = vec![
        (
            "loops",
            Box::new(|b: &mut Vec<u8>| {
                let at = fat16_entry(b, chain[4]);
                set16(b, at, chain[0] as u16);
            }),
        ),
        (
            "linked from two chains",
            Box::new(|b: &mut Vec<u8>| {
                let at = fat16_entry(b, 7000);
                set16(b, at, chain[2] as u16);
            }),
        ),
        (
            "outside the volume",
            Box::new(|b: &mut Vec<u8>| {
                let at = fat16_entry(b, chain[1]);
                set16(b, at, 0xFFF0);
            }),
        ),
        (
            "is cut",
            Box::new(|b: &mut Vec<u8>| {
                let at = fat16_entry(b, chain[1]);
                set16(b, at, 7001);
            }),
        ),
        (
            "bytes per sector",
            Box::new(|b: &mut Vec<u8>| set16(b, 0x0B, 0)),
        ),
        (
            "sectors per cluster",
            Box::new(|b: &mut Vec<u8>| b[0x0D] = 3),
        ),
        (
            "do not fit",
            Box::new(|b: &mut Vec<u8>| b.truncate(8 << 20)),
        ),
        ("signature", Box::new(|b: &mut Vec<u8>| b[510] = 0)),
    ];
    for (want, damage) in cases {
        let mut b = good.clone();
        damage(&mut b);
        let err = table_error(&b);
        assert!(err.contains(want), "{want}: {err}");
    }
}

/// Offset of the root-directory entry whose 8.3 name starts with `name` (FAT16 root region).
fn root_entry(img: &[u8], name: &[u8]) -> usize {
    let bps = le16(img, 0x0B);
    let root = (le16(img, 0x0E) + usize::from(img[0x10]) * le16(img, 0x16)) * bps;
    (root..root + le16(img, 0x11) * 32)
        .step_by(32)
        .find(|&at| img[at..].starts_with(name))
        .unwrap_or_else(|| panic!("no {name:?} entry in the root directory"))
}

/// Found by the vfat_open fuzz target (crash-618cd477…): a directory entry whose first
/// cluster is below 2 made fatfs subtract with overflow (a panic inside fatfs). Now the
/// directory walk refuses it, and a directory reached twice, before fatfs reads them.
#[test]
fn fuzz_regression_directory_entries_pointing_nowhere() {
    let t = tempdir();
    let good = std::fs::read(volume(t.path())).unwrap();
    let len = good.len() as u64;
    let open_err = |b: Vec<u8>| match VfatFs::open(Cursor::new(b), len, "esp") {
        Ok(_) => panic!("a damaged directory was accepted"),
        Err(e) => e.to_string(),
    };
    let loader = root_entry(&good, b"LOADER");
    let efi = root_entry(&good, b"EFI");
    let mut b = good.clone();
    set16(&mut b, loader + 26, 1);
    assert!(open_err(b).contains("holds no data"));
    let mut b = good.clone();
    let first = le16(&good, loader + 26) as u16;
    set16(&mut b, efi + 26, first);
    assert!(open_err(b).contains("reached twice"));
    assert!(VfatFs::open(Cursor::new(good), len, "esp").is_ok());
}

#[test]
fn edits_pass_fsck_vfat() {
    require_tool("fsck.vfat");
    let t = tempdir();
    let img = volume(t.path());
    let bytes = std::fs::read(&img).unwrap();
    let len = bytes.len() as u64;
    let mut cur = Cursor::new(bytes);
    {
        let mut fs = VfatFs::open(&mut cur, len, "esp").unwrap();
        assert_eq!(fs.read_file("/LOADER/Random-Seed", 64).unwrap(), [7u8; 32]);
        fs.remove_file("/loader/random-seed").unwrap();
        fs.truncate("/EFI/big.bin").unwrap();
        fs.write_file("/EFI/new.conf", b"timeout 3\n", 0o644)
            .unwrap();
        assert!(
            fs.mkdir("/EFI/sub", 0o755).is_err(),
            "fatfs 0.3.6 writes bad . entries"
        );
        assert!(fs.set_mode("/EFI/new.conf", 0o600).is_err());
        assert!(fs.remove_dir("/EFI").is_err(), "not empty");
        fs.close().unwrap();
    }
    let edited = t.path().join("edited.img");
    std::fs::write(&edited, cur.into_inner()).unwrap();
    let o = run(Command::new("fsck.vfat").arg("-n").arg(&edited));
    assert!(o.status.success(), "{o:?}");
    let list = run_ok(
        Command::new("mdir")
            .args(["-/", "-b", "-i"])
            .arg(&edited)
            .arg("::/"),
    );
    assert!(!list.contains("random-seed"), "{list}");
    assert!(list.contains("new.conf"), "{list}");
}

/// xorshift64*: deterministic damage, the same on every run.
fn rng(seed: &mut u64) -> u64 {
    *seed ^= *seed >> 12;
    *seed ^= *seed << 25;
    *seed ^= *seed >> 27;
    seed.wrapping_mul(0x2545_F491_4F6C_DD1D)
}

/// Walk and edit a volume as sealing would; any error is fine, a panic or hang is not.
fn exercise(bytes: Vec<u8>) {
    let len = bytes.len() as u64;
    let Ok(mut fs) = VfatFs::open(Cursor::new(bytes), len, "esp") else {
        return;
    };
    let mut dirs = vec!["/".to_string()];
    let mut files = Vec::new();
    while let Some(d) = dirs.pop() {
        if dirs.len() + files.len() > 200 {
            break;
        }
        let Ok(entries) = fs.read_dir(&d) else {
            continue;
        };
        for e in entries {
            let p = cloudseal::fs::join(&d, &e.name);
            match e.kind {
                cloudseal::fs::FileKind::Dir if p.matches('/').count() < 8 => dirs.push(p),
                cloudseal::fs::FileKind::File => files.push(p),
                _ => {}
            }
        }
    }
    for f in &files {
        let _ = fs.read_file(f, 1 << 20);
        let _ = fs.metadata(f);
    }
    if let Some(f) = files.first() {
        let _ = fs.remove_file(f);
    }
    let _ = fs.write_file("/loader/x", b"x", 0o644);
    let _ = fs.close();
}

#[test]
fn damaged_volumes_never_panic_or_hang() {
    let t = tempdir();
    let good = std::fs::read(volume(t.path())).unwrap();
    // Boot sector, both FATs and the root directory: where the structure lives.
    let hot = 40 << 10;
    let mut seed = 0x0c5e_5a1e_u64;
    for _ in 0..1500 {
        let mut b = good.clone();
        for _ in 0..1 + rng(&mut seed) % 4 {
            let at = (rng(&mut seed) % hot) as usize;
            b[at] = rng(&mut seed) as u8;
        }
        exercise(b);
    }
}

#[test]
fn kernel_vfat_path_where_the_kernel_has_it() {
    crate::mount::require_root();
    let t = tempdir();
    let o = run(crate::util::cloudseal()
        .args(["seal", "-q", "--backend", "mount", "-O", "raw"])
        .arg(fixture("mount/xfs-root.raw"))
        .arg("-o")
        .arg(t.path().join("out.raw")));
    if crate::util::kernel_has("vfat") {
        assert!(o.status.success(), "{o:?}");
    } else {
        // This machine kind's kernel: one clear line, nothing written.
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(!o.status.success());
        assert!(err.contains("this kernel has no vfat driver"), "{err}");
        assert!(!t.path().join("out.raw").exists());
    }
}

/// disks/gpt.raw: an ext4 root whose fstab mounts the EFI partition at /boot/efi. Sealed by
/// an unprivileged user: systemd-boot's seed goes, the boot loader stays byte-identical, the
/// volume is fsck.vfat-clean.
#[test]
fn esp_next_to_an_ext4_root_is_sealed_without_root() {
    crate::mount::require_root();
    require_tool("setpriv");
    let t = crate::util::world_tempdir();
    let dir = t.path().join("shared");
    std::fs::create_dir(&dir).unwrap();
    let input = dir.join("in.raw");
    std::fs::copy(fixture("disks/gpt.raw"), &input).unwrap();
    run_ok(Command::new("chmod").args(["-R", "a+rwX"]).arg(t.path()));
    let out = dir.join("out.raw");
    let o = run(Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
        .arg(env!("CARGO_BIN_EXE_cloudseal"))
        .args(["seal", "-q", "-O", "raw"])
        .arg(&input)
        .arg("-o")
        .arg(&out));
    assert!(o.status.success(), "{o:?}");
    crate::util::fsck_partition(&out, Some(2), "vfat");
    let before = crate::util::tree_listing(&input, Some(2), "vfat", None);
    let after = crate::util::tree_listing(&out, Some(2), "vfat", None);
    assert!(before.contains_key("/loader/random-seed"));
    assert!(!after.contains_key("/loader/random-seed"));
    let boot = "/EFI/BOOT/BOOTX64.EFI";
    assert!(before[boot].sha256.is_some());
    assert_eq!(after.get(boot), before.get(boot));
}
