//! /proc/mounts: which block devices hold mounted file systems, so that the disk the host runs
//! from is never a candidate.

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
