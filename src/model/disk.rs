//! A drive as the host shows it, the data the inventory fills and the core judges: the disk and
//! its partitions, why a device is no candidate (with what holds it and the command that releases
//! it), and what the bytes read of it and udev's blkid say it holds.

use crate::formats::ondisk::{self, Signature};
use crate::formats::{mountinfo, udev};
use serde::Serialize;

/// A command that releases what holds a drive, runnable as printed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Remedy {
    pub argv: Vec<String>,
    /// What the command reads on its standard input: printed as `echo INPUT | ` in front of it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stdin: Option<String>,
}

impl Remedy {
    /// `argv`, nothing on its standard input.
    pub fn run(argv: &[&str]) -> Remedy {
        Remedy {
            argv: argv.iter().map(|a| a.to_string()).collect(),
            stdin: None,
        }
    }

    /// Writes `1` to a sysfs attribute, the one way bcache is stopped.
    pub(crate) fn write_one(attribute: String) -> Remedy {
        Remedy {
            argv: vec!["tee".into(), attribute],
            stdin: Some("1".into()),
        }
    }
}

impl std::fmt::Display for Remedy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if let Some(input) = &self.stdin {
            write!(
                f,
                "echo {} | ",
                crate::runner::display(std::slice::from_ref(input))
            )?;
        }
        f.write_str(&crate::runner::display(&self.argv))
    }
}

/// What holds a drive or one of its partitions, named as an administrator knows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Holder {
    /// LVM logical volumes, all of one volume group (device-mapper uuid `LVM-...`).
    LogicalVolumes { vg: String, lvs: Vec<String> },
    /// A dm-crypt mapping (device-mapper uuid `CRYPT-...`), LUKS or plain.
    Crypt { mapping: String, luks: bool },
    /// Another device-mapper device, by its name under /dev/mapper.
    DeviceMapper { name: String },
    /// An md array: `/dev/md/NAME` where udev named it, else `/dev/mdN`.
    MdArray { path: String },
    /// A loop device reading the drive or one of its partitions.
    Loop { backing_file: String },
    /// bcache runs on the drive or a partition as its backing device: `device` is the bcacheN it
    /// runs as, None while it waits for its cache.
    BcacheBacking { device: Option<String> },
    /// The drive or a partition is a cache device of this bcache cache set.
    BcacheCache { set: String },
    /// A holder that sysfs lists and nothing here names further.
    Other,
}

impl Holder {
    /// What it is, in words: `LV pve/data`, `LUKS mapping secret`, `md array /dev/md/data`.
    pub fn describe(&self, devices: &[String]) -> String {
        match self {
            Holder::LogicalVolumes { vg, lvs } if lvs.len() == 1 => format!("LV {vg}/{}", lvs[0]),
            Holder::LogicalVolumes { vg, lvs } => {
                let named: Vec<String> = lvs.iter().map(|lv| format!("{vg}/{lv}")).collect();
                format!("LVs {}", named.join(", "))
            }
            Holder::Crypt {
                mapping,
                luks: true,
            } => format!("LUKS mapping {mapping}"),
            Holder::Crypt {
                mapping,
                luks: false,
            } => format!("dm-crypt mapping {mapping}"),
            Holder::DeviceMapper { name } => format!("/dev/mapper/{name}"),
            Holder::MdArray { path } => format!("md array {path}"),
            Holder::Loop { backing_file } => {
                format!("{} (backed by {backing_file})", devices.join(", "))
            }
            Holder::BcacheBacking {
                device: Some(device),
            } => device.clone(),
            Holder::BcacheBacking { device: None } => "bcache (waiting for its cache)".into(),
            Holder::BcacheCache { set } => format!("bcache cache set {set}"),
            Holder::Other => devices.join(", "),
        }
    }

    /// How the remedy is introduced: `deactivate it`, `stop bcache0`.
    pub fn release_verb(&self) -> String {
        match self {
            Holder::LogicalVolumes { lvs, .. } if lvs.len() > 1 => "deactivate them".into(),
            Holder::LogicalVolumes { .. } => "deactivate it".into(),
            Holder::Crypt { .. } => "close it".into(),
            Holder::DeviceMapper { .. } => "remove it".into(),
            Holder::MdArray { .. } => "stop it".into(),
            Holder::Loop { .. } => "detach it".into(),
            Holder::BcacheBacking {
                device: Some(device),
            } => format!("stop {device}"),
            Holder::BcacheBacking { device: None } => "stop it".into(),
            Holder::BcacheCache { .. } => "unregister the cache set".into(),
            Holder::Other => "release it".into(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Transport {
    Nvme,
    Sata,
    Scsi,
    Usb,
    Virtio,
    Mmc,
    Optical,
    /// loop, zram, device-mapper, md, nbd, ram disks, bcache.
    Virtual,
}

/// Why a device is not a candidate for any pool. Candidates have none.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "reason", rename_all = "kebab-case")]
pub enum Ineligible {
    NotNvme {
        transport: Transport,
    },
    Removable,
    ReadOnly,
    /// Holds a file system the running system is mounted from (/, /boot, /boot/efi, ...).
    SystemDisk {
        mountpoint: String,
        via: String,
    },
    /// Holds another file system mounted in phoenix-zfs's own mount namespace, or active swap
    /// (`mountpoint` [`mountinfo::SWAP`]).
    Mounted {
        mountpoint: String,
        via: String,
    },
    /// Holds a file system mounted only in another mount namespace (a container's, a service's
    /// private one), which `pid` is in.
    MountedInNamespace {
        mountpoint: String,
        via: String,
        pid: u32,
        comm: String,
    },
    /// Held by another device: the top-most of a stack over the drive or a partition (device-
    /// mapper, md, a loop device, bcache), which has to be released first.
    InUse {
        holder: Holder,
        /// The holding devices' kernel names (`dm-0`, `md127`, `loop0`, `bcache0`).
        devices: Vec<String>,
        /// The drive's own devices under it (`nvme1n1p1`).
        held: Vec<String>,
        /// The command that releases it, where there is one.
        #[serde(skip_serializing_if = "Option::is_none")]
        remedy: Option<Remedy>,
    },
    TooSmall {
        bytes: u64,
    },
    /// sysfs gave no size or device number: the device cannot be judged.
    Unreadable {
        what: String,
    },
}

impl Ineligible {
    /// The command that would release the drive from this use, runnable as printed; None for a
    /// reason no command of the administrator's changes here (or should: the system disk).
    pub fn remedy(&self) -> Option<Remedy> {
        let run = Remedy::run;
        match self {
            Ineligible::Mounted { mountpoint, via } if mountpoint == mountinfo::SWAP => {
                Some(run(&["swapoff", via]))
            }
            Ineligible::Mounted { mountpoint, .. } => Some(run(&["umount", mountpoint])),
            Ineligible::MountedInNamespace {
                mountpoint, pid, ..
            } => Some(run(&[
                "nsenter",
                "-t",
                &pid.to_string(),
                "-m",
                "umount",
                mountpoint,
            ])),
            Ineligible::InUse { remedy, .. } => remedy.clone(),
            _ => None,
        }
    }

    /// How [`Self::remedy`] is introduced in a sentence: `unmount it`, `stop bcache0`.
    fn release_verb(&self) -> String {
        match self {
            Ineligible::Mounted { mountpoint, .. } if mountpoint == mountinfo::SWAP => {
                "turn it off".into()
            }
            Ineligible::Mounted { .. } | Ineligible::MountedInNamespace { .. } => {
                "unmount it".into()
            }
            Ineligible::InUse { holder, .. } => holder.release_verb(),
            _ => "release it".into(),
        }
    }
}

impl std::fmt::Display for Ineligible {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Ineligible::NotNvme { transport } => {
                // As in JSON: `sata`, `usb`.
                let mut name = format!("{transport:?}");
                name.make_ascii_lowercase();
                write!(f, "not NVMe ({name})")?
            }
            Ineligible::Removable => f.write_str("removable")?,
            Ineligible::ReadOnly => f.write_str("read-only")?,
            Ineligible::SystemDisk { mountpoint, via } => {
                write!(f, "system disk: {mountpoint} is mounted from {via}")?
            }
            Ineligible::Mounted { mountpoint, via } if mountpoint == mountinfo::SWAP => {
                write!(f, "in use: {via} is active swap")?
            }
            Ineligible::Mounted { mountpoint, via } => {
                write!(f, "in use: {mountpoint} is mounted from {via}")?
            }
            Ineligible::MountedInNamespace {
                mountpoint,
                via,
                pid,
                comm,
            } => write!(
                f,
                "in use: {via} is mounted at {mountpoint} in another mount namespace (pid {pid}, comm {comm})"
            )?,
            Ineligible::InUse {
                holder,
                devices,
                held,
                ..
            } => {
                let what = holder.describe(devices);
                let held = held.join(", ");
                match holder {
                    Holder::Loop { .. } => write!(f, "in use: {what} reads {held}")?,
                    Holder::BcacheBacking { device: Some(_) } => {
                        write!(f, "in use: {what} runs on {held}, its backing device")?
                    }
                    Holder::BcacheBacking { device: None } => {
                        write!(f, "in use: {held} is a registered bcache backing device, waiting for its cache")?
                    }
                    Holder::BcacheCache { set } => {
                        write!(f, "in use: {held} is a cache device of bcache cache set {set}")?
                    }
                    Holder::Other => write!(f, "in use: {what} holds {held}")?,
                    Holder::LogicalVolumes { lvs, .. } if lvs.len() > 1 => {
                        write!(f, "in use: {what} ({}) hold {held}", devices.join(", "))?
                    }
                    _ => write!(f, "in use: {what} ({}) holds {held}", devices.join(", "))?,
                }
            }
            Ineligible::TooSmall { bytes } => {
                write!(f, "too small ({})", crate::formats::size::decimal(*bytes))?
            }
            Ineligible::Unreadable { what } => write!(f, "cannot be judged: {what}")?,
        }
        match self.remedy() {
            Some(remedy) => write!(f, "; {}: `{remedy}`", self.release_verb()),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
impl Disk {
    /// A blank NVMe candidate as tests start from: `name` with this serial and model, its
    /// by-id link `/dev/disk/by-id/nvme-MODEL_SERIAL_1`, read and found blank by every witness.
    pub(crate) fn test_nvme(name: &str, model: &str, serial: &str, size_bytes: u64) -> Disk {
        let link = format!(
            "/dev/disk/by-id/nvme-{}_{serial}_1",
            model.replace(' ', "_")
        );
        Disk {
            name: name.into(),
            dev_node: format!("/dev/{name}"),
            major_minor: Some("259:0".into()),
            transport: Transport::Nvme,
            model: Some(model.into()),
            serial: Some(serial.into()),
            firmware: None,
            wwn: None,
            nsid: Some(1),
            by_id: vec![link.clone()],
            preferred_path: link,
            size_bytes,
            logical_block_size: 512,
            physical_block_size: 512,
            nvme_controller: None,
            pci_address: None,
            removable: false,
            read_only: false,
            partitions: Vec::new(),
            ineligible: Vec::new(),
            probe: ProbeState::read(Vec::new()),
            udev: Some(BlkidView::default()),
        }
    }
}

/// What the bytes read of a device (a disk's first 4 MiB and last 16 MiB, a partition's first and
/// last MiB: [`ondisk::disk_windows`]) hold.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "state", rename_all = "kebab-case")]
pub enum ProbeState {
    NotProbed,
    /// Read. Blank only when `signatures` and `unrecognised` are both empty.
    Read {
        signatures: Vec<Signature>,
        /// Non-zero bytes no recognised structure accounts for: data all the same.
        #[serde(skip_serializing_if = "Vec::is_empty")]
        unrecognised: Vec<ondisk::Extent>,
        #[serde(skip_serializing_if = "is_zero")]
        unrecognised_bytes: u64,
        /// What a capture of a host (`--root`) did not hold: those bytes were not read.
        #[serde(skip_serializing_if = "Vec::is_empty")]
        not_captured: Vec<ondisk::Extent>,
        /// A disk holding exactly the GPT `zpool create` writes on a whole disk.
        #[serde(skip_serializing_if = "std::ops::Not::not")]
        zpool_whole_disk_table: bool,
    },
    /// Could not be read: it cannot be proven blank, so it is treated as holding data.
    Unreadable {
        error: String,
    },
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

impl ProbeState {
    /// Read, with these signatures and every other byte read zero.
    pub fn read(signatures: Vec<Signature>) -> ProbeState {
        ProbeState::Read {
            signatures,
            unrecognised: Vec::new(),
            unrecognised_bytes: 0,
            not_captured: Vec::new(),
            zpool_whole_disk_table: false,
        }
    }

    pub(crate) fn surveyed(survey: ondisk::Survey, bytes: &ondisk::ReadBytes) -> ProbeState {
        ProbeState::Read {
            signatures: survey.signatures,
            unrecognised: survey.unrecognised,
            unrecognised_bytes: survey.unrecognised_bytes,
            not_captured: bytes.missing().to_vec(),
            zpool_whole_disk_table: survey.zpool_whole_disk_table,
        }
    }

    /// The signatures found, when it was read.
    pub fn signatures(&self) -> Option<&[Signature]> {
        match self {
            ProbeState::Read { signatures, .. } => Some(signatures),
            _ => None,
        }
    }

    /// Read, and every byte read is zero.
    pub fn is_zero(&self) -> bool {
        matches!(self, ProbeState::Read { signatures, unrecognised, .. } if signatures.is_empty() && unrecognised.is_empty())
    }
}

/// What udev's blkid builtin recorded for a device or partition (ID_FS_* and ID_PART_TABLE_*
/// in the udev database): blkid is the reference prober, so anything it names counts as data.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct BlkidView {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fs_type: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fs_label: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fs_uuid: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub part_table_type: Option<String>,
}

impl BlkidView {
    pub(crate) fn of(record: &udev::UdevRecord) -> BlkidView {
        let prop = |k: &str| record.property(k).map(str::to_string);
        BlkidView {
            fs_type: prop("ID_FS_TYPE"),
            fs_label: prop("ID_FS_LABEL"),
            fs_uuid: prop("ID_FS_UUID"),
            part_table_type: prop("ID_PART_TABLE_TYPE"),
        }
    }

    /// A partition's own view. udev's 60-persistent-storage.rules imports the parent disk's
    /// `ID_*` properties (all but `ID_FS_*`) into every partition's record, so a partition shows
    /// its disk's `ID_PART_TABLE_TYPE`; only a table of the partition's own (a different type or
    /// UUID than the disk's) is the partition's.
    pub(crate) fn of_partition(
        record: &udev::UdevRecord,
        disk: Option<&udev::UdevRecord>,
    ) -> BlkidView {
        let mut view = BlkidView::of(record);
        let inherited = |key: &str| {
            disk.and_then(|d| d.property(key)) == record.property(key)
                && record.property(key).is_some()
        };
        if inherited("ID_PART_TABLE_TYPE")
            && (record.property("ID_PART_TABLE_UUID").is_none() || inherited("ID_PART_TABLE_UUID"))
        {
            view.part_table_type = None;
        }
        view
    }

    pub fn is_empty(&self) -> bool {
        self.fs_type.is_none() && self.part_table_type.is_none() && self.fs_uuid.is_none()
    }

    /// `zfs_member `tank` (uuid 123)`, `partition table gpt`: what blkid found, in words.
    pub fn describe(&self) -> Vec<String> {
        let mut said = Vec::new();
        if let Some(table) = &self.part_table_type {
            said.push(format!("partition table {table}"));
        }
        if self.fs_type.is_some() || self.fs_uuid.is_some() {
            let mut text = self
                .fs_type
                .clone()
                .unwrap_or_else(|| "a file system".into());
            if let Some(label) = &self.fs_label {
                text.push_str(&format!(" `{label}`"));
            }
            if let Some(uuid) = &self.fs_uuid {
                text.push_str(&format!(" (uuid {uuid})"));
            }
            said.push(text);
        }
        said
    }
}

/// A partition of a disk, as the kernel or a table on the disk describes it, with what each
/// witness found in it.
#[derive(Debug, Clone, Serialize)]
pub struct Partition {
    /// The kernel's name (`nvme0n1p1`); for a partition only a table describes, which has no
    /// device node, `nvme0n1 partition 1`.
    pub name: String,
    /// Its number in the partition table: by-id links name it `-partN`.
    pub number: Option<u32>,
    /// Where it starts on the disk, when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub start_bytes: Option<u64>,
    pub size_bytes: u64,
    /// Who describes it: the kernel (then it has a device node), the tables on the disk.
    pub listed_by: Vec<ondisk::PartitionSource>,
    /// Our probe of its own first and last MiB.
    pub probe: ProbeState,
    /// udev's blkid view; None when udev has no record of it.
    pub udev: Option<BlkidView>,
    /// sysfs's `dev` of the partition: how a pool member on it is recognised.
    pub major_minor: Option<String>,
}

impl Partition {
    /// Whether the kernel lists it, so that it has a device node (and a by-id `-partN` link).
    pub fn has_node(&self) -> bool {
        self.listed_by.contains(&ondisk::PartitionSource::Kernel)
    }

    pub(crate) fn extent(&self) -> Option<ondisk::Extent> {
        self.start_bytes.map(|offset| ondisk::Extent {
            offset,
            len: self.size_bytes,
        })
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Disk {
    pub name: String,
    pub dev_node: String,
    pub major_minor: Option<String>,
    pub transport: Transport,
    pub model: Option<String>,
    pub serial: Option<String>,
    pub firmware: Option<String>,
    pub wwn: Option<String>,
    /// The NVMe namespace id: a drive with several namespaces shares one serial among them.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nsid: Option<u32>,
    pub by_id: Vec<String>,
    /// The path pools are built on: a stable /dev/disk/by-id link, else the device node.
    pub preferred_path: String,
    pub size_bytes: u64,
    pub logical_block_size: u32,
    pub physical_block_size: u32,
    pub nvme_controller: Option<String>,
    pub pci_address: Option<String>,
    pub removable: bool,
    pub read_only: bool,
    pub partitions: Vec<Partition>,
    /// Empty for candidates.
    pub ineligible: Vec<Ineligible>,
    /// Our probe of the disk's windows (its first 4 MiB and last 16 MiB).
    pub probe: ProbeState,
    /// udev's blkid view of the whole disk; None when udev has no record of it.
    pub udev: Option<BlkidView>,
}

impl Disk {
    pub fn is_candidate(&self) -> bool {
        self.ineligible.is_empty()
    }

    pub fn partition_names(&self) -> Vec<&str> {
        self.partitions.iter().map(|p| p.name.as_str()).collect()
    }

    /// The word `--wipe` names this namespace with: its serial, or `SERIAL/NSID` when another
    /// namespace of `disks` shares the serial (consent is given per namespace). None without a
    /// serial.
    pub fn wipe_name(&self, disks: &[Disk]) -> Option<String> {
        let serial = self.serial.as_deref()?;
        let shared = disks
            .iter()
            .any(|d| d.name != self.name && d.serial.as_deref() == Some(serial));
        match (shared, self.nsid) {
            (false, _) => Some(serial.to_string()),
            (true, Some(nsid)) => Some(format!("{serial}/{nsid}")),
            (true, None) => None,
        }
    }

    /// A short identity for messages: `nvme0n1 (Samsung SSD 990 PRO 2TB, serial S7...)`.
    pub fn describe(&self) -> String {
        let model = self.model.as_deref().unwrap_or("unknown model");
        match &self.serial {
            Some(serial) => format!("{} ({model}, serial {serial})", self.name),
            None => format!("{} ({model})", self.name),
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Inventory {
    pub root: String,
    /// False when /run/udev/data was missing: identities then come from sysfs alone.
    pub udev_database: bool,
    /// What could not be read, said once, for the report.
    pub notes: Vec<String>,
    pub disks: Vec<Disk>,
    /// ZFS volumes (zd*), counted, not listed.
    pub zvols: usize,
    pub udev_zfs: UdevZfs,
}

/// What udev's own probe (blkid, which reads every label of a whole partition, where ours sees
/// only the windows of a drive) says about ZFS on the listed devices and their
/// partitions: where `zpool import` could find a pool.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct UdevZfs {
    /// Devices and partitions udev recognised as `zfs_member`.
    pub members: Vec<String>,
    /// Devices and partitions without a readable udev record: nothing vouches for them.
    pub unrecorded: Vec<String>,
}
