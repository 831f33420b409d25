//! One function per customize step.

use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use super::firstboot;
use super::users;
use super::{Change, ChangeKind, MAX_HOST_FILE};
use crate::fs::{FileKind, FsError, GuestFs, GuestFsMut, join, name};
use crate::recipe::schema::*;
use crate::recipe::validate::{parse_mode, split_owner};
use crate::seal::{Action, PlannedAction, SealError};

const DIR_MODE: u32 = 0o755;
const FILE_MODE: u32 = 0o644;

fn rec(changes: &mut Vec<Change>, path: &str, change: ChangeKind) {
    changes.push(Change {
        path: path.to_string(),
        change,
    });
}

fn bad(path: &str, msg: impl Into<String>) -> FsError {
    FsError::path(path, msg)
}

fn mode_of(s: &str) -> Result<u32, FsError> {
    parse_mode(s).map_err(|e| bad(s, e))
}

fn owner_of(fs: &dyn GuestFs, s: &str) -> Result<(u32, u32), FsError> {
    let (u, g) = split_owner(s).map_err(|e| bad(s, e))?;
    users::resolve_owner(fs, u, g)
}

fn read_host(p: impl AsRef<Path>) -> Result<Vec<u8>, FsError> {
    let p = p.as_ref();
    let io = |source| FsError::Io {
        context: format!("reading host file {}", p.display()),
        source,
    };
    let meta = std::fs::metadata(p).map_err(io)?;
    if meta.len() > MAX_HOST_FILE {
        return Err(bad(
            &p.display().to_string(),
            format!("host file larger than {MAX_HOST_FILE} bytes"),
        ));
    }
    std::fs::read(p).map_err(io)
}

/// The parent directory of a guest path ("/" for "/x").
fn parent(path: &str) -> &str {
    match path.trim_end_matches('/').rsplit_once('/') {
        Some(("", _)) | None => "/",
        Some((p, _)) => p,
    }
}

/// `mkdir -p`: create every missing directory of `path` with `mode`, owned by root.
fn mkdir_p(
    fs: &mut dyn GuestFsMut,
    path: &str,
    mode: u32,
    ch: &mut Vec<Change>,
) -> Result<(), FsError> {
    let mut cur = String::new();
    for comp in path.split('/').filter(|c| !c.is_empty()) {
        cur.push('/');
        cur.push_str(comp);
        match fs.metadata(&cur)? {
            Some(m) if m.kind == FileKind::Dir => {}
            Some(m) if m.kind == FileKind::Symlink => {
                // Follow only as the guest would, by checking what it resolves to.
                if fs.read_dir(&cur).is_err() {
                    return Err(bad(
                        &cur,
                        "is a symlink to something that is not a directory",
                    ));
                }
            }
            Some(_) => return Err(bad(&cur, "exists and is not a directory")),
            None => {
                fs.mkdir(&cur, mode)?;
                rec(ch, &cur, ChangeKind::Mkdir);
            }
        }
    }
    Ok(())
}

/// Write a file (creating its parents), then set mode and owner when asked.
fn put_file(
    fs: &mut dyn GuestFsMut,
    path: &str,
    data: &[u8],
    mode: Option<u32>,
    owner: Option<(u32, u32)>,
    ch: &mut Vec<Change>,
) -> Result<(), FsError> {
    mkdir_p(fs, parent(path), DIR_MODE, ch)?;
    let existed = fs.metadata(path)?.is_some();
    fs.write_file(path, data, mode.unwrap_or(FILE_MODE))?;
    rec(
        ch,
        path,
        if existed {
            ChangeKind::Written
        } else {
            ChangeKind::Created
        },
    );
    if let (true, Some(m)) = (existed, mode) {
        fs.set_mode(path, m)?;
        rec(ch, path, ChangeKind::Chmod);
    }
    if let Some((u, g)) = owner {
        fs.set_owner(path, u, g)?;
        rec(ch, path, ChangeKind::Chown);
    }
    Ok(())
}

pub fn apply_step(
    fs: &mut dyn GuestFsMut,
    step: &Step,
    ch: &mut Vec<Change>,
) -> Result<(), FsError> {
    match step {
        Step::Write(w) => {
            let data = match (&w.content, &w.from) {
                (Some(c), _) => c.as_bytes().to_vec(),
                (None, Some(f)) => read_host(f)?,
                (None, None) => return Err(bad(&w.path, "no content")),
            };
            let mode = w.mode.as_deref().map(mode_of).transpose()?;
            let owner = w.owner.as_deref().map(|o| owner_of(fs, o)).transpose()?;
            put_file(fs, &w.path, &data, mode, owner, ch)
        }
        Step::CopyIn(c) => copy_in(fs, c, ch),
        Step::Delete(d) => delete(fs, &d.path, ch),
        Step::Mkdir(m) => {
            let mode = m
                .mode
                .as_deref()
                .map(mode_of)
                .transpose()?
                .unwrap_or(DIR_MODE);
            let owner = m.owner.as_deref().map(|o| owner_of(fs, o)).transpose()?;
            let existed = fs.metadata(&m.path)?.is_some();
            mkdir_p(fs, &m.path, DIR_MODE, ch)?;
            if existed || mode != DIR_MODE {
                fs.set_mode(&m.path, mode)?;
                rec(ch, &m.path, ChangeKind::Chmod);
            }
            if let Some((u, g)) = owner {
                fs.set_owner(&m.path, u, g)?;
                rec(ch, &m.path, ChangeKind::Chown);
            }
            Ok(())
        }
        Step::Chmod(c) => {
            if fs.metadata(&c.path)?.is_none() {
                return Err(bad(&c.path, "no such file or directory"));
            }
            fs.set_mode(&c.path, mode_of(&c.mode)?)?;
            rec(ch, &c.path, ChangeKind::Chmod);
            Ok(())
        }
        Step::Chown(c) => {
            if fs.metadata(&c.path)?.is_none() {
                return Err(bad(&c.path, "no such file or directory"));
            }
            let (u, g) = owner_of(fs, &c.owner)?;
            fs.set_owner(&c.path, u, g)?;
            rec(ch, &c.path, ChangeKind::Chown);
            Ok(())
        }
        Step::Symlink(s) => {
            mkdir_p(fs, parent(&s.path), DIR_MODE, ch)?;
            match fs.metadata(&s.path)? {
                None => {}
                Some(m) if m.kind == FileKind::Symlink => {
                    if fs.read_link(&s.path)? == s.target {
                        return Ok(());
                    }
                    fs.remove_file(&s.path)?;
                    rec(ch, &s.path, ChangeKind::Removed);
                }
                Some(_) => return Err(bad(&s.path, "exists and is not a symlink")),
            }
            fs.symlink(&s.path, &s.target)?;
            rec(ch, &s.path, ChangeKind::Symlink);
            Ok(())
        }
        Step::SshKey(k) => ssh_key(fs, k, ch),
        Step::Hostname(h) => hostname(fs, &h.hostname, ch),
        Step::Password(p) => {
            let path = "/etc/shadow";
            let text = fs.read_file(path, 16 << 20)?;
            let text = String::from_utf8(text).map_err(|_| bad(path, "not UTF-8"))?;
            let new = users::set_shadow_hash(&text, &p.user, &p.hash)
                .ok_or_else(|| bad(path, format!("no user {:?}", p.user)))?;
            fs.write_file(path, new.as_bytes(), 0o640)?;
            rec(ch, path, ChangeKind::Written);
            Ok(())
        }
        Step::Firstboot(f) => {
            let unit = format!("{}/{}.service", firstboot::UNIT_DIR, f.name);
            put_file(
                fs,
                &unit,
                firstboot::unit(f).as_bytes(),
                Some(FILE_MODE),
                None,
                ch,
            )?;
            let link = format!("{}/{}.service", firstboot::WANTS_DIR, f.name);
            mkdir_p(fs, firstboot::WANTS_DIR, DIR_MODE, ch)?;
            if fs.metadata(&link)?.is_some() {
                fs.remove_file(&link)?;
            }
            fs.symlink(&link, &unit)?;
            rec(ch, &link, ChangeKind::Symlink);
            Ok(())
        }
    }
}

fn copy_in(fs: &mut dyn GuestFsMut, c: &CopyInStep, ch: &mut Vec<Change>) -> Result<(), FsError> {
    use std::os::unix::fs::PermissionsExt;
    let owner = c.owner.as_deref().map(|o| owner_of(fs, o)).transpose()?;
    mkdir_p(fs, &c.to, DIR_MODE, ch)?;
    let root = Path::new(&c.from);
    // Sorted: the same tree always makes the same changes in the same order.
    for entry in walkdir::WalkDir::new(root).min_depth(1).sort_by_file_name() {
        let entry = entry.map_err(|e| bad(&c.from, format!("walking the host directory: {e}")))?;
        let rel = entry
            .path()
            .strip_prefix(root)
            .map_err(|_| bad(&c.from, "walked outside the directory"))?;
        // A host name that is not UTF-8 is carried escaped, as the guest's own names are.
        let rel = name::encode(rel.as_os_str().as_bytes());
        let dest = join(&c.to, &rel);
        let meta = entry
            .path()
            .symlink_metadata()
            .map_err(|source| FsError::Io {
                context: format!("stat {}", entry.path().display()),
                source,
            })?;
        let perm = meta.permissions().mode() & 0o7777;
        let ft = meta.file_type();
        if ft.is_dir() {
            match fs.metadata(&dest)? {
                Some(m) if m.kind == FileKind::Dir => {}
                Some(_) => return Err(bad(&dest, "exists and is not a directory")),
                None => {
                    fs.mkdir(&dest, perm)?;
                    rec(ch, &dest, ChangeKind::Mkdir);
                }
            }
        } else if ft.is_symlink() {
            let target = std::fs::read_link(entry.path()).map_err(|source| FsError::Io {
                context: format!("reading link {}", entry.path().display()),
                source,
            })?;
            let target = name::encode(target.as_os_str().as_bytes()).into_owned();
            if fs.metadata(&dest)?.is_some() {
                fs.remove_file(&dest)?;
            }
            fs.symlink(&dest, &target)?;
            rec(ch, &dest, ChangeKind::Symlink);
        } else if ft.is_file() {
            let data = read_host(entry.path())?;
            put_file(fs, &dest, &data, Some(perm), None, ch)?;
        } else {
            return Err(bad(&dest, "host entry is not a file, directory or symlink"));
        }
        if let Some((u, g)) = owner {
            fs.set_owner(&dest, u, g)?;
            rec(ch, &dest, ChangeKind::Chown);
        }
    }
    Ok(())
}

/// Guest paths matching a glob, component by component (no symlink is followed below the
/// first glob component); a path without glob characters matches itself if it exists.
fn expand(fs: &dyn GuestFs, pattern: &str) -> Result<Vec<String>, FsError> {
    let mut cur = vec!["/".to_string()];
    for comp in pattern.split('/').filter(|c| !c.is_empty()) {
        let mut next = Vec::new();
        let is_glob = comp.contains(['*', '?', '[']);
        for dir in &cur {
            if !is_glob {
                let p = join(dir, comp);
                if fs.metadata(&p)?.is_some() {
                    next.push(p);
                }
                continue;
            }
            if !matches!(fs.metadata(dir)?, Some(m) if m.kind == FileKind::Dir) {
                continue;
            }
            let pat = glob::Pattern::new(comp).map_err(|e| bad(pattern, e.to_string()))?;
            for e in fs.read_dir(dir)? {
                if pat.matches(&e.name) {
                    next.push(join(dir, &e.name));
                }
            }
        }
        cur = next;
    }
    cur.retain(|p| p != "/");
    Ok(cur)
}

fn delete(fs: &mut dyn GuestFsMut, pattern: &str, ch: &mut Vec<Change>) -> Result<(), FsError> {
    for p in expand(fs, pattern)? {
        // The seal executor removes trees without following symlinks.
        let plan = [PlannedAction {
            op: "customize",
            action: Action::RemoveTree { path: p.clone() },
        }];
        // The executor's error names the path; keep it (and its io cause) as it is.
        crate::seal::apply(fs, &plan).map_err(|e| match e {
            SealError::Op { source, .. } | SealError::Fs(source) => source,
            other => bad(&p, format!("removing: {other}")),
        })?;
        rec(ch, &p, ChangeKind::Removed);
    }
    Ok(())
}

fn ssh_key(fs: &mut dyn GuestFsMut, k: &SshKeyStep, ch: &mut Vec<Change>) -> Result<(), FsError> {
    let acct = users::user(fs, &k.user)?
        .ok_or_else(|| bad("/etc/passwd", format!("no user {:?} in the guest", k.user)))?;
    let key = match (&k.key, &k.key_file) {
        (Some(key), _) => key.clone(),
        (None, Some(f)) => String::from_utf8(read_host(f)?).map_err(|_| bad(f, "not UTF-8"))?,
        (None, None) => return Err(bad(&k.user, "no key")),
    };
    let key = key.trim();
    if !matches!(fs.metadata(&acct.home)?, Some(m) if m.kind == FileKind::Dir) {
        return Err(bad(
            &acct.home,
            format!("home directory of {} does not exist", k.user),
        ));
    }
    let dir = join(&acct.home, ".ssh");
    match fs.metadata(&dir)? {
        Some(m) if m.kind == FileKind::Dir => {}
        Some(_) => return Err(bad(&dir, "exists and is not a directory")),
        None => {
            fs.mkdir(&dir, 0o700)?;
            fs.set_owner(&dir, acct.uid, acct.gid)?;
            rec(ch, &dir, ChangeKind::Mkdir);
        }
    }
    let file = join(&dir, "authorized_keys");
    let mut text = match fs.metadata(&file)? {
        Some(m) if m.kind == FileKind::File => {
            String::from_utf8_lossy(&fs.read_file(&file, 16 << 20)?).into_owned()
        }
        Some(_) => return Err(bad(&file, "exists and is not a regular file")),
        None => String::new(),
    };
    if text.lines().any(|l| l.trim() == key) {
        return Ok(());
    }
    let existed = !text.is_empty() || fs.metadata(&file)?.is_some();
    if !text.is_empty() && !text.ends_with('\n') {
        text.push('\n');
    }
    text.push_str(key);
    text.push('\n');
    fs.write_file(&file, text.as_bytes(), 0o600)?;
    fs.set_owner(&file, acct.uid, acct.gid)?;
    rec(
        ch,
        &file,
        if existed {
            ChangeKind::Appended
        } else {
            ChangeKind::Created
        },
    );
    Ok(())
}

fn hostname(fs: &mut dyn GuestFsMut, name: &str, ch: &mut Vec<Change>) -> Result<(), FsError> {
    put_file(
        fs,
        "/etc/hostname",
        format!("{name}\n").as_bytes(),
        None,
        None,
        ch,
    )?;
    // Debian maps the host name to 127.0.1.1 in /etc/hosts: keep that line in step.
    let hosts = "/etc/hosts";
    if matches!(fs.metadata(hosts)?, Some(m) if m.kind == FileKind::File) {
        let text = String::from_utf8_lossy(&fs.read_file(hosts, 16 << 20)?).into_owned();
        let short = name.split('.').next().unwrap_or(name);
        let alias = if short == name {
            name.to_string()
        } else {
            format!("{name} {short}")
        };
        let mut changed = false;
        let new: String = text
            .split_inclusive('\n')
            .map(|l| {
                if l.starts_with("127.0.1.1") {
                    changed = true;
                    let nl = if l.ends_with('\n') { "\n" } else { "" };
                    format!("127.0.1.1\t{alias}{nl}")
                } else {
                    l.to_string()
                }
            })
            .collect();
        if changed && new != text {
            fs.write_file(hosts, new.as_bytes(), FILE_MODE)?;
            rec(ch, hosts, ChangeKind::Written);
        }
    }
    Ok(())
}
