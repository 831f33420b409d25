//! Recipes: `recipe check` (every problem at once, with lines), the example recipes, and the
//! customize steps applied to real ext4 (checked with e2fsck -fn and read back) and to a
//! directory tree.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use cloudseal::fs::dir::DirFs;
use cloudseal::fs::ext4::Ext4Fs;
use cloudseal::fs::{FileKind, GuestFs, GuestFsMut};
use cloudseal::recipe::customize::{self, StepReport};
use cloudseal::recipe::{self, VarSource};

use crate::util::{repo, require_tool, run, run_ok, tempdir};

const KEY: &str = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGq0kLw3m1rA8l0c5uJg1rV6o2mH1b0T7y3xkG5c9eFq test@cloudseal";

#[test]
fn check_reports_every_problem_of_a_broken_recipe_with_lines() {
    let t = tempdir();
    let r = t.path().join("broken.toml");
    std::fs::write(
        &r,
        r#"[base]
path = "missing.qcow2"

[[customize]]
op = "write"
path = "etc/motd"
content = "hi ${who}"

[[customize]]
op = "frobnicate"
path = "/x"

[[customize]]
op = "chmod"
path = "/etc/x"
mode = "999"
colour = "red"

[seal]
operations = "defaults,bogus-op"

[[output]]
path = "out.img"
format = "vmdk"

[extra]
x = 1
"#,
    )
    .unwrap();
    // --strict: the missing base counts (without it, it is a warning among the errors).
    let out = run(crate::util::cloudseal()
        .args(["recipe", "check", "--strict"])
        .arg(&r)
        .env_remove("who"));
    assert_eq!(out.status.code(), Some(1), "a broken recipe must fail");
    let err = String::from_utf8_lossy(&out.stderr);
    for want in [
        "line 1: [base] path",
        "missing.qcow2",
        "line 4: customize step write: guest path \"etc/motd\" is not absolute",
        "line 7: undefined variable(s) ${who}",
        "line 10: customize #2: unknown variant `frobnicate`",
        "line 17: customize #3: unknown field `colour`",
        "line 19: [seal]: unknown operation(s) \"bogus-op\"",
        "line 22: output format \"vmdk\"",
        "line 26: unknown section \"extra\"",
        "8 problem(s)",
    ] {
        assert!(err.contains(want), "missing {want:?} in:\n{err}");
    }
    let out = run(crate::util::cloudseal()
        .args(["recipe", "check"])
        .arg(&r)
        .env_remove("who"));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("7 problem(s)") && err.contains("line 1: warning: [base] path"),
        "{err}"
    );
    // Defining the variable removes exactly that problem.
    let out = run(crate::util::cloudseal()
        .args(["recipe", "check", "--strict", "--var", "who=me"])
        .arg(&r));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("7 problem(s)") && !err.contains("${who}"),
        "{err}"
    );
}

#[test]
fn syntax_errors_are_reported_with_lines() {
    let t = tempdir();
    let e = recipe::parse(
        "[base]\npath = \"x\n\n[[output]]\npath = 3\n",
        t.path(),
        &VarSource::default(),
    )
    .unwrap_err();
    assert!(
        e.iter()
            .any(|p| p.line == Some(2) && p.message.contains("TOML syntax")),
        "{e:?}"
    );
}

#[test]
fn example_recipes_pass_check() {
    let t = tempdir();
    let base = t.path().join("base.qcow2");
    std::fs::write(&base, b"").unwrap();
    for name in ["debian-12.toml", "rhel-9.toml"] {
        let out = run_ok(
            crate::util::cloudseal()
                .args(["recipe", "check", "--var"])
                .arg(format!("base={}", base.display()))
                .arg("--var")
                .arg(format!("out={}", t.path().display()))
                .arg(repo().join("recipes").join(name)),
        );
        assert!(out.contains(": ok ("), "{name}: {out}");
    }
}

/// The shipped recipes pass `recipe check` in a fresh checkout, where their base images are
/// not there: a missing local base is a warning (it failed the check); `--strict` and `build`
/// make it an error.
#[test]
fn shipped_recipes_pass_check_without_their_base() {
    let t = tempdir();
    let absent = t.path().join("absent.qcow2");
    for name in ["debian-12.toml", "rhel-9.toml"] {
        let recipe = repo().join("recipes").join(name);
        // As in a fresh checkout (the base may or may not be there on this machine).
        let out = run_ok(
            crate::util::cloudseal()
                .args(["recipe", "check"])
                .arg(&recipe),
        );
        assert!(out.contains(": ok ("), "{name}: {out}");

        let check = |extra: &[&str]| {
            run(crate::util::cloudseal()
                .args(["recipe", "check", "--var"])
                .arg(format!("base={}", absent.display()))
                .args(extra)
                .arg(&recipe))
        };
        let o = check(&[]);
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(o.status.success(), "{name}: {err}");
        assert!(String::from_utf8_lossy(&o.stdout).contains(": ok ("));
        assert!(
            err.starts_with("cloudseal: warning: ")
                && err.contains(&format!("[base] path {}", absent.display())),
            "{name}: {err}"
        );
        let o = check(&["--strict"]);
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(1), "{name}: {err}");
        assert!(
            err.contains("1 problem(s)") && err.contains("[base] path") && !err.contains("warning"),
            "{name}: {err}"
        );
        let o = run(crate::util::cloudseal()
            .args(["build", "--dry-run", "--var"])
            .arg(format!("base={}", absent.display()))
            .arg("--var")
            .arg(format!("out={}", t.path().display()))
            .arg(&recipe));
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(1), "{name}: {err}");
        assert!(
            err.contains("1 problem(s)") && err.contains("[base] path"),
            "{name}: {err}"
        );
    }
}

/// The steps every customize test applies (host paths under `host`).
fn steps_recipe(host: &Path) -> String {
    format!(
        r#"
[base]
path = "base.img"

[[customize]]
op = "write"
path = "/etc/motd"
content = "hello from ${{who}}\n"

[[customize]]
op = "write"
path = "/opt/app/etc/app.conf"
from = "{host}/app.conf"
mode = "0640"
owner = "debian:adm"

[[customize]]
op = "copy-in"
from = "{host}/tree"
to = "/srv/site"

[[customize]]
op = "delete"
path = "/var/log/*.log"

[[customize]]
op = "delete"
path = "/var/cache/junk"

[[customize]]
op = "mkdir"
path = "/data/a/b"
mode = "0750"
owner = "1000:1000"

[[customize]]
op = "chmod"
path = "/etc/hosts"
mode = "0600"

[[customize]]
op = "chown"
path = "/etc/hosts"
owner = "debian"

[[customize]]
op = "symlink"
path = "/usr/local/bin/app"
target = "/opt/app/bin/app"

[[customize]]
op = "ssh-key"
user = "debian"
key = "{KEY}"

[[customize]]
op = "hostname"
hostname = "web-1.example.org"

[[customize]]
op = "password"
user = "debian"
hash = "$6$saltsalt$0123456789abcdef"

[[customize]]
op = "firstboot"
name = "cloudseal-ssh-keygen"
command = "ssh-keygen -A"
unless-exists = "/etc/ssh/ssh_host_ed25519_key"
before = ["ssh.service"]

[[output]]
path = "out.qcow2"
"#,
        host = host.display()
    )
}

/// Host inputs, and a small Debian-like guest tree.
fn make_inputs(dir: &Path) -> (PathBuf, PathBuf) {
    let host = dir.join("host");
    std::fs::create_dir_all(host.join("tree/css")).unwrap();
    std::fs::write(host.join("app.conf"), "port = 8080\n").unwrap();
    std::fs::write(host.join("tree/index.html"), "<h1>hi</h1>\n").unwrap();
    std::fs::write(host.join("tree/css/site.css"), "body {}\n").unwrap();
    std::os::unix::fs::symlink("index.html", host.join("tree/home.html")).unwrap();
    let g = dir.join("guest");
    let w = |p: &str, data: &str| {
        let path = g.join(p);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, data).unwrap();
    };
    w(
        "etc/passwd",
        "root:x:0:0:root:/root:/bin/bash\ndebian:x:1000:1000:Debian:/home/debian:/bin/bash\n",
    );
    w("etc/group", "root:x:0:\nadm:x:4:debian\ndebian:x:1000:\n");
    w(
        "etc/shadow",
        "root:*:19000:0:99999:7:::\ndebian:!:19000:0:99999:7:::\n",
    );
    w("etc/hosts", "127.0.0.1\tlocalhost\n127.0.1.1\told-host\n");
    w("etc/hostname", "old-host\n");
    w("var/log/syslog.log", "x\n");
    w("var/log/auth.log", "y\n");
    w("var/log/keep.txt", "z\n");
    w("var/cache/junk/a/b", "deep\n");
    std::fs::create_dir_all(g.join("home/debian")).unwrap();
    std::fs::create_dir_all(g.join("root")).unwrap();
    (host, g)
}

fn apply_recipe(fs: &mut dyn GuestFsMut, host: &Path) -> Vec<StepReport> {
    let vars = VarSource::from_args(&["who=tests".into()], false).unwrap();
    let dir = host.parent().unwrap();
    std::fs::write(dir.join("base.img"), b"").unwrap();
    let r = recipe::parse(&steps_recipe(host), dir, &vars).unwrap_or_else(|e| panic!("{e:?}"));
    customize::apply(fs, &r.customize).unwrap_or_else(|e| panic!("{e:#?}"))
}

/// What every customize test expects to find afterwards.
fn verify(fs: &dyn GuestFs, reports: &[StepReport]) {
    let read = |p: &str| String::from_utf8(fs.read_file(p, 1 << 20).unwrap()).unwrap();
    let meta = |p: &str| {
        fs.metadata(p)
            .unwrap()
            .unwrap_or_else(|| panic!("{p} missing"))
    };
    assert_eq!(read("/etc/motd"), "hello from tests\n");
    assert_eq!(read("/opt/app/etc/app.conf"), "port = 8080\n");
    let m = meta("/opt/app/etc/app.conf");
    assert_eq!((m.mode & 0o7777, m.uid, m.gid), (0o640, 1000, 4));
    assert_eq!(meta("/opt/app").kind, FileKind::Dir);
    assert_eq!(read("/srv/site/index.html"), "<h1>hi</h1>\n");
    assert_eq!(read("/srv/site/css/site.css"), "body {}\n");
    assert_eq!(fs.read_link("/srv/site/home.html").unwrap(), "index.html");
    assert!(fs.metadata("/var/log/syslog.log").unwrap().is_none());
    assert!(fs.metadata("/var/log/auth.log").unwrap().is_none());
    assert!(fs.metadata("/var/log/keep.txt").unwrap().is_some());
    assert!(fs.metadata("/var/cache/junk").unwrap().is_none());
    let m = meta("/data/a/b");
    assert_eq!(
        (m.kind, m.mode & 0o7777, m.uid, m.gid),
        (FileKind::Dir, 0o750, 1000, 1000)
    );
    let m = meta("/etc/hosts");
    assert_eq!((m.mode & 0o7777, m.uid, m.gid), (0o600, 1000, 1000));
    assert_eq!(
        fs.read_link("/usr/local/bin/app").unwrap(),
        "/opt/app/bin/app"
    );
    let m = meta("/home/debian/.ssh");
    assert_eq!(
        (m.kind, m.mode & 0o7777, m.uid, m.gid),
        (FileKind::Dir, 0o700, 1000, 1000)
    );
    let m = meta("/home/debian/.ssh/authorized_keys");
    assert_eq!((m.mode & 0o7777, m.uid, m.gid), (0o600, 1000, 1000));
    assert_eq!(
        read("/home/debian/.ssh/authorized_keys"),
        format!("{KEY}\n")
    );
    assert_eq!(read("/etc/hostname"), "web-1.example.org\n");
    assert!(read("/etc/hosts").contains("127.0.1.1\tweb-1.example.org web-1\n"));
    assert!(read("/etc/shadow").contains("debian:$6$saltsalt$0123456789abcdef:19000:"));
    let unit = read("/etc/systemd/system/cloudseal-ssh-keygen.service");
    assert!(
        unit.contains("ExecStart=/bin/sh -c \"ssh-keygen -A\""),
        "{unit}"
    );
    assert!(unit.contains("Before=ssh.service"));
    assert_eq!(
        fs.read_link("/etc/systemd/system/multi-user.target.wants/cloudseal-ssh-keygen.service")
            .unwrap(),
        "/etc/systemd/system/cloudseal-ssh-keygen.service"
    );
    // The report names every step, and every path it changed.
    let ops: Vec<&str> = reports.iter().map(|r| r.op).take(13).collect();
    assert_eq!(
        ops,
        [
            "write",
            "write",
            "copy-in",
            "delete",
            "delete",
            "mkdir",
            "chmod",
            "chown",
            "symlink",
            "ssh-key",
            "hostname",
            "password",
            "firstboot"
        ]
    );
    let paths =
        |i: usize| -> Vec<&str> { reports[i].changes.iter().map(|c| c.path.as_str()).collect() };
    assert_eq!(paths(3), ["/var/log/auth.log", "/var/log/syslog.log"]);
    assert!(paths(2).contains(&"/srv/site/css/site.css"));
    assert!(paths(9).contains(&"/home/debian/.ssh/authorized_keys"));
}

fn e2fsck_clean(img: &Path) {
    require_tool("e2fsck");
    let out = run(Command::new("e2fsck").arg("-fn").arg(img));
    assert!(
        out.status.success(),
        "e2fsck -fn {}:\n{}{}",
        img.display(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn customize_steps_on_ext4_leave_a_clean_filesystem() {
    require_tool("mke2fs");
    let t = tempdir();
    let (host, guest) = make_inputs(t.path());
    for opts in [&["-O", "^inline_data"][..], &["-O", "inline_data"][..]] {
        let img = t.path().join("root.ext4");
        let _ = std::fs::remove_file(&img);
        run_ok(
            Command::new("mke2fs")
                .args(["-q", "-F", "-t", "ext4"])
                .args(opts)
                .arg("-d")
                .arg(&guest)
                .arg(&img)
                .arg("16M"),
        );
        let mut fs = Ext4Fs::open(&img, 0, true, "root").unwrap();
        let reports = apply_recipe(&mut fs, &host);
        fs.close().unwrap();
        e2fsck_clean(&img);
        let fs = Ext4Fs::open(&img, 0, false, "root").unwrap();
        verify(&fs, &reports);
        // debugfs, the reference reader, agrees on a created symlink and an owner.
        let out = run_ok(
            Command::new("debugfs")
                .args(["-R", "stat /home/debian/.ssh"])
                .arg(&img),
        );
        assert!(
            out.contains("User:  1000") && out.contains("Mode:  0700"),
            "{out}"
        );
    }
}

#[test]
fn customize_steps_on_a_directory_and_selinux_relabel() {
    let t = tempdir();
    let (host, guest) = make_inputs(t.path());
    std::fs::create_dir_all(guest.join("etc/selinux")).unwrap();
    std::fs::write(
        guest.join("etc/selinux/config"),
        "SELINUX=enforcing\nSELINUXTYPE=targeted\n",
    )
    .unwrap();
    let mut fs = DirFs::open(&guest).unwrap();
    let reports = apply_recipe(&mut fs, &host);
    verify(&fs, &reports);
    assert!(guest.join(".autorelabel").exists());
    assert_eq!(reports.last().map(|r| r.op), Some("selinux-relabel"));
    let m = std::fs::symlink_metadata(guest.join("home/debian/.ssh")).unwrap();
    assert_eq!(m.uid(), 1000);
}

#[test]
fn a_failing_step_is_named_with_its_line() {
    let t = tempdir();
    let (_host, guest) = make_inputs(t.path());
    std::fs::write(t.path().join("base.img"), b"").unwrap();
    let text = "[base]\npath = \"base.img\"\n\n[[customize]]\nop = \"mkdir\"\npath = \"/x\"\n\n[[customize]]\nop = \"chmod\"\npath = \"/nope\"\nmode = \"0600\"\n\n[[output]]\npath = \"o\"\n";
    let r = recipe::parse(text, t.path(), &VarSource::default()).unwrap();
    let mut fs = DirFs::open(&guest).unwrap();
    let e = customize::apply(&mut fs, &r.customize).unwrap_err();
    let msg = format!("{e:#}");
    let chain = anyhow_chain(&e);
    assert!(msg.contains("customize step 2 (chmod, line 8)"), "{msg}");
    assert!(chain.contains("/nope"), "{chain}");
}

fn anyhow_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cur = c.source();
    }
    s
}

#[test]
fn customize_with_a_pinned_clock_is_byte_reproducible() {
    require_tool("mke2fs");
    let t = tempdir();
    let (host, guest) = make_inputs(t.path());
    let base = t.path().join("base.ext4");
    run_ok(
        Command::new("mke2fs")
            .args(["-q", "-F", "-t", "ext4", "-d"])
            .arg(&guest)
            .arg(&base)
            .arg("16M")
            .env("E2FSPROGS_FAKE_TIME", "1700000000"),
    );
    let mut images = Vec::new();
    for i in 0..2 {
        let img = t.path().join(format!("copy{i}.ext4"));
        std::fs::copy(&base, &img).unwrap();
        let mut fs = Ext4Fs::open(&img, 0, true, "root").unwrap();
        assert_eq!(
            fs.pinned_time(None),
            1_700_000_000,
            "the base's last write time"
        );
        apply_recipe(&mut fs, &host);
        fs.close().unwrap();
        e2fsck_clean(&img);
        images.push(std::fs::read(&img).unwrap());
    }
    assert!(
        images[0] == images[1],
        "two identical customize runs wrote different bytes"
    );
    assert!(images[0] != std::fs::read(&base).unwrap());
}

/// python3's http.server on 127.0.0.1, killed on drop.
struct HttpServer {
    child: std::process::Child,
    port: u16,
}

impl HttpServer {
    fn serve(dir: &Path) -> HttpServer {
        require_tool("python3");
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let server = Command::new("python3")
            .args(["-m", "http.server", "--bind", "127.0.0.1"])
            .arg(port.to_string())
            .current_dir(dir)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .map(|child| HttpServer { child, port })
            .unwrap();
        for _ in 0..100 {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return server;
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        panic!("python3 -m http.server did not start");
    }
}

impl Drop for HttpServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn base_download_is_verified_and_cached() {
    use cloudseal::recipe::fetch::{FetchError, fetch};
    use cloudseal::recipe::schema::Base;
    let t = tempdir();
    let www = t.path().join("www");
    std::fs::create_dir_all(&www).unwrap();
    let data: Vec<u8> = (0..300_000u32).map(|i| (i * 7 % 251) as u8).collect();
    std::fs::write(www.join("base.img"), &data).unwrap();
    let sha = crate::util::sha256sum(&www.join("base.img"));
    let cache = t.path().join("cache");
    let server = HttpServer::serve(&www);
    let url = format!("http://127.0.0.1:{}/base.img", server.port);
    let bad = Base {
        url: Some(url.clone()),
        sha256: Some("0".repeat(64)),
        ..Base::default()
    };
    match fetch(&bad, &cache) {
        Err(FetchError::Mismatch { got, .. }) => assert_eq!(got, sha),
        other => panic!("a wrong sha256 must be refused: {other:?}"),
    }
    let good = Base {
        url: Some(url.clone()),
        sha256: Some(sha.to_uppercase()),
        ..Base::default()
    };
    let f = fetch(&good, &cache).unwrap();
    assert_eq!(std::fs::read(&f.path).unwrap(), data);
    assert_eq!(
        (f.sha256.as_str(), f.source.as_str()),
        (sha.as_str(), url.as_str())
    );
    // Only the verified file is left in the cache.
    assert_eq!(std::fs::read_dir(&cache).unwrap().count(), 1);
    // With the server gone, the cache serves it.
    drop(server);
    assert_eq!(fetch(&good, &cache).unwrap().path, f.path);
    // A local path is hashed and checked too.
    let local = Base {
        path: Some(www.join("base.img").display().to_string()),
        sha256: Some("1".repeat(64)),
        ..Base::default()
    };
    assert!(matches!(
        fetch(&local, &cache),
        Err(FetchError::Mismatch { .. })
    ));
}

/// A build recipe on the partitioned fixture: customize, seal, a zstd qcow2 and a raw output.
fn build_recipe(dir: &Path, extra: &str) -> PathBuf {
    let base = crate::util::fixture("disks/gpt.qcow2");
    let text = format!(
        r#"[base]
path = "{base}"

[[customize]]
op = "hostname"
hostname = "web-1"

[[customize]]
op = "ssh-key"
user = "debian"
key = "{KEY}"
{extra}
[[customize]]
op = "firstboot"
name = "cloudseal-ssh-keygen"
command = "ssh-keygen -A"
unless-exists = "/etc/ssh/ssh_host_ed25519_key"
before = ["ssh.service"]

[[output]]
path = "${{out}}/img.qcow2"
compression = "zstd"

[[output]]
path = "${{out}}/img.raw"
format = "raw"
"#,
        base = base.display()
    );
    let p = dir.join("build.toml");
    std::fs::write(&p, text).unwrap();
    p
}

fn cloudseal_build(recipe: &Path, out: &Path) -> std::process::Output {
    run(crate::util::cloudseal()
        .args(["build", "-q", "--var"])
        .arg(format!("out={}", out.display()))
        .arg(recipe)
        .env_remove("SOURCE_DATE_EPOCH"))
}

/// The manifest without its timings.
fn manifest_sans_timings(p: &Path) -> serde_json::Value {
    let mut v: serde_json::Value = serde_json::from_slice(&std::fs::read(p).unwrap()).unwrap();
    v.as_object_mut()
        .unwrap()
        .remove("timings")
        .expect("timings");
    v
}

#[test]
fn build_twice_gives_identical_outputs_and_manifests() {
    let t = tempdir();
    let recipe = build_recipe(t.path(), "");
    let out = t.path().join("out");
    std::fs::create_dir_all(&out).unwrap();
    let first = t.path().join("first");
    std::fs::create_dir_all(&first).unwrap();
    let names = ["img.qcow2", "img.raw", "img.qcow2.manifest.json"];
    for round in 0..2 {
        let o = cloudseal_build(&recipe, &out);
        assert!(
            o.status.success(),
            "build {round}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        if round == 0 {
            for n in names {
                std::fs::rename(out.join(n), first.join(n)).unwrap();
            }
        }
    }
    for n in &names[..2] {
        assert!(
            std::fs::read(first.join(n)).unwrap() == std::fs::read(out.join(n)).unwrap(),
            "{n} differs between two builds of the same recipe and base"
        );
    }
    let m = manifest_sans_timings(&out.join(names[2]));
    assert_eq!(m, manifest_sans_timings(&first.join(names[2])));
    // Every output is created as any file is here: 0666 less the umask.
    use std::os::unix::fs::PermissionsExt;
    let probe = t.path().join("mode-probe");
    std::fs::write(&probe, b"").unwrap();
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o7777;
    for n in names {
        assert_eq!(mode(&out.join(n)), mode(&probe), "mode of {n}");
    }

    // The outputs are sound and hold the same disk.
    let qcow = out.join("img.qcow2");
    let raw = out.join("img.raw");
    crate::util::qemu_img_check(&qcow);
    crate::util::qemu_img_compare(&qcow, &raw);

    // The root filesystem (partition 3) is clean and customized, and was sealed.
    let root_off = 36864 * 512;
    let part = t.path().join("root.ext4");
    run_ok(
        Command::new("dd")
            .arg(format!("if={}", raw.display()))
            .arg(format!("of={}", part.display()))
            .args(["bs=512", "skip=36864", "count=124928", "status=none"]),
    );
    e2fsck_clean(&part);
    let fs = Ext4Fs::open(&raw, root_off, false, "root").unwrap();
    let read = |p: &str| String::from_utf8(fs.read_file(p, 1 << 20).unwrap()).unwrap();
    assert_eq!(read("/etc/hostname"), "web-1\n");
    assert_eq!(
        read("/home/debian/.ssh/authorized_keys"),
        format!("{KEY}\n")
    );
    assert!(
        fs.metadata("/etc/systemd/system/cloudseal-ssh-keygen.service")
            .unwrap()
            .is_some()
    );
    assert!(
        fs.metadata("/etc/ssh/ssh_host_ed25519_key")
            .unwrap()
            .is_none(),
        "not sealed"
    );

    // The manifest says what was built from what.
    let base = crate::util::fixture("disks/gpt.qcow2");
    assert_eq!(m["base"]["sha256"], crate::util::sha256sum(&base));
    assert_eq!(m["recipe_sha256"], crate::util::sha256sum(&recipe));
    let outs = m["outputs"].as_array().unwrap();
    assert_eq!(outs.len(), 2);
    for (o, p) in outs.iter().zip([&qcow, &raw]) {
        assert_eq!(o["sha256"], crate::util::sha256sum(p));
        assert_eq!(o["size"], std::fs::metadata(p).unwrap().len());
        assert_eq!(o["sha512"].as_str().map(str::len), Some(128));
    }
    assert_eq!(outs[0]["compression"], "zstd");
    let steps = m["customize"].as_array().unwrap();
    let ops: Vec<&str> = steps.iter().map(|s| s["op"].as_str().unwrap()).collect();
    assert_eq!(ops, ["hostname", "ssh-key", "firstboot"]);
    assert_eq!(steps[1]["changes"][0]["path"], "/home/debian/.ssh");
    let sealed: Vec<&str> = m["seal"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["op"].as_str().unwrap())
        .collect();
    assert!(
        sealed.contains(&"ssh-hostkeys") && sealed.contains(&"machine-id"),
        "{sealed:?}"
    );
}

#[test]
fn build_failure_names_the_stage_and_step_and_writes_nothing() {
    let t = tempdir();
    let recipe = build_recipe(
        t.path(),
        "\n[[customize]]\nop = \"chmod\"\npath = \"/no/such/file\"\nmode = \"0600\"\n",
    );
    let out = t.path().join("out");
    std::fs::create_dir_all(&out).unwrap();
    let o = cloudseal_build(&recipe, &out);
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("build stage customize"), "{err}");
    assert!(err.contains("customize step 3 (chmod, line 13)"), "{err}");
    assert!(err.contains("/no/such/file"), "{err}");
    assert_eq!(
        std::fs::read_dir(&out).unwrap().count(),
        0,
        "nothing may be written"
    );
}

#[test]
fn build_dry_run_writes_nothing_and_prints_the_plan() {
    let t = tempdir();
    let recipe = build_recipe(t.path(), "");
    let out = t.path().join("out");
    std::fs::create_dir_all(&out).unwrap();
    let stdout = run_ok(
        crate::util::cloudseal()
            .args(["build", "--dry-run", "--var"])
            .arg(format!("out={}", out.display()))
            .arg(&recipe),
    );
    assert!(stdout.contains("seal ssh-hostkeys: would"), "{stdout}");
    assert!(
        stdout.contains("customize 2 (ssh-key, line 8): would run"),
        "{stdout}"
    );
    assert_eq!(std::fs::read_dir(&out).unwrap().count(), 0);
    // A command-line selection overrides the recipe's.
    let stdout = run_ok(
        crate::util::cloudseal()
            .args(["build", "--dry-run", "--operations", "machine-id", "--var"])
            .arg(format!("out={}", out.display()))
            .arg(&recipe),
    );
    assert!(stdout.contains("seal machine-id: would"), "{stdout}");
    assert!(!stdout.contains("seal ssh-hostkeys"), "{stdout}");
}

/// `--enable` and a recipe's `[seal] enable` add to the selection (they once replaced it,
/// leaving the host keys in the image); what a selection leaves out is warned about.
#[test]
fn build_enable_adds_to_the_selection() {
    let t = tempdir();
    let out = t.path().join("out");
    std::fs::create_dir_all(&out).unwrap();
    let dry = |recipe: &Path, args: &[&str]| {
        let o = run(crate::util::cloudseal()
            .args(["build", "--dry-run", "--var"])
            .arg(format!("out={}", out.display()))
            .args(args)
            .arg(recipe));
        let (stdout, stderr) = (
            String::from_utf8_lossy(&o.stdout).into_owned(),
            String::from_utf8_lossy(&o.stderr).into_owned(),
        );
        assert!(o.status.success(), "{args:?}: {stderr}");
        (stdout, stderr)
    };
    let recipe = build_recipe(t.path(), "\n[seal]\nenable = \"user-account\"\n");
    let (stdout, stderr) = dry(&recipe, &[]);
    for op in ["ssh-hostkeys", "machine-id", "user-account"] {
        assert!(stdout.contains(&format!("seal {op}: would")), "{stdout}");
    }
    assert!(!stderr.contains("warning"), "{stderr}");

    // On the command line, --enable adds to the recipe's selection.
    let only = build_recipe(t.path(), "\n[seal]\noperations = \"machine-id\"\n");
    let (stdout, stderr) = dry(&only, &["--enable", "user-account"]);
    assert!(stdout.contains("seal machine-id: would"), "{stdout}");
    assert!(stdout.contains("seal user-account: would"), "{stdout}");
    assert!(!stdout.contains("seal ssh-hostkeys"), "{stdout}");
    assert!(
        stderr.contains("warning: ssh-hostkeys is not selected") && !stderr.contains("machine-id"),
        "{stderr}"
    );
}

#[test]
fn build_uploads_to_glance_as_the_recipe_says() {
    let _turn = crate::glance::lock();
    let name = crate::glance::unique("recipe");
    let _cleanup = crate::glance::Cleanup(name.clone());
    let t = tempdir();
    let glance = format!(
        "\n[glance]\nname = \"{name}\"\nvisibility = \"private\"\nmin-disk = 1\ntags = [\"cloudseal-recipe\"]\nproperties = {{ os_distro = \"debian\" }}\n"
    );
    let recipe = build_recipe(t.path(), &glance);
    let out = t.path().join("out");
    std::fs::create_dir_all(&out).unwrap();
    let o = cloudseal_build(&recipe, &out);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let m: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("img.qcow2.manifest.json")).unwrap())
            .unwrap();
    let id = m["glance"]["image_id"]
        .as_str()
        .expect("image id in the manifest");
    assert_eq!(m["glance"]["name"], name.as_str());
    // The reference client sees the first output's bytes, with the recipe's attributes.
    let img = crate::glance::osc_json(&["image", "show", id]);
    assert_eq!(img["name"], name.as_str());
    assert_eq!(img["status"], "active");
    assert_eq!(img["disk_format"], "qcow2");
    assert_eq!(img["visibility"], "private");
    assert_eq!(img["min_disk"], 1);
    assert_eq!(
        img["properties"]["os_hash_value"],
        m["outputs"][0]["sha512"]
    );
    assert_eq!(img["size"], m["outputs"][0]["size"]);
    assert!(
        img["tags"].to_string().contains("cloudseal-recipe"),
        "{img}"
    );
    assert_eq!(img["properties"]["os_distro"], "debian");
}

#[test]
fn recipe_on_an_xfs_without_os_stops_before_writing_anything() {
    require_tool("mkfs.xfs");
    let t = tempdir();
    let img = t.path().join("xfs-root.raw");
    std::fs::File::create(&img)
        .unwrap()
        .set_len(320 << 20)
        .unwrap();
    run_ok(Command::new("mkfs.xfs").args(["-q", "-f"]).arg(&img));
    let out = t.path().join("out");
    std::fs::create_dir_all(&out).unwrap();
    let o = run(crate::util::cloudseal()
        .args(["build", "-q", "--var"])
        .arg(format!("base={}", img.display()))
        .arg("--var")
        .arg(format!("out={}", out.display()))
        .arg(repo().join("recipes/rhel-9.toml")));
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("no root filesystem"), "{err}");
    assert_eq!(
        std::fs::read_dir(&out).unwrap().count(),
        0,
        "nothing may be written"
    );
}
