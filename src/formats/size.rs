//! Byte sizes as storage people write them: drive capacities in decimal (IDEMA) units, ZFS quotas and
//! record sizes in binary units. Mixing the two is the classic way to overcommit a pool, so both
//! live here, each with its own type.
//!
//! [`ZfsSize::parse`] is the one ZFS size grammar of the program, libzfs's: layout validation and
//! the parsers of zpool/zfs output (`formats::zfs::parse_zfs_size`) both read sizes through it, so
//! a value the layout accepts is a value `zfs set` accepts, with the same number of bytes.

use nom::bytes::complete::take_while;
use nom::character::complete::{char, digit0};
use nom::combinator::{opt, rest};
use nom::sequence::preceded;
use nom::{IResult, Parser};
use serde::{Deserialize, Serialize};
use std::fmt;

/// A ZFS size such as `128K`, `800G` or `1.4T`: binary units, as `zfs set quota=800G` reads them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ZfsSize(pub u64);

/// Why a text is not a ZFS size; each says what was read and what to write instead.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ZfsSizeError {
    #[error("`{0}` is not a size: expected a number with a unit, such as 128K, 800G or 1.4T")]
    NotANumber(String),
    #[error(
        "`{text}` has an unknown unit `{unit}`: use one of B, K, M, G, T, P, E, Z (binary units, as ZFS reads them)"
    )]
    UnknownUnit { text: String, unit: String },
    #[error("`{0}` is too large to be a size: ZFS counts bytes in 64 bits (at most 16E - 1)")]
    TooLarge(String),
}

/// Suffix letters in order of their power of 1024 (B = 1024^0 ... Z = 1024^7).
const SUFFIXES: &str = "BKMGTPEZ";

impl ZfsSize {
    /// Parses a size the way libzfs's `zfs_nicestrtonum` does, so that what the layout accepts
    /// is exactly what `zfs set` and `zpool create -o` accept, and the bytes agree with what
    /// `zfs get -p` prints back: digits, an optional fraction (`.5K` and `1.K` are sizes), and an
    /// optional suffix letter of B K M G T P E Z, case-insensitive, alone or followed by `B` or
    /// `iB` (but not `BB` or `BiB`). A fraction is computed in floating point and rounded down
    /// (`1.4T` = 1.4 * 2^40 = 1539316278886). Whitespace is not trimmed, as libzfs does not.
    ///
    /// One deliberate difference: libzfs hands a fraction to strtod, which would also take an
    /// exponent (`1.5e3K`); no tool prints one and no one means it, so it is refused here.
    pub fn parse(text: &str) -> Result<ZfsSize, ZfsSizeError> {
        let not_a_number = || ZfsSizeError::NotANumber(text.to_string());
        let too_large = || ZfsSizeError::TooLarge(text.to_string());
        let (_, (whole, fraction, suffix)) = number_parts(text).map_err(|_| not_a_number())?;
        if whole.is_empty() && fraction.is_none_or(str::is_empty) {
            return Err(not_a_number());
        }
        let shift = suffix_shift(suffix).ok_or_else(|| ZfsSizeError::UnknownUnit {
            text: text.to_string(),
            unit: suffix.to_string(),
        })?;
        match fraction {
            None => {
                let value: u64 = whole.parse().map_err(|_| too_large())?;
                if shift >= 64 || (value << shift) >> shift != value {
                    return Err(too_large());
                }
                Ok(ZfsSize(value << shift))
            }
            Some(fraction) => {
                let value: f64 = format!("{whole}.{fraction}0")
                    .parse()
                    .map_err(|_| not_a_number())?;
                let scaled = value * 2f64.powi(i32::try_from(shift).map_err(|_| too_large())?);
                // u64::MAX is not representable as f64; the nearest double is 2^64, hence >=.
                if !scaled.is_finite() || scaled >= u64::MAX as f64 {
                    return Err(too_large());
                }
                Ok(ZfsSize(scaled as u64))
            }
        }
    }

    pub fn bytes(self) -> u64 {
        self.0
    }
}

/// Digits, then an optional `.` with digits, then whatever follows (the suffix, checked apart).
fn number_parts(text: &str) -> IResult<&str, (&str, Option<&str>, &str)> {
    (
        digit0,
        opt(preceded(
            char('.'),
            take_while(|c: char| c.is_ascii_digit()),
        )),
        rest,
    )
        .parse(text)
}

/// Power-of-two shift for a suffix, as libzfs's `str2shift` allows: "" (bytes), or a letter of
/// BKMGTPEZ alone, or followed by "B" or "iB" (but not "BB" or "BiB").
fn suffix_shift(suffix: &str) -> Option<u32> {
    let mut chars = suffix.chars();
    let Some(letter) = chars.next() else {
        return Some(0);
    };
    let letter = letter.to_ascii_uppercase();
    let power = u32::try_from(SUFFIXES.find(letter)?).ok()?;
    let tail = chars.as_str();
    let tail_ok = tail.is_empty()
        || (letter != 'B' && (tail.eq_ignore_ascii_case("b") || tail.eq_ignore_ascii_case("ib")));
    tail_ok.then_some(10 * power)
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

/// The binary units after bytes, each 1024 times the one before.
const BINARY_UNITS: [&str; 6] = ["KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];

/// Human spelling of a byte count in binary units, for messages (`1.82 TiB`).
pub fn binary(bytes: u64) -> String {
    human(bytes, 1024, BINARY_UNITS, 2)
}

/// The short binary spelling of what a partition or file system holds, one decimal unless it
/// is zero (`300 MiB`, `1.8 TiB`).
pub fn binary_brief(bytes: u64) -> String {
    human(bytes, 1024, BINARY_UNITS, 1).replacen(".0 ", " ", 1)
}

/// Human spelling of a byte count in decimal units, the way drives are sold (`2.00 TB`).
pub fn decimal(bytes: u64) -> String {
    human(bytes, 1000, ["kB", "MB", "GB", "TB", "PB", "EB"], 2)
}

/// `bytes` in the largest of `units` (each `step` times the one before) that keeps it at 1 or
/// more, with `decimals` decimals; plain bytes below one `step`.
fn human(bytes: u64, step: u64, units: [&str; 6], decimals: usize) -> String {
    if bytes < step {
        return format!("{bytes} B");
    }
    let step = step as f64;
    let mut value = bytes as f64;
    let mut unit = "B";
    for u in units {
        if value < step {
            break;
        }
        value /= step;
        unit = u;
    }
    format!("{value:.decimals$} {unit}")
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
    fn sizes_are_read_as_libzfs_reads_them() {
        let bytes = |text: &str| ZfsSize::parse(text).map(ZfsSize::bytes);
        assert_eq!(bytes(".5K"), Ok(512));
        assert_eq!(bytes("1Z"), Err(ZfsSize::parse("1Z").unwrap_err()));
        assert_eq!(bytes("0.0Z"), Ok(0));
        assert_eq!(bytes("0.0078125Z"), Ok(1 << 63));
        assert_eq!(bytes("1.5T"), Ok(3 << 39));
        assert_eq!(bytes("16k"), Ok(16_384));
        assert_eq!(bytes("1."), Ok(1));
        assert_eq!(bytes("15E"), Ok(15 << 60));
    }

    #[test]
    fn what_the_grammar_refuses_is_named() {
        assert_eq!(
            ZfsSize::parse("1Z").unwrap_err().to_string(),
            "`1Z` is too large to be a size: ZFS counts bytes in 64 bits (at most 16E - 1)"
        );
        assert_eq!(
            ZfsSize::parse("12Q").unwrap_err().to_string(),
            "`12Q` has an unknown unit `Q`: use one of B, K, M, G, T, P, E, Z (binary units, as ZFS reads them)"
        );
        for text in [
            "", ".", " 1K", "1K ", "K", "-1", "1e3", "1.5e3K", "1BB", "1BiB",
        ] {
            assert!(ZfsSize::parse(text).is_err(), "{text:?}");
        }
        assert_eq!(
            ZfsSize::parse(" 1K").unwrap_err().to_string(),
            "` 1K` is not a size: expected a number with a unit, such as 128K, 800G or 1.4T"
        );
    }

    #[test]
    fn messages_spell_bytes_in_either_unit_system() {
        assert_eq!(binary(1023), "1023 B");
        assert_eq!(binary(1024), "1.00 KiB");
        assert_eq!(binary(2_000_398_934_016), "1.82 TiB");
        assert_eq!(decimal(999), "999 B");
        assert_eq!(decimal(2_000_398_934_016), "2.00 TB");
        assert_eq!(binary_brief(1023), "1023 B");
        assert_eq!(binary_brief(1024), "1 KiB");
        assert_eq!(binary_brief(10 << 20), "10 MiB");
        assert_eq!(binary_brief(2_000_398_934_016), "1.8 TiB");
    }

    #[test]
    fn bad_sizes_say_what_is_wrong() {
        assert!(ZfsSize::parse("800X")
            .unwrap_err()
            .to_string()
            .contains("unknown unit `X`"));
        assert!(ZfsSize::parse("")
            .unwrap_err()
            .to_string()
            .contains("is not a size"));
        assert!(ZfsSize::parse("99999999999999999999E")
            .unwrap_err()
            .to_string()
            .contains("too large"));
        assert!(ZfsSize::parse("20E").is_err());
        assert!(SizeClass::parse("2TiB").is_err());
        assert!(SizeClass::parse("0GB").is_err());
    }
}
