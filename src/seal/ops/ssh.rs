//! ssh-hostkeys, ssh-userdir.

use crate::fs::{FileKind, FsError, GuestFs, OsInfo};
use crate::seal::unit::{Oneshot, WANTS_DIR};
use crate::seal::{Action, SealOp, SealOptions};

use super::paths;

/// Units that create missing host keys at boot: Fedora/RHEL's sshd-keygen@ (and the older
/// sshd-keygen), Debian 13's sshd-keygen (first boot only), Arch's sshdgenkeys.
const KEYGEN_UNITS: &[&str] = &[
    "sshd-keygen@.service",
    "sshd-keygen.service",
    "sshdgenkeys.service",
];
/// Where units live, in systemd's order of precedence. /lib is /usr/lib on a merged-/usr
/// guest: the first copy of a unit found is the one that counts, reported once.
const UNIT_DIRS: &[&str] = &[
    "/etc/systemd/system",
    "/usr/lib/systemd/system",
    "/lib/systemd/system",
];
const CLOUD_INIT: &[&str] = &["/usr/bin/cloud-init", "/etc/cloud/cloud.cfg"];

/// The guard: `ssh-keygen -A` (which only creates the missing keys) at every boot where the
/// ed25519 key is missing, before sshd. Named like the recipes' first-boot step, so a recipe
/// that still adds that step replaces this unit rather than adding a second `ssh-keygen -A`
/// running beside it.
pub const GUARD: Oneshot<'static> = Oneshot {
    name: "cloudseal-ssh-keygen",
    comment: "Written by cloudseal (ssh-hostkeys): creates missing SSH host keys before sshd, at every boot.",
    description: "cloudseal: create missing SSH host keys",
    command: "ssh-keygen -A",
    unless_exists: Some("/etc/ssh/ssh_host_ed25519_key"),
    // After cloud-init's network stage (cloud-init-network.service since 24.3), which writes
    // the instance's keys when it has a datasource, and after the guest's own sshd-keygen:
    // when either made keys, the condition skips the guard; it never writes beside them.
    after: &[
        "cloud-init.service",
        "cloud-init-network.service",
        "sshd-keygen.service",
    ],
    before: &["ssh.service", "sshd.service"],
};

/// ssh-hostkeys: the keys; and, when nothing in the guest makes new ones at every boot where
/// they are missing, a unit that does (the guard).
pub static SSH_HOSTKEYS: SealOp = SealOp {
    name: "ssh-hostkeys",
    summary: "Remove the SSH host keys in the guest",
    default: true,
    plan: Some(plan_ssh_hostkeys),
    ..SealOp::NONE
};

fn plan_ssh_hostkeys(
    fs: &dyn GuestFs,
    _os: &OsInfo,
    opts: &SealOptions,
) -> Result<Vec<Action>, FsError> {
    let mut v = paths::remove_file_globs(fs, &["/etc/ssh/*_host_*"])?;
    if v.is_empty() {
        return Ok(v);
    }
    let mut cloud_init = false;
    for p in CLOUD_INIT {
        cloud_init |= paths::kind(fs, p)?.is_some();
    }
    // Does something recreate missing keys at every boot (a first boot counts when the
    // machine-id is set to `uninitialized`, which makes the next boot a first boot)?
    let mut every_boot = guard_installed(fs)?;
    let mut first_boot_only = Vec::new();
    for name in KEYGEN_UNITS {
        let Some((path, text)) = unit_text(fs, name)? else {
            continue;
        };
        if first_boot_condition(&text) && !opts.machine_id_uninitialized {
            first_boot_only.push(path);
        } else {
            every_boot = true;
        }
    }
    let guard = !every_boot && !opts.no_ssh_keygen_guard;
    let first_boot_found = !first_boot_only.is_empty();
    for path in first_boot_only {
        let then = if guard {
            "the guard unit below recreates the keys"
        } else {
            "seal with the machine-id set to `uninitialized` or the host keys are not \
             recreated"
        };
        v.push(Action::Report {
            path,
            note: format!("runs only on a first boot, which an empty machine-id is not: {then}"),
        });
    }
    if guard {
        v.extend(plan_guard(fs)?);
    } else if !every_boot && !first_boot_found {
        let why = if cloud_init {
            "only cloud-init recreates the host keys, and only when it finds a datasource: \
             without one sshd will not start"
        } else {
            "nothing recreates the host keys at boot: sshd will not start"
        };
        v.push(Action::Report {
            path: "/etc/ssh".into(),
            note: why.into(),
        });
    }
    Ok(v)
}

/// The first copy of unit `name` in systemd's search order, with its text; `None` when it is
/// missing or masked (a symlink to /dev/null in /etc).
fn unit_text(fs: &dyn GuestFs, name: &str) -> Result<Option<(String, String)>, FsError> {
    for dir in UNIT_DIRS {
        let path = format!("{dir}/{name}");
        match paths::kind(fs, &path)? {
            None => continue,
            Some(FileKind::Symlink) if fs.read_link(&path)? == "/dev/null" => return Ok(None),
            Some(_) => {}
        }
        // A symlink elsewhere (an alias) leads to a copy further down the search order.
        if let Some(text) = paths::read_text(fs, &path)? {
            return Ok(Some((path, text)));
        }
    }
    Ok(None)
}

/// `ConditionFirstBoot=` true (systemd's boolean spellings, blanks around `=` allowed).
fn first_boot_condition(text: &str) -> bool {
    text.lines().any(|l| {
        l.split_once('=').is_some_and(|(k, v)| {
            k.trim() == "ConditionFirstBoot" && matches!(v.trim(), "yes" | "true" | "on" | "1")
        })
    })
}

/// The guard of an earlier seal (or the recipes' step of the same name), enabled.
fn guard_installed(fs: &dyn GuestFs) -> Result<bool, FsError> {
    Ok(paths::kind(fs, &GUARD.path())? == Some(FileKind::File)
        && paths::kind(fs, &GUARD.wants_link())? == Some(FileKind::Symlink))
}

/// Write the guard and its multi-user.target.wants link, creating the directories missing;
/// a report instead when something is in the way.
fn plan_guard(fs: &dyn GuestFs) -> Result<Vec<Action>, FsError> {
    let mut v = Vec::new();
    let mut dir = String::new();
    for comp in WANTS_DIR.split('/').filter(|c| !c.is_empty()) {
        dir.push('/');
        dir.push_str(comp);
        match paths::kind(fs, &dir)? {
            Some(FileKind::Dir) => {}
            None => v.push(Action::Mkdir { path: dir.clone() }),
            Some(_) => return Ok(vec![blocked(&dir)]),
        }
    }
    let (unit, link) = (GUARD.path(), GUARD.wants_link());
    for p in [&unit, &link] {
        if paths::kind(fs, p)?.is_some() {
            return Ok(vec![blocked(p)]);
        }
    }
    v.push(Action::Create {
        path: unit.clone(),
        content: GUARD.text().into_bytes(),
        note: "recreates missing SSH host keys at every boot: nothing else in the guest does \
               without a cloud-init datasource (--no-ssh-keygen-guard leaves it out)"
            .into(),
    });
    v.push(Action::Symlink {
        path: link,
        target: unit,
    });
    if paths::selinux_enabled(fs)? && paths::kind(fs, "/.autorelabel")?.is_none() {
        v.push(Action::Create {
            path: "/.autorelabel".into(),
            content: Vec::new(),
            note: "SELinux labels the new unit at the next boot".into(),
        });
    }
    Ok(v)
}

fn blocked(path: &str) -> Action {
    Action::Report {
        path: path.to_string(),
        note: "is in the way of the unit that recreates missing SSH host keys at boot: nothing \
               recreates them and sshd will not start"
            .into(),
    }
}

pub static SSH_USERDIR: SealOp = SealOp {
    name: "ssh-userdir",
    summary: "Remove \".ssh\" directories in the guest",
    default: true,
    trees: &["~/.ssh"],
    files: &[],
    ..SealOp::NONE
};

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::fs::dir::DirFs;
    use crate::seal::{Selection, apply, plan_all};

    const FIRST_BOOT_UNIT: &str =
        "[Unit]\nConditionFirstBoot=yes\n[Service]\nExecStart=ssh-keygen -A\n";
    const EVERY_BOOT_UNIT: &str =
        "[Unit]\nConditionFileNotEmpty=|!/etc/ssh/ssh_host_%i_key\n[Service]\nExecStart=x\n";

    /// A guest with host keys and the given files; `merged` makes /lib a link to usr/lib.
    fn guest(files: &[(&str, &str)], merged: bool) -> tempfile::TempDir {
        let t = tempfile::tempdir().expect("tempdir");
        let mut all = vec![
            ("/etc/ssh/ssh_host_ed25519_key", "k"),
            ("/etc/ssh/ssh_host_ed25519_key.pub", "k"),
        ];
        all.extend_from_slice(files);
        for (p, c) in all {
            let host = t.path().join(p.trim_start_matches('/'));
            std::fs::create_dir_all(host.parent().expect("parent")).expect("mkdir");
            std::fs::write(host, c).expect("write");
        }
        if merged {
            std::fs::create_dir_all(t.path().join("usr/lib")).expect("mkdir");
            std::os::unix::fs::symlink("usr/lib", t.path().join("lib")).expect("symlink");
        }
        t
    }

    fn plan_in(root: &Path, opts: &SealOptions) -> Vec<Action> {
        let fs = DirFs::open(root).expect("open");
        SSH_HOSTKEYS
            .plan(&fs, &OsInfo::default(), opts)
            .expect("plan")
    }

    fn plan(root: &Path) -> Vec<Action> {
        plan_in(root, &SealOptions::default())
    }

    fn guard_planned(v: &[Action]) -> bool {
        v.iter()
            .any(|a| matches!(a, Action::Create { path, .. } if *path == GUARD.path()))
    }

    fn reports(v: &[Action]) -> Vec<(&str, &str)> {
        v.iter()
            .filter_map(|a| match a {
                Action::Report { path, note } => Some((path.as_str(), note.as_str())),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn debian_13_first_boot_unit_gets_the_guard_reported_once_on_merged_usr() {
        let t = guest(
            &[
                (
                    "/usr/lib/systemd/system/sshd-keygen.service",
                    FIRST_BOOT_UNIT,
                ),
                ("/usr/bin/cloud-init", "#!"),
            ],
            true,
        );
        let v = plan(t.path());
        // /lib and /usr/lib are one directory here: one finding, under the real path.
        let r = reports(&v);
        assert_eq!(r.len(), 1, "{v:#?}");
        assert_eq!(r[0].0, "/usr/lib/systemd/system/sshd-keygen.service");
        assert!(r[0].1.contains("guard unit below"), "{}", r[0].1);
        // The directories missing, the unit, its wants link, in that order.
        let made: Vec<&str> = v
            .iter()
            .filter(|a| !matches!(a, Action::Remove { .. } | Action::Report { .. }))
            .map(Action::path)
            .collect();
        assert_eq!(
            made,
            [
                "/etc/systemd",
                "/etc/systemd/system",
                "/etc/systemd/system/multi-user.target.wants",
                "/etc/systemd/system/cloudseal-ssh-keygen.service",
                "/etc/systemd/system/multi-user.target.wants/cloudseal-ssh-keygen.service",
            ]
        );
        assert!(v.contains(&Action::Symlink {
            path: GUARD.wants_link(),
            target: GUARD.path(),
        }));
    }

    #[test]
    fn guard_unit_runs_keygen_only_when_a_key_is_missing_before_sshd_after_cloud_init() {
        let u = GUARD.text();
        for line in [
            "ConditionPathExists=!/etc/ssh/ssh_host_ed25519_key\n",
            "After=cloud-init.service cloud-init-network.service sshd-keygen.service\n",
            "Before=ssh.service sshd.service\n",
            "ExecStart=/bin/sh -c \"ssh-keygen -A\"\n",
            "WantedBy=multi-user.target\n",
        ] {
            assert!(u.contains(line), "{line} missing from\n{u}");
        }
        // Not a run-once unit: no stamp, so it acts at every boot where a key is missing.
        assert!(!u.contains("ExecStartPost") && !u.contains(STAMP), "{u}");
    }
    const STAMP: &str = crate::seal::unit::STAMP_DIR;

    #[test]
    fn debian_12_with_cloud_init_alone_gets_the_guard() {
        let t = guest(&[("/etc/cloud/cloud.cfg", "x")], false);
        assert!(guard_planned(&plan(t.path())));
    }

    #[test]
    fn fedora_keygen_unit_needs_no_guard() {
        for dir in ["/usr/lib", "/lib"] {
            let t = guest(
                &[(
                    &format!("{dir}/systemd/system/sshd-keygen@.service"),
                    EVERY_BOOT_UNIT,
                )],
                false,
            );
            let v = plan(t.path());
            assert!(!guard_planned(&v), "{dir}: {v:#?}");
            assert!(reports(&v).is_empty(), "{dir}: {v:#?}");
        }
    }

    #[test]
    fn a_masked_keygen_unit_does_not_count() {
        let t = guest(
            &[(
                "/usr/lib/systemd/system/sshd-keygen@.service",
                EVERY_BOOT_UNIT,
            )],
            false,
        );
        std::fs::create_dir_all(t.path().join("etc/systemd/system")).expect("mkdir");
        std::os::unix::fs::symlink(
            "/dev/null",
            t.path().join("etc/systemd/system/sshd-keygen@.service"),
        )
        .expect("symlink");
        assert!(guard_planned(&plan(t.path())));
    }

    #[test]
    fn uninitialized_machine_id_makes_the_first_boot_unit_enough() {
        let t = guest(
            &[(
                "/usr/lib/systemd/system/sshd-keygen.service",
                FIRST_BOOT_UNIT,
            )],
            false,
        );
        let opts = SealOptions {
            machine_id_uninitialized: true,
            ..Default::default()
        };
        let v = plan_in(t.path(), &opts);
        assert!(!guard_planned(&v) && reports(&v).is_empty(), "{v:#?}");
    }

    #[test]
    fn no_ssh_keygen_guard_reports_instead() {
        let opts = SealOptions {
            no_ssh_keygen_guard: true,
            ..Default::default()
        };
        let t = guest(&[("/usr/bin/cloud-init", "#!")], false);
        let v = plan_in(t.path(), &opts);
        assert!(!guard_planned(&v));
        let r = reports(&v);
        assert_eq!(r.len(), 1, "{v:#?}");
        assert!(r[0].1.contains("datasource") && r[0].1.contains("sshd will not start"));
        let t = guest(
            &[("/lib/systemd/system/sshd-keygen.service", FIRST_BOOT_UNIT)],
            false,
        );
        let v = plan_in(t.path(), &opts);
        let r = reports(&v);
        assert_eq!(r.len(), 1, "{v:#?}");
        assert!(r[0].1.contains("uninitialized"), "{}", r[0].1);
    }

    #[test]
    fn existing_directories_are_used_and_something_in_the_way_is_reported() {
        let t = guest(&[], false);
        std::fs::create_dir_all(t.path().join("etc/systemd/system/multi-user.target.wants"))
            .expect("mkdir");
        let v = plan(t.path());
        assert!(guard_planned(&v));
        assert!(
            !v.iter().any(|a| matches!(a, Action::Mkdir { .. })),
            "{v:#?}"
        );

        let t = guest(&[("/etc/systemd/system", "a file")], false);
        let v = plan(t.path());
        assert!(!guard_planned(&v));
        assert_eq!(reports(&v)[0].0, "/etc/systemd/system");
        assert!(reports(&v)[0].1.contains("in the way"));
    }

    #[test]
    fn selinux_guests_get_a_relabel_with_the_guard() {
        let t = guest(&[("/etc/selinux/config", "SELINUX=enforcing\n")], false);
        let v = plan(t.path());
        assert!(
            v.iter()
                .any(|a| matches!(a, Action::Create { path, .. } if path == "/.autorelabel"))
        );
    }

    #[test]
    fn applied_guard_is_a_regular_unit_and_its_link_and_sealing_again_keeps_it() {
        let t = guest(&[("/usr/bin/cloud-init", "#!")], true);
        let all = Selection::defaults().operations("ssh-hostkeys");
        let opts = SealOptions::default();
        let mut fs = DirFs::open(t.path()).expect("open");
        let p = plan_all(&fs, &OsInfo::default(), &all, &opts).expect("plan");
        let report = apply(&mut fs, &p).expect("apply");
        let unit = t
            .path()
            .join("etc/systemd/system/cloudseal-ssh-keygen.service");
        assert_eq!(std::fs::read_to_string(&unit).expect("unit"), GUARD.text());
        let link = t
            .path()
            .join("etc/systemd/system/multi-user.target.wants/cloudseal-ssh-keygen.service");
        assert_eq!(
            std::fs::read_link(link).expect("link").to_str(),
            Some("/etc/systemd/system/cloudseal-ssh-keygen.service")
        );
        let text = report.to_string();
        assert!(
            text.contains(
                "ssh-hostkeys: created /etc/systemd/system/cloudseal-ssh-keygen.service: recreates"
            ),
            "{text}"
        );
        assert!(text.contains("ssh-hostkeys: linked /etc/systemd/system/multi-user.target.wants/cloudseal-ssh-keygen.service -> /etc/systemd/system/cloudseal-ssh-keygen.service"), "{text}");
        assert_eq!(report.totals().created, 5, "{text}");
        // Booted (new keys), sealed again: the guard is there, nothing more to add.
        std::fs::write(t.path().join("etc/ssh/ssh_host_ed25519_key"), "new").expect("write");
        let again = plan_all(&fs, &OsInfo::default(), &all, &opts).expect("plan");
        assert_eq!(again.len(), 1, "{again:#?}");
        assert!(matches!(again[0].action, Action::Remove { .. }));
    }

    #[test]
    fn first_boot_condition_spellings() {
        assert!(first_boot_condition("[Unit]\n ConditionFirstBoot = yes\n"));
        assert!(first_boot_condition("[Unit]\nConditionFirstBoot=true\n"));
        assert!(first_boot_condition("[Unit]\nConditionFirstBoot=1\n"));
        assert!(!first_boot_condition("[Unit]\nConditionFirstBoot=no\n"));
        assert!(!first_boot_condition("[Unit]\n#ConditionFirstBoot=yes\n"));
    }
}
