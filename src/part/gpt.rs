//! GUID partition tables, through the `gpt` crate.
//!
//! Both headers are checked here before `gpt` sees them: `gpt` asserts on the entry size
//! (a panic on a crafted header), loops over any entry count, and takes whichever header has
//! a good CRC. A header rejected here is hidden from it, so it reads the one we chose.

use ::gpt::GptConfig;
use ::gpt::disk::LogicalBlockSize;

use super::devio::DevIo;
use super::{PartError, PartTable, Partition, TableKind};
use crate::disk::{BlockDev, DiskError};

const SIGNATURE: &[u8; 8] = b"EFI PART";
const HEADER_SIZE: usize = 92;
const ENTRY_SIZE: u32 = 128;
/// The spec's minimum array is 128 entries; nobody needs more than this.
const MAX_ENTRIES: u32 = 4096;

/// The fields of a GPT header that matter for reading it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Header {
    first_usable: u64,
    last_usable: u64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Probe {
    /// No "EFI PART" signature: no GPT header here.
    Absent,
    /// A header signature, but something about it is wrong.
    Bad(String),
    Good(Header),
}

fn le64(b: &[u8], off: usize) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[off..off + 8]);
    u64::from_le_bytes(a)
}

fn le32(b: &[u8], off: usize) -> u32 {
    let mut a = [0u8; 4];
    a.copy_from_slice(&b[off..off + 4]);
    u32::from_le_bytes(a)
}

fn crc32(data: &[u8]) -> u32 {
    let mut c = flate2::Crc::new();
    c.update(data);
    c.sum()
}

/// Read and validate the header at `lba` (primary: 1, backup: the last LBA).
fn check_header(dev: &dyn BlockDev, lb: u64, lba: u64) -> Result<Probe, DiskError> {
    let disk_sectors = dev.size() / lb;
    if lba >= disk_sectors {
        return Ok(Probe::Absent);
    }
    let mut h = [0u8; HEADER_SIZE];
    dev.read_exact_at(&mut h, lba * lb)?;
    if &h[0..8] != SIGNATURE {
        return Ok(Probe::Absent);
    }
    let bad = |m: String| Ok(Probe::Bad(m));
    let header_size = le32(&h, 12);
    if header_size as usize != HEADER_SIZE {
        return bad(format!("unsupported header size {header_size}"));
    }
    let stored_crc = le32(&h, 16);
    let mut zeroed = h;
    zeroed[16..20].fill(0);
    if crc32(&zeroed) != stored_crc {
        return bad("header checksum mismatch".into());
    }
    let current = le64(&h, 24);
    if current != lba {
        return bad(format!("header at LBA {lba} says it is at LBA {current}"));
    }
    let backup_lba = le64(&h, 32);
    if lba == 1 && backup_lba >= disk_sectors {
        return bad(format!(
            "it describes a disk of {} sectors, the image has {disk_sectors} (truncated?)",
            backup_lba.saturating_add(1)
        ));
    }
    let first_usable = le64(&h, 40);
    let last_usable = le64(&h, 48);
    if first_usable > last_usable || last_usable >= disk_sectors {
        return bad(format!(
            "usable area {first_usable}..={last_usable} does not fit a disk of {disk_sectors} sectors"
        ));
    }
    let part_start = le64(&h, 72);
    let num_parts = le32(&h, 80);
    let part_size = le32(&h, 84);
    if part_size != ENTRY_SIZE {
        return bad(format!("unsupported partition entry size {part_size}"));
    }
    if num_parts == 0 || num_parts > MAX_ENTRIES {
        return bad(format!(
            "{num_parts} partition entries (1 to {MAX_ENTRIES} supported)"
        ));
    }
    let array_len = u64::from(num_parts) * u64::from(ENTRY_SIZE);
    let array_end = part_start
        .checked_mul(lb)
        .and_then(|s| s.checked_add(array_len));
    match array_end {
        Some(end) if part_start >= 1 && end <= dev.size() => {}
        _ => return bad("partition entry array lies outside the disk".into()),
    }
    // At most MAX_ENTRIES * 128 = 512 KiB.
    let mut array = vec![0u8; array_len as usize];
    dev.read_exact_at(&mut array, part_start * lb)?;
    if crc32(&array) != le32(&h, 88) {
        return bad("partition entry array checksum mismatch".into());
    }
    Ok(Probe::Good(Header {
        first_usable,
        last_usable,
    }))
}

/// Find both headers at sector size `lb`; `None` when neither has a signature.
fn find_headers(dev: &dyn BlockDev, lb: u64) -> Result<Option<(Probe, Probe)>, DiskError> {
    let primary = check_header(dev, lb, 1)?;
    let sectors = dev.size() / lb;
    let backup = if sectors >= 3 {
        check_header(dev, lb, sectors - 1)?
    } else {
        Probe::Absent
    };
    if primary == Probe::Absent && backup == Probe::Absent {
        Ok(None)
    } else {
        Ok(Some((primary, backup)))
    }
}

fn describe(p: &Probe) -> &str {
    match p {
        Probe::Absent => "no GPT signature",
        Probe::Bad(m) => m,
        Probe::Good(_) => "good",
    }
}

/// Read a GPT if there is one: `Ok(None)` when neither header has a GPT signature.
pub fn probe(dev: &dyn BlockDev) -> Result<Option<PartTable>, PartError> {
    let mut found = None;
    for lb in [512u64, 4096] {
        if let Some(h) = find_headers(dev, lb)? {
            found = Some((lb, h));
            break;
        }
    }
    let Some((lb, (primary, backup))) = found else {
        return Ok(None);
    };
    let mut notes = Vec::new();
    if lb != 512 {
        notes.push(format!("GPT with {lb}-byte sectors"));
    }
    let (header, use_backup) = match (&primary, &backup) {
        (Probe::Good(h), _) => {
            if !matches!(backup, Probe::Good(_)) {
                notes.push(format!(
                    "backup GPT header damaged ({}), using the primary",
                    describe(&backup)
                ));
            }
            (*h, false)
        }
        (_, Probe::Good(h)) => {
            notes.push(format!(
                "primary GPT header damaged ({}), using the backup",
                describe(&primary)
            ));
            (*h, true)
        }
        _ => {
            return Err(PartError::Gpt(format!(
                "both GPT headers are damaged (primary: {}; backup: {})",
                describe(&primary),
                describe(&backup)
            )));
        }
    };

    let mut io = DevIo::new(dev);
    if use_backup {
        io = io.hide(lb, lb);
    }
    let lbs = if lb == 512 {
        LogicalBlockSize::Lb512
    } else {
        LogicalBlockSize::Lb4096
    };
    let disk = GptConfig::new()
        .writable(false)
        .logical_block_size(lbs)
        .open_from_device(io)
        .map_err(|e| PartError::Gpt(format!("reading the partition entries: {e}")))?;

    let mut partitions = Vec::new();
    for (&number, p) in disk.partitions() {
        if !p.is_used() {
            continue;
        }
        if p.first_lba > p.last_lba
            || p.first_lba < header.first_usable
            || p.last_lba > header.last_usable
        {
            return Err(PartError::Gpt(format!(
                "partition {number} (LBA {}..={}) lies outside the usable area {}..={}",
                p.first_lba, p.last_lba, header.first_usable, header.last_usable
            )));
        }
        // Both within the disk (checked above), so no overflow.
        let start = p.first_lba * lb;
        let size = (p.last_lba - p.first_lba + 1) * lb;
        let type_id = p.part_type_guid.guid.to_string().to_uppercase();
        partitions.push(Partition {
            number,
            start,
            size,
            type_name: type_name(&type_id).to_string(),
            type_id,
            name: p.name.clone(),
            uuid: p.part_guid.to_string().to_uppercase(),
        });
    }
    Ok(Some(PartTable {
        kind: TableKind::Gpt,
        disk_id: disk.guid().to_string().to_uppercase(),
        partitions,
        notes,
    }))
}

/// Human names of the partition types found on cloud and Linux disks (sgdisk's names).
pub fn type_name(guid: &str) -> &'static str {
    match guid {
        "C12A7328-F81F-11D2-BA4B-00A0C93EC93B" => "EFI System",
        "21686148-6449-6E6F-744E-656564454649" => "BIOS boot partition",
        "0FC63DAF-8483-4772-8E79-3D69D8477DE4" => "Linux filesystem",
        "4F68BCE3-E8CD-4DB1-96E7-FBCAF984B709" => "Linux x86-64 root (/)",
        "44479540-F297-41B2-9AF7-D131D5F0458A" => "Linux x86 root (/)",
        "B921B045-1DF0-41C3-AF44-4C6F280D3FAE" => "Linux ARM64 root (/)",
        "69DAD710-2CE4-4E3C-B16C-21A1D49ABED3" => "Linux ARM32 root (/)",
        "72EC70A6-CF74-40E6-BD49-4BDA08E8F224" => "Linux RISC-V 64 root (/)",
        "8484680C-9521-48C6-9C11-B0720656F69E" => "Linux x86-64 /usr",
        "B0E01050-EE5F-4390-949A-9101B17104E9" => "Linux ARM64 /usr",
        "BC13C2FF-59E6-4262-A352-B275FD6F7172" => "Linux extended boot",
        "0657FD6D-A4AB-43C4-84E5-0933C84B4F4F" => "Linux swap",
        "E6D6D379-F507-44C2-A23C-238F2A3DF928" => "Linux LVM",
        "A19D880F-05FC-4D3B-A006-743F0F84911E" => "Linux RAID",
        "933AC7E1-2EB4-4F13-B844-0E14E2AEF915" => "Linux /home",
        "3B8F8425-20E0-4F3B-907F-1A25A76F98E8" => "Linux /srv",
        "CA7D7CCB-63ED-4C53-861C-1742536059CC" => "Linux LUKS",
        "7FFEC5C9-2D00-49B7-8941-3EA10A5586B7" => "Linux dm-crypt",
        "4D21B016-B534-45C2-A9FB-5C16E091FD2D" => "Linux /var",
        "7EC6F557-3BC5-4ACA-B293-16EF5DF639D1" => "Linux /var/tmp",
        "8DA63339-0007-60C0-C436-083AC8230908" => "Linux reserved",
        "EBD0A0A2-B9E5-4433-87C0-68B6B72699C7" => "Microsoft basic data",
        "E3C9E316-0B5C-4DB8-817D-F92DF00215AE" => "Microsoft reserved",
        "DE94BBA4-06D1-4D40-A16A-BFD50179D6AC" => "Windows recovery environment",
        "9E1A2D38-C612-4316-AA26-8B49521E5A8B" => "PowerPC PReP boot",
        "6A82CB45-1DD2-11B2-99A6-080020736631" => "Solaris boot",
        "516E7CB6-6ECF-11D6-8FF8-00022D09712B" => "FreeBSD UFS",
        "83BD6B9D-7F41-11DC-BE0B-001560B84F0F" => "FreeBSD boot",
        _ => "unknown",
    }
}
