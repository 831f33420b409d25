//! File names that are not UTF-8 (fixtures `names/`, scripts/fixtures/names.sh): sealing
//! removes the odd names the operations cover, keeps every other odd name byte-identical, the
//! filesystem checker finds nothing wrong, and reports show the names readably (`\xNN`).
//! ext4 is sealed in userspace and read back by debugfs; xfs and btrfs (root and /home in
//! their own subvolumes) through the mount backend and read back by a kernel mount (root).

use std::collections::BTreeMap;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::process::Command;

use cloudseal::fs::name;
use serde_json::Value;

use crate::mount::require_root;
use crate::util::{cloudseal, fixture, require_tool, run_ok, tempdir};

/// Odd names the default operations remove (raw bytes, from the guest root).
const REMOVED: &[&[u8]] = &[
    b"/tmp/\xff\xfe",
    b"/tmp/d\xe9",
    b"/tmp/d\xe9/inner",
    b"/var/tmp/\xc3",
    b"/var/log/caf\xe9.log",
    b"/var/log/journal/j\xff",
    b"/home/us\xe9r/.bash_history",
];

/// Odd names that must come out byte-identical (the symlink with its odd target included).
const KEPT: &[&[u8]] = &[
    b"/etc/caf\xe9.conf",
    b"/etc/priv\xf4\x8f\xbf\xa9",
    b"/etc/link\xf0",
    b"/home/us\xe9r",
    b"/home/us\xe9r/keep\xff.txt",
    b"/usr/share/d\xfe",
    b"/usr/share/d\xfe/f",
];

#[derive(Debug, Clone, PartialEq, Eq)]
enum Node {
    File(Vec<u8>),
    Dir,
    /// The raw target bytes.
    Link(Vec<u8>),
}

/// Every path below `root`, keyed by its guest path in `fs::name::encode` form (lossless).
fn snapshot(root: &Path) -> BTreeMap<String, Node> {
    let mut out = BTreeMap::new();
    for e in walkdir::WalkDir::new(root).min_depth(1) {
        let e = e.expect("walking the dump");
        let rel = e.path().strip_prefix(root).expect("below the root");
        let mut key = b"/".to_vec();
        key.extend_from_slice(rel.as_os_str().as_bytes());
        let ft = e.file_type();
        let node = if ft.is_symlink() {
            let t = std::fs::read_link(e.path()).expect("reading a link");
            Node::Link(t.as_os_str().as_bytes().to_vec())
        } else if ft.is_dir() {
            Node::Dir
        } else {
            Node::File(std::fs::read(e.path()).expect("reading a file"))
        };
        out.insert(name::encode(&key).into_owned(), node);
    }
    out
}

/// The ext filesystem of a bare image as debugfs (an independent reader) dumps it.
fn ext4_tree(img: &Path, dir: &Path) -> BTreeMap<String, Node> {
    require_tool("debugfs");
    let out = dir.join("dump");
    std::fs::create_dir_all(&out).expect("creating the dump dir");
    run_ok(
        Command::new("debugfs")
            .arg("-R")
            .arg(format!("rdump / {}", out.display()))
            .arg(img),
    );
    snapshot(&out)
}

/// The xfs filesystem of a bare image, copied out of a read-only kernel mount.
fn xfs_tree(img: &Path, dir: &Path) -> BTreeMap<String, Node> {
    kernel_tree(
        img,
        dir,
        "xfs",
        "loop,ro,norecovery,nouuid",
        "cp -a \"$MNT/.\" \"$OUT/\"",
    )
}

/// The guest tree of a bare btrfs image with the Fedora layout (names/btrfs.raw): the `root`
/// subvolume with the `home` subvolume where the guest's fstab binds it, copied out of one
/// read-only kernel mount of the top level.
fn btrfs_tree(img: &Path, dir: &Path) -> BTreeMap<String, Node> {
    let _btrfs = crate::util::BTRFS_MOUNTS
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    kernel_tree(
        img,
        dir,
        "btrfs",
        "loop,ro",
        "cp -a \"$MNT/root/.\" \"$OUT/\"\n\
         test -d \"$OUT/home\" && test -z \"$(ls -A \"$OUT/home\")\"\n\
         cp -a \"$MNT/home/.\" \"$OUT/home/\"",
    )
}

/// `copy` (sh, sees $MNT and $OUT) run on a read-only kernel mount made inside a private
/// mount namespace (nothing stays mounted, the loop device autoclears), then the copy read.
fn kernel_tree(
    img: &Path,
    dir: &Path,
    fstype: &str,
    opts: &str,
    copy: &str,
) -> BTreeMap<String, Node> {
    for t in ["unshare", "mount", "umount", "cp"] {
        require_tool(t);
    }
    let (mnt, out) = (dir.join("mnt"), dir.join("copy"));
    std::fs::create_dir_all(&mnt).expect("mkdir");
    std::fs::create_dir_all(&out).expect("mkdir");
    run_ok(
        Command::new("unshare")
            .args(["-m", "--propagation", "private", "sh", "-euc"])
            .arg(format!(
                "mount -t \"$FST\" -o \"$OPTS\" \"$IMG\" \"$MNT\"\n\
                 trap 'umount \"$MNT\"' EXIT\n{copy}"
            ))
            .env("FST", fstype)
            .env("OPTS", opts)
            .env("IMG", img)
            .env("MNT", &mnt)
            .env("OUT", &out),
    );
    snapshot(&out)
}

fn key(raw: &[u8]) -> String {
    name::encode(raw).into_owned()
}

/// The odd names come out as the operations say; every other odd path is unchanged.
fn check_outcome(before: &BTreeMap<String, Node>, after: &BTreeMap<String, Node>) {
    for raw in REMOVED {
        let k = key(raw);
        assert!(
            before.contains_key(&k),
            "fixture lacks {}",
            name::display(&k)
        );
        assert!(
            !after.contains_key(&k),
            "{} survived sealing",
            name::display(&k)
        );
    }
    let odd: Vec<&String> = before.keys().filter(|k| name::has_escapes(k)).collect();
    assert_eq!(odd.len(), REMOVED.len() + KEPT.len(), "odd paths: {odd:?}");
    for raw in KEPT {
        let k = key(raw);
        assert!(
            before.contains_key(&k),
            "fixture lacks {}",
            name::display(&k)
        );
        assert_eq!(after.get(&k), before.get(&k), "{}", name::display(&k));
    }
    assert_eq!(
        after.get(&key(b"/etc/link\xf0")),
        Some(&Node::Link(b"/target\xfe".to_vec()))
    );
    // The directories the operations empty are still there.
    for d in ["/tmp", "/var/tmp", "/var/log/journal"] {
        assert_eq!(after.get(d), Some(&Node::Dir), "{d}");
    }
}

/// No raw escape char anywhere in a JSON text: paths are shown as `\xNN`.
fn assert_readable(json: &str) {
    assert!(
        !name::has_escapes(json),
        "raw private-use chars in the JSON output"
    );
}

/// Every (op, path, change) of the JSON seal report.
fn changes(report: &Value) -> Vec<(String, String, String)> {
    crate::mount::changes(report).into_iter().collect()
}

fn seal_json(input: &Path, out: &Path) -> Value {
    let stdout = run_ok(
        cloudseal()
            .args(["seal", "--json", "-q", "-O", "raw"])
            .arg(input)
            .arg("-o")
            .arg(out),
    );
    assert_readable(&stdout);
    serde_json::from_str(&stdout).expect("seal --json output")
}

fn assert_reported(report: &Value) {
    let c = changes(report);
    for (op, path, change) in [
        ("logfiles", r"/var/log/caf\xe9.log", "removed"),
        ("logfiles", r"/var/log/journal/j\xff", "removed"),
        ("bash-history", r"/home/us\xe9r/.bash_history", "removed"),
        ("tmp-files", "/tmp", "emptied"),
        ("tmp-files", "/var/tmp", "emptied"),
    ] {
        let want = (op.to_string(), path.to_string(), change.to_string());
        assert!(c.contains(&want), "{want:?} not in {c:#?}");
    }
}

#[test]
fn ext4_userspace_seal_handles_names_that_are_not_utf8() {
    require_tool("e2fsck");
    let input = fixture("names/ext4.raw");
    let dir = tempdir();
    let out = dir.path().join("sealed.raw");
    let report = seal_json(&input, &out);
    assert_reported(&report);
    crate::ext4::e2fsck_clean(&out, 0);
    let before = ext4_tree(&input, &dir.path().join("in"));
    let after = ext4_tree(&out, &dir.path().join("out"));
    check_outcome(&before, &after);
}

#[test]
fn xfs_mount_seal_handles_names_that_are_not_utf8() {
    require_root();
    let input = fixture("names/xfs.raw");
    let dir = tempdir();
    let out = dir.path().join("sealed.raw");
    let report = seal_json(&input, &out);
    assert_eq!(report["filesystems"][0]["backend"], "mount", "{report:#}");
    assert_reported(&report);
    crate::util::fsck_partition(&out, None, "xfs");
    let before = xfs_tree(&input, &dir.path().join("in"));
    let after = xfs_tree(&out, &dir.path().join("out"));
    check_outcome(&before, &after);
    // util::tree_listing (find, sha256sum, getfattr) reads the odd names losslessly too.
    let listing = crate::util::tree_listing(&out, None, "xfs", None);
    let link = listing
        .get(&key(b"/etc/link\xf0"))
        .expect("odd symlink listed");
    assert_eq!(link.target.as_deref(), Some(key(b"/target\xfe").as_str()));
    assert!(listing[&key(b"/etc/caf\xe9.conf")].sha256.is_some());
    assert!(!listing.contains_key(&key(b"/var/log/caf\xe9.log")));
}

/// btrfs goes through the same mount backend as xfs, with the root in the `root` subvolume and
/// /home in the `home` subvolume bound by the guest's fstab: odd names are removed and kept in
/// both, as the guest sees them.
#[test]
fn btrfs_subvolumes_mount_seal_handles_names_that_are_not_utf8() {
    require_root();
    let input = fixture("names/btrfs.raw");
    let dir = tempdir();
    let out = dir.path().join("sealed.raw");
    let report = seal_json(&input, &out);
    let fs = &report["filesystems"][0];
    assert_eq!(fs["backend"], "mount", "{report:#}");
    assert_eq!(fs["layout"]["subvolume"], "root", "{fs:#}");
    assert_eq!(fs["layout"]["attached"][0][0], "home", "{fs:#}");
    assert_eq!(fs["layout"]["attached"][0][1], "/home", "{fs:#}");
    assert_reported(&report);
    crate::util::fsck_partition(&out, None, "btrfs");
    let before = btrfs_tree(&input, &dir.path().join("in"));
    let after = btrfs_tree(&out, &dir.path().join("out"));
    assert!(
        before.contains_key(&key(b"/home/us\xe9r/keep\xff.txt")),
        "the home subvolume was not read"
    );
    check_outcome(&before, &after);
}

#[test]
fn inspect_and_dry_run_list_odd_names_readably() {
    let input = fixture("names/ext4.raw");
    let json = run_ok(cloudseal().args(["inspect", "--json"]).arg(&input));
    assert_readable(&json);
    let v: Value = serde_json::from_str(&json).expect("inspect --json output");
    let listed: Vec<&str> = v["host_state"]
        .as_array()
        .expect("host_state")
        .iter()
        .flat_map(|o| o["paths"].as_array().expect("paths"))
        .filter_map(Value::as_str)
        .collect();
    for p in [
        r"/tmp/\xff\xfe",
        r"/tmp/d\xe9/inner",
        r"/var/tmp/\xc3",
        r"/var/log/caf\xe9.log",
        r"/home/us\xe9r/.bash_history",
    ] {
        assert!(listed.contains(&p), "{p} not in {listed:#?}");
    }
    let human = run_ok(cloudseal().arg("inspect").arg(&input));
    assert!(human.contains(r"/var/log/caf\xe9.log"), "{human}");

    let json = run_ok(
        cloudseal()
            .args(["seal", "--dry-run", "--json"])
            .arg(&input),
    );
    assert_readable(&json);
    let v: Value = serde_json::from_str(&json).expect("seal --dry-run --json output");
    let planned: Vec<(String, String)> = v["filesystems"][0]["planned"]
        .as_array()
        .expect("planned")
        .iter()
        .map(|a| {
            (
                a["op"].as_str().unwrap_or_default().to_string(),
                a["path"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect();
    for (op, p) in [
        ("logfiles", r"/var/log/caf\xe9.log"),
        ("logfiles", r"/var/log/journal/j\xff"),
        ("bash-history", r"/home/us\xe9r/.bash_history"),
    ] {
        let want = (op.to_string(), p.to_string());
        assert!(planned.contains(&want), "{want:?} not in {planned:#?}");
    }
}

/// customize: `copy-in` of a host tree whose names and link targets are not UTF-8 lands them
/// byte for byte; `delete` with a glob matches an odd name; the report shows `\xNN`.
#[test]
fn customize_copies_in_and_deletes_odd_names() {
    use cloudseal::fs::ext4::Ext4Fs;
    use cloudseal::recipe::{self, VarSource, customize};
    use std::ffi::OsStr;
    require_tool("mke2fs");
    let t = tempdir();
    let dir = t.path();
    let host = dir.join("tree");
    std::fs::create_dir_all(host.join(OsStr::from_bytes(b"sub\xe9"))).unwrap();
    std::fs::write(host.join(OsStr::from_bytes(b"sub\xe9/f\xff")), "odd\n").unwrap();
    std::os::unix::fs::symlink(OsStr::from_bytes(b"/t\xfe"), host.join("link")).unwrap();
    let guest = dir.join("guest");
    std::fs::create_dir_all(guest.join("var/log")).unwrap();
    std::fs::write(guest.join(OsStr::from_bytes(b"var/log/a\xe9.log")), "x\n").unwrap();
    std::fs::write(guest.join("var/log/keep.txt"), "z\n").unwrap();
    let img = dir.join("root.ext4");
    run_ok(
        Command::new("mke2fs")
            .args(["-q", "-F", "-t", "ext4", "-d"])
            .arg(&guest)
            .arg(&img)
            .arg("16M"),
    );
    std::fs::write(dir.join("base.img"), b"").unwrap();
    let text = format!(
        "[base]\npath = \"base.img\"\n\n\
         [[customize]]\nop = \"copy-in\"\nfrom = \"{}\"\nto = \"/srv\"\n\n\
         [[customize]]\nop = \"delete\"\npath = \"/var/log/*.log\"\n\n\
         [[output]]\npath = \"out.qcow2\"\n",
        host.display()
    );
    let vars = VarSource::from_args(&[], false).unwrap();
    let r = recipe::parse(&text, dir, &vars).unwrap_or_else(|e| panic!("{e:?}"));
    let mut fs = Ext4Fs::open(&img, 0, true, "root").unwrap();
    let reports = customize::apply(&mut fs, &r.customize).unwrap_or_else(|e| panic!("{e:#?}"));
    fs.close().unwrap();
    crate::ext4::e2fsck_clean(&img, 0);
    let json = serde_json::to_string(&reports).unwrap();
    assert_readable(&json);
    assert!(json.contains(r#""/srv/sub\\xe9/f\\xff""#), "{json}");
    assert!(json.contains(r#""/var/log/a\\xe9.log""#), "{json}");
    let tree = ext4_tree(&img, &dir.join("dump"));
    assert_eq!(
        tree.get(&key(b"/srv/sub\xe9/f\xff")),
        Some(&Node::File(b"odd\n".to_vec()))
    );
    assert_eq!(tree.get("/srv/link"), Some(&Node::Link(b"/t\xfe".to_vec())));
    assert!(!tree.contains_key(&key(b"/var/log/a\xe9.log")));
    assert!(tree.contains_key("/var/log/keep.txt"));
}
