//! The mount backend: a filesystem the kernel mounts (xfs, btrfs; ext2/3/4 and vfat too with
//! `--backend mount`), seen through a [`DirFs`] so every seal operation runs unchanged.
//!
//! The bytes live in a staging file (never the input): a loop device is configured on it
//! at the filesystem's offset and size, mounted nosuid,nodev,noexec inside the process's
//! private mount namespace (see `ns`), sealed, synced, trimmed (FITRIM punches the free
//! blocks out of the staging file), unmounted and detached. Cleanup runs on success, on
//! error and on panic (guards); a killed process leaves nothing behind (namespace +
//! autoclear loop devices).

use std::fs::File;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};

use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::mount::{MntFlags, MsFlags, mount, umount2};
use nix::sys::stat::Mode;
use nix::unistd::{Uid, mkdir, syncfs};

use super::FsError;
use super::detect::{FsInfo, FsKind};
use super::dir::DirFs;

mod layout;
mod ns;
#[allow(unsafe_code)]
mod sys;

pub use layout::Layout;

/// Which way a filesystem is opened.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Backend {
    /// ext2/3/4 and vfat in userspace (no root), xfs and btrfs mounted.
    #[default]
    Auto,
    /// Userspace only: xfs and btrfs are left untouched.
    Userspace,
    /// The kernel for every filesystem it can mount (a cross-check of the userspace path).
    Mount,
}

impl Backend {
    /// Whether `kind` goes through the kernel with this backend.
    pub fn mounts(self, kind: FsKind) -> bool {
        match self {
            Backend::Userspace => false,
            Backend::Auto => matches!(kind, FsKind::Xfs | FsKind::Btrfs),
            Backend::Mount => mountable(kind),
        }
    }
}

/// Kinds the mount backend knows how to mount.
pub fn mountable(kind: FsKind) -> bool {
    kind.is_ext() || matches!(kind, FsKind::Xfs | FsKind::Btrfs | FsKind::Vfat)
}

#[derive(Debug, thiserror::Error)]
pub enum MountError {
    #[error(
        "{what}: mounting needs root: run as root (ext2/3/4 are sealed without root by the \
         userspace backend; xfs and btrfs need the kernel's mount)"
    )]
    NotRoot { what: String },
    #[error("{what}: this kernel has no {fstype} driver (not in /proc/filesystems)")]
    NoDriver { what: String, fstype: &'static str },
    #[error("{what}: {step}")]
    Sys {
        what: String,
        step: String,
        #[source]
        source: Errno,
    },
    #[error(transparent)]
    Fs(#[from] FsError),
    /// From the test hook (debug builds only, see `fault`).
    #[cfg(debug_assertions)]
    #[error("{what}: injected failure (CLOUDSEAL_FAULT={fault})")]
    Injected { what: String, fault: String },
}

/// What a mount session did besides running the caller's work.
#[derive(Debug, Clone, Default)]
pub struct Mounted {
    /// What FITRIM reported (the range it examined, on xfs; not the bytes it freed).
    pub trimmed: u64,
    /// Where the guest root was found and what was attached under it.
    pub layout: Layout,
}

/// Mount the `len` bytes of `file` at `offset` (a filesystem described by `info`), run `f`
/// on the guest root, then sync, trim, unmount and detach, whatever `f` returned.
pub fn with_mounted<R>(
    file: &File,
    offset: u64,
    len: u64,
    info: &FsInfo,
    what: &str,
    f: impl FnOnce(&mut DirFs, &Layout) -> R,
) -> Result<(R, Mounted), MountError> {
    let sys = |step: &str| {
        let what = what.to_string();
        let step = step.to_string();
        move |source| MountError::Sys { what, step, source }
    };
    can_mount(info, what)?;
    let ns = ns::get().map_err(sys("entering a private mount namespace"))?;
    let dev = LoopDev::attach(file, offset, len).map_err(sys("attaching a loop device"))?;
    let mut mounts = Mounts {
        ns,
        stack: Vec::new(),
    };
    let point = mount_point(ns).map_err(sys("creating a mount point"))?;
    let (fstype, data) = mount_type(info.kind);
    let src = dev.path();
    let target = point.clone();
    let flags = MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC;
    run_in(ns, move || {
        mount(Some(&src), &target, Some(fstype), flags, data)
    })
    .map_err(sys(&format!(
        "mounting {} ({fstype})",
        dev.path().display()
    )))?;
    mounts.stack.push(point.clone());
    #[cfg(debug_assertions)]
    fault(what, "after-mount")?;

    let target = point.clone();
    let top_fd: OwnedFd = run_in(ns, move || {
        nix::fcntl::open(
            &target,
            OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
            Mode::empty(),
        )
    })
    .map_err(sys("opening the mounted filesystem"))?;
    let dup = top_fd.try_clone().map_err(|e| FsError::Io {
        context: format!("{what}: duplicating a descriptor"),
        source: e,
    })?;
    let top = DirFs::from_fd(dup, point.clone());
    let layout = if info.kind == FsKind::Btrfs {
        layout::btrfs(&top, info)?
    } else {
        Layout::default()
    };
    let mut root = match &layout.subvolume {
        Some(s) => top.subdir(&format!("/{s}"))?,
        None => DirFs::from_fd(
            top_fd.try_clone().map_err(|e| FsError::Io {
                context: format!("{what}: duplicating a descriptor"),
                source: e,
            })?,
            point.clone(),
        ),
    };
    for (subvol, at) in &layout.attached {
        let from = top.open_dir_nofollow(&format!("/{subvol}"))?;
        let onto = root.open_dir_nofollow(at)?;
        let (from_p, onto_p) = (proc_fd(&from), proc_fd(&onto));
        run_in(ns, move || {
            mount(
                Some(&from_p),
                &onto_p,
                None::<&str>,
                MsFlags::MS_BIND,
                None::<&str>,
            )
        })
        .map_err(sys(&format!("attaching subvolume {subvol} at {at}")))?;
        let shown = point.join(layout.subvolume.as_deref().unwrap_or(""));
        mounts.stack.push(shown.join(at.trim_start_matches('/')));
    }
    drop(top);

    let out = f(&mut root, &layout);
    drop(root);
    // Sync first: a trim right after deleting files misses the blocks still in flight.
    syncfs(top_fd.as_fd()).map_err(sys("syncing"))?;
    let trimmed = match sys::trim(top_fd.as_fd()) {
        Ok(n) => n,
        // A filesystem without FITRIM keeps its free blocks as they are: data, not holes.
        Err(Errno::EOPNOTSUPP | Errno::ENOTTY) => 0,
        Err(e) => return Err(sys("trimming free space (FITRIM)")(e)),
    };
    drop(top_fd);
    mounts.unmount_all().map_err(sys("unmounting"))?;
    dev.detach().map_err(sys("detaching the loop device"))?;
    Ok((out, Mounted { trimmed, layout }))
}

/// Whether this process can mount `info`'s filesystem here: root, and a kernel that has
/// the driver (/proc/filesystems). Checked before any staging copy is made.
pub fn can_mount(info: &FsInfo, what: &str) -> Result<(), MountError> {
    if !mountable(info.kind) {
        return Err(MountError::Fs(FsError::Unsupported(format!(
            "{what}: {} cannot be mounted",
            info.kind
        ))));
    }
    if !Uid::effective().is_root() {
        return Err(MountError::NotRoot {
            what: what.to_string(),
        });
    }
    let (fstype, _) = mount_type(info.kind);
    // Without /proc/filesystems, let mount(2) itself answer.
    if let Ok(known) = std::fs::read_to_string("/proc/filesystems")
        && !known
            .lines()
            .any(|l| l.split_whitespace().last() == Some(fstype))
    {
        return Err(MountError::NoDriver {
            what: what.to_string(),
            fstype,
        });
    }
    Ok(())
}

/// A fresh, empty directory on the namespace's own tmpfs.
fn mount_point(ns: &'static ns::Namespace) -> Result<PathBuf, Errno> {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let p = PathBuf::from(format!("{}/cloudseal-mnt-{n}", ns::MOUNT_BASE));
    let q = p.clone();
    run_in(ns, move || mkdir(&q, Mode::S_IRWXU))?;
    Ok(p)
}

/// The kernel's type name and mount options for `kind`.
fn mount_type(kind: FsKind) -> (&'static str, Option<&'static str>) {
    match kind {
        // Another mounted xfs with the same UUID (the build host's own) must not block us.
        FsKind::Xfs => ("xfs", Some("nouuid")),
        // The top level, so every subvolume is reachable.
        FsKind::Btrfs => ("btrfs", Some("subvolid=5")),
        FsKind::Vfat => ("vfat", None),
        // The ext4 driver mounts ext2 and ext3 too.
        _ => ("ext4", None),
    }
}

fn proc_fd(fd: &OwnedFd) -> PathBuf {
    PathBuf::from(format!("/proc/self/fd/{}", fd.as_raw_fd()))
}

/// Run a mount syscall on the namespace thread.
fn run_in<T: Send + 'static>(
    ns: &ns::Namespace,
    f: impl FnOnce() -> Result<T, Errno> + Send + 'static,
) -> Result<T, Errno> {
    ns.run(f).unwrap_or(Err(Errno::ECHILD))
}

/// Test hook: `CLOUDSEAL_FAULT=error-<point>` fails there, `pause-<point>:SECS` sleeps there
/// (so a test can signal the process while the filesystem is mounted). Debug builds only
/// (`cargo test`): a release binary runs as root, and its environment must not be able to
/// fail or stall it with filesystems mounted. scripts/test.sh checks the release binary.
#[cfg(debug_assertions)]
fn fault(what: &str, point: &str) -> Result<(), MountError> {
    let Ok(f) = std::env::var("CLOUDSEAL_FAULT") else {
        return Ok(());
    };
    if f == format!("error-{point}") {
        return Err(MountError::Injected {
            what: what.to_string(),
            fault: f,
        });
    }
    if let Some(secs) = f.strip_prefix(&format!("pause-{point}:")) {
        let secs: u64 = secs.parse().unwrap_or(10);
        std::thread::sleep(std::time::Duration::from_secs(secs));
    }
    Ok(())
}

/// Mounts made in the namespace, unmounted in reverse order on drop (if not done already).
struct Mounts {
    ns: &'static ns::Namespace,
    stack: Vec<PathBuf>,
}

impl Mounts {
    fn unmount_all(&mut self) -> Result<(), Errno> {
        while let Some(p) = self.stack.pop() {
            let q = p.clone();
            if let Err(e) = run_in(self.ns, move || umount2(&q, MntFlags::UMOUNT_NOFOLLOW)) {
                // Still unmount it lazily, so nothing stays attached, and report.
                let _ = run_in(self.ns, move || {
                    umount2(&p, MntFlags::MNT_DETACH | MntFlags::UMOUNT_NOFOLLOW)
                });
                self.unmount_rest();
                return Err(e);
            }
        }
        Ok(())
    }

    fn unmount_rest(&mut self) {
        while let Some(p) = self.stack.pop() {
            let _ = run_in(self.ns, move || {
                umount2(&p, MntFlags::MNT_DETACH | MntFlags::UMOUNT_NOFOLLOW)
            });
        }
    }
}

impl Drop for Mounts {
    fn drop(&mut self) {
        self.unmount_rest();
    }
}

/// A loop device configured on the staging file; detached on drop.
struct LoopDev {
    dev: Option<File>,
    number: u32,
}

impl LoopDev {
    fn attach(file: &File, offset: u64, len: u64) -> Result<LoopDev, Errno> {
        let control = File::options()
            .read(true)
            .write(true)
            .open("/dev/loop-control")
            .map_err(errno)?;
        // Another process may take the free device between the query and the configure.
        let mut last = Errno::EBUSY;
        for _ in 0..16 {
            let number = sys::loop_get_free(control.as_fd())?;
            let dev = File::options()
                .read(true)
                .write(true)
                .open(format!("/dev/loop{number}"))
                .map_err(errno)?;
            match sys::loop_attach(dev.as_fd(), file.as_fd(), offset, len) {
                Ok(()) => {
                    return Ok(LoopDev {
                        dev: Some(dev),
                        number,
                    });
                }
                Err(Errno::EBUSY) => last = Errno::EBUSY,
                Err(e) => return Err(e),
            }
        }
        Err(last)
    }

    fn path(&self) -> PathBuf {
        PathBuf::from(format!("/dev/loop{}", self.number))
    }

    fn detach(mut self) -> Result<(), Errno> {
        match self.dev.take() {
            Some(dev) => sys::loop_detach(dev.as_fd()),
            None => Ok(()),
        }
    }
}

impl Drop for LoopDev {
    fn drop(&mut self) {
        if let Some(dev) = self.dev.take() {
            let _ = sys::loop_detach(dev.as_fd());
        }
    }
}

fn errno(e: std::io::Error) -> Errno {
    Errno::from_raw(e.raw_os_error().unwrap_or(libc::EIO))
}
