//! The master boot record in sector 0: a DOS partition table, or the protective MBR in front of a
//! GPT. Both are reported at offset 510, where wipefs finds their 55 AA.

use nom::multi::count;
use nom::number::complete::{le_u32, u8 as byte};
use nom::Parser;

use super::fat::boot_sector_kind;
use super::fields::{array, skip, Parsed};
use super::partition_types::{is_mbr_extended, mbr_type_name};
use super::text::human_size;
use super::window::DeviceWindow;
use super::{Extent, PartitionSource, Signature, SignatureKind, TablePartition};

const SIGNATURE_OFFSET: u64 = 510;
const GPT_PROTECTIVE: u8 = 0xee;
/// AIX physical volumes start with this and are no DOS table (libblkid ignores them too).
const AIX_MAGIC: &[u8; 4] = b"\xc9\xc2\xd4\xc1";

struct Entry {
    number: usize,
    boot_indicator: u8,
    system_id: u8,
    first_sector: u32,
    sectors: u32,
}

struct BootRecord {
    disk_id: u32,
    entries: Vec<Entry>,
}

fn boot_record(sector: &[u8]) -> Parsed<'_, BootRecord> {
    let entry = (byte, skip(3), byte, skip(3), le_u32, le_u32);
    let (rest, (_, disk_id, _, raw_entries, magic)) =
        (skip(440), le_u32, skip(2), count(entry, 4), array::<2>).parse(sector)?;
    if magic != [0x55, 0xaa] {
        return Err(nom::Err::Error(nom::error::Error::new(
            rest,
            nom::error::ErrorKind::Tag,
        )));
    }
    let entries = raw_entries
        .into_iter()
        .enumerate()
        .map(
            |(index, (boot_indicator, _, system_id, _, first_sector, sectors))| Entry {
                number: index + 1,
                boot_indicator,
                system_id,
                first_sector,
                sectors,
            },
        )
        .collect();
    Ok((rest, BootRecord { disk_id, entries }))
}

pub(super) fn probe(device: &DeviceWindow, logical_block_size: u32) -> Option<Signature> {
    let sector = device.bytes(0, 512)?;
    let (_, record) = boot_record(sector).ok()?;
    let block_size = block_size(logical_block_size);
    let used: Vec<&Entry> = record
        .entries
        .iter()
        .filter(|entry| entry.system_id != 0 && entry.sectors != 0)
        .collect();
    if used.iter().any(|entry| entry.system_id == GPT_PROTECTIVE) {
        return Some(protective(&used, block_size));
    }
    if sector.starts_with(AIX_MAGIC) || boot_sector_kind(sector).is_some() {
        return None;
    }
    // Boot code in the table area shows up as indicators other than 0 and 0x80.
    if record
        .entries
        .iter()
        .any(|entry| entry.boot_indicator != 0 && entry.boot_indicator != 0x80)
    {
        return None;
    }
    let detail = if used.is_empty() {
        "DOS partition table with no partitions".to_owned()
    } else {
        used.iter()
            .map(|entry| describe(entry, block_size, device.size()))
            .collect::<Vec<_>>()
            .join("; ")
    };
    Some(Signature {
        kind: SignatureKind::Mbr,
        offset: SIGNATURE_OFFSET,
        label: None,
        uuid: (record.disk_id != 0).then(|| format!("{:08x}", record.disk_id)),
        detail: Some(detail),
    })
}

/// The primary partitions a DOS table (not a protective MBR) describes, where they lie.
pub(super) fn partitions(device: &DeviceWindow, logical_block_size: u32) -> Vec<TablePartition> {
    let Some(signature) = probe(device, logical_block_size) else {
        return Vec::new();
    };
    if signature.kind != SignatureKind::Mbr {
        return Vec::new();
    }
    let Some((_, record)) = device.bytes(0, 512).and_then(|s| boot_record(s).ok()) else {
        return Vec::new();
    };
    let block_size = block_size(logical_block_size);
    record
        .entries
        .iter()
        .filter(|entry| entry.system_id != 0 && entry.sectors != 0)
        .map(|entry| TablePartition {
            number: entry.number as u32,
            extent: Extent {
                offset: u64::from(entry.first_sector).saturating_mul(block_size),
                len: u64::from(entry.sectors).saturating_mul(block_size),
            },
            source: PartitionSource::Mbr,
        })
        .collect()
}

fn block_size(logical_block_size: u32) -> u64 {
    if logical_block_size.is_power_of_two() && (512..=65536).contains(&logical_block_size) {
        u64::from(logical_block_size)
    } else {
        512
    }
}

fn protective(used: &[&Entry], block_size: u64) -> Signature {
    let others: Vec<String> = used
        .iter()
        .filter(|entry| entry.system_id != GPT_PROTECTIVE)
        .map(|entry| describe(entry, block_size, u64::MAX))
        .collect();
    let detail = if others.is_empty() {
        "protective MBR for a GPT disk".to_owned()
    } else {
        format!(
            "hybrid MBR: GPT protective entry plus {}",
            others.join("; ")
        )
    };
    Signature {
        kind: SignatureKind::ProtectiveMbr,
        offset: SIGNATURE_OFFSET,
        label: None,
        uuid: None,
        detail: Some(detail),
    }
}

fn describe(entry: &Entry, block_size: u64, device_size: u64) -> String {
    let type_name = mbr_type_name(entry.system_id).unwrap_or("unknown type");
    let boot = if entry.boot_indicator == 0x80 {
        ", bootable"
    } else {
        ""
    };
    let end = (u64::from(entry.first_sector) + u64::from(entry.sectors)).saturating_mul(block_size);
    let beyond = if end > device_size {
        ", extends past the end of the device"
    } else {
        ""
    };
    let logical = if is_mbr_extended(entry.system_id) {
        ", holds logical partitions"
    } else {
        ""
    };
    format!(
        "MBR partition {}: {type_name} (0x{:02x}){boot}, sector {} + {} ({}){logical}{beyond}",
        entry.number,
        entry.system_id,
        entry.first_sector,
        entry.sectors,
        human_size(u64::from(entry.sectors).saturating_mul(block_size)),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sector_with(entries: &[(u8, u8, u32, u32)]) -> Vec<u8> {
        let mut sector = vec![0u8; 512];
        sector[440..444].copy_from_slice(&0x5eed_f00du32.to_le_bytes());
        for (i, &(boot, system_id, first, sectors)) in entries.iter().enumerate() {
            let at = 446 + 16 * i;
            sector[at] = boot;
            sector[at + 4] = system_id;
            sector[at + 8..at + 12].copy_from_slice(&first.to_le_bytes());
            sector[at + 12..at + 16].copy_from_slice(&sectors.to_le_bytes());
        }
        sector[510..512].copy_from_slice(&[0x55, 0xaa]);
        sector
    }

    fn run(sector: &[u8]) -> Option<Signature> {
        probe(&DeviceWindow::new(sector, &[], 1 << 30), 512)
    }

    #[test]
    fn dos_table_reports_disk_id_and_partitions() {
        let found = run(&sector_with(&[
            (0x80, 0x83, 2048, 204_800),
            (0, 0x8e, 206_848, 4096),
        ]));
        let found = found.expect("a DOS table");
        assert_eq!((found.kind, found.offset), (SignatureKind::Mbr, 510));
        assert_eq!(found.uuid.as_deref(), Some("5eedf00d"));
        let detail = found.detail.unwrap_or_default();
        assert!(
            detail.contains("MBR partition 1: Linux (0x83), bootable"),
            "{detail}"
        );
        assert!(
            detail.contains("MBR partition 2: Linux LVM (0x8e)"),
            "{detail}"
        );
    }

    #[test]
    fn single_0xee_entry_is_a_protective_mbr() {
        let found = run(&sector_with(&[(0, 0xee, 1, u32::MAX)])).expect("a PMBR");
        assert_eq!(found.kind, SignatureKind::ProtectiveMbr);
        assert_eq!(
            found.detail.as_deref(),
            Some("protective MBR for a GPT disk")
        );
    }

    #[test]
    fn boot_code_in_the_table_is_not_a_partition_table() {
        let mut sector = sector_with(&[(0, 0x83, 2048, 100)]);
        sector[446 + 16] = 0x3c;
        assert_eq!(run(&sector), None);
    }

    #[test]
    fn no_55aa_no_mbr() {
        let mut sector = sector_with(&[(0, 0x83, 2048, 100)]);
        sector[511] = 0;
        assert_eq!(run(&sector), None);
    }
}
