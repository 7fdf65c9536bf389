//! The pure building blocks of the Proxmox integration over their fixtures
//! (tests/fixtures/proxmox and tests/fixtures/wear; each README says where a file comes from):
//! storage.cfg read and written, storage changes planned, the export network found, the
//! sharenfs values, NVMe health baselines, and smartd.conf merged.

use crate::fixtures;
use phoenix_zfs::formats::nfs::{self, Network, RouteError};
use phoenix_zfs::formats::proxmox::storage_cfg::{Problem, StorageConfig};
use phoenix_zfs::formats::proxmox::{storage_changes, StorageChange, StoragePlanError};
use phoenix_zfs::formats::smartd::{self, SmartdPolicy, BEGIN_MARKER, END_MARKER};
use phoenix_zfs::formats::wear::{self, WearError, WearRefusal};
use phoenix_zfs::layout::Layout;
use std::collections::BTreeMap;

fn storage_cfg(name: &str) -> StorageConfig {
    StorageConfig::parse(&fixtures::read(&format!("proxmox/storage-cfg/{name}")))
        .unwrap_or_else(|e| panic!("{name}: {e}"))
}

// ---- storage.cfg -------------------------------------------------------------------------

#[test]
fn every_storage_cfg_fixture_reads_and_survives_a_rewrite() {
    let dir = fixtures::path("proxmox/storage-cfg");
    let mut count = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let text = std::fs::read_to_string(&path).unwrap();
        let parsed = StorageConfig::parse(&text).unwrap_or_else(|e| panic!("{path:?}: {e}"));
        let again = StorageConfig::parse(&parsed.to_text()).unwrap();
        assert_eq!(parsed.sections.len(), again.sections.len(), "{path:?}");
        for (a, b) in parsed.sections.iter().zip(&again.sections) {
            assert_eq!((&a.kind, &a.id), (&b.kind, &b.id), "{path:?}");
            let mut a_settings = a.settings();
            let mut b_settings = b.settings();
            // A false `disable` is not written, as Proxmox does not write it.
            a_settings.retain(|kv| *kv != ("disable", "0"));
            a_settings.sort_unstable();
            b_settings.sort_unstable();
            assert_eq!(a_settings, b_settings, "{path:?} section {}", a.id);
        }
        count += 1;
    }
    assert!(count >= 7, "only {count} fixtures found");
}

#[test]
fn files_in_proxmox_order_are_written_back_byte_for_byte() {
    for name in [
        "realistic.cfg",
        "converged.cfg",
        "drift.cfg",
        "installer-zfs.written.cfg",
        "messy.written.cfg",
    ] {
        let text = fixtures::read(&format!("proxmox/storage-cfg/{name}"));
        assert_eq!(
            StorageConfig::parse(&text).unwrap().to_text(),
            text,
            "{name}"
        );
    }
}

#[test]
fn installer_and_hand_edited_files_are_written_the_proxmox_way() {
    assert_eq!(
        storage_cfg("installer-zfs.cfg").to_text(),
        fixtures::read("proxmox/storage-cfg/installer-zfs.written.cfg")
    );
    assert_eq!(
        storage_cfg("messy.cfg").to_text(),
        fixtures::read("proxmox/storage-cfg/messy.written.cfg")
    );
}

#[test]
fn realistic_file_reads_into_typed_sections() {
    let cfg = storage_cfg("realistic.cfg");
    let kinds: Vec<(&str, &str)> = cfg
        .sections
        .iter()
        .map(|s| (s.kind.as_str(), s.id.as_str()))
        .collect();
    assert_eq!(
        kinds,
        [
            ("dir", "local"),
            ("zfspool", "local-zfs"),
            ("lvmthin", "ssd-thin"),
            ("nfs", "nas-iso"),
            ("pbs", "pbs-main"),
            ("zfspool", "tank-old"),
        ]
    );
    let pbs = cfg.get("pbs-main").unwrap();
    assert_eq!(
        pbs.get("prune-backups"),
        Some("keep-daily=7,keep-last=3,keep-weekly=4")
    );
    assert_eq!(pbs.property("username").unwrap().line, 33);
    assert_eq!(cfg.get("tank-old").unwrap().get("disable"), Some("1"));
    assert_eq!(
        cfg.get("nas-iso")
            .unwrap()
            .content()
            .into_iter()
            .collect::<Vec<_>>(),
        ["iso", "vztmpl"]
    );
}

#[test]
fn a_damaged_file_is_refused_with_its_line() {
    let mut text = fixtures::read("proxmox/storage-cfg/realistic.cfg");
    text = text.replacen("\nzfspool: local-zfs", "zfspool: local-zfs", 1);
    let err = StorageConfig::parse(&text).unwrap_err();
    assert_eq!(err.line, 5);
    assert_eq!(
        err.problem,
        Problem::ExpectedProperty {
            section: "local".into()
        }
    );
    let shown = err.to_string();
    assert!(
        shown.starts_with("storage.cfg line 5: expected an indented"),
        "{shown}"
    );
    assert!(shown.ends_with("\n  | zfspool: local-zfs"), "{shown}");
}

// ---- storage changes ---------------------------------------------------------------------

fn host_mountpoints() -> BTreeMap<String, String> {
    ["fastData/shared-backups", "fastData/shared-iso"]
        .iter()
        .map(|d| (d.to_string(), format!("/{d}")))
        .collect()
}

fn argv(words: &str) -> Vec<String> {
    words.split(' ').map(str::to_string).collect()
}

#[test]
fn a_fresh_host_gets_the_four_storages() {
    let changes = storage_changes(
        &Layout::default_layout(),
        &storage_cfg("installer-zfs.cfg"),
        &host_mountpoints(),
    )
    .unwrap();
    let argvs: Vec<&Vec<String>> = changes
        .iter()
        .map(|c| match c {
            StorageChange::Add { argv, .. } => argv,
            other => panic!("expected additions only: {other:?}"),
        })
        .collect();
    assert_eq!(
        argvs,
        [
            &argv("pvesm add zfspool quickOS-vm-disks --pool quickOS/vm-disks --content images --sparse 1 --blocksize 16k"),
            &argv("pvesm add zfspool quickOS-lxc-disks --pool quickOS/lxc-disks --content rootdir"),
            &argv("pvesm add dir fastData-shared-backups --path /fastData/shared-backups --content backup --is_mountpoint yes"),
            &argv("pvesm add dir fastData-shared-iso --path /fastData/shared-iso --content iso,vztmpl --is_mountpoint yes"),
        ]
    );
}

#[test]
fn a_converged_host_needs_nothing() {
    let changes = storage_changes(
        &Layout::default_layout(),
        &storage_cfg("converged.cfg"),
        &host_mountpoints(),
    )
    .unwrap();
    assert_eq!(changes, []);
}

#[test]
fn drift_is_set_or_reported_never_forced() {
    let changes = storage_changes(
        &Layout::default_layout(),
        &storage_cfg("drift.cfg"),
        &host_mountpoints(),
    )
    .unwrap();
    assert_eq!(changes.len(), 4, "{changes:#?}");
    let StorageChange::Set { id, argv: a, what } = &changes[0] else {
        panic!("{:?}", changes[0]);
    };
    assert_eq!(id, "quickOS-vm-disks");
    assert_eq!(
        a,
        &argv("pvesm set quickOS-vm-disks --content images --sparse 1 --blocksize 16k")
    );
    assert_eq!(
        what,
        &[
            "content: rootdir,images -> images",
            "sparse: (unset) -> 1",
            "blocksize: (unset) -> 16k"
        ]
    );
    let StorageChange::Conflict { id, message } = &changes[1] else {
        panic!("{:?}", changes[1]);
    };
    assert_eq!(id, "quickOS-lxc-disks");
    assert!(
        message.contains("has pool `quickOS/lxc-disks-old`, the layout wants `quickOS/lxc-disks`"),
        "{message}"
    );
    assert!(message.contains("(storage.cfg line 15)"), "{message}");
    let StorageChange::Conflict { id, message } = &changes[2] else {
        panic!("{:?}", changes[2]);
    };
    assert_eq!(id, "fastData-shared-backups");
    assert!(
        message.contains("is of type `zfspool`, the layout wants `dir`"),
        "{message}"
    );
    // A trailing slash and an is_mountpoint naming the path itself are the same storage.
    assert_eq!(
        changes[3],
        StorageChange::Set {
            id: "fastData-shared-iso".into(),
            argv: argv("pvesm set fastData-shared-iso --content iso,vztmpl"),
            what: vec!["content: iso -> iso,vztmpl".into()],
        }
    );
}

#[test]
fn a_second_storage_over_the_same_dataset_is_a_conflict() {
    let mut text = fixtures::read("proxmox/storage-cfg/installer-zfs.cfg");
    text.push_str("\nzfspool: vmdisks\n\tpool quickOS/vm-disks\n\tcontent images\n");
    let cfg = StorageConfig::parse(&text).unwrap();
    let changes = storage_changes(&Layout::default_layout(), &cfg, &host_mountpoints()).unwrap();
    let StorageChange::Conflict { id, message } = &changes[0] else {
        panic!("{changes:#?}");
    };
    assert_eq!(id, "quickOS-vm-disks");
    assert!(
        message.contains("already Proxmox storage `vmdisks` (storage.cfg line 10)"),
        "{message}"
    );
    assert!(matches!(changes[1], StorageChange::Add { .. }));
}

#[test]
fn dir_storages_need_a_real_mountpoint() {
    let layout = Layout::default_layout();
    let cfg = storage_cfg("installer-zfs.cfg");
    assert_eq!(
        storage_changes(&layout, &cfg, &BTreeMap::new()),
        Err(StoragePlanError::NoMountpoint {
            dataset: "fastData/shared-backups".into(),
            storage: "fastData-shared-backups".into(),
        })
    );
    let mut legacy = host_mountpoints();
    legacy.insert("fastData/shared-iso".into(), "legacy".into());
    let err = storage_changes(&layout, &cfg, &legacy).unwrap_err();
    assert!(matches!(err, StoragePlanError::UnusableMountpoint { .. }));
    assert!(err.to_string().contains("`legacy`"), "{err}");
}

#[test]
fn changes_serialize_for_the_plan_output() {
    let changes = storage_changes(
        &Layout::default_layout(),
        &storage_cfg("installer-zfs.cfg"),
        &host_mountpoints(),
    )
    .unwrap();
    let json = serde_json::to_value(&changes[1]).unwrap();
    assert_eq!(json["change"], "add");
    assert_eq!(json["id"], "quickOS-lxc-disks");
    assert_eq!(json["kind"], "zfspool");
}

// ---- NFS --------------------------------------------------------------------------------

#[test]
fn finds_the_management_network_of_the_recorded_machine() {
    let iface =
        nfs::default_route_interface(&fixtures::read("proxmox/network/proc-net-route.eth0.txt"))
            .unwrap();
    assert_eq!(iface, "eth0");
    for file in ["ip-j-addr.json", "ip-j-addr-show-dev-eth0.json"] {
        let net =
            nfs::interface_network(&fixtures::read(&format!("proxmox/network/{file}")), &iface)
                .unwrap();
        assert_eq!(net.to_string(), "192.0.2.0/24", "{file}");
    }
    assert_eq!(nfs::ip_addr_argv("eth0"), argv("ip -j addr show dev eth0"));
}

#[test]
fn finds_the_management_network_of_a_proxmox_shaped_host() {
    let iface = nfs::default_route_interface(&fixtures::read(
        "proxmox/network/hand-built-pve-vmbr0-route.txt",
    ))
    .unwrap();
    assert_eq!(iface, "vmbr0");
    let json = fixtures::read("proxmox/network/hand-built-pve-ip-j-addr-show-dev-vmbr0.json");
    // The primary address, not the secondary one nor the IPv6 one listed first.
    assert_eq!(
        nfs::interface_network(&json, "vmbr0").unwrap(),
        "10.20.30.0/24".parse::<Network>().unwrap()
    );
    assert!(matches!(
        nfs::interface_network(&json, "vmbr1"),
        Err(nfs::AddressError::NoSuchInterface(_))
    ));
}

#[test]
fn network_errors_say_what_to_do() {
    assert_eq!(
        nfs::default_route_interface("Iface\tDestination\n"),
        Err(RouteError::NoDefaultRoute)
    );
    let lo_only = fixtures::read("proxmox/network/ip-j-addr.json");
    let err = nfs::interface_network(&lo_only, "ifb0").unwrap_err();
    assert!(err.to_string().contains("no global IPv4 address"), "{err}");
    let err = nfs::interface_network("", "eth0").unwrap_err();
    assert!(
        matches!(err, nfs::AddressError::Json { line: 1, .. }),
        "{err}"
    );
}

#[test]
fn sharenfs_for_the_default_layout() {
    let layout = Layout::default_layout();
    let net = nfs::export_network(&layout.nfs, Ok("192.0.2.0/24".parse().unwrap())).unwrap();
    let values = nfs::sharenfs_settings(&layout, &net);
    let expected: Vec<(String, String)> = [
        ("quickOS/shared-prod-data", "async"),
        ("quickOS/shared-prod-data-sync", "sync"),
        ("fastData/shared-test-data", "async"),
        ("fastData/shared-bulk-data", "async"),
    ]
    .iter()
    .map(|(d, mode)| {
        (
            d.to_string(),
            format!("rw=@192.0.2.0/24,no_subtree_check,{mode},root_squash"),
        )
    })
    .collect();
    assert_eq!(values, expected);

    let mut explicit = layout.nfs.clone();
    explicit.network = "10.9.8.7/16".into();
    let net = nfs::export_network(&explicit, Err("not asked".into())).unwrap();
    assert_eq!(net.sharenfs_host(), "@10.9.0.0/16");
    assert!(nfs::export_network(&layout.nfs, Err("no default route".into())).is_err());
}

// ---- wear -------------------------------------------------------------------------------

#[test]
fn reads_smartctl_of_the_qemu_guests_nvme_drive() {
    // Recorded in the guest: smartctl 7.4 -j -a /dev/nvme0 of QEMU's emulated controller.
    let qemu = wear::parse_smartctl(&fixtures::read("wear/qemu-nvme0.json")).unwrap();
    assert_eq!(
        (
            qemu.critical_warning,
            qemu.media_errors,
            qemu.percentage_used
        ),
        (0, 0, 0)
    );
    assert!(qemu.refusals().is_empty());
}

#[test]
fn a_read_only_degraded_drive_is_refused() {
    let drive = wear::parse_smartctl(&fixtures::read(
        "wear/hand-edited-qemu-read-only-degraded.json",
    ))
    .unwrap();
    assert_eq!((drive.critical_warning, drive.media_errors), (0x0c, 4872));
    assert_eq!(
        drive.refusals(),
        [WearRefusal::MediaReadOnly, WearRefusal::ReliabilityDegraded]
    );
}

#[test]
fn no_health_log_is_an_error_that_quotes_smartctl() {
    let err = wear::parse_smartctl(&fixtures::read("wear/hand-built-permission-denied.json"))
        .unwrap_err();
    assert!(matches!(err, WearError::NoHealthLog { .. }));
    let shown = err.to_string();
    assert!(
        shown.contains("Permission denied") && shown.contains("root"),
        "{shown}"
    );
    assert!(matches!(
        wear::parse_smartctl("{\"nvme_smart_health_information_log\": {"),
        Err(WearError::Json { line: 1, .. })
    ));
}

// ---- smartd -----------------------------------------------------------------------------

#[test]
fn smartd_block_goes_into_debians_stock_file_once() {
    let stock = fixtures::read("wear/debian-12-smartd.conf");
    let drives: Vec<String> = [
        "nvme-Samsung_SSD_990_EVO_Plus_2TB_S7U8NJ0X100001",
        "nvme-Samsung_SSD_990_EVO_Plus_2TB_S7U8NJ0X100002",
        "nvme-Samsung_SSD_990_EVO_Plus_4TB_S7U9NJ0X200001",
    ]
    .iter()
    .map(|n| format!("/dev/disk/by-id/{n}"))
    .collect();
    let block = smartd::render_block(&drives, &SmartdPolicy::default()).unwrap();
    let merged = smartd::merge_block(&stock, &block).unwrap();

    let lines: Vec<&str> = merged.lines().collect();
    let begin = lines.iter().position(|l| *l == BEGIN_MARKER).unwrap();
    let end = lines.iter().position(|l| *l == END_MARKER).unwrap();
    let scan = lines
        .iter()
        .position(|l| l.starts_with("DEVICESCAN"))
        .unwrap();
    assert_eq!(end + 1, scan, "the block must come right before DEVICESCAN");
    let entries: Vec<&str> = lines[begin..end]
        .iter()
        .copied()
        .filter(|l| l.starts_with("/dev/"))
        .collect();
    assert_eq!(entries.len(), 3);
    assert_eq!(
        entries[2],
        "/dev/disk/by-id/nvme-Samsung_SSD_990_EVO_Plus_4TB_S7U9NJ0X200001 -d nvme -a -W 0,60,70 -m root"
    );
    // Everything else is Debian's file, untouched.
    let outside: Vec<&str> = lines[..begin]
        .iter()
        .chain(&lines[end + 1..])
        .copied()
        .collect();
    assert_eq!(outside, stock.lines().collect::<Vec<_>>());
    // A rerun changes nothing.
    assert_eq!(smartd::merge_block(&merged, &block).unwrap(), merged);
}
