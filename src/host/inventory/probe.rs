//! On-disk signature probe: recognises what blkid and wipefs would find on a device, from the first
//! and last MiB of it.
//!
//! Every family lives in its own file under `probe/` and reads the device only through
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
mod swap;
mod text;
mod window;
mod xfs;
mod zfs;

use window::DeviceWindow;

/// How much of each end of a device the caller reads for [`probe`].
pub const PROBE_WINDOW: u64 = 1024 * 1024;

/// One on-disk structure found on a device.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
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

/// The families of on-disk structures the probe recognises.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "kebab-case")]
pub enum SignatureKind {
    Gpt,
    GptBackup,
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

impl SignatureKind {
    /// The name blkid/wipefs print for this kind. `Ext` covers ext2, ext3 and ext4 (and jbd); which
    /// one it is, as blkid would decide it from the feature flags, is the first word of the detail.
    pub fn name(self) -> &'static str {
        match self {
            SignatureKind::Gpt | SignatureKind::GptBackup => "gpt",
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
