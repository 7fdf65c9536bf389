//! Whether `zpool import -d /dev/disk/by-id` can find anything, decided from what the inventory
//! already read. The scan costs a process and a read of every label of every device; on a new
//! host's blank drives it can only answer "no pools available", so it is skipped there, and only
//! where that answer is certain: a pool that the scan would have found is never missed.
//!
//! A pool can only be found where a ZFS label is. Two independent readings must both show none:
//! - our probe of every candidate drive: no ZFS label (a pool made on the bare device keeps two
//!   labels in each window), no partition table or entry array (a whole-disk vdev lives in
//!   partition 1, whose GPT is inside the windows), and no byte the probe cannot account for (it
//!   might be a label it cannot read);
//! - udev's blkid, which reads every label of every whole partition, for every listed device and
//!   partition (drives that are not candidates included): no `zfs_member`, and no device without
//!   a record.
//!
//! ZFS volumes can hold pools too; a host that has any is scanned.

use crate::formats::ondisk::SignatureKind;
use crate::model::disk::{Inventory, ProbeState, Transport};

/// Why the scan can be left out, or None when it must run.
pub fn skip_reason(inventory: &Inventory) -> Option<String> {
    if !inventory.udev_database || inventory.zvols > 0 {
        return None;
    }
    let udev = &inventory.udev_zfs;
    if !udev.members.is_empty() || !udev.unrecorded.is_empty() {
        return None;
    }
    let mut probed = 0;
    for disk in inventory
        .disks
        .iter()
        .filter(|d| d.transport == Transport::Nvme && d.is_candidate())
    {
        let ProbeState::Read {
            signatures,
            unrecognised,
            ..
        } = &disk.probe
        else {
            return None;
        };
        // Bytes no probe recognises might be a label it cannot read.
        if signatures.iter().any(|s| could_hold_a_pool(s.kind)) || !unrecognised.is_empty() {
            return None;
        }
        probed += 1;
    }
    let devices = inventory.disks.len()
        + inventory
            .disks
            .iter()
            .map(|d| d.partitions.len())
            .sum::<usize>();
    Some(format!(
        "no ZFS label, partition table or unrecognised data on the {probed} candidate drive(s), and udev knows no zfs_member among the {devices} block device(s) and partitions: `zpool import` could find no pool"
    ))
}

/// A ZFS label, or a partition table whose partitions could hold one beyond the windows.
fn could_hold_a_pool(kind: SignatureKind) -> bool {
    matches!(
        kind,
        SignatureKind::ZfsLabel
            | SignatureKind::Gpt
            | SignatureKind::GptBackup
            | SignatureKind::GptEntries
            | SignatureKind::Mbr
            | SignatureKind::ProtectiveMbr
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::formats::ondisk::Signature;
    use crate::model::disk::{Disk, Ineligible, UdevZfs};

    fn disk(name: &str, transport: Transport, probe: ProbeState) -> Disk {
        let mut disk = Disk::test_nvme(name, "QEMU NVMe Ctrl", "S", 2_000_398_934_016);
        disk.transport = transport;
        if transport != Transport::Nvme {
            disk.ineligible = vec![Ineligible::NotNvme { transport }];
        }
        disk.probe = probe;
        disk
    }

    fn read(kinds: &[SignatureKind]) -> ProbeState {
        ProbeState::read(
            kinds
                .iter()
                .map(|&kind| Signature {
                    kind,
                    offset: 0,
                    label: None,
                    uuid: None,
                    detail: None,
                })
                .collect(),
        )
    }

    fn blank_host() -> Inventory {
        Inventory {
            root: "/".into(),
            udev_database: true,
            notes: Vec::new(),
            disks: vec![
                disk("vda", Transport::Virtio, ProbeState::NotProbed),
                disk("nvme0n1", Transport::Nvme, read(&[])),
                disk("nvme1n1", Transport::Nvme, read(&[])),
            ],
            zvols: 0,
            udev_zfs: UdevZfs::default(),
        }
    }

    #[test]
    fn blank_drives_that_udev_also_finds_blank_skip_the_scan() {
        let why = skip_reason(&blank_host()).expect("skipped");
        assert!(why.contains("2 candidate drive(s)"), "{why}");
        assert!(why.contains("3 block device(s)"), "{why}");
    }

    #[test]
    fn a_label_a_table_or_unrecognised_data_on_a_candidate_means_scanning() {
        for kind in [
            SignatureKind::ZfsLabel,
            SignatureKind::Gpt,
            SignatureKind::GptBackup,
            SignatureKind::GptEntries,
            SignatureKind::ProtectiveMbr,
            SignatureKind::Mbr,
        ] {
            let mut host = blank_host();
            host.disks[2].probe = read(&[kind]);
            assert_eq!(skip_reason(&host), None, "{kind:?}");
        }
        // A file system that owns the drive holds no pool; bytes nobody recognises might.
        let mut host = blank_host();
        host.disks[2].probe = read(&[SignatureKind::Ext]);
        assert!(skip_reason(&host).is_some());
        let mut host = blank_host();
        host.disks[2].probe = ProbeState::Read {
            signatures: Vec::new(),
            unrecognised: vec![crate::formats::ondisk::Extent {
                offset: 1024,
                len: 512,
            }],
            unrecognised_bytes: 3,
            not_captured: Vec::new(),
            zpool_whole_disk_table: false,
        };
        assert_eq!(skip_reason(&host), None, "unrecognised data");
    }

    #[test]
    fn an_unread_candidate_cannot_be_vouched_for() {
        for probe in [
            ProbeState::NotProbed,
            ProbeState::Unreadable {
                error: "EIO".into(),
            },
        ] {
            let mut host = blank_host();
            host.disks[1].probe = probe;
            assert_eq!(skip_reason(&host), None);
        }
    }

    /// The fixture hosts, read as `--root` reads them.
    fn decide(host: &str, forget_udev: bool) -> Option<String> {
        let root = crate::host::root::HostRoot(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("tests/fixtures/hosts")
                .join(host),
        );
        let mut inventory = crate::host::inventory::read(&root);
        crate::host::inventory::probe_candidates(&root, &mut inventory);
        if forget_udev {
            inventory.udev_zfs = UdevZfs::default();
        }
        skip_reason(&inventory)
    }

    #[test]
    fn exported_and_old_pools_are_seen_by_the_probe_alone() {
        assert!(decide("qemu-default", false).is_some());
        assert!(decide("ext4-on-2tb", false).is_some());
        // A whole-disk vdev's labels are beyond the windows; its GPT is not.
        assert_eq!(decide("qemu-exported", false), None);
        assert_eq!(decide("qemu-exported", true), None);
        let root = crate::host::root::HostRoot(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("tests/fixtures/hosts/qemu-exported"),
        );
        let mut members = crate::host::inventory::read(&root).udev_zfs.members;
        members.sort();
        assert_eq!(members, ["nvme0n1p1", "nvme1n1p1", "nvme2n1p1"]);
        // The raw labels of an old pool, and that GPT, on the 2 TB drives.
        assert_eq!(decide("old-signatures", true), None);
    }

    #[test]
    fn what_udev_sees_on_any_device_counts_too() {
        let mut host = blank_host();
        host.udev_zfs.members.push("sda1".into());
        assert_eq!(skip_reason(&host), None, "a zfs_member partition elsewhere");

        let mut host = blank_host();
        host.udev_zfs.unrecorded.push("vda".into());
        assert_eq!(skip_reason(&host), None, "a device udev has no record of");

        let mut host = blank_host();
        host.udev_database = false;
        assert_eq!(skip_reason(&host), None, "no udev database");

        let mut host = blank_host();
        host.zvols = 1;
        assert_eq!(skip_reason(&host), None, "zvols");
    }
}
