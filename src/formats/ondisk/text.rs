//! How on-disk labels and identifiers become the strings blkid prints.

/// A fixed-size, NUL-padded label field, as blkid shows it: cut at the first NUL, trailing
/// whitespace removed, invalid UTF-8 replaced. An empty label is no label.
pub(crate) fn nul_padded(field: &[u8]) -> Option<String> {
    let used = field.split(|&byte| byte == 0).next().unwrap_or_default();
    let text = String::from_utf8_lossy(used);
    let text = text.trim_end();
    (!text.is_empty()).then(|| text.to_owned())
}

/// A UUID stored as 16 bytes in big-endian order (most file systems). All zeros means "none", as
/// in blkid.
pub(crate) fn uuid(bytes: &[u8; 16]) -> Option<String> {
    if bytes.iter().all(|&byte| byte == 0) {
        return None;
    }
    Some(format_uuid(bytes))
}

/// A GUID stored the EFI way: the first three fields little-endian.
pub(crate) fn efi_guid(bytes: &[u8; 16]) -> String {
    let mut big_endian = *bytes;
    big_endian[0..4].reverse();
    big_endian[4..6].reverse();
    big_endian[6..8].reverse();
    format_uuid(&big_endian)
}

fn format_uuid(bytes: &[u8; 16]) -> String {
    let hex: String = bytes.iter().map(|byte| format!("{byte:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}

/// A byte count for people: "300 MiB", "1.8 TiB".
pub(crate) fn human_size(bytes: u64) -> String {
    crate::formats::size::binary_brief(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_stop_at_nul_and_drop_trailing_blanks() {
        assert_eq!(nul_padded(b"tank\0\0\0\0"), Some("tank".to_owned()));
        assert_eq!(nul_padded(b"NO NAME    "), Some("NO NAME".to_owned()));
        assert_eq!(nul_padded(b"\0abc"), None);
        assert_eq!(nul_padded(b"   "), None);
    }

    #[test]
    fn efi_guids_swap_the_first_three_fields() {
        // The Linux filesystem type GUID as sgdisk writes it to disk.
        let on_disk = [
            0xaf, 0x3d, 0xc6, 0x0f, 0x83, 0x84, 0x72, 0x47, 0x8e, 0x79, 0x3d, 0x69, 0xd8, 0x47,
            0x7d, 0xe4,
        ];
        assert_eq!(efi_guid(&on_disk), "0fc63daf-8483-4772-8e79-3d69d8477de4");
    }

    #[test]
    fn zero_uuid_is_none() {
        assert_eq!(uuid(&[0; 16]), None);
        assert_eq!(
            uuid(&[0x12; 16]).as_deref(),
            Some("12121212-1212-1212-1212-121212121212")
        );
    }

    #[test]
    fn sizes_read_like_people_write_them() {
        assert_eq!(human_size(512), "512 B");
        assert_eq!(human_size(300 * 1024 * 1024), "300 MiB");
        assert_eq!(human_size(2_000_398_934_016), "1.8 TiB");
        assert_eq!(human_size(443_547_136), "423 MiB");
    }
}
