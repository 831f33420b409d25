//! Helpers shared by the integration tests: fixtures, temp dirs, running commands.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// Root of the repository.
pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Directory where `scripts/gen-fixtures.sh` puts the generated images.
pub fn fixtures_dir() -> PathBuf {
    std::env::var_os("CLOUDSEAL_FIXTURES")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo().join("target/fixtures"))
}

/// Path of a generated fixture; fails loudly when it has not been generated.
pub fn fixture(name: &str) -> PathBuf {
    let p = fixtures_dir().join(name);
    assert!(
        p.exists(),
        "fixture {} is missing: run scripts/gen-fixtures.sh",
        p.display()
    );
    p
}

/// Fail loudly when a tool the test needs is not installed (never skip silently).
pub fn require_tool(tool: &str) {
    let found = std::env::var_os("PATH")
        .map(|paths| std::env::split_paths(&paths).any(|d| d.join(tool).is_file()))
        .unwrap_or(false)
        || Path::new("/usr/sbin").join(tool).is_file()
        || Path::new("/sbin").join(tool).is_file();
    assert!(found, "required tool {tool} is not installed (see .ci/run)");
}

/// The cloudseal binary under test.
pub fn cloudseal() -> Command {
    Command::new(env!("CARGO_BIN_EXE_cloudseal"))
}

/// Run a command, panicking with its output if it cannot start.
pub fn run(cmd: &mut Command) -> Output {
    cmd.output()
        .unwrap_or_else(|e| panic!("running {cmd:?}: {e}"))
}

/// Run a command that must succeed; returns stdout as a string.
pub fn run_ok(cmd: &mut Command) -> String {
    let out = run(cmd);
    assert!(
        out.status.success(),
        "{cmd:?} failed with {}\nstdout:\n{}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A fresh temporary directory under target/, removed on drop.
pub fn tempdir() -> tempfile::TempDir {
    let base = repo().join("target/test-tmp");
    std::fs::create_dir_all(&base).expect("creating target/test-tmp");
    tempfile::tempdir_in(base).expect("creating a temp dir")
}

/// sha256 of a file, by the reference tool.
pub fn sha256sum(path: &Path) -> String {
    require_tool("sha256sum");
    let out = run_ok(Command::new("sha256sum").arg(path));
    out.split_whitespace()
        .next()
        .unwrap_or_default()
        .to_string()
}

/// `qemu-img check` must report no errors and no leaks.
pub fn qemu_img_check(path: &Path) {
    require_tool("qemu-img");
    let out = run(Command::new("qemu-img").arg("check").arg(path));
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "qemu-img check {} failed:\n{text}",
        path.display()
    );
    assert!(
        !text.contains("leaked"),
        "qemu-img check {} reports leaks:\n{text}",
        path.display()
    );
}

/// `qemu-img compare` must say the two images hold identical content.
pub fn qemu_img_compare(a: &Path, b: &Path) {
    require_tool("qemu-img");
    let out = run(Command::new("qemu-img").arg("compare").arg(a).arg(b));
    assert!(
        out.status.success(),
        "qemu-img compare {} {}: {}{}",
        a.display(),
        b.display(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Whether the running kernel can mount `fstype` (listed in /proc/filesystems).
pub fn kernel_has(fstype: &str) -> bool {
    std::fs::read_to_string("/proc/filesystems")
        .expect("reading /proc/filesystems")
        .lines()
        .any(|l| l.split_whitespace().last() == Some(fstype))
}
