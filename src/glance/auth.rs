//! Keystone v3: password, application-credential or pre-issued-token authentication, project
//! or domain scope, and the image endpoint from the token's service catalog.

use std::path::PathBuf;

use serde_json::{Value, json};
use ureq::http::Method;

use super::GlanceError;
use super::config::{Secret, Settings};
use super::http::{Http, Retry};
use super::models::{CatalogEntry, TokenResponse};

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Domain {
    pub id: Option<String>,
    pub name: Option<String>,
}

impl Domain {
    fn to_json(&self) -> Value {
        match (&self.id, &self.name) {
            (Some(id), _) => json!({ "id": id }),
            (None, Some(name)) => json!({ "name": name }),
            (None, None) => json!({ "id": "default" }),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserRef {
    pub id: Option<String>,
    pub name: Option<String>,
    pub domain: Domain,
}

impl UserRef {
    fn to_json(&self) -> Value {
        match (&self.id, &self.name) {
            (Some(id), _) => json!({ "id": id }),
            (None, name) => json!({ "name": name, "domain": self.domain.to_json() }),
        }
    }
    fn describe(&self) -> String {
        match (&self.name, &self.id) {
            (Some(n), _) => format!("user {n}"),
            (None, Some(id)) => format!("user id {id}"),
            _ => "user ?".into(),
        }
    }
}

#[derive(Debug, Clone)]
pub enum Method3 {
    Password {
        user: UserRef,
        password: Secret,
    },
    AppCredential {
        id: Option<String>,
        name: Option<String>,
        user: Option<UserRef>,
        secret: Secret,
    },
    Token(Secret),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    Project {
        id: Option<String>,
        name: Option<String>,
        domain: Domain,
    },
    Domain(Domain),
    /// The credential decides (application credentials are always project-scoped).
    Default,
}

/// Everything needed to get a token and find Glance; built from [`Settings`].
#[derive(Debug, Clone)]
pub struct AuthConfig {
    pub auth_url: Option<String>,
    pub method: Method3,
    pub scope: Scope,
    pub region: Option<String>,
    /// public, internal or admin.
    pub interface: String,
    /// Glance endpoint override (skips the catalog).
    pub image_url: Option<String>,
    pub cacert: Option<PathBuf>,
    pub insecure: bool,
    /// Where the settings came from, for messages ("the OS_* environment", "cloud x in ...").
    pub source: String,
}

fn need(v: Option<String>, what: &str, source: &str) -> Result<String, GlanceError> {
    v.ok_or_else(|| {
        GlanceError::Config(format!(
            "no {what} given (looked in {source} and the command line)"
        ))
    })
}

impl AuthConfig {
    pub fn from_settings(s: Settings, source: &str) -> Result<AuthConfig, GlanceError> {
        let default_domain = s.default_domain_id.clone();
        let user_domain = Domain {
            id: s.user_domain_id.clone().or_else(|| {
                s.user_domain_name
                    .is_none()
                    .then(|| default_domain.clone())
                    .flatten()
            }),
            name: s.user_domain_name.clone(),
        };
        let user = (s.user_id.is_some() || s.username.is_some()).then(|| UserRef {
            id: s.user_id.clone(),
            name: s.username.clone(),
            domain: user_domain,
        });
        let kind = s
            .auth_type
            .as_deref()
            .map(str::to_ascii_lowercase)
            .unwrap_or_else(|| {
                if s.application_credential_secret.is_some() {
                    "v3applicationcredential".into()
                } else if s.password.is_some() || s.token.is_none() {
                    "password".into()
                } else {
                    "token".into()
                }
            });
        let method = match kind.as_str() {
            "password" | "v3password" => Method3::Password {
                user: user.ok_or_else(|| {
                    GlanceError::Config(format!(
                        "no user name or id given (looked in {source} and the command line): set OS_USERNAME or use --os-cloud"
                    ))
                })?,
                password: s.password.clone().ok_or_else(|| {
                    GlanceError::Config(format!(
                        "no password given (looked in {source} and the command line)"
                    ))
                })?,
            },
            "v3applicationcredential" | "applicationcredential" | "application_credential" => {
                let (id, name) = (s.application_credential_id.clone(), s.application_credential_name.clone());
                if id.is_none() && (name.is_none() || user.is_none()) {
                    return Err(GlanceError::Config(
                        "an application credential needs its id, or its name and the user".into(),
                    ));
                }
                Method3::AppCredential {
                    id,
                    name,
                    user,
                    secret: s.application_credential_secret.clone().ok_or_else(|| {
                        GlanceError::Config("no application credential secret given".into())
                    })?,
                }
            }
            "token" | "v3token" | "admin_token" => Method3::Token(
                s.token.clone().ok_or_else(|| GlanceError::Config("no token given (OS_TOKEN)".into()))?,
            ),
            other => {
                return Err(GlanceError::Config(format!(
                    "auth type {other} is not supported (password, v3applicationcredential, token)"
                )));
            }
        };
        let project_domain = Domain {
            id: s.project_domain_id.clone().or_else(|| {
                s.project_domain_name
                    .is_none()
                    .then(|| default_domain.clone())
                    .flatten()
            }),
            name: s.project_domain_name.clone(),
        };
        let scope = if matches!(method, Method3::AppCredential { .. }) {
            Scope::Default
        } else if s.project_id.is_some() || s.project_name.is_some() {
            Scope::Project {
                id: s.project_id.clone(),
                name: s.project_name.clone(),
                domain: project_domain,
            }
        } else if s.domain_id.is_some() || s.domain_name.is_some() {
            Scope::Domain(Domain {
                id: s.domain_id.clone(),
                name: s.domain_name.clone(),
            })
        } else {
            Scope::Default
        };
        let auth_url = s.auth_url.as_deref().map(normalize_auth_url).transpose()?;
        if auth_url.is_none() && !(matches!(method, Method3::Token(_)) && s.image_url.is_some()) {
            need(None, "auth URL (OS_AUTH_URL)", source)?;
        }
        let interface = s
            .interface
            .as_deref()
            .unwrap_or("public")
            .to_ascii_lowercase();
        let interface = interface.trim_end_matches("url").to_string();
        if !matches!(interface.as_str(), "public" | "internal" | "admin") {
            return Err(GlanceError::Config(format!(
                "interface {interface} is not one of public, internal, admin"
            )));
        }
        Ok(AuthConfig {
            auth_url,
            method,
            scope,
            region: s.region_name.clone(),
            interface,
            image_url: s.image_url.as_deref().map(normalize_image_url),
            cacert: s.cacert.clone(),
            insecure: s.insecure.unwrap_or(false),
            source: source.to_string(),
        })
    }

    /// The `auth` object of `POST /v3/auth/tokens`. Holds the secret: never log it.
    fn request_body(&self) -> Value {
        let identity = match &self.method {
            Method3::Password { user, password } => {
                let mut u = user.to_json();
                u["password"] = json!(password.expose());
                json!({ "methods": ["password"], "password": { "user": u } })
            }
            Method3::AppCredential {
                id,
                name,
                user,
                secret,
            } => {
                let mut ac = match (id, name) {
                    (Some(id), _) => json!({ "id": id }),
                    (None, name) => {
                        json!({ "name": name, "user": user.as_ref().map(UserRef::to_json) })
                    }
                };
                ac["secret"] = json!(secret.expose());
                json!({ "methods": ["application_credential"], "application_credential": ac })
            }
            Method3::Token(t) => json!({ "methods": ["token"], "token": { "id": t.expose() } }),
        };
        let mut auth = json!({ "identity": identity });
        match &self.scope {
            Scope::Project { id: Some(id), .. } => {
                auth["scope"] = json!({ "project": { "id": id } })
            }
            Scope::Project { name, domain, .. } => {
                auth["scope"] = json!({ "project": { "name": name, "domain": domain.to_json() } })
            }
            Scope::Domain(d) => auth["scope"] = json!({ "domain": d.to_json() }),
            Scope::Default => {}
        }
        json!({ "auth": auth })
    }

    fn who(&self) -> String {
        match &self.method {
            Method3::Password { user, .. } => user.describe(),
            Method3::AppCredential { id: Some(id), .. } => format!("application credential {id}"),
            Method3::AppCredential { name, .. } => {
                format!("application credential {}", name.as_deref().unwrap_or("?"))
            }
            Method3::Token(_) => "a pre-issued token".into(),
        }
    }
}

/// Accept `http://k:5000`, `http://k:5000/`, `http://k:5000/v3/`; refuse v2.0.
pub fn normalize_auth_url(url: &str) -> Result<String, GlanceError> {
    let u = url.trim().trim_end_matches('/');
    if u.ends_with("/v2.0") {
        return Err(GlanceError::Config(format!(
            "auth URL {u} is Keystone v2.0, which is gone; use the /v3 URL"
        )));
    }
    if !(u.starts_with("http://") || u.starts_with("https://")) {
        return Err(GlanceError::Config(format!(
            "auth URL {u} is not an http(s) URL"
        )));
    }
    Ok(if u.ends_with("/v3") {
        u.to_string()
    } else {
        format!("{u}/v3")
    })
}

/// Glance's catalog URL may or may not carry `/v2`; we add it ourselves.
pub fn normalize_image_url(url: &str) -> String {
    let u = url.trim().trim_end_matches('/');
    u.strip_suffix("/v2").unwrap_or(u).to_string()
}

/// A token and where Glance is.
#[derive(Debug, Clone)]
pub struct Session {
    pub token: Secret,
    /// Glance base URL without `/v2`.
    pub image_url: String,
    /// The scoped project (the owner of images we create), when known.
    pub project_id: Option<String>,
}

/// Get a token from Keystone and find the image endpoint.
pub fn authenticate(cfg: &AuthConfig, http: &Http) -> Result<Session, GlanceError> {
    let (token, body) = match (&cfg.method, &cfg.auth_url, &cfg.image_url) {
        // A token and an explicit endpoint: Keystone need not be asked at all.
        (Method3::Token(t), _, Some(url)) => {
            return Ok(Session {
                token: t.clone(),
                image_url: url.clone(),
                project_id: None,
            });
        }
        (Method3::Token(t), Some(auth_url), None) => {
            // Validate the token against itself: that returns its catalog.
            let url = format!("{auth_url}/auth/tokens");
            let what = format!("checking the token at {auth_url}");
            let res = Retry::CALL.run(|| {
                let res = http.send(
                    &what,
                    Method::GET,
                    &url,
                    &[
                        ("X-Auth-Token", t.expose()),
                        ("X-Subject-Token", t.expose()),
                        ("Accept", "application/json"),
                    ],
                    None,
                    false,
                )?;
                Http::expect(&what, &url, res, &[200])
            })?;
            (
                t.clone(),
                Http::read_json::<TokenResponse>(&what, &url, res)?,
            )
        }
        (_, Some(auth_url), _) => {
            let url = format!("{auth_url}/auth/tokens");
            let what = format!("authenticating as {} at {auth_url}", cfg.who());
            let body =
                serde_json::to_vec(&cfg.request_body()).map_err(|e| GlanceError::Protocol {
                    what: what.clone(),
                    msg: e.to_string(),
                })?;
            let len = body.len().to_string();
            let res = Retry::CALL.run(|| {
                let res = http.send(
                    &what,
                    Method::POST,
                    &url,
                    &[
                        ("Content-Type", "application/json"),
                        ("Accept", "application/json"),
                        ("Content-Length", &len),
                    ],
                    Some(ureq::SendBody::from_reader(&mut body.as_slice())),
                    false,
                )?;
                Http::expect(&what, &url, res, &[201])
            })?;
            let token = res
                .headers()
                .get("X-Subject-Token")
                .and_then(|v| v.to_str().ok())
                .map(Secret::new)
                .ok_or_else(|| GlanceError::Protocol {
                    what: what.clone(),
                    msg: format!("{url} returned no X-Subject-Token header"),
                })?;
            (token, Http::read_json::<TokenResponse>(&what, &url, res)?)
        }
        (_, None, _) => {
            return Err(GlanceError::Config(
                "no auth URL (OS_AUTH_URL) given".into(),
            ));
        }
    };
    let image_url = match &cfg.image_url {
        Some(u) => u.clone(),
        None => find_endpoint(
            &body.token.catalog,
            cfg.interface.as_str(),
            cfg.region.as_deref(),
        )?,
    };
    log::info!("glance endpoint: {image_url}");
    Ok(Session {
        token,
        image_url,
        project_id: body.token.project.and_then(|p| p.id),
    })
}

/// The image endpoint of the given interface (and region) from a service catalog.
pub fn find_endpoint(
    catalog: &[CatalogEntry],
    interface: &str,
    region: Option<&str>,
) -> Result<String, GlanceError> {
    let images: Vec<_> = catalog
        .iter()
        .filter(|e| e.kind == "image")
        .flat_map(|e| &e.endpoints)
        .collect();
    let found = images.iter().find(|e| {
        e.interface == interface
            && region
                .is_none_or(|r| e.region.as_deref() == Some(r) || e.region_id.as_deref() == Some(r))
    });
    match found {
        Some(e) => Ok(normalize_image_url(&e.url)),
        None => {
            let have: Vec<String> = images
                .iter()
                .map(|e| {
                    format!(
                        "{} in {}",
                        e.interface,
                        e.region.as_deref().unwrap_or("no region")
                    )
                })
                .collect();
            Err(GlanceError::Config(format!(
                "the service catalog has no {interface} image endpoint{} (it has: {})",
                region
                    .map(|r| format!(" in region {r}"))
                    .unwrap_or_default(),
                if have.is_empty() {
                    "no image service".to_string()
                } else {
                    have.join(", ")
                }
            )))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> Settings {
        Settings {
            auth_url: Some("http://k:5000".into()),
            username: Some("u".into()),
            password: Some(Secret::new("pw")),
            project_name: Some("p".into()),
            user_domain_name: Some("Default".into()),
            ..Default::default()
        }
    }

    #[test]
    fn password_body_scopes_project_by_name_with_default_domain() {
        let cfg = AuthConfig::from_settings(settings(), "test").unwrap();
        assert_eq!(cfg.auth_url.as_deref(), Some("http://k:5000/v3"));
        let b = cfg.request_body();
        assert_eq!(b["auth"]["identity"]["password"]["user"]["name"], "u");
        assert_eq!(
            b["auth"]["identity"]["password"]["user"]["domain"]["name"],
            "Default"
        );
        assert_eq!(b["auth"]["identity"]["password"]["user"]["password"], "pw");
        assert_eq!(b["auth"]["scope"]["project"]["name"], "p");
        assert_eq!(b["auth"]["scope"]["project"]["domain"]["id"], "default");
        assert!(!format!("{cfg:?}").contains("pw\""));
    }

    #[test]
    fn app_credential_is_unscoped_and_domain_scope_works() {
        let s = Settings {
            auth_type: Some("v3applicationcredential".into()),
            application_credential_id: Some("ac1".into()),
            application_credential_secret: Some(Secret::new("sec")),
            ..settings()
        };
        let b = AuthConfig::from_settings(s, "t").unwrap().request_body();
        assert_eq!(b["auth"]["identity"]["application_credential"]["id"], "ac1");
        assert!(b["auth"].get("scope").is_none());
        let s = Settings {
            project_name: None,
            domain_name: Some("D".into()),
            ..settings()
        };
        let b = AuthConfig::from_settings(s, "t").unwrap().request_body();
        assert_eq!(b["auth"]["scope"]["domain"]["name"], "D");
    }

    #[test]
    fn urls_are_normalized() {
        assert_eq!(normalize_auth_url("http://k/v3/").unwrap(), "http://k/v3");
        assert!(normalize_auth_url("http://k/v2.0").is_err());
        assert_eq!(normalize_image_url("http://g:9292/v2/"), "http://g:9292");
    }

    #[test]
    fn endpoint_by_interface_and_region() {
        let cat: Vec<CatalogEntry> = serde_json::from_str(
            r#"[{"type":"identity","endpoints":[]},{"type":"image","endpoints":[
                {"interface":"public","url":"http://pub:9292","region":"R1"},
                {"interface":"internal","url":"http://int:9292/v2","region":"R1"},
                {"interface":"public","url":"http://pub2:9292","region":"R2"}]}]"#,
        )
        .unwrap();
        assert_eq!(
            find_endpoint(&cat, "internal", None).unwrap(),
            "http://int:9292"
        );
        assert_eq!(
            find_endpoint(&cat, "public", Some("R2")).unwrap(),
            "http://pub2:9292"
        );
        let err = find_endpoint(&cat, "admin", None).unwrap_err().to_string();
        assert!(err.contains("no admin image endpoint"), "{err}");
    }
}
