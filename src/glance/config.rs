//! Where the credentials come from: `OS_*` environment variables (an openrc file) or a cloud
//! in `clouds.yaml` (+ `secure.yaml`), overridden by command-line flags.
//!
//! As in openstackclient: with a cloud selected the `OS_*` credential variables are ignored
//! (a sourced admin openrc must not leak into another cloud); without one they are the base.

use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde_json::Value;

use super::GlanceError;

/// A password, token or secret: never shown by `Debug`, only read where it is sent.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: impl Into<String>) -> Secret {
        Secret(s.into())
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<redacted>")
    }
}

impl<'de> Deserialize<'de> for Secret {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Secret, D::Error> {
        String::deserialize(d).map(Secret)
    }
}

/// Every setting we understand, each optional; layers are merged field by field.
/// The field names are those of a `clouds.yaml` `auth:` block (and `OS_<NAME>` upper-cased).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct Settings {
    pub auth_url: Option<String>,
    pub auth_type: Option<String>,
    pub username: Option<String>,
    pub user_id: Option<String>,
    pub password: Option<Secret>,
    pub project_name: Option<String>,
    pub project_id: Option<String>,
    pub user_domain_name: Option<String>,
    pub user_domain_id: Option<String>,
    pub project_domain_name: Option<String>,
    pub project_domain_id: Option<String>,
    pub domain_name: Option<String>,
    pub domain_id: Option<String>,
    pub default_domain_id: Option<String>,
    pub token: Option<Secret>,
    pub application_credential_id: Option<String>,
    pub application_credential_name: Option<String>,
    pub application_credential_secret: Option<Secret>,
    pub region_name: Option<String>,
    pub interface: Option<String>,
    pub image_url: Option<String>,
    pub cacert: Option<PathBuf>,
    pub insecure: Option<bool>,
}

macro_rules! overlay_fields {
    ($dst:ident, $src:ident, $($f:ident),*) => { $( if $src.$f.is_some() { $dst.$f = $src.$f; } )* };
}

impl Settings {
    /// Fields set in `top` replace ours.
    pub fn overlay(mut self, top: Settings) -> Settings {
        overlay_fields!(
            self,
            top,
            auth_url,
            auth_type,
            username,
            user_id,
            password,
            project_name,
            project_id,
            user_domain_name,
            user_domain_id,
            project_domain_name,
            project_domain_id,
            domain_name,
            domain_id,
            default_domain_id,
            token,
            application_credential_id,
            application_credential_name,
            application_credential_secret,
            region_name,
            interface,
            image_url,
            cacert,
            insecure
        );
        self
    }

    /// The settings an openrc file exports (`OS_USERNAME`, `OS_TENANT_NAME`, ...).
    pub fn from_env(env: &dyn Fn(&str) -> Option<String>) -> Settings {
        let get = |k: &str| env(k).filter(|v| !v.is_empty());
        let secret = |k: &str| get(k).map(Secret);
        let insecure =
            get("OS_INSECURE").map(|v| matches!(v.to_lowercase().as_str(), "1" | "true" | "yes"));
        Settings {
            auth_url: get("OS_AUTH_URL"),
            auth_type: get("OS_AUTH_TYPE"),
            username: get("OS_USERNAME"),
            user_id: get("OS_USER_ID"),
            password: secret("OS_PASSWORD"),
            project_name: get("OS_PROJECT_NAME").or_else(|| get("OS_TENANT_NAME")),
            project_id: get("OS_PROJECT_ID").or_else(|| get("OS_TENANT_ID")),
            user_domain_name: get("OS_USER_DOMAIN_NAME"),
            user_domain_id: get("OS_USER_DOMAIN_ID"),
            project_domain_name: get("OS_PROJECT_DOMAIN_NAME"),
            project_domain_id: get("OS_PROJECT_DOMAIN_ID"),
            domain_name: get("OS_DOMAIN_NAME"),
            domain_id: get("OS_DOMAIN_ID"),
            default_domain_id: get("OS_DEFAULT_DOMAIN_ID").or_else(|| get("OS_DEFAULT_DOMAIN")),
            token: secret("OS_TOKEN"),
            application_credential_id: get("OS_APPLICATION_CREDENTIAL_ID"),
            application_credential_name: get("OS_APPLICATION_CREDENTIAL_NAME"),
            application_credential_secret: secret("OS_APPLICATION_CREDENTIAL_SECRET"),
            region_name: get("OS_REGION_NAME"),
            interface: get("OS_INTERFACE").or_else(|| get("OS_ENDPOINT_TYPE")),
            image_url: get("OS_IMAGE_URL"),
            cacert: get("OS_CACERT").map(PathBuf::from),
            insecure,
        }
    }
}

/// One cloud of `clouds.yaml`: the `auth:` block plus the top-level keys we use.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct CloudEntry {
    auth: Settings,
    auth_type: Option<String>,
    region_name: Option<String>,
    interface: Option<String>,
    cacert: Option<PathBuf>,
    verify: Option<bool>,
    image_endpoint_override: Option<String>,
}

/// The directories searched for clouds.yaml / secure.yaml, in order.
pub fn search_dirs(env: &dyn Fn(&str) -> Option<String>) -> Vec<PathBuf> {
    let mut dirs = vec![PathBuf::from(".")];
    if let Some(x) = env("XDG_CONFIG_HOME").filter(|v| !v.is_empty()) {
        dirs.push(Path::new(&x).join("openstack"));
    } else if let Some(h) = env("HOME").filter(|v| !v.is_empty()) {
        dirs.push(Path::new(&h).join(".config/openstack"));
    }
    dirs.push(PathBuf::from("/etc/openstack"));
    dirs
}

fn find_file(
    explicit: Option<String>,
    stem: &str,
    dirs: &[PathBuf],
) -> Result<Option<PathBuf>, GlanceError> {
    if let Some(p) = explicit.filter(|v| !v.is_empty()) {
        let p = PathBuf::from(p);
        return if p.is_file() {
            Ok(Some(p))
        } else {
            Err(GlanceError::Config(format!(
                "{} does not exist",
                p.display()
            )))
        };
    }
    Ok(dirs
        .iter()
        .flat_map(|d| {
            [
                d.join(format!("{stem}.yaml")),
                d.join(format!("{stem}.yml")),
            ]
        })
        .find(|p| p.is_file()))
}

/// Read a YAML file as a generic tree. The parser's message is not shown: it may quote the
/// line it stopped at, and that line may hold a password.
fn read_yaml(path: &Path) -> Result<Value, GlanceError> {
    const MAX: u64 = 4 << 20;
    let meta = std::fs::metadata(path)
        .map_err(|e| GlanceError::io(format!("reading {}", path.display()), e))?;
    if meta.len() > MAX {
        return Err(GlanceError::Config(format!(
            "{} is larger than 4 MiB",
            path.display()
        )));
    }
    let text = std::fs::read_to_string(path)
        .map_err(|e| GlanceError::io(format!("reading {}", path.display()), e))?;
    serde_saphyr::from_str::<Value>(&text)
        .map_err(|_| GlanceError::Config(format!("parsing {}: not valid YAML", path.display())))
}

/// Recursively merge `top` into `base` (secure.yaml over clouds.yaml).
fn deep_merge(base: &mut Value, top: Value) {
    match (base, top) {
        (Value::Object(b), Value::Object(t)) => {
            for (k, v) in t {
                match b.get_mut(&k) {
                    Some(slot) => deep_merge(slot, v),
                    None => {
                        b.insert(k, v);
                    }
                }
            }
        }
        (slot, v) => *slot = v,
    }
}

/// The settings of cloud `name` from clouds.yaml merged with secure.yaml, and where they came from.
pub fn cloud_settings(
    name: &str,
    env: &dyn Fn(&str) -> Option<String>,
    dirs: &[PathBuf],
) -> Result<(Settings, PathBuf), GlanceError> {
    let Some(clouds) = find_file(env("OS_CLIENT_CONFIG_FILE"), "clouds", dirs)? else {
        let where_ = dirs
            .iter()
            .map(|d| d.display().to_string())
            .collect::<Vec<_>>();
        return Err(GlanceError::Config(format!(
            "cloud {name}: no clouds.yaml found (searched {})",
            where_.join(", ")
        )));
    };
    let mut tree = read_yaml(&clouds)?;
    if let Some(secure) = find_file(env("OS_CLIENT_SECURE_FILE"), "secure", dirs)? {
        deep_merge(&mut tree, read_yaml(&secure)?);
    }
    let Some(entry) = tree.get("clouds").and_then(|c| c.get(name)).cloned() else {
        return Err(GlanceError::Config(format!(
            "cloud {name} is not defined in {}",
            clouds.display()
        )));
    };
    // Types are checked here; again no parser text, the values may be secrets.
    let entry: CloudEntry = serde_json::from_value(entry).map_err(|_| {
        GlanceError::Config(format!(
            "cloud {name} in {}: unexpected value types (strings expected, verify: true/false)",
            clouds.display()
        ))
    })?;
    let top = Settings {
        auth_type: entry.auth_type,
        region_name: entry.region_name,
        interface: entry.interface,
        cacert: entry.cacert,
        insecure: entry.verify.map(|v| !v),
        image_url: entry.image_endpoint_override,
        ..Settings::default()
    };
    Ok((entry.auth.overlay(top), clouds))
}

/// Resolve the effective settings: (clouds.yaml cloud | OS_* env) overlaid with the flags.
/// Returns the settings and a description of their source for messages.
pub fn resolve(
    cloud: Option<&str>,
    flags: Settings,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<(Settings, String), GlanceError> {
    let cloud = cloud
        .map(str::to_string)
        .or_else(|| env("OS_CLOUD"))
        .filter(|c| !c.is_empty());
    let (base, source) = match cloud {
        Some(name) => {
            let (s, path) = cloud_settings(&name, env, &search_dirs(env))?;
            (s, format!("cloud {name} in {}", path.display()))
        }
        None => (Settings::from_env(env), "the OS_* environment".to_string()),
    };
    let mut s = base.overlay(flags);
    // OS_CACERT / OS_INSECURE apply to a clouds.yaml cloud too when it sets neither.
    if s.cacert.is_none() {
        s.cacert = env("OS_CACERT")
            .filter(|v| !v.is_empty())
            .map(PathBuf::from);
    }
    Ok((s, source))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env_of(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let m: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |k| m.get(k).cloned()
    }

    #[test]
    fn secret_debug_is_redacted() {
        let s = Settings {
            password: Some(Secret::new("hunter2")),
            ..Default::default()
        };
        assert!(!format!("{s:?}").contains("hunter2"));
    }

    #[test]
    fn env_reads_openrc_names_and_legacy_tenant() {
        let env = env_of(&[
            ("OS_AUTH_URL", "http://k:5000/v3"),
            ("OS_USERNAME", "u"),
            ("OS_PASSWORD", "p"),
            ("OS_TENANT_NAME", "t"),
            ("OS_ENDPOINT_TYPE", "internalURL"),
            ("OS_INSECURE", "true"),
        ]);
        let s = Settings::from_env(&env);
        assert_eq!(s.project_name.as_deref(), Some("t"));
        assert_eq!(s.password.as_ref().map(Secret::expose), Some("p"));
        assert_eq!(s.interface.as_deref(), Some("internalURL"));
        assert_eq!(s.insecure, Some(true));
    }

    #[test]
    fn clouds_and_secure_yaml_merge_and_flags_win() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("clouds.yaml"),
            "clouds:\n  c1:\n    auth:\n      auth_url: http://k/v3\n      username: u\n      project_name: p\n    region_name: R\n    verify: false\n    image_endpoint_override: http://g:9292\n",
        )
        .unwrap();
        std::fs::write(
            dir.path().join("secure.yaml"),
            "clouds:\n  c1:\n    auth:\n      password: s3cret\n",
        )
        .unwrap();
        let env = env_of(&[("OS_USERNAME", "ignored-with-a-cloud")]);
        let (s, _) = cloud_settings("c1", &env, &[dir.path().to_path_buf()]).unwrap();
        assert_eq!(s.username.as_deref(), Some("u"));
        assert_eq!(s.password.as_ref().map(Secret::expose), Some("s3cret"));
        assert_eq!(s.region_name.as_deref(), Some("R"));
        assert_eq!(s.insecure, Some(true));
        assert_eq!(s.image_url.as_deref(), Some("http://g:9292"));
        let flags = Settings {
            username: Some("flag".into()),
            ..Default::default()
        };
        assert_eq!(s.overlay(flags).username.as_deref(), Some("flag"));
        let missing = cloud_settings("nope", &env, &[dir.path().to_path_buf()]);
        assert!(
            missing
                .unwrap_err()
                .to_string()
                .contains("cloud nope is not defined")
        );
    }

    #[test]
    fn broken_yaml_error_does_not_quote_the_file() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("clouds.yaml"),
            "clouds:\n  c1:\n    auth:\n      password: [topsecret\n",
        )
        .unwrap();
        let err = cloud_settings("c1", &env_of(&[]), &[dir.path().to_path_buf()]).unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("not valid YAML"), "{msg}");
        assert!(!msg.contains("topsecret"), "{msg}");
    }
}
