//! Sealing: a registry of small named operations, each planning a list of actions on a
//! `GuestFs`; one executor applies a plan, so `--dry-run` prints exactly what a run does.

use crate::fs::{FsError, GuestFs, OsInfo};

pub mod ops;
pub mod plan;

pub use plan::{Action, PlannedAction};

#[derive(Debug, thiserror::Error)]
pub enum SealError {
    #[error("operation {op}")]
    Op {
        op: &'static str,
        #[source]
        source: FsError,
    },
    #[error("unknown operation {0:?} (see `cloudseal ops`)")]
    UnknownOp(String),
    #[error(transparent)]
    Fs(#[from] FsError),
}

/// Options that change what some operations plan (from the CLI or a recipe).
#[derive(Debug, Clone, Default)]
pub struct SealOptions {
    /// Write `uninitialized` into /etc/machine-id instead of leaving it empty.
    pub machine_id_uninitialized: bool,
    /// Rewrite static IP configuration to DHCP instead of only reporting it.
    pub static_ip_to_dhcp: bool,
}

/// One named sealing operation.
pub trait SealOp: Sync {
    /// kebab-case; the same name as virt-sysprep's where one exists.
    fn name(&self) -> &'static str;
    /// One line, for `cloudseal ops`.
    fn summary(&self) -> &'static str;
    fn default_enabled(&self) -> bool;
    /// What this operation would do to `fs`. Pure: reads only.
    fn plan(
        &self,
        fs: &dyn GuestFs,
        os: &OsInfo,
        opts: &SealOptions,
    ) -> Result<Vec<Action>, FsError>;
}
