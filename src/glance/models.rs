//! JSON bodies of the Keystone v3 and Glance v2 requests and responses we use.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// `POST /v3/auth/tokens` response (only the parts we read; the token is in X-Subject-Token).
#[derive(Debug, Deserialize)]
pub struct TokenResponse {
    pub token: TokenBody,
}

#[derive(Debug, Deserialize)]
pub struct TokenBody {
    #[serde(default)]
    pub catalog: Vec<CatalogEntry>,
    pub project: Option<Named>,
    pub domain: Option<Named>,
    pub user: Option<Named>,
    #[serde(default)]
    pub roles: Vec<Named>,
}

#[derive(Debug, Deserialize)]
pub struct Named {
    pub id: Option<String>,
    pub name: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct CatalogEntry {
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub endpoints: Vec<Endpoint>,
}

#[derive(Debug, Deserialize)]
pub struct Endpoint {
    pub interface: String,
    pub url: String,
    pub region: Option<String>,
    pub region_id: Option<String>,
}

/// An image record as Glance returns it. The typed fields are the ones we check; `raw` is
/// the whole record (custom properties included) for `--json`.
#[derive(Debug, Clone, Serialize)]
#[serde(transparent)]
pub struct ImageRecord {
    pub raw: Map<String, Value>,
}

impl ImageRecord {
    pub fn from_value(v: Value) -> Option<ImageRecord> {
        match v {
            Value::Object(raw) if raw.get("id").and_then(Value::as_str).is_some() => {
                Some(ImageRecord { raw })
            }
            _ => None,
        }
    }
    fn str(&self, key: &str) -> Option<&str> {
        self.raw.get(key).and_then(Value::as_str)
    }
    pub fn id(&self) -> &str {
        self.str("id").unwrap_or_default()
    }
    pub fn name(&self) -> &str {
        self.str("name").unwrap_or_default()
    }
    pub fn status(&self) -> &str {
        self.str("status").unwrap_or_default()
    }
    pub fn owner(&self) -> Option<&str> {
        self.str("owner")
    }
    pub fn checksum(&self) -> Option<&str> {
        self.str("checksum")
    }
    pub fn os_hash_algo(&self) -> Option<&str> {
        self.str("os_hash_algo")
    }
    pub fn os_hash_value(&self) -> Option<&str> {
        self.str("os_hash_value")
    }
    pub fn size(&self) -> Option<u64> {
        self.raw.get("size").and_then(Value::as_u64)
    }
    pub fn visibility(&self) -> &str {
        self.str("visibility").unwrap_or_default()
    }
    pub fn protected(&self) -> bool {
        self.raw
            .get("protected")
            .and_then(Value::as_bool)
            .unwrap_or(false)
    }
    pub fn created_at(&self) -> &str {
        self.str("created_at").unwrap_or_default()
    }
    /// A property (base or custom) as a string, when it is one.
    pub fn property(&self, key: &str) -> Option<&str> {
        self.str(key)
    }
}

/// `GET /v2/images` page.
#[derive(Debug, Deserialize)]
pub struct ImageList {
    pub images: Vec<Value>,
    pub next: Option<String>,
}

/// Error body Glance sends with `Accept: application/json`.
#[derive(Debug, Deserialize)]
pub struct GlanceErrorBody {
    pub message: Option<String>,
}

/// Error body Keystone sends.
#[derive(Debug, Deserialize)]
pub struct KeystoneErrorBody {
    pub error: KeystoneError,
}

#[derive(Debug, Deserialize)]
pub struct KeystoneError {
    pub message: Option<String>,
}

/// `GET /v2/info/import`.
#[derive(Debug, Deserialize)]
pub struct ImportInfo {
    #[serde(rename = "import-methods")]
    pub import_methods: ImportMethods,
}

#[derive(Debug, Deserialize)]
pub struct ImportMethods {
    #[serde(default)]
    pub value: Vec<String>,
}
