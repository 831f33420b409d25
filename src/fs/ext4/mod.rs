//! ext2/3/4: reads through ext4-view, edits through the system libext2fs (a small C shim).
//!
//! `ffi` holds cloudseal's `unsafe` FFI code (declarations for shim.c and a safe handle; the
//! only other `unsafe` is the loop ioctls in `fs::mount::sys`);
//! `edit` is the libext2fs-backed `GuestFs`/`GuestFsMut` used by `seal` and `sparsify`.
//! `read` is the read-only ext4-view `GuestFs` used by `inspect`.

mod edit;
#[allow(unsafe_code)]
mod ffi;
pub mod read;

pub use edit::{ByteRange, Ext4Error, Ext4Fs};
pub use ffi::{BlockIo, SuperInfo};
