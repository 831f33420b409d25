//! The guest's /etc/fstab: which filesystem of the image the guest mounts where, so a
//! separate /boot/efi, /var or /home is sealed as the guest sees it.

use super::detect::FsInfo;
use super::{FileKind, FsError, GuestFs};
use crate::part::Partition;

/// fstab is a small text file; anything larger is not one.
const MAX_FSTAB: u64 = 1 << 20;

/// The guest's /etc/fstab, parsed; empty when there is none.
pub fn read(fs: &dyn GuestFs) -> Result<Vec<Entry>, FsError> {
    Ok(match fs.metadata("/etc/fstab")? {
        Some(m) if m.kind == FileKind::File => parse(&String::from_utf8_lossy(
            &fs.read_file("/etc/fstab", MAX_FSTAB)?,
        )),
        _ => Vec::new(),
    })
}

/// Where the guest mounts the filesystem `fs` of partition `part`: the mount point of the first
/// line that names it, the root's own line (`/`) aside. The one placement rule of `seal` and
/// `inspect`; see [`Entry::names`] for what a line can name it by.
pub fn mount_point<'a>(tab: &'a [Entry], part: &Partition, fs: &FsInfo) -> Option<&'a str> {
    tab.iter()
        .find(|e| e.mount_point != "/" && e.names(fs, &part.uuid))
        .map(|e| e.mount_point.as_str())
}

/// One fstab line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub spec: String,
    pub mount_point: String,
    pub fstype: String,
    pub options: Vec<String>,
}

impl Entry {
    /// The value of option `name=` (`subvol=` for btrfs).
    pub fn option(&self, name: &str) -> Option<&str> {
        self.options
            .iter()
            .find_map(|o| o.strip_prefix(name)?.strip_prefix('='))
    }

    /// Whether this line names the filesystem `info` describes, or the partition whose GPT
    /// unique GUID is `part_uuid`. Device paths (/dev/sda1) say nothing about our image.
    pub fn names(&self, info: &FsInfo, part_uuid: &str) -> bool {
        let (key, val) = match self.spec.split_once('=') {
            Some(kv) => kv,
            None => match self.spec.strip_prefix("/dev/disk/by-") {
                Some(rest) => match rest.split_once('/') {
                    Some(("uuid", v)) => ("UUID", v),
                    Some(("label", v)) => ("LABEL", v),
                    Some(("partuuid", v)) => ("PARTUUID", v),
                    _ => return false,
                },
                None => return false,
            },
        };
        let val = val.trim_matches('"');
        match key {
            "UUID" => !info.uuid.is_empty() && val.eq_ignore_ascii_case(&info.uuid),
            "LABEL" => !info.label.is_empty() && val == info.label,
            "PARTUUID" => !part_uuid.is_empty() && val.eq_ignore_ascii_case(part_uuid),
            _ => false,
        }
    }
}

/// The lines of an fstab that mount something at an absolute, `..`-free path (swap, comments
/// and malformed lines are skipped). Octal escapes (`\040`) are decoded.
pub fn parse(text: &str) -> Vec<Entry> {
    let mut out = Vec::new();
    for line in text.lines() {
        let f: Vec<&str> = line.split_whitespace().collect();
        if f.len() < 3 || f[0].starts_with('#') {
            continue;
        }
        let mount_point = unescape(f[1]);
        let plain =
            mount_point.starts_with('/') && !mount_point.split('/').any(|c| c == ".." || c == ".");
        if !plain {
            continue;
        }
        out.push(Entry {
            spec: unescape(f[0]),
            mount_point,
            fstype: f[2].to_string(),
            options: f
                .get(3)
                .map(|o| o.split(',').map(str::to_string).collect())
                .unwrap_or_default(),
        });
    }
    out
}

/// fstab's `\ooo` octal escapes (a space is `\040`).
fn unescape(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let oct = b
            .get(i + 1..i + 4)
            .filter(|d| b[i] == b'\\' && d.iter().all(|c| (b'0'..=b'7').contains(c)));
        match oct.map(|d| d.iter().fold(0u32, |a, c| a * 8 + u32::from(c - b'0'))) {
            Some(v) if v <= 0xff => {
                out.push(v as u8);
                i += 4;
            }
            _ => {
                out.push(b[i]);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fs::detect::FsKind;

    fn vfat() -> FsInfo {
        FsInfo {
            kind: FsKind::Vfat,
            label: "EFI".into(),
            uuid: "0C5E-EF11".into(),
            features: Vec::new(),
        }
    }

    #[test]
    fn parses_and_matches_by_uuid_label_partuuid_and_by_paths() {
        let t = "\
# /etc/fstab\n\
UUID=0c5e-ef11 /boot/efi vfat umask=0077 0 2\n\
LABEL=EFI /efi vfat defaults 0 2\n\
PARTUUID=0C5E0000-0000-4000-8000-000000000B02 /boot vfat defaults\n\
/dev/disk/by-uuid/0C5E-EF11 /mnt/a\\040b vfat defaults\n\
/dev/sda2 /other vfat defaults\n\
UUID=0C5E-EF11 none swap sw 0 0\n\
UUID=0C5E-EF11 /../escape vfat defaults\n\
broken\n";
        let e = parse(t);
        let mps: Vec<&str> = e.iter().map(|e| e.mount_point.as_str()).collect();
        assert_eq!(mps, ["/boot/efi", "/efi", "/boot", "/mnt/a b", "/other"]);
        let part = "0c5e0000-0000-4000-8000-000000000b02";
        let named: Vec<bool> = e.iter().map(|e| e.names(&vfat(), part)).collect();
        assert_eq!(named, [true, true, true, true, false]);
        assert_eq!(e[0].option("umask"), Some("0077"));
        assert!(
            !e[2].names(&vfat(), ""),
            "PARTUUID needs the partition GUID"
        );
    }

    #[test]
    fn mount_point_is_the_first_line_naming_it_but_never_the_root() {
        let part = Partition {
            number: 2,
            start: 1 << 20,
            size: 1 << 20,
            type_id: String::new(),
            type_name: String::new(),
            name: String::new(),
            uuid: "0C5E0000-0000-4000-8000-000000000B02".into(),
        };
        let t = parse(
            "LABEL=EFI / vfat defaults\n\
             /dev/vda2 /dev-name vfat defaults\n\
             PARTUUID=0c5e0000-0000-4000-8000-000000000b02 /boot/efi vfat defaults\n\
             UUID=0C5E-EF11 /efi vfat defaults\n",
        );
        assert_eq!(mount_point(&t, &part, &vfat()), Some("/boot/efi"));
        let other = FsInfo {
            uuid: "1234-5678".into(),
            label: String::new(),
            ..vfat()
        };
        let unnamed = Partition {
            uuid: String::new(),
            ..part
        };
        assert_eq!(mount_point(&t, &unnamed, &other), None);
    }
}
