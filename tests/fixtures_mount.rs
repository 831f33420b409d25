//! The mount group's fixtures (scripts/fixtures/mount.sh) and the oracles in util.rs that the
//! mount backend's tests use on them: each oracle is shown to pass on the fresh images and to
//! fail on a damaged or different one. Needs root (loop mounts), as CI runs.

use std::collections::BTreeMap;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;
use std::process::Command;

use crate::fixtures::planted;
use crate::util::{
    Entry, EntryKind, dir_listing, fixture, fsck_partition, mounts_and_loops_snapshot,
    new_mounts_and_loops, partition_span, run_ok, tempdir, to_raw, tree_listing,
};

const MIB: u64 = 1024 * 1024;

fn require_root() {
    assert!(
        nix::unistd::Uid::effective().is_root(),
        "these tests mount loop devices: they need root (CI runs as root)"
    );
}

fn sha256_of(bytes: &[u8]) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn get<'a>(list: &'a BTreeMap<String, Entry>, path: &str) -> &'a Entry {
    list.get(path)
        .unwrap_or_else(|| panic!("{path} missing from the listing"))
}

fn symlink_target(list: &BTreeMap<String, Entry>, path: &str) -> String {
    let e = get(list, path);
    assert_eq!(e.kind, EntryKind::Symlink, "{path}");
    e.target.clone().expect("symlink target")
}

/// Whether `f` panics (its message is printed by the default hook, which is fine).
fn panics(f: impl FnOnce()) -> bool {
    catch_unwind(AssertUnwindSafe(f)).is_err()
}

/// A sparse copy of a fixture in `dir`.
fn copy_of(name: &str, dir: &Path) -> std::path::PathBuf {
    let dest = dir.join(Path::new(name).file_name().expect("file name"));
    run_ok(
        Command::new("cp")
            .arg("--sparse=always")
            .arg(fixture(name))
            .arg(&dest),
    );
    dest
}

/// Overwrite `len` bytes at `offset` of `path` with a fixed non-zero pattern.
fn damage(path: &Path, offset: u64, len: usize) {
    use std::os::unix::fs::FileExt;
    let f = std::fs::OpenOptions::new()
        .write(true)
        .open(path)
        .expect("opening the copy to damage");
    let junk: Vec<u8> = (0..len).map(|i| (i % 251) as u8 | 0x80).collect();
    f.write_all_at(&junk, offset).expect("damaging the copy");
}

#[test]
fn partition_spans_match_the_documented_layouts() {
    let xfs = fixture("mount/xfs-root.raw");
    assert_eq!(partition_span(&xfs, 1), (MIB, MIB));
    assert_eq!(partition_span(&xfs, 2), (2 * MIB, 16 * MIB));
    assert_eq!(partition_span(&xfs, 3), (18 * MIB, 320 * MIB));
    let btrfs = fixture("mount/btrfs-root.raw");
    assert_eq!(partition_span(&btrfs, 1), (MIB, 300 * MIB));
    let dir = tempdir();
    let rocky = to_raw(&fixture("mount/rocky-xfs.qcow2"), dir.path());
    assert_eq!(partition_span(&rocky, 3), (18 * MIB, 320 * MIB));
    // MBR too (disks group): partition 5 is the logical swap at sector 126976.
    let mbr = fixture("disks/mbr.raw");
    assert_eq!(partition_span(&mbr, 5), (126976 * 512, 16384 * 512));
    assert!(panics(|| {
        partition_span(&xfs, 4);
    }));
    assert!(panics(|| {
        partition_span(&fixture("mount/rocky-xfs.qcow2"), 3);
    }));
}

#[test]
fn every_fresh_mount_fixture_checks_clean() {
    let dir = tempdir();
    let rocky = to_raw(&fixture("mount/rocky-xfs.qcow2"), dir.path());
    let xfs = fixture("mount/xfs-root.raw");
    fsck_partition(&xfs, Some(2), "vfat");
    fsck_partition(&xfs, Some(3), "xfs");
    fsck_partition(&fixture("mount/btrfs-root.raw"), Some(1), "btrfs");
    fsck_partition(&fixture("mount/escape-xfs.raw"), None, "xfs");
    fsck_partition(&rocky, Some(2), "vfat");
    fsck_partition(&rocky, Some(3), "xfs");
    fsck_partition(&fixture("disks/gpt.raw"), Some(3), "ext4");
}

#[test]
fn fsck_partition_panics_on_damaged_filesystems() {
    let dir = tempdir();
    let xfs = copy_of("mount/xfs-root.raw", dir.path());
    let (root, _) = partition_span(&xfs, 3);
    // xfs: the first AG's free-space and inode headers (sectors 1 and 2).
    damage(&xfs, root + 512, 1024);
    assert!(panics(|| fsck_partition(&xfs, Some(3), "xfs")));
    // vfat: the second FAT no longer matches the first.
    let (esp, _) = partition_span(&xfs, 2);
    let mut b = [0u8; 512];
    std::os::unix::fs::FileExt::read_exact_at(
        &std::fs::File::open(&xfs).expect("opening the copy"),
        &mut b,
        esp,
    )
    .expect("reading the ESP boot sector");
    let reserved = u16::from_le_bytes([b[14], b[15]]) as u64;
    let fat_sectors = u16::from_le_bytes([b[22], b[23]]) as u64;
    damage(&xfs, esp + (reserved + fat_sectors) * 512 + 8, 16);
    assert!(panics(|| fsck_partition(&xfs, Some(2), "vfat")));
    // btrfs: the primary superblock (64 KiB in) fails its checksum.
    let btrfs = copy_of("mount/btrfs-root.raw", dir.path());
    let (p1, _) = partition_span(&btrfs, 1);
    damage(&btrfs, p1 + 65536 + 0x100, 64);
    assert!(panics(|| fsck_partition(&btrfs, Some(1), "btrfs")));
    // ext4: the disks group's image with overwritten group descriptors.
    let ext = fixture("disks/broken/gpt-corrupt-ext4.raw");
    assert!(panics(|| fsck_partition(&ext, Some(3), "ext4")));
    assert!(panics(|| fsck_partition(
        &fixture("mount/escape-xfs.raw"),
        None,
        "zfs"
    )));
}

#[test]
fn xfs_root_holds_the_guest_tree_as_copied() {
    require_root();
    let img = fixture("mount/xfs-root.raw");
    let list = tree_listing(&img, Some(3), "xfs", None);
    let tree = dir_listing(&fixture("guest-tree"));
    // Same paths, kinds and modes as a fresh guest tree.
    let extra: Vec<&String> = list.keys().filter(|p| !tree.contains_key(*p)).collect();
    assert!(extra.is_empty(), "extra: {extra:?}");
    let missing: Vec<&String> = tree.keys().filter(|p| !list.contains_key(*p)).collect();
    assert!(missing.is_empty(), "missing: {missing:?}");
    for (path, t) in &tree {
        let e = &list[path];
        assert_eq!(
            (e.kind, e.mode, &e.target),
            (t.kind, t.mode, &t.target),
            "{path}"
        );
        if path.starts_with("/home/debian") {
            assert_eq!((e.uid, e.gid), (1000, 1000), "{path}");
        } else {
            assert_eq!((e.uid, e.gid), (t.uid, t.gid), "{path}");
        }
    }
    // Content: fixed files agree, the random ones (keys, seeds) differ.
    assert_eq!(
        get(&list, "/etc/passwd").sha256,
        get(&tree, "/etc/passwd").sha256
    );
    assert_ne!(
        get(&list, "/etc/ssh/ssh_host_ed25519_key").sha256,
        get(&tree, "/etc/ssh/ssh_host_ed25519_key").sha256
    );
    let fstab = "UUID=0c5e0000-0000-4000-8000-00000000f501 / xfs defaults 0 0\n\
                 UUID=0C5E-EF51 /boot/efi vfat umask=0077 0 2\n";
    assert_eq!(
        get(&list, "/etc/fstab").sha256.as_deref(),
        Some(sha256_of(fstab.as_bytes()).as_str())
    );
    assert_eq!(symlink_target(&list, "/lib"), "usr/lib");
    for (op, path, _) in planted() {
        assert_eq!(get(&list, &path).kind, EntryKind::File, "{op} {path}");
    }
    assert_eq!(get(&list, "/tmp").mode, 0o1777);
    assert_eq!(get(&list, "/root").mode, 0o700);
}

#[test]
fn the_esps_hold_a_boot_loader_and_a_random_seed() {
    let dir = tempdir();
    let rocky = to_raw(&fixture("mount/rocky-xfs.qcow2"), dir.path());
    for img in [fixture("mount/xfs-root.raw"), rocky] {
        let list = tree_listing(&img, Some(2), "vfat", None);
        let keys: Vec<&str> = list.keys().map(String::as_str).collect();
        assert_eq!(
            keys,
            [
                "/",
                "/EFI",
                "/EFI/BOOT",
                "/EFI/BOOT/BOOTX64.EFI",
                "/loader",
                "/loader/random-seed"
            ]
        );
        assert_eq!(
            get(&list, "/EFI/BOOT/BOOTX64.EFI").sha256.as_deref(),
            Some(sha256_of(b"cloudseal fixture: stands in for a UEFI boot loader\n").as_str())
        );
        assert_ne!(
            get(&list, "/loader/random-seed").sha256.as_deref(),
            Some(sha256_of(&[0; 32]).as_str())
        );
    }
}

#[test]
fn btrfs_root_has_the_fedora_subvolume_layout() {
    require_root();
    let img = fixture("mount/btrfs-root.raw");
    let top = tree_listing(&img, Some(1), "btrfs", None);
    // The walk descends into subvolumes; the top level itself holds only the two of them.
    let children: Vec<&str> = top
        .keys()
        .filter(|p| p.len() > 1 && !p[1..].contains('/'))
        .map(String::as_str)
        .collect();
    assert_eq!(
        children,
        ["/home", "/root"],
        "top level holds only the subvolumes"
    );
    assert!(top.contains_key("/home/debian/notes.txt"));
    assert!(top.contains_key("/root/etc/fstab"));
    assert!(!top.keys().any(|p| p.starts_with("/root/home/")));
    let root = tree_listing(&img, Some(1), "btrfs", Some("root"));
    assert_eq!(get(&root, "/home").kind, EntryKind::Dir);
    let under_home: Vec<&String> = root.keys().filter(|p| p.starts_with("/home/")).collect();
    assert!(under_home.is_empty(), "{under_home:?}");
    assert!(root.contains_key("/etc/ssh/ssh_host_rsa_key"));
    let fstab = get(&root, "/etc/fstab").sha256.clone();
    let expected = "UUID=0c5e0000-0000-4000-8000-00000000b701 / btrfs subvol=root,compress=zstd:1 0 0\n\
                    UUID=0c5e0000-0000-4000-8000-00000000b701 /home btrfs subvol=home,compress=zstd:1 0 0\n";
    assert_eq!(
        fstab.as_deref(),
        Some(sha256_of(expected.as_bytes()).as_str())
    );
    let home = tree_listing(&img, Some(1), "btrfs", Some("home"));
    let notes = get(&home, "/debian/notes.txt");
    assert_eq!((notes.uid, notes.gid), (1000, 1000));
    assert_eq!(
        notes.sha256.as_deref(),
        Some(sha256_of(b"my own notes, keep me\n").as_str())
    );
    assert!(home.contains_key("/debian/.ssh/authorized_keys"));
    // A subvolume that does not exist fails the mount, loudly.
    assert!(panics(|| {
        tree_listing(&img, Some(1), "btrfs", Some("var"));
    }));
}

#[test]
fn escape_xfs_points_host_state_out_of_the_guest() {
    require_root();
    let list = tree_listing(&fixture("mount/escape-xfs.raw"), None, "xfs", None);
    let c = "/var/tmp/cloudseal-canary";
    for (path, target) in [
        ("/etc/ssh", format!("{c}/ssh")),
        ("/var/log", format!("{c}/log")),
        ("/tmp", format!("{c}/tmp")),
        ("/root/.bash_history", format!("{c}/history")),
        ("/etc/machine-id", format!("{c}/machine-id")),
        ("/var/lib/dhcp", format!("../../../../../..{c}/dhcp")),
    ] {
        assert_eq!(symlink_target(&list, path), target);
    }
    assert!(!list.keys().any(|p| p.starts_with("/etc/ssh/")));
    assert!(list.contains_key("/var/lib/dbus/machine-id"));
}

#[test]
fn rocky_is_rhel_like_and_selinux_labelled() {
    require_root();
    let dir = tempdir();
    let img = to_raw(&fixture("mount/rocky-xfs.qcow2"), dir.path());
    let list = tree_listing(&img, Some(3), "xfs", None);
    assert!(!list.contains_key("/etc/debian_version"));
    for p in [
        "/etc/redhat-release",
        "/etc/selinux/config",
        "/etc/NetworkManager/system-connections/eth0.nmconnection",
        "/var/lib/NetworkManager/internal-5fb06bd0-0bb0-7ffb-45f1-d6edd65f3e03-eth0.lease",
        "/var/lib/NetworkManager/NetworkManager-intern.conf",
    ] {
        assert_eq!(get(&list, p).kind, EntryKind::File, "{p}");
    }
    assert_eq!(
        get(&list, "/etc/hostname").sha256.as_deref(),
        Some(sha256_of(b"rocky-build-vm\n").as_str())
    );
    let label = |p: &str| {
        let v = get(&list, p).xattrs.get("security.selinux").cloned();
        String::from_utf8(v.unwrap_or_else(|| panic!("{p} has no SELinux label")))
            .expect("utf-8 label")
    };
    assert_eq!(
        label("/etc/sysconfig/network-scripts/ifcfg-eth0"),
        "system_u:object_r:net_conf_t:s0"
    );
    assert_eq!(
        label("/etc/ssh/ssh_host_rsa_key"),
        "system_u:object_r:sshd_key_t:s0"
    );
    assert_eq!(label("/"), "system_u:object_r:root_t:s0");
    assert_eq!(label("/lib"), "system_u:object_r:usr_t:s0");
    assert!(
        list.values()
            .all(|e| e.xattrs.contains_key("security.selinux"))
    );
}

#[test]
fn listings_see_differences_and_leave_nothing_behind() {
    require_root();
    let dir = tempdir();
    let img = copy_of("mount/escape-xfs.raw", dir.path());
    let before = mounts_and_loops_snapshot();
    let list = tree_listing(&img, None, "xfs", None);
    // A failing mount (the wrong kind) panics, and also leaves nothing.
    assert!(panics(|| {
        tree_listing(&img, None, "btrfs", None);
    }));
    let after = mounts_and_loops_snapshot();
    let name = img.to_string_lossy();
    let left: Vec<String> = new_mounts_and_loops(&before, &after)
        .into_iter()
        .filter(|l| l.contains(name.as_ref()))
        .collect();
    assert!(left.is_empty(), "left mounted or attached: {left:?}");
    // The snapshot does see an attached loop device.
    let dev = run_ok(
        Command::new("losetup")
            .args(["-r", "--show", "-f"])
            .arg(&img),
    );
    let attached = mounts_and_loops_snapshot();
    run_ok(Command::new("losetup").args(["-d", dev.trim()]));
    let seen = new_mounts_and_loops(&after, &attached);
    assert!(seen.iter().any(|l| l.contains(name.as_ref())), "{seen:?}");
    // And a listing sees a changed file: the same filesystem with /etc/hostname rewritten.
    let script = "mount -o loop,nouuid \"$IMG\" \"$MNT\"; echo changed > \"$MNT/etc/hostname\"; \
                  umount \"$MNT\"";
    let mnt = dir.path().join("mnt");
    std::fs::create_dir(&mnt).expect("mount point");
    run_ok(
        Command::new("unshare")
            .args(["-m", "--propagation", "private", "sh", "-euc", script])
            .env("IMG", &img)
            .env("MNT", &mnt),
    );
    let changed = tree_listing(&img, None, "xfs", None);
    let differ: Vec<&String> = list.keys().filter(|p| list[*p] != changed[*p]).collect();
    assert_eq!(differ, ["/etc/hostname"]);
}
