//! Atomic files: a temporary file in the destination directory, fsynced and renamed over the
//! final name only when everything succeeded. Dropping an uncommitted `AtomicFile` removes the
//! temporary, so errors and interrupts leave nothing under the final name. The one way the
//! crate writes a file: outputs, manifests, downloaded base images.

use std::fs::File;
use std::io::Write;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, OnceLock};

use super::OutputError;

pub struct AtomicFile {
    tmp: Option<tempfile::NamedTempFile>,
    dest: PathBuf,
    force: bool,
}

impl AtomicFile {
    /// Create the temporary next to `dest`; fails if `dest` exists and `force` is off.
    pub fn create(dest: &Path, force: bool) -> Result<Self, OutputError> {
        if !force && dest.symlink_metadata().is_ok() {
            return Err(OutputError::Exists(dest.to_path_buf()));
        }
        let name = dest
            .file_name()
            .ok_or_else(|| OutputError::Invalid(format!("{} is not a file name", dest.display())))?
            .to_string_lossy()
            .into_owned();
        let dir = match dest.parent() {
            Some(p) if !p.as_os_str().is_empty() => p,
            _ => Path::new("."),
        };
        // 0666 less the umask, as any other tool's output (qemu-img, cp); tempfile's own
        // default, 0600, would hide a golden image from the web server or group that serves it.
        let tmp = tempfile::Builder::new()
            .prefix(&format!(".{name}."))
            .suffix(".cloudseal-tmp")
            .permissions(std::fs::Permissions::from_mode(0o666))
            .tempfile_in(dir)
            .map_err(|e| {
                OutputError::io(format!("creating a temporary file in {}", dir.display()), e)
            })?;
        Ok(AtomicFile {
            tmp: Some(tmp),
            dest: dest.to_path_buf(),
            force,
        })
    }

    pub fn file(&self) -> &File {
        // Only `commit` takes the temporary, and it consumes self.
        self.tmp
            .as_ref()
            .map(|t| t.as_file())
            .expect("temporary file present until commit")
    }

    /// Path of the temporary file (for tests and messages).
    pub fn temp_path(&self) -> Option<&Path> {
        self.tmp.as_ref().map(|t| t.path())
    }

    /// fsync the data and metadata.
    pub fn sync(&self) -> Result<(), OutputError> {
        self.file()
            .sync_all()
            .map_err(|e| OutputError::io(format!("writing {}", self.dest.display()), e))
    }

    /// (file length, bytes allocated on the host).
    pub fn sizes(&self) -> Result<(u64, u64), OutputError> {
        let md = self
            .file()
            .metadata()
            .map_err(|e| OutputError::io(format!("writing {}", self.dest.display()), e))?;
        Ok((md.len(), md.blocks() * 512))
    }

    /// Rename the temporary over the final name (refusing to replace one unless forced), then
    /// fsync the directory so the rename is durable.
    pub fn commit(mut self) -> Result<(), OutputError> {
        let tmp = self
            .tmp
            .take()
            .expect("temporary file present until commit");
        let res = if self.force {
            tmp.persist(&self.dest)
        } else {
            tmp.persist_noclobber(&self.dest)
        };
        if let Err(e) = res {
            let exists = e.error.kind() == std::io::ErrorKind::AlreadyExists;
            drop(e.file); // removes the temporary
            return Err(if exists {
                OutputError::Exists(self.dest.clone())
            } else {
                OutputError::io(
                    format!("renaming the temporary file to {}", self.dest.display()),
                    e.error,
                )
            });
        }
        let dir = match self.dest.parent() {
            Some(p) if !p.as_os_str().is_empty() => p,
            _ => Path::new("."),
        };
        File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(|e| OutputError::io(format!("syncing directory {}", dir.display()), e))
    }
}

/// Write `data` to `dest` atomically (replacing it only when `force`), durable on return.
pub fn write_file(dest: &Path, data: &[u8], force: bool) -> Result<(), OutputError> {
    let f = AtomicFile::create(dest, force)?;
    f.file()
        .write_all(data)
        .map_err(|e| OutputError::io(format!("writing {}", dest.display()), e))?;
    f.sync()?;
    f.commit()
}

/// Refuse to write `dest` when it is `input` (same path or same file through another name).
pub fn check_not_same_file(input: &Path, dest: &Path) -> Result<(), OutputError> {
    if let (Ok(a), Ok(b)) = (input.metadata(), dest.metadata())
        && a.dev() == b.dev()
        && a.ino() == b.ino()
    {
        return Err(OutputError::SameAsInput(dest.to_path_buf()));
    }
    let canon = |p: &Path| -> Option<PathBuf> {
        let parent = match p.parent() {
            Some(d) if !d.as_os_str().is_empty() => d,
            _ => Path::new("."),
        };
        Some(parent.canonicalize().ok()?.join(p.file_name()?))
    };
    match (canon(input), canon(dest)) {
        (Some(a), Some(b)) if a == b => Err(OutputError::SameAsInput(dest.to_path_buf())),
        _ => Ok(()),
    }
}

/// A flag set by SIGINT or SIGTERM, for [`super::OutputOptions::cancel`]. Installed once per
/// process; a second signal terminates the process at once.
pub fn interrupt_flag() -> Result<Arc<AtomicBool>, OutputError> {
    static FLAG: OnceLock<Arc<AtomicBool>> = OnceLock::new();
    if let Some(f) = FLAG.get() {
        return Ok(f.clone());
    }
    let flag = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        // Registered first, so it sees the flag still clear on the first signal.
        signal_hook::flag::register_conditional_shutdown(sig, 130, flag.clone())
            .map_err(|e| OutputError::io("installing a signal handler", e))?;
        signal_hook::flag::register(sig, flag.clone())
            .map_err(|e| OutputError::io("installing a signal handler", e))?;
    }
    Ok(FLAG.get_or_init(|| flag).clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn write_file_replaces_only_when_forced_and_leaves_no_temporary() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("m.json");
        write_file(&p, b"one\n", false).unwrap();
        assert!(matches!(
            write_file(&p, b"two\n", false),
            Err(OutputError::Exists(_))
        ));
        write_file(&p, b"three\n", true).unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"three\n");
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["m.json"]);
    }
}
