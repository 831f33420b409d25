//! Sealing operations on real directory trees (DirFs): what each finds, what it leaves, the
//! executor, selection, and the planted Debian-like guest tree.

use std::collections::BTreeMap;
use std::os::unix::fs::symlink;
use std::path::Path;

use cloudseal::fs::OsInfo;
use cloudseal::fs::dir::DirFs;
use cloudseal::seal::{self, Action, PlannedAction, SealError, SealOptions, Selection};

use crate::util::{cloudseal, run_ok, tempdir};

mod every_op;
mod planted;
mod select;

const MAC: &str = "52:54:00:12:34:56";

fn debian() -> OsInfo {
    OsInfo {
        id: "debian".into(),
        version_id: "12".into(),
        ..Default::default()
    }
}

/// Write files (guest path, content) under `root`, creating parents.
fn put(root: &Path, files: &[(&str, &str)]) {
    for (p, c) in files {
        let host = root.join(p.trim_start_matches('/'));
        std::fs::create_dir_all(host.parent().expect("parent")).expect("mkdir");
        std::fs::write(&host, c).expect("write");
    }
}

fn read(root: &Path, p: &str) -> String {
    std::fs::read_to_string(root.join(p.trim_start_matches('/')))
        .unwrap_or_else(|e| panic!("reading {p}: {e}"))
}

fn exists(root: &Path, p: &str) -> bool {
    std::fs::symlink_metadata(root.join(p.trim_start_matches('/'))).is_ok()
}

fn plan(root: &Path, sel: &Selection, opts: &SealOptions) -> Vec<PlannedAction> {
    let fs = DirFs::open(root).expect("open root");
    seal::plan_all(&fs, &debian(), sel, opts).expect("plan")
}

/// Plan only `op`, with default options.
fn plan_op(root: &Path, op: &str) -> Vec<PlannedAction> {
    plan(
        root,
        &Selection::defaults().operations(op),
        &SealOptions::default(),
    )
}

fn apply(root: &Path, plan: &[PlannedAction]) -> seal::Report {
    let mut fs = DirFs::open(root).expect("open root");
    seal::apply(&mut fs, plan).expect("apply")
}

fn paths(plan: &[PlannedAction]) -> Vec<String> {
    plan.iter().map(|p| p.action.path().to_string()).collect()
}

fn write_of<'a>(plan: &'a [PlannedAction], path: &str) -> &'a str {
    plan.iter()
        .rev()
        .find_map(|p| match &p.action {
            Action::Write {
                path: w, content, ..
            } if w == path => std::str::from_utf8(content).ok(),
            _ => None,
        })
        .unwrap_or_else(|| panic!("no write of {path} in {plan:#?}"))
}

/// Every regular file and symlink under `root`: guest path -> content or link target.
fn snapshot(root: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    for e in walkdir::WalkDir::new(root).follow_links(false) {
        let e = e.expect("walking the tree");
        let rel = format!("/{}", e.path().strip_prefix(root).unwrap().display());
        let ft = e.file_type();
        if ft.is_file() {
            out.insert(rel, std::fs::read(e.path()).unwrap());
        } else if ft.is_symlink() {
            let t = std::fs::read_link(e.path()).unwrap();
            out.insert(rel, format!("-> {}", t.display()).into_bytes());
        }
    }
    out
}

// ---------------------------------------------------------------- single operations

#[test]
fn ssh_hostkeys_removes_keys_only() {
    let t = tempdir();
    let r = t.path();
    put(
        r,
        &[
            ("/etc/ssh/ssh_host_rsa_key", "k"),
            ("/etc/ssh/ssh_host_rsa_key.pub", "k"),
            ("/etc/ssh/ssh_host_ed25519_key", "k"),
            ("/etc/ssh/sshd_config", "c"),
            ("/etc/ssh/moduli", "m"),
            // Fedora's keygen unit: keys come back at boot, no guard to install.
            (
                "/usr/lib/systemd/system/sshd-keygen@.service",
                "[Unit]\nConditionFileNotEmpty=|!/etc/ssh/ssh_host_%i_key\n",
            ),
        ],
    );
    let p = plan_op(r, "ssh-hostkeys");
    assert_eq!(
        paths(&p),
        [
            "/etc/ssh/ssh_host_ed25519_key",
            "/etc/ssh/ssh_host_rsa_key",
            "/etc/ssh/ssh_host_rsa_key.pub"
        ]
    );
    apply(r, &p);
    assert!(exists(r, "/etc/ssh/sshd_config") && exists(r, "/etc/ssh/moduli"));
    assert!(!exists(r, "/etc/ssh/ssh_host_rsa_key"));
    // Nothing left: nothing planned, nothing is an error.
    assert!(plan_op(r, "ssh-hostkeys").is_empty());
}

#[test]
fn ssh_hostkeys_warns_when_nothing_regenerates_keys_and_the_guard_is_off() {
    let t = tempdir();
    put(t.path(), &[("/etc/ssh/ssh_host_rsa_key", "k")]);
    let opts = SealOptions {
        no_ssh_keygen_guard: true,
        ..Default::default()
    };
    let p = plan(
        t.path(),
        &Selection::defaults().operations("ssh-hostkeys"),
        &opts,
    );
    assert!(
        p.iter().any(|a| matches!(&a.action, Action::Report { note, .. } if note.contains("sshd will not start"))),
        "{p:#?}"
    );
    assert!(
        !p.iter()
            .any(|a| matches!(&a.action, Action::Create { .. } | Action::Symlink { .. })),
        "{p:#?}"
    );
}

/// Issue 12: a Debian 13 guest (merged /usr, cloud-init, an sshd-keygen.service with
/// ConditionFirstBoot=yes) sealed with defaults booted without sshd: nothing recreated the
/// keys. Now ssh-hostkeys installs the guard, and names the first-boot unit once.
#[test]
fn ssh_hostkeys_guard_on_a_debian_13_tree() {
    let t = tempdir();
    let r = t.path();
    put(
        r,
        &[
            ("/etc/ssh/ssh_host_ed25519_key", "k"),
            ("/etc/ssh/ssh_host_ed25519_key.pub", "k"),
            ("/etc/machine-id", "4f1b2c3d4e5f60718293a4b5c6d7e8f9\n"),
            ("/etc/cloud/cloud.cfg", "x"),
            ("/usr/bin/cloud-init", "#!"),
            (
                "/usr/lib/systemd/system/sshd-keygen.service",
                "[Unit]\nDescription=Generate sshd host keys on first boot\nConditionFirstBoot=yes\n\
                 [Service]\nExecStart=ssh-keygen -A\n",
            ),
            (
                "/etc/systemd/system/multi-user.target.wants/ssh.service",
                "x",
            ),
        ],
    );
    symlink("usr/lib", r.join("lib")).unwrap();
    let p = plan(r, &Selection::defaults(), &SealOptions::default());
    let dry: Vec<String> = p.iter().map(|a| a.to_string()).collect();
    let dry = dry.join("\n");
    assert!(
        dry.contains(
            "ssh-hostkeys: create /etc/systemd/system/cloudseal-ssh-keygen.service: recreates \
             missing SSH host keys at every boot"
        ),
        "{dry}"
    );
    assert!(
        dry.contains(
            "ssh-hostkeys: symlink /etc/systemd/system/multi-user.target.wants/cloudseal-ssh-keygen.service \
             -> /etc/systemd/system/cloudseal-ssh-keygen.service"
        ),
        "{dry}"
    );
    assert_eq!(dry.matches("sshd-keygen.service").count(), 1, "{dry}");
    let report = apply(r, &p);
    let text = report.to_string();
    assert_eq!(text.matches("sshd-keygen.service").count(), 1, "{text}");
    assert!(
        text.contains("ssh-hostkeys: created /etc/systemd/system/cloudseal-ssh-keygen.service")
    );
    // The unit written is the generator's text (its lines are checked in seal::ops::ssh).
    let unit = read(r, "/etc/systemd/system/cloudseal-ssh-keygen.service");
    assert_eq!(unit, cloudseal::seal::ops::ssh::GUARD.text());
    assert_eq!(
        std::fs::read_link(
            r.join("etc/systemd/system/multi-user.target.wants/cloudseal-ssh-keygen.service")
        )
        .unwrap()
        .to_str(),
        Some("/etc/systemd/system/cloudseal-ssh-keygen.service")
    );
    // The other wants links stay; the executor changed what the plan said, nothing more.
    assert!(exists(
        r,
        "/etc/systemd/system/multi-user.target.wants/ssh.service"
    ));
    let planned: Vec<&str> = p
        .iter()
        .filter(|a| !matches!(a.action, Action::Report { .. }))
        .map(|a| a.action.path())
        .collect();
    assert_eq!(report.changed_paths(), planned);
}

#[test]
fn machine_id_default_empties_and_removes_dbus_copy() {
    let t = tempdir();
    let r = t.path();
    put(
        r,
        &[
            ("/etc/machine-id", "4f1b2c3d4e5f60718293a4b5c6d7e8f9\n"),
            (
                "/var/lib/dbus/machine-id",
                "4f1b2c3d4e5f60718293a4b5c6d7e8f9\n",
            ),
        ],
    );
    let p = plan_op(r, "machine-id");
    apply(r, &p);
    assert_eq!(read(r, "/etc/machine-id"), "");
    assert!(!exists(r, "/var/lib/dbus/machine-id"));
    // Already empty: nothing to do.
    assert!(plan_op(r, "machine-id").is_empty());
}

#[test]
fn machine_id_uninitialized_option() {
    let t = tempdir();
    let r = t.path();
    put(
        r,
        &[("/etc/machine-id", "4f1b2c3d4e5f60718293a4b5c6d7e8f9\n")],
    );
    std::fs::create_dir_all(r.join("var/lib/dbus")).unwrap();
    // Debian's dbus links its copy to /etc/machine-id: that link holds no id and stays.
    symlink("/etc/machine-id", r.join("var/lib/dbus/machine-id")).unwrap();
    let opts = SealOptions {
        machine_id_uninitialized: true,
        ..Default::default()
    };
    let p = plan(r, &Selection::defaults().operations("machine-id"), &opts);
    apply(r, &p);
    assert_eq!(read(r, "/etc/machine-id"), "uninitialized\n");
    assert!(exists(r, "/var/lib/dbus/machine-id"));
    assert!(plan(r, &Selection::defaults().operations("machine-id"), &opts).is_empty());
    // A link to anywhere else may hold the old id.
    std::fs::remove_file(r.join("var/lib/dbus/machine-id")).unwrap();
    symlink("/var/lib/dbus/old-id", r.join("var/lib/dbus/machine-id")).unwrap();
    let p = plan(r, &Selection::defaults().operations("machine-id"), &opts);
    assert_eq!(paths(&p), ["/var/lib/dbus/machine-id"]);
}

#[test]
fn net_hwaddr_ifcfg() {
    let t = tempdir();
    let r = t.path();
    let f = "/etc/sysconfig/network-scripts/ifcfg-eth0";
    put(
        r,
        &[(
            f,
            "DEVICE=eth0\nHWADDR=52:54:00:12:34:56\nBOOTPROTO=dhcp\nMACADDR=\"52:54:00:12:34:56\"\n# HWADDR in a comment\n",
        )],
    );
    let p = plan_op(r, "net-hwaddr");
    assert_eq!(
        write_of(&p, f),
        "DEVICE=eth0\nBOOTPROTO=dhcp\n# HWADDR in a comment\n"
    );
}

#[test]
fn net_hwaddr_networkmanager_keyfile() {
    let t = tempdir();
    let r = t.path();
    let f = "/etc/NetworkManager/system-connections/Wired.nmconnection";
    let text = "[connection]\nid=Wired\n\n[ethernet]\nmac-address=52:54:00:12:34:56\ncloned-mac-address=stable\n\n[ipv4]\nmethod=auto\n";
    put(r, &[(f, text)]);
    let p = plan_op(r, "net-hwaddr");
    assert_eq!(
        write_of(&p, f),
        "[connection]\nid=Wired\n\n[ethernet]\ncloned-mac-address=stable\n\n[ipv4]\nmethod=auto\n"
    );
}

#[test]
fn net_hwaddr_networkd_keeps_a_match() {
    let t = tempdir();
    let r = t.path();
    put(
        r,
        &[
            (
                "/etc/systemd/network/10-eth0.network",
                "[Match]\nMACAddress=52:54:00:12:34:56\n\n[Network]\nDHCP=yes\n",
            ),
            (
                "/etc/systemd/network/20-x.network",
                "[Match]\nDriver=virtio_net\nMACAddress=52:54:00:12:34:57\n\n[Network]\nDHCP=yes\n",
            ),
            (
                "/etc/systemd/network/10-lan.link",
                "[Match]\nPermanentMACAddress=52:54:00:12:34:56\n\n[Link]\nName=lan0\n",
            ),
        ],
    );
    let p = plan_op(r, "net-hwaddr");
    assert_eq!(
        write_of(&p, "/etc/systemd/network/10-eth0.network"),
        "[Match]\nName=e*\n\n[Network]\nDHCP=yes\n"
    );
    assert_eq!(
        write_of(&p, "/etc/systemd/network/20-x.network"),
        "[Match]\nDriver=virtio_net\n\n[Network]\nDHCP=yes\n"
    );
    assert_eq!(
        write_of(&p, "/etc/systemd/network/10-lan.link"),
        "[Match]\nOriginalName=e*\n\n[Link]\nName=lan0\n"
    );
}

#[test]
fn net_hwaddr_ifupdown() {
    let t = tempdir();
    let r = t.path();
    put(
        r,
        &[
            (
                "/etc/network/interfaces",
                "auto eth0\niface eth0 inet dhcp\n    hwaddress ether 52:54:00:12:34:56\n    # keep\n",
            ),
            (
                "/etc/network/interfaces.d/eth1",
                "iface eth1 inet dhcp\n\thwaddress 52:54:00:12:34:57\n",
            ),
        ],
    );
    let p = plan_op(r, "net-hwaddr");
    assert_eq!(
        write_of(&p, "/etc/network/interfaces"),
        "auto eth0\niface eth0 inet dhcp\n    # keep\n"
    );
    assert_eq!(
        write_of(&p, "/etc/network/interfaces.d/eth1"),
        "iface eth1 inet dhcp\n"
    );
}

#[test]
fn net_hwaddr_netplan_still_parses_and_matches() {
    let t = tempdir();
    let r = t.path();
    let f = "/etc/netplan/50-cloud-init.yaml";
    let text = "# written by cloud-init\nnetwork:\n  version: 2\n  ethernets:\n    eth0:\n      match:\n        macaddress: \"52:54:00:12:34:56\"\n      set-name: eth0\n      dhcp4: true\n      nameservers:\n        addresses: [192.0.2.53]\n";
    put(r, &[(f, text)]);
    let p = plan_op(r, "net-hwaddr");
    let out = write_of(&p, f);
    assert!(!out.contains(MAC), "{out}");
    assert!(
        out.starts_with("# written by cloud-init\n"),
        "comment kept: {out}"
    );
    let doc: serde_json::Value = serde_saphyr::from_str(out).expect("edited netplan parses");
    let eth0 = &doc["network"]["ethernets"]["eth0"];
    assert_eq!(eth0["match"]["name"], "e*", "{doc}");
    assert_eq!(eth0["set-name"], "eth0");
    assert_eq!(eth0["dhcp4"], true);
    assert_eq!(eth0["nameservers"]["addresses"][0], "192.0.2.53");
}

#[test]
fn net_hwaddr_leaves_invalid_netplan_alone_and_says_so() {
    let t = tempdir();
    let f = "/etc/netplan/bad.yaml";
    put(
        t.path(),
        &[(
            f,
            "network: {ethernets: [\n  macaddress: 52:54:00:12:34:56\n",
        )],
    );
    let p = plan_op(t.path(), "net-hwaddr");
    assert!(
        matches!(
            &p[..],
            [PlannedAction {
                action: Action::Report { .. },
                ..
            }]
        ),
        "{p:#?}"
    );
}

#[test]
fn net_hostname_and_hwaddr_compose_on_one_file() {
    let t = tempdir();
    let r = t.path();
    let f = "/etc/sysconfig/network-scripts/ifcfg-eth0";
    put(
        r,
        &[(
            f,
            "DEVICE=eth0\nHWADDR=52:54:00:12:34:56\nDHCP_HOSTNAME=old\nHOSTNAME=old.example.org\n",
        )],
    );
    let p = plan(r, &Selection::defaults(), &SealOptions::default());
    apply(r, &p);
    assert_eq!(read(r, f), "DEVICE=eth0\n");
}

#[test]
fn net_nmconn_only_on_red_hat_family() {
    let t = tempdir();
    let r = t.path();
    let f = "/etc/NetworkManager/system-connections/eth0.nmconnection";
    put(r, &[(f, "[connection]\nid=eth0\n")]);
    assert!(plan_op(r, "net-nmconn").is_empty());
    let fs = DirFs::open(r).unwrap();
    let fedora = OsInfo {
        id: "fedora".into(),
        ..Default::default()
    };
    let p = seal::plan_all(
        &fs,
        &fedora,
        &Selection::defaults().operations("net-nmconn"),
        &SealOptions::default(),
    )
    .unwrap();
    assert_eq!(paths(&p), [f]);
}

#[test]
fn static_ip_is_reported_and_switched_on_request() {
    let t = tempdir();
    let r = t.path();
    let np = "/etc/netplan/01-static.yaml";
    let files = [
        (
            np,
            "network:\n  ethernets:\n    ens3:\n      addresses: [192.0.2.10/24]\n      gateway4: 192.0.2.1\n      nameservers:\n        addresses: [192.0.2.53]\n",
        ),
        (
            "/etc/sysconfig/network-scripts/ifcfg-eth0",
            "DEVICE=eth0\nBOOTPROTO=static\nIPADDR=192.0.2.10\nNETMASK=255.255.255.0\n",
        ),
        (
            "/etc/network/interfaces",
            "iface eth0 inet static\n  address 192.0.2.10/24\n",
        ),
        (
            "/etc/systemd/network/10-eth0.network",
            "[Match]\nName=eth0\n\n[Network]\nAddress=192.0.2.10/24\n",
        ),
        (
            "/etc/NetworkManager/system-connections/eth0.nmconnection",
            "[ipv4]\nmethod=manual\naddress1=192.0.2.10/24\n",
        ),
        (
            "/etc/netplan/02-dhcp.yaml",
            "network:\n  ethernets:\n    ens4:\n      dhcp4: true\n",
        ),
    ];
    put(r, &files);
    let before = snapshot(r);
    let p = plan_op(r, "static-ip");
    assert_eq!(p.len(), 5, "{p:#?}");
    assert!(p.iter().all(|a| matches!(a.action, Action::Report { .. })));
    apply(r, &p);
    assert_eq!(snapshot(r), before, "reporting changes nothing");

    let opts = SealOptions {
        static_ip_to_dhcp: true,
        ..Default::default()
    };
    let p = plan(r, &Selection::defaults().operations("static-ip"), &opts);
    assert_eq!(p.len(), 5, "{p:#?}");
    assert!(p.iter().all(|a| matches!(a.action, Action::Write { .. })));
    apply(r, &p);
    let doc: serde_json::Value = serde_saphyr::from_str(&read(r, np)).expect("netplan parses");
    assert_eq!(doc["network"]["ethernets"]["ens3"]["dhcp4"], true);
    assert!(doc["network"]["ethernets"]["ens3"]["addresses"].is_null());
    assert_eq!(
        doc["network"]["ethernets"]["ens3"]["nameservers"]["addresses"][0],
        "192.0.2.53"
    );
    assert_eq!(
        read(r, "/etc/sysconfig/network-scripts/ifcfg-eth0"),
        "DEVICE=eth0\nBOOTPROTO=dhcp\n"
    );
    assert_eq!(read(r, "/etc/network/interfaces"), "iface eth0 inet dhcp\n");
    assert_eq!(
        read(r, "/etc/systemd/network/10-eth0.network"),
        "[Match]\nName=eth0\n\n[Network]\nDHCP=yes\n"
    );
    assert_eq!(
        read(
            r,
            "/etc/NetworkManager/system-connections/eth0.nmconnection"
        ),
        "[ipv4]\nmethod=auto\n"
    );
    // Nothing static is left to report.
    assert!(plan_op(r, "static-ip").is_empty());
}

#[test]
fn logfiles_removes_listed_and_empties_the_rest() {
    let t = tempdir();
    let r = t.path();
    put(
        r,
        &[
            ("/var/log/syslog", "x"),
            ("/var/log/syslog.1", "x"),
            ("/var/log/auth.log", "x"),
            ("/var/log/journal/0123/system.journal", "x"),
            ("/var/log/nginx/access.log", "x"),
            ("/var/log/nginx/access.log.2.gz", "x"),
            ("/var/log/myapp/empty", ""),
            ("/var/lib/logrotate.status", "x"),
        ],
    );
    symlink("../../usr/share/doc/README.logs", r.join("var/log/README")).unwrap();
    let p = plan_op(r, "logfiles");
    let got: Vec<(String, String)> = p
        .iter()
        .map(|a| {
            (
                format!("{:?}", a.action)
                    .split(' ')
                    .next()
                    .unwrap_or("")
                    .to_string(),
                a.action.path().to_string(),
            )
        })
        .collect();
    let want = [
        ("Remove", "/var/lib/logrotate.status"),
        ("Remove", "/var/log/auth.log"),
        ("RemoveTree", "/var/log/journal/0123"),
        ("Remove", "/var/log/nginx/access.log.2.gz"),
        ("Truncate", "/var/log/nginx/access.log"),
        ("Remove", "/var/log/syslog"),
        ("Remove", "/var/log/syslog.1"),
    ];
    let mut want: Vec<(String, String)> = want
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect();
    want.sort_by(|a, b| a.1.cmp(&b.1));
    let mut got = got;
    got.sort_by(|a, b| a.1.cmp(&b.1));
    assert_eq!(got, want);
    apply(r, &p);
    assert!(exists(r, "/var/log/README"), "symlinks in /var/log stay");
    assert!(exists(r, "/var/log/journal"), "the journal directory stays");
    assert_eq!(read(r, "/var/log/nginx/access.log"), "");
}

#[test]
fn tmp_files_empties_and_keeps_the_directories() {
    let t = tempdir();
    let r = t.path();
    put(
        r,
        &[
            ("/tmp/a/b/c", "x"),
            ("/tmp/.hidden", "x"),
            ("/var/tmp/d", "x"),
        ],
    );
    symlink("/etc/passwd", r.join("tmp/link")).unwrap();
    let p = plan_op(r, "tmp-files");
    assert_eq!(paths(&p), ["/tmp", "/var/tmp"]);
    let report = apply(r, &p);
    assert_eq!(std::fs::read_dir(r.join("tmp")).unwrap().count(), 0);
    assert_eq!(std::fs::read_dir(r.join("var/tmp")).unwrap().count(), 0);
    assert_eq!(report.ops[0].changes[0].entries, 5, "{report}");
}

#[test]
fn deep_trees_are_walked_and_removed() {
    let t = tempdir();
    let r = t.path();
    let deep: String = (0..300).map(|_| "/d").collect();
    put(
        r,
        &[
            (&format!("/tmp{deep}/x.bak"), "x"),
            (&format!("/var/backups{deep}/y.bak"), "y"),
        ],
    );
    let p = plan(
        r,
        &Selection::defaults().operations("tmp-files,backup-files"),
        &SealOptions::default(),
    );
    assert_eq!(
        paths(&p),
        ["/tmp".to_string(), format!("/var/backups{deep}/y.bak")]
    );
    let report = apply(r, &p);
    assert_eq!(report.ops[0].changes[0].entries, 301);
    assert_eq!(std::fs::read_dir(r.join("tmp")).unwrap().count(), 0);
}

#[test]
fn cloud_init_state_is_clean_logs_seed() {
    let t = tempdir();
    let r = t.path();
    put(
        r,
        &[
            ("/var/lib/cloud/instances/i-1/obj.pkl", "x"),
            ("/var/lib/cloud/data/instance-id", "i-1"),
            ("/var/lib/cloud/seed/nocloud/user-data", "x"),
            ("/var/log/cloud-init.log", "x"),
            ("/var/log/cloud-init.log.1", "x"),
            ("/var/log/cloud-init-output.log", "x"),
            ("/etc/cloud/cloud.cfg", "keep"),
        ],
    );
    symlink(
        "/var/lib/cloud/instances/i-1",
        r.join("var/lib/cloud/instance"),
    )
    .unwrap();
    let p = plan_op(r, "cloud-init-state");
    assert_eq!(
        paths(&p),
        [
            "/var/lib/cloud/data",
            "/var/lib/cloud/instance",
            "/var/lib/cloud/instances",
            "/var/lib/cloud/seed",
            "/var/log/cloud-init-output.log",
            "/var/log/cloud-init.log",
            "/var/log/cloud-init.log.1",
        ]
    );
    apply(r, &p);
    assert!(exists(r, "/var/lib/cloud") && exists(r, "/etc/cloud/cloud.cfg"));
}

#[test]
fn histories_use_passwd_homes() {
    let t = tempdir();
    let r = t.path();
    put(
        r,
        &[
            (
                "/etc/passwd",
                "root:x:0:0::/root:/bin/bash\nsvc:x:999:999::/var/lib/svc:/bin/sh\nann:x:1001:1001::/srv/ann:/bin/bash\nbad:x:1002:1002::/srv/../etc:/bin/sh\n",
            ),
            ("/root/.bash_history", "x"),
            ("/home/bob/.bash_history", "x"),
            ("/srv/ann/.bash_history", "x"),
            ("/srv/ann/.viminfo", "x"),
            ("/var/lib/svc/.bash_history", "x"),
            ("/home/bob/.bash_history_notes", "x"),
        ],
    );
    let p = plan(
        r,
        &Selection::defaults().operations("bash-history,user-app-state"),
        &SealOptions::default(),
    );
    assert_eq!(
        paths(&p),
        [
            "/home/bob/.bash_history",
            "/root/.bash_history",
            "/srv/ann/.bash_history",
            "/srv/ann/.viminfo"
        ]
    );
}

#[test]
fn user_account_removes_login_accounts_but_kept_ones_and_root() {
    let t = tempdir();
    let r = t.path();
    put(
        r,
        &[
            (
                "/etc/passwd",
                "root:x:0:0:root:/root:/bin/bash\ndaemon:x:1:1::/usr/sbin:/usr/sbin/nologin\ndebian:x:1000:1000::/home/debian:/bin/bash\nann:x:1001:1001::/home/ann:/bin/bash\nodd:x:1002:1002::/:/bin/sh\nnobody:x:65534:65534::/nonexistent:/usr/sbin/nologin\n",
            ),
            (
                "/etc/shadow",
                "root:*:1::::::\ndebian:!:1::::::\nann:!:1::::::\nodd:!:1::::::\n",
            ),
            (
                "/etc/group",
                "root:x:0:\nsudo:x:27:debian,ann\ndebian:x:1000:\nann:x:1001:\nodd:x:1002:\n",
            ),
            ("/etc/gshadow", "sudo:*::debian,ann\ndebian:!::\nann:!::\n"),
            ("/etc/subuid", "debian:100000:65536\nann:165536:65536\n"),
            ("/home/debian/notes", "x"),
            ("/home/ann/notes", "x"),
            ("/var/mail/debian", "mail"),
            ("/root/.profile", "x"),
        ],
    );
    let opts = SealOptions {
        keep_user_accounts: vec!["ann".into()],
        ..Default::default()
    };
    assert!(
        plan(r, &Selection::defaults(), &opts)
            .iter()
            .all(|a| a.op != "user-account"),
        "off by default"
    );
    let p = plan(r, &Selection::defaults().operations("user-account"), &opts);
    assert_eq!(
        paths(&p),
        [
            "/etc/group",
            "/etc/gshadow",
            "/etc/passwd",
            "/etc/shadow",
            "/etc/subuid",
            "/home/debian",
            "/var/mail/debian"
        ]
    );
    apply(r, &p);
    assert_eq!(
        read(r, "/etc/passwd"),
        "root:x:0:0:root:/root:/bin/bash\ndaemon:x:1:1::/usr/sbin:/usr/sbin/nologin\nann:x:1001:1001::/home/ann:/bin/bash\nnobody:x:65534:65534::/nonexistent:/usr/sbin/nologin\n"
    );
    assert_eq!(
        read(r, "/etc/group"),
        "root:x:0:\nsudo:x:27:ann\nann:x:1001:\n"
    );
    assert_eq!(read(r, "/etc/gshadow"), "sudo:*::ann\nann:!::\n");
    assert_eq!(read(r, "/etc/subuid"), "ann:165536:65536\n");
    assert!(
        exists(r, "/home/ann/notes") && exists(r, "/root/.profile") && !exists(r, "/home/debian")
    );
}

#[test]
fn cron_spool_keeps_and_resets_seq() {
    let t = tempdir();
    let r = t.path();
    put(
        r,
        &[
            ("/var/spool/cron/crontabs/debian", "* * * * * x"),
            ("/var/spool/cron/atjobs/.SEQ", "0002a\n"),
            ("/var/spool/cron/atjobs/a0001", "job"),
        ],
    );
    let p = plan_op(r, "cron-spool");
    apply(r, &p);
    assert_eq!(read(r, "/var/spool/cron/atjobs/.SEQ"), "00000\n");
    assert!(!exists(r, "/var/spool/cron/crontabs/debian") && exists(r, "/var/spool/cron/crontabs"));
    assert!(!exists(r, "/var/spool/cron/atjobs/a0001"));
}

#[test]
fn package_manager_cache_keeps_locks_and_dirs() {
    let t = tempdir();
    let r = t.path();
    put(
        r,
        &[
            ("/var/cache/apt/archives/a.deb", "x"),
            ("/var/cache/apt/archives/lock", ""),
            ("/var/cache/apt/archives/partial/b.deb", "x"),
            ("/var/cache/apt/pkgcache.bin", "x"),
            ("/var/lib/apt/lists/x_Packages", "x"),
            ("/var/lib/apt/lists/lock", ""),
        ],
    );
    let p = plan_op(r, "package-manager-cache");
    assert_eq!(
        paths(&p),
        [
            "/var/cache/apt/archives/a.deb",
            "/var/cache/apt/archives/partial/b.deb",
            "/var/cache/apt/pkgcache.bin",
            "/var/lib/apt/lists/x_Packages"
        ]
    );
}

#[test]
fn missing_everything_is_nothing_to_do() {
    let t = tempdir();
    // All but flag-reconfiguration, which creates a file.
    let all = Selection::defaults().operations("all,-flag-reconfiguration");
    assert!(plan(t.path(), &all, &SealOptions::default()).is_empty());
}

// ---------------------------------------------------------------- cli

#[test]
fn cli_ops_lists_the_registry() {
    let out = run_ok(cloudseal().args(["ops", "--json"]));
    let v: serde_json::Value = serde_json::from_str(&out).expect("json");
    let rows = v.as_array().expect("array");
    assert_eq!(rows.len(), seal::ops::REGISTRY.len());
    let mid = rows
        .iter()
        .find(|r| r["name"] == "machine-id")
        .expect("machine-id");
    assert_eq!(mid["default"], true);
    let text = run_ok(cloudseal().arg("ops"));
    assert!(
        text.lines()
            .any(|l| l.starts_with("firewall-rules") && !l.contains('*')),
        "{text}"
    );
}
