//! `cargo xtask fixture-hosts`: writes the synthesized fixture hosts under tests/fixtures/hosts/
//! from their specs (tests/fixtures/hosts/NAME.toml).
//!
//! A fixture host is the part of a root file system phoenix-zfs reads: sys/ (block devices with
//! the shapes the 6.12 kernel gives them, NVMe multipath on, as recorded in the QEMU guest),
//! run/udev/data/ (as systemd 252 writes it), dev/disk/by-id/ links, proc/mounts, and for each
//! NVMe drive dev/NAME holding what its first and last MiB hold. Hosts recorded from a real
//! machine are made by `phoenix-zfs debug snapshot-host` instead and have no spec.

use anyhow::{bail, Context, Result};
use serde::Deserialize;
use std::fs;
use std::io::Read;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct HostSpec {
    description: String,
    #[serde(default, rename = "disk")]
    disks: Vec<DiskSpec>,
    #[serde(default, rename = "mount")]
    mounts: Vec<MountSpec>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "lowercase")]
enum Bus {
    Nvme,
    Sata,
    Usb,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DiskSpec {
    bus: Bus,
    /// Kernel name: nvme0n1, sda.
    name: String,
    model: String,
    /// What udev says the model is, where it differs from what the drive reports (the QEMU test
    /// guest sets real model names through a udev rule, as a hardware database would).
    #[serde(default)]
    udev_model: Option<String>,
    serial: String,
    firmware: String,
    size: u64,
    #[serde(default = "default_lbs")]
    logical_block_size: u32,
    /// PCI address of the NVMe controller or the SATA/USB host controller.
    pci: String,
    /// NVMe controller name (nvme0): not always the namespace's number, as on real hosts.
    #[serde(default)]
    controller: Option<String>,
    #[serde(default)]
    removable: bool,
    /// Partitions: (name, file system type as udev's ID_FS_TYPE, label).
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
    name: String,
    fs_type: String,
    #[serde(default)]
    label: Option<String>,
    #[serde(default)]
    holders: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct MountSpec {
    source: String,
    mountpoint: String,
    fstype: String,
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

/// Kernel-style attribute: the value and a newline (NVMe strings are space-padded by the
/// device; the kernel keeps the padding, so do we).
fn attr(dir: &Path, name: &str, value: &str) -> Result<()> {
    write(&dir.join(name), format!("{value}\n"))
}

pub fn main(args: &[String]) -> Result<()> {
    let dir = crate::util::workspace_root().join("tests/fixtures/hosts");
    let mut specs: Vec<PathBuf> = fs::read_dir(&dir)
        .with_context(|| format!("cannot read {}", dir.display()))?
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .filter(|p| {
            args.is_empty()
                || args
                    .iter()
                    .any(|a| p.file_stem().is_some_and(|s| s == a.as_str()))
        })
        .collect();
    specs.sort();
    if specs.is_empty() {
        bail!("no host specs (*.toml) in {}", dir.display());
    }
    for spec_path in specs {
        let text = fs::read_to_string(&spec_path)?;
        let spec: HostSpec =
            toml::from_str(&text).with_context(|| format!("{}", spec_path.display()))?;
        let out = spec_path.with_extension("");
        if out.exists() {
            fs::remove_dir_all(&out).with_context(|| format!("cannot remove {}", out.display()))?;
        }
        write_host(&spec, &out).with_context(|| format!("writing {}", out.display()))?;
        eprintln!("xtask: wrote {} ({})", out.display(), spec.description);
    }
    Ok(())
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
    let (mut nvme_minor, mut sd_minor) = (0u32, 0u32);
    for (index, disk) in spec.disks.iter().enumerate() {
        match disk.bus {
            Bus::Nvme => {
                write_nvme(disk, index, nvme_minor, &sys, &udev, out)?;
                nvme_minor += 1 + disk.partitions.len() as u32;
            }
            Bus::Sata | Bus::Usb => {
                write_scsi(disk, index, sd_minor, &sys, &udev, out)?;
                sd_minor += 16;
            }
        }
    }
    Ok(())
}

fn queue(dir: &Path, disk: &DiskSpec) -> Result<()> {
    attr(dir, "size", &(disk.size / 512).to_string())?;
    attr(dir, "removable", if disk.removable { "1" } else { "0" })?;
    attr(dir, "ro", "0")?;
    attr(
        dir,
        "queue/logical_block_size",
        &disk.logical_block_size.to_string(),
    )?;
    attr(
        dir,
        "queue/physical_block_size",
        &disk.logical_block_size.max(4096).to_string(),
    )?;
    fs::create_dir_all(dir.join("holders"))?;
    Ok(())
}

fn udev_record(lines: &[String]) -> String {
    let mut text = lines.join("\n");
    text.push_str("\nI:2811423\nG:systemd\nQ:systemd\nV:1\n");
    text
}

fn write_nvme(
    disk: &DiskSpec,
    index: usize,
    minor: u32,
    sys: &Path,
    udev: &Path,
    out: &Path,
) -> Result<()> {
    let subsys_no: u32 = disk
        .name
        .trim_start_matches("nvme")
        .split('n')
        .next()
        .unwrap_or("0")
        .parse()
        .unwrap_or(0);
    let ctrl = disk
        .controller
        .clone()
        .unwrap_or_else(|| format!("nvme{subsys_no}"));
    let pci_rel = format!("devices/pci0000:00/{}", disk.pci);
    let ctrl_dir = sys.join(&pci_rel).join("nvme").join(&ctrl);
    for (k, v) in [
        ("model", disk.model.as_str()),
        ("serial", disk.serial.as_str()),
        ("firmware_rev", disk.firmware.as_str()),
    ] {
        attr(&ctrl_dir, k, &format!("{v:<40}"))?;
    }
    attr(&ctrl_dir, "address", &disk.pci)?;
    attr(&ctrl_dir, "transport", "pcie")?;
    let subsys = format!("devices/virtual/nvme-subsystem/nvme-subsys{subsys_no}");
    let subsys_dir = sys.join(&subsys);
    attr(&subsys_dir, "model", &format!("{:<40}", disk.model))?;
    attr(&subsys_dir, "serial", &format!("{:<20}", disk.serial))?;
    attr(
        &subsys_dir,
        "firmware_rev",
        &format!("{:<8}", disk.firmware),
    )?;
    link(
        &format!("../../../pci0000:00/{}/nvme/{ctrl}", disk.pci),
        &subsys_dir.join(&ctrl),
    )?;
    let ns = subsys_dir.join(&disk.name);
    let dev = format!("259:{minor}");
    attr(&ns, "dev", &dev)?;
    attr(&ns, "nsid", "1")?;
    let eui = format!("eui.002538{:010x}", 0xb1_0000_0000u64 + index as u64);
    attr(&ns, "wwid", &eui)?;
    queue(&ns, disk)?;
    link(
        &format!("../{subsys}/{}", disk.name),
        &sys.join("block").join(&disk.name),
    )?;
    // The hidden per-controller path, which inventory must skip.
    let hidden = format!("{ctrl}c{}n1", ctrl.trim_start_matches("nvme"));
    attr(&ctrl_dir.join(&hidden), "dev", "0:0")?;
    link(
        &format!("../{pci_rel}/nvme/{ctrl}/{hidden}"),
        &sys.join("block").join(&hidden),
    )?;

    let udev_model = disk
        .udev_model
        .clone()
        .unwrap_or_else(|| disk.model.clone());
    let id = format!("{}_{}", udev_model.replace(' ', "_"), disk.serial);
    let links = [
        format!("nvme-{id}_1"),
        format!("nvme-{id}"),
        format!("nvme-{eui}"),
    ];
    let mut lines: Vec<String> = links.iter().map(|l| format!("S:disk/by-id/{l}")).collect();
    lines.push(format!("S:disk/by-path/pci-{}-nvme-1", disk.pci));
    for (k, v) in [
        ("ID_SERIAL_SHORT", disk.serial.clone()),
        ("ID_WWN", eui.clone()),
        ("ID_MODEL", udev_model.clone()),
        ("ID_REVISION", disk.firmware.clone()),
        ("ID_NSID", "1".into()),
        ("ID_SERIAL", format!("{id}_1")),
        ("ID_PATH", format!("pci-{}-nvme-1", disk.pci)),
    ] {
        lines.push(format!("E:{k}={v}"));
    }
    if !disk.partitions.is_empty() {
        lines.push("E:ID_PART_TABLE_TYPE=gpt".into());
    }
    write(&udev.join(format!("b{dev}")), udev_record(&lines))?;
    for l in &links {
        link(
            &format!("../../{}", disk.name),
            &out.join("dev/disk/by-id").join(l),
        )?;
    }
    for (i, p) in disk.partitions.iter().enumerate() {
        write_partition(&ns, p, &format!("259:{}", minor + 1 + i as u32), udev)?;
    }
    write_windows(disk, &out.join("dev").join(&disk.name))
}

fn write_partition(disk_dir: &Path, p: &PartitionSpec, dev: &str, udev: &Path) -> Result<()> {
    let dir = disk_dir.join(&p.name);
    attr(&dir, "partition", "1")?;
    attr(&dir, "dev", dev)?;
    fs::create_dir_all(dir.join("holders"))?;
    for h in &p.holders {
        write(&dir.join("holders").join(h), "")?;
    }
    let mut lines = vec![format!("E:ID_FS_TYPE={}", p.fs_type)];
    if let Some(label) = &p.label {
        lines.push(format!("E:ID_FS_LABEL={label}"));
    }
    write(&udev.join(format!("b{dev}")), udev_record(&lines))
}

fn write_scsi(
    disk: &DiskSpec,
    index: usize,
    minor: u32,
    sys: &Path,
    udev: &Path,
    out: &Path,
) -> Result<()> {
    let host = index + 1;
    let transport = match disk.bus {
        Bus::Usb => format!("usb2/2-{host}/2-{host}:1.0/host{host}"),
        _ => format!("ata{host}/host{host}"),
    };
    let target = format!("target{host}:0:0/{host}:0:0:0");
    let rel = format!("devices/pci0000:00/{}/{transport}/{target}", disk.pci);
    let dev_dir = sys.join(&rel);
    attr(&dev_dir, "model", &disk.model)?;
    attr(&dev_dir, "rev", &disk.firmware)?;
    attr(&dev_dir, "vendor", "ATA")?;
    let block = dev_dir.join("block").join(&disk.name);
    let dev = format!("8:{minor}");
    attr(&block, "dev", &dev)?;
    queue(&block, disk)?;
    link("../..", &block.join("device"))?;
    link(
        &format!("../{rel}/block/{}", disk.name),
        &sys.join("block").join(&disk.name),
    )?;
    let (bus, prefix) = match disk.bus {
        Bus::Usb => ("usb", "usb"),
        _ => ("ata", "ata"),
    };
    let id = format!("{}_{}", disk.model.replace(' ', "_"), disk.serial);
    let mut lines = vec![format!("S:disk/by-id/{prefix}-{id}")];
    for (k, v) in [
        ("ID_BUS", bus.to_string()),
        ("ID_MODEL", disk.model.replace(' ', "_")),
        ("ID_SERIAL_SHORT", disk.serial.clone()),
        ("ID_SERIAL", id.clone()),
        ("ID_REVISION", disk.firmware.clone()),
    ] {
        lines.push(format!("E:{k}={v}"));
    }
    write(&udev.join(format!("b{dev}")), udev_record(&lines))?;
    link(
        &format!("../../{}", disk.name),
        &out.join(format!("dev/disk/by-id/{prefix}-{id}")),
    )?;
    for (i, p) in disk.partitions.iter().enumerate() {
        write_partition(&block, p, &format!("8:{}", minor + 1 + i as u32), udev)?;
    }
    Ok(())
}

/// dev/NAME for an NVMe drive: blank drives get a short all-zero file (the probe reads what is
/// there); drives with content get the signature fixture's first and last MiB, back to back.
fn write_windows(disk: &DiskSpec, path: &Path) -> Result<()> {
    let Some(name) = &disk.content else {
        return write(path, vec![0u8; 8192]);
    };
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
    write(path, [head, tail].concat())
}
