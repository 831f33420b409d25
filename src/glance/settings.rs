//! The Glance settings as typed records, each both a clap flag set and a serde table: the
//! `upload` / `seal --upload` flags and a recipe's `[glance]` keys are these same structs, with
//! the same names and defaults (tests/settings.rs checks).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::config::{self, Secret, Settings};
use super::http::Timeouts;
use super::images::{ImageSpec, Visibility};
use super::{AuthConfig, Glance, GlanceError};

/// What the new image record says: `--name`, `--visibility`, ... / `name = `, ....
#[derive(clap::Args, Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "kebab-case", deny_unknown_fields)]
pub struct ImageOptions {
    /// Image name in Glance (names are not unique there).
    #[arg(long, help_heading = "Glance")]
    pub name: Option<String>,
    /// Disk format (default: detected from the file, qcow2 or raw).
    #[arg(long, help_heading = "Glance")]
    pub disk_format: Option<String>,
    #[arg(long, default_value = "bare", help_heading = "Glance")]
    pub container_format: String,
    /// private, shared, community or public (default: the cloud's, `shared` in current
    /// Glance).
    #[arg(long, value_enum, help_heading = "Glance")]
    pub visibility: Option<Visibility>,
    /// Protect the image from deletion.
    #[arg(long, help_heading = "Glance")]
    pub protected: bool,
    /// Minimum disk size in GiB.
    #[arg(long, help_heading = "Glance")]
    pub min_disk: Option<u64>,
    /// Minimum RAM in MiB.
    #[arg(long, help_heading = "Glance")]
    pub min_ram: Option<u64>,
    /// A tag (repeatable; recipes: a list, also spelled `tags`).
    #[arg(long = "tag", value_name = "TAG", help_heading = "Glance")]
    #[serde(rename = "tag", alias = "tags")]
    pub tags: Vec<String>,
    /// A string property KEY=VALUE (repeatable): os_distro, os_version, hw_disk_bus, ...
    /// (recipes: a table, also spelled `properties`).
    #[arg(long = "property", value_name = "KEY=VALUE", value_parser = parse_property, help_heading = "Glance")]
    #[serde(rename = "property", alias = "properties", with = "as_table")]
    pub properties: Vec<(String, String)>,
}

impl Default for ImageOptions {
    fn default() -> Self {
        ImageOptions {
            name: None,
            disk_format: None,
            container_format: "bare".into(),
            visibility: None,
            protected: false,
            min_disk: None,
            min_ram: None,
            tags: Vec::new(),
            properties: Vec::new(),
        }
    }
}

/// `KEY=VALUE` of `--property`.
pub fn parse_property(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((k, v)) if !k.is_empty() => Ok((k.to_string(), v.to_string())),
        _ => Err(format!("{s:?} is not KEY=VALUE")),
    }
}

/// Properties are pairs on the command line (repeatable flag) and a table in a recipe.
mod as_table {
    use super::*;

    pub fn serialize<S: serde::Serializer>(
        v: &[(String, String)],
        s: S,
    ) -> Result<S::Ok, S::Error> {
        s.collect_map(v.iter().map(|(k, v)| (k, v)))
    }

    pub fn deserialize<'de, D: serde::Deserializer<'de>>(
        d: D,
    ) -> Result<Vec<(String, String)>, D::Error> {
        Ok(BTreeMap::<String, String>::deserialize(d)?
            .into_iter()
            .collect())
    }
}

impl ImageOptions {
    /// The record to create, named `name`.
    pub fn spec(&self, name: &str) -> ImageSpec {
        ImageSpec {
            name: name.to_string(),
            disk_format: self.disk_format.clone(),
            container_format: self.container_format.clone(),
            visibility: self.visibility,
            protected: self.protected,
            min_disk: self.min_disk,
            min_ram: self.min_ram,
            tags: self.tags.clone(),
            properties: self.properties.iter().cloned().collect(),
        }
    }
}

/// Where the cloud is and who we are: `--os-*` / `os-* = `. Set values override clouds.yaml
/// and the OS_* variables.
#[derive(clap::Args, Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "kebab-case", deny_unknown_fields)]
pub struct Auth {
    /// Cloud in clouds.yaml (+ secure.yaml) to use; without it, the OS_* variables.
    #[arg(long, env = "OS_CLOUD", help_heading = "OpenStack")]
    pub os_cloud: Option<String>,
    /// Keystone URL (OS_AUTH_URL).
    #[arg(long, help_heading = "OpenStack")]
    pub os_auth_url: Option<String>,
    /// password, v3applicationcredential or token (OS_AUTH_TYPE).
    #[arg(long, help_heading = "OpenStack")]
    pub os_auth_type: Option<String>,
    #[arg(long, help_heading = "OpenStack")]
    pub os_username: Option<String>,
    #[arg(long, help_heading = "OpenStack")]
    pub os_user_id: Option<String>,
    /// Password (prefer OS_PASSWORD or secure.yaml: the command line is visible to others).
    #[arg(long, help_heading = "OpenStack")]
    pub os_password: Option<String>,
    #[arg(long, help_heading = "OpenStack")]
    pub os_project_name: Option<String>,
    #[arg(long, help_heading = "OpenStack")]
    pub os_project_id: Option<String>,
    #[arg(long, help_heading = "OpenStack")]
    pub os_user_domain_name: Option<String>,
    #[arg(long, help_heading = "OpenStack")]
    pub os_user_domain_id: Option<String>,
    #[arg(long, help_heading = "OpenStack")]
    pub os_project_domain_name: Option<String>,
    #[arg(long, help_heading = "OpenStack")]
    pub os_project_domain_id: Option<String>,
    /// Domain scope instead of a project.
    #[arg(long, help_heading = "OpenStack")]
    pub os_domain_name: Option<String>,
    #[arg(long, help_heading = "OpenStack")]
    pub os_domain_id: Option<String>,
    /// A pre-issued token (OS_TOKEN).
    #[arg(long, help_heading = "OpenStack")]
    pub os_token: Option<String>,
    #[arg(long, help_heading = "OpenStack")]
    pub os_application_credential_id: Option<String>,
    #[arg(long, help_heading = "OpenStack")]
    pub os_application_credential_name: Option<String>,
    #[arg(long, help_heading = "OpenStack")]
    pub os_application_credential_secret: Option<String>,
    #[arg(long, help_heading = "OpenStack")]
    pub os_region_name: Option<String>,
    /// Endpoint interface: public, internal or admin.
    #[arg(long, help_heading = "OpenStack")]
    pub os_interface: Option<String>,
    /// Glance URL, instead of the one in the service catalog (OS_IMAGE_URL).
    #[arg(long, help_heading = "OpenStack")]
    pub os_image_url: Option<String>,
    /// CA bundle (PEM) to verify TLS with (OS_CACERT).
    #[arg(long, help_heading = "OpenStack")]
    pub os_cacert: Option<PathBuf>,
    /// Do not verify TLS certificates.
    #[arg(long, help_heading = "OpenStack")]
    pub insecure: bool,
    /// Seconds to wait for a TCP connection.
    #[arg(long, default_value_t = DEFAULT_CONNECT_TIMEOUT, help_heading = "OpenStack")]
    pub connect_timeout: u64,
}

const DEFAULT_CONNECT_TIMEOUT: u64 = 10;

impl Default for Auth {
    fn default() -> Self {
        Auth {
            os_cloud: None,
            os_auth_url: None,
            os_auth_type: None,
            os_username: None,
            os_user_id: None,
            os_password: None,
            os_project_name: None,
            os_project_id: None,
            os_user_domain_name: None,
            os_user_domain_id: None,
            os_project_domain_name: None,
            os_project_domain_id: None,
            os_domain_name: None,
            os_domain_id: None,
            os_token: None,
            os_application_credential_id: None,
            os_application_credential_name: None,
            os_application_credential_secret: None,
            os_region_name: None,
            os_interface: None,
            os_image_url: None,
            os_cacert: None,
            insecure: false,
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
        }
    }
}

impl Auth {
    /// The layer these values add over clouds.yaml / OS_*.
    fn settings(&self) -> Settings {
        let s = |v: &Option<String>| v.clone();
        let secret = |v: &Option<String>| v.clone().map(Secret::new);
        Settings {
            auth_url: s(&self.os_auth_url),
            auth_type: s(&self.os_auth_type),
            username: s(&self.os_username),
            user_id: s(&self.os_user_id),
            password: secret(&self.os_password),
            project_name: s(&self.os_project_name),
            project_id: s(&self.os_project_id),
            user_domain_name: s(&self.os_user_domain_name),
            user_domain_id: s(&self.os_user_domain_id),
            project_domain_name: s(&self.os_project_domain_name),
            project_domain_id: s(&self.os_project_domain_id),
            domain_name: s(&self.os_domain_name),
            domain_id: s(&self.os_domain_id),
            default_domain_id: None,
            token: secret(&self.os_token),
            application_credential_id: s(&self.os_application_credential_id),
            application_credential_name: s(&self.os_application_credential_name),
            application_credential_secret: secret(&self.os_application_credential_secret),
            region_name: s(&self.os_region_name),
            interface: s(&self.os_interface),
            image_url: s(&self.os_image_url),
            cacert: self.os_cacert.clone(),
            insecure: self.insecure.then_some(true),
        }
    }

    /// `top` over `self`, field by field: what the command line sets replaces a recipe's.
    /// The connect timeout counts as set when it is not the default.
    pub fn overlay(&self, top: &Auth) -> Auth {
        macro_rules! pick {
            ($($f:ident),*) => { Auth { $( $f: top.$f.clone().or_else(|| self.$f.clone()), )*
                insecure: top.insecure || self.insecure,
                connect_timeout: if top.connect_timeout != DEFAULT_CONNECT_TIMEOUT {
                    top.connect_timeout
                } else {
                    self.connect_timeout
                },
            } };
        }
        pick!(
            os_cloud,
            os_auth_url,
            os_auth_type,
            os_username,
            os_user_id,
            os_password,
            os_project_name,
            os_project_id,
            os_user_domain_name,
            os_user_domain_id,
            os_project_domain_name,
            os_project_domain_id,
            os_domain_name,
            os_domain_id,
            os_token,
            os_application_credential_id,
            os_application_credential_name,
            os_application_credential_secret,
            os_region_name,
            os_interface,
            os_image_url,
            os_cacert
        )
    }

    /// Resolve the settings (these over clouds.yaml or `env`'s OS_* variables) and log in.
    pub fn connect(&self, env: &dyn Fn(&str) -> Option<String>) -> Result<Glance, GlanceError> {
        let (settings, source) = config::resolve(self.os_cloud.as_deref(), self.settings(), env)?;
        log::info!("openstack settings from {source}");
        let cfg = AuthConfig::from_settings(settings, &source)?;
        let timeouts = Timeouts {
            connect: Duration::from_secs(self.connect_timeout.max(1)),
            ..Timeouts::default()
        };
        Glance::connect(&cfg, timeouts)
    }
}
