//! sha256, sha512 and md5 of the output file's bytes, as `sha256sum` & co print them; the
//! three run side by side on their own threads (`crate::digest`).

use crate::digest::{Algo, DigestError, Digester};

/// Hex digests of a file's bytes (`sha256sum`, `sha512sum`, `md5sum` format).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Checksums {
    pub sha256: String,
    pub sha512: String,
    pub md5: String,
}

impl Checksums {
    /// A digester whose `finish` goes to [`Checksums::from_digests`].
    pub fn digester() -> Digester {
        Digester::new(&[Algo::Sha256, Algo::Sha512, Algo::Md5])
    }

    pub fn from_digests(d: Digester) -> Result<Self, DigestError> {
        let mut h = d.finish()?.into_iter();
        let mut next = || h.next().unwrap_or_default();
        Ok(Checksums {
            sha256: next(),
            sha512: next(),
            md5: next(),
        })
    }
}
