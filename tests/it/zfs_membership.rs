//! ZFS's whole view against the drives: pools as OpenZFS 2.3 printed them in the QEMU guest
//! (tests/fixtures/zfs/openzfs-2.3/), read the way phoenix-zfs reads them and looked up on the
//! guest's recorded host (tests/fixtures/hosts/qemu-recorded, the same drive names), then matched
//! and planned with the layout that fits those drives (any-model.toml). A member of any vdev class
//! of another pool, imported, exported or destroyed, is never written, `--wipe` or not; a pool
//! named like a layout pool is that pool only by its shape and drives.

use crate::fixtures;
use phoenix_zfs::formats::zfs::{parse_zpool_import_scan, parse_zpool_status};
use phoenix_zfs::host::root::HostRoot;
use phoenix_zfs::host::target::Target;
use phoenix_zfs::host::zfs_state::{devices, read};
use phoenix_zfs::layout::Layout;
use phoenix_zfs::matching::{match_drives, MatchProblem};
use phoenix_zfs::model::disk::Inventory;
use phoenix_zfs::model::pools::{ImportablePool, Observed, ObservedPool, OtherPool};
use phoenix_zfs::model::services::HostServices;
use phoenix_zfs::plan::{plan, Action, Blocker, Consent, Facts, Plan};
use phoenix_zfs::runner::{ReplayRunner, Transcript};
use std::collections::BTreeMap;

/// The 2 TB drives of the guest, which the layout's quickOS wants.
const PAIR: [&str; 2] = ["S2TA0001", "S2TA0002"];
const FOUR_TB: &str = "S4TB0001";

fn layout() -> Layout {
    Layout::load(&fixtures::path("layouts/any-model.toml")).unwrap()
}

fn root() -> HostRoot {
    fixtures::host_root("qemu-recorded")
}

fn recorded(relative: &str) -> Transcript {
    fixtures::transcript(&format!("zfs/openzfs-2.3/{relative}"))
}

/// What phoenix-zfs reads of the host when `zpool import` answers as recorded in `listing` and
/// `zpool import -D` as in `destroyed`, no pool imported.
fn scanned(listing: &str, destroyed: &str) -> Observed {
    let runner = ReplayRunner::new(vec![recorded(listing), recorded(destroyed)]);
    let mut observed = Observed::default();
    read::scan_importable(&root(), &runner, &layout(), &mut observed, || None).unwrap();
    assert!(!observed.destroyed_unknown, "{destroyed}");
    observed
}

/// Exported pools as `zpool import -d /dev/disk/by-id` listed them in `state`, no destroyed one.
fn exported(state: &str) -> Observed {
    let listing = match state {
        "exported" => "exported/zpool-import-by-id".to_string(),
        _ => format!("{state}/zpool-import"),
    };
    scanned(&listing, "classes/zpool-import-destroyed-none")
}

/// The pool `pool` imported, as `zpool status -P -p` printed it in `state`: the layout's own
/// (its properties from `zpool list`), or another pool.
fn imported(state: &str, pool: &str) -> Observed {
    let status =
        parse_zpool_status(&recorded(&format!("{state}/zpool-status-P-p")).output.stdout).unwrap();
    let status = status.iter().find(|s| s.name == pool);
    let mut observed = Observed::default();
    if layout().pool(pool).is_some() {
        let properties = BTreeMap::from([
            ("guid".to_string(), "4242".to_string()),
            ("health".to_string(), "ONLINE".to_string()),
        ]);
        observed
            .pools
            .push(ObservedPool::from_status(pool.into(), properties, status));
    } else {
        observed
            .other_pools
            .push(OtherPool::from_status(pool.into(), status));
    }
    devices::resolve(&root(), observed.members_mut());
    observed
}

fn host() -> Inventory {
    fixtures::host_inventory("qemu-recorded")
}

fn plan_with(layout: &Layout, inventory: &Inventory, observed: &Observed, wipe: &[&str]) -> Plan {
    let matches = match_drives(layout, inventory, &observed.existing_pools());
    let firmware = phoenix_zfs::firmware::judge(inventory, &layout.firmware.rules);
    let consent = Consent {
        wipe: wipe.iter().map(|s| s.to_string()).collect(),
        force_import: false,
    };
    plan(&Facts {
        layout,
        inventory,
        matches: &matches,
        firmware: &firmware,
        observed,
        consent: &consent,
        pending: &[],
        services: &HostServices::not_observed(),
        target: &Target::RunningSystem,
    })
}

fn planned(observed: &Observed, wipe: &[&str]) -> Plan {
    plan_with(&layout(), &host(), observed, wipe)
}

/// Every action that would write a drive or a pool: none may run on a refusal, and none may be
/// planned for a drive another pool holds.
fn writes(plan: &Plan) -> Vec<Vec<String>> {
    plan.actions
        .iter()
        .filter(|a| {
            matches!(
                a,
                Action::WipeDrive { .. }
                    | Action::ClearZfsLabels { .. }
                    | Action::CreatePool { .. }
                    | Action::ReplaceMember { .. }
                    | Action::ImportPool { .. }
            )
        })
        .map(Action::argv)
        .collect()
}

fn messages(plan: &Plan) -> String {
    plan.blockers
        .iter()
        .map(Blocker::message)
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn a_member_of_any_class_of_another_pool_on_the_2tb_pair_is_never_written() {
    for (state, class_words) in [
        ("special-2tb", &["in the special vdev of"][..]),
        ("log-2tb", &["in the log vdev of"]),
        ("dedup-2tb", &["in the dedup vdev of"]),
        (
            "cache-spare-2tb",
            &["in the cache vdev of", "in the spare vdev of"],
        ),
    ] {
        for (presence, observed) in [
            ("exported", exported(state)),
            ("imported", imported(state, "tank")),
        ] {
            for wipe in [&[][..], &PAIR[..]] {
                let case = format!("{state}, {presence}, --wipe {wipe:?}");
                let p = planned(&observed, wipe);
                assert_eq!(p.exit_code(), Some(3), "{case}: {p:#?}");
                assert_eq!(writes(&p), Vec::<Vec<String>>::new(), "{case}");
                let said = messages(&p);
                for words in class_words {
                    let named = format!("{words} the {presence} pool `tank`");
                    assert!(said.contains(&named), "{case}: no `{named}` in\n{said}");
                }
                for serial in PAIR {
                    assert!(said.contains(serial), "{case}: {serial} unnamed in\n{said}");
                }
                assert!(!said.contains("install the missing"), "{case}:\n{said}");
            }
        }
    }
}

#[test]
fn a_destroyed_pools_drives_are_never_written_and_the_refusal_says_how_to_get_it_back() {
    let listed = recorded("destroyed-2tb/zpool-import-destroyed");
    let mut observed = Observed {
        destroyed: parse_zpool_import_scan(&listed.output.stdout)
            .unwrap()
            .into_iter()
            .map(ImportablePool::from_scan)
            .collect(),
        ..Observed::default()
    };
    devices::resolve(&root(), observed.members_mut());
    // What `zpool import -D` listed: the tank of the small disks, destroyed first, and the one
    // on the NVMe drives with a cache and a spare on the 2 TB pair.
    let on_nvme = observed
        .destroyed
        .iter()
        .find(|p| p.members.iter().any(|m| m.path.contains(FOUR_TB)))
        .expect("the destroyed tank on the NVMe drives");
    assert_eq!(observed.destroyed.len(), 2, "{observed:#?}");
    for wipe in [&[][..], &PAIR[..]] {
        let p = planned(&observed, wipe);
        assert_eq!(p.exit_code(), Some(3), "{p:#?}");
        assert_eq!(writes(&p), Vec::<Vec<String>>::new());
        let said = messages(&p);
        for needed in [
            "in the cache vdev of the destroyed pool `tank`".to_string(),
            "in the spare vdev of the destroyed pool `tank`".to_string(),
            format!("`zpool import -D -d /dev/disk/by-id {}`", on_nvme.guid),
            "`zpool labelclear -f /dev/disk/by-id/nvme-QEMU_NVMe_Ctrl_S2TA0001_1".to_string(),
        ] {
            assert!(said.contains(&needed), "no `{needed}` in\n{said}");
        }
    }
}

#[test]
fn a_recording_without_zpool_import_d_says_destroyed_pools_are_unknown() {
    let runner = ReplayRunner::new(vec![recorded("special-2tb/zpool-import")]);
    let mut observed = Observed::default();
    read::scan_importable(&root(), &runner, &layout(), &mut observed, || None).unwrap();
    assert!(observed.destroyed_unknown);
    let p = planned(&observed, &PAIR);
    assert_eq!(p.exit_code(), Some(3));
    assert!(
        p.notes
            .iter()
            .any(|n| n.contains("destroyed pools") && n.contains("unknown")),
        "{:#?}",
        p.notes
    );
}

/// The refusal of a pool named `quickOS` that is not the layout's.
fn not_the_layouts(p: &Plan) -> &MatchProblem {
    p.blockers
        .iter()
        .find_map(|b| match b {
            Blocker::Hardware {
                problem: problem @ MatchProblem::NotTheLayoutsPool { pool, .. },
                ..
            } if pool == "quickOS" => Some(problem),
            _ => None,
        })
        .unwrap_or_else(|| panic!("no refusal of this quickOS: {p:#?}"))
}

#[test]
fn an_exported_quickos_on_the_4tb_drive_is_refused_naming_that_drive() {
    let observed = exported("quickos-4tb");
    let guid = observed.importable[0].guid;
    for wipe in [&[][..], &PAIR[..]] {
        let p = planned(&observed, wipe);
        assert_eq!(p.exit_code(), Some(3), "{p:#?}");
        assert_eq!(
            writes(&p),
            Vec::<Vec<String>>::new(),
            "neither imported nor made anew"
        );
        let refusal = not_the_layouts(&p).to_string();
        for needed in [
            "the exported pool `quickOS`".to_string(),
            format!("nvme2n1 (QEMU NVMe Ctrl, serial {FOUR_TB})"),
            "it is a single device, the layout's is a mirror of 2".to_string(),
            "class 4TB, pool `quickOS` wants 2TB".to_string(),
            format!(
                "`zpool import -d /dev/disk/by-id {guid} quickOS-old && zpool export quickOS-old`"
            ),
        ] {
            assert!(refusal.contains(&needed), "no `{needed}` in {refusal}");
        }
        // fastData's drive is there, held by that pool: said so, not "install the missing drive".
        let said = messages(&p);
        assert!(!said.contains("install the missing"), "{said}");
        assert!(
            said.contains(&format!(
                "{FOUR_TB}) is a member of the exported pool `quickOS`"
            )),
            "{said}"
        );
    }
}

#[test]
fn an_imported_quickos_of_the_wrong_shape_is_refused_with_its_export_first() {
    for state in ["quickos-4tb", "quickos-mixed-mirror"] {
        let p = planned(&imported(state, "quickOS"), &[]);
        assert_eq!(p.exit_code(), Some(3), "{state}: {p:#?}");
        assert_eq!(writes(&p), Vec::<Vec<String>>::new(), "{state}");
        assert!(
            !p.actions
                .iter()
                .any(|a| a.argv().iter().any(|w| w.contains("quickOS"))),
            "{state}: nothing is planned for the pool: {p:#?}"
        );
        let refusal = not_the_layouts(&p).to_string();
        assert!(refusal.contains(FOUR_TB), "{state}: {refusal}");
        assert!(
            refusal.contains(
                "`zpool export quickOS && zpool import -d /dev/disk/by-id 4242 quickOS-old && zpool export quickOS-old`"
            ),
            "{state}: {refusal}"
        );
    }
    let mixed = planned(&imported("quickos-mixed-mirror", "quickOS"), &[]);
    let refusal = not_the_layouts(&mixed).to_string();
    // The shape is the layout's; the 4 TB member is not.
    assert!(!refusal.contains("the layout's is"), "{refusal}");
    assert!(refusal.contains("S2TA0001"), "{refusal}");
}

#[test]
fn an_exported_quickos_that_fits_is_imported_and_one_on_an_unpinned_drive_is_not() {
    let observed = exported("exported");
    let p = planned(&observed, &[]);
    assert!(p.blockers.is_empty(), "{p:#?}");
    let quick = observed.importable("quickOS").unwrap().guid;
    let fast = observed.importable("fastData").unwrap().guid;
    assert_eq!(
        writes(&p),
        [quick, fast].map(|guid| {
            [
                "zpool",
                "import",
                "-d",
                "/dev/disk/by-id",
                &guid.to_string(),
            ]
            .map(String::from)
            .to_vec()
        })
    );

    let mut pinned = layout();
    pinned.pools[0].serials = vec!["S2TA0001".into(), "S2TA0003".into()];
    let p = plan_with(&pinned, &host(), &observed, &[]);
    assert_eq!(p.exit_code(), Some(3), "{p:#?}");
    let refusal = not_the_layouts(&p).to_string();
    assert!(
        refusal.contains("serial S2TA0002 is not pinned for pool `quickOS`"),
        "{refusal}"
    );
    assert!(!writes(&p)
        .iter()
        .any(|argv| argv.contains(&quick.to_string())));
}

/// The recorded guest's drives by serial, and their by-path names in the copy below.
const BY_PATH: [(&str, &str); 3] = [
    ("S2TA0001", "pci-0000:00:04.0-nvme-1"),
    ("S2TA0002", "pci-0000:00:06.0-nvme-1"),
    ("S4TB0001", "pci-0000:00:05.0-nvme-1"),
];

#[test]
fn a_member_named_by_a_link_the_inventory_does_not_know_is_found_by_its_device() {
    // A copy of the recorded guest with by-path links to its drives, the names zpool prints when
    // it was told to look there (`zpool import -d /dev/disk/by-path`).
    let scratch = tempfile::tempdir().unwrap();
    let copy = scratch.path().join("host");
    let status = std::process::Command::new("cp")
        .arg("-a")
        .arg(root().0)
        .arg(&copy)
        .status()
        .unwrap();
    assert!(status.success());
    std::fs::create_dir_all(copy.join("dev/disk/by-path")).unwrap();
    for (kernel, (_, path)) in ["nvme0n1", "nvme1n1", "nvme2n1"].iter().zip(BY_PATH) {
        let link = copy.join("dev/disk/by-path").join(path);
        std::os::unix::fs::symlink(format!("../../{kernel}"), link).unwrap();
    }
    let copied = HostRoot(copy);
    let mut observed = exported("special-2tb");
    for member in observed.members_mut() {
        for (serial, path) in BY_PATH {
            member.path = member
                .path
                .replace(&format!("nvme-QEMU_NVMe_Ctrl_{serial}"), path);
        }
        member.major_minor = None;
    }
    let mut by_name_only = observed.clone();
    devices::resolve(&copied, observed.members_mut());
    let p = plan_with(&layout(), &host(), &observed, &PAIR);
    assert_eq!(p.exit_code(), Some(3), "{p:#?}");
    assert_eq!(writes(&p), Vec::<Vec<String>>::new());
    let said = messages(&p);
    assert!(
        said.contains("serial S2TA0001) is in the special vdev of the exported pool `tank`"),
        "{said}"
    );

    // Compared by name alone, the by-path names are no drive the inventory knows: tank's drives
    // would be written.
    for member in by_name_only.members_mut() {
        member.major_minor = None;
    }
    let p = plan_with(&layout(), &host(), &by_name_only, &PAIR);
    assert_eq!(p.exit_code(), None, "{p:#?}");
    assert!(
        writes(&p)
            .iter()
            .any(|argv| argv.iter().any(|w| w.contains("S2TA0001"))),
        "{p:#?}"
    );
}

#[test]
fn every_class_and_presence_reads_into_the_observation() {
    let observed = exported("classes");
    let tank = observed.importable("tank").expect("tank is listed");
    let mut classes: Vec<String> = tank.members.iter().map(|m| m.class.to_string()).collect();
    classes.dedup();
    assert_eq!(
        classes,
        ["data", "dedup", "special", "log", "cache", "spare"]
    );
    let imported = imported("classes", "tank");
    let other = &imported.other_pools[0];
    assert_eq!(other.members.len(), 7, "{other:#?}");
    let importable: &ImportablePool = tank;
    assert_eq!(importable.members.len(), 7, "{importable:#?}");
}
