//! Filesystems inside a disk: detection by magic, and the `GuestFs` view that sealing works on.
//!
//! Guest paths are absolute, '/'-separated strings as seen from inside the guest ("/etc/ssh").
//! An implementation must never resolve a guest path to anything outside the guest.
//! A name that is not UTF-8 travels escaped (see [`name`]): backends `encode` what they read
//! and `decode` what they hand to the filesystem; messages show it with `name::display`.

pub mod clock;
pub mod detect;
pub mod dir;
pub mod ext4;
pub mod fstab;
pub mod mount;
pub mod name;
pub mod os;
pub mod prefix;
pub mod vfat;

/// The operating system found on a root filesystem (from os-release).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct OsInfo {
    /// `ID=` (debian, ubuntu, fedora, rhel, ...).
    pub id: String,
    /// `ID_LIKE=` split on spaces.
    pub id_like: Vec<String>,
    pub version_id: String,
    pub pretty_name: String,
}

/// File type of a guest inode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum FileKind {
    File,
    Dir,
    Symlink,
    Other,
}

/// lstat() of a guest path (symlinks are not followed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileMeta {
    pub kind: FileKind,
    pub size: u64,
    /// Permission bits and type bits as in st_mode.
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirEntry {
    pub name: String,
    pub kind: FileKind,
}

#[derive(Debug, thiserror::Error)]
pub enum FsError {
    #[error("{}", name::display(context))]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
    #[error("corrupt filesystem: {}", name::display(.0))]
    Corrupt(String),
    #[error("unsupported filesystem: {}", name::display(.0))]
    Unsupported(String),
    #[error("{}: {}", name::display(path), name::display(msg))]
    Path { path: String, msg: String },
    #[error(transparent)]
    Within(Box<Within>),
    #[error(transparent)]
    Disk(#[from] crate::disk::DiskError),
}

impl FsError {
    pub fn path(path: &str, msg: impl Into<String>) -> Self {
        FsError::Path {
            path: path.to_string(),
            msg: msg.into(),
        }
    }

    /// `what: error`, the error kept typed (see [`Within`]).
    pub fn within(what: &str, error: FsError) -> Self {
        FsError::Within(Box::new(Within {
            what: what.to_string(),
            error,
        }))
    }
}

/// What was being done when a filesystem error happened, shown as `what: error`. Its source
/// is the error's own, so an io error's cause stays in the chain (a `to_string` of the error
/// would drop it) and no message is printed twice.
#[derive(Debug)]
pub struct Within {
    pub what: String,
    pub error: FsError,
}

impl std::fmt::Display for Within {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", name::display(&self.what), self.error)
    }
}

impl std::error::Error for Within {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.error.source()
    }
}

/// Read access to a guest filesystem: what a seal operation's `plan` needs.
pub trait GuestFs {
    /// lstat; `Ok(None)` when the path (or a parent) does not exist.
    fn metadata(&self, path: &str) -> Result<Option<FileMeta>, FsError>;
    /// Entries of a directory, without "." and "..", sorted by name.
    fn read_dir(&self, path: &str) -> Result<Vec<DirEntry>, FsError>;
    /// Whole content of a regular file; errors if it is larger than `limit` bytes.
    fn read_file(&self, path: &str, limit: u64) -> Result<Vec<u8>, FsError>;
    /// Target of a symlink.
    fn read_link(&self, path: &str) -> Result<String, FsError>;
}

/// Write access: what the seal executor and customize steps need.
pub trait GuestFsMut: GuestFs {
    /// Remove a file, symlink or special file (not a directory).
    fn remove_file(&mut self, path: &str) -> Result<(), FsError>;
    /// Remove an empty directory.
    fn remove_dir(&mut self, path: &str) -> Result<(), FsError>;
    /// Cut a regular file to zero length, keeping inode, owner and mode.
    fn truncate(&mut self, path: &str) -> Result<(), FsError>;
    /// Replace a regular file's content, keeping owner and mode; create it with `mode`,
    /// uid 0 and gid 0 if it does not exist (the parent must exist).
    fn write_file(&mut self, path: &str, data: &[u8], mode: u32) -> Result<(), FsError>;
    /// Create a directory (the parent must exist, `path` must not) with permission bits
    /// `mode`, owner 0:0.
    fn mkdir(&mut self, path: &str, mode: u32) -> Result<(), FsError>;
    /// Create a symlink `path` -> `target` (the target is stored, never resolved), owner 0:0.
    fn symlink(&mut self, path: &str, target: &str) -> Result<(), FsError>;
    /// Set the permission bits (low 12 bits of `mode`); a final symlink is not followed.
    fn set_mode(&mut self, path: &str, mode: u32) -> Result<(), FsError>;
    /// Set owner and group; a final symlink is not followed (the link itself changes).
    fn set_owner(&mut self, path: &str, uid: u32, gid: u32) -> Result<(), FsError>;
    /// Flush everything to the underlying storage.
    fn flush(&mut self) -> Result<(), FsError>;
    /// Stamp every timestamp written from now on as `t` (seconds since the epoch, see
    /// [`clock`]; `None`: the filesystem's own last write time, or where it records none, as
    /// vfat, the DOS epoch), so reruns are byte-identical. Returns the time used; `None` where
    /// nothing is pinned (a kernel mount, `DirFs`, pins only a given time, and only atime and
    /// mtime: the kernel stamps the rest).
    fn pin_time(&mut self, _t: Option<i64>) -> Option<i64> {
        None
    }
}

/// Join a guest directory and a name.
pub fn join(dir: &str, name: &str) -> String {
    if dir.ends_with('/') {
        format!("{dir}{name}")
    } else {
        format!("{dir}/{name}")
    }
}
