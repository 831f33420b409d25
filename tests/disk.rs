//! The disk layer against qemu: every qcow2 layout reads back byte for byte like
//! `qemu-img convert -O raw`, extents agree with `qemu-img map`, broken images fail with an
//! error that names the problem, and mutated images never panic.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use cloudseal::disk::{BlockDev, DiskError, ExtentKind, OpenOptions, open_image};

use crate::util::{fixture, require_tool, run_ok, sha256sum, tempdir};

mod mutation;

/// Images that must read exactly like qemu reads them, without backing files.
const GOOD: &[&str] = &[
    "v2",
    "v3",
    "c512",
    "c4k",
    "c2m",
    "rc1",
    "rc64",
    "zlib",
    "zlib-v2",
    "zlib-c512",
    "zstd",
    "zstd-c4k",
    "zstd-c2m",
    "zero",
    "mixed",
    "small",
    "small-zstd",
];
/// Overlays: refused by default, readable with allow_backing.
const OVERLAYS: &[&str] = &["overlay", "overlay2", "overlay-raw"];

fn qcow2(name: &str) -> PathBuf {
    fixture(&format!("qcow2/{name}.qcow2"))
}

fn allow_backing() -> OpenOptions {
    OpenOptions {
        allow_backing: true,
    }
}

/// sha256 of every byte `dev` returns, read in `chunk`-sized pieces (the last one shorter)
/// and hashed by `sha256sum` (the reference tool, and fast in debug builds).
fn sha256_of_dev(dev: &dyn BlockDev, chunk: usize) -> Result<String, DiskError> {
    require_tool("sha256sum");
    let mut child = Command::new("sha256sum")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("starting sha256sum");
    let mut stdin = child.stdin.take().expect("sha256sum stdin");
    let mut buf = vec![0u8; chunk];
    let mut off = 0u64;
    let mut result = Ok(());
    while off < dev.size() {
        let n = chunk.min((dev.size() - off) as usize);
        if let Err(e) = dev.read_exact_at(&mut buf[..n], off) {
            result = Err(e);
            break;
        }
        stdin.write_all(&buf[..n]).expect("writing to sha256sum");
        off += n as u64;
    }
    drop(stdin);
    let out = child.wait_with_output().expect("running sha256sum");
    assert!(out.status.success(), "sha256sum failed");
    result?;
    let text = String::from_utf8_lossy(&out.stdout);
    Ok(text
        .split_whitespace()
        .next()
        .unwrap_or_default()
        .to_string())
}

/// What qemu reads: sha256 of `qemu-img convert -O raw`, and the virtual size.
fn qemu_sha256(path: &Path) -> (String, u64) {
    require_tool("qemu-img");
    let dir = tempdir();
    let raw = dir.path().join("out.raw");
    run_ok(
        Command::new("qemu-img")
            .args(["convert", "-O", "raw"])
            .arg(path)
            .arg(&raw),
    );
    let size = std::fs::metadata(&raw).expect("stat converted image").len();
    (sha256sum(&raw), size)
}

/// Read chunk sizes the output writer uses, and small odd ones that split clusters
/// (served from the decompressed-cluster cache for compressed images).
const CHUNKS: [usize; 4] = [64 << 10, (1 << 20) + 512, 4 << 20, 12_800];

fn check_reads_like_qemu(name: &str, opts: &OpenOptions, chunk: usize) {
    let path = qcow2(name);
    let (want, size) = qemu_sha256(&path);
    let dev = open_image(&path, opts).unwrap_or_else(|e| panic!("opening {name}: {e}"));
    assert_eq!(dev.size(), size, "{name}: virtual size");
    let got = sha256_of_dev(dev.as_ref(), chunk).unwrap_or_else(|e| panic!("{name}: {e}"));
    assert_eq!(
        got, want,
        "{name}: content read in {chunk}-byte chunks differs from qemu's"
    );
}

#[test]
fn qcow2_good_images_read_like_qemu() {
    for (i, name) in GOOD.iter().enumerate() {
        check_reads_like_qemu(name, &OpenOptions::default(), CHUNKS[i % CHUNKS.len()]);
    }
}

#[test]
fn qcow2_overlays_read_like_qemu_with_allow_backing() {
    for (i, name) in OVERLAYS.iter().enumerate() {
        check_reads_like_qemu(name, &allow_backing(), CHUNKS[(i + 1) % CHUNKS.len()]);
    }
}

#[test]
fn qcow2_overlays_are_refused_by_default() {
    for name in OVERLAYS {
        let err = open_image(&qcow2(name), &OpenOptions::default())
            .err()
            .unwrap_or_else(|| panic!("{name}: opened without allow_backing"));
        let text = err.to_string();
        assert!(text.contains("backing file"), "{name}: {text}");
    }
}

#[test]
fn raw_source_reads_like_its_file() {
    let path = fixture("qcow2/disk.raw");
    let dev = open_image(&path, &OpenOptions::default()).expect("opening disk.raw");
    assert_eq!(dev.format(), cloudseal::disk::ImageFormat::Raw);
    let got = sha256_of_dev(dev.as_ref(), 1 << 20).expect("reading disk.raw");
    assert_eq!(got, sha256sum(&path));
}

/// Merged (start, len, kind) runs covering the whole disk.
type Map = Vec<(u64, u64, ExtentKind)>;

fn push(map: &mut Map, start: u64, len: u64, kind: ExtentKind) {
    match map.last_mut() {
        Some(last) if last.2 == kind && last.0 + last.1 == start => last.1 += len,
        _ => map.push((start, len, kind)),
    }
}

fn our_map(dev: &dyn BlockDev, query: u64) -> Map {
    let mut map = Map::new();
    let mut off = 0;
    while off < dev.size() {
        let e = dev.extent_status(off, query).expect("extent_status");
        assert!(
            e.len > 0 && e.len <= query,
            "extent length {} for query {query}",
            e.len
        );
        push(&mut map, off, e.len, e.kind);
        off += e.len;
    }
    map
}

/// qemu-img map: data=true is Data; otherwise present is Zero, absent is Unallocated.
fn qemu_map(path: &Path) -> Map {
    let out = run_ok(
        Command::new("qemu-img")
            .args(["map", "--output=json"])
            .arg(path),
    );
    let runs: Vec<serde_json::Value> = serde_json::from_str(&out).expect("qemu-img map json");
    let mut map = Map::new();
    for r in runs {
        let kind = if r["data"] == true {
            ExtentKind::Data
        } else if r["present"] == true {
            ExtentKind::Zero
        } else {
            ExtentKind::Unallocated
        };
        let (start, len) = (r["start"].as_u64(), r["length"].as_u64());
        push(&mut map, start.expect("start"), len.expect("length"), kind);
    }
    map
}

/// Collapse Zero and Unallocated into one "reads as zeros, nothing stored" kind.
fn data_or_not(map: &Map) -> Map {
    let mut out = Map::new();
    for &(s, l, k) in map {
        let k = if k == ExtentKind::Data {
            k
        } else {
            ExtentKind::Unallocated
        };
        push(&mut out, s, l, k);
    }
    out
}

#[test]
fn qcow2_extents_agree_with_qemu_img_map() {
    require_tool("qemu-img");
    for name in GOOD {
        let path = qcow2(name);
        let dev = open_image(&path, &OpenOptions::default()).expect("open");
        let want = qemu_map(&path);
        assert_eq!(
            our_map(dev.as_ref(), u64::MAX),
            want,
            "{name}: whole-disk queries"
        );
        assert_eq!(
            our_map(dev.as_ref(), (1 << 20) + 512),
            want,
            "{name}: capped queries"
        );
    }
    // Through backing files qemu calls a raw file's holes "zero" where we say unallocated;
    // both read as zeros, so compare data against everything else.
    for name in OVERLAYS {
        let path = qcow2(name);
        let dev = open_image(&path, &allow_backing()).expect("open");
        let want = data_or_not(&qemu_map(&path));
        assert_eq!(
            data_or_not(&our_map(dev.as_ref(), u64::MAX)),
            want,
            "{name}"
        );
    }
}

/// Open and read the whole disk; the first error.
fn open_and_read_all(path: &Path) -> Result<(), DiskError> {
    let dev = open_image(path, &OpenOptions::default())?;
    sha256_of_dev(dev.as_ref(), 4 << 20).map(|_| ())
}

#[test]
fn qcow2_broken_images_fail_naming_the_problem() {
    let cases: &[(&str, &[&str])] = &[
        (
            "bad-data-file",
            &["unsupported", "external data file", "data-file.raw"],
        ),
        ("bad-extl2", &["unsupported", "extended L2"]),
        ("bad-luks", &["unsupported", "encryption"]),
        ("bad-dirty", &["dirty bit"]),
        ("bad-corrupt-bit", &["corrupt image", "corrupt bit"]),
        (
            "bad-unknown-incompat",
            &["unknown incompatible feature bit 20"],
        ),
        ("bad-version", &["qcow2 version 4"]),
        ("bad-cluster-bits", &["cluster_bits 30"]),
        ("bad-huge-l1", &["l1_size 4294967295"]),
        (
            "bad-l1-past-eof",
            &[
                "L1 table at offset 0x10000000000",
                "past the end of the file",
            ],
        ),
        ("bad-refcount-order", &["refcount_order 7"]),
        ("bad-compression-type", &["compression_type 7"]),
        (
            "bad-truncated",
            &["corrupt image", "past the end of the file"],
        ),
        (
            "bad-l2-past-eof",
            &["host offset 0x10000000000", "past the end of the file"],
        ),
        ("bad-l2-unaligned", &["not cluster aligned", "guest offset"]),
        ("bad-deflate", &["compressed cluster", "deflate"]),
        ("bad-zstd", &["compressed cluster", "zstd"]),
    ];
    for (name, needles) in cases {
        let path = qcow2(name);
        let err = open_and_read_all(&path)
            .err()
            .unwrap_or_else(|| panic!("{name}: read without error"));
        let text = err.to_string();
        assert!(
            text.contains(&*path.to_string_lossy()),
            "{name}: error does not name the file: {text}"
        );
        for n in *needles {
            assert!(text.contains(n), "{name}: error lacks {n:?}: {text}");
        }
    }
}
