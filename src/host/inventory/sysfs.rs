//! Block devices as sysfs shows them: /sys/block/NAME, its attributes, partitions, holders, and
//! for NVMe the controller and subsystem attributes (model, serial, firmware revision); for the
//! devices that can hold a drive, what names them (device-mapper's name and uuid, a loop device's
//! backing file, a bcache registration).
//!
//! With NVMe multipath on (Debian's and Proxmox's kernels), /sys/block/nvme0n1 lives under the
//! virtual nvme-subsystem, and hidden per-controller paths `nvme0c0n1` sit beside it: only
//! `nvmeXnY` has a device node, so the hidden paths are skipped. Namespace numbers follow the
//! subsystem, not the controller, so the controller is found through the subsystem's links.
//! Without multipath (nvme_core.multipath=N), the namespace sits directly under its controller
//! (fixture host no-multipath).

use std::fs;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Default)]
pub struct BlockEntry {
    pub name: String,
    /// The canonical sysfs directory (symlinks resolved).
    pub sys_path: PathBuf,
    pub dev: Option<String>,
    pub size_sectors: Option<u64>,
    pub removable: bool,
    pub read_only: bool,
    pub logical_block_size: Option<u32>,
    pub physical_block_size: Option<u32>,
    pub partitions: Vec<PartitionEntry>,
    pub holders: Vec<String>,
    /// Devices under a device-mapper or md device (`slaves/`).
    pub slaves: Vec<String>,
    /// device-mapper name (`dm/name`), for /dev/mapper/NAME mounts.
    pub dm_name: Option<String>,
    /// device-mapper uuid (`dm/uuid`): its prefix says who made the device (`LVM-`, `CRYPT-`).
    pub dm_uuid: Option<String>,
    /// A loop device's `loop/backing_file`: the path of the file it reads, as the kernel
    /// resolved it when the device was set up (`/dev/nvme0n1p1` for a partition).
    pub loop_backing_file: Option<String>,
    /// The device is registered with bcache (`bcache/` in its sysfs directory).
    pub bcache: Option<BcacheRegistration>,
    pub nvme: Option<NvmeIdentity>,
    /// SCSI/SATA `device/model` and `device/rev`.
    pub scsi_model: Option<String>,
    pub scsi_revision: Option<String>,
}

#[derive(Debug, Clone, Default)]
pub struct PartitionEntry {
    pub name: String,
    pub dev: Option<String>,
    pub holders: Vec<String>,
    /// The `partition` attribute: its number in the table (`-partN` in by-id links).
    pub number: Option<u32>,
    /// In 512-byte sectors, like the disk's.
    pub size_sectors: Option<u64>,
    /// Where it starts on the disk, in 512-byte sectors (absent in captures of older versions).
    pub start_sectors: Option<u64>,
    /// The partition is registered with bcache (`bcache/` in its sysfs directory).
    pub bcache: Option<BcacheRegistration>,
}

/// A device bcache has claimed: the kernel adds a `bcache` directory to it (drivers/md/bcache/
/// super.c, `register_bdev` and `register_cache`), linking a backing device to the bcacheN device
/// it runs as (`dev`), and a cache device to its cache set (`set`, /sys/fs/bcache/UUID).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BcacheRegistration {
    /// A backing device: `device` is its bcacheN while it runs (None while it waits for its
    /// cache).
    Backing { device: Option<String> },
    /// A cache device of the cache set with this uuid (`register_cache` links every cache
    /// device to its set as it registers it).
    Cache { set: String },
}

/// `bcache/` of a device directory: a directory of its own, not the link a bcacheN device has
/// back to its backing device's.
fn read_bcache(dir: &Path) -> Option<BcacheRegistration> {
    let bcache = dir.join("bcache");
    let meta = fs::symlink_metadata(&bcache).ok()?;
    if !meta.is_dir() {
        return None;
    }
    let link_name = |name: &str| {
        fs::read_link(bcache.join(name))
            .ok()
            .and_then(|t| t.file_name().map(|n| n.to_string_lossy().into_owned()))
    };
    Some(match link_name("set") {
        Some(set) => BcacheRegistration::Cache { set },
        None => BcacheRegistration::Backing {
            device: link_name("dev"),
        },
    })
}

#[derive(Debug, Clone, Default)]
pub struct NvmeIdentity {
    pub model: Option<String>,
    pub serial: Option<String>,
    pub firmware_rev: Option<String>,
    pub nsid: Option<u32>,
    pub wwid: Option<String>,
    pub eui: Option<String>,
    pub nguid: Option<String>,
    /// The controller serving this namespace (`nvme0`) and its PCI address (`0000:00:04.0`).
    pub controller: Option<String>,
    pub pci_address: Option<String>,
}

/// An attribute file's content, trimmed of the kernel's padding; None when absent or empty.
pub fn attr(dir: &Path, name: &str) -> Option<String> {
    let text = fs::read_to_string(dir.join(name)).ok()?;
    let trimmed = text.trim();
    (!trimmed.is_empty()).then(|| trimmed.to_string())
}

fn attr_num<T: std::str::FromStr>(dir: &Path, name: &str) -> Option<T> {
    attr(dir, name)?.parse().ok()
}

fn dir_names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// `nvme0c0n1`: a hidden per-controller path of a multipath namespace.
fn is_hidden_nvme_path(name: &str) -> bool {
    name.strip_prefix("nvme")
        .and_then(|r| r.split_once('c'))
        .is_some_and(|(subsys, rest)| {
            subsys.chars().all(|c| c.is_ascii_digit())
                && rest.contains('n')
                && rest.chars().all(|c| c.is_ascii_digit() || c == 'n')
        })
}

fn is_controller_name(name: &str) -> bool {
    name.strip_prefix("nvme")
        .is_some_and(|n| !n.is_empty() && n.chars().all(|c| c.is_ascii_digit()))
}

/// `zd0`, `zd16`: a zvol (its partitions are `zd0p1`, inside its own directory).
pub fn is_zvol(name: &str) -> bool {
    name.strip_prefix("zd")
        .is_some_and(|n| !n.is_empty() && n.chars().all(|c| c.is_ascii_digit()))
}

/// Reads every block device under `sys/block` but zvols, and counts those. A missing directory
/// gives an empty list; the caller reports it.
///
/// Zvols are ZFS's own volumes, never pool candidates, and a host that has lived a while has
/// hundreds of them (Proxmox makes one per VM disk): reading each one's attributes and udev
/// record made every run on such a host cost twice as much as on a new one.
pub fn scan(sys: &Path) -> (Vec<BlockEntry>, usize) {
    let block = sys.join("block");
    let (zvols, names): (Vec<String>, Vec<String>) = dir_names(&block)
        .into_iter()
        .filter(|name| !is_hidden_nvme_path(name))
        .partition(|name| is_zvol(name));
    let entries = names
        .into_iter()
        .filter(|name| !is_unused_loop_or_ram(&block, name))
        .map(|name| read_entry(&block, name))
        .collect();
    (entries, zvols.len())
}

/// A loop or RAM disk with nothing behind it (size 0): the kernel keeps eight idle loop devices
/// on most hosts, and they can hold nothing. Told from its size alone, before its other
/// attributes are read.
fn is_unused_loop_or_ram(block: &Path, name: &str) -> bool {
    (name.starts_with("loop") || name.starts_with("ram"))
        && attr_num::<u64>(&block.join(name), "size").unwrap_or(0) == 0
}

fn read_entry(block: &Path, name: String) -> BlockEntry {
    let link = block.join(&name);
    let dir = fs::canonicalize(&link).unwrap_or(link);
    // The kernel names a partition after its disk (`nvme0n1p1`, `sda1`): only those entries are
    // asked whether they are one, not every attribute of the device (under emulation each
    // question costs a system call the guest's kernel runs slowly).
    let partitions = dir_names(&dir)
        .into_iter()
        .filter(|p| p.starts_with(name.as_str()) && dir.join(p).join("partition").is_file())
        .map(|p| {
            let pdir = dir.join(&p);
            PartitionEntry {
                dev: attr(&pdir, "dev"),
                holders: dir_names(&pdir.join("holders")),
                number: attr_num(&pdir, "partition"),
                size_sectors: attr_num(&pdir, "size"),
                start_sectors: attr_num(&pdir, "start"),
                bcache: read_bcache(&pdir),
                name: p,
            }
        })
        .collect();
    let nvme = name.starts_with("nvme").then(|| read_nvme(&dir));
    BlockEntry {
        dev: attr(&dir, "dev"),
        size_sectors: attr_num(&dir, "size"),
        removable: attr(&dir, "removable").as_deref() == Some("1"),
        read_only: attr(&dir, "ro").as_deref() == Some("1"),
        logical_block_size: attr_num(&dir, "queue/logical_block_size"),
        physical_block_size: attr_num(&dir, "queue/physical_block_size"),
        holders: dir_names(&dir.join("holders")),
        slaves: dir_names(&dir.join("slaves")),
        dm_name: attr(&dir, "dm/name"),
        dm_uuid: attr(&dir, "dm/uuid"),
        loop_backing_file: name
            .starts_with("loop")
            .then(|| loop_backing_file(&dir))
            .flatten(),
        bcache: read_bcache(&dir),
        scsi_model: attr(&dir, "device/model"),
        scsi_revision: attr(&dir, "device/rev"),
        partitions,
        nvme,
        sys_path: dir,
        name,
    }
}

/// `loop/backing_file` without the newline the kernel ends it with; trailing spaces belong to
/// the path.
fn loop_backing_file(dir: &Path) -> Option<String> {
    let text = fs::read_to_string(dir.join("loop/backing_file")).ok()?;
    let path = text.strip_suffix('\n').unwrap_or(&text);
    (!path.is_empty()).then(|| path.to_string())
}

/// The namespace's parent directory is the subsystem (multipath) or the controller itself; both
/// carry model, serial and firmware_rev.
fn read_nvme(ns_dir: &Path) -> NvmeIdentity {
    let parent = ns_dir.parent().map(Path::to_path_buf).unwrap_or_default();
    let parent_name = parent
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let controller_dir = if is_controller_name(&parent_name) {
        Some(parent.clone())
    } else {
        dir_names(&parent)
            .into_iter()
            .find(|n| is_controller_name(n))
            .map(|n| fs::canonicalize(parent.join(&n)).unwrap_or_else(|_| parent.join(n)))
    };
    let from_either = |name: &str| {
        controller_dir
            .as_deref()
            .and_then(|c| attr(c, name))
            .or_else(|| attr(&parent, name))
    };
    NvmeIdentity {
        model: from_either("model"),
        serial: from_either("serial"),
        firmware_rev: from_either("firmware_rev"),
        nsid: attr_num(ns_dir, "nsid"),
        wwid: attr(ns_dir, "wwid"),
        eui: attr(ns_dir, "eui"),
        nguid: attr(ns_dir, "nguid"),
        controller: controller_dir
            .as_deref()
            .and_then(|c| c.file_name())
            .map(|n| n.to_string_lossy().into_owned()),
        pci_address: controller_dir.as_deref().and_then(|c| attr(c, "address")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hidden_multipath_paths_are_recognised() {
        assert!(is_hidden_nvme_path("nvme0c0n1"));
        assert!(is_hidden_nvme_path("nvme12c3n2"));
        assert!(!is_hidden_nvme_path("nvme0n1"));
        assert!(!is_hidden_nvme_path("nvme0n1p1"));
        assert!(is_controller_name("nvme3"));
        assert!(!is_controller_name("nvme-subsys0"));
        assert!(is_zvol("zd0") && is_zvol("zd4080"));
        assert!(!is_zvol("zd") && !is_zvol("zd0p1") && !is_zvol("zram0"));
    }
}
