//! Btrfs: the primary superblock at 64 KiB (kernel fs/btrfs/ctree.h, struct btrfs_super_block).
//! Its mirrors at 64 MiB and 256 GiB are outside the probed window.

use nom::bytes::complete::tag;
use nom::number::complete::{le_u16, le_u32, le_u64};
use nom::Parser;

use super::checksum::crc32c;
use super::fields::{array, skip, Parsed};
use super::text::{human_size, nul_padded, uuid};
use super::window::DeviceWindow;
use super::{Signature, SignatureKind};

const SUPERBLOCK_OFFSET: u64 = 64 * 1024;
/// The checksum covers the 4 KiB superblock after its 32-byte checksum field.
const SUPERBLOCK_SIZE: usize = 4096;
const CHECKSUM_SIZE: usize = 32;
const MAGIC: &[u8; 8] = b"_BHRfS_M";
const MAGIC_OFFSET: u64 = SUPERBLOCK_OFFSET + 0x40;
const CSUM_TYPE_CRC32C: u16 = 0;

struct Superblock {
    stored_checksum: u32,
    fsid: [u8; 16],
    bytenr: u64,
    generation: u64,
    total_bytes: u64,
    device_count: u64,
    checksum_type: u16,
    device_uuid: [u8; 16],
    label: [u8; 256],
}

fn superblock(input: &[u8]) -> Parsed<'_, Superblock> {
    let (rest, (stored_checksum, _, fsid, bytenr, _flags, _, generation)) = (
        le_u32,
        skip(CHECKSUM_SIZE - 4),
        array::<16>,
        le_u64,
        le_u64,
        tag(&MAGIC[..]),
        le_u64,
    )
        .parse(input)?;
    // root, chunk_root, log_root, log_root_transid (4 x u64), then the sizes.
    let (rest, (_, total_bytes, _bytes_used, _root_dir, device_count)) =
        (skip(32), le_u64, le_u64, le_u64, le_u64).parse(rest)?;
    // sector/node/leaf/stripe sizes, sys_chunk_array_size, chunk_root_generation, three feature
    // words: 0x90..0xc4.
    let (rest, (_, checksum_type, _levels)) = (skip(0x34), le_u16, skip(3)).parse(rest)?;
    // dev_item: devid, total, used, io_align, io_width, sector_size, type, generation,
    // start_offset, dev_group, seek_speed, bandwidth, then its uuid and fsid.
    let (rest, (_, device_uuid, _device_fsid, label)) =
        (skip(66), array::<16>, array::<16>, array::<256>).parse(rest)?;
    Ok((
        rest,
        Superblock {
            stored_checksum,
            fsid,
            bytenr,
            generation,
            total_bytes,
            device_count,
            checksum_type,
            device_uuid,
            label,
        },
    ))
}

pub(super) fn probe(device: &DeviceWindow) -> Option<Signature> {
    let raw = device.bytes(SUPERBLOCK_OFFSET, SUPERBLOCK_SIZE)?;
    let (_, sb) = superblock(raw).ok()?;
    if sb.bytenr != SUPERBLOCK_OFFSET {
        return None;
    }
    // The other checksum types (xxhash64, sha256, blake2b) are not worth carrying; the magic at
    // its exact place and the matching bytenr already make a false match unlikely.
    let checksum = if sb.checksum_type == CSUM_TYPE_CRC32C {
        if crc32c(&[raw.get(CHECKSUM_SIZE..)?]) != sb.stored_checksum {
            return None;
        }
        "crc32c checksum verified".to_owned()
    } else {
        format!("checksum type {} not verified", sb.checksum_type)
    };
    let member = uuid(&sb.device_uuid).unwrap_or_default();
    Some(Signature {
        kind: SignatureKind::Btrfs,
        offset: MAGIC_OFFSET,
        label: nul_padded(&sb.label),
        uuid: uuid(&sb.fsid),
        detail: Some(format!(
            "Btrfs, {} over {} device(s), generation {}, this device {member}, {checksum}",
            human_size(sb.total_bytes),
            sb.device_count,
            sb.generation
        )),
    })
}
