//! The CRC-32 variants on-disk formats use to protect their headers. Small enough to own, and it
//! spares the shipped binary a dependency.

/// Reflected CRC-32 with the IEEE polynomial (GPT, LVM2).
const IEEE: [u32; 256] = table(0xEDB8_8320);
/// Reflected CRC-32 with the Castagnoli polynomial (ext4 metadata_csum, XFS v5, Btrfs).
const CASTAGNOLI: [u32; 256] = table(0x82F6_3B78);

const fn table(polynomial: u32) -> [u32; 256] {
    let mut table = [0u32; 256];
    let mut byte = 0;
    while byte < 256 {
        let mut crc = byte as u32;
        let mut bit = 0;
        while bit < 8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ polynomial
            } else {
                crc >> 1
            };
            bit += 1;
        }
        table[byte] = crc;
        byte += 1;
    }
    table
}

/// Feeds `parts` in order into a CRC register that starts at `seed`, with no final inversion.
fn update(table: &[u32; 256], seed: u32, parts: &[&[u8]]) -> u32 {
    parts
        .iter()
        .flat_map(|part| part.iter())
        .fold(seed, |crc, &byte| {
            table[usize::from((crc as u8) ^ byte)] ^ (crc >> 8)
        })
}

/// The usual CRC-32 (zlib, EFI), over the concatenation of `parts`.
pub(crate) fn crc32(parts: &[&[u8]]) -> u32 {
    !update(&IEEE, !0, parts)
}

/// CRC-32C as iSCSI, Btrfs and XFS compute it, over the concatenation of `parts`.
pub(crate) fn crc32c(parts: &[&[u8]]) -> u32 {
    !update(&CASTAGNOLI, !0, parts)
}

/// LVM2's label checksum: the IEEE register seeded with 0xf597a6cf and never inverted.
pub(crate) fn lvm2_crc(bytes: &[u8]) -> u32 {
    update(&IEEE, 0xf597_a6cf, &[bytes])
}

#[cfg(test)]
mod tests {
    use super::*;

    // Check values from the CRC catalogue (reveng.sourceforge.io/crc-catalogue), input "123456789".
    #[test]
    fn catalogue_check_values() {
        assert_eq!(crc32(&[b"123456789"]), 0xCBF4_3926);
        assert_eq!(crc32c(&[b"123456789"]), 0xE306_9283);
    }

    #[test]
    fn parts_are_concatenated() {
        assert_eq!(crc32(&[b"1234", b"", b"56789"]), crc32(&[b"123456789"]));
        assert_eq!(crc32c(&[b"12345", b"6789"]), crc32c(&[b"123456789"]));
    }
}
