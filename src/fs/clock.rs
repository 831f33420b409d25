//! The one time rule of `seal` and `build`: every timestamp an edit writes is a pinned time,
//! never the clock, so the same input gives the same bytes. `Some(t)` is t (SOURCE_DATE_EPOCH
//! or `--timestamp`); `None` derives it from the input (the root filesystem's own last write
//! time; `pipeline` applies it to every filesystem it edits).

/// Latest pinnable time: libext2fs 1.47.0 stores inode and superblock times in 32 bits.
pub const MAX: i64 = u32::MAX as i64;

/// 1980-01-01 00:00:00 UTC, the earliest time FAT can store.
pub const DOS_EPOCH: i64 = 315_532_800;

#[derive(Debug, thiserror::Error)]
#[error(
    "timestamp {0} is out of range: give 1 to {MAX} seconds since the epoch (0 means \
     \"now\" to libext2fs, and ext2/3/4 times are 32 bits)"
)]
pub struct OutOfRange(pub i64);

/// Refuse a pinned time the filesystems cannot store as given.
pub fn check(t: Option<i64>) -> Result<Option<i64>, OutOfRange> {
    match t {
        Some(t) if !(1..=MAX).contains(&t) => Err(OutOfRange(t)),
        t => Ok(t),
    }
}

/// A FAT date and time in UTC (FAT has no zone): (year, month, day, hour, minute, second),
/// seconds rounded down to even as FAT stores them; before 1980 it is 1980-01-01 00:00:00.
pub fn dos(t: i64) -> (u16, u16, u16, u16, u16, u16) {
    let t = t.max(DOS_EPOCH);
    let (days, secs) = (t.div_euclid(86_400), t.rem_euclid(86_400));
    // Civil date from days since 1970-01-01 (H. Hinnant's algorithm, proleptic Gregorian).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    let n = |v: i64| u16::try_from(v).unwrap_or(u16::MAX);
    let (h, m, s) = (secs / 3600, secs / 60 % 60, secs % 60 / 2 * 2);
    (n(year), n(month), n(day), n(h), n(m), n(s))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn range() {
        assert!(check(None).unwrap().is_none());
        assert_eq!(check(Some(1)).unwrap(), Some(1));
        assert_eq!(check(Some(MAX)).unwrap(), Some(MAX));
        for bad in [0, -1, MAX + 1] {
            let e = check(Some(bad)).unwrap_err().to_string();
            assert!(
                e.starts_with(&format!("timestamp {bad} is out of range")),
                "{e}"
            );
        }
    }

    /// Checked against `date -u -d @T`.
    #[test]
    fn dos_times() {
        assert_eq!(dos(0), (1980, 1, 1, 0, 0, 0));
        assert_eq!(dos(DOS_EPOCH), (1980, 1, 1, 0, 0, 0));
        // 2023-11-14 22:13:20 UTC
        assert_eq!(dos(1_700_000_000), (2023, 11, 14, 22, 13, 20));
        // 2024-02-29 12:34:57 UTC: a leap day, odd seconds rounded down
        assert_eq!(dos(1_709_210_097), (2024, 2, 29, 12, 34, 56));
        // 2106-02-07 06:28:15 UTC
        assert_eq!(dos(MAX), (2106, 2, 7, 6, 28, 14));
    }
}
