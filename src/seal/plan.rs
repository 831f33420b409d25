//! Actions that operations plan and the executor applies. Paths serialize in their
//! `fs::name::display` form (escaped bytes as `\xNN`).

/// One change to a guest filesystem.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "action", rename_all = "kebab-case")]
pub enum Action {
    /// Remove a file, symlink or special file.
    Remove {
        #[serde(serialize_with = "crate::fs::name::serialize")]
        path: String,
    },
    /// Remove a directory and everything below it.
    RemoveTree {
        #[serde(serialize_with = "crate::fs::name::serialize")]
        path: String,
    },
    /// Remove everything inside a directory, keeping the directory itself.
    EmptyDir {
        #[serde(serialize_with = "crate::fs::name::serialize")]
        path: String,
    },
    /// Cut a file to zero length, keeping the inode, owner and mode.
    Truncate {
        #[serde(serialize_with = "crate::fs::name::serialize")]
        path: String,
    },
    /// Replace a file's content (an edited config file), keeping owner and mode.
    Write {
        #[serde(serialize_with = "crate::fs::name::serialize")]
        path: String,
        #[serde(skip)]
        content: Vec<u8>,
        /// Why, for the report ("removed HWADDR line").
        note: String,
    },
    /// Create a new file (a unit cloudseal installs), mode 0644, owner root; its parent must
    /// exist by then.
    Create {
        #[serde(serialize_with = "crate::fs::name::serialize")]
        path: String,
        #[serde(skip)]
        content: Vec<u8>,
        note: String,
    },
    /// Create a directory, mode 0755, owner root (nothing to do when it is one already).
    Mkdir {
        #[serde(serialize_with = "crate::fs::name::serialize")]
        path: String,
    },
    /// Create a symlink `path` -> `target` (the target stored as given, never resolved).
    Symlink {
        #[serde(serialize_with = "crate::fs::name::serialize")]
        path: String,
        #[serde(serialize_with = "crate::fs::name::serialize")]
        target: String,
    },
    /// Something found that the operation reports but does not change (static IP config).
    Report {
        #[serde(serialize_with = "crate::fs::name::serialize")]
        path: String,
        note: String,
    },
}

impl Action {
    pub fn path(&self) -> &str {
        match self {
            Action::Remove { path }
            | Action::RemoveTree { path }
            | Action::EmptyDir { path }
            | Action::Truncate { path }
            | Action::Write { path, .. }
            | Action::Create { path, .. }
            | Action::Mkdir { path }
            | Action::Symlink { path, .. }
            | Action::Report { path, .. } => path,
        }
    }
}

/// An action with the operation that planned it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct PlannedAction {
    pub op: &'static str,
    #[serde(flatten)]
    pub action: Action,
}
