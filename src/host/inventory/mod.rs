//! What the host has: every block device from sysfs and the udev database, whether it may be used,
//! and what is written on it (the signature probe).
//!
//! Reading goes through a [`HostRoot`], so that `--root DIR` (tests, fixture hosts) and a
//! live host take the same path.

pub mod capture;
pub mod in_use;
pub mod snapshot;
pub mod sysfs;

use crate::formats::ondisk;
use crate::formats::udev;
use crate::host::root::HostRoot;
use crate::model::disk::{
    BlkidView, Disk, Ineligible, Inventory, Partition, ProbeState, Transport, UdevZfs,
};
use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::io::{Read, Seek, SeekFrom};
use std::path::PathBuf;

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
    } else if ["loop", "zram", "dm-", "md", "nbd", "ram", "bcache"]
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
    let host_use = in_use::read_host_use(root, &entries, &mut notes);
    let records = UdevRecords::read(root, &entries, &mut notes);
    let (zfs_pools, udev_zfs) = zfs_pool_members(&entries, &records);
    let usage = in_use::Usage::judge(&entries, &host_use, &records, &zfs_pools);
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
    usage: &in_use::Usage,
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
    // Mounts first, then what holds the drive, top-most first: the order they are released in.
    ineligible.extend(usage.reasons_for(&e.name));
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
        nsid: nvme.nsid,
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
                start_bytes: p.start_sectors.map(|s| s.saturating_mul(512)),
                size_bytes: p.size_sectors.unwrap_or(0).saturating_mul(512),
                listed_by: vec![ondisk::PartitionSource::Kernel],
                probe: ProbeState::NotProbed,
                udev: records
                    .of(&p.name)
                    .map(|record| BlkidView::of_partition(record, u)),
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

/// Reads the windows of every NVMe candidate ([`ondisk::disk_windows`], and those of each
/// partition) and records what is written there. Read-only: opens the device node for reading,
/// nothing else. The drives are read at once: each read waits on its own device.
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

/// Reads and surveys a disk and every partition anyone describes: the kernel, either GPT copy, a
/// GPT entry array whose headers are gone, a DOS table. A partition's bytes are read through
/// the disk at its offset, so one that only a table describes (no device node) is read too.
pub(crate) fn probe_disk(root: &HostRoot, disk: &mut Disk) {
    let lbs = disk.logical_block_size;
    let bytes = match read_disk(root, disk) {
        Ok(bytes) => bytes,
        Err(e) => {
            let error = format!("{}: {e}", root.path(&disk.dev_node).display());
            disk.probe = ProbeState::Unreadable {
                error: error.clone(),
            };
            for p in &mut disk.partitions {
                p.probe = ProbeState::Unreadable {
                    error: error.clone(),
                };
            }
            return;
        }
    };
    let mut delegated = Vec::new();
    for p in &mut disk.partitions {
        p.probe = match p.extent() {
            Some(extent) => {
                delegated.push(extent);
                let own = bytes.slice(extent);
                ProbeState::surveyed(ondisk::survey(&own, lbs, &[]), &own)
            }
            // A capture by an older snapshot-host: no start, but the partition's own windows.
            None => match read_own_node(root, p) {
                Ok(own) => ProbeState::surveyed(ondisk::survey(&own, lbs, &[]), &own),
                Err(e) => ProbeState::Unreadable {
                    error: format!("/dev/{}: {e}", p.name),
                },
            },
        };
    }
    disk.probe = ProbeState::surveyed(ondisk::survey(&bytes, lbs, &delegated), &bytes);
}

/// Reads the disk's windows, adds the partitions its tables describe to `disk.partitions`, and
/// reads their windows too (through the disk, at their offsets).
pub fn read_disk(root: &HostRoot, disk: &mut Disk) -> std::io::Result<ondisk::ReadBytes> {
    let source = DeviceSource::open(root, &disk.dev_node, disk.size_bytes)?;
    let mut bytes = source.read(&ondisk::disk_windows(disk.size_bytes))?;
    add_table_partitions(disk, &bytes);
    let windows: Vec<ondisk::Extent> = disk
        .partitions
        .iter()
        .filter_map(Partition::extent)
        .flat_map(ondisk::partition_windows)
        .filter(|w| !bytes.covers(*w))
        .collect();
    source.read_into(&windows, &mut bytes)?;
    Ok(bytes)
}

/// The windows of a partition whose start is unknown, through its own device node.
pub fn read_own_node(root: &HostRoot, partition: &Partition) -> std::io::Result<ondisk::ReadBytes> {
    let node = format!("/dev/{}", partition.name);
    let whole = ondisk::Extent {
        offset: 0,
        len: partition.size_bytes,
    };
    DeviceSource::open(root, &node, partition.size_bytes)?.read(&ondisk::partition_windows(whole))
}

/// The partitions the tables on the disk describe, merged with the kernel's: the same extent
/// (or, where the kernel's start is unknown, the same number) is one partition listed by both.
fn add_table_partitions(disk: &mut Disk, bytes: &ondisk::ReadBytes) {
    let listed = ondisk::table_partitions(
        bytes.head(),
        bytes.tail(),
        disk.size_bytes,
        disk.logical_block_size,
    );
    for table in listed {
        let same = disk.partitions.iter_mut().find(|p| match p.start_bytes {
            Some(start) => start == table.extent.offset && p.size_bytes == table.extent.len,
            None => p.number == Some(table.number) && p.has_node(),
        });
        match same {
            Some(p) => {
                if !p.listed_by.contains(&table.source) {
                    p.listed_by.push(table.source);
                }
            }
            None => disk.partitions.push(Partition {
                name: format!("{} partition {}", disk.name, table.number),
                number: Some(table.number),
                start_bytes: Some(table.extent.offset),
                size_bytes: table.extent.len,
                listed_by: vec![table.source],
                probe: ProbeState::NotProbed,
                udev: None,
                major_minor: None,
            }),
        }
    }
}

/// Whether the device at `path` (a /dev node or by-id link, under `root`) could be read and every
/// byte of its windows is zero: how apply tells that a failed `zpool create` wrote nothing (it
/// writes the partition table first, inside the windows).
pub fn device_is_blank(root: &HostRoot, path: &str, size: u64) -> bool {
    DeviceSource::open(root, path, size)
        .and_then(|source| source.read(&ondisk::disk_windows(size)))
        .is_ok_and(|bytes| bytes.is_all_zero())
}

/// Where a device's bytes are read from: the device (on the host, or a full-size image under
/// `--root`), or a capture that `debug snapshot-host` made of it.
enum DeviceSource {
    /// `size`: what sysfs says, which a full-size image may exceed.
    Device { file: fs::File, size: u64 },
    /// The bytes of the windows a capture holds.
    Capture(ondisk::ReadBytes),
}

impl DeviceSource {
    fn open(root: &HostRoot, node: &str, size: u64) -> std::io::Result<DeviceSource> {
        use std::os::unix::fs::FileTypeExt;
        let path = root.path(node);
        let mut file = fs::File::open(&path)?;
        let metadata = file.metadata()?;
        let len = file.seek(SeekFrom::End(0))?;
        if metadata.file_type().is_block_device() || len >= size {
            return Ok(DeviceSource::Device { file, size });
        }
        let mut captured = Vec::new();
        file.seek(SeekFrom::Start(0))?;
        file.read_to_end(&mut captured)?;
        let mut index_path = path.as_os_str().to_owned();
        index_path.push(capture::INDEX_SUFFIX);
        let index = match fs::read_to_string(&index_path) {
            Ok(index) => Some(index),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => return Err(e),
        };
        let bytes = capture::decode(&captured, index.as_deref(), size).map_err(|e| {
            std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!("{}: {e}", PathBuf::from(&index_path).display()),
            )
        })?;
        Ok(DeviceSource::Capture(bytes))
    }

    fn read(&self, windows: &[ondisk::Extent]) -> std::io::Result<ondisk::ReadBytes> {
        let size = match self {
            DeviceSource::Device { size, .. } => *size,
            DeviceSource::Capture(bytes) => bytes.size(),
        };
        let mut bytes = ondisk::ReadBytes::new(size);
        self.read_into(windows, &mut bytes)?;
        Ok(bytes)
    }

    fn read_into(
        &self,
        windows: &[ondisk::Extent],
        into: &mut ondisk::ReadBytes,
    ) -> std::io::Result<()> {
        use std::os::unix::fs::FileExt;
        for window in windows {
            let end = window.end().min(into.size());
            if end <= window.offset {
                continue;
            }
            match self {
                DeviceSource::Device { file, .. } => {
                    let mut buf = vec![0u8; (end - window.offset) as usize];
                    file.read_exact_at(&mut buf, window.offset)?;
                    into.insert(window.offset, buf);
                }
                DeviceSource::Capture(captured) => {
                    let part = captured.slice(ondisk::Extent {
                        offset: window.offset,
                        len: end - window.offset,
                    });
                    let mut at = window.offset;
                    for (offset, chunk) in part.chunks() {
                        if window.offset + offset > at {
                            into.not_captured(ondisk::Extent {
                                offset: at,
                                len: window.offset + offset - at,
                            });
                        }
                        into.insert(window.offset + offset, chunk.to_vec());
                        at = window.offset + offset + chunk.len() as u64;
                    }
                    if at < end {
                        into.not_captured(ondisk::Extent {
                            offset: at,
                            len: end - at,
                        });
                    }
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    /// A signature fixture's first MiB (tests/fixtures/signatures, made by real tools).
    fn fixture(name: &str, end: &str) -> Vec<u8> {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join(format!("tests/fixtures/signatures/{name}.{end}.gz"));
        let mut bytes = Vec::new();
        flate2::read::GzDecoder::new(fs::File::open(&path).unwrap())
            .read_to_end(&mut bytes)
            .unwrap();
        bytes
    }

    /// A host root with one NVMe drive whose device node is a sparse image of `size` bytes
    /// holding `writes`; the drive as the inventory would list it, not yet probed.
    fn drive_image(size: u64, writes: &[(u64, &[u8])]) -> (tempfile::TempDir, HostRoot, Disk) {
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir_all(dir.path().join("dev")).unwrap();
        let mut file = fs::File::create(dir.path().join("dev/nvme0n1")).unwrap();
        file.set_len(size).unwrap();
        for (offset, bytes) in writes {
            file.seek(SeekFrom::Start(*offset)).unwrap();
            file.write_all(bytes).unwrap();
        }
        let root = HostRoot(dir.path().to_path_buf());
        let disk = Disk::test_nvme("nvme0n1", "QEMU NVMe Ctrl", "S2TA0001", size);
        (dir, root, disk)
    }

    /// gpt.img of the signature fixtures (1 GiB, five partitions from 1 MiB) with ext4 made in
    /// partition 1, as `sgdisk` and `mkfs.ext4` leave it.
    fn gpt_with_ext4_in_partition_1() -> (u64, Vec<(u64, Vec<u8>)>) {
        let size = 1 << 30;
        let writes = vec![
            (0, fixture("gpt", "head")),
            (size - (1 << 20), fixture("gpt", "tail")),
            (1 << 20, fixture("ext4", "head")),
        ];
        (size, writes)
    }

    fn kinds(probe: &ProbeState) -> Vec<ondisk::SignatureKind> {
        probe
            .signatures()
            .unwrap_or_default()
            .iter()
            .map(|s| s.kind)
            .collect()
    }

    #[test]
    fn a_file_system_behind_an_erased_partition_table_is_found() {
        let (size, mut writes) = gpt_with_ext4_in_partition_1();
        // `wipefs --all` on the disk: the protective MBR's 55 AA and both headers' "EFI PART".
        let erase = |writes: &mut Vec<(u64, Vec<u8>)>, offset: u64, len: usize| {
            writes.push((offset, vec![0u8; len]));
        };
        erase(&mut writes, 510, 2);
        erase(&mut writes, 512, 8);
        erase(&mut writes, size - 512, 8);
        let borrowed: Vec<(u64, &[u8])> = writes.iter().map(|(o, b)| (*o, b.as_slice())).collect();
        let (_dir, root, mut disk) = drive_image(size, &borrowed);
        probe_disk(&root, &mut disk);

        assert_eq!(
            kinds(&disk.probe),
            [
                ondisk::SignatureKind::GptEntries,
                ondisk::SignatureKind::GptEntries
            ],
            "{:#?}",
            disk.probe
        );
        let first = &disk.partitions[0];
        assert_eq!(first.name, "nvme0n1 partition 1");
        assert_eq!(first.start_bytes, Some(1 << 20));
        assert_eq!(first.listed_by, [ondisk::PartitionSource::GptEntries]);
        assert!(!first.has_node());
        assert_eq!(kinds(&first.probe), [ondisk::SignatureKind::Ext]);
        assert_eq!(disk.partitions.len(), 5);
        let found = crate::contents::findings(&disk);
        assert!(
            found
                .iter()
                .any(|f| f.device == "nvme0n1 partition 1" && f.what.starts_with("ext4 `phx-ext4`")),
            "{found:#?}"
        );
    }

    #[test]
    fn partitions_a_table_describes_are_read_through_the_disk() {
        let (size, writes) = gpt_with_ext4_in_partition_1();
        let borrowed: Vec<(u64, &[u8])> = writes.iter().map(|(o, b)| (*o, b.as_slice())).collect();
        let (_dir, root, mut disk) = drive_image(size, &borrowed);
        probe_disk(&root, &mut disk);
        assert_eq!(
            kinds(&disk.probe),
            [
                ondisk::SignatureKind::ProtectiveMbr,
                ondisk::SignatureKind::Gpt,
                ondisk::SignatureKind::GptBackup
            ]
        );
        let first = &disk.partitions[0];
        assert_eq!(
            first.listed_by,
            [
                ondisk::PartitionSource::Gpt,
                ondisk::PartitionSource::GptBackup
            ]
        );
        assert_eq!(kinds(&first.probe), [ondisk::SignatureKind::Ext]);
        // Nothing else is there: every other byte read is accounted for or zero.
        assert!(
            matches!(&disk.probe, ProbeState::Read { unrecognised, .. } if unrecognised.is_empty())
        );
    }

    #[test]
    fn a_byte_no_probe_recognises_makes_the_drive_hold_data() {
        let size = 4 << 30;
        for offset in [2 << 20, size - (15 << 20), size - 1] {
            let (_dir, root, mut disk) = drive_image(size, &[(offset, &[0x5a])]);
            probe_disk(&root, &mut disk);
            let ProbeState::Read {
                signatures,
                unrecognised,
                unrecognised_bytes,
                ..
            } = &disk.probe
            else {
                panic!("{:?}", disk.probe);
            };
            assert!(signatures.is_empty());
            assert_eq!(unrecognised[0].offset, offset);
            assert_eq!(*unrecognised_bytes, 1);
            let found = crate::contents::findings(&disk);
            assert_eq!(found.len(), 1, "{found:#?}");
            assert!(
                found[0]
                    .what
                    .starts_with(&format!("unrecognised data at byte {offset}")),
                "{found:#?}"
            );
        }
        // Zeros everywhere it reads: blank by the probe.
        let (_dir, root, mut disk) = drive_image(size, &[]);
        probe_disk(&root, &mut disk);
        assert!(disk.probe.is_zero());
        assert!(crate::contents::findings(&disk).is_empty());
    }

    #[test]
    fn wipe_consent_names_one_namespace() {
        let one = Disk::test_nvme("nvme0n1", "M", "S1", 1 << 40);
        let mut two = Disk::test_nvme("nvme0n2", "M", "S1", 1 << 40);
        two.nsid = Some(2);
        let other = Disk::test_nvme("nvme1n1", "M", "S2", 1 << 40);
        let alone = [one.clone(), other.clone()];
        assert_eq!(one.wipe_name(&alone).as_deref(), Some("S1"));
        let shared = [one.clone(), two.clone(), other];
        assert_eq!(one.wipe_name(&shared).as_deref(), Some("S1/1"));
        assert_eq!(two.wipe_name(&shared).as_deref(), Some("S1/2"));
        let mut no_serial = one;
        no_serial.serial = None;
        assert_eq!(no_serial.wipe_name(&shared), None);
    }

    #[test]
    fn the_windows_reach_where_zpool_create_writes_first() {
        // A whole-disk vdev of a 2 TB drive: partition 1's first labels at 1 MiB, its last
        // labels just below partition 9 (8 MiB) at the end.
        let size = 2_000_398_934_016u64;
        let windows = ondisk::disk_windows(size);
        let covered = |offset: u64| windows.iter().any(|w| w.contains(offset));
        assert!(covered((1 << 20) + 512 * 1024 - 1));
        let part9 = size - (8 << 20) - 33 * 512;
        assert!(covered(part9 - 512 * 1024));
        assert!(!covered(4 << 20));
        assert!(!covered(size - (16 << 20) - 1));
    }

    #[test]
    fn a_device_a_failed_create_partitioned_is_not_blank() {
        let dir = tempfile::tempdir().unwrap();
        let device = dir.path().join("nvme0n1");
        let file = fs::File::create(&device).unwrap();
        file.set_len(64 << 20).unwrap();
        let root = HostRoot(dir.path().to_path_buf());
        assert!(device_is_blank(&root, "/nvme0n1", 64 << 20));
        // What `zpool create` writes first: a protective MBR (type 0xEE) in front of its GPT.
        let mut sector = vec![0u8; 512];
        sector[446 + 4] = 0xee;
        sector[446 + 8..446 + 12].copy_from_slice(&1u32.to_le_bytes());
        sector[446 + 12..446 + 16].copy_from_slice(&((64u32 << 11) - 1).to_le_bytes());
        sector[510..].copy_from_slice(&[0x55, 0xaa]);
        std::fs::write(&device, [sector, vec![0u8; (64 << 20) - 512]].concat()).unwrap();
        assert!(!device_is_blank(&root, "/nvme0n1", 64 << 20));
        assert!(!device_is_blank(&root, "/absent", 64 << 20));
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
