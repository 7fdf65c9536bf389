//! LUKS encrypted volumes: the LUKS1 header (LUKS On-Disk Format Specification 1.2.3) and the
//! LUKS2 binary header with its secondary copy (LUKS2 On-Disk Format Specification 1.1.x).

use nom::bytes::complete::tag;
use nom::number::complete::{be_u16, be_u32, be_u64};
use nom::Parser;

use super::fields::{array, skip, Parsed};
use super::text::{human_size, nul_padded};
use super::window::DeviceWindow;
use super::{Signature, SignatureKind};

const PRIMARY_MAGIC: &[u8; 6] = b"LUKS\xba\xbe";
const SECONDARY_MAGIC: &[u8; 6] = b"SKUL\xba\xbe";
/// Where cryptsetup may put the LUKS2 secondary header: right after the primary, whose size is
/// one of these.
const SECONDARY_OFFSETS: [u64; 9] = [
    0x4000, 0x8000, 0x10000, 0x20000, 0x40000, 0x80000, 0x100000, 0x200000, 0x400000,
];
/// The binary part of both header versions that the probe reads.
const HEADER_SIZE: usize = 264;

struct Luks1 {
    cipher: [u8; 32],
    mode: [u8; 32],
    hash: [u8; 32],
    payload_sector: u32,
    key_bytes: u32,
    uuid: [u8; 40],
}

fn luks1(input: &[u8]) -> Parsed<'_, Luks1> {
    let (rest, (cipher, mode, hash, payload_sector, key_bytes, _digest_and_iterations, uuid)) = (
        array::<32>,
        array::<32>,
        array::<32>,
        be_u32,
        be_u32,
        skip(20 + 32 + 4),
        array::<40>,
    )
        .parse(input)?;
    Ok((
        rest,
        Luks1 {
            cipher,
            mode,
            hash,
            payload_sector,
            key_bytes,
            uuid,
        },
    ))
}

struct Luks2 {
    header_size: u64,
    sequence_id: u64,
    label: [u8; 48],
    checksum_algorithm: [u8; 32],
    uuid: [u8; 40],
    subsystem: [u8; 48],
    header_offset: u64,
}

fn luks2(input: &[u8]) -> Parsed<'_, Luks2> {
    let (rest, (header_size, sequence_id, label, checksum_algorithm, _salt)) =
        (be_u64, be_u64, array::<48>, array::<32>, skip(64)).parse(input)?;
    let (rest, (uuid, subsystem, header_offset)) =
        (array::<40>, array::<48>, be_u64).parse(rest)?;
    Ok((
        rest,
        Luks2 {
            header_size,
            sequence_id,
            label,
            checksum_algorithm,
            uuid,
            subsystem,
            header_offset,
        },
    ))
}

/// The magic and version that start both header versions.
fn preamble<'a>(magic: &'static [u8; 6]) -> impl FnMut(&'a [u8]) -> Parsed<'a, u16> {
    move |input| {
        let (rest, (_, version)) = (tag(&magic[..]), be_u16).parse(input)?;
        Ok((rest, version))
    }
}

fn text(field: &[u8]) -> String {
    nul_padded(field).unwrap_or_else(|| "?".to_owned())
}

fn probe_primary(device: &DeviceWindow) -> Option<Signature> {
    let header = device.bytes(0, HEADER_SIZE)?;
    let (rest, version) = preamble(PRIMARY_MAGIC)(header).ok()?;
    match version {
        1 => {
            let (_, luks) = luks1(rest).ok()?;
            Some(Signature {
                kind: SignatureKind::Luks,
                offset: 0,
                label: None,
                uuid: nul_padded(&luks.uuid),
                detail: Some(format!(
                    "LUKS1, cipher {}-{}, {}-bit key, hash {}, data from sector {}",
                    text(&luks.cipher),
                    text(&luks.mode),
                    u64::from(luks.key_bytes) * 8,
                    text(&luks.hash),
                    luks.payload_sector
                )),
            })
        }
        2 => {
            let (_, luks) = luks2(rest).ok()?;
            (luks.header_offset == 0).then(|| luks2_signature(&luks, 0, "primary"))
        }
        _ => None,
    }
}

fn probe_secondary(device: &DeviceWindow, offset: u64) -> Option<Signature> {
    let header = device.bytes(offset, HEADER_SIZE)?;
    let (rest, version) = preamble(SECONDARY_MAGIC)(header).ok()?;
    let (_, luks) = luks2(rest).ok()?;
    (version == 2 && luks.header_offset == offset)
        .then(|| luks2_signature(&luks, offset, "secondary"))
}

fn luks2_signature(luks: &Luks2, offset: u64, copy: &str) -> Signature {
    let subsystem = nul_padded(&luks.subsystem)
        .map(|subsystem| format!(", subsystem {subsystem}"))
        .unwrap_or_default();
    Signature {
        kind: SignatureKind::Luks,
        offset,
        label: nul_padded(&luks.label),
        uuid: nul_padded(&luks.uuid),
        detail: Some(format!(
            "LUKS2 {copy} header, {} with metadata, seqid {}, checksum {}{subsystem}",
            human_size(luks.header_size),
            luks.sequence_id,
            text(&luks.checksum_algorithm)
        )),
    }
}

pub(super) fn probe(device: &DeviceWindow) -> Vec<Signature> {
    let primary = probe_primary(device);
    let secondary = SECONDARY_OFFSETS
        .iter()
        .find_map(|&offset| probe_secondary(device, offset));
    match (primary, secondary) {
        (None, Some(mut secondary)) => {
            if let Some(detail) = &mut secondary.detail {
                detail.push_str("; no valid primary header at 0");
            }
            vec![secondary]
        }
        (primary, secondary) => primary.into_iter().chain(secondary).collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A LUKS2 binary header per the LUKS2 specification, section 2.1.
    fn luks2_header(magic: &[u8; 6], at: u64) -> Vec<u8> {
        let mut header = vec![0u8; 4096];
        header[0..6].copy_from_slice(magic);
        header[6..8].copy_from_slice(&2u16.to_be_bytes());
        header[8..16].copy_from_slice(&0x4000u64.to_be_bytes());
        header[16..24].copy_from_slice(&3u64.to_be_bytes());
        header[24..33].copy_from_slice(b"phx-luks2");
        header[72..78].copy_from_slice(b"sha256");
        header[168..204].copy_from_slice(b"3c9ebfa6-ee32-4b43-a511-d16de4dc85c0");
        header[256..264].copy_from_slice(&at.to_be_bytes());
        header
    }

    #[test]
    fn secondary_alone_says_the_primary_is_gone() {
        let mut head = vec![0u8; 1 << 20];
        head[0x4000..0x5000].copy_from_slice(&luks2_header(SECONDARY_MAGIC, 0x4000));
        let found = probe(&DeviceWindow::new(&head, &[], 1 << 26));
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].offset, 0x4000);
        assert_eq!(found[0].label.as_deref(), Some("phx-luks2"));
        assert_eq!(
            found[0].detail.as_deref(),
            Some(
                "LUKS2 secondary header, 16 KiB with metadata, seqid 3, checksum sha256; \
                 no valid primary header at 0"
            )
        );
    }

    #[test]
    fn a_secondary_at_the_wrong_offset_is_ignored() {
        let mut head = vec![0u8; 1 << 20];
        head[0..4096].copy_from_slice(&luks2_header(PRIMARY_MAGIC, 0));
        head[0x8000..0x9000].copy_from_slice(&luks2_header(SECONDARY_MAGIC, 0x4000));
        let found = probe(&DeviceWindow::new(&head, &[], 1 << 26));
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].offset, 0);
    }
}
