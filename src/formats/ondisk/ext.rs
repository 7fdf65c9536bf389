//! ext2, ext3 and ext4 (and external ext journals, "jbd"): the superblock at 1 KiB (e2fsprogs
//! lib/ext2fs/ext2_fs.h). Which of them a superblock is follows blkid: the journal flag and the
//! features the older drivers do not know.

use nom::number::complete::{le_u16, le_u32};
use nom::Parser;

use super::checksum::crc32c;
use super::fields::{array, skip, Parsed};
use super::text::{human_size, nul_padded, uuid};
use super::window::DeviceWindow;
use super::{Signature, SignatureKind};

const SUPERBLOCK_OFFSET: u64 = 1024;
const SUPERBLOCK_SIZE: usize = 1024;
const MAGIC: u16 = 0xef53;
/// wipefs reports the magic, 56 bytes into the superblock.
const MAGIC_OFFSET: u64 = SUPERBLOCK_OFFSET + 0x38;
const CHECKSUM_OFFSET: usize = 0x3fc;

const COMPAT_HAS_JOURNAL: u32 = 0x0004;
const INCOMPAT_RECOVER: u32 = 0x0004;
const INCOMPAT_JOURNAL_DEV: u32 = 0x0008;
const INCOMPAT_64BIT: u32 = 0x0080;
const RO_COMPAT_METADATA_CSUM: u32 = 0x0400;
/// sparse_super, large_file, btree_dir: all ext2 and ext3 drivers understand these.
const RO_COMPAT_EXT2_EXT3: u32 = 0x0007;
/// filetype, meta_bg.
const INCOMPAT_EXT2: u32 = 0x0012;
/// filetype, needs_recovery, meta_bg.
const INCOMPAT_EXT3: u32 = 0x0016;

struct Superblock {
    blocks_low: u32,
    log_block_size: u32,
    magic: u16,
    revision: u32,
    compat: u32,
    incompat: u32,
    ro_compat: u32,
    uuid: [u8; 16],
    volume_name: [u8; 16],
    blocks_high: u32,
}

fn superblock(input: &[u8]) -> Parsed<'_, Superblock> {
    let (rest, (_, blocks_low, _, log_block_size, _, magic)) =
        (skip(4), le_u32, skip(0x10), le_u32, skip(0x1c), le_u16).parse(input)?;
    let (rest, (_, revision, _, compat, incompat, ro_compat)) =
        (skip(0x12), le_u32, skip(0x0c), le_u32, le_u32, le_u32).parse(rest)?;
    let (rest, (uuid, volume_name, _, blocks_high)) =
        (array::<16>, array::<16>, skip(0xc8), le_u32).parse(rest)?;
    Ok((
        rest,
        Superblock {
            blocks_low,
            log_block_size,
            magic,
            revision,
            compat,
            incompat,
            ro_compat,
            uuid,
            volume_name,
            blocks_high,
        },
    ))
}

/// The type name blkid gives this superblock.
fn flavour(superblock: &Superblock) -> &'static str {
    if superblock.incompat & INCOMPAT_JOURNAL_DEV != 0 {
        return "jbd";
    }
    let only_old_ro_features = superblock.ro_compat & !RO_COMPAT_EXT2_EXT3 == 0;
    if superblock.compat & COMPAT_HAS_JOURNAL != 0 {
        if only_old_ro_features && superblock.incompat & !INCOMPAT_EXT3 == 0 {
            "ext3"
        } else {
            "ext4"
        }
    } else if only_old_ro_features && superblock.incompat & !INCOMPAT_EXT2 == 0 {
        "ext2"
    } else {
        "ext4"
    }
}

/// ext4's metadata_csum superblock checksum: CRC-32C seeded with ~0 and, unlike the catalogue
/// variant, never inverted at the end.
fn checksum_matches(raw: &[u8]) -> bool {
    let (Some(covered), Some(stored)) = (
        raw.get(..CHECKSUM_OFFSET),
        raw.get(CHECKSUM_OFFSET..CHECKSUM_OFFSET + 4),
    ) else {
        return false;
    };
    let stored = u32::from_le_bytes([stored[0], stored[1], stored[2], stored[3]]);
    !crc32c(&[covered]) == stored
}

pub(super) fn probe(device: &DeviceWindow) -> Option<Signature> {
    let raw = device.bytes(SUPERBLOCK_OFFSET, SUPERBLOCK_SIZE)?;
    let (_, superblock) = superblock(raw).ok()?;
    // Block sizes run from 1 KiB to 64 KiB; revisions are 0 and 1. Anything else is not ext.
    if superblock.magic != MAGIC || superblock.log_block_size > 6 || superblock.revision > 1 {
        return None;
    }
    if superblock.ro_compat & RO_COMPAT_METADATA_CSUM != 0 && !checksum_matches(raw) {
        return None;
    }
    let block_size = 1024u64 << superblock.log_block_size;
    let blocks = if superblock.incompat & INCOMPAT_64BIT != 0 {
        (u64::from(superblock.blocks_high) << 32) | u64::from(superblock.blocks_low)
    } else {
        u64::from(superblock.blocks_low)
    };
    let recovery = if superblock.incompat & INCOMPAT_RECOVER != 0 {
        ", journal needs recovery"
    } else {
        ""
    };
    Some(Signature {
        kind: SignatureKind::Ext,
        offset: MAGIC_OFFSET,
        label: nul_padded(&superblock.volume_name),
        uuid: uuid(&superblock.uuid),
        detail: Some(format!(
            "{} file system, {blocks} blocks of {block_size} bytes ({}){recovery}",
            flavour(&superblock),
            human_size(blocks.saturating_mul(block_size))
        )),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_features(compat: u32, incompat: u32, ro_compat: u32) -> Superblock {
        Superblock {
            blocks_low: 0,
            log_block_size: 0,
            magic: MAGIC,
            revision: 1,
            compat,
            incompat,
            ro_compat,
            uuid: [0; 16],
            volume_name: [0; 16],
            blocks_high: 0,
        }
    }

    // Feature sets mke2fs 1.47 uses by default for each type (misc/mke2fs.conf.in).
    #[test]
    fn flavours_follow_the_feature_flags() {
        let ext2 = with_features(0x38, 0x2, 0x3);
        let ext3 = with_features(0x3c, 0x2, 0x3);
        let ext4 = with_features(0x3c, 0x2c2, 0x46b);
        let jbd = with_features(0, INCOMPAT_JOURNAL_DEV, 0);
        let ext2_with_extents = with_features(0x38, 0x42, 0x3);
        assert_eq!(flavour(&ext2), "ext2");
        assert_eq!(flavour(&ext3), "ext3");
        assert_eq!(flavour(&ext4), "ext4");
        assert_eq!(flavour(&jbd), "jbd");
        assert_eq!(flavour(&ext2_with_extents), "ext4");
    }
}
