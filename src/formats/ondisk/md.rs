//! Linux software RAID (md) member superblocks, as the kernel's md_p.h and mdadm's super0.c /
//! super1.c define them: version 0.90 near the end, 1.0 at the end, 1.1 at the start and 1.2 at
//! 4 KiB.

use nom::number::complete::{be_u32, le_u32, le_u64};
use nom::Parser;

use super::fields::{array, host_u32, skip, Parsed};
use super::text::{nul_padded, uuid};
use super::window::DeviceWindow;
use super::{Signature, SignatureKind};

const MAGIC: u32 = 0xa92b_4efc;
/// Version 0.90 keeps its superblock in the last 64 KiB-aligned 64 KiB of the device.
const V0_RESERVED: u64 = 64 * 1024;
const V0_SIZE: usize = 4096;
/// The fixed part of a version-1 superblock; `max_dev` two-byte roles follow it.
const V1_FIXED_SIZE: usize = 256;
const V1_CHECKSUM_OFFSET: usize = 216;

struct SuperblockV1 {
    set_uuid: [u8; 16],
    set_name: [u8; 32],
    level: u32,
    raid_disks: u32,
    super_offset: u64,
    device_uuid: [u8; 16],
    events: u64,
    checksum: u32,
    max_dev: u32,
}

fn superblock_v1(input: &[u8]) -> Parsed<'_, SuperblockV1> {
    let (rest, (magic, major, _feature_map, _pad, set_uuid, set_name, _ctime, level)) = (
        le_u32,
        le_u32,
        le_u32,
        le_u32,
        array::<16>,
        array::<32>,
        le_u64,
        le_u32,
    )
        .parse(input)?;
    if magic != MAGIC || major != 1 {
        return Err(nom::Err::Error(nom::error::Error::new(
            input,
            nom::error::ErrorKind::Tag,
        )));
    }
    let (rest, (_layout, _size, _chunk, raid_disks, _rest_of_array_info)) =
        (le_u32, le_u64, le_u32, le_u32, skip(32)).parse(rest)?;
    let (rest, (_data_offset, _data_size, super_offset, _recovery, _dev_number, _corrected)) =
        (le_u64, le_u64, le_u64, le_u64, le_u32, le_u32).parse(rest)?;
    let (rest, (device_uuid, _flags_and_pad, _utime, events, _resync, checksum, max_dev)) =
        (array::<16>, skip(8), le_u64, le_u64, le_u64, le_u32, le_u32).parse(rest)?;
    Ok((
        rest,
        SuperblockV1 {
            set_uuid,
            set_name,
            level,
            raid_disks,
            super_offset,
            device_uuid,
            events,
            checksum,
            max_dev,
        },
    ))
}

/// mdadm's calc_sb_1_csum: a 64-bit sum of little-endian words over the superblock and its role
/// table with the checksum field taken as zero, folded to 32 bits.
fn v1_checksum(superblock: &[u8]) -> u32 {
    let mut sum: u64 = 0;
    let mut words = superblock.chunks_exact(4);
    for (index, word) in words.by_ref().enumerate() {
        if index * 4 != V1_CHECKSUM_OFFSET {
            sum += u64::from(u32::from_le_bytes([word[0], word[1], word[2], word[3]]));
        }
    }
    if let [low, high] = words.remainder() {
        sum += u64::from(u16::from_le_bytes([*low, *high]));
    }
    ((sum & 0xffff_ffff) + (sum >> 32)) as u32
}

fn probe_v1(device: &DeviceWindow, offset: u64, version: &str) -> Option<Signature> {
    let fixed = device.bytes(offset, V1_FIXED_SIZE)?;
    let (_, superblock) = superblock_v1(fixed).ok()?;
    if superblock.super_offset != offset / 512 {
        return None;
    }
    let roles_len = usize::try_from(superblock.max_dev).ok()?.checked_mul(2)?;
    let covered_len = V1_FIXED_SIZE.checked_add(roles_len)?;
    let covered = device.bytes(offset, covered_len)?;
    if v1_checksum(covered) != superblock.checksum {
        return None;
    }
    let sub_uuid = uuid(&superblock.device_uuid).unwrap_or_default();
    Some(Signature {
        kind: SignatureKind::MdRaid,
        offset,
        label: nul_padded(&superblock.set_name),
        uuid: uuid(&superblock.set_uuid),
        detail: Some(format!(
            "md superblock {version}, {}, {} devices, events {}, this member {sub_uuid}",
            level_name(superblock.level),
            superblock.raid_disks,
            superblock.events
        )),
    })
}

fn level_name(level: u32) -> String {
    match level as i32 {
        -4 => "multipath".to_owned(),
        -1 => "linear".to_owned(),
        level => format!("raid{level}"),
    }
}

/// The first sixteen words of a 0.90 superblock, in the byte order of the host that wrote it.
struct SuperblockV0 {
    version: (u32, u32, u32),
    uuid_words: [u32; 4],
    level: u32,
    size_kib: u32,
    raid_disks: u32,
}

fn superblock_v0(input: &[u8]) -> Parsed<'_, SuperblockV0> {
    let big_endian = be_u32::<_, nom::error::Error<&[u8]>>(input)
        .map(|(_, magic)| magic == MAGIC)
        .unwrap_or(false);
    let (rest, words) = nom::multi::count(host_u32(big_endian), 16).parse(input)?;
    let mut w = [0u32; 16];
    w.iter_mut()
        .zip(words)
        .for_each(|(slot, value)| *slot = value);
    if w[0] != MAGIC {
        return Err(nom::Err::Error(nom::error::Error::new(
            input,
            nom::error::ErrorKind::Tag,
        )));
    }
    Ok((
        rest,
        SuperblockV0 {
            version: (w[1], w[2], w[3]),
            uuid_words: [w[5], w[13], w[14], w[15]],
            level: w[7],
            size_kib: w[8],
            raid_disks: w[10],
        },
    ))
}

fn probe_v0(device: &DeviceWindow) -> Option<Signature> {
    let size = device.size();
    let offset = (size - size % V0_RESERVED).checked_sub(V0_RESERVED)?;
    let (_, superblock) = superblock_v0(device.bytes(offset, V0_SIZE)?).ok()?;
    let data_size = u64::from(superblock.size_kib) * 1024;
    // The member's data must fit in front of the superblock.
    if offset < data_size || superblock.version.0 != 0 {
        return None;
    }
    let mut uuid_bytes = [0u8; 16];
    let words = if superblock.version.1 >= 90 { 4 } else { 1 };
    for (chunk, value) in uuid_bytes
        .chunks_exact_mut(4)
        .zip(superblock.uuid_words)
        .take(words)
    {
        chunk.copy_from_slice(&value.to_be_bytes());
    }
    let (major, minor, patch) = superblock.version;
    Some(Signature {
        kind: SignatureKind::MdRaid,
        offset,
        label: None,
        uuid: uuid(&uuid_bytes),
        detail: Some(format!(
            "md superblock {major}.{minor}.{patch}, {}, {} devices",
            level_name(superblock.level),
            superblock.raid_disks
        )),
    })
}

pub(super) fn probe(device: &DeviceWindow) -> Vec<Signature> {
    let size = device.size();
    let v1_0 = (size - size % 4096).checked_sub(8192);
    let candidates = [
        v1_0.and_then(|offset| probe_v1(device, offset, "1.0")),
        probe_v1(device, 0, "1.1"),
        probe_v1(device, 4096, "1.2"),
        probe_v0(device),
    ];
    candidates.into_iter().flatten().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const SET_UUID: [u8; 16] = [
        0x3b, 0x1e, 0x2a, 0x5c, 0x90, 0x11, 0x4c, 0x7d, 0xa1, 0x02, 0x66, 0x51, 0x0d, 0xe2, 0x43,
        0x88,
    ];

    /// A version-1 superblock laid out per md_p.h (struct mdp_superblock_1), with the checksum
    /// computed as mdadm's calc_sb_1_csum does. Written into an image, these bytes (and the 0.90
    /// words below) read back the same through blkid -p (util-linux 2.38.1) and, for 1.x, pass
    /// `mdadm --examine` (4.2) with "Checksum : ... - correct".
    fn superblock_1(super_offset_bytes: u64, max_dev: u32) -> Vec<u8> {
        let mut sb = vec![0u8; V1_FIXED_SIZE + max_dev as usize * 2];
        sb[0..4].copy_from_slice(&MAGIC.to_le_bytes());
        sb[4..8].copy_from_slice(&1u32.to_le_bytes());
        sb[16..32].copy_from_slice(&SET_UUID);
        sb[32..45].copy_from_slice(b"pve1:mirror0\0");
        sb[72..76].copy_from_slice(&1u32.to_le_bytes());
        sb[92..96].copy_from_slice(&2u32.to_le_bytes());
        sb[144..152].copy_from_slice(&(super_offset_bytes / 512).to_le_bytes());
        sb[168..184].copy_from_slice(&[0x42; 16]);
        sb[200..208].copy_from_slice(&17u64.to_le_bytes());
        sb[220..224].copy_from_slice(&max_dev.to_le_bytes());
        for role in sb[256..].chunks_exact_mut(2) {
            role.copy_from_slice(&0xffffu16.to_le_bytes());
        }
        let checksum = v1_checksum(&sb);
        sb[216..220].copy_from_slice(&checksum.to_le_bytes());
        sb
    }

    #[test]
    fn version_1_2_at_4k() {
        let mut head = vec![0u8; 64 * 1024];
        let sb = superblock_1(4096, 384);
        head[4096..4096 + sb.len()].copy_from_slice(&sb);
        let found = probe(&DeviceWindow::new(&head, &[], 1 << 30));
        assert_eq!(found.len(), 1);
        assert_eq!(
            (found[0].kind, found[0].offset),
            (SignatureKind::MdRaid, 4096)
        );
        assert_eq!(found[0].label.as_deref(), Some("pve1:mirror0"));
        assert_eq!(
            found[0].uuid.as_deref(),
            Some("3b1e2a5c-9011-4c7d-a102-66510de24388")
        );
        assert_eq!(
            found[0].detail.as_deref(),
            Some(
                "md superblock 1.2, raid1, 2 devices, events 17, \
                 this member 42424242-4242-4242-4242-424242424242"
            )
        );
    }

    #[test]
    fn version_1_0_at_the_end_and_checksum_guard() {
        let size: u64 = (1 << 30) + 1000;
        let offset = (1 << 30) - 8192;
        let mut tail = vec![0u8; 1 << 20];
        let tail_start = (size - (1 << 20)) as usize;
        let sb = superblock_1(offset, 4);
        let at = offset as usize - tail_start;
        tail[at..at + sb.len()].copy_from_slice(&sb);
        let found = probe(&DeviceWindow::new(&[], &tail, size));
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].offset, offset);
        tail[at + 100] ^= 1;
        assert!(probe(&DeviceWindow::new(&[], &tail, size)).is_empty());
    }

    #[test]
    fn version_0_90_near_the_end() {
        let size: u64 = (1 << 30) + 12345;
        let offset = (1 << 30) - V0_RESERVED;
        let mut tail = vec![0u8; 1 << 20];
        let at = (offset - (size - (1 << 20))) as usize;
        let words: [u32; 16] = [
            MAGIC, 0, 90, 0, 0, 0x3b1e2a5c, 0, 1, 1024, 2, 2, 0, 0, 0x90114c7d, 0xa1026651,
            0x0de24388,
        ];
        for (i, word) in words.iter().enumerate() {
            tail[at + 4 * i..at + 4 * i + 4].copy_from_slice(&word.to_le_bytes());
        }
        let found = probe(&DeviceWindow::new(&[], &tail, size));
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].offset, offset);
        assert_eq!(
            found[0].uuid.as_deref(),
            Some("3b1e2a5c-9011-4c7d-a102-66510de24388")
        );
        assert_eq!(
            found[0].detail.as_deref(),
            Some("md superblock 0.90.0, raid1, 2 devices")
        );
    }
}
