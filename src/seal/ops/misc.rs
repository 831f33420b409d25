//! The small virt-sysprep operations: one or a few fixed paths each.

use crate::fs::{FsError, GuestFs, OsInfo};
use crate::seal::{Action, SealOp, SealOptions};

use super::{GlobOp, paths};

pub static UTMP: GlobOp = GlobOp {
    name: "utmp",
    summary: "Remove the utmp file",
    default: true,
    trees: &[],
    files: &["/var/run/utmp", "/run/utmp"],
};

pub static BLKID_TAB: GlobOp = GlobOp {
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
};

pub static PAM_DATA: GlobOp = GlobOp {
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
};

pub static PASSWD_BACKUPS: GlobOp = GlobOp {
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
};

pub static DOVECOT_DATA: GlobOp = GlobOp {
    name: "dovecot-data",
    summary: "Remove Dovecot (mail server) data",
    default: true,
    trees: &[],
    files: &["/var/lib/dovecot/*"],
};

pub static IPA_CLIENT: GlobOp = GlobOp {
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
};

pub static KERBEROS_HOSTKEYTAB: GlobOp = GlobOp {
    name: "kerberos-hostkeytab",
    summary: "Remove the Kerberos host keytab file in the guest",
    default: true,
    trees: &[],
    files: &["/etc/krb5.keytab"],
};

pub static PUPPET_DATA_LOG: GlobOp = GlobOp {
    name: "puppet-data-log",
    summary: "Remove the data and log files of puppet",
    default: true,
    trees: &[],
    files: &[
        "/var/log/puppet/*",
        "/var/lib/puppet/*/*",
        "/var/lib/puppet/*/*/*",
    ],
};

pub static RH_SUBSCRIPTION_MANAGER: GlobOp = GlobOp {
    name: "rh-subscription-manager",
    summary: "Remove the RH subscription manager files",
    default: true,
    trees: &["/etc/pki/consumer/*", "/etc/pki/entitlement/*"],
    files: &[],
};

pub static RHN_SYSTEMID: GlobOp = GlobOp {
    name: "rhn-systemid",
    summary: "Remove the RHN system ID",
    default: true,
    trees: &[],
    files: &[
        "/etc/sysconfig/rhn/systemid",
        "/etc/sysconfig/rhn/osad-auth.conf",
    ],
};

pub static SAMBA_DB_LOG: GlobOp = GlobOp {
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
};

pub static SMOLT_UUID: GlobOp = GlobOp {
    name: "smolt-uuid",
    summary: "Remove the Smolt hardware UUID",
    default: true,
    trees: &[],
    files: &[
        "/etc/sysconfig/hw-uuid",
        "/etc/smolt/uuid",
        "/etc/smolt/hw-uuid",
    ],
};

pub static SSSD_DB_LOG: GlobOp = GlobOp {
    name: "sssd-db-log",
    summary: "Remove the database and log files of sssd",
    default: true,
    trees: &[],
    files: &["/var/log/sssd/*", "/var/lib/sss/db/*"],
};

pub static FIREWALL_RULES: GlobOp = GlobOp {
    name: "firewall-rules",
    summary: "Remove the firewall rules",
    default: false,
    trees: &[],
    files: &[
        "/etc/sysconfig/iptables",
        "/etc/firewalld/services/*",
        "/etc/firewalld/zones/*",
    ],
};

/// A glob removal with exceptions (files only).
pub struct GlobExcept {
    pub name: &'static str,
    pub summary: &'static str,
    pub files: &'static [&'static str],
    pub except: &'static [&'static str],
}

impl SealOp for GlobExcept {
    fn name(&self) -> &'static str {
        self.name
    }
    fn summary(&self) -> &'static str {
        self.summary
    }
    fn default_enabled(&self) -> bool {
        false
    }
    fn plan(
        &self,
        fs: &dyn GuestFs,
        _os: &OsInfo,
        _opts: &SealOptions,
    ) -> Result<Vec<Action>, FsError> {
        let mut v = paths::remove_file_globs(fs, self.files)?;
        v.retain(|a| !self.except.contains(&a.path()));
        Ok(v)
    }
}

pub static CA_CERTIFICATES: GlobExcept = GlobExcept {
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
};

pub static KERBEROS_DATA: GlobExcept = GlobExcept {
    name: "kerberos-data",
    summary: "Remove Kerberos data in the guest",
    files: &["/var/kerberos/krb5kdc/*"],
    except: &[
        "/var/kerberos/krb5kdc/kadm5.acl",
        "/var/kerberos/krb5kdc/kdc.conf",
    ],
};

/// flag-reconfiguration: create /.unconfigured (an interactive first-boot setup).
pub struct FlagReconfiguration;

impl SealOp for FlagReconfiguration {
    fn name(&self) -> &'static str {
        "flag-reconfiguration"
    }
    fn summary(&self) -> &'static str {
        "Flag the system for reconfiguration"
    }
    fn default_enabled(&self) -> bool {
        false
    }
    fn plan(
        &self,
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
}
