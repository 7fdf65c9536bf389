//! XFS: the primary superblock at 0 (xfsprogs libxfs/xfs_format.h), checked for the geometry
//! consistency blkid checks and, on version 5, its CRC-32C.

use nom::bytes::complete::tag;
use nom::number::complete::{be_u16, be_u32, be_u64, u8 as byte};
use nom::Parser;

use super::checksum::crc32c;
use super::fields::{array, skip, Parsed};
use super::text::{human_size, nul_padded, uuid};
use super::window::DeviceWindow;
use super::{Signature, SignatureKind};

const MAGIC: &[u8; 4] = b"XFSB";
const CRC_OFFSET: usize = 224;
const MIN_AG_BLOCKS: u64 = 64;

struct Superblock {
    block_size: u32,
    data_blocks: u64,
    uuid: [u8; 16],
    rt_extent_blocks: u32,
    ag_blocks: u32,
    ag_count: u32,
    version: u16,
    sector_size: u16,
    inode_size: u16,
    name: [u8; 12],
    block_log: u8,
    sector_log: u8,
    inode_log: u8,
    inodes_per_block_log: u8,
    in_progress: u8,
    max_inode_percent: u8,
    crc: u32,
}

fn superblock(input: &[u8]) -> Parsed<'_, Superblock> {
    let (rest, (_, block_size, data_blocks, _, uuid, _, rt_extent_blocks, ag_blocks, ag_count)) = (
        tag(&MAGIC[..]),
        be_u32,
        be_u64,
        skip(16),
        array::<16>,
        skip(32),
        be_u32,
        be_u32,
        be_u32,
    )
        .parse(input)?;
    let (rest, (_, version, sector_size, inode_size, _, name)) =
        (skip(8), be_u16, be_u16, be_u16, skip(2), array::<12>).parse(rest)?;
    let (rest, (block_log, sector_log, inode_log, inodes_per_block_log, _, in_progress)) =
        (byte, byte, byte, byte, skip(2), byte).parse(rest)?;
    let (rest, (max_inode_percent, _, crc)) =
        (byte, skip(CRC_OFFSET - 128), nom::number::complete::le_u32).parse(rest)?;
    Ok((
        rest,
        Superblock {
            block_size,
            data_blocks,
            uuid,
            rt_extent_blocks,
            ag_blocks,
            ag_count,
            version,
            sector_size,
            inode_size,
            name,
            block_log,
            sector_log,
            inode_log,
            inodes_per_block_log,
            in_progress,
            max_inode_percent,
            crc,
        },
    ))
}

fn power_of_two_in(value: u32, log: u8, min_log: u8, max_log: u8) -> bool {
    (min_log..=max_log).contains(&log) && u64::from(value) == 1u64 << log
}

/// The geometry checks of libblkid's xfs_verify_sb, which XFS itself also makes at mount.
fn geometry_is_sane(sb: &Superblock) -> bool {
    let ag_blocks = u64::from(sb.ag_blocks);
    let ag_count = u64::from(sb.ag_count);
    let rt_extent_bytes = u64::from(sb.rt_extent_blocks) * u64::from(sb.block_size);
    sb.ag_count > 0
        && power_of_two_in(u32::from(sb.sector_size), sb.sector_log, 9, 15)
        && power_of_two_in(sb.block_size, sb.block_log, 9, 16)
        && power_of_two_in(u32::from(sb.inode_size), sb.inode_log, 8, 11)
        && sb.block_log.checked_sub(sb.inode_log) == Some(sb.inodes_per_block_log)
        && (4096..=1 << 30).contains(&rt_extent_bytes)
        && sb.max_inode_percent <= 100
        && sb.data_blocks > 0
        && sb.data_blocks <= ag_count * ag_blocks
        && sb.data_blocks >= (ag_count - 1) * ag_blocks + MIN_AG_BLOCKS
}

pub(super) fn probe(device: &DeviceWindow) -> Option<Signature> {
    let (_, sb) = superblock(device.bytes(0, CRC_OFFSET + 4)?).ok()?;
    if !geometry_is_sane(&sb) {
        return None;
    }
    let version = sb.version & 0xf;
    if version == 5 {
        let sector = device.bytes(0, usize::from(sb.sector_size))?;
        let before = sector.get(..CRC_OFFSET)?;
        let after = sector.get(CRC_OFFSET + 4..)?;
        if crc32c(&[before, &[0; 4], after]) != sb.crc {
            return None;
        }
    }
    let in_progress = if sb.in_progress != 0 {
        ", mkfs did not finish"
    } else {
        ""
    };
    let blocks = sb.data_blocks;
    Some(Signature {
        kind: SignatureKind::Xfs,
        offset: 0,
        label: nul_padded(&sb.name),
        uuid: uuid(&sb.uuid),
        detail: Some(format!(
            "XFS v{version}, {blocks} blocks of {} bytes ({}) in {} allocation groups{in_progress}",
            sb.block_size,
            human_size(blocks.saturating_mul(u64::from(sb.block_size))),
            sb.ag_count
        )),
    })
}
