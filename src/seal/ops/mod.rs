//! The registry of sealing operations, one file per group.
//!
//! Names and defaults follow virt-sysprep 1.48 for every operation that acts on files of a
//! Linux guest; the extra ones (cloud-init-state, static-ip, systemd-credential-secret,
//! user-app-state) cover what virt-sysprep leaves behind on cloud images.
//!
//! Adding one: a `SealOp` static (plain data: name, summary, default) with the globs whose
//! matches it removes, or with a `plan` function that only reads (helpers in [`paths`]: globs that never
//! traverse symlinks, walks, home directories; [`super::netcfg`] for edits that keep the rest
//! of a file byte-identical). A missing file is nothing to do; plans are sorted. Then add it
//! to `REGISTRY` and to the table in tests/seal_ops/every_op.rs.

use crate::fs::OsInfo;

use super::SealOp;

pub mod cloud_init;
pub mod dhcp;
pub mod home;
pub mod hwaddr;
pub mod identity;
pub mod logs;
pub mod misc;
pub mod net;
pub mod paths;
pub mod pkg;
pub mod spool;
pub mod ssh;
pub mod static_ip;

pub mod tmp;
pub mod users;

/// Every operation, in the order they run: identity first, then network, state, logs, user
/// files, caches and spools; the ones off by default last.
pub static REGISTRY: &[&SealOp] = &[
    &ssh::SSH_HOSTKEYS,
    &identity::MACHINE_ID,
    &identity::RANDOM_SEED,
    &identity::CREDENTIAL_SECRET,
    &net::UDEV_PERSISTENT_NET,
    &net::NET_NMCONN,
    &hwaddr::NET_HWADDR,
    &net::NET_HOSTNAME,
    &static_ip::STATIC_IP,
    &dhcp::DHCP_CLIENT_STATE,
    &dhcp::DHCP_SERVER_STATE,
    &cloud_init::CLOUD_INIT_STATE,
    &logs::LOGFILES,
    &logs::PACCT_LOG,
    &logs::CRASH_DATA,
    &logs::ABRT_DATA,
    &home::BASH_HISTORY,
    &home::USER_APP_STATE,
    &ssh::SSH_USERDIR,
    &tmp::TMP_FILES,
    &home::BACKUP_FILES,
    &pkg::PACKAGE_MANAGER_CACHE,
    &pkg::RPM_DB,
    &pkg::YUM_UUID,
    &spool::MAIL_SPOOL,
    &spool::CRON_SPOOL,
    &misc::UTMP,
    &misc::BLKID_TAB,
    &misc::PAM_DATA,
    &misc::PASSWD_BACKUPS,
    &misc::DOVECOT_DATA,
    &misc::IPA_CLIENT,
    &misc::KERBEROS_HOSTKEYTAB,
    &misc::PUPPET_DATA_LOG,
    &misc::RH_SUBSCRIPTION_MANAGER,
    &misc::RHN_SYSTEMID,
    &misc::SAMBA_DB_LOG,
    &misc::SMOLT_UUID,
    &misc::SSSD_DB_LOG,
    &misc::CA_CERTIFICATES,
    &misc::FIREWALL_RULES,
    &misc::FLAG_RECONFIGURATION,
    &misc::KERBEROS_DATA,
    &users::USER_ACCOUNT,
];

/// Look an operation up by name.
pub fn find(name: &str) -> Option<&'static SealOp> {
    REGISTRY.iter().copied().find(|op| op.name() == name)
}

/// Red Hat family (where virt-sysprep's net-nmconn and a few others act).
pub fn is_redhat_family(os: &OsInfo) -> bool {
    const RH: &[&str] = &[
        "fedora",
        "rhel",
        "centos",
        "rocky",
        "almalinux",
        "ol",
        "scientific",
        "redhat-based",
    ];
    RH.contains(&os.id.as_str()) || os.id_like.iter().any(|l| RH.contains(&l.as_str()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::seal::SealOptions;
    use std::collections::BTreeSet;

    #[test]
    fn every_op_plans_and_applies_on_garbage_configs() {
        use crate::fs::dir::DirFs;
        use crate::seal::netcfg::garbage;
        use crate::seal::{Selection, apply, plan_all};
        const CONFIGS: &[&str] = &[
            "etc/passwd",
            "etc/group",
            "etc/gshadow",
            "etc/shadow",
            "etc/login.defs",
            "etc/machine-id",
            "etc/sysconfig/network-scripts/ifcfg-eth0",
            "etc/NetworkManager/system-connections/a.nmconnection",
            "etc/netplan/50-cloud-init.yaml",
            "etc/systemd/network/10-a.network",
            "etc/systemd/network/10-a.link",
            "etc/network/interfaces",
            "etc/ssh/ssh_host_rsa_key",
            "usr/lib/systemd/system/sshd-keygen.service",
            "var/spool/cron/atjobs/.SEQ",
            "var/log/account/pacct",
        ];
        let all = Selection::defaults().operations("all");
        for seed in 0..40u64 {
            let t = tempfile::tempdir().expect("tempdir");
            for (i, c) in CONFIGS.iter().enumerate() {
                let p = t.path().join(c);
                std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
                std::fs::write(&p, garbage(seed * 31 + i as u64)).expect("write");
            }
            std::fs::create_dir_all(t.path().join("home/u")).expect("mkdir");
            for to_dhcp in [false, true] {
                let opts = SealOptions {
                    static_ip_to_dhcp: to_dhcp,
                    machine_id_uninitialized: to_dhcp,
                    ..Default::default()
                };
                let mut fs = DirFs::open(t.path()).expect("open");
                let os = OsInfo::default();
                let plan = plan_all(&fs, &os, &all, &opts).expect("plan on garbage");
                apply(&mut fs, &plan).expect("apply on garbage");
            }
        }
    }

    #[test]
    fn names_are_unique_kebab_case_with_summaries() {
        let mut seen = BTreeSet::new();
        for op in REGISTRY {
            assert!(seen.insert(op.name()), "duplicate {}", op.name());
            assert!(
                op.name()
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-'),
                "{}",
                op.name()
            );
            assert!(!op.summary().is_empty() && !op.summary().contains('\n'));
        }
    }

    #[test]
    fn defaults_match_virt_sysprep() {
        // virt-sysprep 1.48 --list-operations: the file operations off by default.
        for off in [
            "ca-certificates",
            "firewall-rules",
            "flag-reconfiguration",
            "kerberos-data",
            "user-account",
        ] {
            assert!(!find(off).expect(off).default_enabled(), "{off}");
        }
        for on in [
            "abrt-data",
            "backup-files",
            "bash-history",
            "blkid-tab",
            "crash-data",
            "cron-spool",
            "dhcp-client-state",
            "dhcp-server-state",
            "dovecot-data",
            "ipa-client",
            "kerberos-hostkeytab",
            "logfiles",
            "machine-id",
            "mail-spool",
            "net-hostname",
            "net-hwaddr",
            "net-nmconn",
            "pacct-log",
            "package-manager-cache",
            "pam-data",
            "passwd-backups",
            "puppet-data-log",
            "rh-subscription-manager",
            "rhn-systemid",
            "rpm-db",
            "samba-db-log",
            "smolt-uuid",
            "ssh-hostkeys",
            "ssh-userdir",
            "sssd-db-log",
            "tmp-files",
            "udev-persistent-net",
            "utmp",
            "yum-uuid",
        ] {
            assert!(find(on).expect(on).default_enabled(), "{on}");
        }
    }
}
