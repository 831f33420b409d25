//! Byte counts for people: the one formatter of sizes in messages, reports and progress lines.
//! At the bottom of the crate, beside `disk`: any layer may use it.

use std::fmt;

const MIB: f64 = (1u64 << 20) as f64;

/// A byte count in binary units. `{}` picks the largest unit it fills, with one decimal
/// (`512 B`, `1.5 KiB`, `2.0 GiB`); [`Bytes::mib`] shows it in MiB, without the unit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bytes(pub u64);

impl Bytes {
    /// The count in MiB alone, for lines that name the unit once (`3 / 10 MiB`): `{}` whole
    /// MiB rounded down, `{:.N}` with N decimals.
    pub fn mib(self) -> Mib {
        Mib(self.0)
    }
}

impl fmt::Display for Bytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const UNITS: [&str; 6] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
        let mut v = self.0 as f64;
        let mut u = 0;
        while v >= 1024.0 && u + 1 < UNITS.len() {
            v /= 1024.0;
            u += 1;
        }
        if u == 0 {
            write!(f, "{} B", self.0)
        } else {
            write!(f, "{v:.1} {}", UNITS[u])
        }
    }
}

/// See [`Bytes::mib`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Mib(u64);

impl fmt::Display for Mib {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match f.precision() {
            Some(p) => write!(f, "{:.*}", p, self.0 as f64 / MIB),
            None => write!(f, "{}", self.0 >> 20),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units_as_the_reports_print_them() {
        assert_eq!(Bytes(512).to_string(), "512 B");
        assert_eq!(Bytes(1536).to_string(), "1.5 KiB");
        assert_eq!(Bytes(3 << 30).to_string(), "3.0 GiB");
        assert_eq!(Bytes(u64::MAX).to_string(), "16384.0 PiB");
        let m = Bytes((5 << 20) - 1).mib();
        assert_eq!(format!("{m} / {m:.1} / {m:.0}"), "4 / 5.0 / 5");
        assert_eq!(format!("{:.1}", Bytes(1 << 19).mib()), "0.5");
    }
}
