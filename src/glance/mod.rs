//! OpenStack Glance: Keystone v3 authentication and the Images v2 API.
//!
//! [`publish`] is the one call `upload`, `seal --upload` and recipes use: log in, then
//! (`upload::upload_file`) create the record, stream the bytes (hashing them), wait for
//! `active`, check Glance's md5 and sha512 against ours, and delete what we created when
//! anything fails. Its settings are the typed records of `settings.rs` and `UploadOptions`.

pub mod auth;
pub mod config;
pub mod hashing;
pub mod http;
pub mod images;
pub mod models;
pub mod publish;
pub mod settings;
pub mod upload;

pub use auth::{AuthConfig, Session};
pub use config::{Secret, Settings};
pub use images::{Glance, ImageSpec, Visibility};
pub use models::ImageRecord;
pub use publish::publish;
pub use settings::{Auth, ImageOptions};
pub use upload::{UploadOptions, UploadOutcome, upload_file};

#[derive(Debug, thiserror::Error)]
pub enum GlanceError {
    /// Missing or contradictory settings.
    #[error("{0}")]
    Config(String),
    /// The request never got an HTTP answer (refused, reset, timed out, TLS).
    #[error("{what}: cannot reach {url}")]
    Unreachable {
        what: String,
        url: String,
        #[source]
        source: ureq::Error,
    },
    /// An HTTP answer with an error status, with the server's message.
    #[error("{what}: {url} answered {status} {reason}: {message}{}", hint(*.status, message))]
    Status {
        what: String,
        url: String,
        status: u16,
        reason: String,
        message: String,
    },
    /// A success status with a body we cannot use.
    #[error("{what}: {msg}")]
    Protocol { what: String, msg: String },
    /// Glance stored something other than what we sent.
    #[error("{0}")]
    Verify(String),
    /// An upload attempt failed (or was interrupted); `cleanup` says what became of the
    /// image it created. The cause stays typed, so `is_transient` still answers for it.
    #[error(
        "uploading {file} as image {name} ({id}) {} ({cleanup})",
        if *.interrupted { "was interrupted" } else { "failed" }
    )]
    Upload {
        file: String,
        name: String,
        id: String,
        interrupted: bool,
        cleanup: String,
        #[source]
        source: Box<GlanceError>,
    },
    #[error("{context}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
    #[error("hashing the upload")]
    Digest(#[from] crate::digest::DigestError),
}

impl GlanceError {
    pub fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        GlanceError::Io {
            context: context.into(),
            source,
        }
    }

    /// Worth retrying: the request may not have reached the service, or a proxy/restart
    /// answered for it.
    pub fn is_transient(&self) -> bool {
        match self {
            GlanceError::Unreachable { source, .. } => match source {
                ureq::Error::Io(e) => matches!(
                    e.kind(),
                    std::io::ErrorKind::ConnectionRefused
                        | std::io::ErrorKind::ConnectionReset
                        | std::io::ErrorKind::ConnectionAborted
                        | std::io::ErrorKind::BrokenPipe
                        | std::io::ErrorKind::UnexpectedEof
                        | std::io::ErrorKind::TimedOut
                ),
                ureq::Error::ConnectionFailed | ureq::Error::Timeout(_) => true,
                _ => false,
            },
            GlanceError::Status { status, .. } => http::transient_status(*status),
            GlanceError::Upload { source, .. } => source.is_transient(),
            _ => false,
        }
    }

    /// The HTTP status, for callers that treat one specially (404, 409).
    pub fn status(&self) -> Option<u16> {
        match self {
            GlanceError::Status { status, .. } => Some(*status),
            GlanceError::Upload { source, .. } => source.status(),
            _ => None,
        }
    }
}

/// Plain words for the answers users meet most.
fn hint(status: u16, message: &str) -> &'static str {
    match status {
        401 => {
            " (the credentials were refused: check the user name, password or secret, and their domain)"
        }
        403 if message.contains("publicize_image") => {
            " (only an administrator may make an image public; use --private, --shared or --community)"
        }
        403 if message.contains("communitize_image") => {
            " (this cloud does not let you make community images; use --private or --shared)"
        }
        403 if message.contains("is protected") => " (the image is protected: unprotect it first)",
        403 => " (your role in this project does not allow it)",
        413 => " (the image is larger than this cloud accepts, or your quota is exhausted)",
        415 => " (Glance checked the data against the disk format and they disagree)",
        _ => "",
    }
}

/// The whole cause chain of an error on one line, as `main` prints it.
pub fn chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cur = c.source();
    }
    s
}
