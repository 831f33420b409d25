//! How an output image is written, as one typed record: the `-O`/`-c`/`--level`/
//! `--cluster-size`/checksum flags of `convert` and `seal` (clap) and the same keys in serde
//! form, with the same names and defaults (src/cli/parity.rs checks).

use std::path::Path;

use serde::{Deserialize, Serialize};

use super::{
    Codec, Compression, DEFAULT_CLUSTER_SIZE, OutputError, OutputFormat, OutputOptions,
    OutputReport,
};

#[derive(clap::Args, Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "kebab-case", deny_unknown_fields)]
pub struct OutputSpec {
    /// Output format.
    #[arg(short = 'O', long, value_enum, default_value = "qcow2")]
    pub format: OutputFormat,
    /// Compress qcow2 clusters with this codec.
    /// (Recipes: also spelled `compression`, and `none` is no codec.)
    #[arg(short = 'c', long, value_name = "zlib|zstd")]
    #[serde(alias = "compression", deserialize_with = "codec_or_none")]
    pub compress: Option<Codec>,
    /// Compression level (zlib 0-9, default 9: zlib-rs at 9 compresses like qemu-img's zlib at
    /// its default 6; zstd 1-22, default 3 as qemu-img).
    #[arg(long, requires = "compress")]
    pub level: Option<i32>,
    /// qcow2 cluster size: a power of two from 512 to 2M (suffixes K and M allowed);
    /// default 64K, as qemu-img.
    #[arg(long, value_parser = parse_size)]
    #[serde(deserialize_with = "size_or_text")]
    pub cluster_size: Option<u32>,
    /// Skip computing the sha256, sha512 and md5 of the output.
    #[arg(long)]
    pub no_checksums: bool,
    /// Also write OUTPUT.sha256, OUTPUT.sha512 and OUTPUT.md5 in `sha256sum -c` format.
    #[arg(long, conflicts_with = "no_checksums")]
    pub checksum_file: bool,
}

impl OutputSpec {
    /// The writer's options; the caller adds `force`, `threads` and `cancel`. Not validated:
    /// see [`OutputOptions::validate`].
    pub fn options(&self) -> OutputOptions {
        OutputOptions {
            format: self.format,
            compress: self.compress.map(|codec| {
                let mut c = Compression::default_for(codec);
                if let Some(l) = self.level {
                    c.level = l;
                }
                c
            }),
            cluster_size: self.cluster_size.unwrap_or(DEFAULT_CLUSTER_SIZE),
            checksums: !self.no_checksums,
            ..OutputOptions::default()
        }
    }
}

/// `65536`, `64K` or `2M`.
pub fn parse_size(s: &str) -> Result<u32, String> {
    let (num, mult) = match s.chars().last() {
        Some('k' | 'K') => (&s[..s.len() - 1], 1024u64),
        Some('m' | 'M') => (&s[..s.len() - 1], 1024 * 1024),
        _ => (s, 1),
    };
    num.parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(mult))
        .and_then(|n| u32::try_from(n).ok())
        .ok_or_else(|| format!("invalid size {s:?}"))
}

/// A codec, or `none` (a recipe's spelling of no compression).
fn codec_or_none<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Codec>, D::Error> {
    match Option::<String>::deserialize(d)?.as_deref() {
        None | Some("none") => Ok(None),
        Some(s) => s.parse::<Codec>().map(Some).map_err(|_| {
            serde::de::Error::custom(format!(
                "output compression {s:?}: expected none, zlib or zstd"
            ))
        }),
    }
}

/// A size as a number of bytes or as `--cluster-size` text ("64K").
fn size_or_text<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<u32>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Size {
        Bytes(u64),
        Text(String),
    }
    let n = match Option::<Size>::deserialize(d)? {
        None => return Ok(None),
        Some(Size::Bytes(n)) => u32::try_from(n).map_err(|_| format!("invalid size {n}")),
        Some(Size::Text(s)) => parse_size(&s),
    };
    n.map(Some).map_err(serde::de::Error::custom)
}

/// `HASH  NAME` lines next to the output (`--checksum-file`), with the bare file name so
/// `sha256sum -c` works from the output's directory.
pub fn write_checksum_files(r: &OutputReport) -> Result<(), OutputError> {
    let Some(c) = &r.checksums else {
        return Ok(());
    };
    let name = r
        .path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    for (ext, hash) in [
        ("sha256", &c.sha256),
        ("sha512", &c.sha512),
        ("md5", &c.md5),
    ] {
        let mut p = r.path.clone().into_os_string();
        p.push(".");
        p.push(ext);
        let p = Path::new(&p);
        std::fs::write(p, format!("{hash}  {name}\n"))
            .map_err(|e| OutputError::io(format!("writing {}", p.display()), e))?;
    }
    Ok(())
}
