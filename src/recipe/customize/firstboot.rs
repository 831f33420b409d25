//! First-boot commands: a systemd oneshot unit in /etc/systemd/system, enabled by its
//! multi-user.target.wants symlink, that runs once. The unit text is `seal::unit`'s, shared
//! with the ssh-hostkeys guard.

use crate::recipe::schema::FirstbootStep;
pub use crate::seal::unit::{Oneshot, UNIT_DIR, WANTS_DIR};

/// The unit file for a step.
pub fn unit(f: &FirstbootStep) -> String {
    let description = format!("cloudseal first boot: {}", f.name);
    let before: Vec<&str> = f.before.iter().map(String::as_str).collect();
    Oneshot {
        name: &f.name,
        comment: "Written by cloudseal: runs once at first boot.",
        description: &description,
        command: &f.command,
        unless_exists: f.unless_exists.as_deref(),
        after: &[],
        before: &before,
    }
    .text()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unit_text_is_unchanged_by_the_move_to_seal() {
        let f = FirstbootStep {
            name: "ssh-keygen".into(),
            command: "ssh-keygen -A".into(),
            unless_exists: Some("/etc/ssh/ssh_host_ed25519_key".into()),
            before: vec!["ssh.service".into()],
        };
        assert_eq!(
            unit(&f),
            "# Written by cloudseal: runs once at first boot.\n[Unit]\n\
             Description=cloudseal first boot: ssh-keygen\n\
             ConditionPathExists=!/etc/ssh/ssh_host_ed25519_key\nBefore=ssh.service\n\n\
             [Service]\nType=oneshot\nRemainAfterExit=yes\nExecStart=/bin/sh -c \"ssh-keygen -A\"\n\n\
             [Install]\nWantedBy=multi-user.target\n"
        );
        let g = FirstbootStep {
            unless_exists: None,
            ..f
        };
        assert!(unit(&g).contains(
            "ExecStartPost=/bin/sh -c \"mkdir -p /var/lib/cloudseal && touch \
             /var/lib/cloudseal/firstboot-ssh-keygen.done\"\n"
        ));
    }
}
