//! Our own reading of a FAT12/16/32 volume's geometry and allocation table: checked before
//! the editing library (fatfs) touches the volume, and the source of its free-space map.
//! fatfs trusts the table: a chain that loops would hang it, a link to a reserved value
//! panics it. Here every link is checked, every chain ends, none is shared.

use std::io::{Read, Seek, SeekFrom};

use crate::fs::FsError;

/// Clusters above this are refused (the table alone would take 256 MiB of memory).
const MAX_CLUSTERS: u64 = 64 << 20;

/// Directory entries checked before giving up on a volume (an ESP holds a few hundred).
const MAX_ENTRIES: u64 = 1 << 20;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FatType {
    Fat12,
    Fat16,
    Fat32,
}

/// Where things are on the volume, in bytes.
#[derive(Debug, Clone)]
pub struct Geometry {
    pub fat_type: FatType,
    pub cluster_bytes: u64,
    /// Byte offset of the first FAT.
    pub fat_start: u64,
    /// Bytes of one FAT, and how many copies there are.
    pub fat_bytes: u64,
    pub fats: u64,
    /// Byte offset of cluster 2.
    pub data_start: u64,
    /// Data clusters: numbered 2 ..= clusters + 1.
    pub clusters: u64,
    /// FAT32: first cluster of the root directory.
    pub root_cluster: u64,
}

fn corrupt(msg: impl Into<String>) -> FsError {
    FsError::Corrupt(format!("vfat: {}", msg.into()))
}

fn le16(b: &[u8], at: usize) -> u64 {
    u64::from(u16::from_le_bytes([b[at], b[at + 1]]))
}

fn le32(b: &[u8], at: usize) -> u64 {
    u64::from(u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]]))
}

/// Parse and check the boot sector of a volume of `len` bytes.
pub fn geometry(boot: &[u8; 512], len: u64) -> Result<Geometry, FsError> {
    if boot[510..512] != [0x55, 0xAA] {
        return Err(corrupt("no boot sector signature"));
    }
    let bps = le16(boot, 0x0B);
    let spc = u64::from(boot[0x0D]);
    let reserved = le16(boot, 0x0E);
    let fats = u64::from(boot[0x10]);
    let root_entries = le16(boot, 0x11);
    let total = match le16(boot, 0x13) {
        0 => le32(boot, 0x20),
        n => n,
    };
    let fat_sectors = match le16(boot, 0x16) {
        0 => le32(boot, 0x24),
        n => n,
    };
    if ![512, 1024, 2048, 4096].contains(&bps) {
        return Err(corrupt(format!("bytes per sector {bps}")));
    }
    if spc == 0 || !spc.is_power_of_two() || spc * bps > 64 << 10 {
        return Err(corrupt(format!("sectors per cluster {spc}")));
    }
    if reserved == 0 || !(1..=4).contains(&fats) || fat_sectors == 0 {
        return Err(corrupt("reserved sectors, FAT count or FAT size is zero"));
    }
    let root_sectors = (root_entries * 32).div_ceil(bps);
    let first_data = reserved + fats * fat_sectors + root_sectors;
    if total <= first_data || total * bps > len {
        return Err(corrupt(format!(
            "{total} sectors of {bps} bytes do not fit the {len}-byte partition"
        )));
    }
    let clusters = (total - first_data) / spc;
    if clusters == 0 || clusters > MAX_CLUSTERS {
        return Err(corrupt(format!("{clusters} clusters")));
    }
    let fat_type = match clusters {
        c if c < 4085 => FatType::Fat12,
        c if c < 65525 => FatType::Fat16,
        _ => FatType::Fat32,
    };
    let entry_bits = match fat_type {
        FatType::Fat12 => 12,
        FatType::Fat16 => 16,
        FatType::Fat32 => 32,
    };
    if (clusters + 2) * entry_bits > fat_sectors * bps * 8 {
        return Err(corrupt("the FAT is too small for the clusters"));
    }
    let root_cluster = if fat_type == FatType::Fat32 {
        let r = le32(boot, 0x2C);
        if !(2..clusters + 2).contains(&r) {
            return Err(corrupt(format!("root directory cluster {r}")));
        }
        r
    } else {
        0
    };
    Ok(Geometry {
        fat_type,
        cluster_bytes: spc * bps,
        fat_start: reserved * bps,
        fat_bytes: fat_sectors * bps,
        fats,
        data_start: first_data * bps,
        clusters,
        root_cluster,
    })
}

/// What one FAT entry says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Link {
    Free,
    Next(u64),
    End,
    Bad,
}

/// The first FAT, decoded and checked: every link in range, no chain shared or looping.
pub struct Table {
    pub geo: Geometry,
    links: Vec<Link>,
}

impl Table {
    pub fn read<T: Read + Seek>(io: &mut T, len: u64) -> Result<Table, FsError> {
        let ioe = |e: std::io::Error| FsError::Io {
            context: "vfat: reading".into(),
            source: e,
        };
        let mut boot = [0u8; 512];
        io.seek(SeekFrom::Start(0)).map_err(ioe)?;
        io.read_exact(&mut boot).map_err(ioe)?;
        let geo = geometry(&boot, len)?;
        let mut raw = vec![0u8; usize::try_from(geo.fat_bytes).map_err(|_| corrupt("FAT size"))?];
        io.seek(SeekFrom::Start(geo.fat_start)).map_err(ioe)?;
        io.read_exact(&mut raw).map_err(ioe)?;
        let n = geo.clusters + 2;
        // Entries 0 and 1 hold the media byte and the clean/dirty flags, not links.
        let mut links = vec![Link::Bad, Link::Bad];
        for c in 2..n {
            let v = raw_entry(&raw, geo.fat_type, c).ok_or_else(|| corrupt("FAT cut short"))?;
            links.push(decode(v, geo.fat_type, n)?);
        }
        let t = Table { geo, links };
        t.check_chains()?;
        if t.geo.fat_type == FatType::Fat32
            && !matches!(
                t.links[t.geo.root_cluster as usize],
                Link::Next(_) | Link::End
            )
        {
            return Err(corrupt("the root directory's cluster is not allocated"));
        }
        Ok(t)
    }

    /// Every chain ends, no cluster is reached twice, and none is part of a loop.
    fn check_chains(&self) -> Result<(), FsError> {
        let n = self.links.len();
        let mut into = vec![0u8; n];
        for (c, l) in self.links.iter().enumerate().skip(2) {
            if let Link::Next(next) = *l {
                let slot = &mut into[next as usize];
                if *slot > 0 {
                    return Err(corrupt(format!(
                        "cluster {next} is linked from two chains (the second from {c})"
                    )));
                }
                *slot = 1;
            }
        }
        // Walking from every chain head must reach every allocated cluster; one that is
        // never reached sits on a loop.
        let mut seen = vec![false; n];
        for (c, (link, linked)) in self.links.iter().zip(&into).enumerate().skip(2) {
            let allocated = matches!(link, Link::Next(_) | Link::End);
            if !allocated || *linked > 0 {
                continue;
            }
            let mut at = c;
            loop {
                seen[at] = true;
                match self.links[at] {
                    Link::Next(next) => at = next as usize,
                    Link::End => break,
                    Link::Free | Link::Bad => {
                        return Err(corrupt(format!("chain through cluster {at} is cut")));
                    }
                }
            }
        }
        if let Some(c) =
            (2..n).find(|&c| matches!(self.links[c], Link::Next(_) | Link::End) && !seen[c])
        {
            return Err(corrupt(format!("cluster {c} is on a chain that loops")));
        }
        Ok(())
    }

    /// Every directory entry, from the root down: a first cluster in range and allocated
    /// (fatfs subtracts 2 from it unchecked), no directory reached twice (a loop), at most
    /// `MAX_ENTRIES` entries in all.
    pub fn check_dirs<T: Read + Seek>(&self, io: &mut T) -> Result<(), FsError> {
        let g = &self.geo;
        let mut seen = vec![false; self.links.len()];
        // (first cluster of a directory; 0 is the fixed FAT12/16 root region).
        let root = if g.fat_type == FatType::Fat32 {
            g.root_cluster
        } else {
            0
        };
        let mut todo = vec![root];
        let mut entries = 0u64;
        while let Some(dir) = todo.pop() {
            let bytes = self.dir_bytes(io, dir)?;
            for e in bytes.chunks_exact(32) {
                match e[0] {
                    0 => break,
                    0xE5 => continue,
                    _ => {}
                }
                let attr = e[11];
                if attr & 0x0F == 0x0F || attr & 0x08 != 0 || e[0] == b'.' {
                    continue; // long-name part, volume label, "." or ".."
                }
                entries += 1;
                if entries > MAX_ENTRIES {
                    return Err(corrupt("more than a million directory entries"));
                }
                let first = (le16(e, 20) << 16) | le16(e, 26);
                let is_dir = attr & 0x10 != 0;
                if first == 0 && !is_dir {
                    continue; // an empty file
                }
                let allocated = (first as usize) < self.links.len()
                    && first >= 2
                    && matches!(self.links[first as usize], Link::Next(_) | Link::End);
                if !allocated {
                    return Err(corrupt(format!(
                        "a directory entry starts at cluster {first}, which holds no data"
                    )));
                }
                if is_dir {
                    if std::mem::replace(&mut seen[first as usize], true) {
                        return Err(corrupt(format!(
                            "directory at cluster {first} is reached twice (a loop)"
                        )));
                    }
                    todo.push(first);
                }
            }
        }
        Ok(())
    }

    /// The raw entries of the directory whose first cluster is `first` (0: the FAT12/16
    /// root region), following its chain (checked finite by `read`).
    fn dir_bytes<T: Read + Seek>(&self, io: &mut T, first: u64) -> Result<Vec<u8>, FsError> {
        let g = &self.geo;
        let ioe = |e: std::io::Error| FsError::Io {
            context: "vfat: reading a directory".into(),
            source: e,
        };
        let mut runs = Vec::new();
        if first == 0 {
            let root_len = g.data_start - g.fat_start - g.fat_bytes * g.fats;
            runs.push((g.data_start - root_len, root_len));
        } else {
            let mut at = first;
            loop {
                runs.push((g.data_start + (at - 2) * g.cluster_bytes, g.cluster_bytes));
                match self.links[at as usize] {
                    Link::Next(n) => at = n,
                    _ => break,
                }
            }
        }
        let mut out = Vec::new();
        for (off, len) in runs {
            let start = out.len();
            out.resize(start + len as usize, 0);
            io.seek(SeekFrom::Start(off)).map_err(ioe)?;
            io.read_exact(&mut out[start..]).map_err(ioe)?;
        }
        Ok(out)
    }

    /// Byte ranges (offset, length) of the free clusters, merged.
    pub fn free_ranges(&self) -> Vec<(u64, u64)> {
        let mut out: Vec<(u64, u64)> = Vec::new();
        let g = &self.geo;
        for (c, l) in self.links.iter().enumerate().skip(2) {
            if *l != Link::Free {
                continue;
            }
            let off = g.data_start + (c as u64 - 2) * g.cluster_bytes;
            match out.last_mut() {
                Some((s, len)) if *s + *len == off => *len += g.cluster_bytes,
                _ => out.push((off, g.cluster_bytes)),
            }
        }
        out
    }
}

fn raw_entry(raw: &[u8], t: FatType, c: u64) -> Option<u64> {
    let c = usize::try_from(c).ok()?;
    let at = match t {
        FatType::Fat12 => c + c / 2,
        FatType::Fat16 => c * 2,
        FatType::Fat32 => c * 4,
    };
    let b = raw.get(at..at + if t == FatType::Fat32 { 4 } else { 2 })?;
    Some(match t {
        FatType::Fat12 if c % 2 == 0 => le16(b, 0) & 0xFFF,
        FatType::Fat12 => le16(b, 0) >> 4,
        FatType::Fat16 => le16(b, 0),
        FatType::Fat32 => le32(b, 0) & 0x0FFF_FFFF,
    })
}

fn decode(v: u64, t: FatType, n: u64) -> Result<Link, FsError> {
    let (bad, end) = match t {
        FatType::Fat12 => (0xFF7, 0xFF8),
        FatType::Fat16 => (0xFFF7, 0xFFF8),
        FatType::Fat32 => (0x0FFF_FFF7, 0x0FFF_FFF8),
    };
    Ok(match v {
        0 => Link::Free,
        v if v >= end => Link::End,
        v if v == bad => Link::Bad,
        v if (2..n).contains(&v) => Link::Next(v),
        v => {
            return Err(corrupt(format!(
                "FAT entry {v:#x} points outside the volume"
            )));
        }
    })
}
