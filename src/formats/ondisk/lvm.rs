//! LVM2 physical volumes (lib/format_text/layout.h and label.c in LVM2): a "LABELONE" label in one
//! of the first four sectors, the PV header after it, and the text metadata whose first word is the
//! volume group's name.

use nom::bytes::complete::{tag, take_while1};
use nom::number::complete::{le_u32, le_u64};
use nom::Parser;

use super::checksum::lvm2_crc;
use super::fields::{array, skip, Parsed};
use super::text::human_size;
use super::window::DeviceWindow;
use super::{Signature, SignatureKind};

const LABEL_ID: &[u8; 8] = b"LABELONE";
const LABEL_TYPE: &[u8; 8] = b"LVM2 001";
const SECTOR: u64 = 512;
/// The checksum covers the label sector from `offset_xl` (byte 20) to its end.
const CRC_FROM: usize = 20;
/// Offset of the type string inside the label, where wipefs reports the signature.
const TYPE_OFFSET: u64 = 24;
const MDA_MAGIC: &[u8; 16] = b"\x20LVM2\x20x[5A%r0N*>";
/// Volume group names are short; this is plenty to find the end of one.
const NAME_WINDOW: usize = 256;

struct Label {
    sector: u64,
    crc: u32,
    pv_header_offset: u32,
}

fn label(sector: &[u8]) -> Parsed<'_, Label> {
    let (rest, (_, sector_number, crc, pv_header_offset, _)) = (
        tag(&LABEL_ID[..]),
        le_u64,
        le_u32,
        le_u32,
        tag(&LABEL_TYPE[..]),
    )
        .parse(sector)?;
    Ok((
        rest,
        Label {
            sector: sector_number,
            crc,
            pv_header_offset,
        },
    ))
}

struct PvHeader {
    uuid: [u8; 32],
    device_size: u64,
    first_metadata_area: Option<u64>,
}

/// The PV header: UUID, size, then two zero-terminated lists of (offset, size) disk areas, data
/// areas first and metadata areas second.
fn pv_header(input: &[u8]) -> Parsed<'_, PvHeader> {
    let (mut rest, (uuid, device_size)) = (array::<32>, le_u64).parse(input)?;
    let mut lists: [Vec<u64>; 2] = [Vec::new(), Vec::new()];
    for list in &mut lists {
        loop {
            let (next, (offset, size)) = (le_u64, le_u64).parse(rest)?;
            rest = next;
            if offset == 0 && size == 0 {
                break;
            }
            list.push(offset);
        }
    }
    let [_, metadata_areas] = lists;
    Ok((
        rest,
        PvHeader {
            uuid,
            device_size,
            first_metadata_area: metadata_areas.first().copied(),
        },
    ))
}

/// The metadata area header: where the current metadata text starts, relative to the area.
fn metadata_text_offset(input: &[u8]) -> Parsed<'_, u64> {
    let (rest, (_, _, _, _, _, text_offset)) =
        (skip(4), tag(&MDA_MAGIC[..]), le_u32, le_u64, le_u64, le_u64).parse(input)?;
    Ok((rest, text_offset))
}

fn volume_group_name(text: &[u8]) -> Parsed<'_, String> {
    let (rest, name) = take_while1(|byte: u8| {
        byte.is_ascii_alphanumeric() || matches!(byte, b'+' | b'_' | b'.' | b'-')
    })(text)?;
    let (rest, _) = tag(&b" {"[..])(rest)?;
    Ok((rest, String::from_utf8_lossy(name).into_owned()))
}

fn read_volume_group(device: &DeviceWindow, metadata_area: u64) -> Option<String> {
    let header = device.bytes(metadata_area, 512)?;
    let (_, text_offset) = metadata_text_offset(header).ok()?;
    if text_offset == 0 {
        return None;
    }
    let text = device.bytes_up_to(metadata_area.checked_add(text_offset)?, NAME_WINDOW)?;
    volume_group_name(text).ok().map(|(_, name)| name)
}

/// blkid prints the 32 UUID characters in groups of 6-4-4-4-4-4-6.
fn format_pv_uuid(uuid: &[u8; 32]) -> String {
    let text = String::from_utf8_lossy(uuid);
    let mut formatted = String::with_capacity(38);
    for (index, character) in text.chars().enumerate() {
        if matches!(index, 6 | 10 | 14 | 18 | 22 | 26) {
            formatted.push('-');
        }
        formatted.push(character);
    }
    formatted
}

pub(super) fn probe(device: &DeviceWindow) -> Option<Signature> {
    (0..4).find_map(|sector| probe_sector(device, sector))
}

fn probe_sector(device: &DeviceWindow, sector_number: u64) -> Option<Signature> {
    let start = sector_number * SECTOR;
    let sector = device.bytes(start, SECTOR as usize)?;
    let (_, label) = label(sector).ok()?;
    if label.sector != sector_number || lvm2_crc(sector.get(CRC_FROM..)?) != label.crc {
        return None;
    }
    let header_bytes = sector.get(label.pv_header_offset as usize..)?;
    let (_, header) = pv_header(header_bytes).ok()?;
    let volume_group = header
        .first_metadata_area
        .and_then(|area| read_volume_group(device, area));
    let group = match volume_group {
        Some(name) => format!("volume group {name}"),
        None => "no volume group metadata in the probed window".to_owned(),
    };
    Some(Signature {
        kind: SignatureKind::Lvm2,
        offset: start + TYPE_OFFSET,
        label: None,
        uuid: Some(format_pv_uuid(&header.uuid)),
        detail: Some(format!(
            "LVM2 physical volume, label in sector {sector_number}, {} device, {group}",
            human_size(header.device_size)
        )),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A PV as pvcreate + vgcreate lay it out (label in sector 1, metadata area at 4 KiB, text at
    /// +512), built from LVM2's layout.h.
    fn physical_volume(vg_text: &[u8]) -> Vec<u8> {
        let mut device = vec![0u8; 64 * 1024];
        let label = 512;
        device[label..label + 8].copy_from_slice(LABEL_ID);
        device[label + 8..label + 16].copy_from_slice(&1u64.to_le_bytes());
        device[label + 20..label + 24].copy_from_slice(&32u32.to_le_bytes());
        device[label + 24..label + 32].copy_from_slice(LABEL_TYPE);
        let pv = label + 32;
        device[pv..pv + 32].copy_from_slice(b"2npLMJ7ra4F7XA5JuB9EsUpfe4lTlQAF");
        device[pv + 32..pv + 40].copy_from_slice(&(300u64 << 20).to_le_bytes());
        device[pv + 40..pv + 48].copy_from_slice(&(1u64 << 20).to_le_bytes());
        // data area list ends at pv + 56; metadata list: one area at 4096
        device[pv + 72..pv + 80].copy_from_slice(&4096u64.to_le_bytes());
        device[pv + 80..pv + 88].copy_from_slice(&(1u64 << 20).to_le_bytes());
        let crc = lvm2_crc(&device[label + 20..label + 512]);
        device[label + 16..label + 20].copy_from_slice(&crc.to_le_bytes());
        device[4096 + 4..4096 + 20].copy_from_slice(MDA_MAGIC);
        device[4096 + 40..4096 + 48].copy_from_slice(&512u64.to_le_bytes());
        device[4608..4608 + vg_text.len()].copy_from_slice(vg_text);
        device
    }

    fn run(device: &[u8]) -> Option<Signature> {
        probe(&DeviceWindow::new(device, &[], 300 << 20))
    }

    #[test]
    fn reports_uuid_as_blkid_formats_it_and_the_volume_group() {
        let found = run(&physical_volume(b"phxvg {\nid = ")).expect("a PV");
        assert_eq!((found.kind, found.offset), (SignatureKind::Lvm2, 0x218));
        assert_eq!(
            found.uuid.as_deref(),
            Some("2npLMJ-7ra4-F7XA-5JuB-9EsU-pfe4-lTlQAF")
        );
        assert_eq!(
            found.detail.as_deref(),
            Some("LVM2 physical volume, label in sector 1, 300 MiB device, volume group phxvg")
        );
    }

    #[test]
    fn a_bad_label_checksum_is_not_a_pv() {
        let mut device = physical_volume(b"phxvg {");
        device[512 + 100] ^= 1;
        assert_eq!(run(&device), None);
    }
}
