//! user-account (off by default, as in virt-sysprep): remove the login accounts (UID_MIN..=
//! UID_MAX of login.defs), their groups, mail and home directories; root is never removed.

use std::collections::BTreeSet;

use crate::fs::{FileKind, FsError, GuestFs, OsInfo};
use crate::seal::{Action, SealOp, SealOptions};

use super::paths;

/// Files of `name:...` lines: an account's line is dropped from each.
const BY_NAME: &[&str] = &["/etc/passwd", "/etc/shadow", "/etc/subuid", "/etc/subgid"];
/// Group files: the user's own group is dropped, and the user from member lists.
const GROUP_FILES: &[&str] = &["/etc/group", "/etc/gshadow"];

struct Account {
    name: String,
    gid: String,
    home: String,
}

fn login_defs_range(fs: &dyn GuestFs) -> Result<(u32, u32), FsError> {
    let (mut min, mut max) = (1000, 60000);
    if let Some(text) = paths::read_text(fs, "/etc/login.defs")? {
        for l in text.lines() {
            let w: Vec<&str> = l.split_whitespace().collect();
            match w[..] {
                ["UID_MIN", v, ..] => min = v.parse().unwrap_or(min),
                ["UID_MAX", v, ..] => max = v.parse().unwrap_or(max),
                _ => {}
            }
        }
    }
    Ok((min, max))
}

/// Which accounts go: all in range, or only `remove` if given; never those in `keep`.
fn chosen(name: &str, opts: &SealOptions) -> bool {
    (opts.remove_user_accounts.is_empty() || opts.remove_user_accounts.iter().any(|u| u == name))
        && !opts.keep_user_accounts.iter().any(|u| u == name)
}

/// Drop the lines of `text` whose first `:` field is in `names`.
fn drop_named(text: &str, names: &BTreeSet<&str>) -> String {
    text.split_inclusive('\n')
        .filter(|l| !names.contains(l.split(':').next().unwrap_or("")))
        .collect()
}

/// The removed users' own groups (same name) that no kept account has as primary group.
fn own_groups<'a>(
    group: &str,
    users: &BTreeSet<&'a str>,
    kept_gids: &BTreeSet<&str>,
) -> BTreeSet<&'a str> {
    let mut out = BTreeSet::new();
    for l in group.lines() {
        let f: Vec<&str> = l.split(':').collect();
        if let (Some(name), Some(gid)) = (f.first(), f.get(2))
            && let Some(u) = users.iter().find(|u| *u == name)
            && !kept_gids.contains(gid)
        {
            out.insert(*u);
        }
    }
    out
}

/// Drop the groups in `drop` and take `users` out of every member list (group's 4th
/// field; gshadow's admins and members).
fn edit_groups(text: &str, users: &BTreeSet<&str>, drop: &BTreeSet<&str>) -> String {
    let mut out = String::with_capacity(text.len());
    for l in text.split_inclusive('\n') {
        let body = l.trim_end_matches(['\n', '\r']);
        let nl = &l[body.len()..];
        let mut f: Vec<String> = body.split(':').map(str::to_string).collect();
        if f.len() < 4 {
            out.push_str(l);
            continue;
        }
        if drop.contains(f[0].as_str()) {
            continue;
        }
        let mut changed = false;
        // group: name:x:gid:members; gshadow: name:pw:admins:members.
        for field in f.iter_mut().skip(2) {
            let members: Vec<&str> = field.split(',').filter(|m| !m.is_empty()).collect();
            let kept: Vec<&str> = members
                .iter()
                .copied()
                .filter(|m| !users.contains(m))
                .collect();
            if kept.len() != members.len() {
                *field = kept.join(",");
                changed = true;
            }
        }
        if changed {
            out.push_str(&f.join(":"));
            out.push_str(nl);
        } else {
            out.push_str(l);
        }
    }
    out
}

pub static USER_ACCOUNT: SealOp = SealOp {
    name: "user-account",
    summary: "Remove the user accounts in the guest",
    default: false,
    plan: Some(plan_user_account),
    ..SealOp::NONE
};

fn plan_user_account(
    fs: &dyn GuestFs,
    _os: &OsInfo,
    opts: &SealOptions,
) -> Result<Vec<Action>, FsError> {
    let Some(passwd) = paths::read_text(fs, "/etc/passwd")? else {
        return Ok(Vec::new());
    };
    let (min, max) = login_defs_range(fs)?;
    let mut gone = Vec::new();
    let mut kept = Vec::new();
    for l in passwd.lines() {
        let f: Vec<&str> = l.split(':').collect();
        let (Some(name), Some(uid), Some(gid), Some(home)) =
            (f.first(), f.get(2), f.get(3), f.get(5))
        else {
            continue;
        };
        let a = Account {
            name: name.to_string(),
            gid: gid.to_string(),
            home: home.trim_end_matches('/').to_string(),
        };
        let in_range = uid
            .parse::<u32>()
            .is_ok_and(|u| u != 0 && (min..=max).contains(&u));
        if in_range && !name.is_empty() && chosen(name, opts) {
            gone.push(a);
        } else {
            kept.push(a);
        }
    }
    if gone.is_empty() {
        return Ok(Vec::new());
    }
    let names: BTreeSet<&str> = gone.iter().map(|a| a.name.as_str()).collect();
    let kept_gids: BTreeSet<&str> = kept.iter().map(|a| a.gid.as_str()).collect();
    let list = names.iter().copied().collect::<Vec<_>>().join(", ");
    let mut v = Vec::new();
    for f in BY_NAME {
        if let Some(text) = paths::read_text(fs, f)? {
            let new = drop_named(&text, &names);
            if new != text {
                v.push(Action::Write {
                    path: f.to_string(),
                    content: new.into_bytes(),
                    note: format!("removed {list}"),
                });
            }
        }
    }
    let group = paths::read_text(fs, "/etc/group")?.unwrap_or_default();
    let drop_groups = own_groups(&group, &names, &kept_gids);
    for f in GROUP_FILES {
        if let Some(text) = paths::read_text(fs, f)? {
            let new = edit_groups(&text, &names, &drop_groups);
            if new != text {
                v.push(Action::Write {
                    path: f.to_string(),
                    content: new.into_bytes(),
                    note: format!("removed {list} and their groups"),
                });
            }
        }
    }
    for a in &gone {
        for spool in ["/var/spool/mail", "/var/mail"] {
            let p = format!("{spool}/{}", a.name);
            match paths::kind(fs, &p)? {
                Some(FileKind::Dir) => v.push(Action::RemoveTree { path: p }),
                Some(_) => v.push(Action::Remove { path: p }),
                None => {}
            }
        }
        // Only a home of its own, at least two levels down (never /, /usr, /var...).
        let deep = a.home.starts_with('/')
            && a.home.split('/').filter(|c| !c.is_empty()).count() >= 2
            && !a.home.split('/').any(|c| c == "..");
        let shared = kept.iter().any(|k| k.home == a.home);
        if deep && !shared && paths::kind(fs, &a.home)? == Some(FileKind::Dir) {
            v.push(Action::RemoveTree {
                path: a.home.clone(),
            });
        }
    }
    Ok(paths::sorted(v))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn groups_lose_the_user_and_own_group() {
        let users: BTreeSet<&str> = ["bob"].into();
        let kept: BTreeSet<&str> = ["0", "1000"].into();
        let g = "root:x:0:\nsudo:x:27:ann,bob\nbob:x:1001:\nann:x:1000:\n";
        let drop = own_groups(g, &users, &kept);
        assert_eq!(drop, users);
        // A group that a kept account uses as its primary group stays.
        assert!(own_groups("bob:x:1000:\n", &users, &kept).is_empty());
        assert_eq!(
            edit_groups(g, &users, &drop),
            "root:x:0:\nsudo:x:27:ann\nann:x:1000:\n"
        );
        let gs = "sudo:*::bob\nbob:!::\nadm:*:bob:ann\n";
        assert_eq!(edit_groups(gs, &users, &drop), "sudo:*::\nadm:*::ann\n");
    }
}
