//! The mount backend (issue #5): loop devices and kernel mounts, cleanup on every path, the
//! same operations as the userspace backend. These tests need root (CI runs as root) and fail
//! loudly without it.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::util::{cloudseal, fixture, require_tool, run, run_ok, sha256sum, tempdir};

pub fn require_root() {
    assert!(
        nix::unistd::Uid::effective().is_root(),
        "the mount backend tests need root (CI runs as root)"
    );
}

/// Seal `input` into `out` with extra flags; the JSON report.
pub fn seal_json(input: &Path, out: &Path, extra: &[&str]) -> Value {
    let stdout = run_ok(
        cloudseal()
            .args(["seal", "--json", "-q"])
            .arg(input)
            .arg("-o")
            .arg(out)
            .args(extra),
    );
    serde_json::from_str(&stdout).expect("seal --json output")
}

/// Every (op, path, change) of the root filesystem's changes.
pub fn changes(report: &Value) -> BTreeSet<(String, String, String)> {
    let mut out = BTreeSet::new();
    for f in report["filesystems"].as_array().expect("filesystems") {
        let Some(ops) = f["changes"]["ops"].as_array() else {
            continue;
        };
        for op in ops {
            for c in op["changes"].as_array().expect("changes") {
                out.insert((
                    op["op"].as_str().unwrap_or_default().to_string(),
                    c["path"].as_str().unwrap_or_default().to_string(),
                    c["change"].as_str().unwrap_or_default().to_string(),
                ));
            }
        }
    }
    out
}

/// The loop devices attached right now whose backing file lives under `dir` (our staging
/// copies are nameless files there: "dir/#123 (deleted)"). Other tests attach their own
/// loop devices in parallel: only ours are looked at.
pub fn loops_backed_under(dir: &Path) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for e in std::fs::read_dir("/sys/block").expect("reading /sys/block") {
        let name = e.expect("entry").file_name().to_string_lossy().to_string();
        let backing = Path::new("/sys/block")
            .join(&name)
            .join("loop/backing_file");
        if let Ok(b) = std::fs::read_to_string(backing)
            && Path::new(b.trim()).starts_with(dir)
        {
            out.insert(name);
        }
    }
    out
}

/// Mount points under a cloudseal mount directory in the host's namespace.
fn host_cloudseal_mounts() -> Vec<String> {
    std::fs::read_to_string("/proc/1/mountinfo")
        .expect("reading /proc/1/mountinfo")
        .lines()
        .filter(|l| l.contains("cloudseal-mnt-"))
        .map(str::to_string)
        .collect()
}

/// Wait (bounded) until `cond` holds.
fn wait_for(what: &str, limit: Duration, mut cond: impl FnMut() -> bool) {
    let t = Instant::now();
    while !cond() {
        assert!(t.elapsed() < limit, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The `/dev/loopN` a process's threads have mounted on a cloudseal mount directory, if any.
fn mounted_loop_of(pid: u32) -> Option<String> {
    let tasks = std::fs::read_dir(format!("/proc/{pid}/task")).ok()?;
    for t in tasks.flatten() {
        let info = std::fs::read_to_string(t.path().join("mountinfo")).unwrap_or_default();
        if let Some(l) = info.lines().find(|l| l.contains("cloudseal-mnt-")) {
            // "... - fstype source options"
            let after = l.split(" - ").nth(1)?;
            let source = after.split_whitespace().nth(1)?;
            return Some(source.trim_start_matches("/dev/").to_string());
        }
    }
    None
}

/// Mount point directories on the host's /tmp (there should never be any: they live on the
/// process's private tmpfs).
fn host_mount_dirs() -> Vec<String> {
    std::fs::read_dir("/tmp")
        .expect("reading /tmp")
        .filter_map(|e| {
            let n = e.ok()?.file_name().to_string_lossy().to_string();
            n.starts_with("cloudseal-mnt-").then_some(n)
        })
        .collect()
}

fn assert_nothing_left(out_dir: &Path) {
    assert!(host_mount_dirs().is_empty(), "{:?}", host_mount_dirs());
    wait_for(
        "our loop devices to detach",
        Duration::from_secs(20),
        || loops_backed_under(out_dir).is_empty(),
    );
    assert!(
        host_cloudseal_mounts().is_empty(),
        "{:?}",
        host_cloudseal_mounts()
    );
    let left: Vec<PathBuf> = std::fs::read_dir(out_dir)
        .expect("reading the output directory")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_none_or(|e| e != "raw"))
        .collect();
    assert!(left.is_empty(), "left behind: {left:?}");
}

#[test]
fn userspace_and_mount_backends_remove_the_same_paths() {
    require_root();
    require_tool("e2fsck");
    let input = fixture("disks/mbr.raw");
    let sha = sha256sum(&input);
    let t = tempdir();
    let mut seen = Vec::new();
    for backend in ["userspace", "mount"] {
        let out = t.path().join(format!("{backend}.raw"));
        let r = seal_json(&input, &out, &["-O", "raw", "--backend", backend]);
        assert_eq!(r["filesystems"][0]["backend"], backend);
        // The root partition (sectors 2048.., 60 MiB) must be a clean ext4 either way.
        let part = t.path().join(format!("{backend}-p1.ext4"));
        run_ok(
            Command::new("dd")
                .arg(format!("if={}", out.display()))
                .arg(format!("of={}", part.display()))
                .args([
                    "bs=512",
                    "skip=2048",
                    "count=122880",
                    "conv=sparse",
                    "status=none",
                ]),
        );
        run_ok(Command::new("e2fsck").arg("-fn").arg(&part));
        seen.push(changes(&r));
    }
    assert!(seen[0].len() > 40, "{:?}", seen[0]);
    assert_eq!(seen[0], seen[1], "userspace vs mount");
    assert_eq!(sha256sum(&input), sha, "the input is never written");
}

#[test]
fn mount_backend_without_root_is_one_clear_error() {
    require_root();
    require_tool("setpriv");
    let t = crate::util::world_tempdir();
    // A world-readable copy, in a directory nobody can write its output into.
    let dir = t.path().join("shared");
    std::fs::create_dir(&dir).unwrap();
    let input = dir.join("in.raw");
    std::fs::copy(fixture("disks/bare-ext4.raw"), &input).unwrap();
    run_ok(Command::new("chmod").args(["-R", "a+rwX"]).arg(t.path()));
    let o = run(Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
        .arg(env!("CARGO_BIN_EXE_cloudseal"))
        .args(["seal", "--backend", "mount"])
        .arg(&input)
        .arg("-o")
        .arg(dir.join("out.qcow2")));
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(err.contains("needs root"), "{err}");
    assert!(err.contains("ext2/3/4 are sealed without root"), "{err}");
    assert!(!dir.join("out.qcow2").exists());
}

/// The binary under test has the CLOUDSEAL_FAULT hook only when built with debug assertions,
/// as these tests are by `cargo test` (never in a release build).
fn require_fault_hook() {
    #[cfg(not(debug_assertions))]
    panic!("CLOUDSEAL_FAULT is compiled into debug builds only: run this test without --release");
}

#[test]
fn injected_failure_while_mounted_cleans_up() {
    require_root();
    require_fault_hook();
    let t = tempdir();
    let o = run(cloudseal()
        .args(["seal", "-q", "--backend", "mount"])
        .arg(fixture("disks/mbr.raw"))
        .arg("-o")
        .arg(t.path().join("out.qcow2"))
        .env("CLOUDSEAL_FAULT", "error-after-mount"));
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("injected failure"), "{err}");
    assert_nothing_left(t.path());
}

/// Start a seal that pauses with its filesystem mounted; the pid and the loop device.
fn paused_seal(out: &Path) -> (std::process::Child, String) {
    require_fault_hook();
    let child = cloudseal()
        .args(["seal", "-q", "--backend", "mount"])
        .arg(fixture("disks/mbr.raw"))
        .arg("-o")
        .arg(out)
        .env("CLOUDSEAL_FAULT", "pause-after-mount:4")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("starting cloudseal");
    let pid = child.id();
    let mut dev = None;
    wait_for(
        "the filesystem to be mounted",
        Duration::from_secs(30),
        || {
            dev = mounted_loop_of(pid);
            dev.is_some()
        },
    );
    let dev = dev.expect("a loop device");
    // Mounted in the process's private namespace, never in the host's.
    assert!(host_cloudseal_mounts().is_empty());
    let dir = out.parent().expect("output directory");
    assert!(
        loops_backed_under(dir).contains(&dev),
        "{dev} is not backed by our staging copy"
    );
    (child, dev)
}

#[test]
fn killed_while_mounted_leaves_nothing_mounted_or_attached() {
    require_root();
    let t = tempdir();
    let (mut child, _) = paused_seal(&t.path().join("out.qcow2"));
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    child.wait().unwrap();
    assert_nothing_left(t.path());
}

#[test]
fn sigterm_while_mounted_unmounts_and_writes_no_output() {
    require_root();
    let t = tempdir();
    let (mut child, _) = paused_seal(&t.path().join("out.qcow2"));
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    let status = child.wait().unwrap();
    assert!(!status.success(), "{status}");
    assert!(!t.path().join("out.qcow2").exists());
    assert_nothing_left(t.path());
}
