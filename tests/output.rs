//! `cloudseal convert` and the output writers, checked by qemu-img check / compare.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::util::{
    cloudseal, fixture, qemu_img_check, qemu_img_compare, require_tool, run, run_ok, sha256sum,
    tempdir,
};

/// Inputs of every kind the disk layer reads (made by qemu-img from one mixed raw disk).
const INPUTS: &[&str] = &[
    "qcow2/disk.raw",
    "qcow2/v3.qcow2",
    "qcow2/zlib.qcow2",
    "qcow2/zstd.qcow2",
    "qcow2/zero.qcow2",
    "qcow2/mixed.qcow2",
    "qcow2/c512.qcow2",
];

fn convert_json(input: &Path, out: &Path, args: &[&str]) -> serde_json::Value {
    let text = run_ok(
        cloudseal()
            .arg("convert")
            .arg(input)
            .arg(out)
            .args(args)
            .arg("--json"),
    );
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("bad --json output {text:?}: {e}"))
}

fn check_output(input: &Path, out: &Path, args: &[&str]) {
    let report = convert_json(input, out, args);
    if !args.contains(&"raw") {
        qemu_img_check(out);
    }
    qemu_img_compare(input, out);
    assert_eq!(
        report["checksums"]["sha256"].as_str(),
        Some(sha256sum(out).as_str()),
        "reported sha256 of {} ({args:?})",
        out.display()
    );
    let len = std::fs::metadata(out).expect("output metadata").len();
    assert_eq!(report["file_size"].as_u64(), Some(len));
}

#[test]
fn every_input_to_every_format_passes_check_and_compare() {
    let dir = tempdir();
    let variants: &[&[&str]] = &[
        &["-O", "raw"],
        &["-O", "qcow2"],
        &["-c", "zlib"],
        &["-c", "zstd"],
    ];
    for input in INPUTS {
        let input = fixture(input);
        for (i, args) in variants.iter().enumerate() {
            let out = dir.path().join(format!("out{i}"));
            check_output(&input, &out, args);
            std::fs::remove_file(&out).expect("removing output");
        }
    }
}

#[test]
fn every_cluster_size_and_codec_passes_check_and_compare() {
    let dir = tempdir();
    let input = fixture("qcow2/disk.raw");
    for cs in ["512", "1K", "4K", "64K", "2M"] {
        for comp in [&[][..], &["-c", "zlib"], &["-c", "zstd", "--level", "9"]] {
            let out = dir.path().join(format!("out-{cs}-{}.qcow2", comp.len()));
            let mut args = vec!["--cluster-size", cs];
            args.extend_from_slice(comp);
            check_output(&input, &out, &args);
        }
    }
}

#[test]
fn raw_output_is_sparse_and_qcow2_leaves_zero_clusters_unallocated() {
    let dir = tempdir();
    let input = fixture("qcow2/disk.raw");
    let raw = dir.path().join("out.raw");
    let r = convert_json(&input, &raw, &["-O", "raw"]);
    // disk.raw holds ~28 MiB of non-zero data in a 64 MiB disk (4 MiB of it written zeros)
    let alloc = r["allocated_size"].as_u64().expect("allocated_size");
    assert!(alloc < 32 << 20, "raw output allocates {alloc} bytes");
    let q = dir.path().join("out.qcow2");
    let r = convert_json(&input, &q, &[]);
    let size = r["file_size"].as_u64().expect("file_size");
    assert!(size < 32 << 20, "qcow2 output is {size} bytes");
    // same allocation as qemu-img's own conversion
    require_tool("qemu-img");
    let theirs = dir.path().join("theirs.qcow2");
    run_ok(
        Command::new("qemu-img")
            .args(["convert", "-O", "qcow2"])
            .arg(&input)
            .arg(&theirs),
    );
    let their_len = std::fs::metadata(&theirs).expect("metadata").len();
    assert!(
        size <= their_len,
        "our qcow2 is {size} bytes, qemu-img's {their_len}"
    );
}

#[test]
fn output_is_identical_whatever_the_thread_count() {
    let dir = tempdir();
    let input = fixture("qcow2/disk.raw");
    for codec in ["zlib", "zstd"] {
        let a = dir.path().join(format!("{codec}-1.qcow2"));
        let b = dir.path().join(format!("{codec}-3.qcow2"));
        convert_json(&input, &a, &["-c", codec, "--threads", "1"]);
        convert_json(&input, &b, &["-c", codec, "--threads", "3"]);
        assert_eq!(sha256sum(&a), sha256sum(&b), "{codec} output differs");
    }
}

#[test]
fn checksum_files_verify_with_the_reference_tools() {
    let dir = tempdir();
    let out = dir.path().join("img.qcow2");
    let r = convert_json(&fixture("qcow2/v3.qcow2"), &out, &["--checksum-file"]);
    for (tool, ext) in [
        ("sha256sum", "sha256"),
        ("sha512sum", "sha512"),
        ("md5sum", "md5"),
    ] {
        require_tool(tool);
        run_ok(
            Command::new(tool)
                .arg("-c")
                .arg(format!("img.qcow2.{ext}"))
                .current_dir(dir.path()),
        );
        let line = std::fs::read_to_string(dir.path().join(format!("img.qcow2.{ext}")))
            .expect("checksum file");
        assert!(line.starts_with(r["checksums"][ext].as_str().expect("hash")));
    }
}

#[test]
fn refuses_to_overwrite_without_force_and_to_write_the_input() {
    let dir = tempdir();
    let input = dir.path().join("in.raw");
    std::fs::copy(fixture("qcow2/small.raw"), &input).expect("copy");
    let out = dir.path().join("out.qcow2");
    std::fs::write(&out, b"keep me").expect("write");
    let o = run(cloudseal().arg("convert").arg(&input).arg(&out));
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("already exists"));
    assert_eq!(std::fs::read(&out).expect("read"), b"keep me");
    run_ok(
        cloudseal()
            .arg("convert")
            .arg(&input)
            .arg(&out)
            .arg("--force"),
    );
    qemu_img_compare(&input, &out);

    let o = run(cloudseal()
        .arg("convert")
        .arg(&input)
        .arg(&input)
        .arg("--force"));
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("is the input image"));
    // through another name
    let o = run(cloudseal()
        .arg("convert")
        .arg(&input)
        .arg(dir.path().join(".").join("in.raw"))
        .arg("--force"));
    assert!(!o.status.success());
    assert_eq!(leftovers(dir.path()), Vec::<PathBuf>::new());
}

#[test]
fn output_mode_is_0666_less_the_umask() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempdir();
    let input = fixture("qcow2/small.raw");
    for (umask, want) in [("027", 0o640), ("077", 0o600), ("002", 0o664)] {
        for format in ["qcow2", "raw"] {
            let out = dir.path().join(format!("u{umask}.{format}"));
            run_ok(
                Command::new("sh")
                    .args(["-c", &format!("umask {umask} && exec \"$@\""), "sh"])
                    .arg(env!("CARGO_BIN_EXE_cloudseal"))
                    .args(["convert", "-q", "--checksum-file", "-O", format])
                    .arg(&input)
                    .arg(&out),
            );
            for p in [out.clone(), out.with_extension(format!("{format}.sha256"))] {
                let mode = std::fs::metadata(&p).expect("output").permissions().mode();
                assert_eq!(mode & 0o7777, want, "{} under umask {umask}", p.display());
            }
        }
    }
}

/// OpenSSL config that lets no algorithm through, as a FIPS-mode libcrypto without the FIPS
/// provider does: every digest fetch fails.
const NO_DIGESTS_CNF: &str = "openssl_conf = openssl_init
[openssl_init]
alg_section = evp_properties
[evp_properties]
default_properties = fips=yes
";

#[test]
fn digests_stay_right_when_libcrypto_refuses_them() {
    let dir = tempdir();
    let cnf = dir.path().join("no-digests.cnf");
    std::fs::write(&cnf, NO_DIGESTS_CNF).expect("writing the openssl config");
    let input = fixture("qcow2/v3.qcow2");
    for format in ["qcow2", "raw"] {
        let out = dir.path().join(format!("img.{format}"));
        let o = run(cloudseal()
            .env("OPENSSL_CONF", &cnf)
            .env("RUST_LOG", "cloudseal::digest=debug")
            .args(["convert", "-vv", "--json", "-O", format])
            .arg(&input)
            .arg(&out));
        let stderr = String::from_utf8_lossy(&o.stderr);
        assert!(o.status.success(), "convert under {cnf:?}: {stderr}");
        // The fallback was taken, for each of the three.
        for algo in ["Sha256", "Sha512", "Md5"] {
            assert!(
                stderr.contains(&format!("libcrypto refuses {algo}")),
                "{algo} went through libcrypto: {stderr}"
            );
        }
        let r: serde_json::Value = serde_json::from_slice(&o.stdout).expect("--json output");
        for (tool, key) in [
            ("sha256sum", "sha256"),
            ("sha512sum", "sha512"),
            ("md5sum", "md5"),
        ] {
            require_tool(tool);
            let line = run_ok(Command::new(tool).arg(&out));
            let want = line.split_whitespace().next().unwrap_or_default();
            assert_eq!(
                r["checksums"][key].as_str(),
                Some(want),
                "{key} of {format}"
            );
        }
    }
}

/// Temporary files left in `dir`.
fn leftovers(dir: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(dir)
        .expect("read_dir")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.to_string_lossy().ends_with(".cloudseal-tmp"))
        .collect()
}

/// A raw input big and compressible enough that zlib level 9 runs for seconds.
fn slow_input(dir: &Path) -> PathBuf {
    let input = dir.join("big.raw");
    let text: Vec<u8> = (0..6_000_000u32)
        .flat_map(|i| format!("{i:08} some text {}\n", i % 977).into_bytes())
        .take(192 << 20)
        .collect();
    std::fs::write(&input, text).expect("writing input");
    input
}

fn start_slow_convert(input: &Path, out: &Path) -> std::process::Child {
    cloudseal()
        .arg("convert")
        .arg(input)
        .arg(out)
        .args(["-c", "zlib", "--level", "9", "--threads", "1", "-q"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("starting cloudseal")
}

/// Wait until the temporary output exists (the write is under way).
fn wait_for_temp(dir: &Path) {
    for _ in 0..200 {
        if !leftovers(dir).is_empty() {
            return;
        }
        std::thread::sleep(Duration::from_millis(25));
    }
    panic!("no temporary output appeared in {}", dir.display());
}

#[test]
fn sigkill_mid_write_leaves_nothing_under_the_final_name() {
    let dir = tempdir();
    let input = slow_input(dir.path());
    let out = dir.path().join("out.qcow2");
    let mut child = start_slow_convert(&input, &out);
    wait_for_temp(dir.path());
    child.kill().expect("SIGKILL");
    let st = child.wait().expect("wait");
    assert!(!st.success(), "convert finished before it was killed");
    assert!(!out.exists(), "{} exists after SIGKILL", out.display());
}

#[test]
fn sigint_mid_write_removes_the_temporary() {
    let dir = tempdir();
    let input = slow_input(dir.path());
    let out = dir.path().join("out.qcow2");
    let mut child = start_slow_convert(&input, &out);
    wait_for_temp(dir.path());
    let pid = nix::unistd::Pid::from_raw(child.id() as i32);
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGINT).expect("SIGINT");
    let st = child.wait().expect("wait");
    assert!(!st.success(), "convert finished before it was interrupted");
    assert!(!out.exists(), "{} exists after SIGINT", out.display());
    assert_eq!(leftovers(dir.path()), Vec::<PathBuf>::new());
}

/// The segments of a one-line error ("cloudseal: error: a: b: c"), none of which may appear
/// twice: each layer adds only its own context. A write error once read "sealing X: writing
/// the output: writing the output: No space left on device".
fn assert_each_context_once(stderr: &str) {
    let line = stderr
        .lines()
        .find_map(|l| l.strip_prefix("cloudseal: error: "))
        .unwrap_or_else(|| panic!("no error line in {stderr:?}"));
    let segments: Vec<&str> = line.split(": ").collect();
    for (i, s) in segments.iter().enumerate() {
        assert!(
            !segments[i + 1..].contains(s),
            "{s:?} is said twice in {line:?}"
        );
    }
}

/// The commands that write an image, each into `dir`, reading `input` (and `recipe`'s base).
fn writing_commands(input: &Path, dir: &Path, recipe: &Path) -> Vec<Vec<std::ffi::OsString>> {
    let out = |name: &str| dir.join(name).into_os_string();
    let v = |args: &[&str]| {
        args.iter()
            .map(Into::into)
            .collect::<Vec<std::ffi::OsString>>()
    };
    let mut cmds = Vec::new();
    for (cmd, fmt) in [
        ("seal", "qcow2"),
        ("seal", "raw"),
        ("convert", "qcow2"),
        ("convert", "raw"),
    ] {
        let mut a = v(&[cmd, "-q", "-O", fmt]);
        a.push(input.into());
        if cmd == "seal" {
            a.push("-o".into());
        }
        a.push(out(&format!("{cmd}.{fmt}")));
        cmds.push(a);
    }
    let mut a = v(&["build", "-q", "--var"]);
    a.push(format!("out={}", dir.display()).into());
    a.push(recipe.into());
    cmds.push(a);
    cmds
}

fn write_recipe(t: &Path, base: &Path) -> PathBuf {
    let recipe = t.join("r.toml");
    std::fs::write(
        &recipe,
        format!(
            "[base]\npath = \"{}\"\n\n[[output]]\npath = \"${{out}}/built.qcow2\"\n",
            base.display()
        ),
    )
    .unwrap();
    recipe
}

/// A write that fails (EFBIG: files limited to 512 KiB, SIGXFSZ ignored so the write returns
/// the error instead of killing the process) is reported once per layer, and leaves nothing.
#[test]
fn a_failed_write_names_each_context_once() {
    let t = tempdir();
    let input = fixture("disks/gpt.raw");
    let dir = t.path().join("out");
    std::fs::create_dir(&dir).unwrap();
    let recipe = write_recipe(t.path(), &fixture("disks/gpt.qcow2"));
    for args in writing_commands(&input, &dir, &recipe) {
        let o = run(Command::new("sh")
            .arg("-c")
            .arg("ulimit -f 1024 && trap '' XFSZ && exec \"$0\" \"$@\"")
            .arg(env!("CARGO_BIN_EXE_cloudseal"))
            .args(&args));
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(1), "{args:?}: {err}");
        assert!(err.contains("File too large"), "{args:?}: {err}");
        assert_each_context_once(&err);
        let left: Vec<_> = std::fs::read_dir(&dir).unwrap().collect();
        assert!(left.is_empty(), "{args:?} left {left:?}");
    }
}

/// The same with a full filesystem (ENOSPC): a 512 KiB tmpfs mounted in a private mount
/// namespace, which goes away with the process, so no mount is left behind.
#[test]
fn a_full_disk_names_each_context_once() {
    require_tool("unshare");
    assert!(
        nix::unistd::Uid::effective().is_root(),
        "mounting a tmpfs needs root (CI runs as root)"
    );
    let t = tempdir();
    let input = fixture("disks/gpt.raw");
    let dir = t.path().join("full");
    std::fs::create_dir(&dir).unwrap();
    let recipe = write_recipe(t.path(), &fixture("disks/gpt.qcow2"));
    for args in writing_commands(&input, &dir, &recipe) {
        let o = run(Command::new("unshare")
            .args(["--mount", "--propagation", "private", "sh", "-c"])
            .arg("mount -t tmpfs -o size=512k cloudseal-test \"$0\" && exec \"$@\"")
            .arg(&dir)
            .arg(env!("CARGO_BIN_EXE_cloudseal"))
            .args(&args));
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(1), "{args:?}: {err}");
        assert!(err.contains("No space left on device"), "{args:?}: {err}");
        assert_each_context_once(&err);
    }
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    assert!(
        !mounts.contains("cloudseal-test"),
        "a tmpfs was left mounted"
    );
    assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 0);
}
