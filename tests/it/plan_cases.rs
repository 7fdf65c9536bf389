//! The plan from every state an administrator meets: blank, converged, partial, drifted, exported,
//! on the wrong drives, holding data, with bad firmware. Pure: inventory from a fixture host,
//! observed ZFS state written as the data `observe` produces.

use crate::fixtures;
use phoenix_zfs::firmware;
use phoenix_zfs::formats::nfs;
use phoenix_zfs::formats::ondisk::{Signature, SignatureKind};
use phoenix_zfs::formats::proxmox::storage_cfg::StorageConfig;
use phoenix_zfs::formats::wear::WearBaseline;
use phoenix_zfs::formats::zfs::{VdevClass, VdevKind};
use phoenix_zfs::host::target::Target;
use phoenix_zfs::layout::properties::{normalize, PropertyScope};
use phoenix_zfs::layout::Layout;
use phoenix_zfs::matching::match_drives;
use phoenix_zfs::model::disk::{Inventory, ProbeState};
use phoenix_zfs::model::pools::{
    DataVdev, DatasetKind, ImportablePool, Observed, ObservedDataset, ObservedPool, ObservedValue,
    PoolMember,
};
use phoenix_zfs::model::services::{Availability, DriveHealth, HostServices, NfsServer};
use phoenix_zfs::plan::{plan, Action, Blocker, Consent, Facts, Plan};
use std::collections::BTreeMap;

fn host(name: &str) -> Inventory {
    fixtures::host_inventory(name)
}

fn plan_for(layout: &Layout, inv: &Inventory, observed: &Observed, wipe: &[String]) -> Plan {
    plan_with_services(layout, inv, observed, wipe, &HostServices::not_observed())
}

fn plan_with_services(
    layout: &Layout,
    inv: &Inventory,
    observed: &Observed,
    wipe: &[String],
    services: &HostServices,
) -> Plan {
    let consent = Consent {
        wipe: wipe.to_vec(),
        force_import: false,
    };
    plan_with(layout, inv, observed, &consent, services)
}

fn plan_with(
    layout: &Layout,
    inv: &Inventory,
    observed: &Observed,
    consent: &Consent,
    services: &HostServices,
) -> Plan {
    plan_for_target(
        layout,
        inv,
        observed,
        consent,
        services,
        &Target::RunningSystem,
    )
}

fn plan_for_target(
    layout: &Layout,
    inv: &Inventory,
    observed: &Observed,
    consent: &Consent,
    services: &HostServices,
    target: &Target,
) -> Plan {
    let matches = match_drives(layout, inv, &observed.existing_pools());
    let fw = firmware::judge(inv, &layout.firmware.rules);
    plan(&Facts {
        layout,
        inventory: inv,
        matches: &matches,
        firmware: &fw,
        observed,
        consent,
        pending: &[],
        services,
        target,
    })
}

const QUICK: [&str; 2] = [
    "/dev/disk/by-id/nvme-Samsung_SSD_990_EVO_Plus_2TB_S2TA0001_1-part1",
    "/dev/disk/by-id/nvme-Samsung_SSD_990_EVO_Plus_2TB_S2TA0002_1-part1",
];
const FAST: &str = "/dev/disk/by-id/nvme-Samsung_SSD_990_EVO_Plus_4TB_S4TB0001_1-part1";

/// Data members named as zpool prints them, not looked up on a host.
fn data_members<S: AsRef<str>>(paths: &[S]) -> Vec<PoolMember> {
    paths
        .iter()
        .map(|p| PoolMember::new(p.as_ref(), VdevClass::Data))
        .collect()
}

/// The main tree the layout makes for these member paths: a mirror of them, or the one device.
fn shape_of<S>(paths: &[S]) -> Vec<DataVdev> {
    vec![match paths.len() {
        1 => DataVdev::new(VdevKind::Disk, 1),
        n => DataVdev::new(VdevKind::Mirror, n),
    }]
}

/// What `observe` returns on a host where the layout was applied exactly.
fn converged(layout: &Layout) -> Observed {
    let mut observed = Observed::default();
    for pool in &layout.pools {
        let devices = if pool.name() == "quickOS" {
            QUICK.iter().map(|s| s.to_string()).collect()
        } else {
            vec![FAST.to_string()]
        };
        let properties: BTreeMap<String, String> = pool
            .properties
            .iter()
            .map(|(k, v)| (k.clone(), normalize(PropertyScope::Pool, k, v.as_str())))
            .collect();
        observed.pools.push(ObservedPool {
            name: pool.name().into(),
            guid: Some(42),
            health: "ONLINE".into(),
            members: data_members(&devices),
            data_vdevs: shape_of(&devices),
            properties,
            scan: None,
            missing: Vec::new(),
        });
        let root = pool
            .filesystem_properties
            .iter()
            .map(|(k, v)| (k.clone(), v.as_str().to_string()));
        observed.datasets.push(dataset(pool.name(), root));
    }
    for d in &layout.datasets {
        observed.datasets.push(dataset(
            d.name(),
            d.properties
                .iter()
                .map(|(k, v)| (k.clone(), v.as_str().to_string())),
        ));
    }
    observed
}

fn dataset(name: &str, props: impl Iterator<Item = (String, String)>) -> ObservedDataset {
    let properties = props
        .map(|(k, v)| {
            let value = normalize(PropertyScope::Dataset, &k, &v);
            (k, ObservedValue { value, local: true })
        })
        .collect();
    ObservedDataset {
        name: name.into(),
        kind: DatasetKind::Filesystem,
        properties,
    }
}

fn kinds(p: &Plan) -> Vec<&'static str> {
    p.actions
        .iter()
        .map(|a| match a {
            Action::ClearZfsLabels { .. } => "labelclear",
            Action::WipeDrive { .. } => "wipe",
            Action::ImportPool { .. } => "import",
            Action::CreatePool { .. } => "create-pool",
            Action::ReplaceMember { .. } => "replace",
            Action::SetPoolProperty { .. } => "set-pool",
            Action::CreateDataset { .. } => "create-dataset",
            Action::SetDatasetProperties { .. } => "set-dataset",
            Action::InstallPackages { .. } => "install",
            Action::RegisterStorage { .. } => "storage",
            Action::WriteFile { .. } => "write-file",
            Action::ReloadService { .. } => "reload",
            Action::BindMount { .. } => "bind",
            Action::SetModuleParameter { .. } => "module-parameter",
            Action::RefreshInitramfs { .. } => "initramfs",
            Action::ExportPool { .. } => "export",
        })
        .collect()
}

#[test]
fn a_converged_host_plans_nothing() {
    let layout = Layout::default_layout();
    let p = plan_for(&layout, &host("qemu-default"), &converged(&layout), &[]);
    assert_eq!(kinds(&p), Vec::<&str>::new(), "{p:#?}");
    assert!(p.blockers.is_empty());
}

#[test]
fn missing_datasets_are_created_and_nothing_else() {
    let layout = Layout::default_layout();
    let mut observed = converged(&layout);
    observed
        .datasets
        .retain(|d| d.name != "fastData/shared-iso" && d.name != "quickOS/lxc-disks");
    let p = plan_for(&layout, &host("qemu-default"), &observed, &[]);
    assert_eq!(kinds(&p), ["create-dataset", "create-dataset"]);
    let names: Vec<String> = p
        .actions
        .iter()
        .map(|a| a.argv().last().unwrap().clone())
        .collect();
    assert_eq!(names, ["quickOS/lxc-disks", "fastData/shared-iso"]);
}

#[test]
fn drifted_properties_are_set_back_in_one_command_per_dataset() {
    let layout = Layout::default_layout();
    let mut observed = converged(&layout);
    let ds = observed
        .datasets
        .iter_mut()
        .find(|d| d.name == "quickOS/shared-prod-data-sync")
        .unwrap();
    ds.properties.insert(
        "sync".into(),
        ObservedValue {
            value: "standard".into(),
            local: true,
        },
    );
    ds.properties.insert(
        "recordsize".into(),
        ObservedValue {
            value: "131072".into(),
            local: false,
        },
    );
    observed.pools[0]
        .properties
        .insert("autotrim".into(), "off".into());
    let p = plan_for(&layout, &host("qemu-default"), &observed, &[]);
    assert_eq!(kinds(&p), ["set-pool", "set-dataset"]);
    assert_eq!(
        p.actions[0].argv(),
        ["zpool", "set", "autotrim=on", "quickOS"]
    );
    assert_eq!(
        p.actions[1].argv(),
        [
            "zfs",
            "set",
            "recordsize=16K",
            "sync=always",
            "quickOS/shared-prod-data-sync"
        ]
    );
}

#[test]
fn exported_pools_are_imported_by_guid_and_never_created_over() {
    let layout = Layout::default_layout();
    let observed = Observed {
        importable: vec![
            ImportablePool {
                name: "quickOS".into(),
                guid: 111,
                state: "ONLINE".into(),
                members: data_members(&QUICK),
                data_vdevs: shape_of(&QUICK),
                last_used_elsewhere: false,
            },
            ImportablePool {
                name: "fastData".into(),
                guid: 222,
                state: "ONLINE".into(),
                members: data_members(&[FAST]),
                data_vdevs: shape_of(&[FAST]),
                last_used_elsewhere: false,
            },
        ],
        ..Observed::default()
    };
    // The drives carry the GPT a whole-disk pool leaves: they are the pools' own, not "data".
    let mut inv = host("qemu-default");
    for d in &mut inv.disks {
        d.probe = ProbeState::read(vec![gpt()]);
    }
    let p = plan_for(&layout, &inv, &observed, &[]);
    assert_eq!(kinds(&p), ["import", "import"], "{p:#?}");
    assert_eq!(
        p.actions[0].argv(),
        ["zpool", "import", "-d", "/dev/disk/by-id", "111"]
    );
    assert!(p.blockers.is_empty());
}

fn gpt() -> Signature {
    Signature {
        kind: SignatureKind::Gpt,
        offset: 512,
        label: None,
        uuid: None,
        detail: None,
    }
}

#[test]
fn a_pool_of_the_layout_on_other_drives_is_refused() {
    let layout = Layout::default_layout();
    let mut observed = converged(&layout);
    observed.pools[0].members = data_members(&[
        "/dev/disk/by-id/nvme-Other_Drive_X1-part1",
        "/dev/disk/by-id/nvme-Other_Drive_X2-part1",
    ]);
    let p = plan_for(&layout, &host("qemu-default"), &observed, &[]);
    assert_eq!(p.exit_code(), Some(3), "{p:#?}");
    assert!(p
        .blockers
        .iter()
        .any(|b| matches!(b, Blocker::PoolElsewhere { pool, .. } if pool == "quickOS")));
}

#[test]
fn a_drive_holding_data_is_refused_unless_its_serial_is_named_with_wipe() {
    let layout = Layout::default_layout();
    let mut inv = host("qemu-default");
    inv.disks[1].probe = ProbeState::read(vec![Signature {
        kind: SignatureKind::Ext,
        offset: 1080,
        label: Some("old".into()),
        uuid: None,
        detail: None,
    }]);
    let p = plan_for(&layout, &inv, &Observed::default(), &[]);
    assert_eq!(p.exit_code(), Some(5));
    // Nothing is planned for the pool whose drive holds data.
    assert!(
        p.actions
            .iter()
            .all(|a| !a.argv().contains(&"quickOS".to_string())),
        "{p:#?}"
    );
    let message = p.blockers[0].message();
    assert!(message.contains("--wipe S2TA0002"), "{message}");

    let p = plan_for(
        &layout,
        &inv,
        &Observed::default(),
        &["S2TA0002".to_string()],
    );
    assert!(p.blockers.is_empty(), "{p:#?}");
    assert_eq!(kinds(&p)[..3], ["wipe", "create-pool", "create-pool"]);
    assert_eq!(
        p.actions[0].argv(),
        [
            "wipefs",
            "--all",
            "/dev/disk/by-id/nvme-Samsung_SSD_990_EVO_Plus_2TB_S2TA0002_1"
        ]
    );
}

#[test]
fn a_wipe_never_applies_to_a_drive_that_could_not_be_read() {
    let layout = Layout::default_layout();
    let mut inv = host("qemu-default");
    inv.disks[0].probe = ProbeState::Unreadable {
        error: "EIO".into(),
    };
    let p = plan_for(
        &layout,
        &inv,
        &Observed::default(),
        &["S2TA0001".to_string()],
    );
    assert_eq!(p.exit_code(), Some(5));
    assert!(!kinds(&p).contains(&"wipe"));
}

#[test]
fn bad_firmware_refuses_under_enforce_and_warns_under_warn() {
    let text = default_layout_with_bad_firmware_rule();
    let layout = Layout::parse(&text, "test").unwrap();
    let p = plan_for(&layout, &host("qemu-default"), &Observed::default(), &[]);
    assert_eq!(p.exit_code(), Some(4), "{p:#?}");
    let warn = Layout::parse(
        &text.replace("mode = \"enforce\"", "mode = \"warn\""),
        "test",
    )
    .unwrap();
    let p = plan_for(&warn, &host("qemu-default"), &Observed::default(), &[]);
    assert_eq!(p.exit_code(), None);
    assert_eq!(
        p.warnings.iter().filter(|w| w.code == "firmware").count(),
        3
    );
}

/// The default layout plus a policy that calls the emulated drives' firmware bad.
fn default_layout_with_bad_firmware_rule() -> String {
    phoenix_zfs::layout::DEFAULT_LAYOUT_TOML.replace(
        "mode = \"enforce\"",
        "mode = \"enforce\"\n[[firmware.rule]]\nmodel = \"Samsung SSD 990 EVO Plus*\"\nbad = [{ revision = \"10.0.2\", reason = \"test policy\", source = \"qemu-tests\" }]",
    )
}

#[test]
fn a_member_of_a_foreign_imported_pool_is_never_a_candidate() {
    let layout = Layout::default_layout();
    let observed = Observed {
        pools: vec![ObservedPool {
            name: "tank".into(),
            guid: Some(7),
            health: "ONLINE".into(),
            members: data_members(&QUICK[..1]),
            data_vdevs: shape_of(&QUICK[..1]),
            properties: BTreeMap::new(),
            scan: None,
            missing: Vec::new(),
        }],
        ..Observed::default()
    };
    let p = plan_for(
        &layout,
        &host("qemu-default"),
        &observed,
        &["S2TA0001".to_string()],
    );
    assert_eq!(p.exit_code(), Some(3), "{p:#?}");
    assert!(!kinds(&p).contains(&"wipe"));
}

#[test]
fn an_extra_candidate_stops_until_serials_pin_the_members() {
    let mut layout = Layout::default_layout();
    let mut inv = host("qemu-default");
    let mut third = inv.disks[0].clone();
    third.name = "nvme9n1".into();
    third.serial = Some("S2TA0009".into());
    third.preferred_path = "/dev/disk/by-id/nvme-Samsung_SSD_990_EVO_Plus_2TB_S2TA0009_1".into();
    inv.disks.push(third);
    let p = plan_for(&layout, &inv, &Observed::default(), &[]);
    assert_eq!(p.exit_code(), Some(3));
    assert!(
        p.blockers[0].message().contains("serials = [...]"),
        "{}",
        p.blockers[0].message()
    );
    layout.pools[0].serials = vec!["S2TA0001".into(), "S2TA0009".into()];
    let p = plan_for(&layout, &inv, &Observed::default(), &[]);
    assert_eq!(p.exit_code(), None, "{p:#?}");
    let create = p.actions[0].argv();
    assert!(
        create.iter().any(|a| a.contains("S2TA0009"))
            && !create.iter().any(|a| a.contains("S2TA0002")),
        "{create:?}"
    );
}

#[test]
fn an_interrupted_pool_creation_of_our_own_is_wiped_and_redone_and_nothing_else_is() {
    let layout = Layout::default_layout();
    let mut inv = host("old-signatures");
    // nvme0n1 holds the GPT a whole-disk `zpool create` makes; nvme1n1 holds another pool's labels.
    let whole_disk = |d: &&phoenix_zfs::model::disk::Disk| d.name == "nvme0n1";
    let gpt_only = inv.disks.iter().find(whole_disk).unwrap().probe.clone();
    inv.disks[1].probe = gpt_only;
    let paths = vec![
        "/dev/disk/by-id/nvme-Samsung_SSD_990_EVO_Plus_2TB_S2TA0001_1".to_string(),
        "/dev/disk/by-id/nvme-Samsung_SSD_990_EVO_Plus_2TB_S2TA0002_1".to_string(),
    ];
    let drives = |paths: &[String]| -> Vec<phoenix_zfs::model::pending::JournaledDrive> {
        paths
            .iter()
            .zip(["S2TA0001", "S2TA0002"])
            .map(
                |(path, serial)| phoenix_zfs::model::pending::JournaledDrive {
                    serial: Some(serial.into()),
                    path: path.clone(),
                },
            )
            .collect()
    };
    let pending = vec![phoenix_zfs::model::pending::PendingCreate {
        pool: "quickOS".into(),
        drives: drives(&paths),
        started_at: "t".into(),
    }];
    let matches = match_drives(&layout, &inv, &[]);
    let fw = firmware::judge(&inv, &layout.firmware.rules);
    let observed = Observed::default();
    let not_observed = HostServices::not_observed();
    let facts = Facts {
        layout: &layout,
        inventory: &inv,
        matches: &matches,
        firmware: &fw,
        observed: &observed,
        consent: &Consent::default(),
        pending: &pending,
        services: &not_observed,
        target: &Target::RunningSystem,
    };
    let p = plan(&facts);
    assert!(p.blockers.is_empty(), "{p:#?}");
    let argv: Vec<Vec<String>> = p.actions.iter().map(|a| a.argv()).collect();
    assert_eq!(argv[0], ["wipefs", "--all", paths[0].as_str()], "{argv:#?}");
    assert_eq!(argv[1], ["wipefs", "--all", paths[1].as_str()], "{argv:#?}");
    assert_eq!(
        &argv[2][..3],
        ["zpool", "create", "-o"],
        "never -f: {argv:#?}"
    );
    assert!(!argv.iter().flatten().any(|a| a == "-f"), "{argv:#?}");

    // An entry that names the drives by path but not by their serials vouches for nothing.
    let swapped = vec![phoenix_zfs::model::pending::PendingCreate {
        pool: "quickOS".into(),
        drives: drives(&[paths[1].clone(), paths[0].clone()]),
        started_at: "t".into(),
    }];
    let facts = Facts {
        pending: &swapped,
        ..facts
    };
    assert_eq!(plan(&facts).exit_code(), Some(5));

    // Without the journal the same drives are someone's data.
    let facts = Facts {
        pending: &[],
        ..facts
    };
    assert_eq!(plan(&facts).exit_code(), Some(5));

    // A journal entry for another pool does not excuse them either.
    let other = vec![phoenix_zfs::model::pending::PendingCreate {
        pool: "fastData".into(),
        drives: pending[0].drives.clone(),
        started_at: "t".into(),
    }];
    let facts = Facts {
        pending: &other,
        ..facts
    };
    assert_eq!(plan(&facts).exit_code(), Some(5));
}

#[test]
fn the_layouts_own_pools_being_mounted_does_not_make_their_drives_strangers() {
    let layout = Layout::default_layout();
    let mut inv = host("qemu-default");
    for d in &mut inv.disks {
        let pool = if d.serial.as_deref() == Some("S4TB0001") {
            "fastData"
        } else {
            "quickOS"
        };
        d.ineligible
            .push(phoenix_zfs::model::disk::Ineligible::Mounted {
                mountpoint: format!("/{pool}"),
                via: pool.into(),
            });
    }
    let p = plan_for(&layout, &inv, &converged(&layout), &[]);
    assert!(p.blockers.is_empty(), "{p:#?}");
    assert!(p.actions.is_empty(), "{p:#?}");
}

// ---- services: NFS, Proxmox storages, smartd, drive health ----

/// What the installer writes for an ext4 root (pve-installer's Proxmox/Install/StorageConfig.pm, lvm-thin on an ext4 root).
const INSTALLER_STORAGE_CFG: &str = "dir: local\n\tpath /var/lib/vz\n\tcontent iso,vztmpl,backup\n\nlvmthin: local-lvm\n\tthinpool data\n\tvgname pve\n\tcontent rootdir,images\n";
/// Debian's stock /etc/smartd.conf, comments left out.
const STOCK_SMARTD: &str =
    "DEVICESCAN -d removable -n standby -m root -M exec /usr/share/smartmontools/smartd-runner\n";

fn healthy(critical_warning: u8) -> WearBaseline {
    WearBaseline {
        percentage_used: 1,
        available_spare: 100,
        available_spare_threshold: 10,
        data_units_written: 1000,
        media_errors: 0,
        critical_warning,
        power_on_hours: 5,
        unsafe_shutdowns: 0,
    }
}

/// A normal Proxmox host: pmxcfs up with `storage_cfg`, the NFS server installed on
/// 192.0.2.0/24, smartd with `smartd_conf`, three healthy drives.
fn proxmox_host(storage_cfg: &str, smartd_conf: &str) -> HostServices {
    HostServices {
        proxmox: Availability::Ready {
            value: StorageConfig::parse(storage_cfg).unwrap(),
        },
        nfs: NfsServer {
            installed: true,
            network: Availability::Ready {
                value: "192.0.2.0/24".parse().unwrap(),
            },
            online: true,
        },
        smartd: Availability::Ready {
            value: smartd_conf.into(),
        },
        health: ["nvme0n1", "nvme1n1", "nvme2n1"]
            .iter()
            .map(|d| DriveHealth {
                drive: d.to_string(),
                serial: None,
                by_id: String::new(),
                reading: Availability::Ready { value: healthy(0) },
            })
            .collect(),
        arc: None,
        observed: true,
    }
}

fn run_argv(p: &Plan, kind: &str) -> Vec<Vec<String>> {
    p.actions
        .iter()
        .filter(|a| kinds_of(a) == kind)
        .map(|a| a.argv())
        .collect()
}

fn kinds_of(a: &Action) -> &'static str {
    kinds(&Plan {
        actions: vec![a.clone()],
        warnings: vec![],
        blockers: vec![],
        notes: vec![],
        deferred: vec![],
        afterwards: vec![],
    })[0]
}

#[test]
fn a_blank_proxmox_host_gets_exports_storages_and_smartd_in_one_plan() {
    let layout = Layout::default_layout();
    let services = proxmox_host(INSTALLER_STORAGE_CFG, STOCK_SMARTD);
    let p = plan_with_services(
        &layout,
        &host("qemu-default"),
        &Observed::default(),
        &[],
        &services,
    );
    assert!(p.blockers.is_empty() && p.deferred.is_empty(), "{p:#?}");
    let k = kinds(&p);
    assert_eq!(k.iter().filter(|k| **k == "storage").count(), 4, "{k:?}");
    assert_eq!(&k[k.len() - 2..], ["write-file", "reload"]);
    // The exports ride on `zfs create`: no second command per dataset.
    let shared: Vec<String> = run_argv(&p, "create-dataset")
        .into_iter()
        .filter(|argv| argv.iter().any(|a| a.starts_with("sharenfs=")))
        .map(|argv| argv.last().unwrap().clone())
        .collect();
    assert_eq!(
        shared,
        [
            "quickOS/shared-prod-data",
            "quickOS/shared-prod-data-sync",
            "fastData/shared-test-data",
            "fastData/shared-bulk-data"
        ]
    );
    let sync = run_argv(&p, "create-dataset")
        .into_iter()
        .find(|a| a.last().unwrap() == "quickOS/shared-prod-data-sync")
        .unwrap();
    assert!(
        sync.contains(&"sharenfs=rw=@192.0.2.0/24,no_subtree_check,sync,root_squash".to_string()),
        "{sync:?}"
    );
    let storages = run_argv(&p, "storage");
    assert!(
        storages.contains(
            &[
                "pvesm",
                "add",
                "dir",
                "fastData-shared-backups",
                "--path",
                "/fastData/shared-backups",
                "--content",
                "backup",
                "--is_mountpoint",
                "yes"
            ]
            .map(String::from)
            .to_vec()
        ),
        "{storages:?}"
    );
    assert!(
        storages.contains(
            &[
                "pvesm",
                "add",
                "zfspool",
                "quickOS-vm-disks",
                "--pool",
                "quickOS/vm-disks",
                "--content",
                "images",
                "--sparse",
                "1",
                "--blocksize",
                "16k"
            ]
            .map(String::from)
            .to_vec()
        ),
        "{storages:?}"
    );
    let Some(Action::WriteFile { content, .. }) =
        p.actions.iter().find(|a| kinds_of(a) == "write-file")
    else {
        panic!("no smartd write: {p:#?}");
    };
    let block_end = content.find("# END phoenix-zfs").unwrap();
    assert!(block_end < content.find("DEVICESCAN").unwrap(), "{content}");
    assert_eq!(content.matches(" -d nvme -a ").count(), 3, "{content}");
    // In by-id order, not the order the kernel named the drives in this boot.
    let devices = phoenix_zfs::formats::smartd::block_devices(content);
    let mut sorted = devices.clone();
    sorted.sort();
    assert_eq!(devices, sorted);
}

#[test]
fn services_already_in_place_plan_nothing() {
    let layout = Layout::default_layout();
    let blank = proxmox_host(INSTALLER_STORAGE_CFG, STOCK_SMARTD);
    let first = plan_with_services(
        &layout,
        &host("qemu-default"),
        &Observed::default(),
        &[],
        &blank,
    );
    // The world after the first plan ran: storage.cfg as pvesm writes it, smartd.conf merged,
    // the datasets with their sharenfs and default mountpoints.
    let mut cfg = StorageConfig::parse(INSTALLER_STORAGE_CFG).unwrap();
    for argv in run_argv(&first, "storage") {
        let mut section =
            phoenix_zfs::formats::proxmox::storage_cfg::Section::new(&argv[2], &argv[3]);
        for pair in argv[4..].chunks(2) {
            section
                .set(pair[0].trim_start_matches("--"), &pair[1])
                .unwrap();
        }
        cfg.sections.push(section);
    }
    let Some(Action::WriteFile { content, .. }) =
        first.actions.iter().find(|a| kinds_of(a) == "write-file")
    else {
        panic!("no smartd write");
    };
    let services = proxmox_host(&cfg.to_text(), content);
    let mut observed = converged(&layout);
    for argv in run_argv(&first, "create-dataset") {
        let name = argv.last().unwrap().clone();
        let ds = observed
            .datasets
            .iter_mut()
            .find(|d| d.name == name)
            .unwrap();
        for o in argv.iter().filter_map(|a| a.strip_prefix("sharenfs=")) {
            ds.properties.insert(
                "sharenfs".into(),
                ObservedValue {
                    value: o.into(),
                    local: true,
                },
            );
        }
        ds.properties.insert(
            "mountpoint".into(),
            ObservedValue {
                value: format!("/{name}"),
                local: false,
            },
        );
    }
    let p = plan_with_services(&layout, &host("qemu-default"), &observed, &[], &services);
    assert_eq!(kinds(&p), Vec::<&str>::new(), "{p:#?}");
}

#[test]
fn without_pmxcfs_or_an_nfs_server_offline_the_services_are_deferred_not_failed() {
    let layout = Layout::default_layout();
    let mut services = proxmox_host(INSTALLER_STORAGE_CFG, STOCK_SMARTD);
    services.proxmox = Availability::Unavailable {
        why: "cannot read /etc/pve/storage.cfg".into(),
    };
    services.nfs.installed = false;
    services.nfs.online = false;
    let p = plan_with_services(
        &layout,
        &host("qemu-default"),
        &Observed::default(),
        &[],
        &services,
    );
    assert!(p.blockers.is_empty(), "{p:#?}");
    let subjects: Vec<&str> = p.deferred.iter().map(|d| d.subject.as_str()).collect();
    assert_eq!(subjects.len(), 8, "{subjects:?}");
    assert!(
        subjects.contains(&"storage quickOS-vm-disks")
            && subjects.contains(&"nfs fastData/shared-bulk-data")
    );
    assert_eq!(
        kinds(&p).iter().filter(|k| **k == "create-dataset").count(),
        8
    );
    assert!(!kinds(&p).contains(&"storage") && !kinds(&p).contains(&"install"));

    // Online, the NFS server is installed instead; the exports follow in the next round.
    services.nfs.online = true;
    let p = plan_with_services(
        &layout,
        &host("qemu-default"),
        &Observed::default(),
        &[],
        &services,
    );
    assert_eq!(
        run_argv(&p, "install"),
        [[
            "env",
            "DEBIAN_FRONTEND=noninteractive",
            "apt-get",
            "install",
            "--yes",
            "--no-install-recommends",
            "nfs-kernel-server"
        ]
        .map(String::from)
        .to_vec()]
    );
    assert!(
        p.deferred.iter().all(|d| d.subject.starts_with("storage ")),
        "{:?}",
        p.deferred
    );
}

#[test]
fn a_default_route_that_comes_late_defers_the_exports_then_a_later_round_makes_them() {
    // The installer's fully-up unit does not wait for network-online.target: with DHCP the hook
    // can look for the management network before the lease. The pools and datasets are made,
    // the exports deferred with the reason, and nothing is blocked or failed.
    let layout = Layout::default_layout();
    let mut services = proxmox_host(INSTALLER_STORAGE_CFG, STOCK_SMARTD);
    services.nfs.online = false;
    let no_route = nfs::export_network(
        &layout.nfs,
        Err(nfs::RouteError::NoDefaultRoute.to_string()),
    )
    .unwrap_err();
    services.nfs.network = Availability::Unavailable {
        why: no_route.to_string(),
    };
    let p = plan_with_services(
        &layout,
        &host("qemu-default"),
        &Observed::default(),
        &[],
        &services,
    );
    assert!(p.blockers.is_empty(), "{p:#?}");
    let exports: Vec<(&str, &str)> = p
        .deferred
        .iter()
        .map(|d| (d.subject.as_str(), d.why.as_str()))
        .collect();
    assert_eq!(exports.len(), 4, "{exports:?}");
    for (subject, why) in exports {
        assert!(subject.starts_with("nfs "), "{subject}");
        assert!(
            why.contains("no default IPv4 route: the network is not up"),
            "{why}"
        );
    }
    assert_eq!(
        kinds(&p).iter().filter(|k| **k == "create-dataset").count(),
        8
    );
    assert!(!run_argv(&p, "create-dataset")
        .iter()
        .flatten()
        .any(|a| a.starts_with("sharenfs=")));

    // The route is there by the next round (or the next run): the datasets exist, and only
    // their sharenfs is set.
    services.nfs.online = true;
    services.nfs.network = Availability::Ready {
        value: "192.0.2.0/24".parse().unwrap(),
    };
    let p = plan_with_services(
        &layout,
        &host("qemu-default"),
        &converged(&layout),
        &[],
        &services,
    );
    assert!(p.blockers.is_empty() && p.deferred.is_empty(), "{p:#?}");
    let set: Vec<String> = run_argv(&p, "set-dataset")
        .into_iter()
        .filter(|argv| {
            argv.iter()
                .any(|a| a.starts_with("sharenfs=rw=@192.0.2.0/24"))
        })
        .map(|argv| argv.last().unwrap().clone())
        .collect();
    assert_eq!(
        set,
        [
            "quickOS/shared-prod-data",
            "quickOS/shared-prod-data-sync",
            "fastData/shared-test-data",
            "fastData/shared-bulk-data"
        ]
    );
}

#[test]
fn a_drive_its_controller_calls_read_only_is_refused_with_exit_4() {
    let layout = Layout::default_layout();
    let mut services = proxmox_host(INSTALLER_STORAGE_CFG, STOCK_SMARTD);
    services.health[1].reading = Availability::Ready {
        value: healthy(0x08 | 0x02),
    };
    let p = plan_with_services(
        &layout,
        &host("qemu-default"),
        &Observed::default(),
        &[],
        &services,
    );
    assert_eq!(p.exit_code(), Some(4), "{p:#?}");
    let message = p.blockers[0].message();
    assert!(
        message.starts_with("nvme1n1") && message.contains("0x0a") && message.contains("read-only"),
        "{message}"
    );
    // Temperature alone (bit 1) is worth a look, not a refusal.
    services.health[1].reading = Availability::Ready {
        value: healthy(0x02),
    };
    let p = plan_with_services(
        &layout,
        &host("qemu-default"),
        &Observed::default(),
        &[],
        &services,
    );
    assert!(p.blockers.is_empty(), "{p:#?}");
}

#[test]
fn the_arc_limit_is_set_now_and_for_the_next_boot_then_left_alone() {
    use phoenix_zfs::model::services::ArcState;
    let mut layout = Layout::default_layout();
    layout.zfs.arc_max = Some("1G".into());
    let mut services = proxmox_host(INSTALLER_STORAGE_CFG, STOCK_SMARTD);
    services.arc = Some(ArcState {
        runtime: Availability::Ready { value: 0 },
        modprobe_conf: Availability::Ready {
            value: "options zfs zfs_arc_max=3363831808\n".into(),
        },
        root_on_zfs: true,
        ram: Availability::Ready { value: 16 << 30 },
        arc_min: Availability::Ready { value: 0 },
    });
    let observed = converged(&layout);
    let p = plan_with_services(&layout, &host("qemu-default"), &observed, &[], &services);
    let k = kinds(&p);
    assert!(k.ends_with(&["module-parameter", "initramfs"]), "{k:?}");
    assert_eq!(
        run_argv(&p, "initramfs"),
        [["update-initramfs", "-u", "-k", "all"]
            .map(String::from)
            .to_vec()]
    );
    assert!(p.actions.iter().any(|a| matches!(a, Action::WriteFile { path, content, .. }
        if path == "/etc/modprobe.d/zfs.conf" && content == "options zfs zfs_arc_max=1073741824\n")), "{p:#?}");

    services.arc = Some(ArcState {
        runtime: Availability::Ready { value: 1 << 30 },
        modprobe_conf: Availability::Ready {
            value: "options zfs zfs_arc_max=1073741824\n".into(),
        },
        root_on_zfs: true,
        ram: Availability::Ready { value: 16 << 30 },
        arc_min: Availability::Ready { value: 0 },
    });
    let p = plan_with_services(&layout, &host("qemu-default"), &observed, &[], &services);
    assert!(
        !kinds(&p)
            .iter()
            .any(|k| *k == "module-parameter" || *k == "initramfs"),
        "{p:#?}"
    );

    // With the root on ext4 the module loads from the root file system: no initramfs rebuild.
    services.arc = Some(ArcState {
        runtime: Availability::Ready { value: 0 },
        modprobe_conf: Availability::Ready {
            value: String::new(),
        },
        root_on_zfs: false,
        ram: Availability::Ready { value: 16 << 30 },
        arc_min: Availability::Ready { value: 0 },
    });
    let p = plan_with_services(&layout, &host("qemu-default"), &observed, &[], &services);
    let k = kinds(&p);
    assert!(
        k.contains(&"module-parameter") && !k.contains(&"initramfs"),
        "{k:?}"
    );
}

#[test]
fn an_arc_limit_openzfs_would_ignore_is_a_warning_never_an_action() {
    use phoenix_zfs::model::services::ArcState;
    let mut layout = Layout::default_layout();
    layout.zfs.arc_max = Some("2G".into());
    let mut services = proxmox_host(INSTALLER_STORAGE_CFG, STOCK_SMARTD);
    let arc = |ram: u64, arc_min: u64, conf: &str| ArcState {
        runtime: Availability::Ready { value: 0 },
        modprobe_conf: Availability::Ready { value: conf.into() },
        root_on_zfs: true,
        ram: Availability::Ready { value: ram },
        arc_min: Availability::Ready { value: arc_min },
    };
    let observed = converged(&layout);
    let arc_actions = |p: &Plan| {
        p.actions
            .iter()
            .filter(|a| {
                matches!(
                    a,
                    Action::SetModuleParameter { .. } | Action::RefreshInitramfs { .. }
                ) || matches!(a, Action::WriteFile { path, .. } if path.contains("modprobe"))
            })
            .count()
    };
    // 64 GiB of RAM: the default floor is 2 GiB, and 2G is at it.
    services.arc = Some(arc(64 << 30, 0, ""));
    let p = plan_with_services(&layout, &host("qemu-default"), &observed, &[], &services);
    let warning = p
        .warnings
        .iter()
        .find(|w| w.code == "arc-max-ignored")
        .unwrap_or_else(|| panic!("{p:#?}"));
    assert!(
        warning.message.contains("zfs_arc_min (2.00 GiB)"),
        "{}",
        warning.message
    );
    assert!(
        warning.message.contains("e.g. \"3G\""),
        "{}",
        warning.message
    );
    assert!(warning.message.contains("read back"), "{}", warning.message);
    assert!(
        warning
            .message
            .contains("above 2G (zfs_arc_min's default: 1/32 of the 64.00 GiB of RAM)"),
        "{}",
        warning.message
    );
    assert_eq!(arc_actions(&p), 0, "{p:#?}");

    // 32 GiB: the floor is 1 GiB, 2G is taken.
    services.arc = Some(arc(32 << 30, 0, ""));
    let p = plan_with_services(&layout, &host("qemu-default"), &observed, &[], &services);
    assert!(
        !p.warnings.iter().any(|w| w.code == "arc-max-ignored"),
        "{p:#?}"
    );
    assert!(arc_actions(&p) > 0, "{p:#?}");

    // An explicit zfs_arc_min, now or in modprobe.d for the next boot, raises the floor.
    services.arc = Some(arc(32 << 30, 4 << 30, ""));
    let p = plan_with_services(&layout, &host("qemu-default"), &observed, &[], &services);
    assert!(
        p.warnings.iter().any(|w| w.code == "arc-max-ignored"),
        "{p:#?}"
    );
    services.arc = Some(arc(32 << 30, 0, "options zfs zfs_arc_min=3221225472\n"));
    let p = plan_with_services(&layout, &host("qemu-default"), &observed, &[], &services);
    assert!(
        p.warnings.iter().any(|w| w.code == "arc-max-ignored"),
        "{p:#?}"
    );
}

#[test]
fn a_pool_another_system_imported_last_needs_force_import() {
    let layout = Layout::default_layout();
    let mut inv = host("qemu-default");
    for d in &mut inv.disks {
        d.probe = ProbeState::read(vec![gpt()]);
    }
    let observed = Observed {
        importable: vec![
            ImportablePool {
                name: "quickOS".into(),
                guid: 111,
                state: "ONLINE".into(),
                members: data_members(&QUICK),
                data_vdevs: shape_of(&QUICK),
                last_used_elsewhere: true,
            },
            ImportablePool {
                name: "fastData".into(),
                guid: 222,
                state: "ONLINE".into(),
                members: data_members(&[FAST]),
                data_vdevs: shape_of(&[FAST]),
                last_used_elsewhere: false,
            },
        ],
        ..Observed::default()
    };
    let services = HostServices::not_observed();
    let p = plan_with(&layout, &inv, &observed, &Consent::default(), &services);
    assert_eq!(p.exit_code(), Some(5), "{p:#?}");
    let message = p.blockers[0].message();
    assert!(
        message.contains("quickOS") && message.contains("--force-import"),
        "{message}"
    );

    let forced = Consent {
        wipe: vec![],
        force_import: true,
    };
    let p = plan_with(&layout, &inv, &observed, &forced, &services);
    assert!(p.blockers.is_empty(), "{p:#?}");
    // -f only where zpool import asked for it.
    assert_eq!(
        p.actions[0].argv(),
        ["zpool", "import", "-f", "-d", "/dev/disk/by-id", "111"]
    );
    assert_eq!(
        p.actions[1].argv(),
        ["zpool", "import", "-d", "/dev/disk/by-id", "222"]
    );
}

/// The default host after quickOS lost S2TA0002: its status as OpenZFS 2.3 printed it in QEMU
/// scenario 15 (the member named by its GUID, "was" its old path), everything else converged.
fn degraded(layout: &Layout) -> (Observed, String) {
    let transcript = fixtures::transcript("zfs/openzfs-2.3/replaced/zpool-status-degraded");
    let statuses =
        phoenix_zfs::formats::zfs::parse_zpool_status(&transcript.output.stdout).unwrap();
    let status = statuses.iter().find(|s| s.name == "quickOS").unwrap();
    let mut observed = converged(layout);
    let quick = observed
        .pools
        .iter_mut()
        .find(|p| p.name == "quickOS")
        .unwrap();
    let mut properties = quick.properties.clone();
    properties.insert("health".into(), "DEGRADED".into());
    *quick = ObservedPool::from_status("quickOS".into(), properties, Some(status));
    assert_eq!(quick.missing.len(), 1, "{quick:#?}");
    let guid = quick.missing[0].name.clone();
    (observed, guid)
}

const OLD_MEMBER: &str = "/dev/disk/by-id/nvme-Samsung_SSD_990_EVO_Plus_2TB_S2TA0002_1-part1";

#[test]
fn a_missing_mirror_member_is_replaced_by_a_blank_drive_of_its_class_by_guid() {
    let layout = Layout::default_layout();
    let (observed, guid) = degraded(&layout);
    assert!(guid.chars().all(|c| c.is_ascii_digit()), "{guid}");
    let p = plan_for(&layout, &host("replaced-2tb"), &observed, &[]);
    assert!(p.blockers.is_empty(), "{p:#?}");
    assert_eq!(kinds(&p), ["replace"], "{p:#?}");
    assert_eq!(
        p.actions[0].argv(),
        [
            "zpool",
            "replace",
            "quickOS",
            guid.as_str(),
            "/dev/disk/by-id/nvme-Samsung_SSD_990_EVO_Plus_2TB_S2TA0003_1"
        ]
    );
    let summary = p.actions[0].summary();
    assert!(summary.contains(OLD_MEMBER), "{summary}");
    assert!(summary.contains("S2TA0003"), "{summary}");
    assert!(
        p.warnings.iter().all(|w| w.code != "pool-degraded"),
        "{p:#?}"
    );
}

#[test]
fn a_replacement_holding_ext4_is_refused_with_exit_5_unless_named_with_wipe() {
    let layout = Layout::default_layout();
    let (observed, guid) = degraded(&layout);
    let inv = host("replaced-2tb-ext4");
    let p = plan_for(&layout, &inv, &observed, &[]);
    assert_eq!(p.exit_code(), Some(5), "{p:#?}");
    assert_eq!(kinds(&p), Vec::<&str>::new(), "nothing may change: {p:#?}");
    let message = p.blockers[0].message();
    assert!(
        message.contains("S2TA0004") && message.contains("--wipe S2TA0004"),
        "{message}"
    );

    let p = plan_for(&layout, &inv, &observed, &["S2TA0004".to_string()]);
    assert!(p.blockers.is_empty(), "{p:#?}");
    assert_eq!(kinds(&p), ["wipe", "replace"], "{p:#?}");
    assert_eq!(p.actions[1].argv()[3], guid);
}

#[test]
fn a_degraded_mirror_without_a_replacement_is_a_warning_not_a_blocker() {
    let layout = Layout::default_layout();
    let (observed, guid) = degraded(&layout);
    let p = plan_for(&layout, &host("missing-2tb"), &observed, &[]);
    assert!(p.blockers.is_empty(), "{p:#?}");
    assert_eq!(p.exit_code(), None);
    assert_eq!(kinds(&p), Vec::<&str>::new(), "{p:#?}");
    let warning = p
        .warnings
        .iter()
        .find(|w| w.code == "pool-degraded")
        .unwrap_or_else(|| panic!("no pool-degraded warning: {p:#?}"));
    for needed in [
        guid.as_str(),
        OLD_MEMBER,
        "UNAVAIL",
        "class 2TB",
        "model Samsung SSD 990 EVO Plus 2TB",
    ] {
        assert!(
            warning.message.contains(needed),
            "{needed}: {}",
            warning.message
        );
    }
}

#[test]
fn after_the_replace_the_resilvered_mirror_plans_nothing() {
    let layout = Layout::default_layout();
    let transcript = fixtures::transcript("zfs/openzfs-2.3/replaced/zpool-status-resilvered");
    let statuses =
        phoenix_zfs::formats::zfs::parse_zpool_status(&transcript.output.stdout).unwrap();
    let mut observed = converged(&layout);
    for pool in observed.pools.iter_mut() {
        let status = statuses.iter().find(|s| s.name == pool.name);
        *pool = ObservedPool::from_status(pool.name.clone(), pool.properties.clone(), status);
    }
    let quick = observed.pool("quickOS").unwrap();
    assert!(quick.missing.is_empty(), "{quick:#?}");
    assert!(
        quick.scan.as_deref().unwrap().starts_with("resilvered "),
        "{quick:#?}"
    );
    let p = plan_for(&layout, &host("replaced-2tb"), &observed, &[]);
    assert_eq!(kinds(&p), Vec::<&str>::new(), "{p:#?}");
    assert!(p.blockers.is_empty() && p.warnings.iter().all(|w| w.code != "pool-degraded"));
}

fn installed_root_at_mnt() -> Target {
    Target::MountedRoot {
        dir: "/mnt".into(),
        keep_imported: false,
    }
}

/// What host/services.rs reports from a live system: storage.cfg and the exports' network belong to
/// the installed system's next boot; its smartd.conf is read under the mounted root.
fn live_system_services() -> HostServices {
    let mut services = proxmox_host(INSTALLER_STORAGE_CFG, STOCK_SMARTD);
    services.proxmox = Availability::Unavailable {
        why: "a live system".into(),
    };
    services.nfs.network = Availability::Unavailable {
        why: "a live system".into(),
    };
    services.nfs.online = false;
    services
}

#[test]
fn from_a_live_system_pools_are_made_under_the_target_root_and_handed_back_at_the_end() {
    let layout = Layout::default_layout();
    let p = plan_for_target(
        &layout,
        &host("qemu-default"),
        &Observed::default(),
        &Consent::default(),
        &live_system_services(),
        &installed_root_at_mnt(),
    );
    assert!(p.blockers.is_empty(), "{p:#?}");
    // smartd.conf is written for the installed system; no smartd of it runs to be reloaded.
    let mut expected = vec!["create-pool", "create-pool"];
    expected.extend(["create-dataset"; 8]);
    expected.push("write-file");
    assert_eq!(kinds(&p), expected, "{p:#?}");
    let creates = run_argv(&p, "create-pool");
    assert_eq!(creates.len(), 2);
    for argv in &creates {
        assert_eq!(&argv[..4], ["zpool", "create", "-R", "/mnt"], "{argv:?}");
    }
    assert!(run_argv(&p, "reload").is_empty(), "{p:#?}");
    assert!(!p
        .actions
        .iter()
        .any(|a| a.argv().join(" ").contains("sharenfs")));
    let afterwards: Vec<Vec<String>> = p.afterwards.iter().map(Action::argv).collect();
    assert_eq!(
        afterwards,
        [
            ["zpool", "export", "quickOS"],
            ["zpool", "export", "fastData"]
        ]
    );
    let deferred: Vec<&str> = p.deferred.iter().map(|d| d.subject.as_str()).collect();
    for subject in [
        "storage quickOS-vm-disks",
        "storage fastData-shared-iso",
        "nfs quickOS/shared-prod-data",
        "import quickOS",
        "import fastData",
    ] {
        assert!(deferred.contains(&subject), "{subject} not in {deferred:?}");
    }
}

#[test]
fn from_a_live_system_exported_pools_are_imported_under_the_target_root() {
    let layout = Layout::default_layout();
    let observed = Observed {
        importable: vec![ImportablePool {
            name: "fastData".into(),
            guid: 222,
            state: "ONLINE".into(),
            members: data_members(&[FAST]),
            data_vdevs: shape_of(&[FAST]),
            last_used_elsewhere: false,
        }],
        ..converged(&layout)
    };
    let observed = Observed {
        pools: observed
            .pools
            .into_iter()
            .filter(|p| p.name != "fastData")
            .collect(),
        datasets: observed
            .datasets
            .into_iter()
            .filter(|d| !d.name.starts_with("fastData"))
            .collect(),
        ..observed
    };
    let mut inv = host("qemu-default");
    for d in &mut inv.disks {
        d.probe = ProbeState::read(vec![gpt()]);
    }
    let keep = Target::MountedRoot {
        dir: "/mnt".into(),
        keep_imported: true,
    };
    let p = plan_for_target(
        &layout,
        &inv,
        &observed,
        &Consent::default(),
        &HostServices::not_observed(),
        &keep,
    );
    assert_eq!(
        run_argv(&p, "import"),
        [[
            "zpool",
            "import",
            "-R",
            "/mnt",
            "-d",
            "/dev/disk/by-id",
            "222"
        ]],
        "{p:#?}"
    );
    // --keep-imported: nothing is handed back, so the next boot has nothing to import.
    assert!(p.afterwards.is_empty());
    assert!(!p.deferred.iter().any(|d| d.subject.starts_with("import")));
}
