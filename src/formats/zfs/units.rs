//! ZFS's human-readable numbers ("128K", "1.4T", "800G"): binary units, read the way
//! `zfs_nicestrtonum` in libzfs reads them (through the program's one size grammar,
//! [`ZfsSize::parse`]), so a size from a layout compares exactly with the integer `zfs get -p`
//! prints for what ZFS stored.

use crate::formats::size::ZfsSize;

/// Bytes denoted by a ZFS size such as "128K", "1M", "800G" or "1.4T" (binary units), or by
/// an exact `-p` integer; "none" (an unset quota) is 0. The grammar is [`ZfsSize::parse`], the
/// one the layout is validated with; `None` for anything it refuses.
pub fn parse_zfs_size(text: &str) -> Option<u64> {
    if text == "none" {
        return Some(0);
    }
    ZfsSize::parse(text).ok().map(ZfsSize::bytes)
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
