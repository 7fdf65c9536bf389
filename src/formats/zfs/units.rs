//! ZFS's human-readable numbers ("128K", "1.4T", "800G"): binary units, read the way
//! `zfs_nicestrtonum` in libzfs reads them, so a size from a layout compares exactly with the
//! integer `zfs get -p` prints for what ZFS stored.

use nom::bytes::complete::take_while;
use nom::character::complete::{char, digit0};
use nom::combinator::{opt, rest};
use nom::sequence::preceded;
use nom::{IResult, Parser};

/// Suffix letters in order of their power of 1024 (B = 1024^0 ... Z = 1024^7).
const SUFFIXES: &str = "BKMGTPEZ";

/// Bytes denoted by a ZFS size such as "128K", "1M", "800G" or "1.4T" (binary units), or by
/// an exact `-p` integer; "none" (an unset quota) is 0.
///
/// Like libzfs: suffixes are case-insensitive and may be written K, KB or KiB; a fraction is
/// computed in floating point and rounded down ("1.4T" = 1.4 * 2^40 = 1539316278886). Returns
/// `None` for anything libzfs would reject (and for exponents, which no tool prints).
pub fn parse_zfs_size(text: &str) -> Option<u64> {
    if text == "none" {
        return Some(0);
    }
    let (_, (whole, fraction, suffix)) = number_parts(text).ok()?;
    if whole.is_empty() && fraction.is_none_or(str::is_empty) {
        return None;
    }
    let shift = suffix_shift(suffix)?;
    match fraction {
        None => {
            let value: u64 = whole.parse().ok()?;
            if shift >= 64 || (value << shift) >> shift != value {
                return None;
            }
            Some(value << shift)
        }
        Some(fraction) => {
            let value: f64 = format!("{whole}.{fraction}0").parse().ok()?;
            let scaled = value * 2f64.powi(i32::try_from(shift).ok()?);
            // u64::MAX is not representable as f64; the nearest double is 2^64, hence >=.
            if !scaled.is_finite() || scaled >= u64::MAX as f64 {
                return None;
            }
            Some(scaled as u64)
        }
    }
}

/// True when two ZFS sizes denote the same number of bytes ("128K" and "131072").
pub fn same_zfs_size(a: &str, b: &str) -> bool {
    matches!((parse_zfs_size(a), parse_zfs_size(b)), (Some(x), Some(y)) if x == y)
}

/// A count as `zpool status` prints it: exact with `-p`, else abbreviated like "1.2K".
pub(crate) fn parse_count(text: &str) -> Option<u64> {
    if text == "none" {
        return None;
    }
    parse_zfs_size(text)
}

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_sizes_are_binary_units() {
        assert_eq!(parse_zfs_size("128K"), Some(131_072));
        assert_eq!(parse_zfs_size("16K"), Some(16_384));
        assert_eq!(parse_zfs_size("1M"), Some(1_048_576));
        assert_eq!(parse_zfs_size("800G"), Some(800 * (1 << 30)));
        assert_eq!(parse_zfs_size("2T"), Some(2 * (1u64 << 40)));
        assert_eq!(parse_zfs_size("1.4T"), Some(1_539_316_278_886));
    }

    #[test]
    fn exact_integers_and_none() {
        assert_eq!(parse_zfs_size("0"), Some(0));
        assert_eq!(parse_zfs_size("none"), Some(0));
        assert_eq!(parse_zfs_size("858993459200"), Some(858_993_459_200));
        assert_eq!(
            parse_zfs_size("18446744073709551615"),
            Some(u64::MAX),
            "the largest -p value"
        );
    }

    #[test]
    fn suffix_spellings_libzfs_accepts() {
        for text in ["1g", "1G", "1GB", "1gb", "1GiB", "1gib"] {
            assert_eq!(parse_zfs_size(text), Some(1 << 30), "{text}");
        }
        assert_eq!(parse_zfs_size("512B"), Some(512));
        assert_eq!(parse_zfs_size(".5K"), Some(512));
        assert_eq!(parse_zfs_size("1.K"), Some(1024));
        assert_eq!(parse_zfs_size("0.0Z"), Some(0));
    }

    #[test]
    fn what_libzfs_rejects() {
        for text in [
            "",
            ".",
            "-1",
            " 1K",
            "1 K",
            "1BB",
            "1BiB",
            "1KiBs",
            "1X",
            "K",
            "1.5.5",
            "none ",
            "18446744073709551616",
            "16E",
            "0Z",
            "1e3",
            "1.5e3K",
            "Inf",
            "NaN",
        ] {
            assert_eq!(parse_zfs_size(text), None, "{text:?}");
        }
    }

    #[test]
    fn sizes_compare_by_bytes() {
        assert!(same_zfs_size("128K", "131072"));
        assert!(same_zfs_size("1M", "1024K"));
        assert!(!same_zfs_size("128K", "131073"));
        assert!(!same_zfs_size("-", "-"));
    }
}
