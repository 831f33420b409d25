//! systemd oneshot units that cloudseal installs in a guest: the recipe's `firstboot` steps and
//! the ssh-hostkeys guard. One text generator, so both quote and order the same way.

pub const UNIT_DIR: &str = "/etc/systemd/system";
pub const WANTS_DIR: &str = "/etc/systemd/system/multi-user.target.wants";
/// Where a unit without its own condition records that it ran.
pub const STAMP_DIR: &str = "/var/lib/cloudseal";

/// A oneshot unit running `/bin/sh -c COMMAND`, wanted by multi-user.target.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Oneshot<'a> {
    /// Unit name without suffix: UNIT_DIR/NAME.service.
    pub name: &'a str,
    /// The first line of the file, a comment saying what wrote it and when it runs.
    pub comment: &'a str,
    pub description: &'a str,
    pub command: &'a str,
    /// Run only while this path does not exist; `None`: once, recorded by a stamp file.
    pub unless_exists: Option<&'a str>,
    pub after: &'a [&'a str],
    pub before: &'a [&'a str],
}

impl Oneshot<'_> {
    pub fn path(&self) -> String {
        format!("{UNIT_DIR}/{}.service", self.name)
    }

    /// The multi-user.target.wants symlink that enables it.
    pub fn wants_link(&self) -> String {
        format!("{WANTS_DIR}/{}.service", self.name)
    }

    /// The unit file.
    pub fn text(&self) -> String {
        let mut u = format!(
            "# {}\n[Unit]\nDescription={}\n",
            self.comment, self.description
        );
        let stamp = format!("{STAMP_DIR}/firstboot-{}.done", self.name);
        match self.unless_exists {
            Some(p) => u.push_str(&format!("ConditionPathExists=!{p}\n")),
            None => u.push_str(&format!("ConditionPathExists=!{stamp}\n")),
        }
        if !self.after.is_empty() {
            u.push_str(&format!("After={}\n", self.after.join(" ")));
        }
        if !self.before.is_empty() {
            u.push_str(&format!("Before={}\n", self.before.join(" ")));
        }
        u.push_str("\n[Service]\nType=oneshot\nRemainAfterExit=yes\n");
        u.push_str(&format!(
            "ExecStart=/bin/sh -c \"{}\"\n",
            sd_quote(self.command)
        ));
        if self.unless_exists.is_none() {
            u.push_str(&format!(
                "ExecStartPost=/bin/sh -c \"mkdir -p {STAMP_DIR} && touch {stamp}\"\n"
            ));
        }
        u.push_str("\n[Install]\nWantedBy=multi-user.target\n");
        u
    }
}

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unit_quotes_and_orders() {
        let f = Oneshot {
            name: "ssh-keygen",
            comment: "Written by cloudseal: runs once at first boot.",
            description: "cloudseal first boot: ssh-keygen",
            command: "ssh-keygen -A && echo \"100%\" $HOME",
            unless_exists: Some("/etc/ssh/ssh_host_ed25519_key"),
            after: &[],
            before: &["ssh.service"],
        };
        let u = f.text();
        assert!(u.starts_with("# Written by cloudseal: runs once at first boot.\n[Unit]\n"));
        assert!(u.contains("ConditionPathExists=!/etc/ssh/ssh_host_ed25519_key\n"));
        assert!(u.contains("Before=ssh.service\n"));
        assert!(!u.contains("After="));
        assert!(u.contains(r#"ExecStart=/bin/sh -c "ssh-keygen -A && echo \"100%%\" $$HOME""#));
        assert!(!u.contains("ExecStartPost"));
        assert_eq!(f.path(), "/etc/systemd/system/ssh-keygen.service");
        assert_eq!(
            f.wants_link(),
            "/etc/systemd/system/multi-user.target.wants/ssh-keygen.service"
        );
        let g = Oneshot {
            unless_exists: None,
            after: &["a.service", "b.service"],
            ..f
        };
        let u = g.text();
        assert!(u.contains("firstboot-ssh-keygen.done"));
        // Conditions, then After=, then Before=, all in [Unit].
        let cond = u.find("ConditionPathExists=").unwrap();
        let after = u.find("After=a.service b.service\n").unwrap();
        let before = u.find("Before=ssh.service\n").unwrap();
        assert!(cond < after && after < before && before < u.find("[Service]").unwrap());
    }
}
