//! Early writeback: the output is fsynced before the rename, and a single fsync at the end
//! would wait for the whole file to reach the disk after the last byte is written. Asking the
//! kernel to start writing finished ranges while later ones are still being produced lets the
//! disk work in parallel with reading and compressing, so the final fsync has little left.

use std::fs::File;

use nix::fcntl::{PosixFadviseAdvice, posix_fadvise};

/// Start writeback once this much has been written since the last start.
const STEP: u64 = 32 << 20;

pub struct Writeback<'a> {
    file: &'a File,
    /// Everything below this offset has been handed to the kernel already.
    started: u64,
}

impl<'a> Writeback<'a> {
    pub fn new(file: &'a File) -> Self {
        Writeback { file, started: 0 }
    }

    /// Everything below `end` is written and will not be rewritten: start writing it out.
    ///
    /// POSIX_FADV_DONTNEED starts asynchronous writeback of the dirty pages in the range
    /// (Linux `generic_fadvise`) and only drops pages that are already clean, so the range is
    /// passed once, right after it was written, while its pages are still dirty (they stay
    /// cached for a read-back). Advisory: an error changes nothing but speed.
    pub fn written_up_to(&mut self, end: u64) {
        if end < self.started + STEP {
            return;
        }
        let (Ok(off), Ok(len)) = (
            i64::try_from(self.started),
            i64::try_from(end - self.started),
        ) else {
            return;
        };
        let _ = posix_fadvise(self.file, off, len, PosixFadviseAdvice::POSIX_FADV_DONTNEED);
        self.started = end;
    }
}
