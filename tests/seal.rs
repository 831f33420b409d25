//! `cloudseal seal` end to end on generated disks with planted host state: the input is never
//! changed, the output's root filesystem is e2fsck-clean, every planted path is gone, emptied
//! or edited as planted.txt says, every other file is byte-identical, and no line of a removed
//! private key is left anywhere in the output's bytes.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

use crate::ext4::{Node, dump, e2fsck_clean, spec};
use crate::fixtures::planted;
use crate::util::{
    cloudseal, fixture, qemu_img_check, require_tool, run, run_ok, sha256sum, tempdir,
};

const SECTOR: u64 = 512;

/// Planted symlinks (planted.txt lists regular files only).
const PLANTED_LINKS: &[(&str, &str, &str)] =
    &[("cloud-init-state", "/var/lib/cloud/instance", "removed")];

/// (op, path, outcome) of planted.txt plus a fixture's own extra list.
fn planted_with(extra: Option<&str>) -> Vec<(String, String, String)> {
    let mut list = planted();
    list.extend(
        PLANTED_LINKS
            .iter()
            .map(|(o, p, r)| (o.to_string(), p.to_string(), r.to_string())),
    );
    if let Some(name) = extra {
        let text = std::fs::read_to_string(fixture(name)).unwrap();
        for l in text.lines().filter(|l| !l.is_empty()) {
            let f: Vec<&str> = l.split('\t').collect();
            list.push((f[0].into(), f[1].into(), f[2].into()));
        }
    }
    list
}

/// A raw view of an image: itself when raw, else converted by qemu-img.
fn as_raw(img: &Path, dir: &Path) -> PathBuf {
    let mut magic = [0u8; 4];
    let f = std::fs::File::open(img).unwrap();
    std::os::unix::fs::FileExt::read_exact_at(&f, &mut magic, 0).unwrap();
    if &magic != b"QFI\xfb" {
        return img.to_path_buf();
    }
    crate::util::to_raw(img, dir)
}

/// The base64 body lines of every private SSH host key in the root filesystem, read by debugfs.
fn private_key_lines(raw: &Path, offset: u64) -> Vec<String> {
    let mut lines = Vec::new();
    for t in ["rsa", "ecdsa", "ed25519"] {
        let text = run_ok(
            Command::new("debugfs")
                .arg("-R")
                .arg(format!("cat /etc/ssh/ssh_host_{t}_key"))
                .arg(spec(raw, offset)),
        );
        let body: Vec<String> = text
            .lines()
            .filter(|l| l.len() >= 40 && !l.starts_with("-----"))
            .map(str::to_string)
            .collect();
        assert!(body.len() >= 3, "no private {t} key in {}", raw.display());
        lines.extend(body);
    }
    lines
}

/// Does any of `needles` occur in the bytes of `file`? (GNU grep, fixed strings, binary-safe.)
fn contains_any(file: &Path, needles: &[String], dir: &Path) -> bool {
    require_tool("grep");
    let pat = dir.join("needles");
    std::fs::write(&pat, needles.join("\n") + "\n").unwrap();
    let out = run(Command::new("grep")
        .args(["-a", "-q", "-F", "-f"])
        .arg(&pat)
        .arg(file));
    match out.status.code() {
        Some(0) => true,
        Some(1) => false,
        _ => panic!("grep failed on {}: {out:?}", file.display()),
    }
}

fn seal_json(args: &[&std::ffi::OsStr]) -> Value {
    let out = run_ok(cloudseal().arg("seal").arg("--json").args(args));
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("bad JSON ({e}):\n{out}"))
}

/// The guard a default seal adds: the fixture guest has cloud-init but no sshd-keygen unit,
/// so nothing else would recreate the host keys without a datasource.
const GUARD_UNIT: &str = "etc/systemd/system/cloudseal-ssh-keygen.service";
const GUARD_LINK: &str = "etc/systemd/system/multi-user.target.wants/cloudseal-ssh-keygen.service";

/// Planted paths as the seal must leave them; everything else byte-identical, and nothing new
/// but the ssh-hostkeys guard (when `guard`).
fn check_outcomes(
    before: &BTreeMap<String, Node>,
    after: &BTreeMap<String, Node>,
    planted: &[(String, String, String)],
    guard: bool,
) {
    let planted_set: BTreeSet<&str> = planted
        .iter()
        .map(|(_, p, _)| p.trim_start_matches('/'))
        .collect();
    for (op, path, outcome) in planted {
        let rel = path.trim_start_matches('/');
        assert!(
            before.contains_key(rel),
            "{op}: {path} was not in the input"
        );
        match (outcome.as_str(), after.get(rel)) {
            ("removed", None) => {}
            ("emptied", Some(Node::File(d))) if d.is_empty() => {}
            ("edited", Some(n @ Node::File(_))) if Some(n) != before.get(rel) => {}
            (o, got) => panic!(
                "{op}: {path} should be {o}, is {}",
                match got {
                    None => "gone".to_string(),
                    Some(Node::File(d)) => format!("a file of {} bytes", d.len()),
                    Some(other) => format!("{other:?}"),
                }
            ),
        }
    }
    let mut changed = Vec::new();
    for (path, node) in before {
        if *node == Node::Dir || planted_set.contains(path.as_str()) {
            continue;
        }
        if after.get(path) != Some(node) {
            changed.push(path.clone());
        }
    }
    let added = if guard {
        [GUARD_UNIT, GUARD_LINK]
    } else {
        ["", ""]
    };
    for (path, node) in after {
        if *node != Node::Dir && !before.contains_key(path) && !added.contains(&path.as_str()) {
            changed.push(format!("{path} (new)"));
        }
    }
    if guard {
        match after.get(GUARD_UNIT) {
            Some(Node::File(d)) => {
                let unit = String::from_utf8_lossy(d);
                assert!(
                    unit.contains("ConditionPathExists=!/etc/ssh/ssh_host_ed25519_key\n")
                        && unit.contains("ExecStart=/bin/sh -c \"ssh-keygen -A\"\n"),
                    "{unit}"
                );
            }
            other => panic!("no ssh-hostkeys guard unit: {other:?}"),
        }
        assert_eq!(
            after.get(GUARD_LINK),
            Some(&Node::Link(format!("/{GUARD_UNIT}"))),
            "the guard is not enabled"
        );
    }
    assert!(
        changed.is_empty(),
        "files outside the planted set changed:\n{}",
        changed.join("\n")
    );
}

/// Seal `name` (root filesystem at `root_sector`) with `args`, and check everything.
fn seal_and_check(
    name: &str,
    root_sector: u64,
    out_name: &str,
    args: &[&str],
    extra: Option<&str>,
) -> Value {
    require_tool("debugfs");
    let input = fixture(name);
    let dir = tempdir();
    let d = dir.path();
    let offset = root_sector * SECTOR;
    let sha_before = sha256sum(&input);
    let in_raw = as_raw(&input, d);
    let before = dump(&in_raw, offset, &d.join("before"));
    let keys = private_key_lines(&in_raw, offset);
    assert!(
        contains_any(&in_raw, &keys, d),
        "the keys are not in the input: the check below proves nothing"
    );

    let out = d.join(out_name);
    let mut argv: Vec<&std::ffi::OsStr> = vec![input.as_os_str(), "-o".as_ref(), out.as_os_str()];
    argv.extend(args.iter().map(|a| std::ffi::OsStr::new(*a)));
    let report = seal_json(&argv);

    assert_eq!(sha256sum(&input), sha_before, "the input changed");
    if out_name.ends_with(".qcow2") {
        qemu_img_check(&out);
    }
    let out_raw = as_raw(&out, d);
    e2fsck_clean(&out_raw, offset);
    let after = dump(&out_raw, offset, &d.join("after"));
    let guard = !args.contains(&"--no-ssh-keygen-guard");
    check_outcomes(&before, &after, &planted_with(extra), guard);
    assert!(
        !contains_any(&out_raw, &keys, d),
        "bytes of a removed private key are still in the output"
    );
    // No temporary file is left next to the output (our own scratch has no leading dot).
    let leftovers: Vec<String> = std::fs::read_dir(d)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with('.'))
        .collect();
    assert!(leftovers.is_empty(), "left behind: {leftovers:?}");
    report
}

/// Bytes `[start, end)` of two raw files are equal.
fn same_bytes(a: &Path, b: &Path, start: u64, end: u64) {
    let (fa, fb) = (
        std::fs::File::open(a).unwrap(),
        std::fs::File::open(b).unwrap(),
    );
    let mut at = start;
    let mut ba = vec![0u8; 1 << 20];
    let mut bb = vec![0u8; 1 << 20];
    while at < end {
        let n = ((end - at) as usize).min(ba.len());
        std::os::unix::fs::FileExt::read_exact_at(&fa, &mut ba[..n], at).unwrap();
        std::os::unix::fs::FileExt::read_exact_at(&fb, &mut bb[..n], at).unwrap();
        assert!(
            ba[..n] == bb[..n],
            "bytes differ in {at}..{}",
            at + n as u64
        );
        at += n as u64;
    }
}

#[test]
fn gpt_raw_to_qcow2() {
    let r = seal_and_check("disks/gpt.raw", 36864, "sealed.qcow2", &[], None);
    let fs = r["filesystems"].as_array().unwrap();
    assert_eq!(fs.len(), 3);
    assert_eq!(fs[2]["kind"], "ext4");
    assert!(fs[2]["punched_bytes"].as_u64().unwrap() > 40 << 20);
    // The EFI partition, in userspace, sealed where the root's fstab mounts it (tests/vfat.rs
    // checks its bytes).
    assert_eq!(fs[1]["kind"], "vfat");
    assert_eq!(fs[1]["backend"], "userspace");
    let note = fs[1]["note"].as_str().unwrap();
    assert!(note.contains("mounted at /boot/efi"), "{note}");
    let changed = fs[1]["changes"]["ops"][0]["changes"][0]["path"].as_str();
    assert_eq!(changed, Some("/boot/efi/loader/random-seed"), "{}", fs[1]);
    assert_eq!(r["output"]["format"], "qcow2");
}

#[test]
fn gpt_qcow2_to_zstd_qcow2_keeps_other_partitions() {
    let dir = tempdir();
    let out = dir.path().join("sealed.qcow2");
    let input = fixture("disks/gpt.qcow2");
    let sha = sha256sum(&input);
    seal_json(&[
        input.as_os_str(),
        "-o".as_ref(),
        out.as_os_str(),
        "-c".as_ref(),
        "zstd".as_ref(),
    ]);
    assert_eq!(sha256sum(&input), sha);
    qemu_img_check(&out);
    let info = run_ok(Command::new("qemu-img").arg("info").arg(&out));
    assert!(info.contains("compression type: zstd"), "{info}");
    let (a, b) = (as_raw(&input, dir.path()), as_raw(&out, dir.path()));
    e2fsck_clean(&b, 36864 * SECTOR);
    // The partition tables and the BIOS boot partition are untouched (the EFI partition is
    // sealed: tests/vfat.rs).
    same_bytes(&a, &b, 0, 4096 * SECTOR);
    let len = std::fs::metadata(&a).unwrap().len();
    same_bytes(&a, &b, len - GPT_BACKUP, len);
}

/// The backup GPT: 32 sectors of entries and the header.
const GPT_BACKUP: u64 = 33 * SECTOR;

#[test]
fn mbr_raw_to_raw() {
    let r = seal_and_check("disks/mbr.raw", 2048, "sealed.raw", &["-O", "raw"], None);
    let fs = r["filesystems"].as_array().unwrap();
    assert!(fs.iter().any(|f| f["kind"] == "swap"));
    assert_eq!(r["output"]["format"], "raw");
}

#[test]
fn bare_ext2() {
    seal_and_check("disks/bare-ext2.raw", 0, "sealed.raw", &["-O", "raw"], None);
}

#[test]
fn bare_ext4_without_the_ssh_keygen_guard_adds_nothing() {
    let r = seal_and_check(
        "disks/bare-ext4.raw",
        0,
        "sealed.raw",
        &["-O", "raw", "--no-ssh-keygen-guard"],
        None,
    );
    let text = r.to_string();
    assert!(text.contains("without one sshd will not start"), "{text}");
}

#[test]
fn bare_ext3() {
    seal_and_check("disks/bare-ext3.raw", 0, "sealed.qcow2", &[], None);
}

#[test]
fn bare_ext4_1k_blocks() {
    seal_and_check("disks/bare-ext4-1k.raw", 0, "sealed.qcow2", &[], None);
}

#[test]
fn ext4_metadata_csum_and_orphan_file() {
    seal_and_check("ext/csum-orphan.raw", 0, "sealed.raw", &["-O", "raw"], None);
}

#[test]
fn ext4_inline_data() {
    seal_and_check(
        "ext/inline.raw",
        2048,
        "sealed.qcow2",
        &["-c", "zlib"],
        None,
    );
}

#[test]
fn htree_directories() {
    seal_and_check(
        "ext/htree.raw",
        0,
        "sealed.qcow2",
        &[],
        Some("ext/planted-extra.txt"),
    );
}

#[test]
fn machine_id_uninitialized() {
    let input = fixture("disks/bare-ext4.raw");
    let dir = tempdir();
    let out = dir.path().join("o.raw");
    seal_json(&[
        input.as_os_str(),
        "-o".as_ref(),
        out.as_os_str(),
        "-O".as_ref(),
        "raw".as_ref(),
        "--machine-id-uninitialized".as_ref(),
    ]);
    e2fsck_clean(&out, 0);
    let id = run_ok(
        Command::new("debugfs")
            .args(["-R", "cat /etc/machine-id"])
            .arg(&out),
    );
    assert_eq!(id, "uninitialized\n");
}

/// Paths of actions that change something, from the dry run's plan and the real run's report.
fn planned_paths(r: &Value) -> BTreeSet<String> {
    r["filesystems"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|f| f["planned"].as_array().unwrap().clone())
        .filter(|a| a["action"] != "report")
        .map(|a| a["path"].as_str().unwrap().to_string())
        .collect()
}

fn changed_paths(r: &Value) -> BTreeSet<String> {
    r["filesystems"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| !f["changes"].is_null())
        .flat_map(|f| f["changes"]["ops"].as_array().unwrap().clone())
        .flat_map(|o| o["changes"].as_array().unwrap().clone())
        .filter(|c| c["change"] != "reported")
        .map(|c| c["path"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn dry_run_changes_nothing_and_lists_what_the_run_changes() {
    for name in ["disks/gpt.raw", "disks/mbr-compressed.qcow2"] {
        let input = fixture(name);
        let sha = sha256sum(&input);
        let dir = tempdir();
        let out = dir.path().join("sealed.qcow2");
        let dry = seal_json(&[
            input.as_os_str(),
            "-o".as_ref(),
            out.as_os_str(),
            "--dry-run".as_ref(),
        ]);
        assert_eq!(
            sha256sum(&input),
            sha,
            "{name}: a dry run changed the input"
        );
        assert!(!out.exists(), "{name}: a dry run wrote an output");
        assert_eq!(dry["dry_run"], true);
        assert!(dry["output"].is_null());
        let planned = planned_paths(&dry);
        assert!(
            planned.contains("/etc/ssh/ssh_host_ed25519_key"),
            "{planned:?}"
        );

        let real = seal_json(&[input.as_os_str(), "-o".as_ref(), out.as_os_str()]);
        assert_eq!(planned, changed_paths(&real), "{name}");
        assert_eq!(sha256sum(&input), sha);
    }
}

#[test]
fn dry_run_needs_no_output_path() {
    let input = fixture("disks/bare-ext4.raw");
    let r = seal_json(&[input.as_os_str(), "--dry-run".as_ref()]);
    assert!(!planned_paths(&r).is_empty());
}

/// `--enable` adds to the defaults: it once replaced them (as virt-sysprep's alias of
/// --operations does), so `--enable user-account` left the SSH host keys and machine-id in
/// the image. A selection without them is warned about, naming what stays.
#[test]
fn enable_adds_to_the_defaults_and_a_kept_identity_is_warned_about() {
    let input = fixture("disks/bare-ext4.raw");
    let dry = |args: &[&str]| {
        let o = run(cloudseal()
            .args(["seal", "--json", "--dry-run"])
            .arg(&input)
            .args(args));
        let err = String::from_utf8_lossy(&o.stderr).into_owned();
        assert!(o.status.success(), "{args:?}: {err}");
        let r: Value = serde_json::from_slice(&o.stdout).expect("JSON");
        let ops: BTreeSet<String> = r["filesystems"][0]["planned"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a["op"].as_str().unwrap().to_string())
            .collect();
        (ops, err)
    };
    let (ops, err) = dry(&["--enable", "user-account"]);
    for op in ["ssh-hostkeys", "machine-id", "user-account", "logfiles"] {
        assert!(ops.contains(op), "{op} not planned: {ops:?}");
    }
    assert!(!err.contains("warning"), "{err}");

    let (ops, err) = dry(&["--operations", "tmp-files", "--enable", "logfiles"]);
    assert!(
        !ops.contains("ssh-hostkeys") && ops.contains("logfiles"),
        "{ops:?}"
    );
    assert!(
        err.contains(
            "cloudseal: warning: ssh-hostkeys is not selected: the SSH host keys (every \
             instance would share them) will stay in the image"
        ),
        "{err}"
    );
    assert!(
        err.contains("warning: machine-id is not selected: /etc/machine-id"),
        "{err}"
    );

    let (_, err) = dry(&["--disable", "machine-id"]);
    assert!(
        err.contains("warning: machine-id") && !err.contains("ssh-hostkeys"),
        "{err}"
    );
}

/// Run a seal that must fail; returns stderr.
fn seal_fails(input: &Path, out: &Path, extra: &[&str]) -> String {
    let o = run(cloudseal()
        .arg("seal")
        .arg(input)
        .arg("-o")
        .arg(out)
        .args(extra));
    assert!(!o.status.success(), "sealing {} succeeded", input.display());
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn only_entry_is_nothing(dir: &Path) {
    let left: Vec<_> = std::fs::read_dir(dir).unwrap().collect();
    assert!(left.is_empty(), "files left behind: {left:?}");
}

#[test]
fn dirty_journal_is_refused_with_advice() {
    let input = fixture("ext/dirty.raw");
    let sha = sha256sum(&input);
    let dir = tempdir();
    for extra in [&[][..], &["--dry-run"][..]] {
        let err = seal_fails(&input, &dir.path().join("o.qcow2"), extra);
        assert!(
            err.contains("partition 1 (ext4): the journal needs recovery"),
            "{err}"
        );
        assert!(
            err.contains("e2fsck -fy") && err.contains("shut it down cleanly"),
            "{err}"
        );
    }
    assert_eq!(sha256sum(&input), sha);
    only_entry_is_nothing(dir.path());
}

#[test]
fn luks_is_refused() {
    let input = fixture("disks/gpt-kinds.raw");
    let dir = tempdir();
    let err = seal_fails(&input, &dir.path().join("o.qcow2"), &[]);
    assert!(err.contains("partition 5 is LUKS-encrypted"), "{err}");
    only_entry_is_nothing(dir.path());
}

#[test]
fn output_over_the_input_is_refused() {
    let dir = tempdir();
    let copy = dir.path().join("in.raw");
    std::fs::copy(fixture("disks/bare-ext4.raw"), &copy).unwrap();
    let sha = sha256sum(&copy);
    let err = seal_fails(&copy, &copy, &["-f", "-O", "raw"]);
    assert!(err.contains("is the input"), "{err}");
    assert_eq!(sha256sum(&copy), sha);
}

#[test]
fn no_root_filesystem_is_an_error_not_an_unsealed_copy() {
    let input = fixture("disks/broken/garbage.raw");
    let dir = tempdir();
    for extra in [&[][..], &["--dry-run"][..]] {
        let err = seal_fails(&input, &dir.path().join("o.qcow2"), extra);
        assert!(err.contains("no root filesystem"), "{err}");
    }
    only_entry_is_nothing(dir.path());
}

#[test]
fn corrupt_root_filesystem_is_a_clean_error() {
    let input = fixture("disks/broken/gpt-corrupt-ext4.raw");
    let dir = tempdir();
    let err = seal_fails(&input, &dir.path().join("o.qcow2"), &[]);
    assert!(
        err.contains("partition 3 (ext4): ") && err.contains("group descriptor"),
        "{err}"
    );
    assert_eq!(err.matches("partition 3").count(), 1, "{err}");
    only_entry_is_nothing(dir.path());
}

#[test]
fn dirty_journal_replayed_on_request() {
    require_tool("dumpe2fs");
    let input = fixture("ext/dirty.raw");
    let sha = sha256sum(&input);
    let dir = tempdir();
    let d = dir.path();
    let offset = 2048 * SECTOR;
    let keys = private_key_lines(&input, offset);
    let out = d.join("sealed.qcow2");
    let r = seal_json(&[
        input.as_os_str(),
        "-o".as_ref(),
        out.as_os_str(),
        "--replay-journal".as_ref(),
    ]);
    assert_eq!(sha256sum(&input), sha, "the input changed");
    let note = r["filesystems"][0]["note"].as_str().unwrap_or_default();
    assert!(note.contains("journal replayed"), "{note}");
    qemu_img_check(&out);
    let raw = as_raw(&out, d);
    e2fsck_clean(&raw, offset);
    let sb = run_ok(Command::new("dumpe2fs").arg("-h").arg(spec(&raw, offset)));
    assert!(!sb.contains("needs_recovery"), "still dirty:\n{sb}");
    assert!(
        !contains_any(&raw, &keys, d),
        "a removed private key is in the output"
    );
    let hidden: Vec<_> = std::fs::read_dir(d)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .filter(|n| n.to_string_lossy().starts_with('.'))
        .collect();
    assert!(hidden.is_empty(), "left behind: {hidden:?}");
}
