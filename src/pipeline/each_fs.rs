//! Sealing one filesystem of the image, by the backend that fits it (libext2fs or fatfs over
//! a copy-on-write overlay, or a kernel mount of a staging copy). The first filesystem with
//! an os-release is the root, sealed between the hooks; the others are sealed where the
//! root's fstab mounts them. Every one has its free space turned into holes.

use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::sync::Arc;

use super::holes::Range;
use crate::disk::BlockDev;
use crate::disk::raw::RawFile;
use crate::fs::FsError;
use crate::fs::ext4::{Ext4Error, Ext4Fs};
use crate::fs::prefix::PrefixFs;
use crate::fs::vfat::{VfatFs, fat};
use crate::fs::{GuestFsMut, OsInfo, fstab, mount, os};
use crate::inspect::PartReport;
use crate::output::OutputOptions;
use crate::seal;

use super::cow::{FsOverlay, Pages};
use super::stream::OverlayStream;
use super::{FsReport, ImageError, RootHooks, SealImageOptions, replay, stage};

/// What sealing the filesystems one by one accumulates for the output.
pub(super) struct State<'a> {
    pub dev: Arc<dyn BlockDev>,
    pub opts: &'a SealImageOptions,
    /// Where private copies of filesystems go (next to the first output).
    pub staging: std::path::PathBuf,
    pub sealed_root: bool,
    /// Disk ranges that become zeros (free blocks of userspace filesystems).
    pub holes: Vec<Range>,
    /// (start, len, pages written) per userspace filesystem.
    pub written: Vec<(u64, u64, Pages)>,
    /// (start, len, device): filesystems whose bytes now come from a private copy.
    pub replaced: Vec<(u64, u64, Arc<dyn BlockDev>)>,
    /// Why the first filesystem that needed a mount could not have one (auto backend).
    pub unmounted: Option<mount::MountError>,
    /// First pass: a filesystem met before the root is deferred, not finished.
    pub deferring: bool,
    /// The root's /etc/fstab, once sealed.
    pub fstab: Vec<fstab::Entry>,
    /// The root's OS, for sealing the other filesystems.
    pub root_os: OsInfo,
    /// What every edit stamps: the pinned time, else, once the root is open, its own last
    /// write time (`None` while unknown, or when the kernel mounted the root).
    pub time: Option<i64>,
}

/// The directory for private copies: beside the first output, else the temp directory.
pub(super) fn staging_dir(outputs: &[(&Path, &OutputOptions)]) -> std::path::PathBuf {
    outputs
        .first()
        .and_then(|(o, _)| o.parent())
        .filter(|d| !d.as_os_str().is_empty())
        .map_or_else(std::env::temp_dir, Path::to_path_buf)
}

/// What became of one filesystem.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Outcome {
    Done,
    /// Not the root, met before the root: handled again once the root's fstab is known.
    Deferred,
}

impl State<'_> {
    /// Seal `fs`: as the root if it is the first with an os-release (hooks, plan, apply
    /// unless a dry run); otherwise as the guest sees it mounted, if the root's fstab mounts
    /// it. `Deferred` when it is not the root and no root was found yet (`self.deferring`).
    fn seal_fs(
        &mut self,
        fs: &mut dyn GuestFsMut,
        f: &PartReport,
        what_fs: &str,
        fr: &mut FsReport,
        hooks: &mut RootHooks<'_>,
    ) -> Result<Outcome, ImageError> {
        if !self.sealed_root && os::is_root(fs)? {
            self.seal_root(fs, what_fs, fr, hooks)?;
            return Ok(Outcome::Done);
        }
        if !self.sealed_root && self.deferring {
            return Ok(Outcome::Deferred);
        }
        // Even a filesystem left alone is written back on close (its superblock).
        fs.pin_time(self.time);
        let at = fstab::mount_point(&self.fstab, &f.partition, &f.filesystem).map(str::to_string);
        let Some(mut view) = at.as_deref().and_then(|at| PrefixFs::new(fs, at)) else {
            add_note(
                fr,
                "not the root filesystem and not in its fstab: files left alone",
            );
            return Ok(Outcome::Done);
        };
        let plan = seal::plan_all(&view, &self.root_os, &self.opts.selection, &self.opts.seal)?;
        if !self.opts.dry_run {
            fr.changes = Some(seal::apply(&mut view, &plan)?);
        }
        fr.planned = plan;
        add_note(
            fr,
            &format!(
                "mounted at {} by the root's fstab: sealed as the guest sees it",
                at.unwrap_or_default()
            ),
        );
        Ok(Outcome::Done)
    }

    fn seal_root(
        &mut self,
        fs: &mut dyn GuestFsMut,
        what_fs: &str,
        fr: &mut FsReport,
        hooks: &mut RootHooks<'_>,
    ) -> Result<(), ImageError> {
        self.sealed_root = true;
        let dry = self.opts.dry_run;
        let customize = |source| ImageError::Customize {
            what: what_fs.to_string(),
            source,
        };
        // Before any change: the root's own last write time (unless pinned) is the time
        // of every edit, here and on the filesystems after it.
        if let Some(t) = fs.pin_time(self.time) {
            self.time = Some(t);
        }
        let info = os::read_os_release(fs)?.unwrap_or_default();
        let plan = seal::plan_all(fs, &info, &self.opts.selection, &self.opts.seal)?;
        if !dry {
            fr.changes = Some(seal::apply(fs, &plan)?);
        }
        if let Some(h) = hooks.after_seal.as_mut().filter(|_| !dry) {
            h(fs).map_err(customize)?;
        }
        // What the guest mounts where, once customized: the other filesystems' places.
        self.fstab = fstab::read(fs)?;
        fr.planned = plan;
        self.root_os = info.clone();
        fr.os = Some(info);
        Ok(())
    }

    /// ext2/3/4 through libext2fs over a copy-on-write overlay of the input.
    pub fn userspace(
        &mut self,
        f: &PartReport,
        what_fs: &str,
        fr: &mut FsReport,
        hooks: &mut RootHooks<'_>,
    ) -> Result<Outcome, ImageError> {
        let writable = !self.opts.dry_run;
        let (start, size) = (f.partition.start, f.partition.size);
        let pages = Pages::default();
        let io = FsOverlay::new(
            Arc::clone(&self.dev),
            start,
            size,
            writable,
            Pages::clone(&pages),
        );
        let mut replayed = None;
        let mut fs = match Ext4Fs::open_io(Box::new(io), writable, what_fs) {
            Err(Ext4Error::NeedsRecovery { .. }) if self.opts.replay_journal => {
                let copy =
                    replay::recovered_copy(self.dev.as_ref(), start, size, &self.staging, what_fs)?;
                replayed = Some(Arc::clone(&copy));
                let io = FsOverlay::new(copy, 0, size, writable, Pages::clone(&pages));
                Ext4Fs::open_io(Box::new(io), writable, what_fs)?
            }
            other => other?,
        };
        if self.seal_fs(&mut fs, f, what_fs, fr, hooks)? == Outcome::Deferred {
            // Nothing was written: the pages and the recovered copy are simply dropped.
            return Ok(Outcome::Deferred);
        }
        if let Some(copy) = replayed {
            add_note(fr, "journal replayed by e2fsck -fy on a private copy");
            self.replaced.push((start, size, copy));
        }
        // The in-memory bitmap includes this run's edits.
        let free = fs.free_ranges()?;
        fs.close()?;
        self.written.push((start, size, pages));
        self.punch(start, size, free.iter().map(|r| (r.start, r.len)), fr)?;
        Ok(Outcome::Done)
    }

    /// Free (offset, len) ranges of the filesystem of `size` bytes at `start` become holes;
    /// never past the partition, whatever the filesystem claims.
    fn punch(
        &mut self,
        start: u64,
        size: u64,
        free: impl IntoIterator<Item = (u64, u64)>,
        fr: &mut FsReport,
    ) -> Result<(), ImageError> {
        for (off, len) in free {
            if off >= size {
                continue;
            }
            let len = len.min(size - off);
            let at = start.checked_add(off).ok_or(ImageError::TooLarge)?;
            fr.punched_bytes += len;
            self.holes.push(Range { start: at, len });
        }
        Ok(())
    }

    /// vfat through fatfs over a copy-on-write overlay; its free clusters become holes.
    pub fn userspace_vfat(
        &mut self,
        f: &PartReport,
        what_fs: &str,
        fr: &mut FsReport,
        hooks: &mut RootHooks<'_>,
    ) -> Result<Outcome, ImageError> {
        let (start, size) = (f.partition.start, f.partition.size);
        let (dev, pages) = (Arc::clone(&self.dev), Pages::default());
        let overlay = |writable| {
            let io = FsOverlay::new(
                Arc::clone(&dev),
                start,
                size,
                writable,
                Pages::clone(&pages),
            );
            OverlayStream::new(io, size)
        };
        let mut fs = VfatFs::open(overlay(!self.opts.dry_run), size, what_fs)?;
        if self.seal_fs(&mut fs, f, what_fs, fr, hooks)? == Outcome::Deferred {
            return Ok(Outcome::Deferred);
        }
        fs.close()?;
        // The table as the edits left it.
        let table =
            fat::Table::read(&mut overlay(false), size).map_err(|e| FsError::within(what_fs, e))?;
        self.written.push((start, size, pages));
        self.punch(start, size, table.free_ranges(), fr)?;
        Ok(Outcome::Done)
    }

    /// Any filesystem the kernel mounts: a private copy, loop-mounted, sealed, trimmed; the
    /// copy's holes (the trimmed free space) carry through to the output.
    pub fn mounted(
        &mut self,
        f: &PartReport,
        what_fs: &str,
        fr: &mut FsReport,
        hooks: &mut RootHooks<'_>,
    ) -> Result<Outcome, ImageError> {
        let (start, size) = (f.partition.start, f.partition.size);
        if let Err(e) = mount::can_mount(&f.filesystem, what_fs) {
            // auto: a filesystem we cannot mount here is carried over as it is, said in the
            // report; it only becomes the error if no root filesystem gets sealed at all.
            if self.opts.backend == mount::Backend::Auto {
                fr.backend = "none";
                fr.note = Some(format!("left untouched: {e}"));
                self.unmounted.get_or_insert(e);
                return Ok(Outcome::Done);
            }
            return Err(e.into());
        }
        let file = stage::anonymous_copy(self.dev.as_ref(), start, size, &self.staging, what_fs)?;
        let (outcome, m) = mount::with_mounted(&file, 0, size, &f.filesystem, what_fs, |fs, _| {
            self.seal_fs(fs, f, what_fs, fr, hooks)
        })?;
        if outcome? == Outcome::Deferred {
            return Ok(Outcome::Deferred);
        }
        // What the output will not store: the staging copy's holes (never copied, or
        // punched by FITRIM). FITRIM's own count is what it examined, not what it freed.
        fr.punched_bytes = holes(size, file.metadata(), what_fs)?;
        log::debug!("{what_fs}: FITRIM reported {} bytes", m.trimmed);
        if m.layout != mount::Layout::default() {
            fr.layout = Some(m.layout);
        }
        let copy = RawFile::open(file, format!("{what_fs} (staging copy)").into())
            .map_err(ImageError::Read)?;
        self.replaced.push((start, size, Arc::new(copy)));
        Ok(Outcome::Done)
    }
}

/// The bytes of a staging copy of `size` bytes that hold nothing (holes), from its metadata.
fn holes(size: u64, md: std::io::Result<std::fs::Metadata>, what: &str) -> Result<u64, ImageError> {
    let md =
        md.map_err(|e| ImageError::io(format!("{what}: reading the staging copy's size"), e))?;
    Ok(size.saturating_sub(md.blocks() * 512))
}

fn add_note(fr: &mut FsReport, n: &str) {
    fr.note = Some(match fr.note.take() {
        Some(before) => format!("{before}; {n}"),
        None => n.to_string(),
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Regression: a failed stat of the staging copy reported 0 bytes punched.
    #[test]
    fn unreadable_staging_metadata_is_an_error_not_zero_punched() {
        let md = Err(std::io::Error::from_raw_os_error(libc::EIO));
        let err = holes(1 << 20, md, "partition 2 (xfs)").unwrap_err();
        assert_eq!(
            err.to_string(),
            "partition 2 (xfs): reading the staging copy's size"
        );
        assert!(std::error::Error::source(&err).is_some());
    }

    #[test]
    fn holes_are_what_the_copy_does_not_allocate() {
        let f = tempfile::tempfile().unwrap();
        f.set_len(1 << 20).unwrap();
        assert_eq!(holes(1 << 20, f.metadata(), "p").unwrap(), 1 << 20);
    }
}
