//! The executor on whole trees: symlinks to the host, and the planted Debian-like guest.

use std::process::Command;

use crate::util::{fixture, run_ok};

use super::*;

#[test]
fn symlinks_to_the_host_are_never_followed() {
    let t = tempdir();
    let host = t.path().join("host");
    let guest = t.path().join("guest");
    // Host directories with files that look exactly like guest state.
    put(
        &host,
        &[
            ("/ssh/ssh_host_rsa_key", "HOST KEY"),
            ("/log/syslog", "HOST LOG"),
            ("/log/journal/x/system.journal", "HOST JOURNAL"),
            ("/tmp/canary", "HOST TMP"),
            ("/dotssh/authorized_keys", "HOST KEYS"),
            ("/cloud/instance-id", "HOST"),
        ],
    );
    put(
        &guest,
        &[("/etc/hostname", "guest\n"), ("/root/.bash_history", "x")],
    );
    std::fs::create_dir_all(guest.join("var/lib")).unwrap();
    symlink(host.join("ssh"), guest.join("etc/ssh")).unwrap();
    symlink(host.join("log"), guest.join("var/log")).unwrap();
    symlink(host.join("tmp"), guest.join("tmp")).unwrap();
    symlink(host.join("dotssh"), guest.join("root/.ssh")).unwrap();
    symlink(host.join("cloud"), guest.join("var/lib/cloud")).unwrap();
    let host_before = snapshot(&host);

    let p = plan(
        &guest,
        &Selection::defaults().operations("all"),
        &SealOptions::default(),
    );
    let report = apply(&guest, &p);
    assert_eq!(
        snapshot(&host),
        host_before,
        "a host file changed: {report}"
    );
    // The symlinked ~/.ssh is removed as a link; the other links stay, untraversed.
    assert!(!exists(&guest, "/root/.ssh"));
    for p in ["/etc/ssh", "/var/log", "/tmp", "/var/lib/cloud"] {
        assert!(exists(&guest, p), "{p}");
    }

    // The executor and DirFs themselves, given plans that point through or at the links.
    symlink(host.join("dotssh"), guest.join("root/.ssh")).unwrap();
    let bad = [
        (
            "tmp-files",
            Action::EmptyDir {
                path: "/tmp".into(),
            },
        ),
        (
            "logfiles",
            Action::Remove {
                path: "/var/log/syslog".into(),
            },
        ),
        (
            "logfiles",
            Action::RemoveTree {
                path: "/var/log/journal".into(),
            },
        ),
        (
            "ssh-userdir",
            Action::RemoveTree {
                path: "/root/.ssh".into(),
            },
        ),
    ];
    let bad: Vec<PlannedAction> = bad
        .into_iter()
        .map(|(op, action)| PlannedAction { op, action })
        .collect();
    apply(&guest, &bad);
    assert_eq!(snapshot(&host), host_before);
    let mut fs = DirFs::open(&guest).unwrap();
    use cloudseal::fs::{GuestFs, GuestFsMut};
    assert!(fs.read_file("/etc/ssh/ssh_host_rsa_key", 100).is_err());
    assert!(fs.truncate("/tmp/canary").is_err());
    assert!(fs.remove_file("/var/log/syslog").is_err());
    assert!(
        fs.write_file("/etc/ssh/ssh_host_rsa_key", b"x", 0o600)
            .is_err()
    );
    assert_eq!(snapshot(&host), host_before);
}

fn planted() -> Vec<(String, String, String)> {
    crate::fixtures::planted()
}

/// A private copy of the generated guest tree.
fn guest_tree_copy() -> tempfile::TempDir {
    let t = tempdir();
    let src = fixture("guest-tree");
    run_ok(
        Command::new("cp")
            .arg("-a")
            .arg(format!("{}/.", src.display()))
            .arg(t.path()),
    );
    t
}

#[test]
fn default_seal_of_the_planted_tree_handles_every_planted_path_and_nothing_else() {
    let t = guest_tree_copy();
    let r = t.path();
    let before = snapshot(r);
    let p = plan(r, &Selection::defaults(), &SealOptions::default());
    let report = apply(r, &p);
    eprintln!("{report}");
    let after = snapshot(r);

    // Each planted path: handled by the operation planted.txt names, with the outcome it says.
    let list = planted();
    for (op, path, outcome) in &list {
        let by: Vec<&str> = p
            .iter()
            .filter(|a| {
                path == a.action.path() || path.starts_with(&format!("{}/", a.action.path()))
            })
            .map(|a| a.op)
            .collect();
        assert!(
            by.contains(&op.as_str()),
            "{path}: planted for {op}, planned by {by:?}"
        );
        match outcome.as_str() {
            "removed" => assert!(!exists(r, path), "{op}: {path} still there"),
            "emptied" => assert_eq!(after.get(path).map(Vec::len), Some(0), "{op}: {path}"),
            "edited" => {
                let (b, a) = (
                    &before[path],
                    after.get(path).unwrap_or_else(|| panic!("{path} gone")),
                );
                assert_ne!(a, b, "{op}: {path} unchanged");
                assert!(
                    !String::from_utf8_lossy(a).contains(MAC),
                    "{op}: MAC left in {path}"
                );
            }
            o => panic!("unknown outcome {o}"),
        }
    }
    // Everything else byte-identical; symlinks too, but cloud-init's `instance` link.
    let planted_paths: Vec<&str> = list.iter().map(|(_, p, _)| p.as_str()).collect();
    let expected_extra = ["/var/lib/cloud/instance"];
    for (path, content) in &before {
        if planted_paths.contains(&path.as_str()) || expected_extra.contains(&path.as_str()) {
            continue;
        }
        assert_eq!(after.get(path), Some(content), "{path} changed or removed");
    }
    for path in expected_extra {
        assert!(!after.contains_key(path), "{path} kept");
    }
    // Five MAC edits, the hostname edit of the ifcfg file, the emptied machine-id; every
    // planted removal is counted (trees count their entries too).
    let totals = report.totals();
    assert_eq!((totals.rewritten, totals.truncated), (6, 1), "{report}");
    let planted_removed = list.iter().filter(|(_, _, o)| o == "removed").count() as u64;
    assert!(totals.removed >= planted_removed, "{report}");
    assert!(report.to_string().ends_with(&format!("total: {totals}\n")));
    // The report lists exactly what the plan holds (every action found something to do).
    let planned: Vec<&str> = p
        .iter()
        .filter(|a| !matches!(a.action, Action::Report { .. }))
        .map(|a| a.action.path())
        .collect();
    assert_eq!(report.changed_paths(), planned);
    // Sealing again finds nothing (but reports).
    let again = plan(r, &Selection::defaults(), &SealOptions::default());
    assert!(
        again
            .iter()
            .all(|a| matches!(a.action, Action::Report { .. })),
        "{again:#?}"
    );
    // The netplan edit still parses.
    let np = read(r, "/etc/netplan/50-cloud-init.yaml");
    let doc: serde_json::Value = serde_saphyr::from_str(&np).expect("netplan parses");
    assert!(
        doc["network"]["ethernets"]["eth0"]["match"].is_object(),
        "{np}"
    );
    // The plan and report serialize.
    serde_json::to_string(&report).unwrap();
    serde_json::to_string(&p).unwrap();
}

#[test]
fn plan_is_deterministic() {
    let t = guest_tree_copy();
    let a = plan(t.path(), &Selection::defaults(), &SealOptions::default());
    let b = plan(t.path(), &Selection::defaults(), &SealOptions::default());
    assert_eq!(a, b);
    assert!(!a.is_empty());
}
