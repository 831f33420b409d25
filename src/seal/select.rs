//! Which operations run: virt-sysprep's `--operations` semantics, plus `--enable`/`--disable`.
//!
//! `--operations a,b,-c`: the first one starts from an empty set, later ones change the set
//! built so far; `defaults` and `all` name the default and all operations, a leading `-`
//! removes. `--enable a,b` adds to the set so far, or to the defaults when nothing was chosen
//! yet (virt-sysprep's `--enable` is an alias of `--operations` and starts from nothing: an
//! easy way to ship an image with its host keys). `--disable a,b` removes from the set so
//! far, or from the defaults. No option at all: the defaults.

use std::collections::BTreeSet;

use super::SealError;
use super::SealOp;
use super::ops::REGISTRY;

/// virt-sysprep operations that are not file operations: removing one is a no-op, asking for
/// one is an error.
pub const NOT_FILE_OPS: &[&str] = &[
    "customize",
    "script",
    "fs-uuids",
    "lvm-uuids",
    "lvm-system-devices",
];

/// Operations that remove what makes each instance of an image a distinct machine, with what
/// stays in the image when one is not selected.
pub const IDENTITY_OPS: &[(&str, &str)] = &[
    (
        "ssh-hostkeys",
        "the SSH host keys (every instance would share them)",
    ),
    (
        "machine-id",
        "/etc/machine-id (every instance would share it)",
    ),
];

/// The selection as it is written: `--operations` / `--enable` / `--disable`, and a recipe's
/// `[seal]` keys of the same names (a string or a list there). One record for both.
#[derive(
    clap::Args, Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize,
)]
#[serde(default, rename_all = "kebab-case", deny_unknown_fields)]
pub struct SelectArgs {
    /// Run exactly these operations (comma-separated; `-name` drops one, `defaults` and
    /// `all` expand), as virt-sysprep's --operations.
    #[arg(long, value_name = "LIST")]
    #[serde(deserialize_with = "one_or_many")]
    pub operations: Vec<String>,
    /// Add operations to the defaults, or to --operations when given (same syntax as
    /// --operations; unlike virt-sysprep's --enable, which replaces the defaults).
    #[arg(long, value_name = "LIST")]
    #[serde(deserialize_with = "one_or_many")]
    pub enable: Vec<String>,
    /// Remove operations from the selection.
    #[arg(long, value_name = "LIST")]
    #[serde(deserialize_with = "one_or_many")]
    pub disable: Vec<String>,
}

impl SelectArgs {
    pub fn selection(&self) -> Selection {
        Selection::from_args(&self.operations, &self.enable, &self.disable)
    }
}

/// A string or a list of strings.
fn one_or_many<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    use serde::Deserialize;
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum OneOrMany {
        One(String),
        Many(Vec<String>),
    }
    Ok(match OneOrMany::deserialize(d)? {
        OneOrMany::One(s) => vec![s],
        OneOrMany::Many(v) => v,
    })
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Step {
    Operations(String),
    Enable(String),
    Disable(String),
}

/// An ordered list of selection options, resolved against the registry.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Selection {
    steps: Vec<Step>,
}

impl Selection {
    /// The default operations.
    pub fn defaults() -> Self {
        Self::default()
    }

    /// `--operations LIST`.
    pub fn operations(mut self, list: &str) -> Self {
        self.steps.push(Step::Operations(list.to_string()));
        self
    }

    /// `--enable LIST`: add to the set so far (the defaults when none yet); same syntax as
    /// `--operations`.
    pub fn enable(mut self, list: &str) -> Self {
        self.steps.push(Step::Enable(list.to_string()));
        self
    }

    /// `--disable LIST`: remove from the set so far (the defaults when none yet).
    pub fn disable(mut self, list: &str) -> Self {
        self.steps.push(Step::Disable(list.to_string()));
        self
    }

    /// From command-line values, which lose the relative order of different options:
    /// every `--operations`, then every `--enable`, then every `--disable`.
    pub fn from_args(operations: &[String], enable: &[String], disable: &[String]) -> Self {
        let mut s = Self::defaults();
        for o in operations {
            s = s.operations(o);
        }
        for e in enable {
            s = s.enable(e);
        }
        for d in disable {
            s = s.disable(d);
        }
        s
    }

    /// The selected operations in registry order.
    pub fn resolve(&self) -> Result<Vec<&'static SealOp>, SealError> {
        let all: Vec<&'static str> = REGISTRY.iter().map(|op| op.name()).collect();
        let defaults: Vec<&'static str> = REGISTRY
            .iter()
            .filter(|op| op.default_enabled())
            .map(|op| op.name())
            .collect();
        let mut unknown: Vec<String> = Vec::new();
        let mut state: Option<BTreeSet<&'static str>> = None;
        for step in &self.steps {
            let (list, base_is_defaults) = match step {
                Step::Operations(l) => (l, false),
                Step::Enable(l) | Step::Disable(l) => (l, true),
            };
            let mut set = state.take().unwrap_or_else(|| {
                if base_is_defaults {
                    defaults.iter().copied().collect()
                } else {
                    BTreeSet::new()
                }
            });
            for item in list.split(',').map(str::trim) {
                let (remove, name) = match (step, item.strip_prefix('-')) {
                    (Step::Disable(_), _) => (true, item),
                    (Step::Operations(_) | Step::Enable(_), Some(n)) => (true, n),
                    (Step::Operations(_) | Step::Enable(_), None) => (false, item),
                };
                let names: Vec<&'static str> = match name {
                    "all" => all.clone(),
                    "defaults" => defaults.clone(),
                    n => match all.iter().find(|a| **a == n) {
                        Some(a) => vec![*a],
                        None if remove && NOT_FILE_OPS.contains(&n) => vec![],
                        None => {
                            unknown.push(n.to_string());
                            vec![]
                        }
                    },
                };
                for n in names {
                    if remove {
                        set.remove(n);
                    } else {
                        set.insert(n);
                    }
                }
            }
            state = Some(set);
        }
        if !unknown.is_empty() {
            unknown.dedup();
            return Err(SealError::UnknownOp(unknown));
        }
        let chosen: BTreeSet<&str> = state.unwrap_or_else(|| defaults.iter().copied().collect());
        Ok(REGISTRY
            .iter()
            .copied()
            .filter(|op| chosen.contains(op.name()))
            .collect())
    }
    /// The [`IDENTITY_OPS`] this selection leaves out: (operation, what stays in the image).
    pub fn identity_left_out(&self) -> Result<Vec<(&'static str, &'static str)>, SealError> {
        let chosen = self.resolve()?;
        Ok(IDENTITY_OPS
            .iter()
            .copied()
            .filter(|(name, _)| !chosen.iter().any(|op| op.name() == *name))
            .collect())
    }
}
