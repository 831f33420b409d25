//! Every registered operation: what it finds, what it leaves.

use super::*;

/// Per operation: files it must act on, and look-alike files it must leave.
const EVERY_OP: &[(&str, &[&str], &[&str])] = &[
    (
        "ssh-hostkeys",
        &["/etc/ssh/ssh_host_dsa_key"],
        &["/etc/ssh/ssh_config", "/root/ssh_host_x"],
    ),
    (
        "machine-id",
        &["/etc/machine-id", "/var/lib/dbus/machine-id"],
        &["/etc/machine-info"],
    ),
    (
        "random-seed",
        &[
            "/var/lib/systemd/random-seed",
            "/var/lib/urandom/random-seed",
        ],
        &["/var/lib/systemd/linger/x"],
    ),
    (
        "systemd-credential-secret",
        &["/var/lib/systemd/credential.secret"],
        &["/etc/credstore/x"],
    ),
    (
        "udev-persistent-net",
        &["/etc/udev/rules.d/70-persistent-net.rules"],
        &["/etc/udev/rules.d/99-local.rules"],
    ),
    (
        "net-nmconn",
        &[],
        &["/etc/NetworkManager/system-connections/a.nmconnection"],
    ),
    (
        "net-hwaddr",
        &["/etc/sysconfig/network-scripts/ifcfg-eth1"],
        &["/etc/sysconfig/network-scripts/ifup-eth"],
    ),
    (
        "net-hostname",
        &["/etc/sysconfig/network-scripts/ifcfg-eth1"],
        &["/etc/hostname"],
    ),
    (
        "static-ip",
        &["/etc/sysconfig/network-scripts/ifcfg-eth1"],
        &["/etc/hosts"],
    ),
    (
        "dhcp-client-state",
        &[
            "/var/lib/dhcp/dhclient.leases",
            "/var/lib/dhclient/x.lease",
            "/var/lib/NetworkManager/secret_key",
            "/var/lib/dhcpcd/eth0.lease",
        ],
        &["/var/lib/NetworkManager/NetworkManager.conf"],
    ),
    (
        "dhcp-server-state",
        &["/var/lib/dhcpd/dhcpd.leases"],
        &["/etc/dhcp/dhcpd.conf"],
    ),
    (
        "cloud-init-state",
        &["/var/lib/cloud/instances/i/x", "/var/log/cloud-init.log"],
        &["/var/lib/cloud/.hidden", "/etc/cloud/cloud.cfg"],
    ),
    (
        "logfiles",
        &[
            "/var/log/messages",
            "/var/log/app/app.log",
            "/root/anaconda-ks.cfg",
            "/var/cache/man/index.db",
        ],
        &["/var/lib/app/log"],
    ),
    (
        "pacct-log",
        &["/var/log/account/pacct.1.gz", "/var/account/pacct"],
        &["/var/log/accounting"],
    ),
    (
        "crash-data",
        &[
            "/var/crash/x.crash",
            "/var/lib/systemd/coredump/core.x",
            "/var/lib/systemd/pstore/dmesg-1",
        ],
        &["/var/crashes"],
    ),
    (
        "abrt-data",
        &["/var/spool/abrt/ccpp-1/core"],
        &["/var/spool/abrt-upload/x"],
    ),
    (
        "bash-history",
        &["/root/.bash_history", "/home/u/.bash_history"],
        &["/home/u/.bashrc"],
    ),
    (
        "user-app-state",
        &[
            "/home/u/.python_history",
            "/root/.lesshst",
            "/home/u/.local/share/fish/fish_history",
        ],
        &["/home/u/.vimrc"],
    ),
    (
        "ssh-userdir",
        &["/home/u/.ssh/id_ed25519", "/root/.ssh/authorized_keys"],
        &["/etc/skel/.ssh/x"],
    ),
    (
        "tmp-files",
        &["/tmp/x", "/var/tmp/.y"],
        &["/var/tmpfiles/x"],
    ),
    (
        "backup-files",
        &["/etc/hosts.bak", "/var/lib/x~", "/srv/www/index.html~"],
        &["/usr/share/x.bak", "/etc/bak"],
    ),
    (
        "package-manager-cache",
        &[
            "/var/cache/dnf/repo/x.rpm",
            "/var/cache/apt/srcpkgcache.bin",
        ],
        &[
            "/var/cache/apt/archives/lock",
            "/var/cache/debconf/config.dat",
        ],
    ),
    (
        "rpm-db",
        &["/var/lib/rpm/__db.001"],
        &["/var/lib/rpm/Packages"],
    ),
    (
        "yum-uuid",
        &["/var/lib/yum/uuid"],
        &["/var/lib/yum/history"],
    ),
    (
        "mail-spool",
        &["/var/spool/mail/root", "/var/mail/u"],
        &["/etc/aliases"],
    ),
    (
        "cron-spool",
        &[
            "/var/spool/cron/root",
            "/var/spool/atjobs/a1",
            "/var/spool/atspool/b1",
        ],
        &["/etc/crontab", "/etc/cron.d/job"],
    ),
    ("utmp", &["/run/utmp"], &["/var/log/wtmp"]),
    (
        "blkid-tab",
        &["/etc/blkid/blkid.tab", "/etc/blkid.tab.old"],
        &["/etc/blkid.conf"],
    ),
    (
        "pam-data",
        &["/run/faillock/u", "/run/console/u"],
        &["/etc/pam.d/login"],
    ),
    (
        "passwd-backups",
        &["/etc/passwd-", "/etc/gshadow-", "/etc/subuid-"],
        &["/etc/passwd", "/etc/shadow"],
    ),
    (
        "dovecot-data",
        &["/var/lib/dovecot/ssl-parameters.dat"],
        &["/etc/dovecot/dovecot.conf"],
    ),
    (
        "ipa-client",
        &["/etc/ipa/default.conf", "/var/lib/ipa-client/sysrestore/x"],
        &["/etc/ipa/nssdb/cert9.db"],
    ),
    (
        "kerberos-hostkeytab",
        &["/etc/krb5.keytab"],
        &["/etc/krb5.conf"],
    ),
    (
        "puppet-data-log",
        &["/var/log/puppet/p.log", "/var/lib/puppet/ssl/certs/c.pem"],
        &["/etc/puppet/puppet.conf"],
    ),
    (
        "rh-subscription-manager",
        &["/etc/pki/consumer/cert.pem", "/etc/pki/entitlement/1.pem"],
        &["/etc/pki/tls/cert.pem"],
    ),
    (
        "rhn-systemid",
        &["/etc/sysconfig/rhn/systemid"],
        &["/etc/sysconfig/rhn/up2date"],
    ),
    (
        "samba-db-log",
        &[
            "/var/log/samba/log.smbd",
            "/var/lib/samba/private/secrets.tdb",
        ],
        &["/etc/samba/smb.conf"],
    ),
    (
        "smolt-uuid",
        &["/etc/smolt/uuid", "/etc/sysconfig/hw-uuid"],
        &["/etc/smolt/smolt.conf"],
    ),
    (
        "sssd-db-log",
        &["/var/log/sssd/sssd.log", "/var/lib/sss/db/cache.ldb"],
        &["/etc/sssd/sssd.conf"],
    ),
    (
        "ca-certificates",
        &[
            "/etc/pki/tls/certs/host.crt",
            "/etc/pki/tls/private/host.key",
        ],
        &["/etc/pki/tls/certs/ca-bundle.crt"],
    ),
    (
        "firewall-rules",
        &["/etc/sysconfig/iptables", "/etc/firewalld/zones/public.xml"],
        &["/etc/firewalld/firewalld.conf"],
    ),
    ("flag-reconfiguration", &["/.unconfigured"], &[]),
    (
        "kerberos-data",
        &["/var/kerberos/krb5kdc/principal"],
        &["/var/kerberos/krb5kdc/kdc.conf"],
    ),
    (
        "user-account",
        &["/etc/passwd", "/home/u/notes"],
        &["/root/notes"],
    ),
];

#[test]
fn every_operation_finds_its_files_and_leaves_look_alikes() {
    for op in seal::ops::REGISTRY {
        assert!(
            EVERY_OP.iter().any(|(n, _, _)| *n == op.name()),
            "{} has no entry in EVERY_OP",
            op.name()
        );
    }
    for (op, find, leave) in EVERY_OP {
        let t = tempdir();
        let r = t.path();
        let mut files: Vec<(&str, &str)> = Vec::new();
        let ifcfg =
            "DEVICE=eth1\nHWADDR=52:54:00:12:34:56\nHOSTNAME=h\nBOOTPROTO=none\nIPADDR=192.0.2.9\n";
        for f in find.iter().chain(leave.iter()) {
            let content = match *f {
                "/etc/passwd" => "root:x:0:0::/root:/bin/sh\nu:x:1000:1000::/home/u:/bin/sh\n",
                p if p.contains("ifcfg-") => ifcfg,
                _ => "host state\n",
            };
            if *f != "/.unconfigured" {
                files.push((f, content));
            }
        }
        put(r, &files);
        let p = plan_op(r, op);
        // Acted on (or reported): the path itself, or below a removed tree or emptied directory.
        let hit = |f: &str| {
            p.iter().any(|a| match &a.action {
                Action::RemoveTree { path } | Action::EmptyDir { path } => {
                    f == path || f.starts_with(&format!("{path}/"))
                }
                other => other.path() == f,
            })
        };
        for f in *find {
            assert!(hit(f), "{op} did not find {f}: {p:#?}");
        }
        for f in *leave {
            assert!(!hit(f), "{op} touched {f}: {p:#?}");
        }
        // And applying the plan leaves the look-alikes byte-identical.
        apply(r, &p);
        for f in *leave {
            assert_eq!(
                read(r, f).len(),
                files
                    .iter()
                    .find(|(p, _)| p == f)
                    .map(|(_, c)| c.len())
                    .unwrap_or(0),
                "{op}: {f}"
            );
        }
    }
}
