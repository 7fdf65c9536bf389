//! Byte sizes as storage people write them: drive capacities in decimal (IDEMA) units, ZFS quotas and
//! record sizes in binary units. Mixing the two is the classic way to overcommit a pool, so both
//! live here, each with its own type.

use serde::{Deserialize, Serialize};
use std::fmt;

const KIB: u64 = 1 << 10;

/// A ZFS size such as `128K`, `800G` or `1.4T`: binary units, as `zfs set quota=800G` reads them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ZfsSize(pub u64);

impl ZfsSize {
    /// Parses what `zfs set` accepts: a number with an optional fraction and an optional unit
    /// `B K M G T P E` (case-insensitive, an optional trailing `B`/`iB` allowed), or raw bytes.
    pub fn parse(text: &str) -> Result<ZfsSize, String> {
        let t = text.trim();
        let split = t
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(t.len());
        let (number, unit) = t.split_at(split);
        if number.is_empty() || number.starts_with('.') || number.ends_with('.') {
            return Err(format!(
                "`{text}` is not a size: expected a number with a unit, such as 128K, 800G or 1.4T"
            ));
        }
        let shift = match unit.to_ascii_uppercase().trim_end_matches("IB").trim_end_matches('B') {
            "" => 0,
            "K" => 10,
            "M" => 20,
            "G" => 30,
            "T" => 40,
            "P" => 50,
            "E" => 60,
            _ => {
                return Err(format!(
                    "`{text}` has an unknown unit `{unit}`: use one of K, M, G, T, P (binary units, as ZFS reads them)"
                ))
            }
        };
        let (whole, frac) = number.split_once('.').unwrap_or((number, ""));
        let too_big = || format!("`{text}` is too large to be a size");
        let whole: u64 = whole.parse().map_err(|_| too_big())?;
        let mut bytes = whole
            .checked_mul(1u64.checked_shl(shift).ok_or_else(too_big)?)
            .ok_or_else(too_big)?;
        if !frac.is_empty() {
            // Exact decimal fraction of the unit, rounded down as zfs does.
            let digits = frac.len().min(18) as u32;
            let numerator: u128 = frac[..digits as usize].parse().map_err(|_| too_big())?;
            let part = (numerator << shift) / 10u128.pow(digits);
            bytes = bytes
                .checked_add(u64::try_from(part).map_err(|_| too_big())?)
                .ok_or_else(too_big)?;
        }
        Ok(ZfsSize(bytes))
    }

    pub fn bytes(self) -> u64 {
        self.0
    }
}

impl fmt::Display for ZfsSize {
    /// The shortest exact binary-unit spelling (`800G`, `128K`), else a two-decimal one (`1.40T`).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const UNITS: [(&str, u32); 6] = [
            ("E", 60),
            ("P", 50),
            ("T", 40),
            ("G", 30),
            ("M", 20),
            ("K", 10),
        ];
        for (unit, shift) in UNITS {
            if self.0 >= 1 << shift && self.0 % (1 << shift) == 0 {
                return write!(f, "{}{unit}", self.0 >> shift);
            }
        }
        for (unit, shift) in UNITS {
            if self.0 >= 1 << shift {
                return write!(f, "{:.2}{unit}", self.0 as f64 / (1u64 << shift) as f64);
            }
        }
        write!(f, "{}", self.0)
    }
}

/// Human spelling of a byte count in binary units, for messages (`1.82 TiB`).
pub fn binary(bytes: u64) -> String {
    const UNITS: [&str; 6] = ["KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];
    if bytes < KIB {
        return format!("{bytes} B");
    }
    let mut value = bytes as f64;
    let mut unit = "B";
    for u in UNITS {
        if value < 1024.0 {
            break;
        }
        value /= 1024.0;
        unit = u;
    }
    format!("{value:.2} {unit}")
}

/// Human spelling of a byte count in decimal units, the way drives are sold (`2.00 TB`).
pub fn decimal(bytes: u64) -> String {
    const UNITS: [&str; 6] = ["kB", "MB", "GB", "TB", "PB", "EB"];
    if bytes < 1000 {
        return format!("{bytes} B");
    }
    let mut value = bytes as f64;
    let mut unit = "B";
    for u in UNITS {
        if value < 1000.0 {
            break;
        }
        value /= 1000.0;
        unit = u;
    }
    format!("{value:.2} {unit}")
}

/// A drive's nominal capacity as printed on the box, in decimal gigabytes: `2TB` is 2000 GB,
/// `1.92TB` is 1920 GB. Matching turns it into the exact IDEMA byte count.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct SizeClass {
    /// Nominal capacity in decimal gigabytes (10^9 bytes).
    pub gigabytes: u64,
}

impl SizeClass {
    pub fn parse(text: &str) -> Result<SizeClass, String> {
        let t = text.trim();
        let upper = t.to_ascii_uppercase();
        let (number, scale) = if let Some(n) = upper.strip_suffix("TB") {
            (n, 1000.0)
        } else if let Some(n) = upper.strip_suffix("GB") {
            (n, 1.0)
        } else {
            return Err(format!(
                "`{text}` is not a drive size class: write the capacity as sold, such as 2TB, 1.92TB or 960GB"
            ));
        };
        let value: f64 = number.trim().parse().map_err(|_| {
            format!("`{text}` is not a drive size class: `{number}` is not a number")
        })?;
        let gigabytes = (value * scale).round();
        if !(1.0..=1_000_000.0).contains(&gigabytes) || ((value * scale) - gigabytes).abs() > 1e-6 {
            return Err(format!(
                "`{text}` is not a drive size class between 1GB and 1000TB in whole gigabytes"
            ));
        }
        Ok(SizeClass {
            gigabytes: gigabytes as u64,
        })
    }

    /// IDEMA LBA1-03 capacity in bytes (512-byte sectors): 97,696,368 + 1,953,504 x (GB - 50)
    /// sectors. For classes under 50 GB the plain decimal count is used.
    pub fn idema_bytes(self) -> u64 {
        if self.gigabytes < 50 {
            return self.gigabytes * 1_000_000_000;
        }
        (97_696_368 + 1_953_504 * (self.gigabytes - 50)) * 512
    }

    /// The class a drive of `bytes` belongs to, when it is within `tolerance` (a fraction, e.g. 0.01)
    /// of a whole-gigabyte IDEMA capacity.
    pub fn of_drive(bytes: u64, tolerance: f64) -> Option<SizeClass> {
        // Invert the IDEMA formula, then confirm: cheap and exact for every whole-GB class.
        let sectors = bytes / 512;
        let gigabytes = if sectors >= 97_696_368 {
            50.0 + (sectors as f64 - 97_696_368.0) / 1_953_504.0
        } else {
            bytes as f64 / 1e9
        };
        let nearest = SizeClass {
            gigabytes: gigabytes.round().max(1.0) as u64,
        };
        nearest.contains(bytes, tolerance).then_some(nearest)
    }

    /// Whether a drive of `bytes` is this class, within `tolerance` (a fraction of the class size).
    pub fn contains(self, bytes: u64, tolerance: f64) -> bool {
        let nominal = self.idema_bytes() as f64;
        (bytes as f64 - nominal).abs() <= nominal * tolerance
    }
}

impl fmt::Display for SizeClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.gigabytes >= 1000 {
            let tb = self.gigabytes as f64 / 1000.0;
            if self.gigabytes % 1000 == 0 {
                write!(f, "{}TB", self.gigabytes / 1000)
            } else {
                write!(f, "{}TB", format!("{tb:.3}").trim_end_matches('0'))
            }
        } else {
            write!(f, "{}GB", self.gigabytes)
        }
    }
}

impl TryFrom<String> for SizeClass {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        SizeClass::parse(&s)
    }
}

impl From<SizeClass> for String {
    fn from(c: SizeClass) -> String {
        c.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn idema_capacities_match_real_drives() {
        assert_eq!(
            SizeClass::parse("2TB").unwrap().idema_bytes(),
            2_000_398_934_016
        );
        assert_eq!(
            SizeClass::parse("4TB").unwrap().idema_bytes(),
            4_000_787_030_016
        );
        assert_eq!(SizeClass::parse("1.92TB").unwrap().gigabytes, 1920);
        assert_eq!(SizeClass::parse("960GB").unwrap().to_string(), "960GB");
        assert_eq!(SizeClass::parse("1.92TB").unwrap().to_string(), "1.92TB");
    }

    #[test]
    fn drive_classes_allow_small_deviations_only() {
        // Crucial X9 Pro 2TB reports 512 bytes less than IDEMA (smartmontools issue 540).
        assert_eq!(
            SizeClass::of_drive(2_000_398_934_016 - 512, 0.01)
                .unwrap()
                .to_string(),
            "2TB"
        );
        assert_eq!(
            SizeClass::of_drive(4_000_787_030_016, 0.01)
                .unwrap()
                .to_string(),
            "4TB"
        );
        let enterprise = SizeClass::parse("1.92TB").unwrap().idema_bytes();
        assert_eq!(
            SizeClass::of_drive(enterprise, 0.01).unwrap().to_string(),
            "1.92TB"
        );
        assert!(!SizeClass::parse("2TB").unwrap().contains(enterprise, 0.01));
    }

    #[test]
    fn zfs_sizes_are_binary() {
        assert_eq!(ZfsSize::parse("128K").unwrap().bytes(), 131_072);
        assert_eq!(ZfsSize::parse("800G").unwrap().bytes(), 800 << 30);
        assert_eq!(
            ZfsSize::parse("1.4T").unwrap().bytes(),
            ((14u128 << 40) / 10) as u64
        );
        assert_eq!(ZfsSize::parse("1M").unwrap().to_string(), "1M");
        assert_eq!(ZfsSize::parse("2T").unwrap().to_string(), "2T");
        assert_eq!(ZfsSize::parse("4096").unwrap().bytes(), 4096);
        assert_eq!(ZfsSize::parse("16kib").unwrap().bytes(), 16384);
    }

    #[test]
    fn bad_sizes_say_what_is_wrong() {
        assert!(ZfsSize::parse("800X")
            .unwrap_err()
            .contains("unknown unit `X`"));
        assert!(ZfsSize::parse("").unwrap_err().contains("is not a size"));
        assert!(ZfsSize::parse("99999999999999999999E")
            .unwrap_err()
            .contains("too large"));
        assert!(ZfsSize::parse("20E").is_err());
        assert!(SizeClass::parse("2TiB").is_err());
        assert!(SizeClass::parse("0GB").is_err());
    }
}
