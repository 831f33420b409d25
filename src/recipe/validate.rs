//! The meaning of a recipe's values, checked before any work starts: host files that must
//! exist, guest paths, modes, owners, keys, operation names, output formats. Relative host
//! paths are made absolute against the recipe's directory here.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use super::problem::Problem;
use super::schema::{Recipe, Step};
use crate::output::{MAX_CLUSTER_SIZE, MIN_CLUSTER_SIZE, OutputFormat};

/// Octal permission bits ("0644", "755").
pub fn parse_mode(s: &str) -> Result<u32, String> {
    let digits = s.strip_prefix("0o").unwrap_or(s);
    match u32::from_str_radix(digits, 8) {
        Ok(m) if m <= 0o7777 && !digits.is_empty() => Ok(m),
        _ => Err(format!(
            "mode {s:?} is not octal permission bits (like \"0644\")"
        )),
    }
}

/// "user:group" or "user" (the group then is the user's primary group); names or numbers.
pub fn split_owner(s: &str) -> Result<(&str, Option<&str>), String> {
    let (u, g) = match s.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (s, None),
    };
    let ok = |n: &str| {
        !n.is_empty()
            && n.chars()
                .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c))
    };
    if !ok(u) || g.is_some_and(|g| !ok(g)) {
        return Err(format!(
            "owner {s:?} is not \"user:group\" (names or numbers)"
        ));
    }
    Ok((u, g))
}

/// A guest path: absolute, no `..`, no NUL.
pub fn check_guest_path(p: &str) -> Result<(), String> {
    if !p.starts_with('/') {
        return Err(format!("guest path {p:?} is not absolute"));
    }
    if p.split('/').any(|c| c == "..") || p.contains('\0') {
        return Err(format!("guest path {p:?} contains '..' or NUL"));
    }
    Ok(())
}

/// A user name as useradd takes it.
pub fn valid_user(u: &str) -> bool {
    !u.is_empty()
        && u.len() <= 32
        && !u.starts_with('-')
        && u.chars()
            .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c))
}

/// RFC 1123 host name (labels of letters, digits and '-').
pub fn valid_hostname(h: &str) -> bool {
    !h.is_empty()
        && h.len() <= 253
        && h.split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        })
}

/// An OpenSSH public key line: "type base64 [comment]".
pub fn valid_ssh_key(k: &str) -> bool {
    let mut parts = k.split_whitespace();
    let (Some(t), Some(b)) = (parts.next(), parts.next()) else {
        return false;
    };
    !k.contains('\n')
        && (t.starts_with("ssh-") || t.starts_with("ecdsa-") || t.starts_with("sk-"))
        && b.len() > 16
        && b.chars()
            .all(|c| c.is_ascii_alphanumeric() || "+/=".contains(c))
}

fn is_sha256(s: &str) -> bool {
    s.len() == 64 && s.chars().all(|c| c.is_ascii_hexdigit())
}

struct V<'a> {
    dir: &'a Path,
    out: Vec<Problem>,
}

impl V<'_> {
    fn err(&mut self, line: Option<usize>, msg: impl Into<String>) {
        self.out.push(Problem {
            line,
            message: msg.into(),
            warning: false,
        });
    }

    fn warn(&mut self, line: Option<usize>, msg: impl Into<String>) {
        self.out.push(Problem {
            line,
            message: msg.into(),
            warning: true,
        });
    }

    /// Make a host path absolute; record a problem if it must exist and does not.
    fn host(&mut self, line: Option<usize>, what: &str, p: &mut String, dir_wanted: Option<bool>) {
        let abs = self.dir.join(&*p);
        *p = abs.display().to_string();
        match (std::fs::metadata(&abs), dir_wanted) {
            (_, None) => {}
            (Err(e), Some(_)) => self.err(line, format!("{what} {}: {e}", abs.display())),
            (Ok(m), Some(true)) if !m.is_dir() => {
                self.err(line, format!("{what} {} is not a directory", abs.display()))
            }
            (Ok(m), Some(false)) if !m.is_file() => self.err(
                line,
                format!("{what} {} is not a regular file", abs.display()),
            ),
            _ => {}
        }
    }

    fn guest(&mut self, line: Option<usize>, p: &str) {
        if let Err(e) = check_guest_path(p) {
            self.err(line, e);
        }
    }

    fn mode(&mut self, line: Option<usize>, m: Option<&String>) {
        if let Some(Err(e)) = m.map(|m| parse_mode(m)) {
            self.err(line, e);
        }
    }

    fn owner(&mut self, line: Option<usize>, o: Option<&String>) {
        if let Some(Err(e)) = o.map(|o| split_owner(o)) {
            self.err(line, e);
        }
    }
}

/// Check every value of `r`; make its host paths absolute.
pub fn validate(r: &mut Recipe, dir: &Path, lines: &BTreeMap<&'static str, usize>) -> Vec<Problem> {
    let mut v = V {
        dir,
        out: Vec::new(),
    };
    let base_line = lines.get("base").copied();
    match &mut r.base {
        // A [base] that failed to parse was reported already.
        None if base_line.is_some() => {}
        None => v.err(None, "no [base] section: which image to start from?"),
        Some(b) => {
            if let Some(s) = &b.sha256
                && !is_sha256(s)
            {
                v.err(
                    base_line,
                    format!("[base] sha256 {s:?} is not 64 hex digits"),
                );
            }
            match (&mut b.path, &b.url) {
                (Some(_), Some(_)) => v.err(base_line, "[base] has both path and url: choose one"),
                (None, None) => v.err(base_line, "[base] needs a path or a url"),
                (Some(p), None) => {
                    v.host(base_line, "[base] path", p, None);
                    // Base images are big and not checked in: a lint of a fresh checkout
                    // must pass without one; `build` makes this an error.
                    match std::fs::metadata(&*p) {
                        Err(e) if e.kind() == std::io::ErrorKind::NotFound => v.warn(
                            base_line,
                            format!("[base] path {p} does not exist (a build needs it)"),
                        ),
                        Err(e) => v.err(base_line, format!("[base] path {p}: {e}")),
                        Ok(m) if !m.is_file() => {
                            v.err(base_line, format!("[base] path {p} is not a regular file"))
                        }
                        Ok(_) => {}
                    }
                }
                (None, Some(u)) => {
                    if !(u.starts_with("http://") || u.starts_with("https://")) {
                        v.err(base_line, format!("[base] url {u:?} is not http(s)"));
                    }
                    if b.sha256.is_none() {
                        v.err(
                            base_line,
                            "[base] url needs sha256 (downloads are verified)",
                        );
                    }
                }
            }
        }
    }

    for step in &mut r.customize {
        let l = Some(step.line);
        let name = step.item.name();
        let before = v.out.len();
        match &mut step.item {
            Step::Write(w) => {
                v.guest(l, &w.path);
                v.mode(l, w.mode.as_ref());
                v.owner(l, w.owner.as_ref());
                match (&w.content, &mut w.from) {
                    (Some(_), Some(_)) => v.err(l, "has both content and from: choose one"),
                    (None, None) => v.err(l, "needs content or from"),
                    (None, Some(f)) => v.host(l, "from", f, Some(false)),
                    _ => {}
                }
            }
            Step::CopyIn(c) => {
                v.guest(l, &c.to);
                v.owner(l, c.owner.as_ref());
                v.host(l, "from", &mut c.from, Some(true));
            }
            Step::Delete(d) => {
                v.guest(l, &d.path);
                if d.path == "/" {
                    v.err(l, "refusing to delete the guest root");
                }
                if let Err(e) = glob::Pattern::new(&d.path) {
                    v.err(l, format!("path {:?} is not a valid glob: {e}", d.path));
                }
            }
            Step::Mkdir(m) => {
                v.guest(l, &m.path);
                v.mode(l, m.mode.as_ref());
                v.owner(l, m.owner.as_ref());
            }
            Step::Chmod(c) => {
                v.guest(l, &c.path);
                v.mode(l, Some(&c.mode));
            }
            Step::Chown(c) => {
                v.guest(l, &c.path);
                v.owner(l, Some(&c.owner));
            }
            Step::Symlink(s) => {
                v.guest(l, &s.path);
                if s.target.is_empty() || s.target.len() > 4095 || s.target.contains('\0') {
                    v.err(l, "symlink target must be 1 to 4095 bytes without NUL");
                }
            }
            Step::SshKey(k) => {
                if !valid_user(&k.user) {
                    v.err(l, format!("user {:?} is not a valid user name", k.user));
                }
                match (&k.key, &mut k.key_file) {
                    (Some(_), Some(_)) => v.err(l, "has both key and key-file: choose one"),
                    (None, None) => v.err(l, "needs key or key-file"),
                    (Some(key), None) if !valid_ssh_key(key) => v.err(
                        l,
                        "key is not an OpenSSH public key line (\"ssh-ed25519 AAAA... comment\")",
                    ),
                    (None, Some(f)) => v.host(l, "key-file", f, Some(false)),
                    _ => {}
                }
            }
            Step::Hostname(h) => {
                if !valid_hostname(&h.hostname) {
                    v.err(l, format!("{:?} is not a valid host name", h.hostname));
                }
            }
            Step::Password(p) => {
                if !valid_user(&p.user) {
                    v.err(l, format!("user {:?} is not a valid user name", p.user));
                }
                let locked = matches!(p.hash.as_str(), "!" | "*" | "!*");
                if !(locked || p.hash.starts_with('$')) || p.hash.contains([':', '\n']) {
                    v.err(l, "hash must be a crypt(3) hash (\"$6$...\", \"$y$...\") or \"!\" to lock; never a clear-text password");
                }
            }
            Step::Firstboot(f) => {
                let ok = !f.name.is_empty()
                    && f.name.len() <= 200
                    && f.name
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || "_-.@".contains(c));
                if !ok {
                    v.err(
                        l,
                        format!(
                            "unit name {:?} may hold only letters, digits and _-.@",
                            f.name
                        ),
                    );
                }
                if f.command.trim().is_empty() || f.command.contains('\n') {
                    v.err(l, "command must be one non-empty line");
                }
                if let Some(p) = &f.unless_exists {
                    v.guest(l, p);
                }
                for u in &f.before {
                    if u.is_empty() || u.contains(char::is_whitespace) {
                        v.err(l, format!("before: {u:?} is not a unit name"));
                    }
                }
            }
        }
        // Name the step in every problem it produced.
        for p in &mut v.out[before..] {
            p.message = format!("customize step {name}: {}", p.message);
        }
    }

    let seal_line = lines.get("seal").copied();
    if let Err(e) = r.seal.selection().resolve() {
        v.err(seal_line, format!("[seal]: {e}"));
    }

    // An [[output]] that did not parse was reported already.
    if r.output.is_empty() && !lines.contains_key("output") {
        v.err(None, "no [[output]]: nothing would be written");
    }
    let mut seen = BTreeSet::new();
    for o in &mut r.output {
        let l = Some(o.line);
        let out = &mut o.item;
        // Format and codec names were checked when parsing (typed); here, what they mean
        // together.
        let spec = &out.spec;
        if spec.format == OutputFormat::Raw && spec.compress.is_some() {
            v.err(l, "raw output cannot be compressed (use qcow2)");
        }
        match (spec.level, spec.options().compress) {
            (Some(_), None) => v.err(l, "level needs compress (zlib or zstd)"),
            (Some(_), Some(c)) => {
                if let Err(e) = c.validate() {
                    v.err(l, format!("level: {e}"));
                }
            }
            _ => {}
        }
        if let Some(c) = spec.cluster_size
            && (!c.is_power_of_two() || !(MIN_CLUSTER_SIZE..=MAX_CLUSTER_SIZE).contains(&c))
        {
            v.err(
                l,
                format!("cluster-size {c}: expected a power of two from 512 to 2 MiB"),
            );
        }
        if spec.cluster_size.is_some() && spec.format == OutputFormat::Raw {
            v.err(l, "cluster-size applies to qcow2 only");
        }
        if out.path.is_empty() {
            v.err(l, "output path is empty");
            continue;
        }
        v.host(l, "output", &mut out.path, None);
        if !seen.insert(out.path.clone()) {
            v.err(l, format!("output {} is listed twice", out.path));
        }
    }

    let gl = lines.get("glance").copied();
    if let Some(g) = &mut r.glance {
        // Visibility and the other typed keys were checked when parsing.
        if g.image.name.as_deref().is_none_or(|n| n.trim().is_empty()) {
            v.err(gl, "[glance] name is empty");
        }
        if let Some(o) = &mut g.output {
            let abs = dir.join(&*o).display().to_string();
            if !seen.contains(&abs) {
                v.err(
                    gl,
                    format!("[glance] output {o:?} is not one of the [[output]] paths"),
                );
            }
            *o = abs;
        }
    }
    v.out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes_owners_names() {
        assert_eq!(parse_mode("0644"), Ok(0o644));
        assert_eq!(parse_mode("4755"), Ok(0o4755));
        assert!(parse_mode("0999").is_err());
        assert!(parse_mode("17777").is_err());
        assert!(parse_mode("").is_err());
        assert_eq!(split_owner("debian:adm"), Ok(("debian", Some("adm"))));
        assert_eq!(split_owner("1000"), Ok(("1000", None)));
        assert!(split_owner("a:b:c").is_err());
        assert!(split_owner(":x").is_err());
        assert!(valid_hostname("web-1.example.org"));
        assert!(!valid_hostname("-bad"));
        assert!(!valid_hostname("a..b"));
        assert!(valid_ssh_key(
            "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIExample me@host"
        ));
        assert!(!valid_ssh_key("hello world"));
        assert!(check_guest_path("/etc/../x").is_err());
        assert!(check_guest_path("etc").is_err());
    }
}
