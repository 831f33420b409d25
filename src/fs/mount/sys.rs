//! The four ioctls the mount backend needs, as safe functions: a free loop device, attach a
//! file to it, detach it, and FITRIM. nix generates `unsafe fn`s for ioctls (the kernel
//! cannot check a pointer's type); this file is, with the libext2fs shim, the only place in
//! the crate allowed `unsafe` (`#![deny(unsafe_code)]` in lib.rs enforces it). The crates
//! that wrap loop devices were weighed and rejected: `loopdev` needs bindgen and libclang at
//! build time, and `krata-loopdev` passes a `loop_info64` that is not `#[repr(C)]`.

use std::os::fd::{AsRawFd, BorrowedFd};

use nix::errno::Errno;

/// `struct loop_info64` from <linux/loop.h>.
#[repr(C)]
#[derive(Clone, Copy)]
struct LoopInfo64 {
    lo_device: u64,
    lo_inode: u64,
    lo_rdevice: u64,
    lo_offset: u64,
    lo_sizelimit: u64,
    lo_number: u32,
    lo_encrypt_type: u32,
    lo_encrypt_key_size: u32,
    lo_flags: u32,
    lo_file_name: [u8; 64],
    lo_crypt_name: [u8; 64],
    lo_encrypt_key: [u8; 32],
    lo_init: [u64; 2],
}

/// `struct loop_config` from <linux/loop.h> (LOOP_CONFIGURE, Linux 5.8+).
#[repr(C)]
struct LoopConfig {
    fd: u32,
    block_size: u32,
    info: LoopInfo64,
    reserved: [u64; 8],
}

/// `struct fstrim_range` from <linux/fs.h>.
#[repr(C)]
struct FstrimRange {
    start: u64,
    len: u64,
    minlen: u64,
}

// The kernel's sizes; a layout mistake fails the build instead of corrupting an ioctl.
const _: () = assert!(std::mem::size_of::<LoopInfo64>() == 232);
const _: () = assert!(std::mem::size_of::<LoopConfig>() == 304);
const _: () = assert!(std::mem::size_of::<FstrimRange>() == 24);

/// Detach the loop device when its last user (the mount) goes away: a crash between attach
/// and our own detach leaves nothing attached once the mount is gone.
const LO_FLAGS_AUTOCLEAR: u32 = 4;

// Loop ioctls do not follow the _IO/_IOW encoding, hence the "bad" variants.
nix::ioctl_none_bad!(loop_ctl_get_free, 0x4C82);
nix::ioctl_write_ptr_bad!(loop_configure, 0x4C0A, LoopConfig);
nix::ioctl_none_bad!(loop_clr_fd, 0x4C01);
nix::ioctl_readwrite!(fitrim, b'X', 121, FstrimRange);

/// LOOP_CTL_GET_FREE on an open /dev/loop-control: the number of a free loop device.
pub fn loop_get_free(control: BorrowedFd<'_>) -> Result<u32, Errno> {
    // SAFETY: LOOP_CTL_GET_FREE takes no argument; `control` is an open descriptor.
    let n = unsafe { loop_ctl_get_free(control.as_raw_fd()) }?;
    u32::try_from(n).map_err(|_| Errno::EINVAL)
}

/// LOOP_CONFIGURE: back `dev` with `len` bytes of `file` from offset `offset`, autoclear.
pub fn loop_attach(
    dev: BorrowedFd<'_>,
    file: BorrowedFd<'_>,
    offset: u64,
    len: u64,
) -> Result<(), Errno> {
    let fd = u32::try_from(file.as_raw_fd()).map_err(|_| Errno::EBADF)?;
    let cfg = LoopConfig {
        fd,
        block_size: 0,
        info: LoopInfo64 {
            lo_device: 0,
            lo_inode: 0,
            lo_rdevice: 0,
            lo_offset: offset,
            lo_sizelimit: len,
            lo_number: 0,
            lo_encrypt_type: 0,
            lo_encrypt_key_size: 0,
            lo_flags: LO_FLAGS_AUTOCLEAR,
            lo_file_name: [0; 64],
            lo_crypt_name: [0; 64],
            lo_encrypt_key: [0; 32],
            lo_init: [0; 2],
        },
        reserved: [0; 8],
    };
    // SAFETY: `cfg` is a fully initialised #[repr(C)] loop_config (size checked above) that
    // outlives the call; the kernel only reads it.
    unsafe { loop_configure(dev.as_raw_fd(), &cfg) }.map(drop)
}

/// LOOP_CLR_FD: detach whatever backs `dev`.
pub fn loop_detach(dev: BorrowedFd<'_>) -> Result<(), Errno> {
    // SAFETY: LOOP_CLR_FD takes no argument; `dev` is an open descriptor.
    unsafe { loop_clr_fd(dev.as_raw_fd()) }.map(drop)
}

/// FITRIM on any descriptor of a mounted filesystem: discard every free block (on a loop
/// device, that punches holes in the backing file). Returns the bytes the filesystem
/// reports trimmed.
pub fn trim(fs: BorrowedFd<'_>) -> Result<u64, Errno> {
    let mut range = FstrimRange {
        start: 0,
        len: u64::MAX,
        minlen: 0,
    };
    // SAFETY: `range` is a valid, initialised #[repr(C)] fstrim_range the kernel reads and
    // writes back; it lives across the call.
    unsafe { fitrim(fs.as_raw_fd(), &mut range) }?;
    Ok(range.len)
}
