//! `DirFs`: a guest root that is a directory of the host (a mounted filesystem or a test tree).
//!
//! Every guest path is resolved by the kernel with `openat2(RESOLVE_IN_ROOT |
//! RESOLVE_NO_MAGICLINKS)` from a descriptor of the root, so a symlink in the guest
//! (`/etc/ssh -> /home/admin/.ssh`) is resolved inside the guest and can never reach the
//! host. The last component is never followed by anything that changes the filesystem:
//! removals use `unlinkat` on the parent, truncation and writes open with `O_NOFOLLOW`.

use std::io::{Read, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use nix::dir::{Dir, Type};
use nix::errno::Errno;
use nix::fcntl::{AtFlags, OFlag, OpenHow, ResolveFlag, openat, openat2, readlinkat};
use nix::sys::stat::{
    FchmodatFlags, FileStat, Mode, SFlag, UtimensatFlags, fchmod, fchmodat, fstat, fstatat,
    futimens, mkdirat, utimensat,
};
use nix::sys::time::TimeSpec;
use nix::unistd::{Gid, Uid, UnlinkatFlags, fchownat, ftruncate, symlinkat, syncfs, unlinkat};

use super::{DirEntry, FileKind, FileMeta, FsError, GuestFs, GuestFsMut, name};

/// A guest filesystem rooted at a host directory.
#[derive(Debug)]
pub struct DirFs {
    root: OwnedFd,
    root_path: PathBuf,
    /// The pinned time (`pin_time`): what an edit changes and its directory get it as atime
    /// and mtime, in place of the clock the kernel stamps.
    time: Option<i64>,
}

impl DirFs {
    /// Open `root` (a host directory) as the guest's `/`.
    pub fn open(root: &Path) -> Result<DirFs, FsError> {
        let fd = nix::fcntl::open(
            root,
            OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
            Mode::empty(),
        )
        .map_err(|e| io_err(format!("opening guest root {}", root.display()), e))?;
        Ok(DirFs {
            root: fd,
            root_path: root.to_path_buf(),
            time: None,
        })
    }

    /// A guest rooted at an already open directory (`shown` names it in errors).
    pub fn from_fd(root: OwnedFd, shown: PathBuf) -> DirFs {
        DirFs {
            root,
            root_path: shown,
            time: None,
        }
    }

    /// Open a guest directory without following any symlink on the way (`O_PATH`): where a
    /// btrfs subvolume or a bind mount may be attached, a symlink is refused, not resolved.
    pub fn open_dir_nofollow(&self, path: &str) -> Result<OwnedFd, FsError> {
        let how = OpenHow::new()
            .flags(OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC)
            .resolve(ResolveFlag::RESOLVE_IN_ROOT | ResolveFlag::RESOLVE_NO_SYMLINKS);
        openat2(self.root.as_fd(), &*name::decode(&relative(path)?), how)
            .map_err(|e| io_err(format!("opening guest directory {path}"), e))
    }

    /// A guest directory as a guest of its own (the btrfs subvolume holding the root).
    pub fn subdir(&self, path: &str) -> Result<DirFs, FsError> {
        let fd = self.open_dir_nofollow(path)?;
        Ok(DirFs {
            root: fd,
            root_path: self.root_path.join(relative(path)?),
            time: self.time,
        })
    }

    /// The host directory this guest is rooted at.
    pub fn root_path(&self) -> &Path {
        &self.root_path
    }

    /// Open a guest path, resolving every symlink inside the guest root.
    fn open_in_root(&self, rel: &str, flags: OFlag) -> Result<OwnedFd, Errno> {
        let how = OpenHow::new()
            .flags(flags | OFlag::O_CLOEXEC)
            .resolve(ResolveFlag::RESOLVE_IN_ROOT | ResolveFlag::RESOLVE_NO_MAGICLINKS);
        openat2(self.root.as_fd(), &*name::decode(rel), how)
    }

    /// The parent directory of `path` (opened O_PATH) and the last component as the bytes
    /// the filesystem knows it by.
    fn parent(&self, path: &str) -> Result<(Result<OwnedFd, Errno>, Vec<u8>), FsError> {
        let comps = components(path)?;
        let Some((name, dirs)) = comps.split_last() else {
            return Err(FsError::path(path, "the guest root has no parent"));
        };
        let rel = if dirs.is_empty() {
            ".".to_string()
        } else {
            dirs.join("/")
        };
        let fd = self.open_in_root(&rel, OFlag::O_PATH | OFlag::O_DIRECTORY);
        Ok((fd, name::decode(name).into_owned()))
    }
}

impl DirFs {
    /// After an edit of `path`: it (unless removed) and its directory get the pinned time as
    /// atime and mtime. The ctime stays the kernel's clock: nothing can set it.
    fn stamp(&self, path: &str) -> Result<(), FsError> {
        let Some(t) = self.time else {
            return Ok(());
        };
        let ts = TimeSpec::new(t, 0);
        let ctx = || format!("setting the times of {path}");
        let (parent, name) = self.parent(path)?;
        let parent = parent.map_err(|e| io_err(ctx(), e))?;
        let flag = UtimensatFlags::NoFollowSymlink;
        match utimensat(parent.as_fd(), name.as_slice(), &ts, &ts, flag) {
            Ok(()) | Err(Errno::ENOENT) => {}
            Err(e) => return Err(io_err(ctx(), e)),
        }
        // futimens needs a descriptor that is not O_PATH.
        let flags = OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC;
        let dir =
            openat(parent.as_fd(), ".", flags, Mode::empty()).map_err(|e| io_err(ctx(), e))?;
        futimens(dir.as_fd(), &ts, &ts).map_err(|e| io_err(ctx(), e))
    }
}

/// Split a guest path into its components; refuses relative paths and `..`.
fn components(path: &str) -> Result<Vec<&str>, FsError> {
    if !path.starts_with('/') {
        return Err(FsError::path(path, "guest path is not absolute"));
    }
    let mut out = Vec::new();
    for c in path.split('/') {
        match c {
            "" | "." => {}
            ".." => return Err(FsError::path(path, "'..' in a guest path")),
            c if c.contains('\0') => return Err(FsError::path(path, "NUL in a guest path")),
            c => out.push(c),
        }
    }
    Ok(out)
}

/// The path relative to the root, "." for the root itself.
fn relative(path: &str) -> Result<String, FsError> {
    let comps = components(path)?;
    Ok(if comps.is_empty() {
        ".".to_string()
    } else {
        comps.join("/")
    })
}

fn io_err(context: String, e: Errno) -> FsError {
    FsError::Io {
        context,
        source: std::io::Error::from(e),
    }
}

fn kind_of(st: &FileStat) -> FileKind {
    match SFlag::from_bits_truncate(st.st_mode) & SFlag::S_IFMT {
        SFlag::S_IFREG => FileKind::File,
        SFlag::S_IFDIR => FileKind::Dir,
        SFlag::S_IFLNK => FileKind::Symlink,
        _ => FileKind::Other,
    }
}

fn meta_of(st: &FileStat) -> FileMeta {
    FileMeta {
        kind: kind_of(st),
        size: u64::try_from(st.st_size).unwrap_or(0),
        mode: st.st_mode,
        uid: st.st_uid,
        gid: st.st_gid,
    }
}

/// A missing path or a parent that is not a directory both mean "does not exist".
fn is_absent(e: Errno) -> bool {
    matches!(e, Errno::ENOENT | Errno::ENOTDIR)
}

/// A new guest entry belongs to root; unprivileged (test) runs keep their own uid.
fn give_to_root(parent: &OwnedFd, name: &[u8], path: &str) -> Result<(), FsError> {
    match fchownat(
        parent.as_fd(),
        name,
        Some(Uid::from_raw(0)),
        Some(Gid::from_raw(0)),
        AtFlags::AT_SYMLINK_NOFOLLOW,
    ) {
        Ok(()) | Err(Errno::EPERM) => Ok(()),
        Err(e) => Err(io_err(format!("chown {path}"), e)),
    }
}

fn require_regular(path: &str, fd: &OwnedFd) -> Result<FileStat, FsError> {
    let st = fstat(fd.as_fd()).map_err(|e| io_err(format!("stat {path}"), e))?;
    if kind_of(&st) != FileKind::File {
        return Err(FsError::path(path, "not a regular file"));
    }
    Ok(st)
}

impl GuestFs for DirFs {
    fn metadata(&self, path: &str) -> Result<Option<FileMeta>, FsError> {
        if components(path)?.is_empty() {
            let st = fstat(self.root.as_fd()).map_err(|e| io_err("stat /".into(), e))?;
            return Ok(Some(meta_of(&st)));
        }
        let (parent, name) = self.parent(path)?;
        let parent = match parent {
            Ok(fd) => fd,
            // A parent that resolves in a loop (guest links into each other, or an absolute
            // link whose target runs back through another link) reaches nothing: the path
            // is not there, as for the guest itself.
            Err(e) if is_absent(e) || e == Errno::ELOOP => return Ok(None),
            Err(e) => return Err(io_err(format!("opening the parent of {path}"), e)),
        };
        match fstatat(
            parent.as_fd(),
            name.as_slice(),
            AtFlags::AT_SYMLINK_NOFOLLOW,
        ) {
            Ok(st) => Ok(Some(meta_of(&st))),
            Err(e) if is_absent(e) => Ok(None),
            Err(e) => Err(io_err(format!("stat {path}"), e)),
        }
    }

    fn read_dir(&self, path: &str) -> Result<Vec<DirEntry>, FsError> {
        let fd = self
            .open_in_root(&relative(path)?, OFlag::O_RDONLY | OFlag::O_DIRECTORY)
            .map_err(|e| io_err(format!("opening directory {path}"), e))?;
        let mut dir = Dir::from_fd(fd).map_err(|e| io_err(format!("reading {path}"), e))?;
        let mut raw = Vec::new();
        for entry in dir.iter() {
            let entry = entry.map_err(|e| io_err(format!("reading {path}"), e))?;
            let name = entry.file_name().to_bytes();
            if name == b"." || name == b".." {
                continue;
            }
            raw.push((name.to_vec(), entry.file_type()));
        }
        let mut out = Vec::with_capacity(raw.len());
        for (bytes, ty) in raw {
            let name = name::encode(&bytes).into_owned();
            let kind = match ty {
                Some(Type::File) => FileKind::File,
                Some(Type::Directory) => FileKind::Dir,
                Some(Type::Symlink) => FileKind::Symlink,
                Some(_) => FileKind::Other,
                // d_type unknown on some filesystems: ask.
                None => {
                    let st =
                        fstatat(dir.as_fd(), bytes.as_slice(), AtFlags::AT_SYMLINK_NOFOLLOW)
                            .map_err(|e| io_err(format!("stat {}", super::join(path, &name)), e))?;
                    kind_of(&st)
                }
            };
            out.push(DirEntry { name, kind });
        }
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }

    fn read_file(&self, path: &str, limit: u64) -> Result<Vec<u8>, FsError> {
        // O_NONBLOCK: opening a FIFO must not hang; it is refused as not regular below.
        let fd = self
            .open_in_root(&relative(path)?, OFlag::O_RDONLY | OFlag::O_NONBLOCK)
            .map_err(|e| io_err(format!("opening {path}"), e))?;
        let st = require_regular(path, &fd)?;
        let size = u64::try_from(st.st_size).unwrap_or(u64::MAX);
        if size > limit {
            return Err(FsError::path(
                path,
                format!("is {size} bytes, more than the {limit} allowed"),
            ));
        }
        let mut data = Vec::with_capacity(usize::try_from(size).unwrap_or(0));
        std::fs::File::from(fd)
            .take(limit.saturating_add(1))
            .read_to_end(&mut data)
            .map_err(|source| FsError::Io {
                context: format!("reading {path}"),
                source,
            })?;
        if data.len() as u64 > limit {
            return Err(FsError::path(path, format!("grew beyond {limit} bytes")));
        }
        Ok(data)
    }

    fn read_link(&self, path: &str) -> Result<String, FsError> {
        let (parent, name) = self.parent(path)?;
        let parent = parent.map_err(|e| io_err(format!("opening the parent of {path}"), e))?;
        let target = readlinkat(parent.as_fd(), name.as_slice())
            .map_err(|e| io_err(format!("reading link {path}"), e))?;
        Ok(name::encode(target.as_bytes()).into_owned())
    }
}

impl GuestFsMut for DirFs {
    /// Only a given time: a mounted filesystem has no last write time to derive one from.
    fn pin_time(&mut self, t: Option<i64>) -> Option<i64> {
        self.time = t.or(self.time);
        self.time
    }

    fn remove_file(&mut self, path: &str) -> Result<(), FsError> {
        let (parent, name) = self.parent(path)?;
        let parent = parent.map_err(|e| io_err(format!("opening the parent of {path}"), e))?;
        unlinkat(parent.as_fd(), name.as_slice(), UnlinkatFlags::NoRemoveDir)
            .map_err(|e| io_err(format!("removing {path}"), e))?;
        self.stamp(path)
    }

    fn remove_dir(&mut self, path: &str) -> Result<(), FsError> {
        let (parent, name) = self.parent(path)?;
        let parent = parent.map_err(|e| io_err(format!("opening the parent of {path}"), e))?;
        unlinkat(parent.as_fd(), name.as_slice(), UnlinkatFlags::RemoveDir)
            .map_err(|e| io_err(format!("removing directory {path}"), e))?;
        self.stamp(path)
    }

    fn truncate(&mut self, path: &str) -> Result<(), FsError> {
        let fd = self
            .open_in_root(
                &relative(path)?,
                OFlag::O_WRONLY | OFlag::O_NOFOLLOW | OFlag::O_NONBLOCK,
            )
            .map_err(|e| io_err(format!("opening {path} for writing"), e))?;
        require_regular(path, &fd)?;
        ftruncate(fd.as_fd(), 0).map_err(|e| io_err(format!("truncating {path}"), e))?;
        self.stamp(path)
    }

    fn write_file(&mut self, path: &str, data: &[u8], mode: u32) -> Result<(), FsError> {
        let (parent, name) = self.parent(path)?;
        let parent = parent.map_err(|e| io_err(format!("opening the parent of {path}"), e))?;
        let flags = OFlag::O_WRONLY | OFlag::O_NOFOLLOW | OFlag::O_NONBLOCK | OFlag::O_CLOEXEC;
        let perm = Mode::from_bits_truncate(mode & 0o7777);
        let (fd, created) = match openat(parent.as_fd(), name.as_slice(), flags, Mode::empty()) {
            Ok(fd) => (fd, false),
            Err(Errno::ENOENT) => {
                let fd = openat(
                    parent.as_fd(),
                    name.as_slice(),
                    flags | OFlag::O_CREAT | OFlag::O_EXCL,
                    perm,
                )
                .map_err(|e| io_err(format!("creating {path}"), e))?;
                (fd, true)
            }
            Err(e) => return Err(io_err(format!("opening {path} for writing"), e)),
        };
        require_regular(path, &fd)?;
        if created {
            // The umask may have cut bits; a new guest file belongs to root.
            fchmod(fd.as_fd(), perm).map_err(|e| io_err(format!("chmod {path}"), e))?;
            // Only root may give files away; unprivileged (test) runs keep their own uid.
            match std::os::unix::fs::fchown(&fd, Some(0), Some(0)) {
                Ok(()) => {}
                Err(e) if e.raw_os_error() == Some(libc::EPERM) => {}
                Err(source) => {
                    return Err(FsError::Io {
                        context: format!("chown {path}"),
                        source,
                    });
                }
            }
        }
        ftruncate(fd.as_fd(), 0).map_err(|e| io_err(format!("truncating {path}"), e))?;
        let mut file = std::fs::File::from(fd);
        file.write_all(data).map_err(|source| FsError::Io {
            context: format!("writing {path}"),
            source,
        })?;
        self.stamp(path)
    }

    fn mkdir(&mut self, path: &str, mode: u32) -> Result<(), FsError> {
        let (parent, name) = self.parent(path)?;
        let parent = parent.map_err(|e| io_err(format!("opening the parent of {path}"), e))?;
        let perm = Mode::from_bits_truncate(mode & 0o7777);
        mkdirat(parent.as_fd(), name.as_slice(), perm)
            .map_err(|e| io_err(format!("creating directory {path}"), e))?;
        // The umask may have cut bits.
        fchmodat(
            parent.as_fd(),
            name.as_slice(),
            perm,
            FchmodatFlags::NoFollowSymlink,
        )
        .map_err(|e| io_err(format!("chmod {path}"), e))?;
        give_to_root(&parent, &name, path)?;
        self.stamp(path)
    }

    fn symlink(&mut self, path: &str, target: &str) -> Result<(), FsError> {
        let (parent, name) = self.parent(path)?;
        let parent = parent.map_err(|e| io_err(format!("opening the parent of {path}"), e))?;
        symlinkat(&*name::decode(target), parent.as_fd(), name.as_slice())
            .map_err(|e| io_err(format!("creating symlink {path}"), e))?;
        give_to_root(&parent, &name, path)?;
        self.stamp(path)
    }

    fn set_mode(&mut self, path: &str, mode: u32) -> Result<(), FsError> {
        let (parent, name) = self.parent(path)?;
        let parent = parent.map_err(|e| io_err(format!("opening the parent of {path}"), e))?;
        let st = fstatat(
            parent.as_fd(),
            name.as_slice(),
            AtFlags::AT_SYMLINK_NOFOLLOW,
        )
        .map_err(|e| io_err(format!("stat {path}"), e))?;
        if kind_of(&st) == FileKind::Symlink {
            return Err(FsError::path(
                path,
                "is a symlink; Linux symlinks have no mode",
            ));
        }
        // Not a symlink (checked above), so following is the same as not following.
        fchmodat(
            parent.as_fd(),
            name.as_slice(),
            Mode::from_bits_truncate(mode & 0o7777),
            FchmodatFlags::FollowSymlink,
        )
        .map_err(|e| io_err(format!("chmod {path}"), e))
    }

    fn set_owner(&mut self, path: &str, uid: u32, gid: u32) -> Result<(), FsError> {
        let (parent, name) = self.parent(path)?;
        let parent = parent.map_err(|e| io_err(format!("opening the parent of {path}"), e))?;
        fchownat(
            parent.as_fd(),
            name.as_slice(),
            Some(Uid::from_raw(uid)),
            Some(Gid::from_raw(gid)),
            AtFlags::AT_SYMLINK_NOFOLLOW,
        )
        .map_err(|e| io_err(format!("chown {path}"), e))
    }

    fn flush(&mut self) -> Result<(), FsError> {
        // syncfs needs a real descriptor, not the O_PATH one of the root.
        let ctx = || format!("syncing {}", self.root_path.display());
        let fd = self
            .open_in_root(".", OFlag::O_RDONLY | OFlag::O_DIRECTORY)
            .map_err(|e| io_err(ctx(), e))?;
        syncfs(fd.as_fd()).map_err(|e| io_err(ctx(), e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::{PermissionsExt, symlink};

    fn tree() -> (tempfile::TempDir, DirFs) {
        let t = tempfile::tempdir().expect("tempdir");
        let r = t.path();
        std::fs::create_dir_all(r.join("etc/sub")).expect("mkdir");
        std::fs::write(r.join("etc/hostname"), "old\n").expect("write");
        std::fs::write(r.join("etc/sub/f"), "x").expect("write");
        symlink("/etc/hostname", r.join("etc/abs-link")).expect("symlink");
        symlink("../../../../../../etc", r.join("etc/up-link")).expect("symlink");
        let fs = DirFs::open(r).expect("open");
        (t, fs)
    }

    #[test]
    fn metadata_is_lstat_and_missing_is_none() {
        let (_t, fs) = tree();
        let m = fs.metadata("/etc/abs-link").unwrap().unwrap();
        assert_eq!(m.kind, FileKind::Symlink);
        assert_eq!(fs.metadata("/etc/hostname").unwrap().unwrap().size, 4);
        assert_eq!(fs.metadata("/").unwrap().unwrap().kind, FileKind::Dir);
        assert!(fs.metadata("/nope/x").unwrap().is_none());
        assert!(fs.metadata("/etc/hostname/x").unwrap().is_none());
        assert!(fs.metadata("/etc/../x").is_err());
        assert!(fs.metadata("etc").is_err());
    }

    /// Regression (found by a fresh clone under /tmp): a parent whose links resolve in a loop
    /// inside the guest is "not there", so the executor skips a path through it instead of
    /// failing the whole seal with ELOOP.
    #[test]
    fn a_path_through_looping_links_is_absent() {
        let (t, fs) = tree();
        symlink("/loop-b", t.path().join("loop-a")).expect("symlink");
        symlink("/loop-a/x", t.path().join("loop-b")).expect("symlink");
        assert!(fs.metadata("/loop-a/syslog").unwrap().is_none());
        assert!(fs.metadata("/loop-a/dir/syslog").unwrap().is_none());
        assert_eq!(
            fs.metadata("/loop-a").unwrap().unwrap().kind,
            FileKind::Symlink
        );
    }

    #[test]
    fn read_dir_is_sorted_with_kinds() {
        let (_t, fs) = tree();
        let names: Vec<_> = fs
            .read_dir("/etc")
            .unwrap()
            .into_iter()
            .map(|e| (e.name, e.kind))
            .collect();
        assert_eq!(
            names,
            vec![
                ("abs-link".to_string(), FileKind::Symlink),
                ("hostname".to_string(), FileKind::File),
                ("sub".to_string(), FileKind::Dir),
                ("up-link".to_string(), FileKind::Symlink),
            ]
        );
    }

    #[test]
    fn symlinks_resolve_inside_the_root() {
        let (_t, fs) = tree();
        // Absolute target: the guest's /etc/hostname, not the host's.
        assert_eq!(fs.read_file("/etc/abs-link", 100).unwrap(), b"old\n");
        // '..' past the root stays at the root.
        assert_eq!(fs.read_file("/etc/up-link/sub/f", 100).unwrap(), b"x");
        assert_eq!(fs.read_link("/etc/abs-link").unwrap(), "/etc/hostname");
    }

    #[test]
    fn read_file_limit() {
        let (_t, fs) = tree();
        assert!(fs.read_file("/etc/hostname", 3).is_err());
        assert!(fs.read_file("/etc", 100).is_err());
    }

    #[test]
    fn edits_never_follow_the_last_symlink() {
        let (t, mut fs) = tree();
        assert!(fs.truncate("/etc/abs-link").is_err());
        assert!(fs.write_file("/etc/abs-link", b"new", 0o644).is_err());
        fs.remove_file("/etc/abs-link").unwrap();
        assert_eq!(
            std::fs::read(t.path().join("etc/hostname")).unwrap(),
            b"old\n"
        );
        assert!(fs.remove_file("/etc/sub").is_err());
    }

    #[test]
    fn a_pinned_time_is_the_atime_and_mtime_of_what_changes_and_its_directory() {
        use std::os::unix::fs::MetadataExt;
        let (t, mut fs) = tree();
        let times = |p: &str| {
            let m = std::fs::symlink_metadata(t.path().join(p)).unwrap();
            (m.atime(), m.mtime())
        };
        let t2 = (1_800_000_000, 1_800_000_000);
        fs.truncate("/etc/sub/f").unwrap();
        assert_ne!(times("etc/sub/f"), t2, "not pinned yet: the clock");
        assert_eq!(
            fs.pin_time(None),
            None,
            "a host directory has no time of its own"
        );
        assert_eq!(fs.pin_time(Some(t2.0)), Some(t2.0));
        fs.write_file("/etc/hostname", b"new\n", 0o644).unwrap();
        fs.symlink("/etc/sub/l", "f").unwrap();
        assert_eq!(times("etc/hostname"), t2);
        assert_eq!(times("etc/sub/l"), t2, "the link itself, not its target");
        assert_eq!(times("etc/sub"), t2);
        fs.remove_file("/etc/sub/l").unwrap();
        fs.remove_file("/etc/sub/f").unwrap();
        fs.remove_dir("/etc/sub").unwrap();
        assert_eq!(times("etc"), t2);
    }

    #[test]
    fn write_keeps_mode_and_creates_with_mode() {
        let (t, mut fs) = tree();
        let p = t.path().join("etc/hostname");
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600)).unwrap();
        fs.write_file("/etc/hostname", b"new\n", 0o644).unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"new\n");
        let mode = std::fs::metadata(&p).unwrap().permissions().mode() & 0o7777;
        assert_eq!(mode, 0o600);
        fs.write_file("/etc/created", b"c", 0o444).unwrap();
        let mode = std::fs::metadata(t.path().join("etc/created"))
            .unwrap()
            .permissions()
            .mode()
            & 0o7777;
        assert_eq!(mode, 0o444);
        fs.truncate("/etc/hostname").unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"");
        fs.remove_file("/etc/sub/f").unwrap();
        fs.remove_dir("/etc/sub").unwrap();
        assert!(!t.path().join("etc/sub").exists());
        fs.flush().unwrap();
    }

    #[test]
    fn names_that_are_not_utf8_round_trip() {
        use std::ffi::OsStr;
        let (t, mut fs) = tree();
        let r = t.path();
        let raw = |b: &[u8]| r.join("etc").join(OsStr::from_bytes(b));
        std::fs::write(raw(b"caf\xe9"), "x").unwrap();
        std::fs::create_dir(raw(b"d\xff")).unwrap();
        std::fs::write(raw(b"d\xff").join("f"), "y").unwrap();
        symlink(OsStr::from_bytes(b"/t\xfe"), raw(b"l")).unwrap();
        let names: Vec<_> = fs
            .read_dir("/etc")
            .unwrap()
            .into_iter()
            .map(|e| e.name)
            .collect();
        let cafe = name::encode(b"caf\xe9").into_owned();
        let d = name::encode(b"d\xff").into_owned();
        assert!(names.contains(&cafe) && names.contains(&d), "{names:?}");
        assert_eq!(fs.read_file(&format!("/etc/{cafe}"), 10).unwrap(), b"x");
        assert_eq!(fs.read_file(&format!("/etc/{d}/f"), 10).unwrap(), b"y");
        assert_eq!(fs.read_link("/etc/l").unwrap(), name::encode(b"/t\xfe"));
        fs.remove_file(&format!("/etc/{cafe}")).unwrap();
        assert!(!raw(b"caf\xe9").exists());
        fs.symlink("/etc/l2", &name::encode(b"/u\xfd")).unwrap();
        let target = std::fs::read_link(r.join("etc/l2")).unwrap();
        assert_eq!(target.as_os_str().as_bytes(), b"/u\xfd");
        let missing = name::encode(b"/etc/gone\xfa");
        let e = fs.read_file(&missing, 10).unwrap_err().to_string();
        assert!(e.contains("/etc/gone\\xfa"), "{e}");
    }
}
