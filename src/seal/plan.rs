//! Actions that operations plan and the executor applies.

/// One change to a guest filesystem.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "action", rename_all = "kebab-case")]
pub enum Action {
    /// Remove a file, symlink or special file.
    Remove { path: String },
    /// Remove a directory and everything below it.
    RemoveTree { path: String },
    /// Remove everything inside a directory, keeping the directory itself.
    EmptyDir { path: String },
    /// Cut a file to zero length, keeping the inode, owner and mode.
    Truncate { path: String },
    /// Replace a file's content (an edited config file), keeping owner and mode.
    Write {
        path: String,
        #[serde(skip)]
        content: Vec<u8>,
        /// Why, for the report ("removed HWADDR line").
        note: String,
    },
    /// Something found that the operation reports but does not change (static IP config).
    Report { path: String, note: String },
}

impl Action {
    pub fn path(&self) -> &str {
        match self {
            Action::Remove { path }
            | Action::RemoveTree { path }
            | Action::EmptyDir { path }
            | Action::Truncate { path }
            | Action::Write { path, .. }
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
