//! The gate in front of every write, tested over every combination of what the witnesses can
//! find, what the journal says and what the administrator consented to: no destructive action
//! (wipe, label clear, create, replace) ever targets a drive that is neither blank by every
//! witness, nor named with --wipe, nor holding only the remains of our own journaled create;
//! never a member of another pool; and `zpool create` never runs with -f.

use super::*;
use crate::apply::journal::JournaledDrive;
use crate::contents::{findings, foreign_to_create};
use crate::formats::zfs::VdevClass;
use crate::host::inventory::probe::Signature;
use crate::host::inventory::{BlkidView, Disk, Ineligible, Partition};
use crate::host::services::HostServices;
use crate::host::target::Target;
use crate::host::zfs_state::{ImportablePool, OtherPool, PoolMember, Presence};
use crate::matching::match_drives;
use proptest::prelude::*;

const TB2: u64 = 2_000_398_934_016;
const TB4: u64 = 4_000_787_030_016;

/// What can be found at the start of a device.
fn signature() -> impl Strategy<Value = Option<Signature>> {
    let sig = |kind, label: Option<&str>, detail: Option<&str>| Signature {
        kind,
        offset: 0,
        label: label.map(str::to_string),
        uuid: None,
        detail: detail.map(str::to_string),
    };
    prop_oneof![
        4 => Just(None),
        1 => Just(Some(sig(SignatureKind::Gpt, None, Some("whole-disk ZFS vdev layout")))),
        1 => Just(Some(sig(SignatureKind::ProtectiveMbr, None, None))),
        1 => Just(Some(sig(SignatureKind::Gpt, None, Some("2 partitions")))),
        1 => Just(Some(sig(SignatureKind::Mbr, None, None))),
        1 => Just(Some(sig(SignatureKind::Ext, Some("data"), None))),
        1 => Just(Some(sig(SignatureKind::ZfsLabel, Some("quickOS"), None))),
        1 => Just(Some(sig(SignatureKind::ZfsLabel, Some("tank"), None))),
        1 => Just(Some(sig(SignatureKind::Ntfs, None, None))),
        1 => Just(Some(sig(SignatureKind::Lvm2, None, None))),
    ]
}

fn probe() -> impl Strategy<Value = ProbeState> {
    prop_oneof![
        8 => prop::collection::vec(signature(), 0..3).prop_map(|s| ProbeState::Read {
            signatures: s.into_iter().flatten().collect()
        }),
        1 => Just(ProbeState::Unreadable { error: "EIO".into() }),
    ]
}

fn blkid() -> impl Strategy<Value = Option<BlkidView>> {
    let view = |fs: Option<&str>, label: Option<&str>, table: Option<&str>| BlkidView {
        fs_type: fs.map(str::to_string),
        fs_label: label.map(str::to_string),
        fs_uuid: fs.map(|_| "1234".to_string()),
        part_table_type: table.map(str::to_string),
    };
    prop_oneof![
        4 => Just(Some(BlkidView::default())),
        1 => Just(None),
        1 => Just(Some(view(Some("zfs_member"), Some("quickOS"), None))),
        1 => Just(Some(view(Some("zfs_member"), Some("tank"), None))),
        1 => Just(Some(view(Some("exfat"), None, None))),
        1 => Just(Some(view(None, None, Some("gpt")))),
        1 => Just(Some(view(None, None, Some("dos")))),
    ]
}

fn partition(disk: usize) -> impl Strategy<Value = Partition> {
    (prop_oneof![Just(1u32), Just(2), Just(9)], probe(), blkid()).prop_map(
        move |(number, probe, udev)| Partition {
            name: format!("nvme{disk}n1p{number}"),
            number: Some(number),
            size_bytes: 1 << 30,
            probe,
            udev,
            major_minor: None,
        },
    )
}

fn serial(i: usize) -> String {
    format!("S{i}")
}

fn path(i: usize) -> String {
    format!(
        "/dev/disk/by-id/nvme-Samsung_SSD_990_EVO_Plus_{}_S{i}_1",
        size_name(i)
    )
}

fn size_name(i: usize) -> &'static str {
    if i == 2 {
        "4TB"
    } else {
        "2TB"
    }
}

fn disk(i: usize) -> impl Strategy<Value = Disk> {
    (
        probe(),
        blkid(),
        prop::collection::vec(partition(i), 0..3),
        any::<bool>(),
    )
        .prop_map(move |(probe, udev, mut partitions, mounted)| {
            partitions.sort_by_key(|p| p.number);
            partitions.dedup_by_key(|p| p.number);
            let model = format!("Samsung SSD 990 EVO Plus {}", size_name(i));
            let size = if i == 2 { TB4 } else { TB2 };
            let mut disk = Disk::test_nvme(&format!("nvme{i}n1"), &model, &serial(i), size);
            assert_eq!(disk.preferred_path, path(i));
            disk.partitions = partitions;
            if mounted {
                disk.ineligible = vec![Ineligible::Mounted {
                    mountpoint: "/mnt".into(),
                    via: "x".into(),
                }];
            }
            disk.probe = probe;
            disk.udev = udev;
            disk
        })
}

/// A pool the layout does not describe on some of the drives, imported, importable or
/// destroyed, the drives in one vdev class of it.
#[derive(Debug, Clone)]
struct Foreign {
    drives: Vec<usize>,
    presence: Presence,
    class: VdevClass,
    short_names: bool,
}

fn foreign() -> impl Strategy<Value = Option<Foreign>> {
    let presence = prop_oneof![
        Just(Presence::Imported),
        Just(Presence::Exported),
        Just(Presence::Destroyed)
    ];
    let class = prop_oneof![
        Just(VdevClass::Data),
        Just(VdevClass::Dedup),
        Just(VdevClass::Special),
        Just(VdevClass::Log),
        Just(VdevClass::Cache),
        Just(VdevClass::Spare),
    ];
    prop::option::of(
        (
            prop::sample::subsequence(vec![0usize, 1, 2], 1..=2),
            presence,
            class,
            any::<bool>(),
        )
            .prop_map(|(drives, presence, class, short_names)| Foreign {
                drives,
                presence,
                class,
                short_names,
            }),
    )
}

fn journal() -> impl Strategy<Value = Vec<PendingCreate>> {
    let drive = (0usize..3, 0usize..3).prop_map(|(s, p)| JournaledDrive {
        serial: Some(serial(s)),
        path: path(p),
    });
    prop::collection::vec(
        (
            prop_oneof![Just("quickOS"), Just("fastData"), Just("tank")],
            prop::collection::vec(drive, 1..3),
        )
            .prop_map(|(pool, drives)| PendingCreate {
                pool: pool.into(),
                drives,
                started_at: "t".into(),
            }),
        0..2,
    )
}

/// The drives an action writes, by by-id path (a partition's `-partN` path names its disk).
fn targets(action: &Action) -> Vec<String> {
    let disk_of = |p: &str| match p.rfind("-part") {
        Some(i) => p[..i].to_string(),
        None => p.to_string(),
    };
    match action {
        Action::WipeDrive { path, .. } | Action::ClearZfsLabels { path, .. } => {
            vec![disk_of(path)]
        }
        Action::CreatePool { devices, .. } => devices.clone(),
        Action::ReplaceMember { new_device, .. } => vec![new_device.clone()],
        _ => Vec::new(),
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn nothing_is_written_that_no_witness_and_no_consent_allows(
        disks in (disk(0), disk(1), disk(2)),
        foreign in foreign(),
        pending in journal(),
        wipe in prop::sample::subsequence(vec![0usize, 1, 2], 0..=3),
    ) {
        let layout = Layout::default_layout();
        let inventory = Inventory {
            root: "/".into(),
            udev_database: true,
            notes: Vec::new(),
            disks: vec![disks.0, disks.1, disks.2],
            zvols: 0,
            udev_zfs: Default::default(),
        };
        let mut observed = Observed::default();
        if let Some(f) = &foreign {
            let members: Vec<PoolMember> = f
                .drives
                .iter()
                .map(|&i| {
                    let p = format!("{}-part1", path(i));
                    let p = if f.short_names { p.rsplit('/').next().unwrap().to_string() } else { p };
                    PoolMember::new(p, f.class)
                })
                .collect();
            let listed = ImportablePool {
                name: "tank".into(),
                guid: 7,
                state: "ONLINE".into(),
                members: members.clone(),
                data_vdevs: Vec::new(),
                last_used_elsewhere: false,
            };
            match f.presence {
                Presence::Imported => {
                    observed.other_pools.push(OtherPool { name: "tank".into(), members })
                }
                Presence::Exported => observed.importable.push(listed),
                Presence::Destroyed => observed.destroyed.push(listed),
            }
        }
        let consent = Consent { wipe: wipe.iter().map(|&i| serial(i)).collect(), force_import: false };
        let matches = match_drives(&layout, &inventory, &observed.existing_pools());
        let firmware = crate::firmware::judge(&inventory, &layout.firmware.rules);
        let services = HostServices::not_observed();
        let facts = Facts {
            layout: &layout,
            inventory: &inventory,
            matches: &matches,
            firmware: &firmware,
            observed: &observed,
            consent: &consent,
            pending: &pending,
            services: &services,
            target: &Target::RunningSystem,
        };
        let plan = plan(&facts);
        if plan.exit_code().is_some() {
            // A refused plan runs nothing at all.
            return Ok(());
        }
        for action in &plan.actions {
            if let Action::CreatePool { .. } = action {
                prop_assert!(!action.argv().iter().any(|a| a == "-f"), "{action:?}");
            }
            for target in targets(action) {
                let i = (0..3).find(|&i| path(i) == target).expect("a known drive");
                let disk = &inventory.disks[i];
                let foreign_member = foreign.as_ref().is_some_and(|f| f.drives.contains(&i));
                prop_assert!(!foreign_member, "{action:?} writes a member of another pool");
                prop_assert!(disk.is_candidate(), "{action:?} writes a drive in use");
                let blank = findings(disk).is_empty();
                let named = wipe.contains(&i);
                let own_remains = pending.iter().any(|p| {
                    p.names(disk.serial.as_deref(), &disk.preferred_path)
                        && action_pool(action, &plan).is_some_and(|pool| pool == p.pool)
                        && foreign_to_create(disk, &p.pool).is_empty()
                });
                prop_assert!(
                    blank || named || own_remains,
                    "{action:?} writes {} which holds {:?}", disk.name, findings(disk)
                );
            }
        }
    }
}

/// The pool an action on a drive serves: its own for create and replace; for a wipe, the pool
/// the plan creates on that drive.
fn action_pool<'a>(action: &'a Action, plan: &'a Plan) -> Option<&'a str> {
    match action {
        Action::CreatePool { pool, .. } | Action::ReplaceMember { pool, .. } => Some(pool),
        _ => {
            let target = targets(action).pop()?;
            plan.actions.iter().find_map(|a| match a {
                Action::CreatePool { pool, devices, .. } if devices.contains(&target) => {
                    Some(pool.as_str())
                }
                _ => None,
            })
        }
    }
}
