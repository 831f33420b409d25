//! Accounts from the guest's /etc/passwd and /etc/group, for owners, home directories and
//! password hashes.

use crate::fs::{FsError, GuestFs};

/// Cap on account files we read.
const MAX_ACCOUNTS_FILE: u64 = 16 << 20;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    pub name: String,
    pub uid: u32,
    pub gid: u32,
    pub home: String,
}

fn read_lines(fs: &dyn GuestFs, path: &str) -> Result<Vec<String>, FsError> {
    if fs.metadata(path)?.is_none() {
        return Ok(Vec::new());
    }
    let data = fs.read_file(path, MAX_ACCOUNTS_FILE)?;
    Ok(String::from_utf8_lossy(&data)
        .lines()
        .map(str::to_string)
        .collect())
}

/// The passwd entry of `name`.
pub fn user(fs: &dyn GuestFs, name: &str) -> Result<Option<Account>, FsError> {
    for line in read_lines(fs, "/etc/passwd")? {
        let f: Vec<&str> = line.split(':').collect();
        if f.len() < 7 || f[0] != name {
            continue;
        }
        let (Ok(uid), Ok(gid)) = (f[2].parse(), f[3].parse()) else {
            return Err(FsError::path(
                "/etc/passwd",
                format!("bad uid/gid for {name}"),
            ));
        };
        return Ok(Some(Account {
            name: name.to_string(),
            uid,
            gid,
            home: f[5].to_string(),
        }));
    }
    Ok(None)
}

fn group(fs: &dyn GuestFs, name: &str) -> Result<Option<u32>, FsError> {
    for line in read_lines(fs, "/etc/group")? {
        let f: Vec<&str> = line.split(':').collect();
        if f.len() >= 3 && f[0] == name {
            return f[2]
                .parse()
                .map(Some)
                .map_err(|_| FsError::path("/etc/group", format!("bad gid for {name}")));
        }
    }
    Ok(None)
}

/// "user[:group]" to numbers: numbers as they are, names from the guest's files; without a
/// group, the user's primary group (or the same number for an unknown numeric uid).
pub fn resolve_owner(
    fs: &dyn GuestFs,
    user_part: &str,
    group_part: Option<&str>,
) -> Result<(u32, u32), FsError> {
    let (uid, primary) = match user_part.parse::<u32>() {
        Ok(n) => (n, n),
        Err(_) => {
            let a = user(fs, user_part)?.ok_or_else(|| {
                FsError::path("/etc/passwd", format!("no user {user_part:?} in the guest"))
            })?;
            (a.uid, a.gid)
        }
    };
    let gid = match group_part {
        None => primary,
        Some(g) => match g.parse::<u32>() {
            Ok(n) => n,
            Err(_) => group(fs, g)?.ok_or_else(|| {
                FsError::path("/etc/group", format!("no group {g:?} in the guest"))
            })?,
        },
    };
    Ok((uid, gid))
}

/// /etc/shadow with `user`'s hash replaced; None when the user has no line.
pub fn set_shadow_hash(shadow: &str, user: &str, hash: &str) -> Option<String> {
    let mut found = false;
    let mut out = String::with_capacity(shadow.len() + hash.len());
    for line in shadow.split_inclusive('\n') {
        let body = line.trim_end_matches('\n');
        let mut f: Vec<&str> = body.split(':').collect();
        if f.len() >= 2 && f[0] == user {
            found = true;
            f[1] = hash;
            out.push_str(&f.join(":"));
            if line.ends_with('\n') {
                out.push('\n');
            }
        } else {
            out.push_str(line);
        }
    }
    found.then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shadow_edit_keeps_other_fields_and_lines() {
        let s = "root:*:19000:0:99999:7:::\ndebian:!:19001:0:99999:7:::\n";
        let out = set_shadow_hash(s, "debian", "$6$salt$hash").unwrap();
        assert_eq!(
            out,
            "root:*:19000:0:99999:7:::\ndebian:$6$salt$hash:19001:0:99999:7:::\n"
        );
        assert!(set_shadow_hash(s, "nobody", "x").is_none());
    }
}
