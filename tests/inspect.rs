//! `cloudseal inspect` on the disk fixtures (scripts/fixtures/disks.sh), checked against the
//! reference tools: sfdisk for partitions, blkid for filesystems, the planted tree's
//! os-release and fixtures/planted.txt for the OS and the host state.

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;
use std::sync::Arc;

use serde_json::Value;

use cloudseal::fs::GuestFs;

use crate::util::{cloudseal, fixture, repo, require_tool, run, run_ok};

/// Good images and the partition number of their root filesystem.
const GOOD: &[(&str, u64)] = &[
    ("disks/gpt.raw", 3),
    ("disks/mbr.raw", 1),
    ("disks/gpt-kinds.raw", 6),
    ("disks/bare-ext4.raw", 1),
    ("disks/bare-ext4-1k.raw", 1),
    ("disks/bare-ext3.raw", 1),
    ("disks/bare-ext2.raw", 1),
];

/// The operations the issue requires inspect to report.
const REQUIRED_OPS: &[&str] = &[
    "ssh-hostkeys",
    "machine-id",
    "udev-persistent-net",
    "net-hwaddr",
    "dhcp-client-state",
    "random-seed",
    "bash-history",
    "logfiles",
    "tmp-files",
    "cloud-init-state",
];

fn inspect_json(image: &Path) -> Value {
    let out = run_ok(cloudseal().arg("inspect").arg("--json").arg(image));
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("inspect --json output: {e}\n{out}"))
}

fn partitions(v: &Value) -> &Vec<Value> {
    v["partitions"].as_array().expect("partitions is an array")
}

fn u(v: &Value) -> u64 {
    v.as_u64().unwrap_or_else(|| panic!("not a number: {v}"))
}

fn s(v: &Value) -> &str {
    v.as_str().unwrap_or_else(|| panic!("not a string: {v}"))
}

#[test]
fn partitions_match_sfdisk() {
    require_tool("sfdisk");
    for name in ["disks/gpt.raw", "disks/mbr.raw", "disks/gpt-kinds.raw"] {
        let img = fixture(name);
        let ours = inspect_json(&img);
        let sf: Value =
            serde_json::from_str(&run_ok(Command::new("sfdisk").arg("--json").arg(&img)))
                .expect("sfdisk --json");
        let t = &sf["partitiontable"];
        let label = s(&t["label"]);
        let kind = s(&ours["partition_table"]["kind"]);
        assert_eq!(kind, if label == "dos" { "mbr" } else { "gpt" }, "{name}");
        assert_eq!(
            s(&ours["partition_table"]["disk_id"]).to_lowercase(),
            s(&t["id"]).to_lowercase(),
            "{name}: disk id"
        );
        let expected: Vec<&Value> = t["partitions"]
            .as_array()
            .expect("sfdisk partitions")
            .iter()
            // sfdisk lists MBR extended containers; inspect notes them instead.
            .filter(|p| !matches!(s(&p["type"]), "5" | "f" | "85"))
            .collect();
        let got = partitions(&ours);
        assert_eq!(got.len(), expected.len(), "{name}: partition count");
        for (g, e) in got.iter().zip(&expected) {
            let node = s(&e["node"]);
            let number: u64 = node[img.to_str().expect("utf-8 path").len()..]
                .parse()
                .expect("partition number from the sfdisk node");
            assert_eq!(u(&g["number"]), number, "{name}");
            assert_eq!(
                u(&g["start"]),
                u(&e["start"]) * 512,
                "{name} {number}: start"
            );
            assert_eq!(u(&g["size"]), u(&e["size"]) * 512, "{name} {number}: size");
            let ty = s(&g["type_id"]);
            if label == "dos" {
                assert_eq!(ty, format!("0x{:0>2}", s(&e["type"])), "{name} {number}");
            } else {
                assert_eq!(ty, s(&e["type"]), "{name} {number}: type");
                assert_eq!(s(&g["uuid"]), s(&e["uuid"]), "{name} {number}: uuid");
                assert_eq!(s(&g["name"]), s(&e["name"]), "{name} {number}: name");
            }
        }
    }
}

/// blkid -p on the partition's byte range: TYPE, LABEL, UUID.
fn blkid(img: &Path, start: u64, size: u64) -> (String, String, String) {
    let out = run(Command::new("blkid")
        .args([
            "-p",
            "-o",
            "export",
            "-O",
            &start.to_string(),
            "-S",
            &size.to_string(),
        ])
        .arg(img));
    let text = String::from_utf8_lossy(&out.stdout);
    let get = |k: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(&format!("{k}=")))
            .unwrap_or("")
            .to_string()
    };
    let ty = match get("TYPE").as_str() {
        "" => "unknown".to_string(),
        "crypto_LUKS" => "luks".to_string(),
        "LVM2_member" => "lvm-pv".to_string(),
        t => t.to_string(),
    };
    (ty, get("LABEL"), get("UUID"))
}

#[test]
fn filesystems_match_blkid() {
    require_tool("blkid");
    let mut kinds = BTreeSet::new();
    for (name, _) in GOOD {
        let img = fixture(name);
        let v = inspect_json(&img);
        for p in partitions(&v) {
            let fs = &p["filesystem"];
            let (ty, label, uuid) = blkid(&img, u(&p["start"]), u(&p["size"]));
            let n = u(&p["number"]);
            assert_eq!(s(&fs["kind"]), ty, "{name} partition {n}: kind");
            assert_eq!(s(&fs["label"]), label, "{name} partition {n}: label");
            assert_eq!(s(&fs["uuid"]), uuid, "{name} partition {n}: uuid");
            kinds.insert(ty);
        }
    }
    for k in [
        "ext2", "ext3", "ext4", "xfs", "btrfs", "vfat", "swap", "luks", "unknown",
    ] {
        assert!(kinds.contains(k), "no fixture exercised {k}: {kinds:?}");
    }
}

#[test]
fn ext_versions_and_features() {
    for (name, kind, journal) in [
        ("disks/bare-ext2.raw", "ext2", false),
        ("disks/bare-ext3.raw", "ext3", true),
        ("disks/bare-ext4.raw", "ext4", true),
        ("disks/bare-ext4-1k.raw", "ext4", true),
    ] {
        let v = inspect_json(&fixture(name));
        assert_eq!(s(&v["partition_table"]["kind"]), "none", "{name}");
        let fs = &partitions(&v)[0]["filesystem"];
        assert_eq!(s(&fs["kind"]), kind, "{name}");
        let features: Vec<&str> = fs["features"]
            .as_array()
            .expect("features")
            .iter()
            .map(s)
            .collect();
        assert_eq!(
            features.contains(&"has_journal"),
            journal,
            "{name}: {features:?}"
        );
        assert_eq!(
            features.contains(&"extent"),
            kind == "ext4",
            "{name}: {features:?}"
        );
    }
}

/// Planted host state: (op, guest path) from fixtures/planted.txt.
fn planted() -> Vec<(String, String)> {
    let text = std::fs::read_to_string(repo().join("fixtures/planted.txt")).expect("planted.txt");
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|l| {
            let mut f = l.split('\t');
            let op = f.next().expect("op").to_string();
            let path = f.next().expect("path").to_string();
            (op, path)
        })
        .collect()
}

#[test]
fn root_os_and_every_planted_path() {
    let planted = planted();
    let reported_ops: BTreeSet<&str> = cloudseal::seal::ops::REGISTRY
        .iter()
        .filter(|o| o.default_enabled() || ["cloud-init-state", "net-hwaddr"].contains(&o.name()))
        .map(|o| o.name())
        .collect();
    for op in REQUIRED_OPS {
        assert!(reported_ops.contains(op), "{op} is not reported by inspect");
        assert!(
            planted.iter().any(|(p, _)| p == op),
            "nothing planted for {op}"
        );
    }
    for (name, root) in GOOD {
        let v = inspect_json(&fixture(name));
        assert_eq!(u(&v["root"]), *root, "{name}: root partition");
        let os = &v["os"];
        assert_eq!(s(&os["id"]), "debian", "{name}");
        assert_eq!(s(&os["version_id"]), "12", "{name}");
        assert_eq!(
            s(&os["pretty_name"]),
            "Debian GNU/Linux 12 (bookworm)",
            "{name}"
        );
        let state = v["host_state"].as_array().expect("host_state");
        let paths_of = |op: &str| -> Vec<&str> {
            state
                .iter()
                .filter(|o| s(&o["op"]) == op)
                .flat_map(|o| o["paths"].as_array().expect("paths").iter().map(s))
                .collect()
        };
        let mut checked = 0;
        for (op, path) in &planted {
            if !reported_ops.contains(op.as_str()) {
                continue;
            }
            assert!(
                paths_of(op).contains(&path.as_str()),
                "{name}: {path} not reported under {op}; {op} has {:?}",
                paths_of(op)
            );
            checked += 1;
        }
        assert!(
            checked >= 40,
            "{name}: only {checked} planted paths checked"
        );
        // Kept files are not host state.
        for o in state {
            for p in o["paths"].as_array().expect("paths") {
                assert!(
                    ![
                        "/etc/passwd",
                        "/etc/hostname",
                        "/home/debian/notes.txt",
                        "/etc/os-release"
                    ]
                    .contains(&s(p)),
                    "{name}: {p} reported under {}",
                    o["op"]
                );
            }
        }
    }
}

#[test]
fn human_output_has_the_table_os_and_state() {
    let out = run_ok(cloudseal().arg("inspect").arg(fixture("disks/gpt.raw")));
    let header = out
        .lines()
        .find(|l| l.trim_start().starts_with("#"))
        .expect("a partition table header");
    let fs_col = header.find("FS").expect("FS column");
    for n in ["1 ", "2 ", "3*"] {
        let row = out
            .lines()
            .find(|l| l.trim_start().starts_with(n))
            .unwrap_or_else(|| panic!("row {n} in\n{out}"));
        // Aligned: each row's FS cell starts under the header's.
        assert!(
            ["unknown", "vfat", "ext4"]
                .iter()
                .any(|k| row[fs_col..].starts_with(k)),
            "misaligned row {row:?} under {header:?}"
        );
    }
    assert!(out.contains("Debian GNU/Linux 12 (bookworm)"), "{out}");
    assert!(out.contains("  ssh-hostkeys (6)"), "{out}");
    assert!(
        out.contains("      /etc/ssh/ssh_host_ed25519_key\n"),
        "{out}"
    );
}

#[test]
fn primary_gpt_zeroed_uses_the_backup_and_says_so() {
    let good = inspect_json(&fixture("disks/gpt.raw"));
    let v = inspect_json(&fixture("disks/broken/gpt-primary-zeroed.raw"));
    let notes = v["partition_table"]["notes"].as_array().expect("notes");
    assert!(
        notes
            .iter()
            .any(|n| s(n).contains("primary GPT header damaged")
                && s(n).contains("using the backup")),
        "{notes:?}"
    );
    assert_eq!(v["partitions"], good["partitions"]);
    assert_eq!(v["os"], good["os"]);
}

#[test]
fn broken_images_fail_with_one_line_naming_the_problem() {
    for (name, expect) in [
        (
            "disks/broken/garbage.raw",
            "no partition table and no known filesystem",
        ),
        (
            "disks/broken/gpt-both-damaged.raw",
            "both GPT headers are damaged",
        ),
        (
            "disks/broken/mbr-past-end.raw",
            "partition 1 ends past the end of the disk",
        ),
        ("disks/broken/gpt-truncated.raw", "(truncated?)"),
        (
            "disks/broken/gpt-corrupt-ext4.raw",
            "partition 3: corrupt filesystem",
        ),
        (
            "disks/broken/gpt-truncated.qcow2",
            "past the end of the file",
        ),
        // The ext group's fixtures that ext4-view cannot read: refused, and said why.
        ("ext/dirty.raw", "partition 1 (its journal needs recovery)"),
        ("ext/inline.raw", "DATA_IN_INODE"),
    ] {
        let img = fixture(name);
        for json in [false, true] {
            let mut cmd = cloudseal();
            cmd.arg("inspect").arg(&img);
            if json {
                cmd.arg("--json");
            }
            let out = run(&mut cmd);
            let err = String::from_utf8_lossy(&out.stderr);
            assert_eq!(out.status.code(), Some(1), "{name}: {err}");
            assert!(out.stdout.is_empty(), "{name}: printed a report");
            assert_eq!(err.lines().count(), 1, "{name}: not one line: {err}");
            assert!(err.starts_with("cloudseal: error: "), "{name}: {err}");
            assert!(
                err.contains(expect),
                "{name}: {err:?} does not say {expect:?}"
            );
        }
    }
}

/// A disk nothing was written to is valid: described (no table, no filesystem), exit 0; it
/// once failed with "no partition table and no known filesystem". One byte anywhere that
/// nothing recognises still fails, and seal refuses the empty disk.
#[test]
fn empty_disk_is_described_and_seal_refuses_it() {
    require_tool("qemu-img");
    let t = crate::util::tempdir();
    let qcow2 = t.path().join("empty.qcow2");
    run_ok(
        Command::new("qemu-img")
            .args(["create", "-q", "-f", "qcow2"])
            .arg(&qcow2)
            .arg("1T"),
    );
    // Explicit zeros (allocated, read through) with a hole after them.
    let zeros = t.path().join("zeros.raw");
    std::fs::write(&zeros, vec![0u8; 3 << 20]).unwrap();
    std::fs::File::options()
        .append(true)
        .open(&zeros)
        .unwrap()
        .set_len(64 << 20)
        .unwrap();
    for (img, format, size) in [(&qcow2, "qcow2", 1u64 << 40), (&zeros, "raw", 64 << 20)] {
        let v = inspect_json(img);
        assert_eq!(v["format"], format);
        assert_eq!(u(&v["virtual_size"]), size);
        assert_eq!(v["empty"], true, "{v}");
        assert_eq!(v["partition_table"]["kind"], "none");
        assert!(partitions(&v).is_empty(), "{v}");
        assert!(v["root"].is_null() && v["os"].is_null());
        let text = run_ok(cloudseal().arg("inspect").arg(img));
        assert!(text.contains("table:   none\n"), "{text}");
        assert!(text.contains("the disk is empty"), "{text}");
        let out = run(cloudseal()
            .arg("seal")
            .arg(img)
            .arg("-o")
            .arg(t.path().join("sealed.qcow2")));
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{err}");
        assert!(
            err.contains("the disk is empty (no partition table, no filesystem): nothing to seal"),
            "{err}"
        );
    }
    assert!(!t.path().join("sealed.qcow2").exists());
    assert_eq!(inspect_json(&fixture("disks/gpt.raw"))["empty"], false);

    // The last byte written: no longer empty, and nothing recognises it.
    use std::os::unix::fs::FileExt;
    let one = t.path().join("one-byte.raw");
    let f = std::fs::File::create(&one).unwrap();
    f.set_len(64 << 20).unwrap();
    f.write_all_at(b"x", (64 << 20) - 1).unwrap();
    let out = run(cloudseal().arg("inspect").arg(&one));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("no partition table and no known filesystem"),
        "{err}"
    );
}

/// A `BlockDev` over an image in memory with some bytes replaced.
struct Mutated {
    base: Arc<Vec<u8>>,
    patch: Vec<(u64, u8)>,
}

impl cloudseal::disk::BlockDev for Mutated {
    fn size(&self) -> u64 {
        self.base.len() as u64
    }
    fn read_exact_at(&self, buf: &mut [u8], off: u64) -> Result<(), cloudseal::disk::DiskError> {
        let end = off
            .checked_add(buf.len() as u64)
            .filter(|&e| e <= self.size())
            .ok_or(cloudseal::disk::DiskError::OutOfRange {
                off,
                len: buf.len() as u64,
                size: self.size(),
            })?;
        buf.copy_from_slice(&self.base[off as usize..end as usize]);
        for &(at, b) in &self.patch {
            if at >= off && at < end {
                buf[(at - off) as usize] = b;
            }
        }
        Ok(())
    }
    fn extent_status(
        &self,
        _off: u64,
        len: u64,
    ) -> Result<cloudseal::disk::Extent, cloudseal::disk::DiskError> {
        Ok(cloudseal::disk::Extent {
            kind: cloudseal::disk::ExtentKind::Data,
            len,
        })
    }
    fn format(&self) -> cloudseal::disk::ImageFormat {
        cloudseal::disk::ImageFormat::Raw
    }
    fn allocated_bytes(&self) -> Result<u64, cloudseal::disk::DiskError> {
        Ok(self.size())
    }
}

fn crc32(b: &[u8]) -> u32 {
    let mut c = flate2::Crc::new();
    c.update(b);
    c.sum()
}

/// Byte `at` set to `v`, then the CRCs that cover it recomputed, so the change reaches the
/// checks behind the checksums. `hdr` is the header's offset, `array` its entry array's.
fn patch_with_crcs(img: &[u8], hdr: usize, array: usize, at: usize, v: u8) -> Vec<(u64, u8)> {
    let mut h = img[hdr..hdr + 92].to_vec();
    let mut a = img[array..array + 128 * 128].to_vec();
    let mut patch = vec![(at as u64, v)];
    if (array..array + a.len()).contains(&at) {
        a[at - array] = v;
        h[88..92].copy_from_slice(&crc32(&a).to_le_bytes());
    } else if (hdr..hdr + 92).contains(&at) {
        h[at - hdr] = v;
    }
    h[16..20].fill(0);
    let c = crc32(&h);
    h[16..20].copy_from_slice(&c.to_le_bytes());
    for (i, b) in h.iter().enumerate() {
        if (hdr + i) != at || (16..20).contains(&i) {
            patch.push(((hdr + i) as u64, *b));
        }
    }
    patch
}

/// Deterministic mutation of real tables: every byte of the GPT headers, the first entries
/// and the MBR (and EBR) sectors, set to a few values, with and without fixed-up CRCs.
/// `read_table` must return Ok or Err, never panic; the run ends with the count tried.
#[test]
fn mutated_tables_never_panic() {
    let values = [0x00u8, 0xff, 0x01, 0x80, 0x7f];
    let mut tried = 0;
    let mut errs = 0;

    let gpt = Arc::new(std::fs::read(fixture("disks/gpt.raw")).expect("reading gpt.raw"));
    let last = gpt.len() - 512;
    let backup_array = last - 128 * 128;
    let clean = Mutated {
        base: Arc::clone(&gpt),
        patch: Vec::new(),
    };
    let t = cloudseal::part::read_table(&clean).expect("the clean image reads");
    assert_eq!(t.partitions.len(), 3);
    assert!(t.notes.is_empty(), "{:?}", t.notes);
    let mut spots: Vec<(usize, usize, usize)> = Vec::new(); // (byte, header, array)
    spots.extend((446..512).map(|b| (b, 512, 1024)));
    spots.extend((512..512 + 92).map(|b| (b, 512, 1024)));
    spots.extend((1024..1024 + 3 * 128).map(|b| (b, 512, 1024)));
    spots.extend((last..last + 92).map(|b| (b, last, backup_array)));
    for &(at, hdr, array) in &spots {
        for &v in &values {
            for fix in [false, true] {
                let patch = if fix {
                    patch_with_crcs(&gpt, hdr, array, at, v)
                } else {
                    vec![(at as u64, v)]
                };
                let d = Mutated {
                    base: Arc::clone(&gpt),
                    patch,
                };
                tried += 1;
                if cloudseal::part::read_table(&d).is_err() {
                    errs += 1;
                }
            }
        }
    }
    // Both headers wrong at once, each with a good CRC.
    for at in (512 + 24..512 + 92).step_by(4) {
        let mut patch = patch_with_crcs(&gpt, 512, 1024, at, 0xff);
        patch.extend(patch_with_crcs(
            &gpt,
            last,
            backup_array,
            at - 512 + last,
            0xff,
        ));
        let d = Mutated {
            base: Arc::clone(&gpt),
            patch,
        };
        tried += 1;
        if cloudseal::part::read_table(&d).is_err() {
            errs += 1;
        }
    }

    let mbr = Arc::new(std::fs::read(fixture("disks/mbr.raw")).expect("reading mbr.raw"));
    let ebr = 124928 * 512; // the extended partition's first sector (fixture layout)
    let mut spots: Vec<usize> = (446..512).collect();
    spots.extend(ebr + 446..ebr + 512);
    for at in spots {
        for &v in &values {
            // Also with the extended entry's type cleared: a lone partition is what trips
            // mbrman's alignment search when it starts at LBA 0.
            for lone in [false, true] {
                let mut patch = vec![(at as u64, v)];
                if lone {
                    patch.push((446 + 16 + 4, 0));
                }
                let d = Mutated {
                    base: Arc::clone(&mbr),
                    patch,
                };
                tried += 1;
                if cloudseal::part::read_table(&d).is_err() {
                    errs += 1;
                }
            }
        }
    }
    // Some mutations must be caught, some harmless: otherwise the test is not probing.
    assert!(errs > 100 && errs < tried, "{errs} errors of {tried}");
    eprintln!("mutated tables: {tried} tried, {errs} rejected, no panic");
}

/// A qcow2 made by qemu-img from a raw fixture inspects the same as the raw one.
#[test]
fn qcow2_inspects_like_its_raw_source() {
    for (q, r) in [
        ("disks/gpt.qcow2", "disks/gpt.raw"),
        ("disks/mbr-compressed.qcow2", "disks/mbr.raw"),
        ("disks/bare-ext4.qcow2", "disks/bare-ext4.raw"),
    ] {
        let mut qv = inspect_json(&fixture(q));
        let mut rv = inspect_json(&fixture(r));
        assert_eq!(s(&qv["format"]), "qcow2", "{q}");
        assert_eq!(s(&rv["format"]), "raw", "{r}");
        for k in ["image", "format", "allocated_size"] {
            qv[k] = Value::Null;
            rv[k] = Value::Null;
        }
        assert_eq!(qv, rv, "{q} and {r} differ");
    }
}

/// Deterministic mutation of a real ext2 filesystem (no checksums, so every change reaches
/// the parser): superblock, first group descriptor and the root directory's inode. Opening
/// it and reading os-release must return Ok or Err, never panic; for the root inode's
/// mutations the whole seal plan (which walks the tree) runs too.
#[test]
fn mutated_ext2_never_panics() {
    use cloudseal::fs::os;
    use cloudseal::seal::{SealOptions, Selection, plan_all};

    let img = Arc::new(std::fs::read(fixture("disks/bare-ext2.raw")).expect("reading bare-ext2"));
    let le32 = |o: usize| u32::from_le_bytes(img[o..o + 4].try_into().expect("4 bytes"));
    let block = 1024usize << le32(1024 + 24);
    let inode_size = usize::from(u16::from_le_bytes([img[1024 + 0x58], img[1024 + 0x59]]));
    let gdt = if block == 1024 { 2048 } else { block };
    let itable = le32(gdt + 8) as usize * block;
    let root_inode = itable + inode_size; // inode 2
    let mut spots: Vec<(usize, bool)> = (1024..1024 + 0x108).map(|b| (b, false)).collect();
    spots.extend((gdt..gdt + 32).map(|b| (b, false)));
    spots.extend((root_inode..root_inode + 128).map(|b| (b, b % 2 == 0)));

    let sel = Selection::defaults().operations("defaults,cloud-init-state,net-hwaddr");
    let (mut tried, mut errs, mut planned) = (0, 0, 0);
    for &(at, plan) in &spots {
        for v in [0x00u8, 0xff, 0x01, 0x80] {
            let dev: Arc<dyn cloudseal::disk::BlockDev> = Arc::new(Mutated {
                base: Arc::clone(&img),
                patch: vec![(at as u64, v)],
            });
            tried += 1;
            let size = dev.size();
            let outcome = cloudseal::fs::ext4::read::Ext4ReadFs::open(Arc::clone(&dev), 0, size)
                .and_then(|fs| {
                    let os = os::read_os_release(&fs)?.unwrap_or_default();
                    fs.read_dir("/etc")?;
                    if plan && (v == 0 || v == 0xff) {
                        planned += 1;
                        plan_all(&fs, &os, &sel, &SealOptions::default())
                            .map_err(|e| cloudseal::fs::FsError::Corrupt(e.to_string()))?;
                    }
                    Ok(())
                });
            if outcome.is_err() {
                errs += 1;
            }
        }
    }
    assert!(errs > 50 && errs < tried, "{errs} errors of {tried}");
    eprintln!("mutated ext2: {tried} tried ({planned} planned), {errs} rejected, no panic");
}

/// Which GPT header is used, and what is said about the other one.
#[test]
fn gpt_header_choice_and_notes() {
    use cloudseal::part::{TableKind, read_table};
    let gpt = Arc::new(std::fs::read(fixture("disks/gpt.raw")).expect("reading gpt.raw"));
    let last = (gpt.len() - 512) as u64;
    let read = |patch: Vec<(u64, u8)>| {
        read_table(&Mutated {
            base: Arc::clone(&gpt),
            patch,
        })
    };
    let clean = read(vec![]).expect("clean");
    assert_eq!(
        clean.kind,
        TableKind::Gpt,
        "an MBR read would see only the 0xee entry"
    );

    // A primary entry changed without its CRC: the backup's copy is used.
    let t = read(vec![(1024 + 32, 0x55)]).expect("falls back");
    assert_eq!(t.partitions, clean.partitions);
    assert_eq!(
        t.notes,
        ["primary GPT header damaged (partition entry array checksum mismatch), using the backup"]
    );
    // The backup damaged: the primary is used, and that is said too.
    let t = read(vec![(last + 16, 0x55)]).expect("primary used");
    assert_eq!(t.partitions, clean.partitions);
    assert_eq!(
        t.notes,
        ["backup GPT header damaged (header checksum mismatch), using the primary"]
    );
    // Both signatures gone, the protective MBR left: an error, not a one-partition MBR.
    let e = read(vec![(512, b'X'), (last, b'X')]).expect_err("no GPT left");
    assert!(e.to_string().contains("protective MBR"), "{e}");
}

/// The EFI partition the root's fstab mounts at /boot/efi is looked into as the guest sees
/// it: inspect lists its host state, exactly as `seal --dry-run` plans it.
#[test]
fn host_state_on_the_esp_the_root_mounts() {
    let img = fixture("disks/gpt.raw");
    let v = inspect_json(&img);
    let seed = "/boot/efi/loader/random-seed";
    let state = v["host_state"].as_array().expect("host_state");
    let listed = state.iter().any(|o| {
        s(&o["op"]) == "random-seed" && o["paths"].as_array().unwrap().iter().any(|p| s(p) == seed)
    });
    assert!(listed, "{seed} not reported: {state:?}");
    let plan: Value = serde_json::from_str(&run_ok(
        cloudseal().args(["seal", "--dry-run", "--json"]).arg(&img),
    ))
    .unwrap();
    let planned = plan["filesystems"][1]["planned"].as_array().unwrap();
    assert!(planned.iter().any(|p| s(&p["path"]) == seed), "{planned:?}");
}

/// `inspect --json` is `cloudseal::inspect::InspectReport` serialized, nothing else: the CLI's
/// output reads back into the type and writes out to the same bytes, and the library call
/// gives the same report (names that are not UTF-8 and an empty disk included).
#[test]
fn json_is_the_library_report_type_and_round_trips() {
    use cloudseal::inspect::{InspectReport, inspect};
    require_tool("qemu-img");
    let t = crate::util::tempdir();
    let empty = t.path().join("empty.qcow2");
    run_ok(
        Command::new("qemu-img")
            .args(["create", "-q", "-f", "qcow2"])
            .arg(&empty)
            .arg("64M"),
    );
    let mut images: Vec<_> = GOOD.iter().map(|(n, _)| fixture(n)).collect();
    images.extend(["disks/gpt.qcow2", "names/ext4.raw"].map(fixture));
    images.push(empty);
    for img in &images {
        let out = run_ok(cloudseal().arg("inspect").arg("--json").arg(img));
        let typed: InspectReport = serde_json::from_str(&out)
            .unwrap_or_else(|e| panic!("{}: not an InspectReport: {e}\n{out}", img.display()));
        let again = serde_json::to_string_pretty(&typed).unwrap() + "\n";
        assert_eq!(
            again,
            out,
            "{}: the round trip lost something",
            img.display()
        );
        let lib = inspect(img).unwrap_or_else(|e| panic!("{}: {e}", img.display()));
        assert_eq!(serde_json::to_string_pretty(&lib).unwrap() + "\n", out);
    }
}

/// The example in docs/inspect-json.md is an `InspectReport` (every field in it, none left
/// over), and every top-level field of the type has a row in the doc's table.
#[test]
fn documented_schema_is_the_report_type() {
    let doc = std::fs::read_to_string(repo().join("docs/inspect-json.md")).unwrap();
    let example = doc
        .split("```json\n")
        .nth(1)
        .and_then(|rest| rest.split("```").next())
        .expect("a json example in docs/inspect-json.md");
    let written: Value = serde_json::from_str(example).expect("the example is JSON");
    let typed: cloudseal::inspect::InspectReport =
        serde_json::from_value(written.clone()).expect("the example is an InspectReport");
    assert_eq!(serde_json::to_value(&typed).unwrap(), written);
    for key in written.as_object().unwrap().keys() {
        assert!(
            ["` |", ".", "[]"]
                .iter()
                .any(|end| doc.contains(&format!("| `{key}{end}"))),
            "{key} has no row in the fields table"
        );
    }
    assert!(
        doc.contains("cloudseal::inspect::InspectReport"),
        "the doc names the type"
    );
}
