//! First-boot commands: a systemd oneshot unit in /etc/systemd/system, enabled by its
//! multi-user.target.wants symlink, that runs once.

use crate::recipe::schema::FirstbootStep;

pub const UNIT_DIR: &str = "/etc/systemd/system";
pub const WANTS_DIR: &str = "/etc/systemd/system/multi-user.target.wants";
/// Where a unit without its own condition records that it ran.
pub const STAMP_DIR: &str = "/var/lib/cloudseal";

/// Quote a command for `ExecStart=/bin/sh -c "..."`: systemd unquotes `\\` and `\"`, and
/// expands `%` specifiers and `$` variables, which must be doubled.
fn sd_quote(cmd: &str) -> String {
    let mut out = String::with_capacity(cmd.len() + 8);
    for c in cmd.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '%' => out.push_str("%%"),
            '$' => out.push_str("$$"),
            c => out.push(c),
        }
    }
    out
}

/// The unit file for a step.
pub fn unit(f: &FirstbootStep) -> String {
    let mut u = format!(
        "# Written by cloudseal: runs once at first boot.\n[Unit]\nDescription=cloudseal first boot: {}\n",
        f.name
    );
    let stamp = format!("{STAMP_DIR}/firstboot-{}.done", f.name);
    match &f.unless_exists {
        Some(p) => u.push_str(&format!("ConditionPathExists=!{p}\n")),
        None => u.push_str(&format!("ConditionPathExists=!{stamp}\n")),
    }
    if !f.before.is_empty() {
        u.push_str(&format!("Before={}\n", f.before.join(" ")));
    }
    u.push_str("\n[Service]\nType=oneshot\nRemainAfterExit=yes\n");
    u.push_str(&format!(
        "ExecStart=/bin/sh -c \"{}\"\n",
        sd_quote(&f.command)
    ));
    if f.unless_exists.is_none() {
        u.push_str(&format!(
            "ExecStartPost=/bin/sh -c \"mkdir -p {STAMP_DIR} && touch {stamp}\"\n"
        ));
    }
    u.push_str("\n[Install]\nWantedBy=multi-user.target\n");
    u
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unit_quotes_and_orders() {
        let f = FirstbootStep {
            name: "ssh-keygen".into(),
            command: "ssh-keygen -A && echo \"100%\" $HOME".into(),
            unless_exists: Some("/etc/ssh/ssh_host_ed25519_key".into()),
            before: vec!["ssh.service".into()],
        };
        let u = unit(&f);
        assert!(u.contains("ConditionPathExists=!/etc/ssh/ssh_host_ed25519_key\n"));
        assert!(u.contains("Before=ssh.service\n"));
        assert!(u.contains(r#"ExecStart=/bin/sh -c "ssh-keygen -A && echo \"100%%\" $$HOME""#));
        assert!(!u.contains("ExecStartPost"));
        let g = FirstbootStep {
            unless_exists: None,
            ..f
        };
        assert!(unit(&g).contains("firstboot-ssh-keygen.done"));
    }
}
