//! What a drive holds, as each independent witness sees it, and the two questions the plan asks
//! of that before it writes a drive: is it blank, and is it nothing but the remains of our own
//! interrupted `zpool create`? Pure: it reads the inventory and the observed pools, nothing else.
//!
//! The witnesses:
//! - our probe of the bytes read of the disk and of every partition anyone describes
//!   ([`crate::formats::ondisk::survey`]): what it recognises, and non-zero bytes it does
//!   not (unrecognised data);
//! - the kernel's partition list in sysfs;
//! - udev's blkid view of the disk and of every partition (ID_FS_TYPE, ID_FS_LABEL, ID_FS_UUID,
//!   ID_PART_TABLE_TYPE), which reads further into a device than our windows;
//! - ZFS's own view: the members of every vdev class (data, special, dedup, log, cache, spare)
//!   of every imported, importable and destroyed pool ([`member_of`]), asked of
//!   `zpool status`, `zpool import` and `zpool import -D`.
//!
//! Any one of them finding something makes the drive "hold data".

use crate::formats::ondisk::SignatureKind;
use crate::model::disk::{BlkidView, Disk, ProbeState};
use crate::model::pools::ExistingPool;
use crate::model::pools::PoolMember;
use serde::Serialize;
use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Witness {
    /// phoenix-zfs's own signature probe.
    Probe,
    /// The kernel's partition list (/sys/block/DISK/DISKpN).
    Kernel,
    /// udev's blkid builtin, from the udev database.
    Udev,
}

/// Spelt as in JSON: `probe`, `kernel`, `udev`.
impl fmt::Display for Witness {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Witness::Probe => "probe",
            Witness::Kernel => "kernel",
            Witness::Udev => "udev",
        })
    }
}

/// One thing one witness found on a drive or one of its partitions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    pub witness: Witness,
    /// The disk or partition it was found on (`nvme0n1`, `nvme0n1p1`).
    pub device: String,
    pub what: String,
    /// What the probe read of a signature (a ZFS label's pool, state and last host; a GPT's
    /// partitions), for `detect`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} on {} ({})", self.what, self.device, self.witness)
    }
}

fn probe_findings(device: &str, probe: &ProbeState, out: &mut Vec<Finding>) {
    let what = match probe {
        ProbeState::Read { .. } => return not_ours(device, probe, out, |_| false),
        ProbeState::Unreadable { error } => {
            format!("could not be read to prove it blank: {error}")
        }
        ProbeState::NotProbed => "not probed, so not proven blank".into(),
    };
    out.push(Finding {
        witness: Witness::Probe,
        device: device.to_string(),
        what,
        detail: None,
    });
}

fn unrecognised_data(offset: u64, bytes: u64) -> String {
    format!("unrecognised data at byte {offset} ({bytes} non-zero bytes that no probe recognises)")
}

fn udev_findings(device: &str, view: Option<&BlkidView>, out: &mut Vec<Finding>) {
    for what in view.map(BlkidView::describe).unwrap_or_default() {
        out.push(Finding {
            witness: Witness::Udev,
            device: device.to_string(),
            what,
            detail: None,
        });
    }
}

/// Everything the witnesses found on `disk` and its partitions; empty when it is blank by all of
/// them: every byte read is zero, the kernel lists no partition and udev's blkid saw nothing.
pub fn findings(disk: &Disk) -> Vec<Finding> {
    let mut found = Vec::new();
    probe_findings(&disk.name, &disk.probe, &mut found);
    udev_findings(&disk.name, disk.udev.as_ref(), &mut found);
    for p in &disk.partitions {
        if p.has_node() {
            found.push(Finding {
                witness: Witness::Kernel,
                device: p.name.clone(),
                what: format!(
                    "partition {}",
                    p.number.map_or_else(|| "?".to_string(), |n| n.to_string())
                ),
                detail: None,
            });
        }
        probe_findings(&p.name, &p.probe, &mut found);
        udev_findings(&p.name, p.udev.as_ref(), &mut found);
    }
    found
}

/// Whether the probe could read everything it needed of `disk` and its partitions: only then can
/// `--wipe` be honoured, since what is wiped must be known.
pub fn fully_read(disk: &Disk) -> bool {
    std::iter::once(&disk.probe)
        .chain(disk.partitions.iter().map(|p| &p.probe))
        .all(|probe| matches!(probe, ProbeState::Read { .. }))
}

/// What on `disk` is more than `zpool create POOL` leaves when it is cut off after it partitioned
/// the drive: exactly its GPT (partitions 1 and 9 as zpool lays them out, both copies, the
/// protective MBR) and at most labels naming `pool` in partition 1, every other byte read zero;
/// udev's view of the partitions judged without what udev copies from the disk. Empty when that
/// is all there is.
pub fn foreign_to_create(disk: &Disk, pool: &str) -> Vec<Finding> {
    let mut foreign = Vec::new();
    let zpool_table = matches!(
        disk.probe,
        ProbeState::Read {
            zpool_whole_disk_table: true,
            ..
        }
    );
    not_ours(&disk.name, &disk.probe, &mut foreign, |s| {
        zpool_table
            && matches!(
                s.kind,
                SignatureKind::ProtectiveMbr | SignatureKind::Gpt | SignatureKind::GptBackup
            )
    });
    if let Some(view) = &disk.udev {
        let own_table = view.part_table_type.as_deref().is_none_or(|t| t == "gpt");
        if view.fs_type.is_some() || view.fs_uuid.is_some() || !own_table {
            foreign.push(udev_finding(&disk.name, view));
        }
    }
    for p in &disk.partitions {
        let number = p.number.filter(|n| matches!(n, 1 | 9));
        if number.is_none() {
            foreign.push(Finding {
                witness: Witness::Kernel,
                device: p.name.clone(),
                what: "a partition zpool create does not make".into(),
                detail: None,
            });
        }
        not_ours(&p.name, &p.probe, &mut foreign, |s| {
            number == Some(1)
                && s.kind == SignatureKind::ZfsLabel
                && s.label.as_deref() == Some(pool)
        });
        if let Some(view) = &p.udev {
            let ours = match view.fs_type.as_deref() {
                None => view.fs_uuid.is_none(),
                Some("zfs_member") => number == Some(1) && view.fs_label.as_deref() == Some(pool),
                Some(_) => false,
            };
            if !ours || view.part_table_type.is_some() {
                foreign.push(udev_finding(&p.name, view));
            }
        }
    }
    foreign
}

/// What the probe found on `device` that `ours` does not account for: signatures it rejects,
/// unrecognised data, or a probe that could not read (which proves nothing).
fn not_ours(
    device: &str,
    probe: &ProbeState,
    out: &mut Vec<Finding>,
    ours: impl Fn(&crate::formats::ondisk::Signature) -> bool,
) {
    let ProbeState::Read {
        signatures,
        unrecognised,
        unrecognised_bytes,
        ..
    } = probe
    else {
        return probe_findings(device, probe, out);
    };
    for s in signatures.iter().filter(|s| !ours(s)) {
        out.push(Finding {
            witness: Witness::Probe,
            device: device.to_string(),
            what: where_found(s),
            detail: s.detail.clone(),
        });
    }
    if let Some(first) = unrecognised.first() {
        out.push(Finding {
            witness: Witness::Probe,
            device: device.to_string(),
            what: unrecognised_data(first.offset, *unrecognised_bytes),
            detail: None,
        });
    }
}

/// `zfs_member `tank` at byte 0`: the kind as blkid names it, its label, and where. The probe
/// reads a device's first 4 MiB and its last 16: an offset past 16 MiB is in the last ones,
/// where the thirteen digits of a byte number only hide that it is the end.
pub fn where_found(s: &crate::formats::ondisk::Signature) -> String {
    let label = s
        .label
        .as_deref()
        .map(|l| format!(" `{l}`"))
        .unwrap_or_default();
    if s.offset < 16 << 20 {
        format!("{}{label} at byte {}", s.kind, s.offset)
    } else {
        format!("{}{label} at the end", s.kind)
    }
}

fn udev_finding(device: &str, view: &BlkidView) -> Finding {
    Finding {
        witness: Witness::Udev,
        device: device.to_string(),
        what: view.describe().join(", "),
        detail: None,
    }
}

/// The pool names the ZFS labels on `disk` carry (in any partition or on the disk itself), as
/// the probe or udev's blkid read them.
pub fn label_pool_names(disk: &Disk) -> Vec<String> {
    let mut names = Vec::new();
    let mut read = |probe: &ProbeState, udev: &Option<BlkidView>| {
        for s in probe.signatures().unwrap_or_default() {
            if s.kind == SignatureKind::ZfsLabel {
                names.extend(s.label.clone());
            }
        }
        let blkid = udev
            .as_ref()
            .filter(|v| v.fs_type.as_deref() == Some("zfs_member"));
        names.extend(blkid.and_then(|v| v.fs_label.clone()));
    };
    read(&disk.probe, &disk.udev);
    for p in &disk.partitions {
        read(&p.probe, &p.udev);
    }
    names
}

/// The pool GUIDs the ZFS labels on `disk` carry (in any partition or on the disk itself).
pub fn label_pool_guids(disk: &Disk) -> Vec<String> {
    let mut guids: Vec<String> = std::iter::once(&disk.probe)
        .chain(disk.partitions.iter().map(|p| &p.probe))
        .filter_map(ProbeState::signatures)
        .flatten()
        .filter(|s| s.kind == SignatureKind::ZfsLabel)
        .filter_map(|s| s.uuid.clone())
        .collect();
    guids.sort();
    guids.dedup();
    guids
}

/// The pool `disk` (or one of its partitions) is a member of, and which member of it: the first
/// of `pools` with a member of any class on the disk ([`member_is_on`]).
pub fn member_of<'a>(
    disk: &Disk,
    pools: &'a [ExistingPool],
) -> Option<(&'a ExistingPool, &'a PoolMember)> {
    pools.iter().find_map(|pool| {
        pool.members
            .iter()
            .find(|member| member_is_on(member, disk))
            .map(|member| (pool, member))
    })
}

/// Whether `member` is `disk` or one of its partitions: the same device number, whatever names
/// ZFS and udev give the device.
pub fn member_is_on(member: &PoolMember, disk: &Disk) -> bool {
    match (&member.major_minor, &disk.major_minor) {
        (Some(member), Some(whole)) => {
            member == whole
                || disk
                    .partitions
                    .iter()
                    .any(|p| p.major_minor.as_ref() == Some(member))
        }
        // The member's path led to no device of this host (zpool names a gone device by its
        // GUID; a copy read with `--root` may lack the link), or sysfs gave the disk no number:
        // the names are all there is to compare.
        _ => path_is_on(&member.path, disk),
    }
}

/// Whether a member path as ZFS prints it names `disk` or one of its partitions: a full path
/// (`/dev/disk/by-id/LINK`, `-partN` for a partition; `/dev/nvme0n1p1`) from `zpool status -P`,
/// or the bare name (`nvme-LINK-part1`, `nvme0n1p1`) that `zpool import` prints. Only by-id
/// links and kernel names are known to the inventory: a by-path, by-uuid or mapper name is not
/// recognised here, which is why a member's device number comes first.
pub fn path_is_on(path: &str, disk: &Disk) -> bool {
    let name = path
        .strip_prefix("/dev/disk/by-id/")
        .or_else(|| path.strip_prefix("/dev/"))
        .unwrap_or(path);
    if name == disk.name || disk.partitions.iter().any(|p| p.name == name) {
        return true;
    }
    disk.by_id.iter().any(|link| {
        let link = link.rsplit('/').next().unwrap_or(link);
        name == link
            || name.strip_prefix(link).is_some_and(|rest| {
                rest.strip_prefix("-part")
                    .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
            })
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::formats::ondisk::{PartitionSource, Signature};
    use crate::model::disk::Partition;

    fn disk(name: &str) -> Disk {
        let mut disk = Disk::test_nvme(name, "QEMU NVMe Ctrl", "S2TA0001", 2_000_398_934_016);
        disk.by_id
            .push("/dev/disk/by-id/nvme-QEMU_NVMe_Ctrl_S2TA0001".into());
        disk
    }

    fn sig(kind: SignatureKind, label: Option<&str>, detail: Option<&str>) -> Signature {
        Signature {
            kind,
            offset: 512,
            label: label.map(str::to_string),
            uuid: None,
            detail: detail.map(str::to_string),
        }
    }

    fn partition(name: &str, number: u32, probe: Vec<Signature>, udev: BlkidView) -> Partition {
        Partition {
            name: name.into(),
            number: Some(number),
            start_bytes: None,
            size_bytes: 1 << 30,
            listed_by: vec![PartitionSource::Kernel],
            probe: ProbeState::read(probe),
            udev: Some(udev),
            major_minor: Some(format!("259:{}", number + 10)),
        }
    }

    /// A drive as `zpool create POOL` leaves it, with labels of `label_pool` in partition 1.
    fn whole_disk_vdev(label_pool: &str) -> Disk {
        let mut d = disk("nvme0n1");
        d.probe = ProbeState::Read {
            signatures: vec![
                sig(SignatureKind::ProtectiveMbr, None, None),
                sig(SignatureKind::Gpt, None, None),
                sig(SignatureKind::GptBackup, None, None),
            ],
            unrecognised: Vec::new(),
            unrecognised_bytes: 0,
            not_captured: Vec::new(),
            zpool_whole_disk_table: true,
        };
        d.udev = Some(BlkidView {
            part_table_type: Some("gpt".into()),
            ..BlkidView::default()
        });
        d.partitions = vec![
            partition(
                "nvme0n1p1",
                1,
                vec![sig(SignatureKind::ZfsLabel, Some(label_pool), None)],
                BlkidView {
                    fs_type: Some("zfs_member".into()),
                    fs_label: Some(label_pool.into()),
                    fs_uuid: Some("123".into()),
                    part_table_type: None,
                },
            ),
            partition("nvme0n1p9", 9, Vec::new(), BlkidView::default()),
        ];
        d
    }

    #[test]
    fn a_blank_drive_has_no_findings() {
        assert_eq!(findings(&disk("nvme0n1")), vec![]);
    }

    #[test]
    fn every_witness_speaks_for_itself() {
        let d = whole_disk_vdev("tank");
        let found = findings(&d);
        let by = |w: Witness| found.iter().filter(|f| f.witness == w).count();
        assert_eq!(by(Witness::Kernel), 2, "{found:#?}");
        assert_eq!(by(Witness::Udev), 2, "{found:#?}");
        assert!(found
            .iter()
            .any(|f| f.device == "nvme0n1p1" && f.what.contains("zfs_member `tank`")));
    }

    #[test]
    fn udev_alone_makes_a_drive_hold_data() {
        let mut d = disk("nvme0n1");
        d.udev = Some(BlkidView {
            fs_type: Some("exfat".into()),
            ..BlkidView::default()
        });
        assert_eq!(findings(&d).len(), 1);
    }

    #[test]
    fn an_unreadable_partition_is_not_blank() {
        let mut d = disk("nvme0n1");
        d.partitions = vec![Partition {
            name: "nvme0n1p1".into(),
            number: Some(1),
            start_bytes: None,
            size_bytes: 1 << 30,
            listed_by: vec![PartitionSource::Kernel],
            probe: ProbeState::Unreadable {
                error: "EIO".into(),
            },
            udev: None,
            major_minor: Some("259:11".into()),
        }];
        let found = findings(&d);
        assert!(found.iter().any(|f| f.what.contains("could not be read")));
    }

    #[test]
    fn the_remains_of_our_own_create_are_recognised_and_nothing_else() {
        assert_eq!(
            foreign_to_create(&whole_disk_vdev("quickOS"), "quickOS"),
            vec![]
        );
        let mut partitioned_only = whole_disk_vdev("quickOS");
        partitioned_only.partitions[0].probe = ProbeState::read(Vec::new());
        partitioned_only.partitions[0].udev = Some(BlkidView::default());
        assert_eq!(foreign_to_create(&partitioned_only, "quickOS"), vec![]);

        let other_pool = foreign_to_create(&whole_disk_vdev("tank"), "quickOS");
        assert!(other_pool.iter().any(|f| f.witness == Witness::Probe));
        assert!(other_pool.iter().any(|f| f.witness == Witness::Udev));

        let mut udev_only = whole_disk_vdev("quickOS");
        udev_only.partitions[0].udev.as_mut().unwrap().fs_label = Some("tank".into());
        assert_eq!(foreign_to_create(&udev_only, "quickOS").len(), 1);

        let mut ext4_beside = whole_disk_vdev("quickOS");
        ext4_beside
            .partitions
            .push(partition("nvme0n1p2", 2, Vec::new(), BlkidView::default()));
        assert_eq!(foreign_to_create(&ext4_beside, "quickOS").len(), 1);

        let mut unreadable = whole_disk_vdev("quickOS");
        unreadable.partitions[1].probe = ProbeState::Unreadable {
            error: "EIO".into(),
        };
        assert_eq!(foreign_to_create(&unreadable, "quickOS").len(), 1);

        let mut mbr = disk("nvme0n1");
        mbr.probe = ProbeState::read(vec![sig(SignatureKind::Mbr, None, None)]);
        assert_eq!(foreign_to_create(&mbr, "quickOS").len(), 1);
    }

    #[test]
    fn members_are_found_by_every_name_zfs_gives_them() {
        let mut d = whole_disk_vdev("tank");
        d.name = "nvme0n1".into();
        for path in [
            "/dev/disk/by-id/nvme-QEMU_NVMe_Ctrl_S2TA0001-part1",
            "/dev/disk/by-id/nvme-QEMU_NVMe_Ctrl_S2TA0001_1-part1",
            "nvme-QEMU_NVMe_Ctrl_S2TA0001-part1",
            "nvme-QEMU_NVMe_Ctrl_S2TA0001",
            "/dev/nvme0n1p1",
            "nvme0n1p1",
            "/dev/nvme0n1",
        ] {
            assert!(path_is_on(path, &d), "{path}");
        }
        for path in [
            "/dev/disk/by-id/nvme-QEMU_NVMe_Ctrl_S2TA0002-part1",
            "nvme-QEMU_NVMe_Ctrl_S2TA00011",
            "nvme-QEMU_NVMe_Ctrl_S2TA0001-partx",
            "/dev/nvme0n10",
            "nvme1n1p1",
        ] {
            assert!(!path_is_on(path, &d), "{path}");
        }
    }

    fn member(path: &str, major_minor: Option<&str>) -> PoolMember {
        PoolMember {
            major_minor: major_minor.map(str::to_string),
            ..PoolMember::new(path, crate::formats::zfs::VdevClass::Special)
        }
    }

    #[test]
    fn a_member_is_its_device_whatever_it_is_called() {
        // nvme0n1 is 259:0, its partitions 259:11 and 259:19.
        let d = whole_disk_vdev("tank");
        for on in [
            member(
                "/dev/disk/by-path/pci-0000:00:04.0-nvme-1-part1",
                Some("259:11"),
            ),
            member("/dev/mapper/anything", Some("259:19")),
            member("/dev/disk/by-uuid/1234", Some("259:0")),
            // Led to no device here: the name is compared.
            member("nvme-QEMU_NVMe_Ctrl_S2TA0001-part1", None),
        ] {
            assert!(member_is_on(&on, &d), "{on:?}");
        }
        for off in [
            // A by-id name of this disk, but the link leads to another device now.
            member(
                "/dev/disk/by-id/nvme-QEMU_NVMe_Ctrl_S2TA0001-part1",
                Some("259:3"),
            ),
            member("/dev/disk/by-path/pci-0000:00:05.0-nvme-1", None),
            member("9962378560323266958", None),
        ] {
            assert!(!member_is_on(&off, &d), "{off:?}");
        }
        // sysfs gave the disk no number: names again.
        let mut unnumbered = whole_disk_vdev("tank");
        unnumbered.major_minor = None;
        assert!(member_is_on(
            &member(
                "/dev/disk/by-id/nvme-QEMU_NVMe_Ctrl_S2TA0001-part1",
                Some("259:3")
            ),
            &unnumbered
        ));
    }

    #[test]
    fn the_pool_and_the_member_on_a_disk_are_both_named() {
        use crate::model::pools::Presence;
        let pool = |name: &str, members: Vec<PoolMember>| ExistingPool {
            name: name.into(),
            guid: Some(7),
            presence: Presence::Exported,
            members,
            data_vdevs: Vec::new(),
            missing: 0,
        };
        let pools = [
            pool("fast", vec![member("/dev/nvme2n1", Some("259:2"))]),
            pool(
                "tank",
                vec![
                    member("/dev/nvme2n1p1", Some("259:5")),
                    member("/dev/nvme0n1p1", Some("259:11")),
                ],
            ),
        ];
        let (home, as_member) = member_of(&whole_disk_vdev("tank"), &pools).unwrap();
        assert_eq!(home.name, "tank");
        assert_eq!(as_member.path, "/dev/nvme0n1p1");
        assert_eq!(member_of(&disk("nvme0n1"), &pools[..1]), None);
    }
}
