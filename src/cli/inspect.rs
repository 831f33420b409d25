//! `cloudseal inspect`: what is in an image, and which host-specific state sealing would remove.
//!
//! The host state is not a list of paths of its own: it is the seal plan of the default
//! operations (plus cloud-init-state and net-hwaddr) on the read-only root filesystem, grouped
//! by operation, with directories the plan removes or empties listed file by file.
//! The JSON form is documented in docs/inspect-json.md.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, bail};
use clap::Args;
use serde::Serialize;

use super::GlobalArgs;
use cloudseal::disk::{self, BlockDev, ImageFormat, Slice};
use cloudseal::fs::detect::{self, FsInfo, FsKind};
use cloudseal::fs::ext4::read::Ext4ReadFs;
use cloudseal::fs::os::{self, Root};
use cloudseal::fs::prefix::PrefixFs;
use cloudseal::fs::vfat::{ReadOnly, VfatFs};
use cloudseal::fs::{FileKind, GuestFs, OsInfo, fstab, join, name};
use cloudseal::part::{self, Partition, TableKind};
use cloudseal::seal::{Action, SealOptions, Selection, plan_all};
use cloudseal::units::Bytes;

/// The defaults, and these whether or not they are: they are what cloud images keep.
const REPORTED_OPS: &str = "defaults,cloud-init-state,net-hwaddr";
/// Paths listed per operation; the rest are counted.
const MAX_LISTED: usize = 1000;
/// Entries visited per operation when listing a directory tree (a corrupt tree can be huge).
const MAX_VISITED: usize = 100_000;
/// Directory depth followed when listing a tree.
const MAX_DEPTH: usize = 64;

/// Version of the JSON output; bumped only on incompatible changes.
const SCHEMA: u32 = 1;

#[derive(Args, Debug)]
pub struct InspectArgs {
    /// Disk image (raw or qcow2, detected by content).
    pub image: PathBuf,
    /// Print JSON (schema in docs/inspect-json.md) instead of tables.
    #[arg(long)]
    pub json: bool,
}

#[derive(Serialize)]
struct Report {
    schema: u32,
    image: String,
    format: ImageFormat,
    virtual_size: u64,
    allocated_size: u64,
    partition_table: TableReport,
    /// Every byte reads as zero: no table, no filesystem, no partitions listed.
    empty: bool,
    partitions: Vec<PartReport>,
    /// Partition number of the root filesystem.
    root: Option<u32>,
    os: Option<OsInfo>,
    host_state: Vec<OpState>,
}

#[derive(Serialize)]
struct TableReport {
    kind: TableKind,
    disk_id: String,
    notes: Vec<String>,
}

#[derive(Serialize)]
struct PartReport {
    #[serde(flatten)]
    partition: Partition,
    filesystem: FsInfo,
}

#[derive(Serialize)]
struct OpState {
    op: &'static str,
    summary: &'static str,
    /// Escaped bytes of names that are not UTF-8 show as `\xNN`.
    #[serde(serialize_with = "cloudseal::fs::name::serialize_all")]
    paths: Vec<String>,
    /// Paths found but not listed (a lower bound when a walk was cut short).
    more: usize,
}

pub fn run(_g: &GlobalArgs, a: InspectArgs) -> anyhow::Result<ExitCode> {
    let report = inspect(&a.image)?;
    if a.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", human(&report));
    }
    Ok(ExitCode::SUCCESS)
}

fn inspect(path: &std::path::Path) -> anyhow::Result<Report> {
    let name = path.display().to_string();
    // Disk errors name the file and what was being done with it: no context of ours.
    let dev: Arc<dyn BlockDev> = Arc::from(disk::open_image(path, &disk::OpenOptions::default())?);
    let allocated_size = dev.allocated_bytes()?;
    let table =
        part::read_table(&*dev).with_context(|| format!("reading the partitions of {name}"))?;

    let mut parts = Vec::with_capacity(table.partitions.len());
    for p in &table.partitions {
        let slice = Slice::new(&*dev, p.start, p.size)
            .with_context(|| format!("{name}: partition {}", p.number))?;
        let info = detect::detect(&slice).with_context(|| {
            format!("{name}: detecting the filesystem of partition {}", p.number)
        })?;
        parts.push((p.clone(), info));
    }
    let mut empty = false;
    if table.kind == TableKind::None && parts.iter().all(|(_, i)| i.kind == FsKind::Unknown) {
        // A disk nothing was written to is valid (a fresh `qemu-img create`); bytes nothing
        // recognises are not.
        empty = disk::reads_as_zeros(&*dev)?;
        if !empty {
            bail!("{name}: no partition table and no known filesystem");
        }
        parts.clear();
    }

    let root = os::find_root(&dev, &parts)
        .with_context(|| format!("{name}: looking for the root filesystem"))?;
    let (root_number, os_info, host_state) = match &root {
        Some(Root { index, fs, os }) => {
            let mut state = host_state(fs, os).with_context(|| format!("{name}: planning"))?;
            let others = mounted_state(&dev, &parts, *index, fs, os)
                .with_context(|| format!("{name}: planning the filesystems the root mounts"))?;
            merge(&mut state, others);
            (Some(parts[*index].0.number), Some(os.clone()), state)
        }
        None => (None, None, Vec::new()),
    };

    Ok(Report {
        schema: SCHEMA,
        image: name,
        format: dev.format(),
        virtual_size: dev.size(),
        allocated_size,
        partition_table: TableReport {
            kind: table.kind,
            disk_id: table.disk_id,
            notes: table.notes,
        },
        empty,
        partitions: parts
            .into_iter()
            .map(|(partition, filesystem)| PartReport {
                partition,
                filesystem,
            })
            .collect(),
        root: root_number,
        os: os_info,
        host_state,
    })
}

/// Host state on the other ext2/3/4 and vfat filesystems, where the root's fstab mounts them
/// (the EFI partition at /boot/efi, a separate /var): what `seal` removes there too.
fn mounted_state(
    dev: &Arc<dyn BlockDev>,
    parts: &[(Partition, FsInfo)],
    root: usize,
    root_fs: &dyn GuestFs,
    os: &OsInfo,
) -> anyhow::Result<Vec<OpState>> {
    let tab = fstab::read(root_fs)?;
    let mut out = Vec::new();
    for (i, (p, info)) in parts.iter().enumerate() {
        let Some(at) = tab
            .iter()
            .find(|e| i != root && e.mount_point != "/" && e.names(info, &p.uuid))
            .map(|e| e.mount_point.as_str())
        else {
            continue;
        };
        let what = format!("partition {} ({}) at {at}", p.number, info.kind);
        let state = if info.kind.is_ext() {
            let mut fs =
                Ext4ReadFs::open(Arc::clone(dev), p.start, p.size).with_context(|| what.clone())?;
            PrefixFs::new(&mut fs, at).map(|v| host_state(&v, os))
        } else if info.kind == FsKind::Vfat {
            let slice = Slice::new(&**dev, p.start, p.size).with_context(|| what.clone())?;
            let mut fs = VfatFs::open(ReadOnly(slice), p.size, &what)?;
            PrefixFs::new(&mut fs, at).map(|v| host_state(&v, os))
        } else {
            None
        };
        if let Some(s) = state {
            merge(&mut out, s.with_context(|| what.clone())?);
        }
    }
    Ok(out)
}

/// Add `more` to `into`, operation by operation.
fn merge(into: &mut Vec<OpState>, more: Vec<OpState>) {
    for m in more {
        match into.iter_mut().find(|o| o.op == m.op) {
            Some(o) => {
                o.paths.extend(m.paths);
                o.paths.sort();
                o.paths.dedup();
                o.more += m.more;
            }
            None => into.push(m),
        }
    }
}

/// Plan the reported operations; group what they would touch by operation.
fn host_state(fs: &dyn GuestFs, os: &OsInfo) -> anyhow::Result<Vec<OpState>> {
    let sel = Selection::defaults().operations(REPORTED_OPS);
    let plan = plan_all(fs, os, &sel, &SealOptions::default())?;
    let mut out: Vec<OpState> = Vec::new();
    for pa in &plan {
        let idx = match out.iter().position(|o| o.op == pa.op) {
            Some(i) => i,
            None => {
                let summary = cloudseal::seal::ops::find(pa.op)
                    .map(|o| o.summary())
                    .unwrap_or("");
                out.push(OpState {
                    op: pa.op,
                    summary,
                    paths: Vec::new(),
                    more: 0,
                });
                out.len() - 1
            }
        };
        let mut found = Vec::new();
        match &pa.action {
            Action::RemoveTree { path } => walk(fs, path, true, &mut found)?,
            Action::EmptyDir { path } => walk(fs, path, false, &mut found)?,
            a => found.push(a.path().to_string()),
        }
        let o = &mut out[idx];
        for p in found {
            if o.paths.len() < MAX_LISTED {
                o.paths.push(p);
            } else {
                o.more += 1;
            }
        }
    }
    for o in &mut out {
        o.paths.sort();
        o.paths.dedup();
    }
    Ok(out)
}

/// The files under `path` (and `path` itself if `include_self` and it is not a directory, or
/// an empty directory that would go). Kinds come from the directory entries: one lookup of a
/// path in a big directory costs a scan, so only the top is looked up.
fn walk(
    fs: &dyn GuestFs,
    path: &str,
    include_self: bool,
    found: &mut Vec<String>,
) -> anyhow::Result<()> {
    let Some(top) = fs.metadata(path)? else {
        return Ok(());
    };
    let mut stack = vec![(path.to_string(), top.kind, 0usize)];
    let mut visited = 0usize;
    while let Some((p, kind, depth)) = stack.pop() {
        visited += 1;
        let listed = depth > 0 || include_self;
        if kind != FileKind::Dir {
            if listed {
                found.push(p);
            }
            continue;
        }
        let entries = fs.read_dir(&p)?;
        if entries.is_empty() && listed {
            found.push(format!("{p}/"));
        }
        if depth >= MAX_DEPTH || visited + stack.len() >= MAX_VISITED {
            log::warn!("{p}: not listing everything below (too deep or too many entries)");
            continue;
        }
        for e in entries.iter().rev() {
            stack.push((join(&p, &e.name), e.kind, depth + 1));
        }
    }
    Ok(())
}

/// Columns padded to their widest cell; the last column is not padded.
fn table(rows: &[Vec<String>]) -> String {
    let cols = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..cols)
        .map(|c| {
            rows.iter()
                .filter_map(|r| r.get(c))
                .map(|s| s.chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    for r in rows {
        let mut line = String::from("  ");
        for (c, cell) in r.iter().enumerate() {
            line.push_str(cell);
            if c + 1 < r.len() {
                let pad = widths[c] - cell.chars().count() + 2;
                line.push_str(&" ".repeat(pad));
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

fn human(r: &Report) -> String {
    let mut s = String::new();
    s.push_str(&format!("image:   {}\n", r.image));
    s.push_str(&format!(
        "format:  {}, {} virtual, {} allocated\n",
        r.format,
        Bytes(r.virtual_size),
        Bytes(r.allocated_size)
    ));
    let t = &r.partition_table;
    if t.disk_id.is_empty() {
        s.push_str(&format!("table:   {}\n", t.kind));
    } else {
        s.push_str(&format!("table:   {} (disk {})\n", t.kind, t.disk_id));
    }
    for n in &t.notes {
        s.push_str(&format!("note:    {n}\n"));
    }
    if r.empty {
        s.push_str("fs:      none: the disk is empty (every byte reads as zero)\n");
        return s;
    }
    s.push('\n');

    let mut rows = vec![
        ["#", "START", "SIZE", "TYPE", "NAME", "FS", "LABEL", "UUID"]
            .map(String::from)
            .to_vec(),
    ];
    for p in &r.partitions {
        let root = if Some(p.partition.number) == r.root {
            "*"
        } else {
            ""
        };
        rows.push(vec![
            format!("{}{root}", p.partition.number),
            Bytes(p.partition.start).to_string(),
            Bytes(p.partition.size).to_string(),
            p.partition.type_name.clone(),
            p.partition.name.clone(),
            p.filesystem.kind.to_string(),
            p.filesystem.label.clone(),
            p.filesystem.uuid.clone(),
        ]);
    }
    s.push_str(&table(&rows));
    // Identifiers too long for the table, one line per partition that has any.
    for p in &r.partitions {
        let part = &p.partition;
        let mut ids = Vec::new();
        if !part.type_id.is_empty() {
            ids.push(format!("type {}", part.type_id));
        }
        if !part.uuid.is_empty() {
            ids.push(format!("partition {}", part.uuid));
        }
        if !ids.is_empty() {
            s.push_str(&format!("  {}: {}\n", part.number, ids.join(", ")));
        }
        if !p.filesystem.features.is_empty() {
            s.push_str(&format!(
                "  {}: {} features: {}\n",
                part.number,
                p.filesystem.kind,
                p.filesystem.features.join(" ")
            ));
        }
    }
    s.push('\n');

    match (&r.os, r.root) {
        (Some(os), Some(n)) => {
            let name = if os.pretty_name.is_empty() {
                "unknown (os-release unreadable)"
            } else {
                &os.pretty_name
            };
            s.push_str(&format!(
                "os:      {name} [id {}, version {}], root on partition {n} (*)\n",
                or_dash(&os.id),
                or_dash(&os.version_id)
            ));
        }
        _ => {
            s.push_str("os:      none found (no ext2/3/4 filesystem with /etc/os-release)\n");
            let mounted = r
                .partitions
                .iter()
                .any(|p| matches!(p.filesystem.kind, FsKind::Xfs | FsKind::Btrfs));
            if mounted {
                // inspect never mounts: say where the plan for such a root comes from.
                s.push_str(
                    "         xfs and btrfs are not looked into here: `cloudseal seal --dry-run` \
                     (as root) mounts them and lists their host state\n",
                );
            }
        }
    }
    if r.root.is_some() {
        let total: usize = r.host_state.iter().map(|o| o.paths.len()).sum();
        if total == 0 {
            s.push_str("host state: none found\n");
        } else {
            s.push_str(&format!("host state: {total} paths\n"));
            for o in &r.host_state {
                s.push_str(&format!("  {} ({}): {}\n", o.op, o.paths.len(), o.summary));
                for p in &o.paths {
                    s.push_str(&format!("      {}\n", name::display(p)));
                }
            }
        }
    }
    s
}

fn or_dash(v: &str) -> &str {
    if v.is_empty() { "-" } else { v }
}
