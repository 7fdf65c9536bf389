//! Boot sectors of FAT, NTFS and exFAT volumes. They end in 55 AA like an MBR; the MBR probe asks
//! here first so that a partitionless FAT stick is not taken for a partition table (libblkid's
//! dos.c makes the same check through its vfat prober). [`probe`] reports the volume itself:
//! a drive formatted whole as FAT, exFAT or NTFS holds data like any other.

use nom::bytes::complete::take;
use nom::number::complete::{le_u16, le_u32, u8 as byte};
use nom::Parser;

use super::fields::{skip, Parsed};
use super::window::DeviceWindow;
use super::{Signature, SignatureKind};

/// The volume whose boot sector starts the device, at the offset of the magic wipefs erases
/// (the OEM name at byte 3 for NTFS and exFAT, the FAT type string otherwise).
pub(crate) fn probe(device: &DeviceWindow) -> Option<Signature> {
    let sector = device.bytes(0, 512)?;
    let (kind, offset) = match boot_sector_kind(sector)? {
        "NTFS" => (SignatureKind::Ntfs, 3),
        "exFAT" => (SignatureKind::Exfat, 3),
        _ if sector.get(0x52..0x57) == Some(b"FAT32") => (SignatureKind::Vfat, 0x52),
        _ => (SignatureKind::Vfat, 0x36),
    };
    Some(Signature {
        kind,
        offset,
        label: None,
        uuid: None,
        detail: None,
    })
}

const FAT12_MAX_CLUSTERS: u32 = 0xFF4;
const FAT16_MAX_CLUSTERS: u32 = 0xFFF4;
const FAT32_MAX_CLUSTERS: u32 = 0x0FFF_FFF6;

/// The BIOS parameter block fields that decide whether a sector is a FAT boot sector.
struct Bpb {
    bytes_per_sector: u16,
    sectors_per_cluster: u8,
    reserved_sectors: u16,
    fat_count: u8,
    root_entries: u16,
    total_sectors_16: u16,
    media: u8,
    fat_sectors_16: u16,
    total_sectors_32: u32,
    fat_sectors_32: u32,
}

fn bpb(sector: &[u8]) -> Parsed<'_, Bpb> {
    let (rest, (_, bytes_per_sector, sectors_per_cluster, reserved_sectors, fat_count)) =
        (skip(0x0b), le_u16, byte, le_u16, byte).parse(sector)?;
    let (rest, (root_entries, total_sectors_16, media, fat_sectors_16)) =
        (le_u16, le_u16, byte, le_u16).parse(rest)?;
    let (rest, (_, total_sectors_32, fat_sectors_32)) = (skip(8), le_u32, le_u32).parse(rest)?;
    Ok((
        rest,
        Bpb {
            bytes_per_sector,
            sectors_per_cluster,
            reserved_sectors,
            fat_count,
            root_entries,
            total_sectors_16,
            media,
            fat_sectors_16,
            total_sectors_32,
            fat_sectors_32,
        },
    ))
}

/// Which kind of volume boot sector `sector` (the device's first 512 bytes) is, if any.
pub(crate) fn boot_sector_kind(sector: &[u8]) -> Option<&'static str> {
    let (_, oem) = take::<_, _, nom::error::Error<&[u8]>>(11usize)
        .parse(sector)
        .ok()?;
    match oem.get(3..) {
        Some(b"NTFS    ") => return Some("NTFS"),
        Some(b"EXFAT   ") => return Some("exFAT"),
        _ => {}
    }
    is_fat(sector).then_some("FAT")
}

fn is_fat(sector: &[u8]) -> bool {
    let has_fat_magic = [
        (0x52, &b"MSWIN"[..]),
        (0x52, b"FAT32   "),
        (0x36, b"MSDOS"),
        (0x36, b"FAT16   "),
        (0x36, b"FAT12   "),
        (0x36, b"FAT     "),
    ]
    .iter()
    .any(|(at, magic)| sector.get(*at..at + magic.len()) == Some(*magic));
    // OS/2 tools put a FAT-like block in front of JFS and HPFS volumes.
    let foreign = [&b"JFS     "[..], b"HPFS    "]
        .iter()
        .any(|magic| sector.get(0x36..0x3e) == Some(*magic));
    if !has_fat_magic && foreign {
        return false;
    }
    let Ok((_, bpb)) = bpb(sector) else {
        return false;
    };
    bpb_is_sane(&bpb)
}

fn bpb_is_sane(bpb: &Bpb) -> bool {
    let sector_size = u32::from(bpb.bytes_per_sector);
    if bpb.fat_count == 0
        || bpb.reserved_sectors == 0
        || !(bpb.media == 0xf0 || bpb.media >= 0xf8)
        || !bpb.sectors_per_cluster.is_power_of_two()
        || !sector_size.is_power_of_two()
        || !(512..=4096).contains(&sector_size)
    {
        return false;
    }
    let total_sectors = if bpb.total_sectors_16 == 0 {
        bpb.total_sectors_32
    } else {
        u32::from(bpb.total_sectors_16)
    };
    let fat_sectors = if bpb.fat_sectors_16 == 0 {
        bpb.fat_sectors_32
    } else {
        u32::from(bpb.fat_sectors_16)
    };
    let root_dir_sectors = (u32::from(bpb.root_entries) * 32).div_ceil(sector_size);
    let Some(clusters) = fat_sectors
        .checked_mul(u32::from(bpb.fat_count))
        .and_then(|fats| fats.checked_add(u32::from(bpb.reserved_sectors)))
        .and_then(|meta| meta.checked_add(root_dir_sectors))
        .and_then(|meta| total_sectors.checked_sub(meta))
        .map(|data| data / u32::from(bpb.sectors_per_cluster))
    else {
        return false;
    };
    let max_clusters = if bpb.fat_sectors_16 == 0 && bpb.fat_sectors_32 != 0 {
        FAT32_MAX_CLUSTERS
    } else if clusters > FAT12_MAX_CLUSTERS {
        FAT16_MAX_CLUSTERS
    } else {
        FAT12_MAX_CLUSTERS
    };
    clusters <= max_clusters
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A FAT16 boot sector as mkfs.fat 4.2 writes it for a 300 MiB volume (fields from the FAT
    /// specification, values as `mkfs.vfat` 4.2 wrote them into the fat fixture).
    fn fat16_sector() -> Vec<u8> {
        let mut sector = vec![0u8; 512];
        sector[0..3].copy_from_slice(&[0xeb, 0x3c, 0x90]);
        sector[3..11].copy_from_slice(b"mkfs.fat");
        sector[0x0b..0x0d].copy_from_slice(&512u16.to_le_bytes());
        sector[0x0d] = 16;
        sector[0x0e..0x10].copy_from_slice(&16u16.to_le_bytes());
        sector[0x10] = 2;
        sector[0x11..0x13].copy_from_slice(&512u16.to_le_bytes());
        sector[0x15] = 0xf8;
        sector[0x16..0x18].copy_from_slice(&160u16.to_le_bytes());
        sector[0x20..0x24].copy_from_slice(&614_376u32.to_le_bytes());
        sector[0x36..0x3e].copy_from_slice(b"FAT16   ");
        sector[510..512].copy_from_slice(&[0x55, 0xaa]);
        sector
    }

    #[test]
    fn fat_ntfs_and_exfat_boot_sectors_are_recognised() {
        assert_eq!(boot_sector_kind(&fat16_sector()), Some("FAT"));
        let mut ntfs = vec![0u8; 512];
        ntfs[3..11].copy_from_slice(b"NTFS    ");
        assert_eq!(boot_sector_kind(&ntfs), Some("NTFS"));
        let mut exfat = vec![0u8; 512];
        exfat[3..11].copy_from_slice(b"EXFAT   ");
        assert_eq!(boot_sector_kind(&exfat), Some("exFAT"));
        for (sector, kind) in [
            (fat16_sector(), SignatureKind::Vfat),
            (ntfs, SignatureKind::Ntfs),
            (exfat, SignatureKind::Exfat),
        ] {
            let tail = vec![0u8; 512];
            let found = probe(&DeviceWindow::new(&sector, &tail, 1 << 30)).map(|s| s.kind);
            assert_eq!(found, Some(kind));
        }
    }

    #[test]
    fn a_partition_table_sector_is_not_a_boot_sector() {
        let mut mbr = vec![0u8; 512];
        mbr[446 + 4] = 0x83;
        mbr[510..512].copy_from_slice(&[0x55, 0xaa]);
        assert_eq!(boot_sector_kind(&mbr), None);
    }

    #[test]
    fn an_insane_bpb_is_not_fat() {
        let mut sector = fat16_sector();
        sector[0x36..0x3e].copy_from_slice(b"JFS     ");
        sector[0x10] = 0;
        assert_eq!(boot_sector_kind(&sector), None);
    }
}
