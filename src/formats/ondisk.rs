//! On-disk signature probe: recognises what blkid and wipefs would find on a device, from the bytes
//! read at its start and end; and ([`survey`]) the zero proof those bytes give or refuse.
//!
//! Every family lives in its own file under `ondisk/` and reads the device only through
//! [`window::DeviceWindow`], which hands out bytes by absolute device offset and refuses (returns
//! `None`) anything outside the probed head and tail. That is what keeps the probe total: damaged,
//! truncated or hostile bytes make a family report nothing, never panic.
//!
//! Offsets follow wipefs (the position of the magic it would erase), with one deliberate exception:
//! a ZFS label is reported at the start of its 256 KiB label, once per label, where wipefs reports
//! every uberblock it finds.

mod btrfs;
mod checksum;
mod ext;
mod fat;
mod fields;
mod gpt;
mod luks;
mod lvm;
mod mbr;
mod md;
mod nvlist;
mod partition_types;
mod survey;
mod swap;
mod text;
mod window;
mod xfs;
mod zfs;

pub use survey::{disk_windows, partition_windows, survey, ReadBytes, Survey};
use window::DeviceWindow;

/// How much of each end of a device the caller reads for [`probe`].
pub const PROBE_WINDOW: u64 = 1024 * 1024;

/// A range of bytes of a device, by offset from its start.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
pub struct Extent {
    pub offset: u64,
    pub len: u64,
}

impl Extent {
    pub fn end(&self) -> u64 {
        self.offset.saturating_add(self.len)
    }

    pub fn contains(&self, offset: u64) -> bool {
        self.offset <= offset && offset < self.end()
    }

    pub fn overlaps(&self, other: &Extent) -> bool {
        self.offset < other.end() && other.offset < self.end()
    }
}

/// Who says a partition is there. Spelt alike in text and JSON: `kernel`, `gpt`, `gpt-backup`,
/// `gpt-entries`, `dos` (blkid's word for a DOS table).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum PartitionSource {
    /// The kernel lists it (/sys/block/DISK/PART): it has a device node.
    Kernel,
    /// The primary GPT header's entry array.
    Gpt,
    /// The backup GPT header's entry array.
    GptBackup,
    /// A GPT entry array with no valid header in front of it.
    GptEntries,
    /// A DOS partition table's primary entry.
    #[serde(rename = "dos")]
    Mbr,
}

impl std::fmt::Display for PartitionSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            PartitionSource::Kernel => "kernel",
            PartitionSource::Gpt => "gpt",
            PartitionSource::GptBackup => "gpt-backup",
            PartitionSource::GptEntries => "gpt-entries",
            PartitionSource::Mbr => "dos",
        })
    }
}

/// A partition as a table on the disk describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TablePartition {
    pub number: u32,
    pub extent: Extent,
    pub source: PartitionSource,
}

/// One on-disk structure found on a device.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Signature {
    pub kind: SignatureKind,
    /// Byte offset of the magic/header on the device, as wipefs reports it.
    pub offset: u64,
    pub label: Option<String>,
    pub uuid: Option<String>,
    /// Extra facts a human needs (e.g. "GPT partition 1: Solaris /usr & Apple ZFS, name zfs-...",
    /// "ZFS pool tank guid 123 state EXPORTED", "backup header only: primary damaged").
    pub detail: Option<String>,
}

/// The families of on-disk structures the probe recognises. In JSON as in text, each is spelt
/// as blkid and wipefs spell it ([`SignatureKind::name`]): one word per concept everywhere.
/// The signature fixtures' expectations name the Rust variant (`gpt-backup`, `zfs-label`),
/// which the test deserializes; nothing phoenix-zfs prints does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SignatureKind {
    Gpt,
    /// The backup GPT header at the end of the disk: wipefs calls it `gpt` too; its offset tells.
    GptBackup,
    /// A GPT partition entry array whose headers are gone.
    GptEntries,
    Mbr,
    ProtectiveMbr,
    ZfsLabel,
    Lvm2,
    MdRaid,
    Luks,
    Ext,
    Xfs,
    Btrfs,
    Swap,
    Vfat,
    Exfat,
    Ntfs,
}

impl serde::Serialize for SignatureKind {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}

impl SignatureKind {
    /// The name blkid/wipefs print for this kind. `Ext` covers ext2, ext3 and ext4 (and jbd); which
    /// one it is, as blkid would decide it from the feature flags, is the first word of the detail.
    pub fn name(self) -> &'static str {
        match self {
            SignatureKind::Gpt | SignatureKind::GptBackup => "gpt",
            SignatureKind::GptEntries => "gpt-entries",
            SignatureKind::Mbr => "dos",
            SignatureKind::ProtectiveMbr => "PMBR",
            SignatureKind::ZfsLabel => "zfs_member",
            SignatureKind::Lvm2 => "LVM2_member",
            SignatureKind::MdRaid => "linux_raid_member",
            SignatureKind::Luks => "crypto_LUKS",
            SignatureKind::Ext => "ext4",
            SignatureKind::Xfs => "xfs",
            SignatureKind::Btrfs => "btrfs",
            SignatureKind::Swap => "swap",
            SignatureKind::Vfat => "vfat",
            SignatureKind::Exfat => "exfat",
            SignatureKind::Ntfs => "ntfs",
        }
    }
}

impl std::fmt::Display for SignatureKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Recognises on-disk signatures.
///
/// head = the first min(1 MiB, size) bytes of the device; tail = the last min(1 MiB, size) bytes;
/// size = device size in bytes; logical_block_size = 512 or 4096 (GPT header is at LBA 1).
/// Never panics, never errors: damaged or truncated structures are simply not reported (or reported
/// with a detail saying what is damaged, e.g. GPT primary bad but backup good).
/// Results are sorted by offset.
pub fn probe(head: &[u8], tail: &[u8], size: u64, logical_block_size: u32) -> Vec<Signature> {
    let device = DeviceWindow::new(head, tail, size);
    let mut found = Vec::new();
    found.extend(gpt::probe(&device, logical_block_size));
    found.extend(mbr::probe(&device, logical_block_size));
    found.extend(zfs::probe(&device));
    found.extend(lvm::probe(&device));
    found.extend(md::probe(&device));
    found.extend(luks::probe(&device));
    found.extend(ext::probe(&device));
    found.extend(xfs::probe(&device));
    found.extend(btrfs::probe(&device));
    found.extend(swap::probe(&device));
    found.extend(fat::probe(&device));
    found.sort_by_key(|signature| (signature.offset, signature.kind));
    found.dedup_by(|a, b| a.offset == b.offset && a.kind == b.kind);
    found
}

/// A ZFS label of `pool` as `zpool create` first writes it, for tests that build drive images.
#[cfg(test)]
pub(crate) fn zfs_label_for_tests(pool: &str, guid: u64) -> Vec<u8> {
    zfs::label_for_tests(pool, guid)
}

/// Where the partition tables in `head` and `tail` (as for [`probe`]) say partitions lie: every
/// valid GPT copy, every GPT entry array without a header, the primary entries of a DOS table.
pub fn table_partitions(
    head: &[u8],
    tail: &[u8],
    size: u64,
    logical_block_size: u32,
) -> Vec<TablePartition> {
    let device = DeviceWindow::new(head, tail, size);
    let mut listed = gpt::partitions(&device, logical_block_size);
    listed.extend(mbr::partitions(&device, logical_block_size));
    listed
}

/// Whether `head` and `tail` hold exactly the GPT `zpool create` writes on a whole disk, both
/// copies identical: partitions 1 and 9 and nothing else.
pub fn is_zpool_whole_disk_table(
    head: &[u8],
    tail: &[u8],
    size: u64,
    logical_block_size: u32,
) -> bool {
    gpt::is_zpool_whole_disk_table(&DeviceWindow::new(head, tail, size), logical_block_size)
}

/// The bytes each found structure accounts for: partition tables their own sectors, a ZFS label
/// its 256 KiB, and a file system or volume (which owns its device) the whole device.
fn claimed(device: &DeviceWindow, logical_block_size: u32, found: &[Signature]) -> Vec<Extent> {
    let mut claimed = gpt::structures(device, logical_block_size);
    for signature in found {
        match signature.kind {
            SignatureKind::Gpt | SignatureKind::GptBackup | SignatureKind::GptEntries => {}
            SignatureKind::Mbr | SignatureKind::ProtectiveMbr => claimed.push(Extent {
                offset: 0,
                len: 512,
            }),
            SignatureKind::ZfsLabel => claimed.push(Extent {
                offset: signature.offset,
                len: zfs::LABEL_SIZE,
            }),
            _ => claimed.push(Extent {
                offset: 0,
                len: device.size(),
            }),
        }
    }
    claimed
}
