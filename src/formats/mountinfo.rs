//! /proc/mounts, /proc/PID/mountinfo and /proc/swaps: which block devices hold mounted file
//! systems or active swap, so that the disk the host runs from, and any drive mounted in any mount
//! namespace, is never a candidate.

use serde::Serialize;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Mount {
    /// What was mounted: `/dev/nvme0n1p2`, `/dev/mapper/pve-root`, `rpool/ROOT/pve-1`, `tmpfs`...
    pub source: String,
    pub mountpoint: String,
    pub fstype: String,
}

impl Mount {
    /// Mount points whose disk is the one the host boots and runs from.
    pub fn is_system(&self) -> bool {
        matches!(
            self.mountpoint.as_str(),
            "/" | "/boot" | "/boot/efi" | "/efi" | "/usr" | "/var"
        )
    }
}

/// The kernel writes space, tab, newline and backslash in paths as octal escapes (`\040`).
fn unescape(field: &str) -> String {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let octal = bytes
            .get(i + 1..i + 4)
            .filter(|d| bytes[i] == b'\\' && d.iter().all(|b| (b'0'..=b'7').contains(b)));
        match octal {
            Some(d) => {
                let value = d.iter().fold(0u32, |acc, b| acc * 8 + u32::from(b - b'0'));
                out.push(u8::try_from(value).unwrap_or(b'?'));
                i += 4;
            }
            None => {
                out.push(bytes[i]);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Parses /proc/mounts. Lines with fewer than three fields are skipped: the kernel never writes
/// them, and a damaged line must not hide the others.
pub fn parse(text: &str) -> Vec<Mount> {
    text.lines()
        .filter_map(|line| {
            let mut fields = line.split_whitespace();
            let (source, mountpoint, fstype) = (fields.next()?, fields.next()?, fields.next()?);
            Some(Mount {
                source: unescape(source),
                mountpoint: unescape(mountpoint),
                fstype: fstype.to_string(),
            })
        })
        .collect()
}

/// A block device's number, `major:minor`, as sysfs's `dev` attribute and mountinfo write it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct DeviceNumber {
    pub major: u32,
    pub minor: u32,
}

impl DeviceNumber {
    /// `259:1`; None for anything else.
    pub fn parse(text: &str) -> Option<DeviceNumber> {
        let (major, minor) = text.trim().split_once(':')?;
        let number = |s: &str| {
            (!s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
                .then(|| s.parse().ok())
                .flatten()
        };
        Some(DeviceNumber {
            major: number(major)?,
            minor: number(minor)?,
        })
    }

    /// Major 0 is the kernel's anonymous block device numbers: ZFS datasets, Btrfs subvolumes,
    /// tmpfs, overlays. No block device stands behind such a number.
    pub fn is_anonymous(&self) -> bool {
        self.major == 0
    }
}

impl std::fmt::Display for DeviceNumber {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.major, self.minor)
    }
}

/// One line of /proc/PID/mountinfo (proc(5)): `ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTIONS
/// [OPTIONAL...] - FSTYPE SOURCE SUPEROPTIONS`, with the fields phoenix-zfs uses.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MountInfo {
    pub mount_id: u32,
    pub parent_id: u32,
    /// The mounted device: for a block-device file system, that device's own number, whatever
    /// path the source names it by.
    pub device: DeviceNumber,
    pub mountpoint: String,
    pub fstype: String,
    pub source: String,
}

impl MountInfo {
    /// The same mount as /proc/mounts shows it.
    pub fn mount(&self) -> Mount {
        Mount {
            source: self.source.clone(),
            mountpoint: self.mountpoint.clone(),
            fstype: self.fstype.clone(),
        }
    }
}

/// A mountinfo line that does not have the kernel's shape.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: expected {expected}, found `{text}`")]
pub struct MountInfoError {
    pub line: usize,
    pub text: String,
    pub expected: &'static str,
}

/// Parses one mountinfo line; `Err` says which field is not what the kernel writes.
fn mountinfo_line(line: &str) -> Result<MountInfo, &'static str> {
    // The kernel separates fields with one space and escapes spaces inside them (`\040`).
    let mut fields = line.split(' ');
    let mut number = |what| -> Result<u32, &'static str> {
        fields.next().and_then(|f| f.parse().ok()).ok_or(what)
    };
    let mount_id = number("a mount id")?;
    let parent_id = number("a parent mount id")?;
    let device = fields
        .next()
        .and_then(DeviceNumber::parse)
        .ok_or("a device number MAJOR:MINOR as the third field")?;
    let _root = fields.next().ok_or("the mount's root")?;
    let mountpoint = fields.next().ok_or("a mount point")?;
    let _options = fields.next().ok_or("mount options")?;
    // Optional fields (`shared:1`, `master:2`, ...), as many as there are, up to `-`.
    fields
        .by_ref()
        .find(|f| *f == "-")
        .ok_or("the separator `-` after the optional fields")?;
    let fstype = fields.next().ok_or("a file system type after `-`")?;
    let source = fields.next().ok_or("a mount source after the type")?;
    if fstype.is_empty() || !mountpoint.starts_with('/') {
        return Err("a file system type and an absolute mount point");
    }
    Ok(MountInfo {
        mount_id,
        parent_id,
        device,
        mountpoint: unescape(mountpoint),
        fstype: unescape(fstype),
        source: unescape(source),
    })
}

/// Parses /proc/PID/mountinfo: every well-formed line, and an error for each other one, naming
/// it, so that one damaged line (in a copy; the kernel writes none) hides no other mount.
pub fn parse_mountinfo(text: &str) -> (Vec<MountInfo>, Vec<MountInfoError>) {
    let mut mounts = Vec::new();
    let mut errors = Vec::new();
    for (index, line) in text.lines().enumerate() {
        if line.is_empty() {
            continue;
        }
        match mountinfo_line(line) {
            Ok(m) => mounts.push(m),
            Err(expected) => errors.push(MountInfoError {
                line: index + 1,
                text: truncate(line),
                expected,
            }),
        }
    }
    (mounts, errors)
}

fn truncate(line: &str) -> String {
    const MAX: usize = 80;
    match line.char_indices().nth(MAX) {
        Some((i, _)) => format!("{}...", &line[..i]),
        None => line.to_string(),
    }
}

/// The mount point an active swap area is given: it has none, and no real one starts with `[`.
pub const SWAP: &str = "[swap]";

/// Parses /proc/swaps (`Filename Type Size Used Priority`, after a header line) into mounts of
/// type `swap` at [`SWAP`]: a drive holding active swap is in use like a mounted one.
pub fn parse_swaps(text: &str) -> Vec<Mount> {
    text.lines()
        .skip(1)
        .filter_map(|line| {
            let source = line.split_whitespace().next()?;
            Some(Mount {
                source: unescape(source),
                mountpoint: SWAP.into(),
                fstype: "swap".into(),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_active_swap_areas() {
        let text = "Filename\t\t\t\tType\t\tSize\t\tUsed\t\tPriority\n\
                    /dev/nvme0n1p2                          partition\t8388604\t\t0\t\t-2\n";
        let swaps = parse_swaps(text);
        assert_eq!(swaps.len(), 1);
        assert_eq!(swaps[0].source, "/dev/nvme0n1p2");
        assert_eq!(swaps[0].mountpoint, SWAP);
    }

    /// Recorded on the development machine (Linux 6.18): its own /proc/self/mountinfo, and that
    /// of a process in a mount namespace of its own (`unshare -m`) with a loop device mounted at a
    /// path holding a space (tests/fixtures/mounts/README.md).
    const SELF: &str = include_str!("../../tests/fixtures/mounts/dev-vm-self.mountinfo");
    const UNSHARED: &str =
        include_str!("../../tests/fixtures/mounts/dev-vm-unshare-loop.mountinfo");

    #[test]
    fn reads_a_recorded_mountinfo() {
        let (mounts, errors) = parse_mountinfo(SELF);
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(mounts.len(), SELF.lines().count());
        let root = mounts.iter().find(|m| m.mountpoint == "/").unwrap();
        assert_eq!(
            root.device,
            DeviceNumber {
                major: 254,
                minor: 0
            }
        );
        assert_eq!(
            (root.source.as_str(), root.fstype.as_str()),
            ("/dev/vda", "ext4")
        );
        assert_eq!((root.mount_id, root.parent_id), (27, 1));
        assert!(root.mount().is_system());
        let proc = mounts.iter().find(|m| m.mountpoint == "/proc").unwrap();
        assert!(proc.device.is_anonymous());
    }

    #[test]
    fn a_loop_mounted_in_another_namespace_is_named_by_its_device_number() {
        let (mounts, errors) = parse_mountinfo(UNSHARED);
        assert!(errors.is_empty(), "{errors:?}");
        let lo = mounts.iter().find(|m| m.source == "/dev/loop0").unwrap();
        assert_eq!(lo.device.to_string(), "7:0");
        assert_eq!(lo.mountpoint, "/tmp/inuse-rec.Q8Qf/mnt sp");
    }

    #[test]
    fn optional_fields_and_damaged_lines() {
        // The example of Documentation/filesystems/proc.rst, with a second optional field.
        let text = "36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 shared:7 - ext3 /dev/root rw,errors=continue\n\
                    37 35 98:0 /mnt1\n\
                    38 35 x:0 / /a rw - ext4 /dev/sda1 rw\n\
                    39 35 8:1 / /b rw shared:1 ext4 /dev/sda1 rw\n\
                    40 35 0:44 / /c rw,relatime shared:2 - zfs rpool/data rw,xattr\n";
        let (mounts, errors) = parse_mountinfo(text);
        assert_eq!(mounts.len(), 2);
        assert_eq!(mounts[0].mountpoint, "/mnt2");
        assert_eq!(mounts[0].fstype, "ext3");
        assert_eq!(mounts[0].source, "/dev/root");
        assert_eq!(mounts[1].source, "rpool/data");
        assert!(mounts[1].device.is_anonymous());
        let lines: Vec<usize> = errors.iter().map(|e| e.line).collect();
        assert_eq!(lines, [2, 3, 4]);
        assert_eq!(
            errors[1].to_string(),
            "line 3: expected a device number MAJOR:MINOR as the third field, found `38 35 x:0 / /a rw - ext4 /dev/sda1 rw`"
        );
        assert!(errors[2].expected.contains('-'));
    }

    #[test]
    fn device_numbers_are_two_decimal_numbers() {
        assert_eq!(
            DeviceNumber::parse("259:12\n"),
            Some(DeviceNumber {
                major: 259,
                minor: 12
            })
        );
        for bad in ["259", ":1", "1:", "a:b", "-1:2", "1:2:3", ""] {
            assert_eq!(DeviceNumber::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn reads_a_proxmox_hosts_mounts() {
        let text = "rpool/ROOT/pve-1 / zfs rw,relatime,xattr,posixacl,casesensitive 0 0\n\
                    /dev/sda2 /boot/efi vfat rw 0 0\n\
                    /dev/mapper/pve-root /mnt/old\\040root ext4 rw 0 0\n\
                    broken\n";
        let m = parse(text);
        assert_eq!(m.len(), 3);
        assert!(m[0].is_system());
        assert_eq!(m[2].mountpoint, "/mnt/old root");
        assert!(!m[2].is_system());
    }
}
