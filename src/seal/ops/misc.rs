//! The small virt-sysprep operations: one or a few fixed paths each.

use crate::fs::{FsError, GuestFs, OsInfo};
use crate::seal::{Action, SealOp, SealOptions};

use super::paths;

pub static UTMP: SealOp = SealOp {
    name: "utmp",
    summary: "Remove the utmp file",
    default: true,
    trees: &[],
    files: &["/var/run/utmp", "/run/utmp"],
    ..SealOp::NONE
};

pub static BLKID_TAB: SealOp = SealOp {
    name: "blkid-tab",
    summary: "Remove blkid tab in the guest",
    default: true,
    trees: &[],
    files: &[
        "/var/run/blkid.tab",
        "/var/run/blkid.tab.old",
        "/run/blkid/blkid.tab",
        "/run/blkid/blkid.tab.old",
        "/etc/blkid/blkid.tab",
        "/etc/blkid/blkid.tab.old",
        "/etc/blkid.tab",
        "/etc/blkid.tab.old",
        "/dev/.blkid.tab",
        "/dev/.blkid.tab.old",
    ],
    ..SealOp::NONE
};

pub static PAM_DATA: SealOp = SealOp {
    name: "pam-data",
    summary: "Remove the PAM data in the guest",
    default: true,
    trees: &[],
    files: &[
        "/var/run/console/*",
        "/var/run/faillock/*",
        "/var/run/sepermit/*",
        "/run/console/*",
        "/run/faillock/*",
        "/run/sepermit/*",
    ],
    ..SealOp::NONE
};

pub static PASSWD_BACKUPS: SealOp = SealOp {
    name: "passwd-backups",
    summary: "Remove /etc/passwd- and similar backup files",
    default: true,
    trees: &[],
    files: &[
        "/etc/group-",
        "/etc/gshadow-",
        "/etc/passwd-",
        "/etc/shadow-",
        "/etc/subgid-",
        "/etc/subuid-",
    ],
    ..SealOp::NONE
};

pub static DOVECOT_DATA: SealOp = SealOp {
    name: "dovecot-data",
    summary: "Remove Dovecot (mail server) data",
    default: true,
    trees: &[],
    files: &["/var/lib/dovecot/*"],
    ..SealOp::NONE
};

pub static IPA_CLIENT: SealOp = SealOp {
    name: "ipa-client",
    summary: "Remove the IPA files",
    default: true,
    trees: &[],
    files: &[
        "/etc/ipa/ca.crt",
        "/etc/ipa/default.conf",
        "/var/lib/ipa-client/sysrestore/*",
        "/var/lib/ipa-client/pki/*",
        "/etc/pki/ca-trust/source/anchors/ipa-ca.crt",
        "/usr/local/share/ca-certificates/ipa-ca.crt",
        "/etc/pki/ca-trust/source/ipa.p11-kit",
    ],
    ..SealOp::NONE
};

pub static KERBEROS_HOSTKEYTAB: SealOp = SealOp {
    name: "kerberos-hostkeytab",
    summary: "Remove the Kerberos host keytab file in the guest",
    default: true,
    trees: &[],
    files: &["/etc/krb5.keytab"],
    ..SealOp::NONE
};

pub static PUPPET_DATA_LOG: SealOp = SealOp {
    name: "puppet-data-log",
    summary: "Remove the data and log files of puppet",
    default: true,
    trees: &[],
    files: &[
        "/var/log/puppet/*",
        "/var/lib/puppet/*/*",
        "/var/lib/puppet/*/*/*",
    ],
    ..SealOp::NONE
};

pub static RH_SUBSCRIPTION_MANAGER: SealOp = SealOp {
    name: "rh-subscription-manager",
    summary: "Remove the RH subscription manager files",
    default: true,
    trees: &["/etc/pki/consumer/*", "/etc/pki/entitlement/*"],
    files: &[],
    ..SealOp::NONE
};

pub static RHN_SYSTEMID: SealOp = SealOp {
    name: "rhn-systemid",
    summary: "Remove the RHN system ID",
    default: true,
    trees: &[],
    files: &[
        "/etc/sysconfig/rhn/systemid",
        "/etc/sysconfig/rhn/osad-auth.conf",
    ],
    ..SealOp::NONE
};

pub static SAMBA_DB_LOG: SealOp = SealOp {
    name: "samba-db-log",
    summary: "Remove the database and log files of Samba",
    default: true,
    trees: &[],
    files: &[
        "/var/log/samba/old/*",
        "/var/log/samba/*",
        "/var/lib/samba/*/*",
        "/var/lib/samba/*",
    ],
    ..SealOp::NONE
};

pub static SMOLT_UUID: SealOp = SealOp {
    name: "smolt-uuid",
    summary: "Remove the Smolt hardware UUID",
    default: true,
    trees: &[],
    files: &[
        "/etc/sysconfig/hw-uuid",
        "/etc/smolt/uuid",
        "/etc/smolt/hw-uuid",
    ],
    ..SealOp::NONE
};

pub static SSSD_DB_LOG: SealOp = SealOp {
    name: "sssd-db-log",
    summary: "Remove the database and log files of sssd",
    default: true,
    trees: &[],
    files: &["/var/log/sssd/*", "/var/lib/sss/db/*"],
    ..SealOp::NONE
};

pub static FIREWALL_RULES: SealOp = SealOp {
    name: "firewall-rules",
    summary: "Remove the firewall rules",
    default: false,
    trees: &[],
    files: &[
        "/etc/sysconfig/iptables",
        "/etc/firewalld/services/*",
        "/etc/firewalld/zones/*",
    ],
    ..SealOp::NONE
};

/// ca-certificates and kerberos-data: glob removals with exceptions (files only).
pub static CA_CERTIFICATES: SealOp = SealOp {
    name: "ca-certificates",
    summary: "Remove CA certificates in the guest",
    files: &[
        "/etc/pki/CA/certs/*.crt",
        "/etc/pki/CA/crl/*.crt",
        "/etc/pki/CA/newcerts/*.crt",
        "/etc/pki/CA/private/*.key",
        "/etc/pki/tls/private/*.key",
        "/etc/pki/tls/certs/*.crt",
    ],
    except: &[
        "/etc/pki/tls/certs/ca-bundle.crt",
        "/etc/pki/tls/certs/ca-bundle.trust.crt",
    ],
    ..SealOp::NONE
};

pub static KERBEROS_DATA: SealOp = SealOp {
    name: "kerberos-data",
    summary: "Remove Kerberos data in the guest",
    files: &["/var/kerberos/krb5kdc/*"],
    except: &[
        "/var/kerberos/krb5kdc/kadm5.acl",
        "/var/kerberos/krb5kdc/kdc.conf",
    ],
    ..SealOp::NONE
};

/// flag-reconfiguration: create /.unconfigured (an interactive first-boot setup).
pub static FLAG_RECONFIGURATION: SealOp = SealOp {
    name: "flag-reconfiguration",
    summary: "Flag the system for reconfiguration",
    default: false,
    plan: Some(plan_flag_reconfiguration),
    ..SealOp::NONE
};

fn plan_flag_reconfiguration(
    fs: &dyn GuestFs,
    _os: &OsInfo,
    _opts: &SealOptions,
) -> Result<Vec<Action>, FsError> {
    if paths::kind(fs, "/.unconfigured")?.is_some() {
        return Ok(Vec::new());
    }
    Ok(vec![Action::Write {
        path: "/.unconfigured".into(),
        content: Vec::new(),
        note: "created: the first boot asks for settings".into(),
    }])
}
