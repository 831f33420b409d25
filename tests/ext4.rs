//! Ext4Fs (libext2fs) reads and edits, on filesystems made by mkfs from a small tree, checked
//! with e2fsck -fn after every edit session and against debugfs's own view of the result.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use cloudseal::fs::ext4::{BlockIo, Ext4Error, Ext4Fs};
use cloudseal::fs::{FileKind, GuestFs, GuestFsMut};

use crate::util::{require_tool, run, run_ok, tempdir};

/// Offset used when a test puts the filesystem behind a (pretend) partition table.
const PART_OFFSET: u64 = 1 << 20;

/// A source tree with every kind of inode the edits meet: small and multi-block files, fast and
/// slow symlinks, hard links, a deep directory and one with thousands of entries (htree).
fn make_tree(root: &Path) {
    let w = |p: &str, data: &[u8]| {
        let path = root.join(p);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, data).unwrap();
    };
    w("etc/hostname", b"old-host\n");
    w("etc/ssh/ssh_host_ed25519_key", &pattern(3000, 7));
    w("big.bin", &pattern(300_000, 11));
    w("hard1", b"shared by two names\n");
    // All zeros: mke2fs -d stores it sparse, inline longer than its inline data.
    w("run/utmp", &[0u8; 384]);
    std::fs::hard_link(root.join("hard1"), root.join("hard2")).unwrap();
    std::os::unix::fs::symlink("etc/hostname", root.join("link-fast")).unwrap();
    std::os::unix::fs::symlink("x".repeat(100), root.join("link-slow")).unwrap();
    std::fs::create_dir_all(root.join("empty")).unwrap();
    w("sub/a/b/c.txt", b"deep\n");
    w("sub/keep.txt", b"keep\n");
    for i in 0..3000 {
        w(&format!("many/f{i:04}"), format!("entry {i}\n").as_bytes());
    }
}

/// Deterministic non-repeating bytes (so a leftover would be recognisable).
fn pattern(len: usize, seed: u32) -> Vec<u8> {
    let mut x = seed.wrapping_mul(2_654_435_761).wrapping_add(1);
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            (x >> 24) as u8
        })
        .collect()
}

/// mkfs a filesystem image from `tree`; when `offset` is set, place it that far into a larger
/// raw file (as a partition would be).
fn mkfs(dir: &Path, tree: &Path, fstype: &str, opts: &[&str], offset: u64) -> PathBuf {
    require_tool("mkfs.ext4");
    let fs = dir.join(format!("{fstype}.fs"));
    run_ok(
        Command::new("mke2fs")
            .args(["-q", "-F", "-t", fstype])
            .args(opts)
            .arg("-d")
            .arg(tree)
            .arg(&fs)
            .arg("16M")
            .env("E2FSPROGS_FAKE_TIME", "1700000000"),
    );
    // mke2fs -d writes linear directories: let e2fsck -D index the big one (htree).
    let st = run(Command::new("e2fsck").arg("-fyD").arg(&fs)).status;
    assert!(
        matches!(st.code(), Some(0 | 1)),
        "e2fsck -fyD {}: {st}",
        fs.display()
    );
    let htree = run_ok(Command::new("debugfs").args(["-R", "htree /many"]).arg(&fs));
    assert!(
        htree.contains("Root node dump"),
        "/many is not an htree directory"
    );
    if offset == 0 {
        return fs;
    }
    let disk = dir.join(format!("{fstype}.disk"));
    let data = std::fs::read(&fs).unwrap();
    let f = std::fs::File::create(&disk).unwrap();
    f.set_len(offset + data.len() as u64 + PART_OFFSET).unwrap();
    std::os::unix::fs::FileExt::write_all_at(&f, &data, offset).unwrap();
    disk
}

/// "path?offset=N": how e2fsprogs tools address a filesystem inside a bigger file.
pub fn spec(img: &Path, offset: u64) -> String {
    format!("{}?offset={offset}", img.display())
}

/// e2fsck -fn must report nothing wrong.
pub fn e2fsck_clean(img: &Path, offset: u64) {
    require_tool("e2fsck");
    let out = run(Command::new("e2fsck").arg("-fn").arg(spec(img, offset)));
    assert!(
        out.status.success(),
        "e2fsck -fn {} is not clean:\n{}{}",
        spec(img, offset),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Node {
    File(Vec<u8>),
    Dir,
    Link(String),
}

/// Every path below `root` (relative) with its content.
pub fn snapshot(root: &Path) -> BTreeMap<String, Node> {
    let mut out = BTreeMap::new();
    for e in walkdir::WalkDir::new(root).min_depth(1) {
        let e = e.unwrap();
        let rel = e
            .path()
            .strip_prefix(root)
            .unwrap()
            .to_string_lossy()
            .into_owned();
        let ft = e.file_type();
        let node = if ft.is_symlink() {
            Node::Link(
                std::fs::read_link(e.path())
                    .unwrap()
                    .to_string_lossy()
                    .into_owned(),
            )
        } else if ft.is_dir() {
            Node::Dir
        } else {
            Node::File(std::fs::read(e.path()).unwrap())
        };
        out.insert(rel, node);
    }
    out
}

/// What the filesystem holds, read by debugfs (an independent reader).
pub fn dump(img: &Path, offset: u64, dir: &Path) -> BTreeMap<String, Node> {
    require_tool("debugfs");
    let out = dir.join("dump");
    let _ = std::fs::remove_dir_all(&out);
    std::fs::create_dir_all(&out).unwrap();
    // debugfs exits 0 even on errors: the snapshot comparison is the check.
    run_ok(
        Command::new("debugfs")
            .arg("-R")
            .arg(format!("rdump / {}", out.display()))
            .arg(spec(img, offset)),
    );
    let mut snap = snapshot(&out);
    snap.retain(|k, _| !k.starts_with("lost+found"));
    trim_to_inode_sizes(img, offset, dir, &mut snap);
    snap
}

/// debugfs 1.47.0 dumps an inline-data file as its whole inline area whatever its size, and
/// stops at the end of the inline area when the file is longer (the rest reads as zeros; both
/// fixed in 1.47.4): fit dumped files to the inode size that `ls -p` reports.
fn trim_to_inode_sizes(img: &Path, offset: u64, dir: &Path, snap: &mut BTreeMap<String, Node>) {
    let mut dirs = vec![String::new()];
    dirs.extend(
        snap.iter()
            .filter(|(_, n)| **n == Node::Dir)
            .map(|(k, _)| k.clone()),
    );
    let cmds = dir.join("ls-cmds");
    let text: String = dirs.iter().map(|d| format!("ls -p /{d}\n")).collect();
    std::fs::write(&cmds, text).unwrap();
    let out = run_ok(
        Command::new("debugfs")
            .arg("-f")
            .arg(&cmds)
            .arg(spec(img, offset)),
    );
    let mut cur = String::new();
    for line in out.lines() {
        if let Some(d) = line.strip_prefix("debugfs: ls -p /") {
            cur = d.to_string();
            continue;
        }
        // /ino/mode/uid/gid/name/size/
        let f: Vec<&str> = line.split('/').collect();
        if f.len() != 8 || !f[2].starts_with("100") {
            continue;
        }
        let size: usize = f[6].parse().unwrap();
        let rel = if cur.is_empty() {
            f[5].to_string()
        } else {
            format!("{cur}/{}", f[5])
        };
        if let Some(Node::File(data)) = snap.get_mut(&rel) {
            data.resize(size, 0);
        }
    }
}

/// Compare snapshots, naming the first few differing paths (not dumping megabytes).
fn same(got: &BTreeMap<String, Node>, want: &BTreeMap<String, Node>) {
    let mut diffs = Vec::new();
    for k in got.keys().chain(want.keys()) {
        let (g, w) = (got.get(k), want.get(k));
        if g != w {
            let show = |n: Option<&Node>| match n {
                None => "absent".to_string(),
                Some(Node::File(d)) => format!("file of {} bytes", d.len()),
                Some(other) => format!("{other:?}"),
            };
            diffs.push(format!("{k}: got {}, want {}", show(g), show(w)));
        }
    }
    diffs.dedup();
    assert!(
        diffs.is_empty(),
        "{} differences:\n{}",
        diffs.len(),
        diffs[..diffs.len().min(20)].join("\n")
    );
}

/// The edits every variant gets, applied both to the filesystem and to the expected snapshot.
fn edit(fs: &mut Ext4Fs, want: &mut BTreeMap<String, Node>) {
    let mut rm = |fs: &mut Ext4Fs, p: &str| {
        fs.remove_file(p)
            .unwrap_or_else(|e| panic!("removing {p}: {e}"));
        assert!(want.remove(p.trim_start_matches('/')).is_some(), "{p}");
    };
    rm(fs, "/etc/ssh/ssh_host_ed25519_key");
    rm(fs, "/hard1");
    rm(fs, "/link-fast");
    rm(fs, "/link-slow");
    rm(fs, "/sub/a/b/c.txt");
    for i in 0..1500 {
        rm(fs, &format!("/many/f{i:04}"));
    }
    fs.remove_dir("/sub/a/b").unwrap();
    fs.remove_dir("/empty").unwrap();
    want.remove("sub/a/b");
    want.remove("empty");

    fs.truncate("/etc/hostname").unwrap();
    want.insert("etc/hostname".into(), Node::File(Vec::new()));

    let grown = pattern(5000, 3);
    fs.write_file("/hard2", &grown, 0o644).unwrap();
    want.insert("hard2".into(), Node::File(grown));

    fs.write_file("/etc/machine-id", b"uninitialized\n", 0o444)
        .unwrap();
    want.insert(
        "etc/machine-id".into(),
        Node::File(b"uninitialized\n".to_vec()),
    );
    fs.write_file("/many/zz-new", b"new in htree\n", 0o600)
        .unwrap();
    want.insert("many/zz-new".into(), Node::File(b"new in htree\n".to_vec()));
}

fn check_reads(fs: &Ext4Fs, tree: &Path) {
    let host = snapshot(tree);
    for (rel, node) in &host {
        let p = format!("/{rel}");
        let meta = fs
            .metadata(&p)
            .unwrap()
            .unwrap_or_else(|| panic!("{p} missing"));
        match node {
            Node::File(data) => {
                assert_eq!(meta.kind, FileKind::File, "{p}");
                assert_eq!(meta.size, data.len() as u64, "{p}");
                assert_eq!(&fs.read_file(&p, 1 << 20).unwrap(), data, "{p}");
            }
            Node::Dir => {
                assert_eq!(meta.kind, FileKind::Dir, "{p}");
                let names: Vec<String> = fs
                    .read_dir(&p)
                    .unwrap()
                    .into_iter()
                    .map(|e| e.name)
                    .collect();
                let mut want: Vec<String> = std::fs::read_dir(tree.join(rel))
                    .unwrap()
                    .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                    .collect();
                want.sort();
                assert_eq!(names, want, "{p}");
            }
            Node::Link(t) => {
                assert_eq!(meta.kind, FileKind::Symlink, "{p}");
                assert_eq!(&fs.read_link(&p).unwrap(), t, "{p}");
            }
        }
    }
    assert_eq!(fs.metadata("/nope").unwrap(), None);
    assert_eq!(fs.metadata("/etc/hostname/below-a-file").unwrap(), None);
    assert_eq!(fs.metadata("/nope/deeper").unwrap(), None);
    // Symlinks are followed for reading the file, never for metadata.
    assert_eq!(fs.read_file("/link-fast", 100).unwrap(), b"old-host\n");
    assert!(fs.read_file("/big.bin", 10).is_err(), "limit not enforced");
}

fn free_bytes(fs: &Ext4Fs) -> u64 {
    fs.free_ranges().unwrap().iter().map(|r| r.len).sum()
}

/// Read, edit, close; then e2fsck and debugfs must agree with what we expect.
fn roundtrip(fstype: &str, opts: &[&str], offset: u64) {
    roundtrip_via(fstype, opts, offset, false)
}

/// A filesystem inside a file, reached through the callback I/O manager.
struct FileIo {
    file: std::fs::File,
    offset: u64,
}

impl BlockIo for FileIo {
    fn read_at(&self, off: u64, buf: &mut [u8]) -> Result<(), i32> {
        std::os::unix::fs::FileExt::read_exact_at(&self.file, buf, self.offset + off)
            .map_err(|e| e.raw_os_error().unwrap_or(libc::EIO))
    }
    fn write_at(&self, off: u64, data: &[u8]) -> Result<(), i32> {
        std::os::unix::fs::FileExt::write_all_at(&self.file, data, self.offset + off)
            .map_err(|e| e.raw_os_error().unwrap_or(libc::EIO))
    }
}

fn open(img: &Path, offset: u64, writable: bool, name: &str, callbacks: bool) -> Ext4Fs {
    if !callbacks {
        return Ext4Fs::open(img, offset, writable, name).unwrap();
    }
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(writable)
        .open(img)
        .unwrap();
    Ext4Fs::open_io(Box::new(FileIo { file, offset }), writable, name).unwrap()
}

fn roundtrip_via(fstype: &str, opts: &[&str], offset: u64, callbacks: bool) {
    let dir = tempdir();
    let tree = dir.path().join("tree");
    make_tree(&tree);
    let img = mkfs(dir.path(), &tree, fstype, opts, offset);
    e2fsck_clean(&img, offset);
    let mut want = snapshot(&tree);

    let mut fs = open(&img, offset, true, fstype, callbacks);
    check_reads(&fs, &tree);
    let s = fs.super_info();
    let bs = u64::from(s.block_size);
    assert_eq!(
        free_bytes(&fs),
        s.free_blocks * bs,
        "bitmap and superblock disagree"
    );
    let before = free_bytes(&fs);
    fs.remove_file("/big.bin").unwrap();
    want.remove("big.bin");
    let freed = free_bytes(&fs) - before;
    assert!(
        freed >= 300_000,
        "removing big.bin freed only {freed} bytes"
    );
    edit(&mut fs, &mut want);
    let after = free_bytes(&fs);
    assert_eq!(after, fs.super_info().free_blocks * bs);
    fs.close().unwrap();

    e2fsck_clean(&img, offset);
    same(&dump(&img, offset, dir.path()), &want);

    // Reopen: the edits are there, the free space is what we saw before closing.
    let fs = open(&img, offset, false, fstype, callbacks);
    assert_eq!(free_bytes(&fs), after);
    let meta = fs.metadata("/etc/machine-id").unwrap().unwrap();
    assert_eq!((meta.mode, meta.uid, meta.gid), (0o100444, 0, 0));
    assert_eq!(fs.read_dir("/many").unwrap().len(), 1501);
}

#[test]
fn ext4_default_features_with_orphan_file() {
    roundtrip("ext4", &["-O", "orphan_file,metadata_csum_seed"], 0);
}

#[test]
fn ext4_inside_a_partition_offset() {
    roundtrip("ext4", &[], PART_OFFSET);
}

#[test]
fn ext4_1k_blocks() {
    roundtrip("ext4", &["-b", "1024"], 0);
}

#[test]
fn ext4_inline_data() {
    roundtrip("ext4", &["-O", "inline_data"], PART_OFFSET);
}

#[test]
fn ext4_inline_data_1k_through_callbacks() {
    roundtrip_via(
        "ext4",
        &["-O", "inline_data", "-b", "1024"],
        PART_OFFSET,
        true,
    );
}

#[test]
fn ext3() {
    roundtrip("ext3", &[], 0);
}

#[test]
fn ext2() {
    roundtrip("ext2", &[], PART_OFFSET);
}

#[test]
fn errors_name_the_path() {
    let dir = tempdir();
    let tree = dir.path().join("tree");
    make_tree(&tree);
    let img = mkfs(dir.path(), &tree, "ext4", &[], 0);
    let mut fs = Ext4Fs::open(&img, 0, true, "root fs").unwrap();
    let e = fs.remove_dir("/sub").unwrap_err().to_string();
    assert!(e.contains("/sub") && e.contains("not empty"), "{e}");
    let e = fs.remove_file("/sub").unwrap_err().to_string();
    assert!(e.contains("/sub"), "{e}");
    let e = fs.remove_file("/absent").unwrap_err().to_string();
    assert!(e.contains("/absent"), "{e}");
    let e = fs
        .write_file("/absent-dir/x", b"", 0o644)
        .unwrap_err()
        .to_string();
    assert!(e.contains("/absent-dir/x"), "{e}");
    assert!(
        fs.truncate("/link-fast").is_err(),
        "truncate followed a symlink"
    );
    fs.close().unwrap();
    e2fsck_clean(&img, 0);

    let mut ro = Ext4Fs::open(&img, 0, false, "root fs").unwrap();
    assert!(ro.remove_file("/hard1").is_err());
    drop(ro);

    let e = Ext4Fs::open(&dir.path().join("tree/hard1"), 0, false, "not an fs")
        .err()
        .expect("opened a text file as ext4")
        .to_string();
    assert!(e.starts_with("not an fs: opening:"), "{e}");
}

#[test]
fn dirty_journal_is_refused() {
    require_tool("debugfs");
    let dir = tempdir();
    let tree = dir.path().join("tree");
    make_tree(&tree);
    let img = mkfs(dir.path(), &tree, "ext4", &[], PART_OFFSET);
    // A real transaction left in the journal: debugfs's journal writer (e2fsprogs >= 1.44).
    let blk = dir.path().join("blk");
    std::fs::write(&blk, pattern(4096, 5)).unwrap();
    let cmds = dir.path().join("cmds");
    std::fs::write(&cmds, format!("jo\njw -b 333 {}\njc\n", blk.display())).unwrap();
    run_ok(
        Command::new("debugfs")
            .arg("-w")
            .arg("-f")
            .arg(&cmds)
            .arg(spec(&img, PART_OFFSET)),
    );
    let features = run_ok(
        Command::new("dumpe2fs")
            .arg("-h")
            .arg(spec(&img, PART_OFFSET)),
    );
    assert!(
        features.contains("needs_recovery"),
        "no dirty journal made:\n{features}"
    );
    let before = crate::util::sha256sum(&img);
    match Ext4Fs::open(&img, PART_OFFSET, true, "partition 1") {
        Err(e @ Ext4Error::NeedsRecovery { .. }) => {
            let msg = e.to_string();
            assert!(
                msg.starts_with("partition 1: the journal needs recovery"),
                "{msg}"
            );
            assert!(msg.contains("e2fsck"), "{msg}");
        }
        Err(e) => panic!("wrong error: {e}"),
        Ok(_) => panic!("a filesystem with a dirty journal was opened for editing"),
    }
    assert_eq!(crate::util::sha256sum(&img), before);
}
