//! The recipe file (TOML): the same kebab-case keys as the long command-line flags, every
//! table with `deny_unknown_fields` so a typo is an error, not a silently ignored key.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::glance::{Auth, ImageOptions, UploadOptions};
use crate::output::OutputSpec;
use crate::seal::select::SelectArgs;
use crate::seal::{SealOptions, Selection};

/// A parsed recipe, with `${var}` already substituted. Steps and outputs keep the line they
/// start on, for error messages.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Recipe {
    pub base: Option<Base>,
    pub customize: Vec<Located<Step>>,
    pub seal: SealSection,
    pub output: Vec<Located<Output>>,
    pub glance: Option<GlanceSection>,
    /// The variables as resolved (defaults from `[vars]`, then the environment, then `--var`).
    pub vars: BTreeMap<String, String>,
}

/// An item with the 1-based line of the recipe it came from.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Located<T> {
    pub line: usize,
    #[serde(flatten)]
    pub item: T,
}

/// `[base]`: the image to start from.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct Base {
    /// A local image file (relative paths are relative to the recipe's directory).
    pub path: Option<String>,
    /// An http(s) URL; downloads are cached and need `sha256`.
    pub url: Option<String>,
    /// Expected sha256 of the base image (hex); required for a URL, checked for a path too.
    pub sha256: Option<String>,
}

/// `[seal]`: which operations run (`operations`, `enable`, `disable`: the record the
/// `seal` flags are) and their options (`[seal.options]`, also the `seal` flags' record).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "kebab-case", deny_unknown_fields)]
pub struct SealSection {
    /// Run the sealing operations at all (false: customize and convert only).
    pub enabled: bool,
    #[serde(flatten)]
    pub select: SelectArgs,
    /// Options of individual operations (`[seal.options]`).
    pub options: SealOptions,
}

impl SealSection {
    /// The operations this section selects (none when `enabled = false`).
    pub fn selection(&self) -> Selection {
        if self.enabled {
            self.select.selection()
        } else {
            // Customize, sparsify and convert only.
            Selection::defaults().operations("-all")
        }
    }
}

impl Default for SealSection {
    fn default() -> Self {
        SealSection {
            enabled: true,
            select: SelectArgs::default(),
            options: SealOptions::default(),
        }
    }
}

/// `[[output]]`: one image to write: its path and the `convert` / `seal` output flags as keys
/// (`format`, `compress` or `compression`, `level`, `cluster-size`, `no-checksums`,
/// `checksum-file`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct Output {
    /// Where to write it (relative to the recipe's directory).
    pub path: String,
    #[serde(flatten)]
    pub spec: OutputSpec,
}

/// `[glance]`: what `cloudseal upload` takes, as the same records: the image's keys
/// (`name`, `visibility`, ...), the upload's (`import`, `retries`, ...) and the login's
/// (`os-cloud`, `os-auth-url`, ...), each with its flag's name and default.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct GlanceSection {
    /// Which `[[output]]` to upload (its path); the first one when unset.
    pub output: Option<String>,
    /// The older spelling of `os-cloud`: a cloud from clouds.yaml (else the OS_* environment).
    pub cloud: Option<String>,
    #[serde(flatten)]
    pub image: ImageOptions,
    #[serde(flatten)]
    pub upload: UploadOptions,
    #[serde(flatten)]
    pub auth: Auth,
}

impl GlanceSection {
    /// The login this section asks for (`cloud` counts as `os-cloud`).
    pub fn auth(&self) -> Auth {
        let mut a = self.auth.clone();
        if a.os_cloud.is_none() {
            a.os_cloud = self.cloud.clone();
        }
        a
    }
}

/// One `[[customize]]` step, chosen by its `op` key.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "kebab-case")]
pub enum Step {
    /// Write a file, content inline or from a host file.
    Write(WriteStep),
    /// Copy a host directory's content into a guest directory.
    CopyIn(CopyInStep),
    /// Delete files or trees; `path` may be a glob.
    Delete(DeleteStep),
    Mkdir(MkdirStep),
    Chmod(ChmodStep),
    Chown(ChownStep),
    Symlink(SymlinkStep),
    /// Add an SSH public key to a user's ~/.ssh/authorized_keys.
    SshKey(SshKeyStep),
    Hostname(HostnameStep),
    /// Set a user's password hash in /etc/shadow.
    Password(PasswordStep),
    /// A command that runs once at first boot (a systemd oneshot unit).
    Firstboot(FirstbootStep),
}

impl Step {
    pub fn name(&self) -> &'static str {
        match self {
            Step::Write(_) => "write",
            Step::CopyIn(_) => "copy-in",
            Step::Delete(_) => "delete",
            Step::Mkdir(_) => "mkdir",
            Step::Chmod(_) => "chmod",
            Step::Chown(_) => "chown",
            Step::Symlink(_) => "symlink",
            Step::SshKey(_) => "ssh-key",
            Step::Hostname(_) => "hostname",
            Step::Password(_) => "password",
            Step::Firstboot(_) => "firstboot",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct WriteStep {
    pub path: String,
    pub content: Option<String>,
    /// A host file to copy (relative to the recipe's directory).
    pub from: Option<String>,
    /// Octal permission bits as a string ("0644", the default for new files).
    pub mode: Option<String>,
    /// "user:group", names (from the guest's /etc/passwd and /etc/group) or numbers.
    pub owner: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct CopyInStep {
    /// Host directory.
    pub from: String,
    /// Guest directory (created if missing).
    pub to: String,
    pub owner: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct DeleteStep {
    pub path: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct MkdirStep {
    pub path: String,
    pub mode: Option<String>,
    pub owner: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct ChmodStep {
    pub path: String,
    pub mode: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct ChownStep {
    pub path: String,
    pub owner: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct SymlinkStep {
    pub path: String,
    pub target: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct SshKeyStep {
    pub user: String,
    /// The public key line.
    pub key: Option<String>,
    /// A host file holding the public key.
    pub key_file: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct HostnameStep {
    pub hostname: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct PasswordStep {
    pub user: String,
    /// A crypt(3) hash ("$6$...", "$y$..."), or "!" / "*" to lock the password.
    pub hash: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct FirstbootStep {
    /// Unit name without suffix: /etc/systemd/system/NAME.service.
    pub name: String,
    /// The command line (run by /bin/sh -c).
    pub command: String,
    /// Run only while this guest path does not exist (ConditionPathExists=!PATH).
    pub unless_exists: Option<String>,
    /// Units this one must run before (Before= and WantedBy-style ordering).
    #[serde(default)]
    pub before: Vec<String>,
}
