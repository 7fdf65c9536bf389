//! What the host has: every block device from sysfs and the udev database, whether it may be used,
//! and what is written on it (the signature probe).
//!
//! Reading goes through a [`HostRoot`], so that `--root DIR` (tests, fixture hosts) and a
//! live host take the same path.

pub mod mounts;
pub mod probe;
pub mod snapshot;
pub mod sysfs;
pub mod udev;

use probe::Signature;
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

/// Where the host's sys/, run/udev/, dev/ and proc/ are: `/` on a live host.
#[derive(Debug, Clone)]
pub struct HostRoot(pub PathBuf);

impl HostRoot {
    pub fn live() -> HostRoot {
        HostRoot(PathBuf::from("/"))
    }

    pub fn path(&self, relative: &str) -> PathBuf {
        self.0.join(relative.trim_start_matches('/'))
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
    /// loop, zram, device-mapper, md, nbd, ram disks.
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
    /// Holds another mounted file system.
    Mounted {
        mountpoint: String,
        via: String,
    },
    /// Claimed by device-mapper, md, LVM or similar (`holders/` in sysfs).
    InUse {
        holders: Vec<String>,
    },
    TooSmall {
        bytes: u64,
    },
    /// sysfs gave no size or device number: the device cannot be judged.
    Unreadable {
        what: String,
    },
}

impl std::fmt::Display for Ineligible {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Ineligible::NotNvme { transport } => write!(f, "not NVMe ({transport:?})"),
            Ineligible::Removable => f.write_str("removable"),
            Ineligible::ReadOnly => f.write_str("read-only"),
            Ineligible::SystemDisk { mountpoint, via } => {
                write!(f, "system disk: {mountpoint} is mounted from {via}")
            }
            Ineligible::Mounted { mountpoint, via } if mountpoint == mounts::SWAP => {
                write!(f, "in use: {via} is active swap")
            }
            Ineligible::Mounted { mountpoint, via } => {
                write!(f, "in use: {mountpoint} is mounted from {via}")
            }
            Ineligible::InUse { holders } => write!(f, "in use by {}", holders.join(", ")),
            Ineligible::TooSmall { bytes } => {
                write!(f, "too small ({})", crate::formats::size::decimal(*bytes))
            }
            Ineligible::Unreadable { what } => write!(f, "cannot be judged: {what}"),
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
            probe: ProbeState::Read {
                signatures: Vec::new(),
            },
            udev: Some(BlkidView::default()),
        }
    }
}

/// What the first and last MiB of a device hold.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "state", rename_all = "kebab-case")]
pub enum ProbeState {
    NotProbed,
    /// Read; an empty list means blank.
    Read {
        signatures: Vec<Signature>,
    },
    /// Could not be read: it cannot be proven blank, so it is treated as holding data.
    Unreadable {
        error: String,
    },
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
    fn of(record: &udev::UdevRecord) -> BlkidView {
        let prop = |k: &str| record.property(k).map(str::to_string);
        BlkidView {
            fs_type: prop("ID_FS_TYPE"),
            fs_label: prop("ID_FS_LABEL"),
            fs_uuid: prop("ID_FS_UUID"),
            part_table_type: prop("ID_PART_TABLE_TYPE"),
        }
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

/// A partition of a disk, with what each witness found in it.
#[derive(Debug, Clone, Serialize)]
pub struct Partition {
    pub name: String,
    /// Its number in the partition table: by-id links name it `-partN`.
    pub number: Option<u32>,
    pub size_bytes: u64,
    /// Our probe of its own first and last MiB.
    pub probe: ProbeState,
    /// udev's blkid view; None when udev has no record of it.
    pub udev: Option<BlkidView>,
    /// sysfs's `dev` of the partition: how a pool member on it is recognised.
    pub major_minor: Option<String>,
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
    /// Our probe of the whole disk's first and last MiB.
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
/// only the first and last MiB of a drive) says about ZFS on the listed devices and their
/// partitions: where `zpool import` could find a pool.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct UdevZfs {
    /// Devices and partitions udev recognised as `zfs_member`.
    pub members: Vec<String>,
    /// Devices and partitions without a readable udev record: nothing vouches for them.
    pub unrecorded: Vec<String>,
}

/// Below this, a device is no pool member anyone means (ZFS itself needs 64 MiB).
const MIN_CANDIDATE_BYTES: u64 = 8 * 1_000_000_000;

fn transport_of(entry: &sysfs::BlockEntry, udev: Option<&udev::UdevRecord>) -> Transport {
    let name = entry.name.as_str();
    let path = entry.sys_path.to_string_lossy();
    let bus = udev.and_then(|u| u.property("ID_BUS"));
    if path.contains("/usb") || bus == Some("usb") {
        Transport::Usb
    } else if name.starts_with("nvme") {
        Transport::Nvme
    } else if name.starts_with("vd") {
        Transport::Virtio
    } else if name.starts_with("mmcblk") {
        Transport::Mmc
    } else if name.starts_with("sr") {
        Transport::Optical
    } else if ["loop", "zram", "dm-", "md", "nbd", "ram"]
        .iter()
        .any(|p| name.starts_with(p))
    {
        Transport::Virtual
    } else if path.contains("/ata") || bus == Some("ata") {
        Transport::Sata
    } else {
        Transport::Scsi
    }
}

/// The by-id link pools are built on. For NVMe, `nvme-MODEL_SERIAL_NSID` (what current systemd
/// names each namespace; unambiguous on multi-namespace drives), then `nvme-MODEL_SERIAL`, then the
/// WWN/EUI forms; the device node only when udev made no link.
fn preferred_path(dev_node: &str, by_id: &[String], nsid: Option<u32>) -> String {
    let readable = |l: &&String| {
        !l.contains("by-id/nvme-eui.")
            && !l.contains("by-id/nvme-nvme.")
            && !l.contains("by-id/wwn-")
    };
    let suffix = nsid.map(|n| format!("_{n}"));
    by_id
        .iter()
        .filter(readable)
        .find(|l| suffix.as_deref().is_some_and(|s| l.ends_with(s)))
        .or_else(|| by_id.iter().filter(readable).min_by_key(|l| l.len()))
        .or_else(|| by_id.first())
        .cloned()
        .unwrap_or_else(|| dev_node.to_string())
}

/// by-id links from /dev/disk/by-id itself, for devices udev gave none (or hosts without a udev
/// database). The directory is read once, on first use: reading it again for every such device
/// made the inventory quadratic in the number of devices.
struct DevById<'a> {
    root: &'a HostRoot,
    by_target: std::cell::OnceCell<BTreeMap<String, Vec<String>>>,
}

impl<'a> DevById<'a> {
    fn new(root: &'a HostRoot) -> Self {
        DevById {
            root,
            by_target: std::cell::OnceCell::new(),
        }
    }

    fn links_of(&self, name: &str) -> Vec<String> {
        self.by_target
            .get_or_init(|| {
                let mut map: BTreeMap<String, Vec<String>> = BTreeMap::new();
                let dir = self.root.path("dev/disk/by-id");
                for entry in fs::read_dir(&dir).into_iter().flatten().flatten() {
                    let Ok(target) = fs::read_link(entry.path()) else {
                        continue;
                    };
                    let Some(target) = target.file_name() else {
                        continue;
                    };
                    map.entry(target.to_string_lossy().into_owned())
                        .or_default()
                        .push(format!(
                            "/dev/disk/by-id/{}",
                            entry.file_name().to_string_lossy()
                        ));
                }
                for links in map.values_mut() {
                    links.sort();
                }
                map
            })
            .get(name)
            .cloned()
            .unwrap_or_default()
    }
}

fn read_udev(
    root: &HostRoot,
    dev: Option<&str>,
    notes: &mut Vec<String>,
) -> Option<udev::UdevRecord> {
    let dev = dev?;
    let path = root.path(&format!("run/udev/data/b{dev}"));
    let text = fs::read_to_string(&path).ok()?;
    match udev::parse(&text) {
        Ok(record) => Some(record),
        Err(e) => {
            notes.push(format!(
                "{}: {e}; using sysfs for this device",
                path.display()
            ));
            None
        }
    }
}

/// Reads the inventory: every block device, its identity and whether it may be used.
pub fn read(root: &HostRoot) -> Inventory {
    let mut notes = Vec::new();
    let (entries, zvols) = sysfs::scan(&root.path("sys"));
    if zvols > 0 {
        notes.push(format!(
            "{zvols} zvol(s) (zd*) not listed: ZFS volumes are never pool candidates"
        ));
    }
    if entries.is_empty() {
        notes.push(format!(
            "{} lists no block devices",
            root.path("sys/block").display()
        ));
    }
    let udev_database = root.path("run/udev/data").is_dir();
    if !udev_database {
        notes.push(format!(
            "no udev database at {}: identities and by-id links come from sysfs and /dev/disk alone",
            root.path("run/udev/data").display()
        ));
    }
    let mounts = match fs::read_to_string(root.path("proc/mounts")) {
        Ok(text) => mounts::parse(&text),
        Err(e) => {
            notes.push(format!(
                "cannot read {}: {e}; mounted disks cannot be recognised",
                root.path("proc/mounts").display()
            ));
            Vec::new()
        }
    };
    // Active swap is in use like a mount; a host tree without /proc/swaps (a synthesized one, or
    // one recorded before snapshot-host kept it) has none.
    let mut mounts = mounts;
    if let Ok(text) = fs::read_to_string(root.path("proc/swaps")) {
        mounts.extend(mounts::parse_swaps(&text));
    }
    let records = UdevRecords::read(root, &entries, &mut notes);
    let (usage, udev_zfs) = MountUsage::new(&entries, &mounts, root, &records);
    let dev_by_id = DevById::new(root);
    let disks = entries
        .iter()
        .map(|e| build_disk(e, &records, &usage, &dev_by_id))
        .collect();
    Inventory {
        root: root.0.display().to_string(),
        udev_database,
        notes,
        disks,
        zvols,
        udev_zfs,
    }
}

/// The udev database records of every listed device and partition, read once, by device name.
struct UdevRecords(BTreeMap<String, udev::UdevRecord>);

impl UdevRecords {
    fn read(root: &HostRoot, entries: &[sysfs::BlockEntry], notes: &mut Vec<String>) -> Self {
        let mut records = BTreeMap::new();
        for e in entries {
            let devs = std::iter::once((&e.name, e.dev.as_deref()))
                .chain(e.partitions.iter().map(|p| (&p.name, p.dev.as_deref())));
            for (name, dev) in devs {
                if let Some(record) = read_udev(root, dev, notes) {
                    records.insert(name.clone(), record);
                }
            }
        }
        UdevRecords(records)
    }

    fn of(&self, name: &str) -> Option<&udev::UdevRecord> {
        self.0.get(name)
    }
}

fn build_disk(
    e: &sysfs::BlockEntry,
    records: &UdevRecords,
    usage: &MountUsage,
    dev_by_id: &DevById,
) -> Disk {
    let u = records.of(&e.name);
    let transport = transport_of(e, u);
    let nvme = e.nvme.clone().unwrap_or_default();
    let mut by_id: Vec<String> = u.map(|r| r.by_id_links().collect()).unwrap_or_default();
    if by_id.is_empty() {
        by_id = dev_by_id.links_of(&e.name);
    }
    by_id.sort();
    by_id.dedup();
    let dev_node = format!("/dev/{}", e.name);
    let size_bytes = e.size_sectors.unwrap_or(0).saturating_mul(512);

    let mut ineligible = Vec::new();
    if e.dev.is_none() || e.size_sectors.is_none() {
        ineligible.push(Ineligible::Unreadable {
            what: "sysfs gives no dev or size".into(),
        });
    }
    if transport != Transport::Nvme {
        ineligible.push(Ineligible::NotNvme { transport });
    }
    if e.removable {
        ineligible.push(Ineligible::Removable);
    }
    if e.read_only {
        ineligible.push(Ineligible::ReadOnly);
    }
    ineligible.extend(usage.reasons_for(&e.name));
    let mut holders: Vec<String> = e.holders.clone();
    holders.extend(e.partitions.iter().flat_map(|p| p.holders.iter().cloned()));
    if !holders.is_empty() {
        ineligible.push(Ineligible::InUse { holders });
    }
    if e.size_sectors.is_some() && size_bytes < MIN_CANDIDATE_BYTES {
        ineligible.push(Ineligible::TooSmall { bytes: size_bytes });
    }

    let prop = |k: &str| u.and_then(|r| r.property(k)).map(str::to_string);
    Disk {
        model: prop("ID_MODEL")
            .or(nvme.model.clone())
            .or(e.scsi_model.clone()),
        serial: prop("ID_SERIAL_SHORT").or(nvme.serial.clone()),
        firmware: nvme
            .firmware_rev
            .clone()
            .or_else(|| prop("ID_REVISION"))
            .or(e.scsi_revision.clone()),
        wwn: prop("ID_WWN")
            .or(nvme.wwid.clone())
            .or(nvme.eui.clone())
            .or(nvme.nguid.clone()),
        preferred_path: preferred_path(&dev_node, &by_id, nvme.nsid),
        by_id,
        major_minor: e.dev.clone(),
        size_bytes,
        logical_block_size: e.logical_block_size.unwrap_or(512),
        physical_block_size: e
            .physical_block_size
            .or(e.logical_block_size)
            .unwrap_or(512),
        nvme_controller: nvme.controller.clone(),
        pci_address: nvme.pci_address.clone(),
        removable: e.removable,
        read_only: e.read_only,
        partitions: e
            .partitions
            .iter()
            .map(|p| Partition {
                name: p.name.clone(),
                number: p.number,
                size_bytes: p.size_sectors.unwrap_or(0).saturating_mul(512),
                probe: ProbeState::NotProbed,
                udev: records.of(&p.name).map(BlkidView::of),
                major_minor: p.dev.clone(),
            })
            .collect(),
        ineligible,
        probe: ProbeState::NotProbed,
        udev: u.map(BlkidView::of),
        transport,
        dev_node,
        name: e.name.clone(),
    }
}

/// Which disks hold mounted file systems, through partitions, device-mapper stacks and ZFS pools.
struct MountUsage {
    /// disk name -> (mountpoint, what it is mounted from, is a system mount)
    by_disk: BTreeMap<String, Vec<(String, String, bool)>>,
}

impl MountUsage {
    fn new(
        entries: &[sysfs::BlockEntry],
        mounts: &[mounts::Mount],
        root: &HostRoot,
        records: &UdevRecords,
    ) -> (MountUsage, UdevZfs) {
        // Any device name (disk, partition, dm-N, mapper name) -> the disks under it.
        let mut owner: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for e in entries {
            owner
                .entry(e.name.clone())
                .or_default()
                .insert(e.name.clone());
            for p in &e.partitions {
                owner
                    .entry(p.name.clone())
                    .or_default()
                    .insert(e.name.clone());
            }
        }
        // Stacked devices (dm, md) own what their slaves' disks are; resolve a few levels deep.
        for _ in 0..4 {
            for e in entries.iter().filter(|e| !e.slaves.is_empty()) {
                let below: BTreeSet<String> = e
                    .slaves
                    .iter()
                    .flat_map(|s| owner.get(s).cloned().unwrap_or_default())
                    .collect();
                owner
                    .entry(e.name.clone())
                    .or_default()
                    .extend(below.iter().cloned());
                if let Some(dm) = &e.dm_name {
                    owner
                        .entry(format!("mapper/{dm}"))
                        .or_default()
                        .extend(below);
                }
            }
        }
        let (zfs_pools, udev_zfs) = zfs_pool_members(entries, records);
        let mut by_disk: BTreeMap<String, Vec<(String, String, bool)>> = BTreeMap::new();
        for m in mounts {
            let disks: BTreeSet<String> = if m.fstype == "zfs" {
                let pool = m.source.split('/').next().unwrap_or_default();
                zfs_pools.get(pool).cloned().unwrap_or_default()
            } else if let Some(dev) = m.source.strip_prefix("/dev/") {
                let name = resolve_dev_link(root, dev);
                owner.get(&name).cloned().unwrap_or_default()
            } else {
                BTreeSet::new()
            };
            for d in disks {
                by_disk.entry(d).or_default().push((
                    m.mountpoint.clone(),
                    m.source.clone(),
                    m.is_system(),
                ));
            }
        }
        (MountUsage { by_disk }, udev_zfs)
    }

    fn reasons_for(&self, disk: &str) -> Vec<Ineligible> {
        let Some(uses) = self.by_disk.get(disk) else {
            return Vec::new();
        };
        // One reason is enough to explain; the system mount is the one that matters most.
        let first = uses.iter().find(|u| u.2).or_else(|| uses.first());
        first
            .map(|(mountpoint, via, system)| {
                let (mountpoint, via) = (mountpoint.clone(), via.clone());
                if *system {
                    Ineligible::SystemDisk { mountpoint, via }
                } else {
                    Ineligible::Mounted { mountpoint, via }
                }
            })
            .into_iter()
            .collect()
    }
}

/// `/dev/disk/by-uuid/...` and other links resolve to the kernel name they point at; `mapper/X`
/// stays as it is (it is keyed that way); `nvme0n1p2` stays.
fn resolve_dev_link(root: &HostRoot, dev: &str) -> String {
    if dev.starts_with("disk/") {
        if let Ok(target) = fs::read_link(root.path(&format!("dev/{dev}"))) {
            if let Some(name) = target.file_name() {
                return name.to_string_lossy().into_owned();
            }
        }
    }
    dev.to_string()
}

/// Pool name -> disks whose partitions (or themselves) udev recognised as members of that pool;
/// and every device or partition udev calls `zfs_member` or has no record of.
fn zfs_pool_members(
    entries: &[sysfs::BlockEntry],
    records: &UdevRecords,
) -> (BTreeMap<String, BTreeSet<String>>, UdevZfs) {
    let mut pools: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut seen = UdevZfs::default();
    // An empty device (an unbound loop) holds nothing and often has no record.
    for e in entries.iter().filter(|e| e.size_sectors != Some(0)) {
        let names = std::iter::once(&e.name).chain(e.partitions.iter().map(|p| &p.name));
        for name in names {
            let Some(record) = records.of(name) else {
                seen.unrecorded.push(name.clone());
                continue;
            };
            if record.property("ID_FS_TYPE") == Some("zfs_member") {
                seen.members.push(name.clone());
                if let Some(pool) = record.property("ID_FS_LABEL") {
                    pools
                        .entry(pool.to_string())
                        .or_default()
                        .insert(e.name.clone());
                }
            }
        }
    }
    (pools, seen)
}

/// Reads the first and last MiB of every NVMe candidate and records what is written there.
/// Read-only: opens the device node for reading, nothing else.
/// The drives are read at once: each read waits on its own device.
pub fn probe_candidates(root: &HostRoot, inventory: &mut Inventory) {
    std::thread::scope(|scope| {
        for disk in inventory
            .disks
            .iter_mut()
            .filter(|d| d.transport == Transport::Nvme && d.is_candidate())
        {
            scope.spawn(move || probe_disk(root, disk));
        }
    });
}

/// Probes the whole disk and each of its partitions through its own device node: a whole-disk
/// pool's labels, or a file system in a partition, lie beyond the disk's own two windows.
fn probe_disk(root: &HostRoot, disk: &mut Disk) {
    disk.probe = probe_device(
        root,
        &disk.dev_node,
        disk.size_bytes,
        disk.logical_block_size,
    );
    for p in &mut disk.partitions {
        let node = format!("/dev/{}", p.name);
        p.probe = probe_device(root, &node, p.size_bytes, disk.logical_block_size);
    }
}

fn probe_device(root: &HostRoot, node: &str, size: u64, logical_block_size: u32) -> ProbeState {
    let path = root.path(node);
    match read_windows(&path) {
        Ok((head, tail)) => ProbeState::Read {
            signatures: probe::probe(&head, &tail, size, logical_block_size),
        },
        Err(e) => ProbeState::Unreadable {
            error: format!("{}: {e}", path.display()),
        },
    }
}

/// Whether the device at `path` (a /dev node or by-id link, under `root`) could be read and our
/// probe finds nothing in its two windows: how apply tells that a failed `zpool create` wrote
/// nothing (it writes the partition table first, inside the first window).
pub fn device_is_blank(root: &HostRoot, path: &str, logical_block_size: u32) -> bool {
    let path = root.path(path);
    let Ok(size) = fs::File::open(&path).and_then(|mut f| f.seek(SeekFrom::End(0))) else {
        return false;
    };
    match read_windows(&path) {
        Ok((head, tail)) => probe::probe(&head, &tail, size, logical_block_size).is_empty(),
        Err(_) => false,
    }
}

/// The first and last [`probe::PROBE_WINDOW`] bytes of a device (or of a fixture host's file
/// holding just those two windows).
fn read_windows(path: &Path) -> std::io::Result<(Vec<u8>, Vec<u8>)> {
    let mut file = fs::File::open(path)?;
    let len = file.seek(SeekFrom::End(0))?;
    let window = len.min(probe::PROBE_WINDOW);
    let mut head = vec![0; window as usize];
    file.seek(SeekFrom::Start(0))?;
    file.read_exact(&mut head)?;
    let mut tail = vec![0; window as usize];
    file.seek(SeekFrom::Start(len - window))?;
    file.read_exact(&mut tail)?;
    Ok((head, tail))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_device_a_failed_create_partitioned_is_not_blank() {
        let dir = tempfile::tempdir().unwrap();
        let device = dir.path().join("nvme0n1");
        let file = fs::File::create(&device).unwrap();
        file.set_len(64 << 20).unwrap();
        let root = HostRoot(dir.path().to_path_buf());
        assert!(device_is_blank(&root, "/nvme0n1", 512));
        // What `zpool create` writes first: a protective MBR (type 0xEE) in front of its GPT.
        let mut sector = vec![0u8; 512];
        sector[446 + 4] = 0xee;
        sector[446 + 8..446 + 12].copy_from_slice(&1u32.to_le_bytes());
        sector[446 + 12..446 + 16].copy_from_slice(&((64u32 << 11) - 1).to_le_bytes());
        sector[510..].copy_from_slice(&[0x55, 0xaa]);
        std::fs::write(&device, [sector, vec![0u8; (64 << 20) - 512]].concat()).unwrap();
        assert!(!device_is_blank(&root, "/nvme0n1", 512));
        assert!(!device_is_blank(&root, "/absent", 512));
    }

    #[test]
    fn prefers_the_namespace_qualified_model_serial_link() {
        let links = vec![
            "/dev/disk/by-id/nvme-QEMU_NVMe_Ctrl_S2TA0001".to_string(),
            "/dev/disk/by-id/nvme-QEMU_NVMe_Ctrl_S2TA0001_1".to_string(),
            "/dev/disk/by-id/nvme-nvme.1b36-5332544130303031-51454d55204e564d65204374726c-00000001"
                .to_string(),
        ];
        assert_eq!(
            preferred_path("/dev/nvme0n1", &links, Some(1)),
            "/dev/disk/by-id/nvme-QEMU_NVMe_Ctrl_S2TA0001_1"
        );
        assert_eq!(
            preferred_path("/dev/nvme0n1", &links[..1], Some(1)),
            "/dev/disk/by-id/nvme-QEMU_NVMe_Ctrl_S2TA0001"
        );
        assert_eq!(
            preferred_path("/dev/nvme0n1", &links[2..], Some(1)),
            links[2]
        );
        assert_eq!(preferred_path("/dev/nvme0n1", &[], None), "/dev/nvme0n1");
    }
}
