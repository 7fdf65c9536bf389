//! A zfspool storage's `blocksize` as pve-storage reads it, apart from the storage plans so that
//! layout validation can hold a layout to it.

/// The spelling of `blocksize` pve-storage accepts, for messages.
pub const BLOCKSIZE_SYNTAX: &str =
    "a power of two in bytes, optionally followed by k or m (pve-storage's `^([1-9][0-9]*)([km])?$`, any case), such as 16k or 16384";

/// A zfspool storage's `blocksize` in bytes, read the way pve-storage reads it: its schema's
/// pattern `^([1-9][0-9]*)([km])?$` (case-insensitive), and a power of two (ZFSPoolPlugin.pm).
/// `16KB`, `16KiB`, `0.5K`, `16384B` and `016k` are refused there, so they are refused here.
pub fn blocksize_bytes(text: &str) -> Option<u64> {
    blocksize_number(text).filter(|bytes| bytes.is_power_of_two())
}

/// The bytes a `blocksize` names when it matches pve-storage's pattern, power of two or not: the
/// schema's check, which pve-storage reports apart from the plugin's (the pvesm stand-in says
/// which one refused).
pub fn blocksize_number(text: &str) -> Option<u64> {
    let lower = text.to_ascii_lowercase();
    let (digits, scale) = match lower.strip_suffix('k') {
        Some(d) => (d, 1024),
        None => match lower.strip_suffix('m') {
            Some(d) => (d, 1024 * 1024),
            None => (lower.as_str(), 1),
        },
    };
    let well_formed = digits.starts_with(|c: char| ('1'..='9').contains(&c))
        && digits.bytes().all(|b| b.is_ascii_digit());
    if !well_formed {
        return None;
    }
    digits.parse::<u64>().ok()?.checked_mul(scale)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocksizes_compare_as_bytes() {
        assert_eq!(blocksize_bytes("16k"), Some(16384));
        assert_eq!(blocksize_bytes("16K"), blocksize_bytes("16384"));
        assert_eq!(blocksize_bytes("1M"), Some(1 << 20));
        assert_eq!(blocksize_bytes("k"), None);
        assert_eq!(blocksize_bytes("99999999999999999999k"), None);
    }

    #[test]
    fn blocksize_is_what_pve_storage_accepts() {
        for ok in ["16k", "16K", "1m", "1M", "16384", "512", "128k", "1"] {
            assert!(blocksize_bytes(ok).is_some(), "{ok}");
        }
        for refused in [
            "16KB", "16KiB", "0.5K", "16384B", "016k", "0", "0k", "12k", "3", "16 k", " 16k",
            "16g", "-16k", "+16k", "", "kk",
        ] {
            assert_eq!(blocksize_bytes(refused), None, "{refused}");
        }
    }
}
