//! Helpers shared by the integration tests: fixtures, temp dirs, running commands.
#![allow(dead_code)]

use std::collections::{BTreeMap, BTreeSet};
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

/// A temp dir that an unprivileged user can reach (for tests that drop to uid 65534): in the
/// system temp dir, not under the checkout, whose parents may be closed to others (a clone in
/// a `mktemp -d` folder is 0700).
pub fn world_tempdir() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("cloudseal-test.")
        .tempdir_in(std::env::temp_dir())
        .expect("creating a temp dir in the system temp dir")
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

// ---- Oracles for the mount backend's fixtures (scripts/fixtures/mount.sh): partitions,
// read-only filesystem checks and tree listings, all by the reference tools and the kernel.

/// Refuse a qcow2 where a raw image is needed (the tools below would read its metadata).
fn assert_raw(img: &Path) {
    use std::io::Read;
    let mut magic = [0u8; 4];
    let n = std::fs::File::open(img)
        .and_then(|mut f| f.read(&mut magic))
        .unwrap_or_else(|e| panic!("reading {}: {e}", img.display()));
    assert!(
        !(n == 4 && &magic == b"QFI\xfb"),
        "{} is a qcow2: convert it with to_raw() first",
        img.display()
    );
}

/// `img` converted to a raw image in `dir` by `qemu-img convert -O raw` (sparse).
pub fn to_raw(img: &Path, dir: &Path) -> PathBuf {
    require_tool("qemu-img");
    let stem = img.file_stem().expect("image file name").to_string_lossy();
    let out = dir.join(format!("{stem}.raw"));
    run_ok(
        Command::new("qemu-img")
            .args(["convert", "-O", "raw"])
            .arg(img)
            .arg(&out),
    );
    out
}

/// (byte offset, byte size) of partition `number` (1-based) of a raw disk image, as
/// `sfdisk --json` reads it (GPT or MBR). Raw images only: use `to_raw` on a qcow2 first.
pub fn partition_span(img: &Path, number: u32) -> (u64, u64) {
    require_tool("sfdisk");
    assert_raw(img);
    let json = run_ok(Command::new("sfdisk").arg("--json").arg(img));
    let v: serde_json::Value = serde_json::from_str(&json).expect("sfdisk --json output");
    let table = &v["partitiontable"];
    let sector = table["sectorsize"].as_u64().unwrap_or(512);
    let device = table["device"].as_str().expect("sfdisk device");
    for p in table["partitions"].as_array().expect("sfdisk partitions") {
        let node = p["node"].as_str().expect("partition node");
        let suffix = node
            .strip_prefix(device)
            .expect("node named after the device");
        let n: u32 = suffix
            .trim_start_matches('p')
            .parse()
            .expect("partition number");
        if n == number {
            let start = p["start"].as_u64().expect("partition start");
            let size = p["size"].as_u64().expect("partition size");
            return (start * sector, size * sector);
        }
    }
    panic!("{} has no partition {number}:\n{json}", img.display());
}

/// The byte span of the filesystem: partition `number`, or the whole image for None.
fn fs_span(img: &Path, number: Option<u32>) -> (u64, u64) {
    match number {
        Some(n) => partition_span(img, n),
        None => {
            assert_raw(img);
            let len = std::fs::metadata(img)
                .unwrap_or_else(|e| panic!("reading {}: {e}", img.display()))
                .len();
            (0, len)
        }
    }
}

/// Copy `size` bytes at `offset` of `img` into the sparse file `dest`.
fn extract(img: &Path, (offset, size): (u64, u64), dest: &Path) {
    require_tool("dd");
    run_ok(
        Command::new("dd")
            .arg(format!("if={}", img.display()))
            .arg(format!("of={}", dest.display()))
            .args([
                "bs=1M",
                "iflag=skip_bytes,count_bytes",
                "conv=sparse",
                "status=none",
            ])
            .arg(format!("skip={offset}"))
            .arg(format!("count={size}")),
    );
    let got = std::fs::metadata(dest).expect("extracted partition").len();
    assert_eq!(
        got,
        size,
        "extracting {} from {}",
        dest.display(),
        img.display()
    );
}

/// Check the filesystem of partition `number` (None: the whole image) with its reference
/// checker, read-only, on an extracted copy (so a mounted or busy original does not matter);
/// panics with the checker's output unless it reports the filesystem clean.
/// `kind`: xfs (`xfs_repair -n`), btrfs (`btrfs check --readonly`), vfat (`fsck.vfat -n`),
/// ext2/ext3/ext4 (`e2fsck -fn`).
pub fn fsck_partition(img: &Path, number: Option<u32>, kind: &str) {
    let (tool, args): (&str, &[&str]) = match kind {
        "xfs" => ("xfs_repair", &["-n", "-f"]),
        "btrfs" => ("btrfs", &["check", "--readonly"]),
        "vfat" => ("fsck.vfat", &["-n"]),
        "ext2" | "ext3" | "ext4" => ("e2fsck", &["-fn"]),
        _ => panic!("fsck_partition: unknown filesystem kind {kind:?}"),
    };
    require_tool(tool);
    let dir = tempdir();
    let copy = dir.path().join("fs.img");
    extract(img, fs_span(img, number), &copy);
    let out = run(Command::new(tool).args(args).arg(&copy));
    assert!(
        out.status.success(),
        "{tool} {args:?} on {} partition {number:?} ({kind}) is not clean ({}):\n{}{}",
        img.display(),
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// What a path is, in a tree listing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntryKind {
    File,
    Dir,
    Symlink,
    /// Anything else, with find's `%y` letter (b, c, p, s).
    Other(char),
}

/// One path of a tree listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub kind: EntryKind,
    /// Permission bits with setuid, setgid and sticky (`& 0o7777`).
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    /// sha256 of the content, regular files only.
    pub sha256: Option<String>,
    /// Target, symlinks only.
    pub target: Option<String>,
    /// Every extended attribute (e.g. security.selinux), name to raw value.
    pub xattrs: BTreeMap<String, Vec<u8>>,
}

/// Shell that lists the current directory into $OUT/{entries,sums,xattrs}: find's fields
/// NUL-separated (paths may hold anything but NUL), `sha256sum -z` of every regular file,
/// `getfattr` hex dumps.
const WALK: &str = r#"
find . -printf '%y\0%m\0%U\0%G\0%P\0%l\0' > "$OUT/entries"
find . -type f -print0 | xargs -0 -r sha256sum -z > "$OUT/sums"
getfattr -R -h -d -m - -e hex . > "$OUT/xattrs" 2>/dev/null || true
"#;

fn walk_tools() {
    for t in ["find", "xargs", "sha256sum", "getfattr"] {
        require_tool(t);
    }
}

/// Listing of a host directory, in the same form as `tree_listing` (paths from '/').
pub fn dir_listing(dir: &Path) -> BTreeMap<String, Entry> {
    walk_tools();
    let out = tempdir();
    run_ok(
        Command::new("sh")
            .args(["-euc", WALK])
            .current_dir(dir)
            .env("OUT", out.path()),
    );
    parse_walk(out.path())
}

/// Listing of every path of the filesystem on partition `number` (None: the whole image) of a
/// raw image, keyed by path from the filesystem's root ("/", "/etc/fstab", ...).
/// xfs, btrfs and ext* are mounted read-only by the kernel (`mount -o loop,ro,offset,sizelimit`,
/// so the loop device is read-only and autoclears) inside `unshare -m --propagation private`, so
/// nothing stays mounted or attached even if a step fails; xfs with `norecovery,nouuid` (a copy
/// of the same filesystem may be mounted at the same time), ext3/4 with `noload`, btrfs with
/// `subvol=` when `subvol` is given (None: the top level, whatever the default subvolume).
/// vfat is read by mtools (`mcopy -s`), not mounted (it stores no mode or owner: those are
/// reported as 0, and it has no xattrs).
pub fn tree_listing(
    img: &Path,
    number: Option<u32>,
    kind: &str,
    subvol: Option<&str>,
) -> BTreeMap<String, Entry> {
    let (offset, size) = fs_span(img, number);
    assert!(
        subvol.is_none() || kind == "btrfs",
        "a subvolume only exists on btrfs, not {kind}"
    );
    if kind == "vfat" {
        return vfat_listing(img, offset);
    }
    let mut opts = format!("loop,ro,offset={offset},sizelimit={size}");
    match kind {
        "xfs" => opts.push_str(",norecovery,nouuid"),
        "ext3" | "ext4" => opts.push_str(",noload"),
        "ext2" => {}
        "btrfs" => {
            if let Some(s) = subvol {
                opts.push_str(&format!(",subvol={s}"));
            }
        }
        _ => panic!("tree_listing: unknown filesystem kind {kind:?}"),
    }
    for t in ["unshare", "mount", "umount", "losetup"] {
        require_tool(t);
    }
    walk_tools();
    let _btrfs = (kind == "btrfs").then(|| BTRFS_MOUNTS.lock().unwrap_or_else(|e| e.into_inner()));
    let out = tempdir();
    let mnt = out.path().join("mnt");
    std::fs::create_dir(&mnt).expect("creating the mount point");
    let script = format!(
        "mount -t \"$FST\" -o \"$OPTS\" \"$IMG\" \"$MNT\"\n\
         trap 'cd /; umount \"$MNT\"' EXIT\n\
         cd \"$MNT\"\n{WALK}"
    );
    run_ok(
        Command::new("unshare")
            .args(["-m", "--propagation", "private", "sh", "-euc", &script])
            .env("FST", kind)
            .env("OPTS", &opts)
            .env("IMG", img)
            .env("MNT", &mnt)
            .env("OUT", out.path()),
    );
    parse_walk(out.path())
}

/// Held around every kernel mount of a btrfs fixture or a copy of one made by these tests:
/// kernels before 6.7 (Debian 12 runs 6.1) refuse to mount a device whose fsid is already
/// mounted from another device (single-device clones got a temporary fsid only in 6.7), so
/// parallel tests mounting copies of `btrfs-root.raw` would fail at random without it.
pub static BTRFS_MOUNTS: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// vfat through mtools: the tree copied out to a host directory, then listed.
fn vfat_listing(img: &Path, offset: u64) -> BTreeMap<String, Entry> {
    require_tool("mcopy");
    let dir = tempdir();
    let image = format!("{}@@{offset}", img.display());
    run_ok(
        Command::new("mcopy")
            .args(["-s", "-n", "-m", "-i", &image, "::*"])
            .arg(dir.path())
            .env("MTOOLS_SKIP_CHECK", "1"),
    );
    let mut list = dir_listing(dir.path());
    for e in list.values_mut() {
        e.mode = 0;
        e.uid = 0;
        e.gid = 0;
        e.xattrs.clear();
    }
    list
}

/// Parse the files WALK wrote into `out`.
fn parse_walk(out: &Path) -> BTreeMap<String, Entry> {
    let read = |name: &str| std::fs::read(out.join(name)).expect("reading the walk output");
    // find's %P ("" for the root), sha256sum's "./x", getfattr's "." or "x".
    let guest = |rel: &str| match rel {
        "" | "." => "/".to_string(),
        r => format!("/{}", r.strip_prefix("./").unwrap_or(r)),
    };
    let entries = read("entries");
    let fields: Vec<String> = entries
        .split(|&b| b == 0)
        // Names that are not UTF-8 keep their bytes, escaped as cloudseal's GuestFs does.
        .map(|f| cloudseal::fs::name::encode(f).into_owned())
        .collect();
    // Six NUL-terminated fields per entry, so one empty string after the last.
    assert_eq!(fields.len() % 6, 1, "malformed find output");
    let mut map = BTreeMap::new();
    for f in fields.chunks_exact(6) {
        let kind = match f[0].as_str() {
            "f" => EntryKind::File,
            "d" => EntryKind::Dir,
            "l" => EntryKind::Symlink,
            y => EntryKind::Other(y.chars().next().expect("type letter")),
        };
        let entry = Entry {
            kind,
            mode: u32::from_str_radix(&f[1], 8).expect("octal mode"),
            uid: f[2].parse().expect("uid"),
            gid: f[3].parse().expect("gid"),
            sha256: None,
            target: (kind == EntryKind::Symlink).then(|| f[5].clone()),
            xattrs: BTreeMap::new(),
        };
        map.insert(guest(&f[4]), entry);
    }
    for line in read("sums").split(|&b| b == 0).filter(|l| !l.is_empty()) {
        let line = cloudseal::fs::name::encode(line).into_owned();
        let (hash, path) = line.split_once("  ").expect("sha256sum line");
        let e = map.get_mut(&guest(path)).expect("hashed path listed");
        e.sha256 = Some(hash.to_string());
    }
    let xattrs = String::from_utf8(read("xattrs")).expect("utf-8 getfattr output");
    let mut current = None;
    for line in xattrs.lines() {
        if let Some(p) = line.strip_prefix("# file: ") {
            current = Some(guest(&unescape_getfattr(p)));
        } else if let Some((name, value)) = line.split_once('=') {
            let path = current.as_ref().expect("xattr before any file");
            let hex = value.strip_prefix("0x").expect("hex xattr value");
            let bytes = (0..hex.len())
                .step_by(2)
                .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).expect("hex byte"))
                .collect();
            let e = map.get_mut(path).expect("xattr of a listed path");
            e.xattrs.insert(name.to_string(), bytes);
        }
    }
    map
}

/// getfattr writes unusual bytes of file names as `\ooo` octal escapes.
fn unescape_getfattr(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\'
            && i + 3 < b.len()
            && b[i + 1..i + 4].iter().all(|c| (b'0'..=b'7').contains(c))
        {
            let v = u32::from_str_radix(&s[i + 1..i + 4], 8).expect("octal escape");
            out.push(v as u8);
            i += 4;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    cloudseal::fs::name::encode(&out).into_owned()
}

/// (mount table of PID 1's namespace, `losetup --list --json`): take one before and one after a
/// run and compare with `new_mounts_and_loops` to show nothing was left mounted on the host or
/// attached. Tests run in parallel: filter the result by the image or directory you used.
pub fn mounts_and_loops_snapshot() -> (String, String) {
    require_tool("losetup");
    let mounts = std::fs::read_to_string("/proc/1/mountinfo").expect("reading /proc/1/mountinfo");
    let loops = run_ok(Command::new("losetup").args(["--list", "--json"]));
    (mounts, loops)
}

/// Mounts (mountinfo lines) and loop devices ("/dev/loopN BACKING-FILE") present in `after`
/// but not in `before`.
pub fn new_mounts_and_loops(before: &(String, String), after: &(String, String)) -> Vec<String> {
    let loops = |json: &str| -> BTreeSet<String> {
        if json.trim().is_empty() {
            return BTreeSet::new(); // losetup prints nothing when no device is attached
        }
        let v: serde_json::Value = serde_json::from_str(json).expect("losetup --json output");
        v["loopdevices"]
            .as_array()
            .expect("loopdevices")
            .iter()
            .map(|d| {
                format!(
                    "{} {}",
                    d["name"].as_str().unwrap_or_default(),
                    d["back-file"].as_str().unwrap_or_default()
                )
            })
            .collect()
    };
    let old: BTreeSet<&str> = before.0.lines().collect();
    let mut new: Vec<String> = after
        .0
        .lines()
        .filter(|l| !old.contains(l))
        .map(str::to_string)
        .collect();
    let old_loops = loops(&before.1);
    new.extend(
        loops(&after.1)
            .into_iter()
            .filter(|l| !old_loops.contains(l)),
    );
    new
}
