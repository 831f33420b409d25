//! The base image: a local file, or an http(s) download kept in a cache by its sha256. Either
//! way its sha256 is computed, and checked when the recipe gives one.

use std::fs::File;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::digest::hex;
use crate::output::OutputError;
use crate::output::atomic::AtomicFile;

use super::schema::Base;

/// Largest base image we download.
const MAX_DOWNLOAD: u64 = 256 << 30;

#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error("{context}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
    #[error("downloading {url}: {msg}")]
    Http { url: String, msg: String },
    #[error("downloading {url}")]
    Request {
        url: String,
        #[source]
        source: ureq::Error,
    },
    /// Writing the download into the cache.
    #[error(transparent)]
    Cache(#[from] OutputError),
    #[error("{what}: sha256 is {got}, the recipe expects {want}")]
    Mismatch {
        what: String,
        got: String,
        want: String,
    },
    #[error("[base] has neither path nor url")]
    NoSource,
}

fn io(context: String) -> impl FnOnce(std::io::Error) -> FetchError {
    move |source| FetchError::Io { context, source }
}

/// The local image to build from and its sha256.
#[derive(Debug, Clone)]
pub struct Fetched {
    pub path: PathBuf,
    pub sha256: String,
    /// What the recipe named (path or URL), for the manifest.
    pub source: String,
}

/// Stream `r` into `w` (if any), returning the hex sha256 and the length.
fn hash_copy(
    r: &mut dyn Read,
    mut w: Option<&mut dyn Write>,
    what: &str,
) -> Result<(String, u64), FetchError> {
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut total: u64 = 0;
    loop {
        let n = r.read(&mut buf).map_err(io(format!("reading {what}")))?;
        if n == 0 {
            break;
        }
        total += n as u64;
        if total > MAX_DOWNLOAD {
            return Err(FetchError::Http {
                url: what.to_string(),
                msg: format!("larger than {MAX_DOWNLOAD} bytes"),
            });
        }
        h.update(&buf[..n]);
        if let Some(w) = w.as_mut() {
            w.write_all(&buf[..n])
                .map_err(io(format!("writing {what}")))?;
        }
    }
    Ok((hex(&h.finalize()), total))
}

/// sha256 of a file.
pub fn sha256_file(p: &Path) -> Result<String, FetchError> {
    let what = p.display().to_string();
    let mut f = File::open(p).map_err(io(format!("opening {what}")))?;
    Ok(hash_copy(&mut f, None, &what)?.0)
}

fn check(what: &str, got: &str, want: Option<&String>) -> Result<(), FetchError> {
    match want {
        Some(w) if !w.eq_ignore_ascii_case(got) => Err(FetchError::Mismatch {
            what: what.to_string(),
            got: got.to_string(),
            want: w.to_lowercase(),
        }),
        _ => Ok(()),
    }
}

/// Resolve `[base]` to a verified local file; downloads go to `cache/<sha256>.img`.
pub fn fetch(base: &Base, cache: &Path) -> Result<Fetched, FetchError> {
    if let Some(p) = &base.path {
        let sha = sha256_file(Path::new(p))?;
        check(p, &sha, base.sha256.as_ref())?;
        return Ok(Fetched {
            path: PathBuf::from(p),
            sha256: sha,
            source: p.clone(),
        });
    }
    let url = base.url.as_ref().ok_or(FetchError::NoSource)?;
    let want = base.sha256.as_ref().ok_or_else(|| FetchError::Http {
        url: url.clone(),
        msg: "no sha256 to verify it against".into(),
    })?;
    let dest = cache.join(format!("{}.img", want.to_lowercase()));
    if dest.exists() {
        let sha = sha256_file(&dest)?;
        if sha.eq_ignore_ascii_case(want) {
            log::info!("base image from the cache: {}", dest.display());
            return Ok(Fetched {
                path: dest,
                sha256: sha,
                source: url.clone(),
            });
        }
        log::warn!(
            "cached {} does not match its sha256: downloading again",
            dest.display()
        );
    }
    std::fs::create_dir_all(cache).map_err(io(format!("creating {}", cache.display())))?;
    // Under its name only once complete and verified (replacing a cached copy that was not).
    let tmp = AtomicFile::create(&dest, true)?;
    let mut resp = ureq::get(url)
        .call()
        .map_err(|source| FetchError::Request {
            url: url.clone(),
            source,
        })?;
    let mut reader = resp.body_mut().as_reader();
    let (sha, _) = hash_copy(&mut reader, Some(&mut tmp.file()), url)?;
    check(url, &sha, Some(want))?;
    tmp.sync()?;
    tmp.commit()?;
    Ok(Fetched {
        path: dest,
        sha256: sha,
        source: url.clone(),
    })
}
