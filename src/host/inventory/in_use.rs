//! What keeps a drive in use, so that it is never a candidate, `--wipe` or not: a mount in any
//! mount namespace, active swap, a loop device reading it, and whatever sysfs lists as holding it
//! (device-mapper, md, bcache), each named as an administrator knows it (the LV `vg/lv`, the LUKS
//! mapping, `/dev/md/NAME`) with the command that releases it.
//!
//! Reading ([`read_host_use`]: every namespace's mount table, /proc/swaps, loop devices' backing
//! files resolved under the root) is apart from judging ([`Usage::judge`]), a function of what was
//! read, sysfs's entries and the udev database.

use super::sysfs::{BcacheRegistration, BlockEntry};
use super::UdevRecords;
use crate::formats::mountinfo::{self, DeviceNumber, Mount, MountInfo};
use crate::host::root::HostRoot;
use crate::model::disk::{Holder, Ineligible, Remedy};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::io;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

/// A process in a mount namespace other than phoenix-zfs's own, through which it can be entered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(super) struct NamespaceProcess {
    pub pid: u32,
    /// Its `comm`: what the administrator sees in `ps`.
    pub comm: String,
}

/// A mount (or an active swap area) as one mount namespace shows it, with the block device it
/// stands on where that could be told.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct SeenMount {
    pub mount: Mount,
    /// mountinfo's device number; None where the table came from /proc/mounts or /proc/swaps.
    pub device: Option<DeviceNumber>,
    /// The kernel name a `/dev/...` source resolves to under the root (`mapper/NAME` where the
    /// link is not there to follow).
    pub source_device: Option<String>,
    /// None in phoenix-zfs's own namespace.
    pub elsewhere: Option<NamespaceProcess>,
}

/// What the host said about its mounts and loop devices, read once.
#[derive(Debug, Clone, Default)]
pub(super) struct HostUse {
    pub mounts: Vec<SeenMount>,
    /// Loop device -> the block device its backing file is (a kernel name, or `mapper/NAME`);
    /// a loop device backed by a regular file is not listed (its file system's mount covers it).
    pub loops: BTreeMap<String, String>,
}

/// Reads every mount namespace's mounts (or /proc/mounts where the host tree has no mountinfo: a
/// capture taken by an older `debug snapshot-host`, a synthesized fixture host), /proc/swaps, and
/// what each loop device reads.
pub(super) fn read_host_use(
    root: &HostRoot,
    entries: &[BlockEntry],
    notes: &mut Vec<String>,
) -> HostUse {
    let mut mounts = read_mounts(root, notes);
    // Active swap is in use like a mount; a host tree without /proc/swaps (a synthesized one, or
    // one recorded before snapshot-host kept it) has none.
    if let Ok(text) = fs::read_to_string(root.path("proc/swaps")) {
        mounts.extend(
            mountinfo::parse_swaps(&text)
                .into_iter()
                .map(|mount| SeenMount {
                    mount,
                    device: None,
                    source_device: None,
                    elsewhere: None,
                }),
        );
    }
    let by_dev = device_names(entries);
    for m in &mut mounts {
        // mountinfo's number names a listed device already; the source is asked only otherwise.
        let named = m
            .device
            .is_some_and(|d| !d.is_anonymous() && by_dev.contains_key(&d));
        if !named && m.mount.source.starts_with("/dev/") {
            m.source_device = resolve_block_device(root, &m.mount.source, entries, &by_dev);
        }
    }
    let loops = entries
        .iter()
        .filter_map(|e| {
            let backing = e.loop_backing_file.as_deref()?;
            let device = resolve_block_device(root, backing, entries, &by_dev)?;
            Some((e.name.clone(), device))
        })
        .collect();
    HostUse { mounts, loops }
}

/// The link /proc/PID/ns/mnt points at (`mnt:[4026531841]`): one per mount namespace.
pub(super) fn namespace_of(proc_dir: &Path) -> io::Result<PathBuf> {
    fs::read_link(proc_dir.join("ns/mnt"))
}

/// Every mount namespace but `own`, with the processes in it, lowest pid first; and how many
/// processes' namespaces could not be read for want of permission. A process that ended since
/// /proc was listed is simply not there.
pub(super) fn other_namespaces(
    root: &HostRoot,
    own: &Path,
) -> (BTreeMap<PathBuf, Vec<u32>>, usize) {
    let proc = root.path("proc");
    let mut pids: Vec<u32> = fs::read_dir(&proc)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse().ok())
        .collect();
    pids.sort_unstable();
    let mut namespaces: BTreeMap<PathBuf, Vec<u32>> = BTreeMap::new();
    let mut denied = 0;
    for pid in pids {
        match namespace_of(&proc.join(pid.to_string())) {
            Ok(namespace) if namespace != own => namespaces.entry(namespace).or_default().push(pid),
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::PermissionDenied => denied += 1,
            Err(_) => {}
        }
    }
    (namespaces, denied)
}

fn read_mounts(root: &HostRoot, notes: &mut Vec<String>) -> Vec<SeenMount> {
    let own = root.path("proc/self");
    let Ok(text) = fs::read_to_string(own.join("mountinfo")) else {
        return read_proc_mounts(root, notes);
    };
    let mut seen = Vec::new();
    add_mountinfo(&mut seen, &own.join("mountinfo"), &text, None, notes);
    // Without its own namespace's name, every other process would look like another namespace.
    let Ok(own_namespace) = namespace_of(&own) else {
        notes.push(format!(
            "cannot read {}: mounts in other mount namespaces are not seen",
            own.join("ns/mnt").display()
        ));
        return seen;
    };
    let (others, denied) = other_namespaces(root, &own_namespace);
    let mut others: Vec<Vec<u32>> = others.into_values().collect();
    others.sort_unstable();
    for pids in &others {
        // The first process of the namespace that is still there to be read speaks for it.
        for &pid in pids {
            let dir = root.path(&format!("proc/{pid}"));
            let Ok(text) = fs::read_to_string(dir.join("mountinfo")) else {
                continue;
            };
            let comm = fs::read_to_string(dir.join("comm")).unwrap_or_default();
            let process = NamespaceProcess {
                pid,
                comm: comm.trim_end_matches('\n').to_string(),
            };
            add_mountinfo(
                &mut seen,
                &dir.join("mountinfo"),
                &text,
                Some(process),
                notes,
            );
            break;
        }
    }
    if denied > 0 {
        notes.push(format!(
            "cannot read the mount namespace of {denied} process(es) under {} (run as root): mounts only they see are not known",
            root.path("proc").display()
        ));
    }
    seen
}

fn add_mountinfo(
    seen: &mut Vec<SeenMount>,
    path: &Path,
    text: &str,
    elsewhere: Option<NamespaceProcess>,
    notes: &mut Vec<String>,
) {
    let (mounts, errors) = mountinfo::parse_mountinfo(text);
    for e in errors {
        notes.push(format!("{}: {e}; that line is left out", path.display()));
    }
    seen.extend(mounts.iter().map(|m: &MountInfo| SeenMount {
        mount: m.mount(),
        device: Some(m.device),
        source_device: None,
        elsewhere: elsewhere.clone(),
    }));
}

fn read_proc_mounts(root: &HostRoot, notes: &mut Vec<String>) -> Vec<SeenMount> {
    let path = root.path("proc/mounts");
    match fs::read_to_string(&path) {
        Ok(text) => mountinfo::parse(&text)
            .into_iter()
            .map(|mount| SeenMount {
                mount,
                device: None,
                source_device: None,
                elsewhere: None,
            })
            .collect(),
        Err(e) => {
            notes.push(format!(
                "cannot read {}: {e}; mounted disks cannot be recognised",
                path.display()
            ));
            Vec::new()
        }
    }
}

/// Device number (sysfs `dev`) -> the kernel name of the device or partition that has it.
fn device_names(entries: &[BlockEntry]) -> BTreeMap<DeviceNumber, String> {
    let mut names = BTreeMap::new();
    for e in entries {
        let devices = std::iter::once((&e.name, &e.dev))
            .chain(e.partitions.iter().map(|p| (&p.name, &p.dev)));
        for (name, dev) in devices {
            if let Some(number) = dev.as_deref().and_then(DeviceNumber::parse) {
                names.insert(number, name.clone());
            }
        }
    }
    names
}

/// The block device a path names (`/dev/nvme0n1p1`, `/dev/disk/by-id/...-part1`,
/// `/dev/mapper/NAME`, `/dev/block/259:1`), as the kernel name of a listed device: the links are
/// followed under the root; where a device node is there (a live host), its device number
/// decides, so that a name is never taken for another device's; elsewhere (a host tree) the name
/// the links lead to does. None for anything else (a regular file, a path that leads nowhere).
fn resolve_block_device(
    root: &HostRoot,
    path: &str,
    entries: &[BlockEntry],
    by_dev: &BTreeMap<DeviceNumber, String>,
) -> Option<String> {
    let current = crate::host::identity::follow_links(root, path).ok()?;
    if let Ok(meta) = fs::metadata(root.path(&current.to_string_lossy())) {
        if meta.file_type().is_block_device() {
            let number = DeviceNumber {
                major: u32::try_from(nix::sys::stat::major(meta.rdev())).ok()?,
                minor: u32::try_from(nix::sys::stat::minor(meta.rdev())).ok()?,
            };
            return by_dev.get(&number).cloned();
        }
    }
    let name = current.strip_prefix("/dev").ok()?.to_str()?;
    if let Some(number) = name.strip_prefix("block/").and_then(DeviceNumber::parse) {
        return by_dev.get(&number).cloned();
    }
    if let Some(dm) = name.strip_prefix("mapper/") {
        return Some(
            entries
                .iter()
                .find(|e| e.dm_name.as_deref() == Some(dm))
                .map_or_else(|| name.to_string(), |e| e.name.clone()),
        );
    }
    let listed = entries
        .iter()
        .any(|e| e.name == name || e.partitions.iter().any(|p| p.name == name));
    listed.then(|| name.to_string())
}

/// Which disk each device (a disk, a partition, a stacked device, a loop device, `mapper/NAME`)
/// stands on, through any number of layers.
struct Owners {
    by_name: BTreeMap<String, BTreeSet<String>>,
    by_dev: BTreeMap<DeviceNumber, String>,
}

impl Owners {
    fn new(entries: &[BlockEntry], loops: &BTreeMap<String, String>) -> Owners {
        let mut by_name: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for e in entries {
            by_name
                .entry(e.name.clone())
                .or_default()
                .insert(e.name.clone());
            for p in &e.partitions {
                by_name
                    .entry(p.name.clone())
                    .or_default()
                    .insert(e.name.clone());
            }
        }
        // Stacked devices (dm, md, bcache) own what their slaves' disks are, loop devices what
        // their backing device's are: a few levels deep.
        for _ in 0..4 {
            for e in entries {
                let below: Vec<&String> = e.slaves.iter().chain(loops.get(&e.name)).collect();
                if below.is_empty() {
                    continue;
                }
                let disks: BTreeSet<String> = below
                    .iter()
                    .flat_map(|s| by_name.get(*s).cloned().unwrap_or_default())
                    .collect();
                by_name
                    .entry(e.name.clone())
                    .or_default()
                    .extend(disks.iter().cloned());
                if let Some(dm) = &e.dm_name {
                    by_name
                        .entry(format!("mapper/{dm}"))
                        .or_default()
                        .extend(disks);
                }
            }
        }
        Owners {
            by_name,
            by_dev: device_names(entries),
        }
    }

    fn of(&self, name: &str) -> BTreeSet<String> {
        self.by_name.get(name).cloned().unwrap_or_default()
    }

    /// The disks a mount stands on: by mountinfo's device number where it names a listed device;
    /// else by its source (a ZFS dataset's pool, a `/dev/...` path).
    fn of_mount(
        &self,
        m: &SeenMount,
        zfs_pools: &BTreeMap<String, BTreeSet<String>>,
    ) -> BTreeSet<String> {
        if let Some(name) = m
            .device
            .filter(|d| !d.is_anonymous())
            .and_then(|d| self.by_dev.get(&d))
        {
            return self.of(name);
        }
        if m.mount.fstype == "zfs" {
            let pool = m.mount.source.split('/').next().unwrap_or_default();
            return zfs_pools.get(pool).cloned().unwrap_or_default();
        }
        let name = m
            .source_device
            .as_deref()
            .or_else(|| m.mount.source.strip_prefix("/dev/"));
        name.map(|n| self.of(n)).unwrap_or_default()
    }
}

/// Why each disk is in use, in the order the holds must be released.
#[derive(Debug, Default)]
pub(super) struct Usage {
    by_disk: BTreeMap<String, Vec<Ineligible>>,
}

impl Usage {
    /// Judges what was read: no I/O.
    pub(super) fn judge(
        entries: &[BlockEntry],
        host: &HostUse,
        records: &UdevRecords,
        zfs_pools: &BTreeMap<String, BTreeSet<String>>,
    ) -> Usage {
        let owners = Owners::new(entries, &host.loops);
        let by_name: BTreeMap<&str, &BlockEntry> =
            entries.iter().map(|e| (e.name.as_str(), e)).collect();
        let mut by_disk: BTreeMap<String, Vec<Ineligible>> = BTreeMap::new();
        for e in entries {
            let mut reasons: Vec<Ineligible> = mount_reason(&e.name, host, &owners, zfs_pools)
                .into_iter()
                .collect();
            reasons.extend(holder_reasons(e, &by_name, &host.loops, records));
            if !reasons.is_empty() {
                by_disk.insert(e.name.clone(), reasons);
            }
        }
        Usage { by_disk }
    }

    pub(super) fn reasons_for(&self, disk: &str) -> Vec<Ineligible> {
        self.by_disk.get(disk).cloned().unwrap_or_default()
    }
}

/// One mount explains: a system mount first (the disk the host runs from), then one in
/// phoenix-zfs's own namespace, then one only another namespace has. A mount another namespace
/// shares with this one (a service's private namespace copies them all) is this one's.
fn mount_reason(
    disk: &str,
    host: &HostUse,
    owners: &Owners,
    zfs_pools: &BTreeMap<String, BTreeSet<String>>,
) -> Option<Ineligible> {
    let on_disk: Vec<&SeenMount> = host
        .mounts
        .iter()
        .filter(|m| owners.of_mount(m, zfs_pools).contains(disk))
        .collect();
    let own = |m: &&&SeenMount| m.elsewhere.is_none();
    let chosen = on_disk
        .iter()
        .filter(own)
        .find(|m| m.mount.is_system())
        .or_else(|| on_disk.iter().find(own))
        .or_else(|| on_disk.first())?;
    let (mountpoint, via) = (chosen.mount.mountpoint.clone(), chosen.mount.source.clone());
    Some(match &chosen.elsewhere {
        Some(process) => Ineligible::MountedInNamespace {
            mountpoint,
            via,
            pid: process.pid,
            comm: process.comm.clone(),
        },
        None if chosen.mount.is_system() => Ineligible::SystemDisk { mountpoint, via },
        None => Ineligible::Mounted { mountpoint, via },
    })
}

/// The devices that hold `name` directly: sysfs's holders of it and of its partitions, the loop
/// devices reading it, and the bcacheN a registration there runs as.
fn direct_holders(
    name: &str,
    entries: &BTreeMap<&str, &BlockEntry>,
    loops: &BTreeMap<String, String>,
) -> BTreeSet<String> {
    let mut holders = BTreeSet::new();
    if let Some(e) = entries.get(name) {
        holders.extend(e.holders.iter().cloned());
        for p in &e.partitions {
            holders.extend(p.holders.iter().cloned());
        }
    }
    holders.extend(
        loops
            .iter()
            .filter(|(_, backing)| backing.as_str() == name)
            .map(|(lo, _)| lo.clone()),
    );
    holders
}

/// The holders at the top of each stack over `device`: what has to go first.
fn tops(
    device: &str,
    entries: &BTreeMap<&str, &BlockEntry>,
    loops: &BTreeMap<String, String>,
) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    let mut pending: Vec<(String, usize)> = direct_holders(device, entries, loops)
        .into_iter()
        .map(|h| (h, 0))
        .collect();
    let mut visited = BTreeSet::new();
    while let Some((holder, depth)) = pending.pop() {
        if !visited.insert(holder.clone()) {
            continue;
        }
        let above = direct_holders(&holder, entries, loops);
        // Sixteen layers are more than any real stack; a loop in the links stops here.
        if above.is_empty() || depth >= 16 {
            found.insert(holder);
        } else {
            pending.extend(above.into_iter().map(|h| (h, depth + 1)));
        }
    }
    found
}

/// `vg-lv` as device-mapper names an LV (a `-` inside either name doubled), for a device udev has
/// no record of.
fn split_lvm_name(dm_name: &str) -> Option<(String, String)> {
    let bytes = dm_name.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'-' {
            if bytes.get(i + 1) == Some(&b'-') {
                i += 2;
                continue;
            }
            let (vg, lv) = (&dm_name[..i], &dm_name[i + 1..]);
            if vg.is_empty() || lv.is_empty() {
                return None;
            }
            return Some((vg.replace("--", "-"), lv.replace("--", "-")));
        }
        i += 1;
    }
    None
}

/// What a top-most holder is, from sysfs and udev: (holder, its LV layer if it is an LVM
/// device-mapper device that is not a plain LV).
fn name_holder(
    name: &str,
    entries: &BTreeMap<&str, &BlockEntry>,
    records: &UdevRecords,
) -> (Holder, Option<String>) {
    let entry = entries.get(name);
    let udev = records.of(name);
    let prop = |k: &str| udev.and_then(|r| r.property(k)).map(str::to_string);
    let dm_name = entry
        .and_then(|e| e.dm_name.clone())
        .or_else(|| prop("DM_NAME"));
    let dm_uuid = entry
        .and_then(|e| e.dm_uuid.clone())
        .or_else(|| prop("DM_UUID"));
    if let Some(dm_name) = dm_name {
        let uuid = dm_uuid.unwrap_or_default();
        if uuid.starts_with("LVM-") {
            let named = prop("DM_VG_NAME").zip(prop("DM_LV_NAME"));
            if let Some((vg, lv)) = named.or_else(|| split_lvm_name(&dm_name)) {
                return (
                    Holder::LogicalVolumes { vg, lvs: vec![lv] },
                    prop("DM_LV_LAYER"),
                );
            }
        }
        if uuid.starts_with("CRYPT-") {
            return (
                Holder::Crypt {
                    mapping: dm_name,
                    luks: uuid.starts_with("CRYPT-LUKS"),
                },
                None,
            );
        }
        return (Holder::DeviceMapper { name: dm_name }, None);
    }
    if let Some(backing_file) = entry.and_then(|e| e.loop_backing_file.clone()) {
        return (Holder::Loop { backing_file }, None);
    }
    if name.starts_with("md") {
        let by_udev = prop("MD_DEVNAME").or_else(|| {
            udev.and_then(|r| r.links.iter().find_map(|l| l.strip_prefix("md/")))
                .map(str::to_string)
        });
        let path = by_udev.map_or_else(|| format!("/dev/{name}"), |n| format!("/dev/md/{n}"));
        return (Holder::MdArray { path }, None);
    }
    if name.starts_with("bcache") && entries.contains_key(name) {
        return (
            Holder::BcacheBacking {
                device: Some(name.to_string()),
            },
            None,
        );
    }
    (Holder::Other, None)
}

/// What releases a holder (None where nothing here knows a command that does).
fn remedy_for(holder: &Holder, devices: &[String], layered: bool) -> Option<Remedy> {
    Some(match holder {
        Holder::LogicalVolumes { vg, lvs } if lvs.len() > 1 || layered => {
            Remedy::run(&["vgchange", "-an", vg])
        }
        Holder::LogicalVolumes { vg, lvs } => {
            Remedy::run(&["lvchange", "-an", &format!("{vg}/{}", lvs[0])])
        }
        Holder::Crypt { mapping, .. } => Remedy::run(&["cryptsetup", "close", mapping]),
        Holder::DeviceMapper { name } => Remedy::run(&["dmsetup", "remove", name]),
        Holder::MdArray { path } => Remedy::run(&["mdadm", "--stop", path]),
        Holder::Loop { .. } => {
            Remedy::run(&["losetup", "-d", &format!("/dev/{}", devices.first()?)])
        }
        Holder::BcacheBacking {
            device: Some(device),
        } => Remedy::write_one(format!("/sys/block/{device}/bcache/stop")),
        // Named by the registered device, which only the caller knows.
        Holder::BcacheBacking { device: None } | Holder::BcacheCache { .. } | Holder::Other => {
            return None
        }
    })
}

/// The LVs of one volume group over a drive: one command deactivates them all.
#[derive(Default)]
struct VolumeGroupHold {
    lvs: Vec<String>,
    /// Their device-mapper devices.
    devices: Vec<String>,
    /// The drive's devices under them.
    held: BTreeSet<String>,
    /// One is an LVM internal layer (a thin pool's `tpool`, a snapshot's `real`): not an LV
    /// `lvchange` can name alone.
    layered: bool,
}

/// The holds on a disk and its partitions: one reason per top-most holder (the LVs of one volume
/// group together), then what bcache registered there that no holder shows.
fn holder_reasons(
    e: &BlockEntry,
    entries: &BTreeMap<&str, &BlockEntry>,
    loops: &BTreeMap<String, String>,
    records: &UdevRecords,
) -> Vec<Ineligible> {
    // Top-most holder -> the disk's own devices under it.
    let mut held_by: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    // Each device's own holders (sysfs lists a partition's under the partition only).
    let devices = std::iter::once((e.name.as_str(), &e.holders))
        .chain(e.partitions.iter().map(|p| (p.name.as_str(), &p.holders)));
    for (device, holders) in devices {
        let mut own_only: BTreeSet<String> = holders.iter().cloned().collect();
        own_only.extend(
            loops
                .iter()
                .filter(|(_, backing)| backing.as_str() == device)
                .map(|(lo, _)| lo.clone()),
        );
        for holder in own_only {
            let mut top = tops(&holder, entries, loops);
            if top.is_empty() {
                top.insert(holder);
            }
            for t in top {
                held_by.entry(t).or_default().insert(device.to_string());
            }
        }
    }
    let mut reasons = Vec::new();
    let mut groups: BTreeMap<String, VolumeGroupHold> = BTreeMap::new();
    let mut running_bcache = BTreeSet::new();
    for (top, held) in held_by {
        let (holder, layer) = name_holder(&top, entries, records);
        if let Holder::LogicalVolumes { vg, lvs } = &holder {
            let group = groups.entry(vg.clone()).or_default();
            group.lvs.extend(lvs.iter().cloned());
            group.devices.push(top);
            group.held.extend(held);
            group.layered |= layer.is_some();
            continue;
        }
        if let Holder::BcacheBacking { device: Some(d) } = &holder {
            running_bcache.insert(d.clone());
        }
        let devices = vec![top];
        reasons.push(Ineligible::InUse {
            remedy: remedy_for(&holder, &devices, false),
            holder,
            devices,
            held: held.into_iter().collect(),
        });
    }
    for (vg, group) in groups {
        let holder = Holder::LogicalVolumes { vg, lvs: group.lvs };
        reasons.push(Ineligible::InUse {
            remedy: remedy_for(&holder, &group.devices, group.layered),
            holder,
            devices: group.devices,
            held: group.held.into_iter().collect(),
        });
    }
    let registered = std::iter::once((e.name.clone(), format!("/sys/block/{}", e.name), &e.bcache))
        .chain(e.partitions.iter().map(|p| {
            (
                p.name.clone(),
                format!("/sys/block/{}/{}", e.name, p.name),
                &p.bcache,
            )
        }));
    for (device, sys_dir, registration) in registered {
        let Some(registration) = registration else {
            continue;
        };
        let (holder, remedy) = match registration {
            BcacheRegistration::Backing { device: Some(d) } if running_bcache.contains(d) => {
                continue
            }
            BcacheRegistration::Backing { device: Some(d) } => {
                let holder = Holder::BcacheBacking {
                    device: Some(d.clone()),
                };
                let remedy = remedy_for(&holder, &[], false);
                (holder, remedy)
            }
            BcacheRegistration::Backing { device: None } => (
                Holder::BcacheBacking { device: None },
                Some(Remedy::write_one(format!("{sys_dir}/bcache/stop"))),
            ),
            BcacheRegistration::Cache { set } => (
                Holder::BcacheCache { set: set.clone() },
                Some(Remedy::write_one(format!(
                    "/sys/fs/bcache/{set}/unregister"
                ))),
            ),
        };
        let devices = match &holder {
            Holder::BcacheBacking { device: Some(d) } => vec![d.clone()],
            _ => Vec::new(),
        };
        reasons.push(Ineligible::InUse {
            holder,
            devices,
            held: vec![device],
            remedy,
        });
    }
    reasons
}

#[cfg(test)]
mod tests {
    use super::super::sysfs::PartitionEntry;
    use super::*;
    use crate::formats::udev;

    /// A disk with its partitions: (name, dev, holders).
    fn disk(name: &str, dev: &str, partitions: &[(&str, &str, &[&str])]) -> BlockEntry {
        BlockEntry {
            name: name.into(),
            dev: Some(dev.into()),
            partitions: partitions
                .iter()
                .map(|(p, d, holders)| PartitionEntry {
                    name: (*p).into(),
                    dev: Some((*d).into()),
                    holders: holders.iter().map(|h| h.to_string()).collect(),
                    ..Default::default()
                })
                .collect(),
            ..Default::default()
        }
    }

    /// A device-mapper device over `slaves`, held by `holders`.
    fn dm(
        name: &str,
        dev: &str,
        dm_name: &str,
        uuid: &str,
        slaves: &[&str],
        holders: &[&str],
    ) -> BlockEntry {
        BlockEntry {
            name: name.into(),
            dev: Some(dev.into()),
            dm_name: Some(dm_name.into()),
            dm_uuid: Some(uuid.into()),
            slaves: slaves.iter().map(|s| s.to_string()).collect(),
            holders: holders.iter().map(|h| h.to_string()).collect(),
            ..Default::default()
        }
    }

    fn records(of: &[(&str, &str)]) -> UdevRecords {
        UdevRecords(
            of.iter()
                .map(|(name, text)| (name.to_string(), udev::parse(text).unwrap()))
                .collect(),
        )
    }

    fn judge(entries: &[BlockEntry], host: &HostUse, records: &UdevRecords) -> Usage {
        Usage::judge(entries, host, records, &BTreeMap::new())
    }

    /// Each reason of `disk` as printed.
    fn said(usage: &Usage, disk: &str) -> Vec<String> {
        usage
            .reasons_for(disk)
            .iter()
            .map(ToString::to_string)
            .collect()
    }

    const LVM_UUID: &str = "LVM-Wq3xG0dUZk8bRkqN2qWk2bH4eKxQfX1cT5pBz0dGkq3Lr7vYy2sJm9nA4hCe6uFi";

    #[test]
    fn remedies_print_as_a_shell_runs_them() {
        assert_eq!(
            Remedy::write_one("/sys/block/bcache0/bcache/stop".into()).to_string(),
            "echo 1 | tee /sys/block/bcache0/bcache/stop"
        );
        assert_eq!(
            Remedy::run(&["umount", "/mnt/old root"]).to_string(),
            "umount '/mnt/old root'"
        );
    }

    #[test]
    fn lvm_names_split_as_device_mapper_escapes_them() {
        let split = |n: &str| split_lvm_name(n);
        assert_eq!(split("oldvg-oldlv"), Some(("oldvg".into(), "oldlv".into())));
        assert_eq!(
            split("my--vg-my--lv"),
            Some(("my-vg".into(), "my-lv".into()))
        );
        assert_eq!(
            split("pve-vm--100--disk--0"),
            Some(("pve".into(), "vm-100-disk-0".into()))
        );
        assert_eq!(split("nodash"), None);
        assert_eq!(split("-lv"), None);
        assert_eq!(split("vg-"), None);
    }

    #[test]
    fn an_lv_on_luks_on_a_partition_is_named_first_and_the_lv_by_udev() {
        let entries = [
            disk("nvme1n1", "259:2", &[("nvme1n1p1", "259:3", &["dm-0"])]),
            dm(
                "dm-0",
                "253:0",
                "cryptdata",
                "CRYPT-LUKS2-3f1b8e2ad6d94c3cb4b0a8e3c3b1e7a2-cryptdata",
                &["nvme1n1p1"],
                &["dm-1"],
            ),
            dm("dm-1", "253:1", "data-backups", LVM_UUID, &["dm-0"], &[]),
        ];
        // udev's names win over the device-mapper name's split: a VG named with a dash is
        // `data--x` there.
        let udev = records(&[(
            "dm-1",
            "E:DM_VG_NAME=data\nE:DM_LV_NAME=backups\nE:DM_LV_LAYER=\n",
        )]);
        let usage = judge(&entries, &HostUse::default(), &udev);
        assert_eq!(
            said(&usage, "nvme1n1"),
            ["in use: LV data/backups (dm-1) holds nvme1n1p1; deactivate it: `lvchange -an data/backups`"]
        );
        let reasons = usage.reasons_for("nvme1n1");
        let remedy = reasons[0].remedy().unwrap();
        assert_eq!(remedy.argv, ["lvchange", "-an", "data/backups"]);
        // Once the LV is gone, the LUKS mapping is the top.
        let entries = [
            entries[0].clone(),
            dm(
                "dm-0",
                "253:0",
                "cryptdata",
                "CRYPT-LUKS2-3f1b-cryptdata",
                &["nvme1n1p1"],
                &[],
            ),
        ];
        assert_eq!(
            said(&judge(&entries, &HostUse::default(), &udev), "nvme1n1"),
            ["in use: LUKS mapping cryptdata (dm-0) holds nvme1n1p1; close it: `cryptsetup close cryptdata`"]
        );
    }

    #[test]
    fn several_lvs_of_one_volume_group_are_deactivated_together() {
        let entries = [
            BlockEntry {
                holders: vec!["dm-0".into(), "dm-1".into()],
                ..disk("nvme0n1", "259:0", &[])
            },
            dm("dm-0", "253:0", "oldvg-a", LVM_UUID, &["nvme0n1"], &[]),
            dm("dm-1", "253:1", "oldvg-b--c", LVM_UUID, &["nvme0n1"], &[]),
        ];
        // No udev record: the names come from device-mapper's.
        let usage = judge(&entries, &HostUse::default(), &records(&[]));
        assert_eq!(
            said(&usage, "nvme0n1"),
            ["in use: LVs oldvg/a, oldvg/b-c (dm-0, dm-1) hold nvme0n1; deactivate them: `vgchange -an oldvg`"]
        );
    }

    #[test]
    fn md_arrays_other_device_mapper_devices_and_unknown_holders() {
        let entries = [
            disk("nvme2n1", "259:4", &[("nvme2n1p1", "259:5", &["md127"])]),
            BlockEntry {
                slaves: vec!["nvme2n1p1".into()],
                ..disk("md127", "9:127", &[])
            },
            BlockEntry {
                holders: vec!["dm-2".into()],
                ..disk("nvme3n1", "259:6", &[])
            },
            dm(
                "dm-2",
                "253:2",
                "mpatha",
                "mpath-36001405",
                &["nvme3n1"],
                &[],
            ),
            BlockEntry {
                holders: vec!["drbd0".into()],
                ..disk("nvme4n1", "259:8", &[])
            },
        ];
        let udev = records(&[("md127", "S:md/data\nE:MD_DEVNAME=data\nE:MD_LEVEL=raid1\n")]);
        let usage = judge(&entries, &HostUse::default(), &udev);
        assert_eq!(
            said(&usage, "nvme2n1"),
            ["in use: md array /dev/md/data (md127) holds nvme2n1p1; stop it: `mdadm --stop /dev/md/data`"]
        );
        assert_eq!(
            said(&usage, "nvme3n1"),
            ["in use: /dev/mapper/mpatha (dm-2) holds nvme3n1; remove it: `dmsetup remove mpatha`"]
        );
        assert_eq!(said(&usage, "nvme4n1"), ["in use: drbd0 holds nvme4n1"]);
        assert_eq!(usage.reasons_for("nvme4n1")[0].remedy(), None);
        // Without udev's name, the array is named by its node.
        let usage = judge(&entries, &HostUse::default(), &records(&[]));
        assert!(said(&usage, "nvme2n1")[0].ends_with("`mdadm --stop /dev/md127`"));
    }

    #[test]
    fn bcache_backing_and_cache_devices() {
        let mut backing = disk(
            "nvme5n1",
            "259:10",
            &[("nvme5n1p1", "259:11", &[]), ("nvme5n1p2", "259:12", &[])],
        );
        backing.holders = vec!["bcache0".into()];
        backing.bcache = Some(BcacheRegistration::Backing {
            device: Some("bcache0".into()),
        });
        backing.partitions[1].bcache = Some(BcacheRegistration::Backing { device: None });
        let mut cache = disk("nvme6n1", "259:13", &[]);
        cache.bcache = Some(BcacheRegistration::Cache {
            set: "6f0c8e2b-7d1c-4a0e-9a57-2c1b1f1d9e3a".into(),
        });
        let bcache0 = BlockEntry {
            slaves: vec!["nvme5n1".into()],
            ..disk("bcache0", "252:0", &[])
        };
        let usage = judge(
            &[backing, cache, bcache0],
            &HostUse::default(),
            &records(&[]),
        );
        assert_eq!(
            said(&usage, "nvme5n1"),
            [
                "in use: bcache0 runs on nvme5n1, its backing device; stop bcache0: `echo 1 | tee /sys/block/bcache0/bcache/stop`",
                "in use: nvme5n1p2 is a registered bcache backing device, waiting for its cache; stop it: `echo 1 | tee /sys/block/nvme5n1/nvme5n1p2/bcache/stop`",
            ]
        );
        assert_eq!(
            said(&usage, "nvme6n1"),
            ["in use: nvme6n1 is a cache device of bcache cache set 6f0c8e2b-7d1c-4a0e-9a57-2c1b1f1d9e3a; unregister the cache set: `echo 1 | tee /sys/fs/bcache/6f0c8e2b-7d1c-4a0e-9a57-2c1b1f1d9e3a/unregister`"]
        );
    }

    fn seen(
        source: &str,
        mountpoint: &str,
        device: Option<&str>,
        elsewhere: Option<(u32, &str)>,
    ) -> SeenMount {
        SeenMount {
            mount: Mount {
                source: source.into(),
                mountpoint: mountpoint.into(),
                fstype: "ext4".into(),
            },
            device: device.and_then(DeviceNumber::parse),
            source_device: None,
            elsewhere: elsewhere.map(|(pid, comm)| NamespaceProcess {
                pid,
                comm: comm.into(),
            }),
        }
    }

    #[test]
    fn a_loop_device_over_a_partition_and_its_mount() {
        let entries = [
            disk("nvme0n1", "259:0", &[("nvme0n1p1", "259:1", &[])]),
            BlockEntry {
                loop_backing_file: Some("/dev/nvme0n1p1".into()),
                ..disk("loop0", "7:0", &[])
            },
        ];
        let mut host = HostUse {
            mounts: Vec::new(),
            loops: BTreeMap::from([("loop0".to_string(), "nvme0n1p1".to_string())]),
        };
        assert_eq!(
            said(&judge(&entries, &host, &records(&[])), "nvme0n1"),
            ["in use: loop0 (backed by /dev/nvme0n1p1) reads nvme0n1p1; detach it: `losetup -d /dev/loop0`"]
        );
        // Mounted, by its device number alone (the source names a path that says nothing): the
        // mount goes first, then the loop device.
        host.mounts
            .push(seen("/dev/root", "/srv/old", Some("7:0"), None));
        let usage = judge(&entries, &host, &records(&[]));
        let reasons = said(&usage, "nvme0n1");
        assert_eq!(reasons.len(), 2);
        assert_eq!(
            reasons[0],
            "in use: /srv/old is mounted from /dev/root; unmount it: `umount /srv/old`"
        );
        assert!(reasons[1].starts_with("in use: loop0"), "{reasons:?}");
        // The loop device itself is in use by the same mount, and is no candidate anyway.
        assert_eq!(said(&usage, "loop0").len(), 1);
    }

    #[test]
    fn mounts_in_other_namespaces_count_after_this_ones() {
        let entries = [
            disk("nvme0n1", "259:0", &[("nvme0n1p1", "259:1", &[])]),
            disk("nvme1n1", "259:2", &[("nvme1n1p1", "259:3", &[])]),
        ];
        let host = HostUse {
            mounts: vec![
                // A service's private namespace copies this namespace's mount.
                seen(
                    "/dev/nvme0n1p1",
                    "/mnt/old",
                    Some("259:1"),
                    Some((812, "systemd-timesyn")),
                ),
                seen("/dev/nvme0n1p1", "/mnt/old", Some("259:1"), None),
                seen(
                    "/dev/nvme1n1p1",
                    "/srv",
                    Some("259:3"),
                    Some((1234, "nginx")),
                ),
            ],
            loops: BTreeMap::new(),
        };
        let usage = judge(&entries, &host, &records(&[]));
        assert_eq!(
            said(&usage, "nvme0n1"),
            ["in use: /mnt/old is mounted from /dev/nvme0n1p1; unmount it: `umount /mnt/old`"]
        );
        assert_eq!(
            said(&usage, "nvme1n1"),
            ["in use: /dev/nvme1n1p1 is mounted at /srv in another mount namespace (pid 1234, comm nginx); unmount it: `nsenter -t 1234 -m umount /srv`"]
        );
    }

    #[test]
    fn swap_and_system_mounts() {
        let entries = [disk(
            "nvme0n1",
            "259:0",
            &[("nvme0n1p2", "259:2", &[]), ("nvme0n1p3", "259:3", &[])],
        )];
        let mut swap = seen("/dev/nvme0n1p2", mountinfo::SWAP, None, None);
        swap.mount.fstype = "swap".into();
        let host = HostUse {
            mounts: vec![
                swap.clone(),
                seen("/dev/nvme0n1p3", "/", Some("259:3"), None),
            ],
            loops: BTreeMap::new(),
        };
        assert_eq!(
            said(&judge(&entries, &host, &records(&[])), "nvme0n1"),
            ["system disk: / is mounted from /dev/nvme0n1p3"]
        );
        let host = HostUse {
            mounts: vec![swap],
            loops: BTreeMap::new(),
        };
        assert_eq!(
            said(&judge(&entries, &host, &records(&[])), "nvme0n1"),
            ["in use: /dev/nvme0n1p2 is active swap; turn it off: `swapoff /dev/nvme0n1p2`"]
        );
    }

    fn write(path: &Path, text: &str) {
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, text).unwrap();
    }

    fn link(target: &str, at: &Path) {
        fs::create_dir_all(at.parent().unwrap()).unwrap();
        std::os::unix::fs::symlink(target, at).unwrap();
    }

    #[test]
    fn every_mount_namespace_is_read_once() {
        let dir = tempfile::tempdir().unwrap();
        let root = HostRoot(dir.path().to_path_buf());
        let proc = dir.path().join("proc");
        let own = "27 1 259:3 / / rw,relatime - ext4 /dev/nvme0n1p3 rw\n";
        write(&proc.join("self/mountinfo"), own);
        link("mnt:[4026531841]", &proc.join("self/ns/mnt"));
        // pid 1 shares this namespace; 1234 and 1300 share another; 77 ended before it was read.
        link("mnt:[4026531841]", &proc.join("1/ns/mnt"));
        write(&proc.join("1/mountinfo"), own);
        for pid in ["1234", "1300"] {
            link("mnt:[4026532174]", &proc.join(pid).join("ns/mnt"));
            write(
                &proc.join(pid).join("mountinfo"),
                "46 45 259:1 / /srv rw - ext4 /dev/nvme1n1p1 rw\nbroken\n",
            );
            write(&proc.join(pid).join("comm"), "nginx\n");
        }
        fs::create_dir_all(proc.join("77")).unwrap();
        let mut notes = Vec::new();
        let host = read_host_use(&root, &[], &mut notes);
        let where_: Vec<(String, Option<u32>)> = host
            .mounts
            .iter()
            .map(|m| {
                (
                    m.mount.mountpoint.clone(),
                    m.elsewhere.as_ref().map(|p| p.pid),
                )
            })
            .collect();
        assert_eq!(
            where_,
            [("/".to_string(), None), ("/srv".to_string(), Some(1234))]
        );
        assert_eq!(host.mounts[1].elsewhere.as_ref().unwrap().comm, "nginx");
        assert_eq!(host.mounts[1].device.unwrap().to_string(), "259:1");
        assert_eq!(notes.len(), 1, "{notes:?}");
        assert!(notes[0].contains("1234/mountinfo: line 2"), "{notes:?}");
    }

    #[test]
    fn a_host_tree_without_mountinfo_reads_proc_mounts() {
        let dir = tempfile::tempdir().unwrap();
        let root = HostRoot(dir.path().to_path_buf());
        write(&dir.path().join("proc/mounts"), "/dev/vda / ext4 rw 0 0\n");
        let mut notes = Vec::new();
        let host = read_host_use(&root, &[], &mut notes);
        assert_eq!(host.mounts.len(), 1);
        assert_eq!(host.mounts[0].device, None);
        assert!(notes.is_empty());
        fs::remove_file(dir.path().join("proc/mounts")).unwrap();
        assert!(read_host_use(&root, &[], &mut notes).mounts.is_empty());
        assert!(notes[0].contains("mounted disks cannot be recognised"));
    }

    #[test]
    fn backing_files_resolve_through_links_to_a_listed_device() {
        let dir = tempfile::tempdir().unwrap();
        let root = HostRoot(dir.path().to_path_buf());
        let entries = [
            disk("nvme0n1", "259:0", &[("nvme0n1p1", "259:1", &[])]),
            dm(
                "dm-0",
                "253:0",
                "oldvg-oldlv",
                LVM_UUID,
                &["nvme0n1p1"],
                &[],
            ),
            BlockEntry {
                loop_backing_file: Some("/dev/disk/by-id/nvme-X_S1_1-part1".into()),
                ..disk("loop0", "7:0", &[])
            },
            BlockEntry {
                loop_backing_file: Some("/dev/mapper/oldvg-oldlv".into()),
                ..disk("loop1", "7:1", &[])
            },
            BlockEntry {
                loop_backing_file: Some("/var/lib/images/disk.img".into()),
                ..disk("loop2", "7:2", &[])
            },
            BlockEntry {
                loop_backing_file: Some("/dev/block/259:1".into()),
                ..disk("loop3", "7:3", &[])
            },
        ];
        link(
            "../../nvme0n1p1",
            &dir.path().join("dev/disk/by-id/nvme-X_S1_1-part1"),
        );
        write(&dir.path().join("dev/nvme0n1p1"), "");
        let host = read_host_use(&root, &entries, &mut Vec::new());
        let loops: Vec<(&str, &str)> = host
            .loops
            .iter()
            .map(|(l, b)| (l.as_str(), b.as_str()))
            .collect();
        assert_eq!(
            loops,
            [
                ("loop0", "nvme0n1p1"),
                ("loop1", "dm-0"),
                ("loop3", "nvme0n1p1")
            ]
        );
        // A link that leads back to itself ends the walk, and names nothing listed.
        link("self", &dir.path().join("dev/self"));
        let by_dev = device_names(&entries);
        assert_eq!(
            resolve_block_device(&root, "/dev/self", &entries, &by_dev),
            None
        );
    }

    /// On a live host a device node's number decides, not its name: a listed device that has
    /// another's name is not taken for it.
    #[test]
    fn a_device_node_is_known_by_its_number() {
        let Some((node, number)) = fs::read_dir("/dev")
            .into_iter()
            .flatten()
            .flatten()
            .find_map(|e| {
                let meta = fs::metadata(e.path()).ok()?;
                meta.file_type().is_block_device().then(|| {
                    let rdev = meta.rdev();
                    (
                        e.path(),
                        format!(
                            "{}:{}",
                            nix::sys::stat::major(rdev),
                            nix::sys::stat::minor(rdev)
                        ),
                    )
                })
            })
        else {
            panic!("this test needs a block device under /dev");
        };
        let name = node.file_name().unwrap().to_string_lossy().into_owned();
        let entries = [disk(&name, "1:255", &[]), disk("impostor", &number, &[])];
        let by_dev = device_names(&entries);
        let path = node.to_string_lossy();
        assert_eq!(
            resolve_block_device(&HostRoot::live(), &path, &entries, &by_dev).as_deref(),
            Some("impostor")
        );
    }
}
