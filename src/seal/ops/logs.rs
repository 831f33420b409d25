//! logfiles, pacct-log, crash-data, abrt-data.

use std::collections::BTreeSet;

use crate::fs::{FileKind, FsError, GuestFs, OsInfo};
use crate::seal::{Action, SealOp, SealOptions};

use super::paths;

/// virt-sysprep 1.48's logfiles list (its man page), removed as it does (trees for dirs).
const VIRT_SYSPREP_LOGS: &[&str] = &[
    "/etc/Pegasus/*.cnf",
    "/etc/Pegasus/*.crt",
    "/etc/Pegasus/*.csr",
    "/etc/Pegasus/*.pem",
    "/etc/Pegasus/*.srl",
    "/root/anaconda-ks.cfg",
    "/root/anaconda-post.log",
    "/root/initial-setup-ks.cfg",
    "/root/install.log",
    "/root/install.log.syslog",
    "/root/original-ks.cfg",
    "/var/cache/fontconfig/*",
    "/var/cache/gdm/*",
    "/var/cache/man/*",
    "/var/lib/AccountService/users/*",
    "/var/lib/fprint/*",
    "/var/lib/logrotate.status",
    "/var/log/*.log*",
    "/var/log/BackupPC/LOG",
    "/var/log/ConsoleKit/*",
    "/var/log/anaconda.syslog",
    "/var/log/anaconda/*",
    "/var/log/apache2/*_log",
    "/var/log/apache2/*_log-*",
    "/var/log/apt/*",
    "/var/log/aptitude*",
    "/var/log/audit/*",
    "/var/log/btmp*",
    "/var/log/ceph/*.log",
    "/var/log/chrony/*.log",
    "/var/log/cron*",
    "/var/log/cups/*_log*",
    "/var/log/debug*",
    "/var/log/dmesg*",
    "/var/log/exim4/*",
    "/var/log/faillog*",
    "/var/log/firewalld*",
    "/var/log/gdm/*",
    "/var/log/glusterfs/*glusterd.vol.log",
    "/var/log/glusterfs/glusterfs.log",
    "/var/log/grubby*",
    "/var/log/httpd/*log",
    "/var/log/installer/*",
    "/var/log/jetty/jetty-console.log",
    "/var/log/journal/*",
    "/var/log/lastlog*",
    "/var/log/libvirt/libvirtd.log",
    "/var/log/libvirt/libxl/*.log",
    "/var/log/libvirt/lxc/*.log",
    "/var/log/libvirt/qemu/*.log",
    "/var/log/libvirt/uml/*.log",
    "/var/log/lightdm/*",
    "/var/log/mail/*",
    "/var/log/maillog*",
    "/var/log/messages*",
    "/var/log/ntp",
    "/var/log/ntpstats/*",
    "/var/log/ppp/connect-errors",
    "/var/log/rhsm/*",
    "/var/log/sa/*",
    "/var/log/secure*",
    "/var/log/setroubleshoot/*.log",
    "/var/log/spooler*",
    "/var/log/squid/*.log",
    "/var/log/syslog*",
    "/var/log/tallylog*",
    "/var/log/tuned/tuned.log",
    "/var/log/wtmp*",
    "/var/log/xferlog*",
    "/var/named/data/named.run",
];

/// Rotated or compressed logs: removed, not truncated.
const ROTATED: &[&str] = &[
    "*.[0-9]",
    "*.[0-9][0-9]",
    "*.gz",
    "*.xz",
    "*.bz2",
    "*.zst",
    "*.old",
    "*-[0-9][0-9][0-9][0-9][0-9][0-9][0-9][0-9]",
];

/// logfiles: virt-sysprep's list, plus every other regular file below /var/log (the
/// application logs it misses): rotated ones removed, current ones truncated, keeping owner
/// and mode for the daemon that writes them. Directories and symlinks stay.
pub static LOGFILES: SealOp = SealOp {
    name: "logfiles",
    summary: "Remove many log files from the guest (and empty every other file in /var/log)",
    default: true,
    plan: Some(plan_logfiles),
    ..SealOp::NONE
};

fn plan_logfiles(
    fs: &dyn GuestFs,
    _os: &OsInfo,
    _opts: &SealOptions,
) -> Result<Vec<Action>, FsError> {
    let mut v = paths::remove_globs(fs, VIRT_SYSPREP_LOGS)?;
    let gone: BTreeSet<String> = v.iter().map(|a| a.path().to_string()).collect();
    let covered = |p: &str| {
        gone.contains(p)
            || gone.iter().any(|g| {
                p.strip_prefix(g.as_str())
                    .is_some_and(|r| r.starts_with('/'))
            })
    };
    let mut rest = Vec::new();
    paths::walk(fs, "/var/log", &mut |p, k| {
        if k == FileKind::File && !covered(p) {
            rest.push(p.to_string());
        }
        Ok(())
    })?;
    let rotated = paths::NameGlobs::new(ROTATED);
    for p in rest {
        let name = p.rsplit('/').next().unwrap_or(&p);
        if rotated.any(name) {
            v.push(Action::Remove { path: p });
        } else if fs.metadata(&p)?.is_some_and(|m| m.size > 0) {
            v.push(Action::Truncate { path: p });
        }
    }
    Ok(paths::sorted(v))
}

/// pacct-log: empty the current accounting file (keeping owner and mode), remove rotations.
pub static PACCT_LOG: SealOp = SealOp {
    name: "pacct-log",
    summary: "Remove the process accounting log files",
    default: true,
    plan: Some(plan_pacct_log),
    ..SealOp::NONE
};

fn plan_pacct_log(
    fs: &dyn GuestFs,
    _os: &OsInfo,
    _opts: &SealOptions,
) -> Result<Vec<Action>, FsError> {
    let mut v = Vec::new();
    for dir in ["/var/account", "/var/log/account"] {
        for (p, k) in paths::glob(fs, &format!("{dir}/pacct*"))? {
            if k != FileKind::File {
                continue;
            }
            if p.ends_with("/pacct") {
                if fs.metadata(&p)?.is_some_and(|m| m.size > 0) {
                    v.push(Action::Truncate { path: p });
                }
            } else {
                v.push(Action::Remove { path: p });
            }
        }
    }
    Ok(paths::sorted(v))
}

pub static CRASH_DATA: SealOp = SealOp {
    name: "crash-data",
    summary: "Remove the crash data generated by kexec-tools (and systemd-coredump, apport)",
    default: true,
    trees: &[
        "/var/crash/*",
        "/var/log/dump/*",
        "/var/lib/systemd/coredump/*",
        "/var/lib/systemd/pstore/*",
        "/var/lib/apport/coredump/*",
    ],
    files: &[],
    ..SealOp::NONE
};

pub static ABRT_DATA: SealOp = SealOp {
    name: "abrt-data",
    summary: "Remove the crash data generated by ABRT",
    default: true,
    trees: &["/var/spool/abrt/*"],
    files: &[],
    ..SealOp::NONE
};
