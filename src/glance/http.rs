//! HTTP plumbing shared by Keystone and Glance calls: agents with bounded timeouts, TLS
//! (cacert / insecure), error bodies turned into one readable line, retries with backoff.
//!
//! Nothing here logs headers or bodies: tokens travel in headers, passwords in auth bodies.

use std::io::Read;
use std::path::Path;
use std::time::Duration;

use ureq::http::{Method, Request, Response, StatusCode};
use ureq::tls::{Certificate, RootCerts, TlsConfig};
use ureq::{Agent, Body, SendBody};

use super::GlanceError;
use super::models::{GlanceErrorBody, KeystoneErrorBody};

/// Timeouts: the connect bound makes an unreachable service fail fast; JSON calls have a
/// global bound; data transfers only a per-read/write stall bound.
#[derive(Debug, Clone, Copy)]
pub struct Timeouts {
    pub connect: Duration,
    pub request: Duration,
    pub stall: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            connect: Duration::from_secs(10),
            request: Duration::from_secs(120),
            stall: Duration::from_secs(300),
        }
    }
}

/// Two agents: one for small JSON calls, one for streaming image data.
#[derive(Debug, Clone)]
pub struct Http {
    json: Agent,
    data: Agent,
}

/// Biggest error or JSON body we read (image lists page at 25 images by default).
const MAX_BODY: u64 = 32 << 20;

impl Http {
    pub fn new(t: Timeouts, cacert: Option<&Path>, insecure: bool) -> Result<Http, GlanceError> {
        let mut tls = TlsConfig::builder().disable_verification(insecure);
        if let Some(path) = cacert {
            let pem = std::fs::read(path)
                .map_err(|e| GlanceError::io(format!("reading cacert {}", path.display()), e))?;
            let certs = ureq::tls::parse_pem(&pem)
                .filter_map(|item| match item {
                    Ok(ureq::tls::PemItem::Certificate(c)) => Some(Ok(c)),
                    Ok(_) => None,
                    Err(e) => Some(Err(e)),
                })
                .collect::<Result<Vec<Certificate<'static>>, _>>()
                .map_err(|e| {
                    GlanceError::Config(format!("reading cacert {}: {e}", path.display()))
                })?;
            if certs.is_empty() {
                return Err(GlanceError::Config(format!(
                    "cacert {} holds no PEM certificate",
                    path.display()
                )));
            }
            tls = tls.root_certs(RootCerts::new_with_certs(&certs));
        }
        let tls = tls.build();
        let base = |global: Option<Duration>, recv: Option<Duration>| {
            Agent::config_builder()
                .http_status_as_error(false)
                .tls_config(tls.clone())
                .timeout_connect(Some(t.connect))
                .timeout_global(global)
                .timeout_recv_response(recv)
                .timeout_per_read(Some(t.stall))
                .timeout_per_write(Some(t.stall))
                .max_redirects(0)
                .user_agent(concat!("cloudseal/", env!("CARGO_PKG_VERSION")))
                .build()
                .new_agent()
        };
        Ok(Http {
            json: base(Some(t.request), None),
            // Glance answers a PUT once it has stored (and hashed) the data: allow it time.
            data: base(None, Some(t.stall)),
        })
    }

    /// Send one request. Returns the response whatever its status; transport errors become
    /// `Unreachable` naming the URL.
    pub fn send(
        &self,
        what: &str,
        method: Method,
        url: &str,
        headers: &[(&str, &str)],
        body: Option<SendBody<'_>>,
        data: bool,
    ) -> Result<Response<Body>, GlanceError> {
        let mut b = Request::builder().method(method.clone()).uri(url);
        for (k, v) in headers {
            b = b.header(*k, *v);
        }
        log::debug!("{what}: {method} {url}");
        let agent = if data { &self.data } else { &self.json };
        let unreachable = |source| GlanceError::Unreachable {
            what: what.to_string(),
            url: url.to_string(),
            source,
        };
        let res = match body {
            Some(body) => {
                let req = b
                    .body(body)
                    .map_err(|e| unreachable(ureq::Error::Http(e)))?;
                agent.run(req)
            }
            None => {
                let req = b.body(()).map_err(|e| unreachable(ureq::Error::Http(e)))?;
                agent.run(req)
            }
        }
        .map_err(unreachable)?;
        log::debug!("{what}: {method} {url} -> {}", res.status());
        Ok(res)
    }

    /// Read a JSON success body, or turn an error status into `GlanceError::Status`.
    pub fn expect(
        what: &str,
        url: &str,
        res: Response<Body>,
        ok: &[u16],
    ) -> Result<Response<Body>, GlanceError> {
        let status = res.status();
        if ok.contains(&status.as_u16()) {
            return Ok(res);
        }
        Err(status_error(what, url, res))
    }

    pub fn read_json<T: serde::de::DeserializeOwned>(
        what: &str,
        url: &str,
        res: Response<Body>,
    ) -> Result<T, GlanceError> {
        let bytes = res
            .into_body()
            .with_config()
            .limit(MAX_BODY)
            .read_to_vec()
            .map_err(|source| GlanceError::Unreachable {
                what: what.to_string(),
                url: url.to_string(),
                source,
            })?;
        serde_json::from_slice(&bytes).map_err(|e| GlanceError::Protocol {
            what: what.to_string(),
            msg: format!("{url} sent a response we cannot read: {e}"),
        })
    }
}

/// Build the error for a non-success response: the server's own message (JSON from Glance
/// with `Accept: application/json`, or Keystone's `{"error": ...}`), HTML stripped.
pub fn status_error(what: &str, url: &str, res: Response<Body>) -> GlanceError {
    let status = res.status();
    let mut text = String::new();
    let _ = res
        .into_body()
        .into_reader()
        .take(64 << 10)
        .read_to_string(&mut text);
    GlanceError::Status {
        what: what.to_string(),
        url: url.to_string(),
        status: status.as_u16(),
        reason: status.canonical_reason().unwrap_or("").to_string(),
        message: server_message(&text),
    }
}

/// The human part of an error body, on one line.
pub fn server_message(body: &str) -> String {
    let msg = if let Ok(g) = serde_json::from_str::<GlanceErrorBody>(body)
        && let Some(m) = g.message
    {
        m
    } else if let Ok(k) = serde_json::from_str::<KeystoneErrorBody>(body)
        && let Some(m) = k.error.message
    {
        m
    } else {
        body.to_string()
    };
    let mut out = String::new();
    let mut in_tag = false;
    for c in msg.chars() {
        match c {
            '<' => in_tag = true,
            '>' if in_tag => {
                in_tag = false;
                out.push(' ');
            }
            _ if !in_tag => out.push(c),
            _ => {}
        }
    }
    let one_line = out.split_whitespace().collect::<Vec<_>>().join(" ");
    let mut s: String = one_line.chars().take(400).collect();
    if s.len() < one_line.len() {
        s.push_str("...");
    }
    s
}

/// How many times and how patiently to retry a request that is safe to repeat.
#[derive(Debug, Clone, Copy)]
pub struct Retry {
    pub attempts: u32,
    pub first_delay: Duration,
    pub max_delay: Duration,
}

impl Retry {
    /// Ordinary calls: 3 tries over about 3 s.
    pub const CALL: Retry = Retry {
        attempts: 3,
        first_delay: Duration::from_secs(1),
        max_delay: Duration::from_secs(4),
    };
    /// Deleting what we created after a failure: worth waiting for a restarting Glance
    /// (about 45 s in all) rather than leaving an orphan.
    pub const CLEANUP: Retry = Retry {
        attempts: 8,
        first_delay: Duration::from_secs(1),
        max_delay: Duration::from_secs(8),
    };

    pub fn run<T>(&self, mut f: impl FnMut() -> Result<T, GlanceError>) -> Result<T, GlanceError> {
        let mut delay = self.first_delay;
        let mut attempt = 1;
        loop {
            match f() {
                Err(e) if e.is_transient() && attempt < self.attempts => {
                    log::warn!(
                        "{}; retrying in {} s",
                        super::chain(&e),
                        delay.as_secs_f32()
                    );
                    std::thread::sleep(delay);
                    delay = (delay * 2).min(self.max_delay);
                    attempt += 1;
                }
                other => return other,
            }
        }
    }
}

/// Whether a status code means "try again later" (a proxy or a restarting service).
pub fn transient_status(code: u16) -> bool {
    matches!(code, 502..=504)
}

pub fn is_success(s: StatusCode) -> bool {
    s.is_success()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn glance_json_error_loses_its_html() {
        let body = r#"{"message": "Image 83 is protected and cannot be deleted.<br /><br />\n\n\n", "code": "403 Forbidden", "title": "Forbidden"}"#;
        assert_eq!(
            server_message(body),
            "Image 83 is protected and cannot be deleted."
        );
    }

    #[test]
    fn keystone_error_and_html_page() {
        let k = r#"{"error":{"code":401,"message":"The request you have made requires authentication.","title":"Unauthorized"}}"#;
        assert_eq!(
            server_message(k),
            "The request you have made requires authentication."
        );
        let html = "<html><head><title>502 Bad Gateway</title></head><body><h1>Bad\nGateway</h1></body></html>";
        assert_eq!(server_message(html), "502 Bad Gateway Bad Gateway");
    }
}
