//! Sealing: a registry of small named operations, each planning a list of actions on a
//! `GuestFs`; one executor applies a plan, so `--dry-run` prints exactly what a run does.

use crate::fs::{FsError, GuestFs, OsInfo};

pub mod exec;
pub mod netcfg;
pub mod ops;
mod overlay;
pub mod plan;
pub mod report;
pub mod select;
pub mod unit;

pub use exec::apply;
pub use plan::{Action, PlannedAction};
pub use report::Report;
pub use select::Selection;

#[derive(Debug, thiserror::Error)]
pub enum SealError {
    #[error("operation {op}")]
    Op {
        op: &'static str,
        #[source]
        source: FsError,
    },
    #[error("unknown operation(s) {} (see `cloudseal ops`){}", quoted(.0), not_file_ops(.0))]
    UnknownOp(Vec<String>),
    #[error(transparent)]
    Fs(#[from] FsError),
}

/// Options that change what some operations plan: the `seal` flags and a recipe's
/// `[seal.options]` keys, one record with the same names and defaults.
#[derive(
    clap::Args, Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize,
)]
#[serde(default, rename_all = "kebab-case", deny_unknown_fields)]
pub struct SealOptions {
    /// Write `uninitialized` into /etc/machine-id (first boot runs presets) instead of
    /// leaving it empty.
    #[arg(long)]
    pub machine_id_uninitialized: bool,
    /// static-ip: rewrite static IP configuration to DHCP instead of only reporting it.
    #[arg(long)]
    pub static_ip_to_dhcp: bool,
    /// user-account: remove only these accounts (comma-separated; all login accounts when
    /// empty).
    #[arg(long, value_name = "LIST", value_delimiter = ',')]
    pub remove_user_accounts: Vec<String>,
    /// user-account: never remove these accounts (comma-separated).
    #[arg(long, value_name = "LIST", value_delimiter = ',')]
    pub keep_user_accounts: Vec<String>,
    /// ssh-hostkeys: do not install the unit that recreates missing host keys at every boot
    /// when nothing in the guest does (sshd then starts only where cloud-init finds a
    /// datasource).
    #[arg(long)]
    pub no_ssh_keygen_guard: bool,
}

/// What an operation plans beyond its globs (pure: reads only).
pub type PlanFn = fn(&dyn GuestFs, &OsInfo, &SealOptions) -> Result<Vec<Action>, FsError>;

/// One named sealing operation, as plain data: most only remove what some globs match; the
/// others have a plan function.
#[derive(Debug)]
pub struct SealOp {
    /// kebab-case; the same name as virt-sysprep's where one exists.
    pub name: &'static str,
    /// One line, for `cloudseal ops`.
    pub summary: &'static str,
    pub default: bool,
    /// Every match is removed, a directory with everything below it.
    pub trees: &'static [&'static str],
    /// Matches are removed when they are not directories (virt-sysprep's `rm` globs).
    pub files: &'static [&'static str],
    /// Paths the globs match that stay.
    pub except: &'static [&'static str],
    /// When set, the plan is this function's alone (the globs are unused).
    pub plan: Option<PlanFn>,
}

impl SealOp {
    /// The base of every operation's definition (`..SealOp::NONE`): no globs, no function.
    pub const NONE: SealOp = SealOp {
        name: "",
        summary: "",
        default: false,
        trees: &[],
        files: &[],
        except: &[],
        plan: None,
    };

    pub fn name(&self) -> &'static str {
        self.name
    }

    pub fn summary(&self) -> &'static str {
        self.summary
    }

    pub fn default_enabled(&self) -> bool {
        self.default
    }

    /// What this operation would do to `fs`. Pure: reads only.
    pub fn plan(
        &self,
        fs: &dyn GuestFs,
        os: &OsInfo,
        opts: &SealOptions,
    ) -> Result<Vec<Action>, FsError> {
        if let Some(plan) = self.plan {
            return plan(fs, os, opts);
        }
        let mut v = ops::paths::remove_globs(fs, self.trees)?;
        v.extend(ops::paths::remove_file_globs(fs, self.files)?);
        v.retain(|a| !self.except.contains(&a.path()));
        Ok(ops::paths::sorted(v))
    }
}

/// A hint when a virt-sysprep operation that is not a file operation was asked for.
fn not_file_ops(names: &[String]) -> &'static str {
    if names
        .iter()
        .any(|n| select::NOT_FILE_OPS.contains(&n.as_str()))
    {
        "; virt-sysprep's customize, script, fs-uuids and lvm-uuids are not file operations"
    } else {
        ""
    }
}

fn quoted(names: &[String]) -> String {
    names
        .iter()
        .map(|n| format!("{n:?}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Plan every selected operation, in registry order. Each operation plans against the guest
/// as the actions before it leave it, so edits of one file compose and nothing is planned
/// twice: the plan printed by `--dry-run` is exactly what [`apply`] does.
pub fn plan_all(
    fs: &dyn GuestFs,
    os: &OsInfo,
    selection: &Selection,
    opts: &SealOptions,
) -> Result<Vec<PlannedAction>, SealError> {
    let mut out = Vec::new();
    let mut overlay = overlay::Overlay::new(fs);
    for op in selection.resolve()? {
        let actions = op
            .plan(&overlay, os, opts)
            .map_err(|source| SealError::Op {
                op: op.name(),
                source,
            })?;
        for action in actions {
            // An operation that planned twice under one tree: keep the first.
            if !matches!(action, Action::Report { .. }) && overlay.is_gone(action.path()) {
                continue;
            }
            overlay.record(&action);
            out.push(PlannedAction {
                op: op.name(),
                action,
            });
        }
    }
    Ok(out)
}
