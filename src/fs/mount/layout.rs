//! Where the guest's root is inside a mounted btrfs, and which other subvolumes the guest
//! mounts under it. Fedora keeps `/` in subvolume `root` and `/home` in `home` (fstab says
//! `subvol=home`); sealing must see /home/*/.bash_history as the guest does.

use crate::fs::detect::FsInfo;
use crate::fs::dir::DirFs;
use crate::fs::{FileKind, FsError, GuestFs, fstab, os};

/// The guest root's place in a mounted filesystem.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Layout {
    /// The top-level subvolume holding the root, when it is not the top level itself.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subvolume: Option<String>,
    /// (subvolume, guest mount point) attached under the root, as the guest's fstab says.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub attached: Vec<(String, String)>,
}

/// Find the root (the top level or a top-level subvolume with /etc/os-release) and the
/// subvolumes its fstab mounts from this same filesystem.
pub fn btrfs(top: &DirFs, info: &FsInfo) -> Result<Layout, FsError> {
    if os::is_root(top)? {
        return Ok(Layout::default());
    }
    let mut subvolume = None;
    for e in top.read_dir("/")? {
        if e.kind != FileKind::Dir {
            continue;
        }
        let sub = top.subdir(&format!("/{}", e.name))?;
        if os::is_root(&sub)? {
            subvolume = Some(e.name);
            break;
        }
    }
    let Some(name) = subvolume else {
        return Ok(Layout::default());
    };
    let root = top.subdir(&format!("/{name}"))?;
    let mut attached = Vec::new();
    for (sub, at) in subvolume_mounts(&fstab::read(&root)?, info) {
        if sub == name || at == "/" {
            continue;
        }
        let sub_is_dir = top
            .metadata(&format!("/{sub}"))?
            .is_some_and(|m| m.kind == FileKind::Dir);
        let at_is_dir = root.metadata(&at)?.is_some_and(|m| m.kind == FileKind::Dir);
        if sub_is_dir && at_is_dir {
            attached.push((sub, at));
        }
    }
    Ok(Layout {
        subvolume: Some(name),
        attached,
    })
}

/// (subvolume, mount point) of every fstab line mounting a top-level subvolume of the
/// filesystem `info` describes.
fn subvolume_mounts(entries: &[fstab::Entry], info: &FsInfo) -> Vec<(String, String)> {
    entries
        .iter()
        .filter(|e| e.fstype == "btrfs" && e.names(info, ""))
        .filter_map(|e| {
            let sub = e.option("subvol")?.trim_start_matches('/');
            let ok = !sub.is_empty() && !sub.contains('/') && sub != "." && sub != "..";
            ok.then(|| (sub.to_string(), e.mount_point.clone()))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fs::detect::FsKind;

    fn info() -> FsInfo {
        FsInfo {
            kind: FsKind::Btrfs,
            label: "fedora".into(),
            uuid: "0c5e5a1e-0000-4000-8000-0000000000b7".into(),
            features: Vec::new(),
        }
    }

    #[test]
    fn fedora_fstab_mounts_home_from_our_filesystem_only() {
        let fstab = "\
# comment\n\
UUID=0C5E5A1E-0000-4000-8000-0000000000B7 / btrfs subvol=root,compress=zstd:1 0 0\n\
UUID=0c5e5a1e-0000-4000-8000-0000000000b7 /home btrfs subvol=/home,compress=zstd:1 0 0\n\
UUID=ffffffff-0000-4000-8000-0000000000b7 /srv btrfs subvol=srv 0 0\n\
LABEL=fedora /var/log btrfs defaults,subvol=log 0 0\n\
LABEL=fedora /x btrfs subvol=a/b 0 0\n\
LABEL=fedora /../etc btrfs subvol=esc 0 0\n\
UUID=0c5e5a1e-0000-4000-8000-0000000000b7 /boot ext4 subvol=boot 0 0\n";
        assert_eq!(
            subvolume_mounts(&fstab::parse(fstab), &info()),
            vec![
                ("root".to_string(), "/".to_string()),
                ("home".to_string(), "/home".to_string()),
                ("log".to_string(), "/var/log".to_string()),
            ]
        );
    }
}
