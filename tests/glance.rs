//! `cloudseal upload` / `images` against a real Keystone + Glance (scripts/start-glance.sh).
//! python-openstackclient from the same venv is the oracle. The tests share one Glance and one
//! of them kills it, so they take turns (GLANCE_LOCK).

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::{Mutex, MutexGuard};
use std::time::{SystemTime, UNIX_EPOCH};

use cloudseal::glance::http::{Retry, Timeouts};
use cloudseal::glance::{AuthConfig, Glance, Settings};
use serde_json::Value;

use crate::util::{require_tool, run, run_ok, tempdir};

static GLANCE_LOCK: Mutex<()> = Mutex::new(());

pub(crate) fn lock() -> MutexGuard<'static, ()> {
    GLANCE_LOCK.lock().unwrap_or_else(|e| e.into_inner())
}

const HOW: &str = "the glance tests need a running Keystone + Glance: run \
    `eval \"$(scripts/start-glance.sh start)\"` first (scripts/test.sh does it)";

/// The OS_* variables that are set (no panic).
fn admin_env_opt() -> Vec<(String, String)> {
    std::env::vars()
        .filter(|(k, _)| k.starts_with("OS_"))
        .collect()
}

/// The OS_* variables start-glance.sh exported; fails loudly when they are missing.
fn admin_env() -> Vec<(String, String)> {
    let keys = [
        "OS_AUTH_URL",
        "OS_USERNAME",
        "OS_PASSWORD",
        "OS_PROJECT_NAME",
        "OS_USER_DOMAIN_NAME",
        "OS_PROJECT_DOMAIN_NAME",
        "OS_REGION_NAME",
        "OS_INTERFACE",
        "OS_IDENTITY_API_VERSION",
    ];
    keys.iter()
        .map(|k| {
            let v = std::env::var(k).unwrap_or_else(|_| panic!("{k} is not set: {HOW}"));
            (k.to_string(), v)
        })
        .collect()
}

fn base() -> PathBuf {
    PathBuf::from(
        std::env::var("GLANCE_BASE").unwrap_or_else(|_| panic!("GLANCE_BASE is not set: {HOW}")),
    )
}

/// The non-admin `demo` user's variables, from the openrc the script wrote.
fn demo_env() -> Vec<(String, String)> {
    let p = base().join("state/demo-openrc");
    let text = std::fs::read_to_string(&p)
        .unwrap_or_else(|e| panic!("reading {}: {e}: {HOW}", p.display()));
    text.lines()
        .filter_map(|l| l.strip_prefix("export ")?.split_once('='))
        .filter(|(k, _)| k.starts_with("OS_"))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn get<'a>(env: &'a [(String, String)], k: &str) -> &'a str {
    env.iter()
        .find(|(key, _)| key == k)
        .map(|(_, v)| v.as_str())
        .unwrap_or_default()
}

/// cloudseal with exactly these variables (no OS_* leaking in from the test's own env).
fn cs(env: &[(String, String)]) -> Command {
    let mut c = crate::util::cloudseal();
    c.env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default());
    c.envs(env.iter().map(|(k, v)| (k, v)));
    c
}

/// The reference client, as admin.
fn openstack() -> Command {
    let bin = base().join("venv/bin/openstack");
    assert!(bin.is_file(), "{} is missing: {HOW}", bin.display());
    let mut c = Command::new(bin);
    c.env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default());
    c.envs(admin_env());
    c
}

pub(crate) fn osc_json(args: &[&str]) -> Value {
    let out = run_ok(openstack().args(args).args(["-f", "json"]));
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("openstack {args:?}: {e}: {out}"))
}

/// Images with this name, as the reference client lists them (any status).
fn images_named(name: &str) -> Vec<Value> {
    let v = osc_json(&["image", "list", "--name", name, "--long"]);
    v.as_array().cloned().unwrap_or_default()
}

/// Remove test images (protected ones too).
/// Deletes the test's images however the test ends.
pub(crate) struct Cleanup(pub(crate) String);

impl Drop for Cleanup {
    fn drop(&mut self) {
        // No panics here (this may run while a failed test unwinds): best effort, through
        // the library (the reference CLI takes seconds to start).
        let env: Vec<(String, String)> = admin_env_opt();
        let lookup = |k: &str| env.iter().find(|(key, _)| key == k).map(|(_, v)| v.clone());
        let Ok(cfg) = AuthConfig::from_settings(Settings::from_env(&lookup), "test") else {
            return;
        };
        let Ok(g) = Glance::connect(&cfg, Timeouts::default()) else {
            return;
        };
        for img in g.list(&[("name", self.0.as_str())]).unwrap_or_default() {
            if img.protected() {
                let _ = g.patch(
                    img.id(),
                    &serde_json::json!([{"op": "replace", "path": "/protected", "value": false}]),
                );
            }
            let _ = g.delete(img.id(), Retry::CALL);
        }
    }
}

pub(crate) fn unique(tag: &str) -> String {
    let ns = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!(
        "cs-test-{tag}-{}-{}",
        std::process::id(),
        ns % 1_000_000_000
    )
}

fn text(o: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

fn hash_tool(tool: &str, p: &Path) -> String {
    require_tool(tool);
    run_ok(Command::new(tool).arg(p))
        .split_whitespace()
        .next()
        .unwrap_or_default()
        .to_string()
}

/// A real qcow2 with some random data (Glance checks the bytes against disk_format).
fn make_qcow2(dir: &Path, mib: u64) -> PathBuf {
    require_tool("qemu-img");
    let raw = dir.join("in.raw");
    let mut data = vec![0u8; (mib << 20) as usize];
    // Deterministic but incompressible-ish content in a few regions, holes elsewhere.
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    for chunk in data.chunks_mut(1 << 20).step_by(3) {
        for b in chunk.iter_mut() {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            *b = x as u8;
        }
    }
    std::fs::write(&raw, &data).unwrap();
    let q = dir.join("image.qcow2");
    run_ok(
        Command::new("qemu-img")
            .args(["convert", "-f", "raw", "-O", "qcow2"])
            .arg(&raw)
            .arg(&q),
    );
    crate::util::qemu_img_check(&q);
    q
}

#[test]
fn upload_qcow2_with_metadata_matches_openstack_client() {
    let _g = lock();
    let env = admin_env();
    let dir = tempdir();
    let img = make_qcow2(dir.path(), 8);
    let name = unique("meta");
    let _cleanup = Cleanup(name.clone());
    let out = run(cs(&env)
        .args([
            "upload",
            "--json",
            "--public",
            "--protected",
            "--min-disk",
            "1",
            "--min-ram",
            "64",
        ])
        .args([
            "--property",
            "os_distro=debian",
            "--property",
            "os_version=12",
            "--property",
            "hw_disk_bus=virtio",
        ])
        .args([
            "--property",
            "architecture=x86_64",
            "--tag",
            "ci",
            "--tag",
            "golden",
            "--name",
            &name,
        ])
        .arg(&img));
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "upload failed: {stderr}");
    let rec: Value =
        serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("--json output: {e}: {stdout}"));
    let id = rec["id"].as_str().expect("id in the record").to_string();
    let md5 = hash_tool("md5sum", &img);
    let sha512 = hash_tool("sha512sum", &img);
    assert_eq!(rec["status"], "active");
    assert_eq!(rec["checksum"], md5.as_str());
    assert_eq!(rec["os_hash_value"], sha512.as_str());
    assert_eq!(rec["disk_format"], "qcow2", "detected from the file");

    let show = osc_json(&["image", "show", &id]);
    assert_eq!(show["status"], "active");
    assert_eq!(show["checksum"], md5.as_str());
    assert_eq!(show["properties"]["os_hash_value"], sha512.as_str());
    assert_eq!(show["properties"]["os_hash_algo"], "sha512");
    assert_eq!(show["visibility"], "public");
    assert_eq!(show["protected"], true);
    assert_eq!(show["disk_format"], "qcow2");
    assert_eq!(show["container_format"], "bare");
    assert_eq!(show["min_disk"], 1);
    assert_eq!(show["min_ram"], 64);
    assert_eq!(show["size"], std::fs::metadata(&img).unwrap().len());
    let mut tags: Vec<&str> = show["tags"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    tags.sort();
    assert_eq!(tags, ["ci", "golden"]);
    let props = &show["properties"];
    assert_eq!(props["os_distro"], "debian");
    assert_eq!(props["os_version"], "12");
    assert_eq!(props["hw_disk_bus"], "virtio");
    assert_eq!(props["architecture"], "x86_64");

    // Protected: the reference client cannot delete it.
    let del = run(openstack().args(["image", "delete", &id]));
    let (o, e) = text(&del);
    assert!(
        !del.status.success(),
        "deleting a protected image succeeded: {o}{e}"
    );
    assert!(format!("{o}{e}").contains("protected"), "{o}{e}");

    // `images set` by id unprotects it and sets a property; then it can go.
    let out = run_ok(cs(&env).args([
        "images",
        "set",
        &id,
        "--unprotected",
        "--property",
        "os_version=12.1",
        "--json",
    ]));
    let rec: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(rec["protected"], false);
    assert_eq!(rec["os_version"], "12.1");
    run_ok(openstack().args(["image", "delete", &id]));
    assert!(images_named(&name).is_empty());
}

#[test]
fn wrong_password_is_one_clear_line_and_creates_nothing() {
    let _g = lock();
    let mut env = admin_env();
    env.retain(|(k, _)| k != "OS_PASSWORD");
    env.push(("OS_PASSWORD".into(), "not-the-password".into()));
    let dir = tempdir();
    let img = make_qcow2(dir.path(), 1);
    let name = unique("badpw");
    let _cleanup = Cleanup(name.clone());
    let out = run(cs(&env).args(["upload", "--name", &name]).arg(&img));
    let (stdout, stderr) = text(&out);
    assert!(!out.status.success());
    assert!(stdout.is_empty(), "{stdout}");
    assert_eq!(
        stderr.trim_end().lines().count(),
        1,
        "one line expected: {stderr}"
    );
    assert!(
        stderr.contains("401 Unauthorized") && stderr.contains("credentials were refused"),
        "{stderr}"
    );
    assert!(stderr.contains("user admin"), "{stderr}");
    assert!(!stderr.contains("not-the-password"), "{stderr}");
    assert!(images_named(&name).is_empty(), "an image was created");
}

#[test]
fn member_asking_for_public_gets_the_403_explained() {
    let _g = lock();
    let env = demo_env();
    assert_eq!(get(&env, "OS_USERNAME"), "demo");
    let dir = tempdir();
    let img = make_qcow2(dir.path(), 1);
    let name = unique("member");
    let _cleanup = Cleanup(name.clone());
    let out = run(cs(&env)
        .args(["upload", "--public", "--name", &name])
        .arg(&img));
    let (_, stderr) = text(&out);
    assert!(!out.status.success());
    assert!(stderr.contains("403 Forbidden"), "{stderr}");
    assert!(
        stderr.contains("only an administrator may make an image public"),
        "{stderr}"
    );
    assert!(images_named(&name).is_empty());

    // The same user may upload a private image.
    let id = run_ok(
        cs(&env)
            .args(["upload", "--private", "--name", &name])
            .arg(&img),
    );
    let show = osc_json(&["image", "show", id.trim()]);
    assert_eq!(show["visibility"], "private");
}

#[test]
fn unreachable_keystone_names_the_url() {
    let _g = lock();
    let mut env = admin_env();
    // Nothing listens on port 9 of loopback: refused at once, retried a little, then reported.
    env.retain(|(k, _)| k != "OS_AUTH_URL");
    env.push(("OS_AUTH_URL".into(), "http://127.0.0.1:9/v3".into()));
    let out = run(cs(&env).args(["images", "list"]));
    let (_, stderr) = text(&out);
    assert!(!out.status.success());
    assert!(
        stderr.contains("cannot reach http://127.0.0.1:9/v3/auth/tokens"),
        "{stderr}"
    );
    assert_eq!(
        stderr
            .trim_end()
            .lines()
            .filter(|l| l.starts_with("cloudseal: error:"))
            .count(),
        1,
        "{stderr}"
    );
}

#[test]
fn disk_format_mismatch_leaves_no_queued_image() {
    let _g = lock();
    let env = admin_env();
    let dir = tempdir();
    let p = dir.path().join("random.img");
    std::fs::write(&p, vec![0x5au8; 1 << 20]).unwrap();
    let name = unique("mismatch");
    let _cleanup = Cleanup(name.clone());
    let out = run(cs(&env)
        .args(["upload", "--disk-format", "qcow2", "--name", &name])
        .arg(&p));
    let (_, stderr) = text(&out);
    assert!(!out.status.success());
    assert!(stderr.contains("415"), "{stderr}");
    assert!(stderr.contains("was deleted"), "{stderr}");
    assert!(
        images_named(&name).is_empty(),
        "a failed image was left behind"
    );
}

#[test]
fn if_changed_twice_uploads_once() {
    let _g = lock();
    let env = admin_env();
    let dir = tempdir();
    let img = make_qcow2(dir.path(), 2);
    let name = unique("ifchanged");
    let _cleanup = Cleanup(name.clone());
    let first = run_ok(
        cs(&env)
            .args(["upload", "--if-changed", "--name", &name])
            .arg(&img),
    );
    let out = run(cs(&env)
        .args(["upload", "--if-changed", "--name", &name])
        .arg(&img));
    let (second, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    assert_eq!(first.trim(), second.trim(), "the same image id is reported");
    assert!(stderr.contains("unchanged"), "{stderr}");
    assert_eq!(images_named(&name).len(), 1);
    // Different content under the same name is uploaded.
    let sub = dir.path().join("other");
    std::fs::create_dir(&sub).unwrap();
    let other = make_qcow2(&sub, 3);
    let third = run_ok(
        cs(&env)
            .args(["upload", "--if-changed", "--name", &name])
            .arg(&other),
    );
    assert_ne!(third.trim(), first.trim());
    assert_eq!(images_named(&name).len(), 2);
    // Two images share the name now: `images set NAME` refuses, `images set ID` works.
    let out = run(cs(&env).args(["images", "set", &name, "--property", "x=y"]));
    let (_, stderr) = text(&out);
    assert!(!out.status.success());
    assert!(
        stderr.contains("2 images are named") && stderr.contains("give the id"),
        "{stderr}"
    );
    run_ok(cs(&env).args(["images", "set", third.trim(), "--property", "x=y"]));
    let listed = run_ok(cs(&env).args(["images", "list", "--name", &name]));
    assert_eq!(listed.lines().count(), 2, "{listed}");
}

#[test]
fn import_flow_stages_and_imports() {
    let _g = lock();
    let env = admin_env();
    let dir = tempdir();
    let img = make_qcow2(dir.path(), 2);
    let name = unique("import");
    let _cleanup = Cleanup(name.clone());
    let out = run_ok(
        cs(&env)
            .args(["upload", "--import", "--json", "--name", &name])
            .arg(&img),
    );
    let rec: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(rec["status"], "active");
    let show = osc_json(&["image", "show", rec["id"].as_str().unwrap()]);
    assert_eq!(show["checksum"], hash_tool("md5sum", &img).as_str());
    assert_eq!(
        show["properties"]["os_hash_value"],
        hash_tool("sha512sum", &img).as_str()
    );
}

/// Run cloudseal at -vvv and check that no secret shows up in anything it prints.
fn assert_no_secrets(out: &Output, secrets: &[&str]) {
    let (o, e) = text(out);
    let all = format!("{o}{e}");
    for s in secrets {
        assert!(!all.contains(s), "secret {s:?} printed:\n{all}");
    }
    // Fernet tokens start with gAAAAA.
    assert!(!all.contains("gAAAAA"), "a token was printed:\n{all}");
    assert!(e.contains("DEBUG"), "the run was not verbose: {e}");
}

#[test]
fn credentials_never_printed_at_highest_verbosity() {
    let _g = lock();
    let env = admin_env();
    let pw = get(&env, "OS_PASSWORD").to_string();
    let dir = tempdir();
    let img = make_qcow2(dir.path(), 1);
    let name = unique("secrets");
    let _cleanup = Cleanup(name.clone());

    // 1. From the environment, an upload.
    let out = run(cs(&env).args(["-vvv", "upload", "--name", &name]).arg(&img));
    assert!(out.status.success(), "{}", text(&out).1);
    assert_no_secrets(&out, &[&pw]);

    // 2. On the command line (no OS_* at all).
    let flags = |cmd: &mut Command| {
        cmd.args([
            "--os-auth-url",
            get(&env, "OS_AUTH_URL"),
            "--os-username",
            "admin",
        ])
        .args(["--os-password", &pw, "--os-project-name", "admin"])
        .args([
            "--os-user-domain-name",
            "Default",
            "--os-project-domain-name",
            "Default",
        ]);
    };
    let mut c = cs(&[]);
    c.args(["-vvv", "images", "list", "--name", &name]);
    flags(&mut c);
    let out = run(&mut c);
    assert!(out.status.success(), "{}", text(&out).1);
    assert!(text(&out).0.contains(&name));
    assert_no_secrets(&out, &[&pw]);

    // 3. clouds.yaml + secure.yaml in the current directory, selected by OS_CLOUD.
    let cfg = tempdir();
    std::fs::write(
        cfg.path().join("clouds.yaml"),
        format!(
            "clouds:\n  testcloud:\n    auth:\n      auth_url: {}\n      username: admin\n      project_name: admin\n      user_domain_name: Default\n      project_domain_name: Default\n    region_name: RegionOne\n    interface: public\n",
            get(&env, "OS_AUTH_URL")
        ),
    )
    .unwrap();
    std::fs::write(
        cfg.path().join("secure.yaml"),
        format!("clouds:\n  testcloud:\n    auth:\n      password: {pw}\n"),
    )
    .unwrap();
    let out = run(cs(&[
        ("OS_CLOUD".into(), "testcloud".into()),
        ("HOME".into(), "/nonexistent".into()),
    ])
    .current_dir(cfg.path())
    .args(["-vvv", "images", "list", "--name", &name]));
    assert!(out.status.success(), "{}", text(&out).1);
    assert!(text(&out).0.contains(&name));
    assert_no_secrets(&out, &[&pw]);

    // 4. A wrong password on the command line is not echoed in the error either.
    let mut c = cs(&[]);
    c.args(["-vvv", "images", "list"]);
    c.args([
        "--os-auth-url",
        get(&env, "OS_AUTH_URL"),
        "--os-username",
        "admin",
    ])
    .args([
        "--os-password",
        "Wr0ngPassw0rd-xyz",
        "--os-project-name",
        "admin",
    ]);
    let out = run(&mut c);
    assert!(!out.status.success());
    assert_no_secrets(&out, &["Wr0ngPassw0rd-xyz", &pw]);

    // 5. A pre-issued token (OS_TOKEN) with the auth URL: used, never printed.
    let token = run_ok(openstack().args(["token", "issue", "-f", "value", "-c", "id"]))
        .trim()
        .to_string();
    assert!(token.starts_with("gAAAAA"), "{token}");
    let out = run(cs(&[
        ("OS_AUTH_URL".into(), get(&env, "OS_AUTH_URL").into()),
        ("OS_AUTH_TYPE".into(), "token".into()),
        ("OS_TOKEN".into(), token.clone()),
    ])
    .args(["-vvv", "images", "list", "--name", &name]));
    assert!(out.status.success(), "{}", text(&out).1);
    assert!(text(&out).0.contains(&name));
    assert_no_secrets(&out, &[&token, &pw]);
}

#[test]
fn application_credential_authenticates() {
    let _g = lock();
    let env = admin_env();
    let cred_name = unique("appcred");
    let cred = osc_json(&["application", "credential", "create", &cred_name]);
    let (id, secret) = (
        cred["ID"].as_str().unwrap(),
        cred["Secret"].as_str().unwrap(),
    );
    let out = run(cs(&[
        ("OS_AUTH_URL".into(), get(&env, "OS_AUTH_URL").into()),
        ("OS_AUTH_TYPE".into(), "v3applicationcredential".into()),
        ("OS_APPLICATION_CREDENTIAL_ID".into(), id.into()),
        ("OS_APPLICATION_CREDENTIAL_SECRET".into(), secret.into()),
    ])
    .args(["-vvv", "images", "list"]));
    assert!(out.status.success(), "{}", text(&out).1);
    assert_no_secrets(&out, &[secret]);
    run_ok(openstack().args(["application", "credential", "delete", id]));
}

/// 256 MiB of random data: the upload takes seconds on loopback.
fn big_raw(dir: &Path) -> PathBuf {
    use std::io::Read;
    let big = dir.join("big.raw");
    let mut f = std::fs::File::create(&big).unwrap();
    let mut rnd = std::fs::File::open("/dev/urandom").unwrap().take(256 << 20);
    std::io::copy(&mut rnd, &mut f).unwrap();
    big
}

type StderrLines = std::io::Lines<BufReader<std::process::ChildStderr>>;

/// Start `cloudseal upload ARGS FILE` and read its stderr until 20% is out: the child, the
/// rest of its stderr, and the lines seen so far.
fn upload_until_20_percent(
    env: &[(String, String)],
    args: &[&str],
    file: &Path,
) -> (std::process::Child, StderrLines, Vec<String>) {
    let mut child = cs(env)
        .arg("upload")
        .args(args)
        .arg(file)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("starting cloudseal");
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let mut seen = Vec::new();
    // Progress lines (stderr is not a TTY).
    for line in lines.by_ref() {
        let line = line.unwrap();
        seen.push(line.clone());
        if line.contains(": 20%") {
            break;
        }
    }
    assert!(
        seen.iter().any(|l| l.contains(": 20%")),
        "no progress seen: {seen:?}"
    );
    (child, lines, seen)
}

/// Upload `file`, SIGKILL Glance once 20% is out, restart it 2 s later (while cloudseal is
/// cleaning up). Returns the exit status, stdout and the stderr lines.
fn upload_and_kill_glance(
    env: &[(String, String)],
    args: &[&str],
    file: &Path,
) -> (std::process::ExitStatus, String, Vec<String>) {
    let script = crate::util::repo().join("scripts/start-glance.sh");
    let (mut child, lines, mut seen) = upload_until_20_percent(env, args, file);
    run_ok(Command::new("bash").arg(&script).arg("kill-glance"));
    std::thread::sleep(std::time::Duration::from_secs(2));
    run_ok(
        Command::new("bash")
            .arg(&script)
            .arg("restart-glance")
            .envs(env_for_script()),
    );
    seen.extend(lines.map_while(Result::ok));
    let mut stdout = String::new();
    use std::io::Read;
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut stdout)
        .unwrap();
    (child.wait().unwrap(), stdout, seen)
}

/// Kill Glance while a large upload is streaming, bring it back: with no retries the upload
/// fails with a clear error and the image it created is gone (deleted once Glance answered).
#[test]
fn glance_killed_mid_upload_leaves_no_orphan() {
    let _g = lock();
    let env = admin_env();
    let dir = tempdir();
    let big = big_raw(dir.path());
    let name = unique("killed");
    let _cleanup = Cleanup(name.clone());
    let (status, _, seen) =
        upload_and_kill_glance(&env, &["--retries", "0", "--name", &name], &big);
    let all = seen.join("\n");
    assert!(
        !status.success(),
        "the upload succeeded although Glance was killed:\n{all}"
    );
    let err = seen
        .iter()
        .find(|l| l.starts_with("cloudseal: error:"))
        .unwrap_or_else(|| panic!("no error line:\n{all}"));
    assert!(err.contains("failed") && err.contains(&name), "{err}");
    assert!(
        err.contains("was deleted"),
        "the image was not cleaned up: {err}"
    );
    assert!(
        images_named(&name).is_empty(),
        "an image was left behind:\n{all}"
    );
    // Glance works again.
    run_ok(cs(&env).args(["images", "list"]));
}

/// With retries (the default), the same crash is healed: the half-written image is deleted
/// and the upload starts again on a fresh one; exactly one active image with our hashes.
#[test]
fn glance_killed_mid_upload_is_retried_on_a_fresh_image() {
    let _g = lock();
    let env = admin_env();
    let dir = tempdir();
    let big = big_raw(dir.path());
    let name = unique("healed");
    let _cleanup = Cleanup(name.clone());
    let (status, stdout, seen) = upload_and_kill_glance(&env, &["--name", &name], &big);
    let all = seen.join("\n");
    assert!(status.success(), "the retried upload failed:\n{all}");
    assert!(all.contains("starting again on a fresh image"), "{all}");
    let images = images_named(&name);
    assert_eq!(images.len(), 1, "{images:?}");
    let id = stdout.trim();
    assert_eq!(images[0]["ID"], id);
    let show = osc_json(&["image", "show", id]);
    assert_eq!(show["status"], "active");
    assert_eq!(show["checksum"], hash_tool("md5sum", &big).as_str());
    assert_eq!(
        show["properties"]["os_hash_value"],
        hash_tool("sha512sum", &big).as_str()
    );
}

fn env_for_script() -> Vec<(String, String)> {
    vec![("GLANCE_BASE".into(), base().display().to_string())]
}

/// `cloudseal seal --upload`: the sealed output lands in Glance, verified against the
/// writer's own digests, and Glance's sha512 equals the file's.
#[test]
fn seal_with_upload_registers_the_sealed_output() {
    let _l = lock();
    require_tool("sha512sum");
    let env = admin_env();
    let name = unique("seal-upload");
    let _clean = Cleanup(name.clone());
    let dir = tempdir();
    let out = dir.path().join("sealed.qcow2");
    let input = crate::util::fixture("disks/gpt.raw");
    let o = run(cs(&env)
        .args(["seal", "-q"])
        .arg(&input)
        .arg("-o")
        .arg(&out)
        .args([
            "-c",
            "zstd",
            "--upload",
            "--name",
            &name,
            "--property",
            "os_distro=debian",
        ]));
    let (stdout, stderr) = text(&o);
    assert!(o.status.success(), "seal --upload failed: {stderr}");
    let id = stdout.trim().lines().last().unwrap_or_default().to_string();
    let imgs = images_named(&name);
    assert_eq!(imgs.len(), 1, "expected one image named {name}: {imgs:?}");
    let shown = osc_json(&["image", "show", &id]);
    assert_eq!(shown["status"], "active");
    assert_eq!(shown["disk_format"], "qcow2");
    assert_eq!(
        shown["properties"]["os_hash_value"]
            .as_str()
            .unwrap_or_default(),
        hash_tool("sha512sum", &out)
    );
}

/// Ctrl-C (SIGINT) while a large upload is streaming: the request is abandoned, the image
/// cloudseal created is deleted, no retry starts, and the exit says so in one line.
#[test]
fn ctrl_c_mid_upload_deletes_the_image() {
    let _g = lock();
    let env = admin_env();
    let dir = tempdir();
    let big = big_raw(dir.path());
    let name = unique("interrupted");
    let _cleanup = Cleanup(name.clone());
    let (mut child, lines, mut seen) = upload_until_20_percent(&env, &["--name", &name], &big);
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGINT,
    )
    .unwrap();
    seen.extend(lines.map_while(Result::ok));
    let status = child.wait().unwrap();
    let all = seen.join("\n");
    assert!(!status.success(), "{all}");
    let err = seen
        .iter()
        .find(|l| l.starts_with("cloudseal: error:"))
        .unwrap_or_else(|| panic!("no error line:\n{all}"));
    assert!(
        err.contains("interrupted") && err.contains("was deleted"),
        "{err}"
    );
    assert!(
        !all.contains("starting again"),
        "retried after Ctrl-C:\n{all}"
    );
    assert!(
        images_named(&name).is_empty(),
        "an image was left behind:\n{all}"
    );
}

/// Issue 18: a reseal of the same input gives the same bytes, so `seal --upload --if-changed`
/// uploads once and skips the second time.
#[test]
fn seal_upload_if_changed_twice_uploads_once() {
    let _g = lock();
    let env = admin_env();
    let dir = tempdir();
    let input = crate::util::fixture("disks/gpt.qcow2");
    let name = unique("reseal");
    let _cleanup = Cleanup(name.clone());
    let seal = |out: &str| {
        run(cs(&env)
            .args([
                "seal",
                "-c",
                "zstd",
                "--upload",
                "--if-changed",
                "--name",
                &name,
            ])
            .arg(&input)
            .arg("-o")
            .arg(dir.path().join(out)))
    };
    let first = seal("a.qcow2");
    // The report, then the image id on the last line.
    let id = |stdout: &str| stdout.lines().last().unwrap_or_default().to_string();
    let (first_out, stderr) = text(&first);
    assert!(first.status.success(), "{stderr}");
    assert!(!stderr.contains("unchanged"), "{stderr}");
    // The clock moves on between the two seals; the bytes must not.
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let second = seal("b.qcow2");
    let (second_out, stderr) = text(&second);
    assert!(second.status.success(), "{stderr}");
    assert_eq!(
        id(&first_out),
        id(&second_out),
        "the same image id is reported"
    );
    assert_eq!(images_named(&name).len(), 1);
    assert!(stderr.contains("unchanged"), "{stderr}");
}
