//! `cargo xtask fixture-hosts`: writes the synthesized fixture hosts under tests/fixtures/hosts/
//! from their specs (tests/fixtures/hosts/NAME.toml).
//!
//! A fixture host is the part of a root file system phoenix-zfs reads: sys/ (block devices),
//! run/udev/data/ (as systemd 252 writes it), dev/disk/by-id/ links, proc/mounts, and for each
//! NVMe drive and each of its partitions dev/NAME holding what the probe reads of it, as
//! `debug snapshot-host` captures it (with its dev/NAME.windows index). A spec may add what keeps
//! drives in use: devices stacked on them under /sys/devices/virtual/block (device-mapper, md,
//! loop, bcache; each listed in its slaves' `holders/`, as bd_link_disk_holder does, a loop device
//! in none), bcache registrations, and mount namespaces (proc/self/mountinfo and proc/PID/mountinfo
//! with their ns/mnt links, as snapshot-host records them).
//!
//! Synthesized hosts stand for hardware this project cannot run on; recorded hosts (captured
//! with `phoenix-zfs debug snapshot-host`, such as qemu-recorded) have no spec. Every shape here
//! is taken from the recorded QEMU guest (Linux 6.12, NVMe multipath on, systemd 252) and from
//! the kernel code that makes it, so that a synthesized host reads like a recorded one:
//! - NVMe strings are what drivers/nvme/host/sysfs.c prints: the device's space-padded
//!   fields at their full width (model 40, serial 20, firmware_rev 8).
//! - A namespace's wwid follows wwid_show(): `eui.` + the NGUID, else `eui.` + the EUI-64,
//!   else `nvme.VVVV-SERIAL-MODEL-NSID` (PCI vendor id, then serial and model in hex with
//!   their padding trimmed); `eui` and `nguid` exist only when the drive reports them.
//! - physical_block_size is the logical one unless the spec says otherwise (QEMU says 512).
//! - With multipath, the namespace lives under nvme-subsystem/nvme-subsysS and the hidden
//!   per-controller path `nvmeScCnN` (subsystem, controller, namespace instance) under the
//!   controller, without a `dev` (hidden disks get no device number) but with a minor of
//!   its own, taken before the namespace's, as the kernel adds the path disk first.
//! - Without multipath (`multipath = false`, nvme_core.multipath=N), the namespace
//!   `nvmeCnN` sits directly under its controller and nothing is hidden.

use crate::flags::FixtureHostsOptions;
use anyhow::{bail, ensure, Context, Result};
use phoenix_zfs::formats::ondisk;
use phoenix_zfs::host::inventory::capture;
use serde::Deserialize;
use std::fs;
use std::io::Read;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct HostSpec {
    description: String,
    /// nvme_core.multipath: on in Debian's and Proxmox's kernels.
    #[serde(default = "yes")]
    multipath: bool,
    #[serde(default, rename = "disk")]
    disks: Vec<DiskSpec>,
    #[serde(default, rename = "mount")]
    mounts: Vec<MountSpec>,
    /// Block devices stacked on the drives (device-mapper, md, loop, bcache), in the order the
    /// kernel made them: a device's slaves are defined before it.
    #[serde(default, rename = "stacked")]
    stacked: Vec<StackedSpec>,
    /// Devices bcache has registered.
    #[serde(default, rename = "bcache")]
    bcache: Vec<BcacheSpec>,
    /// Mount namespaces besides the host's own. With any (or `mountinfo = true`), the host's
    /// mounts are also written as proc/self/mountinfo, as snapshot-host records them.
    #[serde(default, rename = "namespace")]
    namespaces: Vec<NamespaceSpec>,
    #[serde(default)]
    mountinfo: bool,
}

/// A virtual block device over the drives, under /sys/devices/virtual/block.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct StackedSpec {
    /// Kernel name: dm-0, md127, loop0, bcache0.
    name: String,
    /// Its device number (253:N device-mapper, 9:N md, 7:N loop, bcache's dynamic major).
    dev: String,
    /// In bytes.
    size: u64,
    /// What it stands on: each is linked in its `slaves/` and lists it in `holders/`. A loop
    /// device has none (the kernel links neither way; its backing file names what it reads).
    #[serde(default)]
    slaves: Vec<String>,
    /// device-mapper's `dm/name` and `dm/uuid` (udev's DM_NAME and DM_UUID).
    #[serde(default)]
    dm_name: Option<String>,
    #[serde(default)]
    dm_uuid: Option<String>,
    /// A loop device's `loop/backing_file`.
    #[serde(default)]
    backing_file: Option<String>,
    /// Further properties of its udev record (DM_VG_NAME, MD_DEVNAME, ...).
    #[serde(default)]
    udev: std::collections::BTreeMap<String, String>,
    /// Its udev record's links, relative to /dev (`mapper/NAME`, `md/NAME`).
    #[serde(default)]
    links: Vec<String>,
}

/// A disk or partition bcache registered (drivers/md/bcache/super.c: a `bcache` directory in
/// the device's own).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct BcacheSpec {
    device: String,
    /// A backing device running as this bcacheN (a [[stacked]] device over it).
    #[serde(default)]
    runs_as: Option<String>,
    /// A cache device of this cache set. Neither key: a backing device waiting for its cache.
    #[serde(default)]
    cache_set: Option<String>,
}

/// A mount namespace other than the host's, as one process in it shows it.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NamespaceSpec {
    pid: u32,
    comm: String,
    #[serde(default, rename = "mount")]
    mounts: Vec<MountSpec>,
}

#[derive(Deserialize, Clone, Copy, PartialEq, Eq)]
#[serde(deny_unknown_fields, rename_all = "lowercase")]
enum Bus {
    Nvme,
    Sata,
    Usb,
    Virtio,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DiskSpec {
    bus: Bus,
    /// Kernel name: nvme0n1, sda, vda.
    name: String,
    /// What the drive reports (NVMe identify, SCSI INQUIRY product); virtio disks have none.
    #[serde(default)]
    model: Option<String>,
    /// What udev says the model is, where it differs from what the drive reports (the QEMU test
    /// guest sets real model names through a udev rule, as a hardware database would).
    #[serde(default)]
    udev_model: Option<String>,
    /// SCSI INQUIRY vendor: `ATA` for SATA drives (libata's), the bridge's for USB.
    #[serde(default)]
    vendor: Option<String>,
    serial: String,
    #[serde(default)]
    firmware: Option<String>,
    /// NVMe: the PCI vendor id in the identify data (QEMU 0x1b36, Samsung 0x144d), which names
    /// the namespace when it reports neither NGUID nor EUI-64.
    #[serde(default)]
    vendor_id: Option<u16>,
    /// NVMe: the namespace's EUI-64, 16 hex digits, when the drive reports one.
    #[serde(default)]
    eui64: Option<String>,
    /// NVMe: the namespace's NGUID, 32 hex digits, when the drive reports one.
    #[serde(default)]
    nguid: Option<String>,
    size: u64,
    #[serde(default = "default_lbs")]
    logical_block_size: u32,
    /// Defaults to the logical block size, as QEMU and most NVMe drives report it.
    #[serde(default)]
    physical_block_size: Option<u32>,
    /// PCI address of the NVMe controller, of the SATA/USB host controller, of the virtio device.
    pci: String,
    /// NVMe controller name (nvme0): not always the namespace's number, as on real hosts.
    #[serde(default)]
    controller: Option<String>,
    #[serde(default)]
    removable: bool,
    #[serde(default)]
    read_only: bool,
    /// What udev's blkid found on the whole disk (ID_FS_TYPE, ID_FS_LABEL, ID_FS_UUID).
    #[serde(default)]
    fs_type: Option<String>,
    #[serde(default)]
    fs_label: Option<String>,
    #[serde(default)]
    fs_uuid: Option<String>,
    #[serde(default, rename = "partition")]
    partitions: Vec<PartitionSpec>,
    /// A signature fixture (tests/fixtures/signatures/NAME) whose first and last MiB the drive
    /// holds; absent means blank.
    #[serde(default)]
    content: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PartitionSpec {
    /// Kernel name: nvme0n1p1, sda2 (its number in the table is taken from it).
    name: String,
    /// In bytes.
    size: u64,
    /// udev's ID_FS_TYPE.
    fs_type: String,
    #[serde(default)]
    label: Option<String>,
    #[serde(default)]
    holders: Vec<String>,
    /// As for a disk: the signature fixture the partition's own first and last MiB hold.
    #[serde(default)]
    content: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct MountSpec {
    source: String,
    mountpoint: String,
    fstype: String,
    /// mountinfo's device number; absent, the number of the device `source` names (a synthesized
    /// one), else an anonymous one (major 0).
    #[serde(default)]
    dev: Option<String>,
}

fn yes() -> bool {
    true
}

fn default_lbs() -> u32 {
    512
}

fn write(path: &Path, content: impl AsRef<[u8]>) -> Result<()> {
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent)
            .with_context(|| format!("cannot create {}", parent.display()))?;
    }
    fs::write(path, content).with_context(|| format!("cannot write {}", path.display()))
}

fn link(target: &str, at: &Path) -> Result<()> {
    if let Some(parent) = at.parent() {
        fs::create_dir_all(parent)?;
    }
    symlink(target, at).with_context(|| format!("cannot link {} -> {target}", at.display()))
}

/// Kernel-style attribute: the value and a newline.
fn attr(dir: &Path, name: &str, value: &str) -> Result<()> {
    write(&dir.join(name), format!("{value}\n"))
}

/// A fixed-width field as the device hands it over and sysfs prints it (`%.*s`): space-padded
/// to its width. Longer is an error: no device can report it.
fn padded(what: &str, value: &str, width: usize) -> Result<String> {
    ensure!(
        value.len() <= width,
        "{what} `{value}` is longer than the {width} characters the device field holds"
    );
    Ok(format!("{value:<width$}"))
}

/// `cargo xtask fixture-hosts`.
pub fn write_hosts(options: &FixtureHostsOptions) -> Result<()> {
    let names = &options.names;
    let dir = hosts_dir();
    let specs = specs(&dir)?
        .into_iter()
        .filter(|p| {
            names.is_empty()
                || names
                    .iter()
                    .any(|a| p.file_stem().is_some_and(|s| s == a.as_str()))
        })
        .collect::<Vec<_>>();
    if specs.is_empty() {
        bail!("no host specs (*.toml) in {}", dir.display());
    }
    for spec_path in specs {
        let out = spec_path.with_extension("");
        if out.exists() {
            fs::remove_dir_all(&out).with_context(|| format!("cannot remove {}", out.display()))?;
        }
        let description = generate(&spec_path, &out)?;
        eprintln!("xtask: wrote {} ({description})", out.display());
    }
    Ok(())
}

fn hosts_dir() -> PathBuf {
    crate::util::workspace_root().join("tests/fixtures/hosts")
}

/// Every spec (NAME.toml) under `dir`, sorted.
fn specs(dir: &Path) -> Result<Vec<PathBuf>> {
    crate::util::files_with_extension(dir, "toml")
}

/// Writes the host `spec_path` describes into `out` (which must not exist yet); returns its
/// description.
fn generate(spec_path: &Path, out: &Path) -> Result<String> {
    let text = fs::read_to_string(spec_path)
        .with_context(|| format!("cannot read {}", spec_path.display()))?;
    let spec: HostSpec =
        toml::from_str(&text).with_context(|| format!("{}", spec_path.display()))?;
    write_host(&spec, out).with_context(|| format!("writing {}", out.display()))?;
    Ok(spec.description)
}

/// Device numbers and disk sequence numbers, handed out in spec order as the kernel hands
/// them out in probe order.
#[derive(Default)]
struct Numbers {
    /// blkext (259): NVMe namespaces, their hidden paths and partitions, one after another.
    blkext: u32,
    sd: u32,
    vd: u32,
    diskseq: u32,
}

impl Numbers {
    fn blkext(&mut self) -> String {
        self.blkext += 1;
        format!("259:{}", self.blkext - 1)
    }

    fn diskseq(&mut self) -> u32 {
        self.diskseq += 1;
        self.diskseq
    }
}

fn write_host(spec: &HostSpec, out: &Path) -> Result<()> {
    let sys = out.join("sys");
    let udev = out.join("run/udev/data");
    fs::create_dir_all(&udev)?;
    let mut mounts = String::new();
    for m in &spec.mounts {
        mounts.push_str(&format!(
            "{} {} {} rw,relatime 0 0\n",
            m.source, m.mountpoint, m.fstype
        ));
    }
    mounts
        .push_str("proc /proc proc rw,nosuid,nodev,noexec,relatime 0 0\nsysfs /sys sysfs rw 0 0\n");
    write(&out.join("proc/mounts"), mounts)?;
    let mut numbers = Numbers::default();
    let host = Host {
        sys: &sys,
        udev: &udev,
        out,
        multipath: spec.multipath,
    };
    for (index, disk) in spec.disks.iter().enumerate() {
        match disk.bus {
            Bus::Nvme => host.nvme(disk, &mut numbers),
            Bus::Sata | Bus::Usb => host.scsi(disk, index, &mut numbers),
            Bus::Virtio => host.virtio(disk, &mut numbers),
        }
        .with_context(|| format!("disk {}", disk.name))?;
    }
    for device in &spec.stacked {
        stacked(&sys, &udev, device).with_context(|| format!("stacked device {}", device.name))?;
    }
    for registration in &spec.bcache {
        bcache(&sys, registration)
            .with_context(|| format!("bcache registration of {}", registration.device))?;
    }
    if spec.mountinfo || !spec.namespaces.is_empty() {
        mount_namespaces(spec, out)?;
    }
    Ok(())
}

struct Host<'a> {
    sys: &'a Path,
    udev: &'a Path,
    out: &'a Path,
    multipath: bool,
}

/// The block attributes every disk has, in the recorded formats.
fn queue(dir: &Path, disk: &DiskSpec) -> Result<()> {
    attr(dir, "size", &(disk.size / 512).to_string())?;
    attr(dir, "removable", if disk.removable { "1" } else { "0" })?;
    attr(dir, "ro", if disk.read_only { "1" } else { "0" })?;
    attr(
        dir,
        "queue/logical_block_size",
        &disk.logical_block_size.to_string(),
    )?;
    attr(
        dir,
        "queue/physical_block_size",
        &disk
            .physical_block_size
            .unwrap_or(disk.logical_block_size)
            .to_string(),
    )?;
    fs::create_dir_all(dir.join("holders"))?;
    Ok(())
}

/// One udev database record, in the order systemd 252 writes it: links, init time, properties,
/// tags.
fn udev_record(links: &[String], properties: &[(&str, String)]) -> String {
    let mut text = String::new();
    for l in links {
        text.push_str(&format!("S:{l}\n"));
    }
    text.push_str("I:2811423\n");
    for (k, v) in properties {
        text.push_str(&format!("E:{k}={v}\n"));
    }
    text.push_str("G:systemd\nQ:systemd\nV:1\n");
    text
}

/// udev's ID_PATH_TAG: ID_PATH with every character outside [A-Za-z0-9-] made `_`.
fn path_tag(path: &str) -> String {
    path.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// The blkid properties udev keeps for what the spec says is on a device.
fn fs_properties(
    fs_type: Option<&str>,
    label: Option<&str>,
    uuid: Option<&str>,
) -> Vec<(&'static str, String)> {
    let mut props = Vec::new();
    if let Some(label) = label {
        props.push(("ID_FS_LABEL", label.to_string()));
        props.push(("ID_FS_LABEL_ENC", label.to_string()));
    }
    if let Some(uuid) = uuid {
        props.push(("ID_FS_UUID", uuid.to_string()));
        props.push(("ID_FS_UUID_ENC", uuid.to_string()));
    }
    if let Some(fs_type) = fs_type {
        props.push(("ID_FS_TYPE", fs_type.to_string()));
        props.push(("ID_FS_USAGE", "filesystem".to_string()));
    }
    props
}

/// `nvme0n1` -> (0, 1).
fn nvme_numbers(name: &str) -> Result<(u32, u32)> {
    let parsed = name.strip_prefix("nvme").and_then(|r| {
        let (a, n) = r.split_once('n')?;
        Some((a.parse().ok()?, n.parse().ok()?))
    });
    parsed.with_context(|| format!("`{name}` is not an NVMe namespace name (nvmeXnY)"))
}

/// The partition's number in the table, from its name: nvme0n1p2 -> 2, sda1 -> 1.
fn partition_number(disk: &str, partition: &str) -> Result<u32> {
    partition
        .strip_prefix(disk)
        .map(|r| r.strip_prefix('p').unwrap_or(r))
        .and_then(|n| n.parse().ok())
        .with_context(|| format!("partition `{partition}` is not named after its disk `{disk}`"))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// What drivers/nvme/host/sysfs.c's wwid_show() prints for the namespace.
fn nvme_wwid(disk: &DiskSpec, model: &str, nsid: u32) -> Result<String> {
    let is_hex = |s: &str, len: usize| s.len() == len && s.chars().all(|c| c.is_ascii_hexdigit());
    if let Some(nguid) = &disk.nguid {
        ensure!(is_hex(nguid, 32), "nguid `{nguid}`: 32 hex digits");
        return Ok(format!("eui.{}", nguid.to_ascii_lowercase()));
    }
    if let Some(eui) = &disk.eui64 {
        ensure!(is_hex(eui, 16), "eui64 `{eui}`: 16 hex digits");
        return Ok(format!("eui.{}", eui.to_ascii_lowercase()));
    }
    let vid = disk
        .vendor_id
        .context("an NVMe drive without nguid or eui64 needs vendor_id: its wwid is made of it")?;
    Ok(format!(
        "nvme.{vid:04x}-{}-{}-{nsid:08x}",
        hex(disk.serial.trim_end().as_bytes()),
        hex(model.trim_end().as_bytes()),
    ))
}

/// `00 25 38 b1 ...`: the `eui` attribute (`%8ph`).
fn spaced_bytes(hex_digits: &str) -> String {
    hex_digits
        .to_ascii_lowercase()
        .as_bytes()
        .chunks(2)
        .map(|c| String::from_utf8_lossy(c).into_owned())
        .collect::<Vec<_>>()
        .join(" ")
}

/// The `nguid` attribute (`%pU`): the 16 bytes in UUID form.
fn uuid_form(hex_digits: &str) -> String {
    let h = hex_digits.to_ascii_lowercase();
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

impl Host<'_> {
    /// The whole disk's udev record: `props`, then blkid's view of what the spec says it holds.
    fn disk_record(
        &self,
        dev: &str,
        disk: &DiskSpec,
        links: &[String],
        mut props: Vec<(&str, String)>,
    ) -> Result<()> {
        props.extend(fs_properties(
            disk.fs_type.as_deref(),
            disk.fs_label.as_deref(),
            disk.fs_uuid.as_deref(),
        ));
        write(
            &self.udev.join(format!("b{dev}")),
            udev_record(links, &props),
        )
    }

    fn nvme(&self, disk: &DiskSpec, numbers: &mut Numbers) -> Result<()> {
        let model = disk.model.as_deref().context("an NVMe drive needs model")?;
        let firmware = disk
            .firmware
            .as_deref()
            .context("an NVMe drive needs firmware")?;
        let (instance, nsid) = nvme_numbers(&disk.name)?;
        let ctrl = disk
            .controller
            .clone()
            .unwrap_or_else(|| format!("nvme{instance}"));
        let ctrl_no: u32 = ctrl
            .strip_prefix("nvme")
            .and_then(|n| n.parse().ok())
            .with_context(|| format!("controller `{ctrl}` is not named nvmeN"))?;
        // Without multipath the kernel names the namespace after its controller.
        ensure!(
            self.multipath || instance == ctrl_no,
            "without multipath the namespace of {ctrl} is nvme{ctrl_no}n{nsid}, not {}",
            disk.name
        );
        let strings = [
            ("model", padded("model", model, 40)?),
            ("serial", padded("serial", &disk.serial, 20)?),
            ("firmware_rev", padded("firmware", firmware, 8)?),
        ];
        let pci_rel = format!("devices/pci0000:00/{}", disk.pci);
        let ctrl_rel = format!("{pci_rel}/nvme/{ctrl}");
        let ctrl_dir = self.sys.join(&ctrl_rel);
        for (k, v) in &strings {
            attr(&ctrl_dir, k, v)?;
        }
        attr(&ctrl_dir, "address", &disk.pci)?;
        attr(&ctrl_dir, "transport", "pcie")?;

        let (ns_rel, dev, seq) = if self.multipath {
            let subsys = format!("devices/virtual/nvme-subsystem/nvme-subsys{instance}");
            let subsys_dir = self.sys.join(&subsys);
            for (k, v) in &strings {
                attr(&subsys_dir, k, v)?;
            }
            link(
                &format!("../../../pci0000:00/{}/nvme/{ctrl}", disk.pci),
                &subsys_dir.join(&ctrl),
            )?;
            // The hidden path, which inventory must skip: the kernel adds it first, so it
            // takes the minor and disk sequence number before the namespace's.
            let hidden = format!("nvme{instance}c{ctrl_no}n{nsid}");
            let hidden_dir = ctrl_dir.join(&hidden);
            numbers.blkext();
            numbers.diskseq();
            attr(&hidden_dir, "size", &(disk.size / 512).to_string())?;
            attr(&hidden_dir, "nsid", &nsid.to_string())?;
            link(&format!("../../{ctrl}"), &hidden_dir.join("device"))?;
            link(
                &format!("../{ctrl_rel}/{hidden}"),
                &self.sys.join("block").join(&hidden),
            )?;
            let ns_rel = format!("{subsys}/{}", disk.name);
            link(
                &format!("../../nvme-subsys{instance}"),
                &self.sys.join(&ns_rel).join("device"),
            )?;
            (ns_rel, numbers.blkext(), numbers.diskseq())
        } else {
            let ns_rel = format!("{ctrl_rel}/{}", disk.name);
            link(
                &format!("../../{ctrl}"),
                &self.sys.join(&ns_rel).join("device"),
            )?;
            (ns_rel, numbers.blkext(), numbers.diskseq())
        };
        let ns = self.sys.join(&ns_rel);
        let wwid = nvme_wwid(disk, model, nsid)?;
        attr(&ns, "dev", &dev)?;
        attr(&ns, "nsid", &nsid.to_string())?;
        attr(&ns, "wwid", &wwid)?;
        if let Some(eui) = &disk.eui64 {
            attr(&ns, "eui", &spaced_bytes(eui))?;
        }
        if let Some(nguid) = &disk.nguid {
            attr(&ns, "nguid", &uuid_form(nguid))?;
        }
        queue(&ns, disk)?;
        link(
            &format!("../{ns_rel}"),
            &self.sys.join("block").join(&disk.name),
        )?;

        // udev trims the padding of what it reads (ATTRS{model}) and names links with `_`.
        let udev_model = disk.udev_model.as_deref().unwrap_or(model);
        let id = format!("{}_{}", udev_model.replace(' ', "_"), disk.serial);
        let id_path = format!("pci-{}-nvme-{nsid}", disk.pci);
        let by_id = [
            format!("nvme-{id}_{nsid}"),
            format!("nvme-{id}"),
            format!("nvme-{wwid}"),
        ];
        let links = [
            format!("disk/by-path/{id_path}"),
            format!("disk/by-id/{}", by_id[0]),
            format!("disk/by-id/{}", by_id[1]),
            format!("disk/by-diskseq/{seq}"),
            format!("disk/by-id/{}", by_id[2]),
        ];
        let mut props = vec![
            ("ID_SERIAL_SHORT", disk.serial.clone()),
            ("ID_WWN", wwid.clone()),
            ("ID_MODEL", udev_model.to_string()),
            ("ID_REVISION", firmware.to_string()),
            ("ID_NSID", nsid.to_string()),
            ("ID_SERIAL", format!("{id}_{nsid}")),
            ("ID_PATH", id_path.clone()),
            ("ID_PATH_TAG", path_tag(&id_path)),
        ];
        if !disk.partitions.is_empty() {
            props.push(("ID_PART_TABLE_TYPE", "gpt".into()));
        }
        self.disk_record(&dev, disk, &links, props)?;
        for l in &by_id {
            link(
                &format!("../../{}", disk.name),
                &self.out.join("dev/disk/by-id").join(l),
            )?;
        }
        for p in &disk.partitions {
            let part_dev = numbers.blkext();
            self.partition(disk, &ns, p, &part_dev, &by_id)?;
            // No `start` is synthesized: the probe reads such a partition through its own node.
            let windows = ondisk::partition_windows(ondisk::Extent {
                offset: 0,
                len: p.size,
            });
            write_windows(
                p.content.as_deref(),
                p.size,
                &windows,
                &self.out.join("dev").join(&p.name),
            )?;
        }
        write_windows(
            disk.content.as_deref(),
            disk.size,
            &ondisk::disk_windows(disk.size),
            &self.out.join("dev").join(&disk.name),
        )
    }

    /// A partition: its attributes, its udev record (the disk's by-id names with `-partN`).
    fn partition(
        &self,
        disk: &DiskSpec,
        disk_dir: &Path,
        p: &PartitionSpec,
        dev: &str,
        disk_by_id: &[String],
    ) -> Result<()> {
        let number = partition_number(&disk.name, &p.name)?;
        ensure!(
            p.size <= disk.size,
            "partition {} is larger than its disk",
            p.name
        );
        let dir = disk_dir.join(&p.name);
        attr(&dir, "partition", &number.to_string())?;
        attr(&dir, "dev", dev)?;
        attr(&dir, "size", &(p.size / 512).to_string())?;
        fs::create_dir_all(dir.join("holders"))?;
        for h in &p.holders {
            write(&dir.join("holders").join(h), "")?;
        }
        let by_id: Vec<String> = disk_by_id
            .iter()
            .map(|l| format!("{l}-part{number}"))
            .collect();
        let links: Vec<String> = by_id.iter().map(|l| format!("disk/by-id/{l}")).collect();
        let mut props = vec![("ID_PART_ENTRY_NUMBER", number.to_string())];
        props.extend(fs_properties(Some(&p.fs_type), p.label.as_deref(), None));
        write(
            &self.udev.join(format!("b{dev}")),
            udev_record(&links, &props),
        )?;
        for l in &by_id {
            link(
                &format!("../../{}", p.name),
                &self.out.join("dev/disk/by-id").join(l),
            )?;
        }
        Ok(())
    }

    /// A SATA or USB disk: SCSI attributes as scsi_sysfs.c prints the INQUIRY fields (vendor 8,
    /// model 16, revision 4 characters, space-padded); libata puts "ATA", the model's first 16
    /// characters and the firmware's last 4 there.
    fn scsi(&self, disk: &DiskSpec, index: usize, numbers: &mut Numbers) -> Result<()> {
        let model = disk.model.as_deref().context("a SCSI disk needs model")?;
        let firmware = disk
            .firmware
            .as_deref()
            .context("a SCSI disk needs firmware")?;
        let host = index + 1;
        let transport = match disk.bus {
            Bus::Usb => format!("usb2/2-{host}/2-{host}:1.0/host{host}"),
            _ => format!("ata{host}/host{host}"),
        };
        let target = format!("target{host}:0:0/{host}:0:0:0");
        let rel = format!("devices/pci0000:00/{}/{transport}/{target}", disk.pci);
        let dev_dir = self.sys.join(&rel);
        let vendor = disk.vendor.as_deref().unwrap_or("ATA");
        let inquiry_model: String = model.chars().take(16).collect();
        let rev: String = {
            let chars: Vec<char> = firmware.chars().collect();
            chars[chars.len().saturating_sub(4)..].iter().collect()
        };
        attr(&dev_dir, "vendor", &padded("vendor", vendor, 8)?)?;
        attr(&dev_dir, "model", &padded("model", &inquiry_model, 16)?)?;
        attr(&dev_dir, "rev", &padded("rev", &rev, 4)?)?;
        let block = dev_dir.join("block").join(&disk.name);
        let minor = numbers.sd * 16;
        numbers.sd += 1;
        let dev = format!("8:{minor}");
        attr(&block, "dev", &dev)?;
        queue(&block, disk)?;
        link("../..", &block.join("device"))?;
        link(
            &format!("../{rel}/block/{}", disk.name),
            &self.sys.join("block").join(&disk.name),
        )?;
        let (bus, prefix) = match disk.bus {
            Bus::Usb => ("usb", "usb"),
            _ => ("ata", "ata"),
        };
        let id = format!("{}_{}", model.replace(' ', "_"), disk.serial);
        let by_id = format!("{prefix}-{id}");
        let links = [
            format!("disk/by-id/{by_id}"),
            format!("disk/by-diskseq/{}", numbers.diskseq()),
        ];
        let props = vec![
            ("ID_BUS", bus.to_string()),
            ("ID_MODEL", model.replace(' ', "_")),
            ("ID_SERIAL_SHORT", disk.serial.clone()),
            ("ID_SERIAL", id.clone()),
            ("ID_REVISION", firmware.to_string()),
        ];
        self.disk_record(&dev, disk, &links, props)?;
        link(
            &format!("../../{}", disk.name),
            &self.out.join("dev/disk/by-id").join(&by_id),
        )?;
        for p in &disk.partitions {
            let number = partition_number(&disk.name, &p.name)?;
            self.partition(
                disk,
                &block,
                p,
                &format!("8:{}", minor + number),
                std::slice::from_ref(&by_id),
            )?;
        }
        Ok(())
    }

    /// A virtio disk, as the recorded QEMU guest's vda: under its PCI function's virtioN, minors
    /// 16 apart, udev naming it by serial only.
    fn virtio(&self, disk: &DiskSpec, numbers: &mut Numbers) -> Result<()> {
        let index = numbers.vd;
        numbers.vd += 1;
        let rel = format!(
            "devices/pci0000:00/{}/virtio{index}/block/{}",
            disk.pci, disk.name
        );
        let dir = self.sys.join(&rel);
        let dev = format!("254:{}", index * 16);
        attr(&dir, "dev", &dev)?;
        queue(&dir, disk)?;
        link(&format!("../../../virtio{index}"), &dir.join("device"))?;
        link(
            &format!("../{rel}"),
            &self.sys.join("block").join(&disk.name),
        )?;
        let id_path = format!("pci-{}", disk.pci);
        let by_id = format!("virtio-{}", disk.serial);
        let mut links = vec![
            format!("disk/by-id/{by_id}"),
            format!("disk/by-path/virtio-{id_path}"),
            format!("disk/by-path/{id_path}"),
            format!("disk/by-diskseq/{}", numbers.diskseq()),
        ];
        if let Some(uuid) = &disk.fs_uuid {
            links.push(format!("disk/by-uuid/{uuid}"));
        }
        if let Some(label) = &disk.fs_label {
            links.push(format!("disk/by-label/{label}"));
        }
        let props = vec![
            ("ID_SERIAL", disk.serial.clone()),
            ("ID_PATH", id_path.clone()),
            ("ID_PATH_TAG", path_tag(&id_path)),
        ];
        self.disk_record(&dev, disk, &links, props)?;
        link(
            &format!("../../{}", disk.name),
            &self.out.join("dev/disk/by-id").join(&by_id),
        )?;
        ensure!(
            disk.partitions.is_empty(),
            "partitions on virtio disks are not synthesized (no fixture needs them)"
        );
        Ok(())
    }
}

/// dev/NAME for an NVMe drive or partition, as `debug snapshot-host` captures it: the
/// `windows` the probe reads, zero but for a signature fixture's first and last MiB at the two
/// ends of the device.
fn write_windows(
    content: Option<&str>,
    size: u64,
    windows: &[ondisk::Extent],
    path: &Path,
) -> Result<()> {
    let mut read = ondisk::ReadBytes::new(size);
    for w in windows {
        read.insert(w.offset, vec![0u8; w.len as usize]);
    }
    if let Some(name) = content {
        let dir = crate::util::workspace_root().join("tests/fixtures/signatures");
        let gunzip = |ext: &str| -> Result<Vec<u8>> {
            let file = dir.join(format!("{name}.{ext}.gz"));
            let mut bytes = Vec::new();
            flate2::read::GzDecoder::new(
                fs::File::open(&file).with_context(|| format!("cannot open {}", file.display()))?,
            )
            .read_to_end(&mut bytes)?;
            Ok(bytes)
        };
        let (head, tail) = (gunzip("head")?, gunzip("tail")?);
        if head.len() != 1 << 20 || tail.len() != 1 << 20 {
            bail!(
                "signature fixture {name}: head and tail must be 1 MiB each to stand for a large drive"
            );
        }
        read.insert(0, head);
        read.insert(size - (1 << 20), tail);
    }
    let (data, index) = capture::encode(&read);
    write(path, data)?;
    let mut index_path = path.as_os_str().to_owned();
    index_path.push(capture::INDEX_SUFFIX);
    write(Path::new(&index_path), index)
}

/// The sysfs directory of a block device or partition the host already has, relative to sys/.
fn device_dir(sys: &Path, name: &str) -> Result<PathBuf> {
    let block = sys.join("block");
    let canonical = |name: &str| -> Option<PathBuf> {
        let target = fs::read_link(block.join(name)).ok()?;
        Some(normalize(&Path::new("block").join(target)))
    };
    if let Some(dir) = canonical(name) {
        return Ok(dir);
    }
    for entry in fs::read_dir(&block)?.flatten() {
        let disk = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with(&disk) {
            if let Some(dir) = canonical(&disk).map(|d| d.join(name)) {
                if sys.join(&dir).join("partition").is_file() {
                    return Ok(dir);
                }
            }
        }
    }
    bail!("no device or partition `{name}` is defined before it")
}

/// Resolves `..` lexically.
fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            std::path::Component::ParentDir => {
                out.pop();
            }
            c => out.push(c),
        }
    }
    out
}

/// The link target from directory `from` to `to`, both relative to sys/, as sysfs writes its
/// links: up to the common root, then down.
fn sys_link(from: &Path, to: &Path) -> String {
    let ups = from.components().count();
    let mut target = "../".repeat(ups);
    target.push_str(&to.to_string_lossy());
    target
}

/// A device under /sys/devices/virtual/block: its attributes, its place in its slaves'
/// `holders/`, its udev record as 10-dm.rules (DM_NAME, DM_UUID, the mapper/ link) and the
/// spec's extra properties make it.
fn stacked(sys: &Path, udev: &Path, device: &StackedSpec) -> Result<()> {
    let rel = Path::new("devices/virtual/block").join(&device.name);
    let dir = sys.join(&rel);
    attr(&dir, "dev", &device.dev)?;
    attr(&dir, "size", &(device.size / 512).to_string())?;
    attr(&dir, "removable", "0")?;
    attr(&dir, "ro", "0")?;
    attr(&dir, "queue/logical_block_size", "512")?;
    attr(&dir, "queue/physical_block_size", "512")?;
    fs::create_dir_all(dir.join("holders"))?;
    link(
        &format!("../{}", rel.display()),
        &sys.join("block").join(&device.name),
    )?;
    for slave in &device.slaves {
        let slave_dir = device_dir(sys, slave)?;
        link(
            &sys_link(&rel.join("slaves"), &slave_dir),
            &dir.join("slaves").join(slave),
        )?;
        link(
            &sys_link(&slave_dir.join("holders"), &rel),
            &sys.join(&slave_dir).join("holders").join(&device.name),
        )?;
    }
    let mut props: Vec<(&str, String)> = Vec::new();
    if let Some(name) = &device.dm_name {
        attr(&dir, "dm/name", name)?;
        attr(&dir, "dm/suspended", "0")?;
        props.push(("DM_NAME", name.clone()));
    }
    if let Some(uuid) = &device.dm_uuid {
        attr(&dir, "dm/uuid", uuid)?;
        props.push(("DM_UUID", uuid.clone()));
    }
    if let Some(file) = &device.backing_file {
        attr(&dir, "loop/backing_file", file)?;
        for (name, value) in [("offset", "0"), ("sizelimit", "0"), ("autoclear", "0")] {
            attr(&dir, &format!("loop/{name}"), value)?;
        }
    }
    props.extend(device.udev.iter().map(|(k, v)| (k.as_str(), v.clone())));
    write(
        &udev.join(format!("b{}", device.dev)),
        udev_record(&device.links, &props),
    )
}

/// bcache's directory in a registered device's own: a backing device's `state` and `running`
/// and, while it runs, its `dev` link to the bcacheN device (which links back as `bcache`); a
/// cache device's `set` link to /sys/fs/bcache/SET.
fn bcache(sys: &Path, registration: &BcacheSpec) -> Result<()> {
    let dir = device_dir(sys, &registration.device)?;
    let own = dir.join("bcache");
    match (&registration.runs_as, &registration.cache_set) {
        (Some(device), None) => {
            let device_rel = Path::new("devices/virtual/block").join(device);
            ensure!(
                sys.join(&device_rel).is_dir(),
                "`{device}` is not a [[stacked]] device defined before"
            );
            attr(&sys.join(&own), "state", "clean")?;
            attr(&sys.join(&own), "running", "1")?;
            link(&sys_link(&own, &device_rel), &sys.join(&own).join("dev"))?;
            link(
                &sys_link(&device_rel, &own),
                &sys.join(&device_rel).join("bcache"),
            )
        }
        (None, Some(set)) => {
            attr(&sys.join(&own), "bucket_size", "512.0k")?;
            link(
                &sys_link(&own, &Path::new("fs/bcache").join(set)),
                &sys.join(&own).join("set"),
            )
        }
        (None, None) => {
            attr(&sys.join(&own), "state", "dirty")?;
            attr(&sys.join(&own), "running", "0")
        }
        (Some(_), Some(_)) => bail!("runs_as is for backing devices, cache_set for cache devices"),
    }
}

/// A path as the kernel writes it in mountinfo: space, tab, newline and backslash in octal.
fn mangle(path: &str) -> String {
    path.chars()
        .map(|c| match c {
            ' ' | '\t' | '\n' | '\\' => format!("\\{:03o}", c as u32),
            c => c.to_string(),
        })
        .collect()
}

/// proc/self/mountinfo of the host's mounts, and for each other namespace proc/PID/mountinfo,
/// comm and the ns/mnt link that tells the namespaces apart.
fn mount_namespaces(spec: &HostSpec, out: &Path) -> Result<()> {
    let sys = out.join("sys");
    let mut anonymous = 40;
    let mut number = |m: &MountSpec| -> Result<String> {
        if let Some(dev) = &m.dev {
            return Ok(dev.clone());
        }
        if let Some(name) = m.source.strip_prefix("/dev/") {
            if let Ok(dir) = device_dir(&sys, name) {
                let dev = fs::read_to_string(sys.join(dir).join("dev"))?;
                return Ok(dev.trim().to_string());
            }
        }
        anonymous += 1;
        Ok(format!("0:{anonymous}"))
    };
    let mut table = |mounts: &[MountSpec]| -> Result<String> {
        let mut text = String::new();
        for (index, m) in mounts.iter().enumerate() {
            let (id, parent) = if m.mountpoint == "/" {
                (21 + index, 1)
            } else {
                (21 + index, 21)
            };
            text.push_str(&format!(
                "{id} {parent} {} / {} rw,relatime shared:{} - {} {} rw\n",
                number(m)?,
                mangle(&m.mountpoint),
                index + 1,
                m.fstype,
                mangle(&m.source)
            ));
        }
        Ok(text)
    };
    let proc = out.join("proc");
    write(&proc.join("self/mountinfo"), table(&spec.mounts)?)?;
    link("mnt:[4026531841]", &proc.join("self/ns/mnt"))?;
    for (index, namespace) in spec.namespaces.iter().enumerate() {
        let dir = proc.join(namespace.pid.to_string());
        write(&dir.join("mountinfo"), table(&namespace.mounts)?)?;
        write(&dir.join("comm"), format!("{}\n", namespace.comm))?;
        link(
            &format!("mnt:[{}]", 4026532174 + index),
            &dir.join("ns/mnt"),
        )?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    /// What a tree holds, by relative path: a file's bytes or a link's target. Directories are
    /// left out: git keeps no empty ones (holders/), so a committed tree has only those that
    /// hold something, and those show in their contents' paths.
    fn tree(root: &Path) -> BTreeMap<PathBuf, Result<Vec<u8>, PathBuf>> {
        fn walk(root: &Path, dir: &Path, into: &mut BTreeMap<PathBuf, Result<Vec<u8>, PathBuf>>) {
            for entry in fs::read_dir(dir).unwrap().flatten() {
                let path = entry.path();
                let rel = path.strip_prefix(root).unwrap().to_path_buf();
                let kind = entry.file_type().unwrap();
                if kind.is_symlink() {
                    into.insert(rel, Err(fs::read_link(&path).unwrap()));
                } else if kind.is_dir() {
                    walk(root, &path, into);
                } else {
                    into.insert(rel, Ok(fs::read(&path).unwrap()));
                }
            }
        }
        let mut map = BTreeMap::new();
        walk(root, root, &mut map);
        map
    }

    /// A spec and its committed tree cannot drift apart: each spec, generated afresh, gives
    /// exactly the committed tree (`cargo xtask fixture-hosts NAME` rewrites it).
    #[test]
    fn every_committed_fixture_host_is_what_its_spec_makes() {
        let dir = hosts_dir();
        let scratch = tempfile::tempdir().unwrap();
        let specs = specs(&dir).unwrap();
        assert!(!specs.is_empty());
        let mut drift = Vec::new();
        for spec in &specs {
            let name = spec.file_stem().unwrap().to_string_lossy().into_owned();
            let fresh = scratch.path().join(&name);
            generate(spec, &fresh).unwrap();
            let committed = spec.with_extension("");
            assert!(
                committed.is_dir(),
                "{name}: no committed tree beside its spec"
            );
            let (fresh, committed) = (tree(&fresh), tree(&committed));
            for path in fresh.keys().chain(committed.keys()) {
                let what = match (fresh.get(path), committed.get(path)) {
                    (Some(a), Some(b)) if a == b => continue,
                    (Some(_), Some(_)) => "differs",
                    (Some(_), None) => "is not committed",
                    (None, _) => "is committed but the spec no longer makes it",
                };
                drift.push(format!("{name}/{} {what}", path.display()));
            }
        }
        drift.dedup();
        assert!(
            drift.is_empty(),
            "run `cargo xtask fixture-hosts`:\n{}",
            drift.join("\n")
        );
    }

    #[test]
    fn wwids_follow_the_kernel() {
        let spec = |extra: &str| -> DiskSpec {
            toml::from_str(&format!(
                "bus = \"nvme\"\nname = \"nvme0n1\"\nserial = \"S2TA0001\"\nsize = 1\npci = \"x\"\n{extra}"
            ))
            .unwrap()
        };
        // The recorded QEMU guest's nvme0n1.
        assert_eq!(
            nvme_wwid(&spec("vendor_id = 0x1b36"), "QEMU NVMe Ctrl", 1).unwrap(),
            "nvme.1b36-5332544130303031-51454d55204e564d65204374726c-00000001"
        );
        let eui = spec("eui64 = \"002538B131A12345\"");
        assert_eq!(nvme_wwid(&eui, "m", 1).unwrap(), "eui.002538b131a12345");
        assert_eq!(spaced_bytes("002538B131A12345"), "00 25 38 b1 31 a1 23 45");
        let both =
            spec("eui64 = \"001b448b4a123456\"\nnguid = \"e8238fa6bf530001001b448b4a123456\"");
        assert_eq!(
            nvme_wwid(&both, "m", 1).unwrap(),
            "eui.e8238fa6bf530001001b448b4a123456"
        );
        assert_eq!(
            uuid_form("e8238fa6bf530001001b448b4a123456"),
            "e8238fa6-bf53-0001-001b-448b4a123456"
        );
        assert!(nvme_wwid(&spec(""), "m", 1).is_err());
        assert!(nvme_wwid(&spec("eui64 = \"0025\""), "m", 1).is_err());
    }

    #[test]
    fn names_and_padding_are_the_kernels() {
        assert_eq!(nvme_numbers("nvme12n3").unwrap(), (12, 3));
        assert!(nvme_numbers("nvme0c0n1").is_err());
        assert_eq!(partition_number("nvme0n1", "nvme0n1p9").unwrap(), 9);
        assert_eq!(partition_number("sda", "sda2").unwrap(), 2);
        assert!(partition_number("sda", "sdb1").is_err());
        assert_eq!(padded("f", "10.0.2", 8).unwrap(), "10.0.2  ");
        assert!(padded("f", "123456789", 8).is_err());
        assert_eq!(
            path_tag("pci-0000:00:04.0-nvme-1"),
            "pci-0000_00_04_0-nvme-1"
        );
    }
}
