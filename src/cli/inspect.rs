//! `cloudseal inspect`: arguments, and the report printed as text or JSON. The survey itself
//! is the library's (`cloudseal::inspect`); the JSON is its `InspectReport` as it is
//! (docs/inspect-json.md). `survey_text` is also how `seal --dry-run` and `build --dry-run`
//! show the table, the filesystems and the OS.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;

use super::GlobalArgs;
use cloudseal::fs::detect::FsKind;
use cloudseal::fs::name;
use cloudseal::inspect::{self, InspectReport, Survey};
use cloudseal::units::Bytes;

#[derive(Args, Debug)]
pub struct InspectArgs {
    /// Disk image (raw or qcow2, detected by content).
    pub image: PathBuf,
    /// Print JSON (schema in docs/inspect-json.md) instead of tables.
    #[arg(long)]
    pub json: bool,
}

pub fn run(_g: &GlobalArgs, a: InspectArgs) -> anyhow::Result<ExitCode> {
    // The library's errors name the image and what was being done: no context of ours.
    let report = inspect::inspect(&a.image)?;
    if a.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", human(&report));
    }
    Ok(ExitCode::SUCCESS)
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

fn human(r: &InspectReport) -> String {
    let mut s = String::new();
    s.push_str(&format!("image:   {}\n", r.image));
    s.push_str(&format!(
        "format:  {}, {} virtual, {} allocated\n",
        r.format,
        Bytes(r.virtual_size),
        Bytes(r.allocated_size)
    ));
    let sv = &r.survey;
    s.push_str(&survey_text(sv));
    if sv.empty {
        return s;
    }
    if sv.os.is_none() || sv.root.is_none() {
        s.push_str("os:      none found (no ext2/3/4 filesystem with /etc/os-release)\n");
        let mounted = sv
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
    if sv.root.is_some() {
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

/// The table, its notes, the partitions with their filesystems (the root marked `*`) and,
/// when a root was found, its OS: what inspect prints and the dry runs of seal and build show.
pub(super) fn survey_text(r: &Survey) -> String {
    let mut s = String::new();
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

    if let (Some(os), Some(n)) = (&r.os, r.root) {
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
    s
}

fn or_dash(v: &str) -> &str {
    if v.is_empty() { "-" } else { v }
}
