//! GUID partition tables: the primary header at LBA 1 and its backup at the last LBA (UEFI 2.10,
//! section 5.3), each with its partition entry array.
//!
//! Unlike blkid, a GPT is reported even without a protective MBR in front of it: a disk whose
//! sector 0 was wiped still holds its partitions, and this probe decides whether a disk is empty.

use nom::bytes::complete::tag;
use nom::number::complete::{le_u32, le_u64};
use nom::Parser;

use super::checksum::crc32;
use super::fields::{array, skip, Parsed};
use super::partition_types::{gpt_type_name, ZFS_DATA, ZFS_RESERVED};
use super::text::{efi_guid, human_size};
use super::window::DeviceWindow;
use super::{Extent, PartitionSource, Signature, SignatureKind, TablePartition};

const SIGNATURE: &[u8; 8] = b"EFI PART";
/// The header fields up to the entry array checksum; the rest of the block is reserved.
const MIN_HEADER_SIZE: u32 = 92;
/// Offset of the header checksum, which is zero while the checksum is computed.
const HEADER_CRC_OFFSET: usize = 16;
const MIN_ENTRY_SIZE: u32 = 128;
/// Entry arrays larger than this cannot be in the probed MiB anyway.
const MAX_ENTRY_ARRAY: u64 = 1024 * 1024;

struct Header {
    header_size: u32,
    header_crc: u32,
    my_lba: u64,
    alternate_lba: u64,
    first_usable_lba: u64,
    last_usable_lba: u64,
    disk_guid: [u8; 16],
    entries_lba: u64,
    entry_count: u32,
    entry_size: u32,
    entries_crc: u32,
}

fn header(input: &[u8]) -> Parsed<'_, Header> {
    let (rest, (_, _revision, header_size, header_crc, _, my_lba, alternate_lba)) = (
        tag(&SIGNATURE[..]),
        le_u32,
        le_u32,
        le_u32,
        skip(4),
        le_u64,
        le_u64,
    )
        .parse(input)?;
    let (rest, (first_usable_lba, last_usable_lba, disk_guid, entries_lba)) =
        (le_u64, le_u64, array::<16>, le_u64).parse(rest)?;
    let (rest, (entry_count, entry_size, entries_crc)) = (le_u32, le_u32, le_u32).parse(rest)?;
    Ok((
        rest,
        Header {
            header_size,
            header_crc,
            my_lba,
            alternate_lba,
            first_usable_lba,
            last_usable_lba,
            disk_guid,
            entries_lba,
            entry_count,
            entry_size,
            entries_crc,
        },
    ))
}

struct Partition {
    number: u32,
    type_guid: String,
    first_lba: u64,
    last_lba: u64,
    name: String,
}

impl Partition {
    fn key(&self) -> (u32, String, u64, u64) {
        (
            self.number,
            self.type_guid.clone(),
            self.first_lba,
            self.last_lba,
        )
    }
}

fn entry(input: &[u8]) -> Parsed<'_, ([u8; 16], u64, u64, [u8; 72])> {
    let (rest, (type_guid, _unique_guid, first_lba, last_lba, _attributes, name)) = (
        array::<16>,
        array::<16>,
        le_u64,
        le_u64,
        le_u64,
        array::<72>,
    )
        .parse(input)?;
    Ok((rest, (type_guid, first_lba, last_lba, name)))
}

fn utf16le_name(raw: &[u8; 72]) -> String {
    let units = raw
        .chunks_exact(2)
        .map(|pair| u16::from_le_bytes([pair[0], pair[1]]))
        .take_while(|&unit| unit != 0);
    char::decode_utf16(units)
        .map(|unit| unit.unwrap_or(char::REPLACEMENT_CHARACTER))
        .collect()
}

/// One header copy that passed every check.
struct Table {
    header: Header,
    lba: u64,
    /// The used partition entries, or why they could not be read.
    partitions: Result<Vec<Partition>, String>,
}

/// What is at one of the two header positions.
enum Copy {
    Valid(Table),
    /// "EFI PART" is there but the header fails a check; says which.
    Damaged(String),
    Absent,
}

fn read_copy(device: &DeviceWindow, lba: u64, block_size: u32, last_lba: u64) -> Copy {
    let Some(block) = lba
        .checked_mul(u64::from(block_size))
        .and_then(|offset| device.bytes(offset, block_size as usize))
    else {
        return Copy::Absent;
    };
    if !block.starts_with(SIGNATURE) {
        return Copy::Absent;
    }
    match check_header(block, lba, block_size, last_lba) {
        Ok(header) => {
            let partitions = read_partitions(device, &header, block_size);
            Copy::Valid(Table {
                header,
                lba,
                partitions,
            })
        }
        Err(problem) => Copy::Damaged(problem),
    }
}

fn check_header(block: &[u8], lba: u64, block_size: u32, last_lba: u64) -> Result<Header, String> {
    let (_, header) = header(block).map_err(|_| "header is truncated".to_owned())?;
    if header.header_size < MIN_HEADER_SIZE || header.header_size > block_size {
        return Err(format!(
            "header size {} is outside {MIN_HEADER_SIZE}..={block_size}",
            header.header_size
        ));
    }
    let covered = block
        .get(..header.header_size as usize)
        .ok_or("header is truncated")?;
    let before_crc = covered.get(..HEADER_CRC_OFFSET).unwrap_or_default();
    let after_crc = covered.get(HEADER_CRC_OFFSET + 4..).unwrap_or_default();
    let computed = crc32(&[before_crc, &[0; 4], after_crc]);
    if computed != header.header_crc {
        return Err(format!(
            "header checksum mismatch (stored {:#010x}, computed {computed:#010x})",
            header.header_crc
        ));
    }
    if header.my_lba != lba {
        return Err(format!(
            "header says it is at LBA {} but was found at LBA {lba}",
            header.my_lba
        ));
    }
    let usable = header.first_usable_lba..=header.last_usable_lba;
    if usable.is_empty() || header.last_usable_lba > last_lba {
        return Err(format!(
            "usable LBA range {}..={} does not fit the device (last LBA {last_lba})",
            header.first_usable_lba, header.last_usable_lba
        ));
    }
    if header.first_usable_lba < lba && lba < header.last_usable_lba {
        return Err(format!("header at LBA {lba} lies inside the usable range"));
    }
    if header.entry_size < MIN_ENTRY_SIZE || !header.entry_size.is_power_of_two() {
        return Err(format!(
            "partition entry size {} is not 128 times a power of two",
            header.entry_size
        ));
    }
    if header.entry_count == 0 {
        return Err("header declares no partition entries".to_owned());
    }
    Ok(header)
}

fn read_partitions(
    device: &DeviceWindow,
    header: &Header,
    block_size: u32,
) -> Result<Vec<Partition>, String> {
    let array_len = u64::from(header.entry_count) * u64::from(header.entry_size);
    let entries = header
        .entries_lba
        .checked_mul(u64::from(block_size))
        .filter(|_| array_len <= MAX_ENTRY_ARRAY)
        .and_then(|offset| device.bytes(offset, array_len as usize))
        .ok_or_else(|| {
            format!(
                "partition entries ({} x {} bytes at LBA {}) are outside the probed window",
                header.entry_count, header.entry_size, header.entries_lba
            )
        })?;
    let computed = crc32(&[entries]);
    if computed != header.entries_crc {
        return Err(format!(
            "partition entry array is damaged (checksum stored {:#010x}, computed {computed:#010x})",
            header.entries_crc
        ));
    }
    let mut partitions = Vec::new();
    for (number, raw) in (1u32..).zip(entries.chunks_exact(header.entry_size as usize)) {
        let Ok((_, (type_guid, first_lba, last_lba, name))) = entry(raw) else {
            continue;
        };
        if type_guid == [0; 16] {
            continue;
        }
        partitions.push(Partition {
            number,
            type_guid: efi_guid(&type_guid),
            first_lba,
            last_lba,
            name: utf16le_name(&name),
        });
    }
    Ok(partitions)
}

/// What the two GPT positions of a device hold, read with one block size.
struct Tables {
    block_size: u32,
    /// The block size the device reports, when the tables were found with another one.
    reported_block_size: Option<u32>,
    primary: Copy,
    backup: Copy,
    /// Entry arrays at the places a header points to, with no valid header describing them.
    orphans: Vec<OrphanArray>,
}

/// A partition entry array with no valid header in front of it: `wipefs --all` erases the
/// "EFI PART" magic of both headers and leaves the arrays, and with them every partition.
struct OrphanArray {
    lba: u64,
    partitions: Vec<Partition>,
    /// A valid copy lists the same partitions (the other copy of a table whose header was
    /// damaged): its bytes are accounted for, and it says nothing new.
    repeats_a_valid_copy: bool,
}

impl Tables {
    fn is_empty(&self) -> bool {
        !matches!(self.primary, Copy::Valid(_))
            && !matches!(self.backup, Copy::Valid(_))
            && self.orphans.is_empty()
    }
}

/// The tables of a device: with the block size it reports, else (an image copied from a disk
/// with other sectors still carries its GPT at that disk's LBA 1) with the other common one.
fn tables(device: &DeviceWindow, logical_block_size: u32) -> Option<Tables> {
    let reported = valid_block_size(logical_block_size);
    let found = read_tables(device, reported, None)?;
    if !found.is_empty() {
        return Some(found);
    }
    [512, 4096]
        .into_iter()
        .filter(|&other| other != reported)
        .filter_map(|other| read_tables(device, other, Some(reported)))
        .find(|tables| !tables.is_empty())
        .or(Some(found))
}

fn read_tables(
    device: &DeviceWindow,
    block_size: u32,
    reported_block_size: Option<u32>,
) -> Option<Tables> {
    let blocks = device.size() / u64::from(block_size);
    if blocks < 3 {
        return None;
    }
    let last_lba = blocks - 1;
    let primary = read_copy(device, 1, block_size, last_lba);
    let mut backup = read_copy(device, last_lba, block_size, last_lba);
    if let (Copy::Valid(table), Copy::Absent) = (&primary, &backup) {
        let alternate = table.header.alternate_lba;
        if alternate != last_lba && alternate > 1 && alternate <= last_lba {
            backup = read_copy(device, alternate, block_size, last_lba);
        }
    }
    let array_blocks = STANDARD_ARRAY_BYTES / u64::from(block_size);
    let described: Vec<u64> = [&primary, &backup]
        .into_iter()
        .filter_map(|copy| match copy {
            Copy::Valid(table) => Some(table.header.entries_lba),
            _ => None,
        })
        .collect();
    let valid_lists: Vec<Vec<(u32, String, u64, u64)>> = [&primary, &backup]
        .into_iter()
        .filter_map(|copy| match copy {
            Copy::Valid(Table {
                partitions: Ok(partitions),
                ..
            }) => Some(partitions.iter().map(Partition::key).collect()),
            _ => None,
        })
        .collect();
    let orphans = [2, last_lba.saturating_sub(array_blocks)]
        .into_iter()
        .filter(|lba| *lba > 1 && !described.contains(lba))
        .filter_map(|lba| orphan_array(device, lba, block_size, last_lba))
        .map(|mut orphan| {
            let key: Vec<_> = orphan.partitions.iter().map(Partition::key).collect();
            orphan.repeats_a_valid_copy = valid_lists.contains(&key);
            orphan
        })
        .collect();
    Some(Tables {
        block_size,
        reported_block_size,
        primary,
        backup,
        orphans,
    })
}

/// The entry array every partitioning tool writes: 128 entries of 128 bytes.
const STANDARD_ARRAY_BYTES: u64 = 128 * 128;

/// The used entries of a standard entry array at `lba`, when they all describe partitions that
/// fit the device: random bytes never do, so an array is recognised by its entries alone.
fn orphan_array(
    device: &DeviceWindow,
    lba: u64,
    block_size: u32,
    last_lba: u64,
) -> Option<OrphanArray> {
    let bytes = device.bytes(
        lba.checked_mul(u64::from(block_size))?,
        STANDARD_ARRAY_BYTES as usize,
    )?;
    let mut partitions = Vec::new();
    for (number, raw) in (1u32..).zip(bytes.chunks_exact(MIN_ENTRY_SIZE as usize)) {
        let (_, (type_guid, first_lba, entry_last_lba, name)) = entry(raw).ok()?;
        if type_guid == [0; 16] {
            if raw.iter().any(|&b| b != 0) {
                return None;
            }
            continue;
        }
        if first_lba < 2 || first_lba > entry_last_lba || entry_last_lba > last_lba {
            return None;
        }
        partitions.push(Partition {
            number,
            type_guid: efi_guid(&type_guid),
            first_lba,
            last_lba: entry_last_lba,
            name: utf16le_name(&name),
        });
    }
    (!partitions.is_empty()).then_some(OrphanArray {
        lba,
        partitions,
        repeats_a_valid_copy: false,
    })
}

pub(super) fn probe(device: &DeviceWindow, logical_block_size: u32) -> Vec<Signature> {
    let Some(tables) = tables(device, logical_block_size) else {
        return Vec::new();
    };
    let block_size = tables.block_size;
    let sector_note = tables.reported_block_size.map(|reported| {
        format!(
            "found with {block_size}-byte sectors although the device reports {reported}-byte sectors"
        )
    });
    let mut found = Vec::new();
    if let Copy::Valid(table) = &tables.primary {
        let backup_state = match &tables.backup {
            Copy::Valid(backup) => format!("backup header at LBA {} is valid", backup.lba),
            Copy::Damaged(problem) => format!("backup header damaged: {problem}"),
            Copy::Absent => format!(
                "no backup header at LBA {} (the last LBA)",
                table.header.alternate_lba
            ),
        };
        let partitions = describe_partitions(table, block_size);
        let notes = [Some(partitions), Some(backup_state), sector_note.clone()];
        found.push(table_signature(
            SignatureKind::Gpt,
            table,
            block_size,
            notes,
        ));
    }
    if let Copy::Valid(table) = &tables.backup {
        let partitions = describe_partitions(table, block_size);
        let (partitions, primary_state) = match &tables.primary {
            Copy::Valid(primary) if describe_partitions(primary, block_size) == partitions => (
                None,
                "backup copy of the primary header, same partitions".to_owned(),
            ),
            Copy::Valid(_) => (
                Some(partitions),
                "backup header differs from the primary".to_owned(),
            ),
            Copy::Damaged(problem) => (
                Some(partitions),
                format!("backup header only: primary damaged: {problem}"),
            ),
            Copy::Absent => (
                Some(partitions),
                "backup header only: no primary header at LBA 1".to_owned(),
            ),
        };
        let notes = [partitions, Some(primary_state), sector_note.clone()];
        found.push(table_signature(
            SignatureKind::GptBackup,
            table,
            block_size,
            notes,
        ));
    }
    for orphan in tables.orphans.iter().filter(|o| !o.repeats_a_valid_copy) {
        let mut lines: Vec<String> = orphan
            .partitions
            .iter()
            .map(|partition| describe_partition(partition, block_size))
            .collect();
        lines.insert(
            0,
            "partition entries with no valid GPT header (erased or damaged): the partitions and what they hold are still there".to_owned(),
        );
        lines.extend(sector_note.clone());
        found.push(Signature {
            kind: SignatureKind::GptEntries,
            offset: orphan.lba.saturating_mul(u64::from(block_size)),
            label: None,
            uuid: None,
            detail: Some(lines.join("; ")),
        });
    }
    found
}

/// Where a table says a partition lies on the device, and which table says so.
pub(super) fn partitions(device: &DeviceWindow, logical_block_size: u32) -> Vec<TablePartition> {
    let Some(tables) = tables(device, logical_block_size) else {
        return Vec::new();
    };
    let block = u64::from(tables.block_size);
    let extent = |partition: &Partition| Extent {
        offset: partition.first_lba.saturating_mul(block),
        len: (partition.last_lba.saturating_sub(partition.first_lba) + 1).saturating_mul(block),
    };
    let mut listed = Vec::new();
    let copies = [
        (&tables.primary, PartitionSource::Gpt),
        (&tables.backup, PartitionSource::GptBackup),
    ];
    for (copy, source) in copies {
        if let Copy::Valid(Table {
            partitions: Ok(partitions),
            ..
        }) = copy
        {
            listed.extend(partitions.iter().map(|p| TablePartition {
                number: p.number,
                extent: extent(p),
                source,
            }));
        }
    }
    for orphan in tables.orphans.iter().filter(|o| !o.repeats_a_valid_copy) {
        listed.extend(orphan.partitions.iter().map(|p| TablePartition {
            number: p.number,
            extent: extent(p),
            source: PartitionSource::GptEntries,
        }));
    }
    listed
}

/// The bytes the GPT structures occupy: each valid header's block and its entry array, and
/// each entry array found without a header.
pub(super) fn structures(device: &DeviceWindow, logical_block_size: u32) -> Vec<Extent> {
    let Some(tables) = tables(device, logical_block_size) else {
        return Vec::new();
    };
    let block = u64::from(tables.block_size);
    let mut claimed = Vec::new();
    for copy in [&tables.primary, &tables.backup] {
        if let Copy::Valid(table) = copy {
            claimed.push(Extent {
                offset: table.lba.saturating_mul(block),
                len: block,
            });
            let array = u64::from(table.header.entry_count) * u64::from(table.header.entry_size);
            claimed.push(Extent {
                offset: table.header.entries_lba.saturating_mul(block),
                len: array.div_ceil(block) * block,
            });
        }
    }
    for orphan in &tables.orphans {
        claimed.push(Extent {
            offset: orphan.lba.saturating_mul(block),
            len: STANDARD_ARRAY_BYTES,
        });
    }
    claimed
}

/// Whether the device holds exactly the table `zpool create` writes on a whole disk, in both
/// copies: partition 1 (ZFS data, named `zfs-` and 16 hex digits) from 1 MiB, partition 9 (8 MiB
/// reserved) right after it, nothing else.
pub(super) fn is_zpool_whole_disk_table(device: &DeviceWindow, logical_block_size: u32) -> bool {
    let Some(tables) = tables(device, logical_block_size) else {
        return false;
    };
    let (
        Copy::Valid(Table {
            partitions: Ok(primary),
            ..
        }),
        Copy::Valid(Table {
            partitions: Ok(backup),
            ..
        }),
    ) = (&tables.primary, &tables.backup)
    else {
        return false;
    };
    if !tables.orphans.is_empty() || tables.reported_block_size.is_some() {
        return false;
    }
    let block = u64::from(tables.block_size);
    let same = |a: &Partition, b: &Partition| {
        (a.number, &a.type_guid, a.first_lba, a.last_lba, &a.name)
            == (b.number, &b.type_guid, b.first_lba, b.last_lba, &b.name)
    };
    if primary.len() != backup.len() || !primary.iter().zip(backup).all(|(a, b)| same(a, b)) {
        return false;
    }
    let [data, reserved] = primary.as_slice() else {
        return false;
    };
    let zfs_name = data
        .name
        .strip_prefix("zfs-")
        .is_some_and(|hex| hex.len() == 16 && hex.bytes().all(|b| b.is_ascii_hexdigit()));
    let data_start =
        data.first_lba == ZPOOL_START_BLOCK || data.first_lba.saturating_mul(block) == 1 << 20;
    let reserved_len = reserved.last_lba.saturating_sub(reserved.first_lba) + 1;
    (data.number, reserved.number) == (1, 9)
        && data.type_guid == ZFS_DATA
        && reserved.type_guid == ZFS_RESERVED
        && zfs_name
        && reserved.name.is_empty()
        && data_start
        && reserved.first_lba == data.last_lba.saturating_add(1)
        && (reserved_len == ZPOOL_RESERVED_BLOCKS || reserved_len.saturating_mul(block) == 8 << 20)
}

/// libzfs's NEW_START_BLOCK and EFI_MIN_RESV_SIZE, in the disk's blocks (zpool_label_disk).
const ZPOOL_START_BLOCK: u64 = 2048;
const ZPOOL_RESERVED_BLOCKS: u64 = 16 * 1024;

fn valid_block_size(logical_block_size: u32) -> u32 {
    if logical_block_size.is_power_of_two() && (512..=65536).contains(&logical_block_size) {
        logical_block_size
    } else {
        512
    }
}

fn table_signature(
    kind: SignatureKind,
    table: &Table,
    block_size: u32,
    notes: [Option<String>; 3],
) -> Signature {
    let detail: Vec<String> = notes.into_iter().flatten().collect();
    Signature {
        kind,
        offset: table.lba.saturating_mul(u64::from(block_size)),
        label: None,
        uuid: Some(efi_guid(&table.header.disk_guid)),
        detail: Some(detail.join("; ")),
    }
}

fn describe_partitions(table: &Table, block_size: u32) -> String {
    let partitions = match &table.partitions {
        Ok(partitions) => partitions,
        Err(problem) => return problem.clone(),
    };
    if partitions.is_empty() {
        return "no partitions".to_owned();
    }
    let mut lines: Vec<String> = partitions
        .iter()
        .map(|partition| describe_partition(partition, block_size))
        .collect();
    if let Some(note) = zfs_note(partitions, block_size) {
        lines.push(note);
    }
    lines.join("; ")
}

fn describe_partition(partition: &Partition, block_size: u32) -> String {
    let type_name = gpt_type_name(&partition.type_guid)
        .map(str::to_owned)
        .unwrap_or_else(|| format!("type {}", partition.type_guid));
    let name = if partition.name.is_empty() {
        String::new()
    } else {
        format!(", name {}", partition.name)
    };
    let size = partition
        .last_lba
        .checked_sub(partition.first_lba)
        .and_then(|span| span.checked_add(1))
        .and_then(|blocks| blocks.checked_mul(u64::from(block_size)))
        .map(human_size)
        .unwrap_or_else(|| "invalid extent".to_owned());
    format!(
        "GPT partition {}: {type_name}{name}, LBA {}-{} ({size})",
        partition.number, partition.first_lba, partition.last_lba
    )
}

/// `zpool create` on a whole Linux disk writes partition 1 (data, from 1 MiB) and partition 9 (8 MiB
/// reserved, at the end); its labels then sit inside partition 1, beyond the probed head.
fn zfs_note(partitions: &[Partition], block_size: u32) -> Option<String> {
    let data = partitions
        .iter()
        .find(|partition| partition.type_guid == ZFS_DATA)?;
    let eight_mib_blocks = 8 * 1024 * 1024 / u64::from(block_size);
    let reserved = partitions.iter().find(|partition| {
        partition.type_guid == ZFS_RESERVED
            && partition.last_lba.saturating_sub(partition.first_lba) + 1 == eight_mib_blocks
    });
    Some(match reserved {
        Some(reserved) if data.number == 1 && reserved.number == 9 => format!(
            "whole-disk ZFS vdev layout (partitions 1 and 9 as zpool create makes them): \
             a ZFS pool member, its labels are inside partition {}",
            data.number
        ),
        _ => format!(
            "partition {} has the ZFS type: likely a ZFS pool member",
            data.number
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const LINUX_FS: [u8; 16] = [
        0xaf, 0x3d, 0xc6, 0x0f, 0x83, 0x84, 0x72, 0x47, 0x8e, 0x79, 0x3d, 0x69, 0xd8, 0x47, 0x7d,
        0xe4,
    ];

    /// A disk with GPT header copies built from UEFI 2.10 table 5-5 and one "data" partition.
    fn gpt_image(block: usize, blocks: u64, primary: bool, backup: bool) -> Vec<u8> {
        let mut image = vec![0u8; block * blocks as usize];
        let last = blocks - 1;
        let array_blocks = (128 * 128 / block) as u64;
        let (first_usable, last_usable) = (2 + array_blocks, last - 1 - array_blocks);
        let mut entries = vec![0u8; 128 * 128];
        entries[0..16].copy_from_slice(&LINUX_FS);
        entries[32..40].copy_from_slice(&first_usable.to_le_bytes());
        entries[40..48].copy_from_slice(&last_usable.to_le_bytes());
        for (i, unit) in "data".encode_utf16().enumerate() {
            entries[56 + 2 * i..58 + 2 * i].copy_from_slice(&unit.to_le_bytes());
        }
        let mut write = |lba: u64, alternate: u64, entries_lba: u64| {
            let mut header = vec![0u8; 92];
            header[0..8].copy_from_slice(SIGNATURE);
            header[8..12].copy_from_slice(&0x0001_0000u32.to_le_bytes());
            header[12..16].copy_from_slice(&92u32.to_le_bytes());
            header[24..32].copy_from_slice(&lba.to_le_bytes());
            header[32..40].copy_from_slice(&alternate.to_le_bytes());
            header[40..48].copy_from_slice(&first_usable.to_le_bytes());
            header[48..56].copy_from_slice(&last_usable.to_le_bytes());
            header[56..72].copy_from_slice(&[0x11; 16]);
            header[72..80].copy_from_slice(&entries_lba.to_le_bytes());
            header[80..84].copy_from_slice(&128u32.to_le_bytes());
            header[84..88].copy_from_slice(&128u32.to_le_bytes());
            header[88..92].copy_from_slice(&crc32(&[&entries]).to_le_bytes());
            let crc = crc32(&[&header]);
            header[16..20].copy_from_slice(&crc.to_le_bytes());
            let at = lba as usize * block;
            image[at..at + 92].copy_from_slice(&header);
            let at = entries_lba as usize * block;
            image[at..at + entries.len()].copy_from_slice(&entries);
        };
        if primary {
            write(1, last, 2);
        }
        if backup {
            write(last, 1, last - array_blocks);
        }
        image
    }

    fn run(image: &[u8], block: u32) -> Vec<Signature> {
        probe(&DeviceWindow::new(image, image, image.len() as u64), block)
    }

    #[test]
    fn primary_and_backup_are_both_reported() {
        let image = gpt_image(512, 200, true, true);
        let found = run(&image, 512);
        assert_eq!(found.len(), 2);
        assert_eq!((found[0].kind, found[0].offset), (SignatureKind::Gpt, 512));
        assert_eq!(
            (found[1].kind, found[1].offset),
            (SignatureKind::GptBackup, 199 * 512)
        );
        assert_eq!(
            found[0].uuid.as_deref(),
            Some("11111111-1111-1111-1111-111111111111")
        );
        let detail = found[0].detail.as_deref().unwrap_or_default();
        assert!(
            detail.contains("GPT partition 1: Linux filesystem, name data"),
            "{detail}"
        );
    }

    #[test]
    fn damaged_primary_leaves_the_backup_saying_so() {
        let mut image = gpt_image(512, 200, true, true);
        image[512 + 40] ^= 0xff;
        let found = run(&image, 512);
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].kind, SignatureKind::GptBackup);
        let detail = found[0].detail.as_deref().unwrap_or_default();
        assert!(
            detail.contains("primary damaged: header checksum mismatch"),
            "{detail}"
        );
    }

    #[test]
    fn four_k_sectors_put_the_header_at_4096() {
        let image = gpt_image(4096, 64, true, true);
        let found = run(&image, 4096);
        assert_eq!(found[0].offset, 4096);
        assert_eq!(found[1].offset, 63 * 4096);
        let mislabelled = run(&image, 512);
        assert_eq!(mislabelled[0].offset, 4096);
        let detail = mislabelled[0].detail.as_deref().unwrap_or_default();
        assert!(detail.contains("found with 4096-byte sectors"), "{detail}");
    }

    #[test]
    fn damaged_entry_array_is_named_in_the_detail() {
        let mut image = gpt_image(512, 200, true, false);
        image[2 * 512 + 40] ^= 0x01;
        let found = run(&image, 512);
        let detail = found[0].detail.as_deref().unwrap_or_default();
        assert!(
            detail.contains("partition entry array is damaged"),
            "{detail}"
        );
    }
}
