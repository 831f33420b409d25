//! Hand-written declarations for shim.c and a safe `Handle` over them. All of cloudseal's
//! `unsafe` lives in this file (with the loop ioctls of fs::mount::sys).

use std::ffi::{CStr, c_char, c_int, c_long, c_void};
use std::ptr::NonNull;

/// Opaque `struct struct_ext2_filsys`.
#[repr(C)]
pub struct Filsys {
    _private: [u8; 0],
}

/// Superblock facts (`struct cs_super` in shim.c).
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub struct SuperInfo {
    pub blocks_count: u64,
    pub free_blocks: u64,
    pub block_size: u32,
    pub first_data_block: u32,
    pub feature_compat: u32,
    pub feature_incompat: u32,
    pub feature_ro_compat: u32,
    pub state: u32,
    pub inodes_count: u32,
    pub free_inodes: u32,
}

/// Inode facts (`struct cs_stat` in shim.c).
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub struct Stat {
    pub size: u64,
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    pub links: u32,
    pub flags: u32,
}

/// Kind codes from shim.c (`CS_KIND_*`).
pub const KIND_FILE: c_int = 1;
pub const KIND_DIR: c_int = 2;
pub const KIND_SYMLINK: c_int = 3;

type DirCb = extern "C" fn(*mut c_void, *const c_char, c_int, u32, c_int) -> c_int;

unsafe extern "C" {
    fn cs_strerror(code: c_long) -> *const c_char;
    fn cs_classify(code: c_long) -> c_int;
    fn cs_open(path: *const c_char, offset: u64, writable: c_int, out: *mut *mut Filsys) -> c_long;
    fn cs_open_cb(cb: *const IoCb, writable: c_int, out: *mut *mut Filsys) -> c_long;
    fn cs_super_info(fs: *mut Filsys, s: *mut SuperInfo);
    fn cs_close(fs: *mut Filsys, commit: c_int) -> c_long;
    fn cs_flush(fs: *mut Filsys) -> c_long;
    fn cs_lookup(fs: *mut Filsys, path: *const c_char, follow: c_int, ino: *mut u32) -> c_long;
    fn cs_stat(fs: *mut Filsys, ino: u32, st: *mut Stat) -> c_long;
    fn cs_dir_iterate(fs: *mut Filsys, ino: u32, cb: DirCb, ctx: *mut c_void) -> c_long;
    fn cs_read(
        fs: *mut Filsys,
        ino: u32,
        off: u64,
        buf: *mut c_void,
        len: u32,
        got: *mut u32,
    ) -> c_long;
    fn cs_readlink(fs: *mut Filsys, ino: u32, buf: *mut c_char, cap: u32, len: *mut u32) -> c_long;
    fn cs_unlink_file(fs: *mut Filsys, dir: u32, name: *const c_char, ino: u32) -> c_long;
    fn cs_rmdir(fs: *mut Filsys, dir: u32, name: *const c_char, ino: u32) -> c_long;
    fn cs_truncate(fs: *mut Filsys, ino: u32) -> c_long;
    fn cs_write(fs: *mut Filsys, ino: u32, data: *const c_void, len: u32) -> c_long;
    fn cs_create(
        fs: *mut Filsys,
        dir: u32,
        name: *const c_char,
        perm: u32,
        out: *mut u32,
    ) -> c_long;
    fn cs_pin_time(fs: *mut Filsys, t: i64) -> i64;
    fn cs_set_attr(fs: *mut Filsys, ino: u32, perm: u32, uid: u32, gid: u32) -> c_long;
    fn cs_mkdir(fs: *mut Filsys, dir: u32, name: *const c_char, out: *mut u32) -> c_long;
    fn cs_symlink(
        fs: *mut Filsys,
        dir: u32,
        name: *const c_char,
        target: *const c_char,
        out: *mut u32,
    ) -> c_long;
    fn cs_find_first_free(fs: *mut Filsys, start: u64, end: u64, out: *mut u64) -> c_long;
    fn cs_find_first_used(fs: *mut Filsys, start: u64, end: u64, out: *mut u64) -> c_long;
}

/// A libext2fs `errcode_t` (or an errno value).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Code(pub i64);

impl Code {
    /// The com_err message ("Ext2 file not found", "Directory not empty", ...).
    pub fn message(self) -> String {
        // SAFETY: cs_strerror returns a pointer to a static NUL-terminated string (com_err
        // formats unknown codes into a static buffer); we copy it out immediately.
        let s = unsafe { CStr::from_ptr(cs_strerror(self.0 as c_long)) };
        s.to_string_lossy().into_owned()
    }

    pub fn is_not_found(self) -> bool {
        // SAFETY: pure integer comparison in C.
        unsafe { cs_classify(self.0 as c_long) == 1 }
    }

    pub fn is_not_dir(self) -> bool {
        // SAFETY: pure integer comparison in C.
        unsafe { cs_classify(self.0 as c_long) == 2 }
    }

    pub fn errno(errno: i32) -> Code {
        Code(i64::from(errno))
    }
}

fn check(code: c_long) -> Result<(), Code> {
    if code == 0 { Ok(()) } else { Err(Code(code)) }
}

/// Where a filesystem opened with [`Handle::open_io`] reads and writes: offsets are from the
/// filesystem's first byte. Errors are errno values.
pub trait BlockIo {
    fn read_at(&self, off: u64, buf: &mut [u8]) -> Result<(), i32>;
    fn write_at(&self, off: u64, data: &[u8]) -> Result<(), i32>;
}

/// `struct cs_io_cb` in shim.c.
#[repr(C)]
struct IoCb {
    ctx: *mut c_void,
    read: extern "C" fn(*mut c_void, u64, *mut c_void, u64) -> c_long,
    write: extern "C" fn(*mut c_void, u64, *const c_void, u64) -> c_long,
}

extern "C" fn io_read(ctx: *mut c_void, off: u64, buf: *mut c_void, len: u64) -> c_long {
    let Ok(len) = usize::try_from(len) else {
        return libc::EINVAL as c_long;
    };
    // SAFETY: ctx is the `Box<dyn BlockIo>` owned by the Handle, alive while the filesystem is
    // open; libext2fs passes a buffer of `len` writable bytes.
    let (io, buf) = unsafe {
        (
            &*(ctx as *const Box<dyn BlockIo>),
            std::slice::from_raw_parts_mut(buf as *mut u8, len),
        )
    };
    match io.read_at(off, buf) {
        Ok(()) => 0,
        Err(e) => e as c_long,
    }
}

extern "C" fn io_write(ctx: *mut c_void, off: u64, data: *const c_void, len: u64) -> c_long {
    let Ok(len) = usize::try_from(len) else {
        return libc::EINVAL as c_long;
    };
    // SAFETY: as io_read; the data buffer holds `len` readable bytes.
    let (io, data) = unsafe {
        (
            &*(ctx as *const Box<dyn BlockIo>),
            std::slice::from_raw_parts(data as *const u8, len),
        )
    };
    match io.write_at(off, data) {
        Ok(()) => 0,
        Err(e) => e as c_long,
    }
}

/// An open libext2fs filesystem. Not `Send`/`Sync` (a raw pointer): libext2fs handles are
/// single-threaded. Dropping it discards unflushed metadata; `close(true)` commits.
pub struct Handle {
    fs: NonNull<Filsys>,
    /// The callbacks' target when opened with `open_io`; dropped after the filesystem closes.
    io: Option<Box<Box<dyn BlockIo>>>,
}

/// Most bytes one read call asks the shim for.
const READ_CHUNK: usize = 1 << 20;

impl Handle {
    pub fn open(path: &CStr, offset: u64, writable: bool) -> Result<Handle, Code> {
        let mut fs: *mut Filsys = std::ptr::null_mut();
        // SAFETY: path is a valid C string; `fs` is a valid out-pointer, set only on success.
        check(unsafe { cs_open(path.as_ptr(), offset, c_int::from(writable), &mut fs) })?;
        NonNull::new(fs)
            .map(|fs| Handle { fs, io: None })
            .ok_or(Code::errno(libc::EIO))
    }

    /// Open a filesystem whose bytes `io` reads and writes.
    pub fn open_io(io: Box<dyn BlockIo>, writable: bool) -> Result<Handle, Code> {
        let io = Box::new(io);
        let cb = IoCb {
            ctx: &*io as *const Box<dyn BlockIo> as *mut c_void,
            read: io_read,
            write: io_write,
        };
        let mut fs: *mut Filsys = std::ptr::null_mut();
        // SAFETY: cb is valid for the call (the shim copies it); its ctx points into `io`,
        // which the returned Handle owns and drops only after closing the filesystem.
        check(unsafe { cs_open_cb(&cb, c_int::from(writable), &mut fs) })?;
        NonNull::new(fs)
            .map(|fs| Handle { fs, io: Some(io) })
            .ok_or(Code::errno(libc::EIO))
    }

    fn ptr(&self) -> *mut Filsys {
        self.fs.as_ptr()
    }

    pub fn super_info(&self) -> SuperInfo {
        let mut s = SuperInfo::default();
        // SAFETY: the handle is open; `s` is a valid, repr(C) out-struct.
        unsafe { cs_super_info(self.ptr(), &mut s) };
        s
    }

    /// Write back (commit) or discard, and free the handle.
    pub fn close(mut self, commit: bool) -> Result<(), Code> {
        let p = self.ptr();
        let io = self.io.take();
        std::mem::forget(self);
        // SAFETY: `p` is open and, with `self` forgotten, closed exactly once here; `io` (the
        // callbacks' target) is dropped only after it.
        let res = check(unsafe { cs_close(p, c_int::from(commit)) });
        drop(io);
        res
    }

    pub fn flush(&mut self) -> Result<(), Code> {
        // SAFETY: the handle is open.
        check(unsafe { cs_flush(self.ptr()) })
    }

    pub fn lookup(&self, path: &CStr, follow: bool) -> Result<u32, Code> {
        let mut ino = 0u32;
        // SAFETY: valid handle, C string and out-pointer.
        check(unsafe { cs_lookup(self.ptr(), path.as_ptr(), c_int::from(follow), &mut ino) })?;
        Ok(ino)
    }

    pub fn stat(&self, ino: u32) -> Result<Stat, Code> {
        let mut st = Stat::default();
        // SAFETY: valid handle and repr(C) out-struct.
        check(unsafe { cs_stat(self.ptr(), ino, &mut st) })?;
        Ok(st)
    }

    /// Call `f(name, inode, kind)` for every entry of directory `ino` (including "." and "..").
    pub fn read_dir(&self, ino: u32, f: &mut dyn FnMut(&[u8], u32, c_int)) -> Result<(), Code> {
        extern "C" fn trampoline(
            ctx: *mut c_void,
            name: *const c_char,
            len: c_int,
            ino: u32,
            kind: c_int,
        ) -> c_int {
            let len = usize::try_from(len).unwrap_or(0);
            // SAFETY: ctx is the `&mut &mut dyn FnMut` passed below, alive for the whole
            // iteration; name points at `len` bytes of the directory block being iterated.
            let (f, name) = unsafe {
                (
                    &mut *(ctx as *mut &mut dyn FnMut(&[u8], u32, c_int)),
                    std::slice::from_raw_parts(name as *const u8, len),
                )
            };
            f(name, ino, kind);
            0
        }
        let mut f = f;
        let ctx = &mut f as *mut &mut dyn FnMut(&[u8], u32, c_int) as *mut c_void;
        // SAFETY: valid handle; the callback only uses ctx during this call.
        check(unsafe { cs_dir_iterate(self.ptr(), ino, trampoline, ctx) })
    }

    /// Read into `buf` from `off`; returns the bytes read (short only at end of file).
    pub fn read(&self, ino: u32, off: u64, buf: &mut [u8]) -> Result<usize, Code> {
        let total = buf.len();
        let mut done = 0usize;
        while done < total {
            let chunk = &mut buf[done..(done + READ_CHUNK).min(total)];
            let mut got = 0u32;
            // SAFETY: valid handle; chunk is a writable buffer of chunk.len() (<= 1 MiB) bytes.
            check(unsafe {
                cs_read(
                    self.ptr(),
                    ino,
                    off + done as u64,
                    chunk.as_mut_ptr() as *mut c_void,
                    chunk.len() as u32,
                    &mut got,
                )
            })?;
            done += got as usize;
            if (got as usize) < chunk.len() {
                break;
            }
        }
        Ok(done)
    }

    /// Target of symlink `ino` (at most `cap` bytes).
    pub fn readlink(&self, ino: u32, cap: usize) -> Result<Vec<u8>, Code> {
        let mut buf = vec![0u8; cap];
        let mut len = 0u32;
        // SAFETY: valid handle; buf has `cap` writable bytes and the shim never writes more.
        check(unsafe {
            cs_readlink(
                self.ptr(),
                ino,
                buf.as_mut_ptr() as *mut c_char,
                cap as u32,
                &mut len,
            )
        })?;
        buf.truncate(len as usize);
        Ok(buf)
    }

    pub fn unlink_file(&mut self, dir: u32, name: &CStr, ino: u32) -> Result<(), Code> {
        // SAFETY: valid handle and C string.
        check(unsafe { cs_unlink_file(self.ptr(), dir, name.as_ptr(), ino) })
    }

    pub fn rmdir(&mut self, dir: u32, name: &CStr, ino: u32) -> Result<(), Code> {
        // SAFETY: valid handle and C string.
        check(unsafe { cs_rmdir(self.ptr(), dir, name.as_ptr(), ino) })
    }

    pub fn truncate(&mut self, ino: u32) -> Result<(), Code> {
        // SAFETY: valid handle.
        check(unsafe { cs_truncate(self.ptr(), ino) })
    }

    pub fn write(&mut self, ino: u32, data: &[u8]) -> Result<(), Code> {
        let len = u32::try_from(data.len()).map_err(|_| Code::errno(libc::EFBIG))?;
        // SAFETY: valid handle; data is readable for len bytes.
        check(unsafe { cs_write(self.ptr(), ino, data.as_ptr() as *const c_void, len) })
    }

    pub fn create(&mut self, dir: u32, name: &CStr, perm: u32) -> Result<u32, Code> {
        let mut ino = 0u32;
        // SAFETY: valid handle, C string and out-pointer.
        check(unsafe { cs_create(self.ptr(), dir, name.as_ptr(), perm, &mut ino) })?;
        Ok(ino)
    }

    /// Pin the handle's clock (`t`, or the superblock's last write time when 0).
    pub fn pin_time(&mut self, t: i64) -> i64 {
        // SAFETY: valid handle.
        unsafe { cs_pin_time(self.ptr(), t) }
    }

    pub fn set_attr(&mut self, ino: u32, perm: u32, uid: u32, gid: u32) -> Result<(), Code> {
        // SAFETY: valid handle.
        check(unsafe { cs_set_attr(self.ptr(), ino, perm, uid, gid) })
    }

    pub fn mkdir(&mut self, dir: u32, name: &CStr) -> Result<u32, Code> {
        let mut ino = 0u32;
        // SAFETY: valid handle, C string and out-pointer.
        check(unsafe { cs_mkdir(self.ptr(), dir, name.as_ptr(), &mut ino) })?;
        Ok(ino)
    }

    pub fn symlink(&mut self, dir: u32, name: &CStr, target: &CStr) -> Result<u32, Code> {
        let mut ino = 0u32;
        // SAFETY: valid handle, C strings and out-pointer.
        check(unsafe { cs_symlink(self.ptr(), dir, name.as_ptr(), target.as_ptr(), &mut ino) })?;
        Ok(ino)
    }

    /// First free block in `[start, end]`, or None.
    pub fn find_first_free(&self, start: u64, end: u64) -> Result<Option<u64>, Code> {
        let mut b = 0u64;
        // SAFETY: valid handle (bitmaps loaded at open) and out-pointer.
        match unsafe { cs_find_first_free(self.ptr(), start, end, &mut b) } {
            0 => Ok(Some(b)),
            e if e == libc::ENOENT as c_long => Ok(None),
            e => Err(Code(e)),
        }
    }

    /// First used block in `[start, end]`, or None.
    pub fn find_first_used(&self, start: u64, end: u64) -> Result<Option<u64>, Code> {
        let mut b = 0u64;
        // SAFETY: valid handle (bitmaps loaded at open) and out-pointer.
        match unsafe { cs_find_first_used(self.ptr(), start, end, &mut b) } {
            0 => Ok(Some(b)),
            e if e == libc::ENOENT as c_long => Ok(None),
            e => Err(Code(e)),
        }
    }
}

impl Drop for Handle {
    fn drop(&mut self) {
        // SAFETY: the handle is open (close() forgets self); freed without writing back.
        unsafe { cs_close(self.ptr(), 0) };
    }
}
