//! package-manager-cache, rpm-db, yum-uuid.

use crate::fs::{FsError, GuestFs, OsInfo};
use crate::seal::{Action, SealOp, SealOptions};

use super::paths;

/// Cache directories whose files (not directories) are removed, for every package manager.
const CACHE_DIRS: &[&str] = &[
    "/var/cache/apt/archives",
    // apt lists: the mirror and the date of the last `apt update`; `apt update` refetches.
    "/var/lib/apt/lists",
    "/var/cache/dnf",
    "/var/cache/libdnf5",
    "/var/cache/yum",
    "/var/cache/zypp",
    "/var/cache/zypper",
    "/var/cache/pacman/pkg",
    "/var/cache/apk",
];

pub static PACKAGE_MANAGER_CACHE: SealOp = SealOp {
    name: "package-manager-cache",
    summary: "Remove package manager cache (downloaded packages, apt lists and pkgcache)",
    default: true,
    plan: Some(plan_package_manager_cache),
    ..SealOp::NONE
};

fn plan_package_manager_cache(
    fs: &dyn GuestFs,
    _os: &OsInfo,
    _opts: &SealOptions,
) -> Result<Vec<Action>, FsError> {
    let mut v = paths::remove_file_globs(fs, &["/var/cache/apt/*.bin"])?;
    for dir in CACHE_DIRS {
        // The lock files belong to the package manager, not to the cache.
        v.extend(paths::remove_files_below(fs, dir, &|name| name == "lock")?);
    }
    Ok(paths::sorted(v))
}

pub static RPM_DB: SealOp = SealOp {
    name: "rpm-db",
    summary: "Remove host-specific RPM database files",
    default: true,
    trees: &[],
    files: &["/var/lib/rpm/__db.*"],
    ..SealOp::NONE
};

pub static YUM_UUID: SealOp = SealOp {
    name: "yum-uuid",
    summary: "Remove the yum UUID",
    default: true,
    trees: &[],
    files: &["/var/lib/yum/uuid"],
    ..SealOp::NONE
};
