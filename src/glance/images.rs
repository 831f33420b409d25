//! Glance Images API v2: create, upload (`PUT /file`), stage + import, get, list, patch, delete.

use std::collections::BTreeMap;
use std::io::Read;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use ureq::SendBody;
use ureq::http::Method;

use super::GlanceError;
use super::auth::{AuthConfig, Session, authenticate};
use super::http::{Http, Retry, Timeouts};
use super::models::{ImageList, ImageRecord, ImportInfo};

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize, clap::ValueEnum,
)]
#[serde(rename_all = "lowercase")]
pub enum Visibility {
    Public,
    Private,
    Shared,
    Community,
}

impl Visibility {
    pub fn as_str(self) -> &'static str {
        match self {
            Visibility::Public => "public",
            Visibility::Private => "private",
            Visibility::Shared => "shared",
            Visibility::Community => "community",
        }
    }
}

/// What the new image record says about itself.
#[derive(Debug, Clone, Default)]
pub struct ImageSpec {
    pub name: String,
    /// None: detected from the file (qcow2 magic, else raw).
    pub disk_format: Option<String>,
    pub container_format: String,
    /// None: the cloud's default (`shared` in current Glance).
    pub visibility: Option<Visibility>,
    pub protected: bool,
    pub min_disk: Option<u64>,
    pub min_ram: Option<u64>,
    pub tags: Vec<String>,
    /// Extra string properties (os_distro, os_version, hw_disk_bus, architecture, ...).
    pub properties: BTreeMap<String, String>,
}

/// Base attributes a `--property` must not override.
const RESERVED: &[&str] = &[
    "id",
    "name",
    "status",
    "disk_format",
    "container_format",
    "visibility",
    "protected",
    "min_disk",
    "min_ram",
    "tags",
    "owner",
    "size",
    "virtual_size",
    "checksum",
    "os_hash_algo",
    "os_hash_value",
    "created_at",
    "updated_at",
    "file",
    "self",
    "schema",
    "locations",
    "direct_url",
    "stores",
    "os_hidden",
];

impl ImageSpec {
    /// The `POST /v2/images` body, with the id we chose (so a retried create cannot duplicate).
    pub fn create_body(&self, id: &str, disk_format: &str) -> Result<Value, GlanceError> {
        let mut b = json!({
            "id": id,
            "name": self.name,
            "disk_format": disk_format,
            "container_format": if self.container_format.is_empty() { "bare" } else { &self.container_format },
            "protected": self.protected,
            "tags": self.tags,
        });
        if let Some(v) = self.visibility {
            b["visibility"] = json!(v.as_str());
        }
        if let Some(d) = self.min_disk {
            b["min_disk"] = json!(d);
        }
        if let Some(r) = self.min_ram {
            b["min_ram"] = json!(r);
        }
        for (k, v) in &self.properties {
            if RESERVED.contains(&k.as_str()) || k.starts_with("os_glance") {
                return Err(GlanceError::Config(format!(
                    "property {k} is reserved by Glance; use the matching option instead"
                )));
            }
            b[k.as_str()] = json!(v);
        }
        Ok(b)
    }
}

/// A random (v4) UUID from the kernel, for image ids we choose.
pub fn new_uuid() -> Result<String, GlanceError> {
    let mut b = [0u8; 16];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut b))
        .map_err(|e| GlanceError::io("reading /dev/urandom", e))?;
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h: String = b.iter().map(|x| format!("{x:02x}")).collect();
    Ok(format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    ))
}

pub fn looks_like_uuid(s: &str) -> bool {
    let hex: String = s.chars().filter(|c| *c != '-').collect();
    hex.len() == 32 && hex.chars().all(|c| c.is_ascii_hexdigit())
}

/// An authenticated Glance client.
#[derive(Debug, Clone)]
pub struct Glance {
    http: Http,
    session: Session,
}

impl Glance {
    /// Authenticate with Keystone (or use the token as is) and find Glance.
    pub fn connect(cfg: &AuthConfig, timeouts: Timeouts) -> Result<Glance, GlanceError> {
        let http = Http::new(timeouts, cfg.cacert.as_deref(), cfg.insecure)?;
        let session = authenticate(cfg, &http)?;
        Ok(Glance { http, session })
    }

    pub fn session(&self) -> &Session {
        &self.session
    }

    fn url(&self, path: &str) -> String {
        format!("{}{}", self.session.image_url, path)
    }

    /// One JSON call: token, JSON in and out, error bodies as JSON, `ok` statuses accepted.
    fn call(
        &self,
        what: &str,
        method: Method,
        path: &str,
        body: Option<(&str, &Value)>,
        ok: &[u16],
    ) -> Result<ureq::http::Response<ureq::Body>, GlanceError> {
        let url = self.url(path);
        let bytes = match body {
            Some((_, v)) => Some(serde_json::to_vec(v).map_err(|e| GlanceError::Protocol {
                what: what.into(),
                msg: e.to_string(),
            })?),
            None => None,
        };
        let len = bytes.as_ref().map(|b| b.len().to_string());
        let mut headers = vec![
            ("X-Auth-Token", self.session.token.expose()),
            ("Accept", "application/json"),
        ];
        if let (Some((ctype, _)), Some(len)) = (body, len.as_deref()) {
            headers.push(("Content-Type", ctype));
            headers.push(("Content-Length", len));
        }
        let res = self.http.send(
            what,
            method,
            &url,
            &headers,
            bytes
                .as_ref()
                .map(|b| SendBody::from_owned_reader(std::io::Cursor::new(b.clone()))),
            false,
        )?;
        Http::expect(what, &url, res, ok)
    }

    fn record(
        &self,
        what: &str,
        path: &str,
        res: ureq::http::Response<ureq::Body>,
    ) -> Result<ImageRecord, GlanceError> {
        let url = self.url(path);
        let v: Value = Http::read_json(what, &url, res)?;
        ImageRecord::from_value(v).ok_or_else(|| GlanceError::Protocol {
            what: what.into(),
            msg: format!("{url} did not return an image record"),
        })
    }

    /// `POST /v2/images` with our own id; a retry that finds the image already there (409)
    /// takes it, so a lost response cannot leave a duplicate.
    pub fn create(&self, body: &Value) -> Result<ImageRecord, GlanceError> {
        let id = body["id"].as_str().unwrap_or_default().to_string();
        let name = body["name"].as_str().unwrap_or_default();
        let what = format!("creating image {name}");
        let mut first = true;
        Retry::CALL.run(|| {
            let attempt_first = std::mem::replace(&mut first, false);
            match self.call(
                &what,
                Method::POST,
                "/v2/images",
                Some(("application/json", body)),
                &[201],
            ) {
                Ok(res) => self.record(&what, "/v2/images", res),
                Err(e) if e.status() == Some(409) && !attempt_first => self.get(&id),
                Err(e) => Err(e),
            }
        })
    }

    pub fn get(&self, id: &str) -> Result<ImageRecord, GlanceError> {
        let what = format!("reading image {id}");
        let path = format!("/v2/images/{id}");
        Retry::CALL.run(|| {
            let res = self.call(&what, Method::GET, &path, None, &[200])?;
            self.record(&what, &path, res)
        })
    }

    pub fn delete(&self, id: &str, retry: Retry) -> Result<(), GlanceError> {
        let what = format!("deleting image {id}");
        let path = format!("/v2/images/{id}");
        let mut first = true;
        retry.run(|| {
            let attempt_first = std::mem::replace(&mut first, false);
            match self.call(&what, Method::DELETE, &path, None, &[204]) {
                Ok(_) => Ok(()),
                // Gone on a retry: the earlier attempt worked but its answer was lost.
                Err(e) if e.status() == Some(404) && !attempt_first => Ok(()),
                Err(e) => Err(e),
            }
        })
    }

    /// JSON-patch an image (`application/openstack-images-v2.1-json-patch`).
    pub fn patch(&self, id: &str, ops: &Value) -> Result<ImageRecord, GlanceError> {
        let what = format!("updating image {id}");
        let path = format!("/v2/images/{id}");
        Retry::CALL.run(|| {
            let res = self.call(
                &what,
                Method::PATCH,
                &path,
                Some(("application/openstack-images-v2.1-json-patch", ops)),
                &[200],
            )?;
            self.record(&what, &path, res)
        })
    }

    /// All images matching the filters (`name`, `owner`, `status`, ...), following `next`.
    pub fn list(&self, filters: &[(&str, &str)]) -> Result<Vec<ImageRecord>, GlanceError> {
        let mut query: Vec<String> = filters
            .iter()
            .map(|(k, v)| format!("{k}={}", pct(v)))
            .collect();
        query.push("limit=100".into());
        let mut path = format!("/v2/images?{}", query.join("&"));
        let mut out = Vec::new();
        for _ in 0..10_000 {
            let what = "listing images".to_string();
            let page: ImageList = Retry::CALL.run(|| {
                let res = self.call(&what, Method::GET, &path, None, &[200])?;
                Http::read_json(&what, &self.url(&path), res)
            })?;
            out.extend(page.images.into_iter().filter_map(ImageRecord::from_value));
            match page.next {
                Some(next) if next.starts_with("/v2/") => path = next,
                _ => return Ok(out),
            }
        }
        Err(GlanceError::Protocol {
            what: "listing images".into(),
            msg: "more than 10000 pages".into(),
        })
    }

    /// Stream `len` bytes to `PUT /v2/images/{id}/file` (or `/stage` for the import flow).
    /// Not retried here: a failed data upload restarts on a fresh image (see upload.rs).
    pub fn put_data(
        &self,
        id: &str,
        stage: bool,
        data: &mut dyn Read,
        len: u64,
    ) -> Result<(), GlanceError> {
        let path = format!("/v2/images/{id}/{}", if stage { "stage" } else { "file" });
        let url = self.url(&path);
        let what = format!("uploading data to image {id}");
        let len_s = len.to_string();
        let res = self.http.send(
            &what,
            Method::PUT,
            &url,
            &[
                ("X-Auth-Token", self.session.token.expose()),
                ("Accept", "application/json"),
                ("Content-Type", "application/octet-stream"),
                ("Content-Length", &len_s),
            ],
            Some(SendBody::from_reader(data)),
            true,
        )?;
        Http::expect(&what, &url, res, &[204]).map(drop)
    }

    /// Whether the cloud offers `glance-direct` (the interoperable import flow).
    pub fn import_methods(&self) -> Result<Vec<String>, GlanceError> {
        let what = "reading the import methods".to_string();
        let res =
            Retry::CALL.run(|| self.call(&what, Method::GET, "/v2/info/import", None, &[200]))?;
        let info: ImportInfo = Http::read_json(&what, &self.url("/v2/info/import"), res)?;
        Ok(info.import_methods.value)
    }

    /// `POST /v2/images/{id}/import` with glance-direct, after `/stage`.
    pub fn import(&self, id: &str) -> Result<(), GlanceError> {
        let what = format!("importing image {id}");
        let path = format!("/v2/images/{id}/import");
        let body = json!({ "method": { "name": "glance-direct" } });
        self.call(
            &what,
            Method::POST,
            &path,
            Some(("application/json", &body)),
            &[202],
        )
        .map(drop)
    }

    /// Poll until the image is `active`; `killed`, `deleted` or a failed import end it.
    pub fn wait_active(&self, id: &str, timeout: Duration) -> Result<ImageRecord, GlanceError> {
        let start = Instant::now();
        let mut delay = Duration::from_millis(200);
        loop {
            let rec = self.get(id)?;
            let failed_import = rec.property("os_glance_failed_import").unwrap_or_default();
            match rec.status() {
                "active" => return Ok(rec),
                "killed" | "deleted" | "pending_delete" => {
                    return Err(GlanceError::Verify(format!(
                        "image {id} became {} instead of active",
                        rec.status()
                    )));
                }
                _ if !failed_import.is_empty() => {
                    return Err(GlanceError::Verify(format!(
                        "image {id}: the import to store(s) {failed_import} failed"
                    )));
                }
                s if start.elapsed() >= timeout => {
                    return Err(GlanceError::Verify(format!(
                        "image {id} is still {s} after {} s",
                        timeout.as_secs()
                    )));
                }
                s => log::debug!("image {id} is {s}; waiting"),
            }
            std::thread::sleep(delay);
            delay = (delay * 2).min(Duration::from_secs(5));
        }
    }
}

/// Percent-encode a query value (names may hold spaces and anything else).
fn pct(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn create_body_has_spec_fields_and_refuses_reserved_properties() {
        let mut spec = ImageSpec {
            name: "n".into(),
            visibility: Some(Visibility::Community),
            protected: true,
            min_disk: Some(2),
            tags: vec!["ci".into()],
            ..Default::default()
        };
        spec.properties.insert("os_distro".into(), "debian".into());
        let b = spec.create_body("i", "qcow2").unwrap();
        assert_eq!(b["container_format"], "bare");
        assert_eq!(b["visibility"], "community");
        assert_eq!(b["os_distro"], "debian");
        assert_eq!(b["min_disk"], 2);
        assert!(b.get("min_ram").is_none());
        spec.properties.insert("checksum".into(), "x".into());
        assert!(spec.create_body("i", "qcow2").is_err());
    }

    #[test]
    fn uuids_are_v4_and_recognized() {
        let u = new_uuid().unwrap();
        assert_eq!(u.len(), 36);
        assert_eq!(&u[14..15], "4");
        assert!(looks_like_uuid(&u));
        assert!(!looks_like_uuid("debian-12"));
    }

    #[test]
    fn query_values_are_encoded() {
        assert_eq!(pct("a b&c"), "a%20b%26c");
    }
}
