//! `seal` is reproducible (issue 18): the same input gives the same output bytes, whatever
//! the input format, the thread count or the moment; every time it writes is the pinned one
//! (`--timestamp` / SOURCE_DATE_EPOCH, else the root filesystem's own last write time).

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

use crate::util::{cloudseal, fixture, qemu_img_check, require_tool, run_ok, sha256sum, tempdir};

/// The root of `disks/gpt.*`: partition 3, in 512-byte sectors.
const ROOT: (u64, u64) = (36864, 124928);

/// `cloudseal seal -q IN -o OUT ARGS`, never with the caller's SOURCE_DATE_EPOCH.
fn seal(input: &Path, out: &Path, args: &[&str]) -> String {
    run_ok(
        cloudseal()
            .args(["seal", "-q"])
            .arg(input)
            .arg("-o")
            .arg(out)
            .args(args)
            .env_remove("SOURCE_DATE_EPOCH"),
    )
}

/// Regression: the clock leaked into the root's superblock and every inode the seal
/// touched, so two seals a second apart differed.
#[test]
fn seal_twice_gives_identical_bytes_from_raw_and_qcow2_with_any_thread_count() {
    let t = tempdir();
    let inputs = [fixture("disks/gpt.raw"), fixture("disks/gpt.qcow2")];
    let mut runs: Vec<(String, PathBuf, PathBuf)> = Vec::new();
    for (i, input) in inputs.iter().enumerate() {
        for threads in ["1", "2"] {
            for codec in ["zstd", "zlib"] {
                let key = codec.to_string();
                let name = format!("in{i}-t{threads}-{codec}");
                let args = ["-c", codec, "--threads", threads];
                let (a, b) = (
                    t.path().join(name.clone() + "-a"),
                    t.path().join(name + "-b"),
                );
                seal(input, &a, &args);
                runs.push((key, a, b));
            }
        }
    }
    // Every first seal is done by now: the second ones run at least a second later.
    std::thread::sleep(std::time::Duration::from_millis(1100));
    for (i, input) in inputs.iter().enumerate() {
        for (j, threads) in ["1", "2"].iter().enumerate() {
            for (k, codec) in ["zstd", "zlib"].iter().enumerate() {
                let b = &runs[i * 4 + j * 2 + k].2;
                seal(input, b, &["-c", codec, "--threads", threads]);
            }
        }
    }
    let mut by_codec: std::collections::BTreeMap<String, String> = Default::default();
    for (codec, a, b) in &runs {
        let (ha, hb) = (sha256sum(a), sha256sum(b));
        assert_eq!(ha, hb, "{} and {} differ", a.display(), b.display());
        // Raw or qcow2 input, one thread or two: one output per codec.
        let first = by_codec.entry(codec.clone()).or_insert_with(|| ha.clone());
        assert_eq!(
            *first,
            ha,
            "{} differs from the other {codec} outputs",
            a.display()
        );
    }
    qemu_img_check(&runs[0].1);

    // Raw output too, from either input.
    let raw = |i: usize, n: &str| {
        let p = t.path().join(n);
        seal(&inputs[i], &p, &["-O", "raw"]);
        sha256sum(&p)
    };
    assert_eq!(raw(0, "a.raw"), raw(1, "b.raw"));
}

/// The root partition of a raw image, as its own file.
fn root_of(raw: &Path, dir: &Path) -> PathBuf {
    let part = dir.join("root.ext4");
    run_ok(
        Command::new("dd")
            .arg(format!("if={}", raw.display()))
            .arg(format!("of={}", part.display()))
            .arg("bs=512")
            .arg(format!("skip={}", ROOT.0))
            .arg(format!("count={}", ROOT.1))
            .arg("status=none"),
    );
    part
}

/// The superblock's last write time, by dumpe2fs.
fn last_write(fs: &Path) -> String {
    require_tool("dumpe2fs");
    let out = run_ok(Command::new("dumpe2fs").arg("-h").arg(fs).env("TZ", "UTC"));
    out.lines()
        .find_map(|l| l.strip_prefix("Last write time:"))
        .map(|v| v.trim().to_string())
        .expect("dumpe2fs shows a last write time")
}

/// (ctime, mtime) of `path` in `fs` as debugfs prints them (hex seconds), or None if absent.
fn times(fs: &Path, path: &str) -> Option<(String, String)> {
    let out = run_ok(
        Command::new("debugfs")
            .arg("-R")
            .arg(format!("stat \"{path}\""))
            .arg(fs),
    );
    let field = |name: &str| {
        out.lines()
            .find_map(|l| l.trim().strip_prefix(name))
            .map(|v| v.trim()[2..10].to_string())
    };
    Some((field("ctime:")?, field("mtime:")?))
}

/// Paths the seal changed on the root (partition 3), from `--json`.
fn root_changes(report: &Value) -> Vec<String> {
    let root = report["filesystems"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["partition"] == 3)
        .expect("partition 3 in the report");
    root["changes"]["ops"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|o| o["changes"].as_array().unwrap().clone())
        .filter(|c| c["change"] != "reported")
        .map(|c| c["path"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn every_time_the_seal_writes_is_the_pinned_one() {
    require_tool("debugfs");
    let t = tempdir();
    let input = fixture("disks/gpt.raw");
    let pinned = 1_800_000_000i64;
    let hex = format!("{pinned:08x}");

    let out = t.path().join("pinned.raw");
    let json = run_ok(
        cloudseal()
            .args(["seal", "--json", "-O", "raw", "--timestamp"])
            .arg(pinned.to_string())
            .arg(&input)
            .arg("-o")
            .arg(&out)
            .env_remove("SOURCE_DATE_EPOCH"),
    );
    let report: Value = serde_json::from_str(&json).unwrap();
    let root = root_of(&out, t.path());
    assert_eq!(last_write(&root), "Fri Jan 15 08:00:00 2027");
    let changed = root_changes(&report);
    let mut seen = 0;
    for p in &changed {
        // Removed paths are gone; what stays (emptied, rewritten, created) carries the time.
        if let Some((ctime, mtime)) = times(&root, p) {
            assert_eq!((ctime.as_str(), mtime.as_str()), (&*hex, &*hex), "{p}");
            seen += 1;
        }
    }
    assert!(seen > 0, "no changed path left to look at: {changed:?}");

    // SOURCE_DATE_EPOCH is the same setting.
    let env = t.path().join("env.raw");
    run_ok(
        cloudseal()
            .args(["seal", "-q", "-O", "raw"])
            .arg(&input)
            .arg("-o")
            .arg(&env)
            .env("SOURCE_DATE_EPOCH", pinned.to_string()),
    );
    assert_eq!(sha256sum(&env), sha256sum(&out));

    // Unpinned, the root keeps its own last write time (the input's), not the clock.
    let plain = t.path().join("plain.raw");
    seal(&input, &plain, &["-O", "raw"]);
    let dir = t.path().join("in");
    std::fs::create_dir(&dir).unwrap();
    assert_eq!(
        last_write(&root_of(&plain, t.path())),
        last_write(&root_of(&input, &dir))
    );

    // 0 means "now" to libext2fs: refused rather than silently the clock.
    let o = crate::util::run(
        cloudseal()
            .args(["seal", "-q", "--timestamp", "0"])
            .arg(&input)
            .arg("-o")
            .arg(t.path().join("zero.qcow2")),
    );
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("timestamp 0 is out of range"), "{err}");
}

/// xfs (a kernel mount) cannot give the same bytes, but with `--timestamp` what the seal
/// changed and the directories it changed them in get that time as atime and mtime; the
/// ctime stays the clock (nothing can set it), as docs/seal.md says.
#[test]
fn xfs_changes_get_the_pinned_mtime_ctime_stays_the_clock() {
    crate::mount::require_root();
    require_tool("xfs_db");
    let t = tempdir();
    let out = t.path().join("xfs.raw");
    let input = fixture("mount/xfs-root.raw");
    crate::mount::seal_json(&input, &out, &["-O", "raw", "--timestamp", "1800000000"]);
    let (offset, size) = crate::util::partition_span(&out, 3);
    let part = t.path().join("root.xfs");
    run_ok(
        Command::new("dd")
            .arg(format!("if={}", out.display()))
            .arg(format!("of={}", part.display()))
            .args(["bs=512", "conv=sparse", "status=none"])
            .arg(format!("skip={}", offset / 512))
            .arg(format!("count={}", size / 512)),
    );
    let pinned = "Fri Jan 15 08:00:00 2027";
    // Truncated, created, and the directories of removed files.
    for p in [
        "/etc/machine-id",
        "/etc/systemd/system/cloudseal-ssh-keygen.service",
        "/etc/ssh",
        "/var/log",
    ] {
        let out = run_ok(
            Command::new("xfs_db")
                .arg("-r")
                .arg("-c")
                .arg(format!("path {p}"))
                .args(["-c", "print core.mtime.sec core.atime.sec core.ctime.sec"])
                .arg(&part)
                .env("TZ", "UTC"),
        );
        let field = |f: &str| {
            out.lines()
                .find_map(|l| l.strip_prefix(f))
                .map(|v| v.trim_start_matches(" = ").trim().to_string())
                .unwrap_or_else(|| panic!("{p}: no {f} in {out}"))
        };
        assert_eq!(field("core.mtime.sec"), pinned, "{p}");
        assert_eq!(field("core.atime.sec"), pinned, "{p}");
        assert_ne!(field("core.ctime.sec"), pinned, "{p}");
    }
}
