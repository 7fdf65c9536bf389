//! `phoenix-zfs detect --root HOST --json` and `plan --json` on the fixture hosts under
//! tests/fixtures/hosts: each gives the right roles or the right refusal, with the right exit code.

use crate::fixtures;
use phoenix_zfs::host::inventory::sysfs;
use serde_json::Value;
use std::path::PathBuf;
use std::process::Command;

/// Runs the binary; returns (exit code, parsed JSON stdout).
fn run(args: &[&str]) -> (i32, Value) {
    let out = Command::new(env!("CARGO_BIN_EXE_phoenix-zfs"))
        .args(args)
        .output()
        .expect("phoenix-zfs runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let json = serde_json::from_str(&stdout).unwrap_or_else(|e| {
        panic!(
            "{args:?}: not JSON ({e}): {stdout}\n{}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (out.status.code().expect("exit code"), json)
}

fn detect(host: &str, layout: Option<&str>) -> (i32, Value) {
    let root = fixtures::path("hosts").join(host);
    let mut args = vec!["detect", "--json", "--root", root.to_str().unwrap()];
    let layout_path;
    if let Some(l) = layout {
        layout_path = fixtures::path("layouts").join(l);
        args.extend(["--layout", layout_path.to_str().unwrap()]);
    }
    run(&args)
}

/// pool -> serials of its assigned drives.
/// A JSON array of strings, as strs (the fixture tests compare lists a lot).
fn strings(value: &Value) -> Vec<&str> {
    value
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect()
}

fn roles(json: &Value) -> Vec<(String, Vec<String>)> {
    json["matching"]["assignments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            let serials = a["drives"]
                .as_array()
                .unwrap()
                .iter()
                .map(|d| d["serial"].as_str().unwrap().to_string())
                .collect();
            (a["pool"].as_str().unwrap().to_string(), serials)
        })
        .collect()
}

fn default_roles() -> Vec<(String, Vec<String>)> {
    vec![
        ("quickOS".into(), vec!["S2TA0001".into(), "S2TA0002".into()]),
        ("fastData".into(), vec!["S4TB0001".into()]),
    ]
}

fn problems(json: &Value) -> Vec<String> {
    json["matching"]["problems"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["problem"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn qemu_host_fits_the_default_layout() {
    let (code, json) = detect("qemu-default", None);
    assert_eq!(code, 0, "{json:#}");
    assert_eq!(roles(&json), default_roles());
}

#[test]
fn realistic_host_is_refused_by_model_and_fits_a_layout_naming_its_models() {
    let (code, json) = detect("realistic", None);
    assert_eq!(code, 3);
    assert_eq!(problems(&json), ["missing", "missing"]);
    let (code, json) = detect("realistic", Some("990pro-sn850x.toml"));
    assert_eq!(code, 0, "{json:#}");
    assert_eq!(
        roles(&json),
        vec![
            (
                "quickOS".to_string(),
                vec!["S73WNJ0W612345A".to_string(), "S73WNJ0W612346B".to_string()]
            ),
            ("fastData".to_string(), vec!["23301K800123".to_string()]),
        ]
    );
    // The SATA boot disk and the USB stick are never candidates, and say why.
    let disks = json["inventory"]["disks"].as_array().unwrap();
    let reasons = |name: &str| -> Vec<String> {
        let d = disks.iter().find(|d| d["name"] == name).unwrap();
        d["ineligible"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["reason"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(reasons("sda"), ["not-nvme", "system-disk"]);
    assert_eq!(reasons("sdb"), ["not-nvme", "removable"]);
}

#[test]
fn a_fourth_unrelated_nvme_drive_is_left_alone() {
    let (code, json) = detect("fourth-nvme", None);
    assert_eq!(code, 0, "{json:#}");
    assert_eq!(roles(&json), default_roles());
    let decision = json["matching"]["decisions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["name"] == "nvme3n1")
        .unwrap();
    assert!(
        decision["reason"]
            .as_str()
            .unwrap()
            .starts_with("left alone"),
        "{decision}"
    );
}

#[test]
fn four_kn_namespaces_fit_like_512_byte_ones() {
    let (code, json) = detect("4kn", None);
    assert_eq!(code, 0, "{json:#}");
    assert_eq!(roles(&json), default_roles());
    let lbs: Vec<u64> = json["inventory"]["disks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["logical_block_size"].as_u64().unwrap())
        .collect();
    assert_eq!(lbs, [4096, 4096, 4096]);
}

#[test]
fn a_missing_2tb_drive_is_refused_with_exit_3_naming_the_pool() {
    let (code, json) = detect("missing-2tb", None);
    assert_eq!(code, 3);
    assert_eq!(problems(&json), ["missing"]);
    let problem = &json["matching"]["problems"][0];
    assert_eq!(problem["pool"], "quickOS");
    assert_eq!(problem["needed"], 2);
}

#[test]
fn plan_on_a_blank_host_creates_two_pools_and_eight_datasets_each_in_one_command() {
    let root = fixtures::path("hosts/qemu-default");
    let (code, json) = run(&["plan", "--json", "--root", root.to_str().unwrap()]);
    assert_eq!(code, 0, "{json:#}");
    let actions = json["actions"].as_array().unwrap();
    let kinds: Vec<&str> = actions
        .iter()
        .map(|a| a["action"].as_str().unwrap())
        .collect();
    assert_eq!(kinds.iter().filter(|k| **k == "create-pool").count(), 2);
    assert_eq!(kinds.iter().filter(|k| **k == "create-dataset").count(), 8);
    assert_eq!(kinds.len(), 10);
    let sync = actions
        .iter()
        .find(|a| a["dataset"] == "quickOS/shared-prod-data-sync")
        .unwrap();
    let argv: Vec<&str> = strings(&sync["argv"]);
    assert_eq!(
        argv,
        [
            "zfs",
            "create",
            "-o",
            "compression=lz4",
            "-o",
            "quota=100G",
            "-o",
            "recordsize=16K",
            "-o",
            "sync=always",
            "quickOS/shared-prod-data-sync"
        ]
    );
    let quick = actions.iter().find(|a| a["pool"] == "quickOS").unwrap();
    let argv: Vec<&str> = strings(&quick["argv"]);
    assert!(
        argv.windows(2).any(|w| w == ["-o", "ashift=12"]),
        "{argv:?}"
    );
    assert!(
        argv.windows(2).any(|w| w == ["-o", "autotrim=on"]),
        "{argv:?}"
    );
    assert!(
        argv.ends_with(&[
            "quickOS",
            "mirror",
            "/dev/disk/by-id/nvme-Samsung_SSD_990_EVO_Plus_2TB_S2TA0001_1",
            "/dev/disk/by-id/nvme-Samsung_SSD_990_EVO_Plus_2TB_S2TA0002_1"
        ]),
        "{argv:?}"
    );
    let codes: Vec<&str> = json["warnings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w["code"].as_str().unwrap())
        .collect();
    assert!(
        codes.contains(&"quota-overcommit") && codes.contains(&"recordsize-on-zvols"),
        "{codes:?}"
    );
}

#[test]
fn malformed_layouts_exit_2_naming_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("bad.toml");
    std::fs::write(
        &file,
        "version = 1\n[[pool]]\nname = \"quickOS\"\nvdev = \"raid5\"\ndrives = 2\n",
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_phoenix-zfs"))
        .args(["layout", "check", file.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("bad.toml:4:"), "{stderr}");
    assert!(stderr.contains("raid5"), "{stderr}");
}

#[test]
fn layout_show_prints_a_layout_that_layout_check_accepts() {
    let out = Command::new(env!("CARGO_BIN_EXE_phoenix-zfs"))
        .args(["layout", "show"])
        .output()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("default.toml");
    std::fs::write(&file, &out.stdout).unwrap();
    let check = Command::new(env!("CARGO_BIN_EXE_phoenix-zfs"))
        .args(["layout", "check", file.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(
        check.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&check.stderr)
    );
}

#[test]
fn drives_holding_an_old_pool_or_its_gpt_are_refused_with_exit_5_naming_each() {
    let (code, json) = detect("old-signatures", None);
    assert_eq!(code, 5, "{json:#}");
    let blockers: Vec<&Value> = json["blockers"].as_array().unwrap().iter().collect();
    assert_eq!(blockers.len(), 2);
    assert!(blockers
        .iter()
        .all(|b| b["kind"] == "drive-holds-data" && b["exit_code"] == 5));
    assert_eq!(blockers[0]["serial"], "S2TA0001");
    assert_eq!(blockers[1]["serial"], "S2TA0002");
    // The roles are still known: the refusal is about data, not about fit.
    assert_eq!(roles(&json), default_roles());
}

#[test]
fn wipe_plans_labelclear_and_wipefs_for_the_named_drive_only() {
    let root = fixtures::path("hosts/old-signatures");
    let (code, json) = run(&[
        "plan",
        "--json",
        "--root",
        root.to_str().unwrap(),
        "--wipe",
        "S2TA0002",
    ]);
    assert_eq!(code, 5, "S2TA0001 still holds data: {json:#}");
    let (code, json) = run(&[
        "plan",
        "--json",
        "--root",
        root.to_str().unwrap(),
        "--wipe",
        "S2TA0002",
        "--wipe",
        "S2TA0001",
    ]);
    assert_eq!(code, 0, "{json:#}");
    let argvs: Vec<String> = json["actions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            a["argv"]
                .as_array()
                .unwrap()
                .iter()
                .map(|x| x.as_str().unwrap())
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect();
    // S2TA0001's GPT describes partitions the kernel does not list: no device node addresses
    // them, so the disk's own wipe and the create over them are what erase them.
    assert_eq!(
        argvs[0],
        "wipefs --all /dev/disk/by-id/nvme-Samsung_SSD_990_EVO_Plus_2TB_S2TA0001_1"
    );
    assert_eq!(
        argvs[1],
        "zpool labelclear -f /dev/disk/by-id/nvme-Samsung_SSD_990_EVO_Plus_2TB_S2TA0002_1"
    );
    assert_eq!(
        argvs[2],
        "wipefs --all /dev/disk/by-id/nvme-Samsung_SSD_990_EVO_Plus_2TB_S2TA0002_1"
    );
    assert!(argvs[3].starts_with("zpool create"));
}

#[test]
fn the_recorded_qemu_guest_fits_the_default_roles_by_size_and_serial() {
    // Recorded in the QEMU guest by `phoenix-zfs debug snapshot-host` (qemu-tests/record/host-snapshot.sh):
    // the real 6.12 sysfs (NVMe multipath, minors out of controller order) and systemd 252 udev database.
    let (code, json) = detect("qemu-recorded", Some("any-model.toml"));
    assert_eq!(code, 0, "{json:#}");
    assert_eq!(roles(&json), default_roles());
    let disks = json["inventory"]["disks"].as_array().unwrap();
    let nvme0 = disks.iter().find(|d| d["name"] == "nvme0n1").unwrap();
    assert_eq!(nvme0["model"], "QEMU NVMe Ctrl");
    assert_eq!(nvme0["firmware"], "10.0.2");
    assert_eq!(nvme0["size_bytes"], 2_000_398_934_016u64);
    assert_eq!(
        nvme0["preferred_path"],
        "/dev/disk/by-id/nvme-QEMU_NVMe_Ctrl_S2TA0001_1"
    );
    let vda = disks.iter().find(|d| d["name"] == "vda").unwrap();
    let reasons: Vec<&str> = vda["ineligible"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["reason"].as_str().unwrap())
        .collect();
    assert!(reasons.contains(&"system-disk"), "{reasons:?}");
    // Without a model rule in the guest, the default layout's Samsung models do not match.
    assert_eq!(detect("qemu-recorded", None).0, 3);
}

/// inventory::read and probe_candidates on a fixture host, as JSON (what detect reports).
fn inventory_of(host: &str) -> Value {
    serde_json::to_value(fixtures::host_inventory(host)).unwrap()
}

/// The generator is held to what a real kernel and udev wrote: qemu-twin is synthesized from a
/// spec describing the guest qemu-recorded was recorded in, and both must read the same, field
/// by field, disk by disk.
///
/// The one field that must differ is the inventory's `root`: the directory each was read from.
/// Everything else is compared. What differs in the trees but not in what is read from them:
/// udev's `I:` init times and by-diskseq links, the link order in each udev record, extra
/// properties (ID_FS_VERSION, SYSTEMD_WANTS, UDISKS_AUTO), the empty loop devices (no size, so
/// not listed), the hidden multipath paths (snapshot-host does not copy what inventory skips),
/// the length of dev/NAME (two real MiB against the generator's windows: both blank, and each
/// says which windows its capture did not hold) and the
/// mount table beyond `/`.
#[test]
fn the_recorded_qemu_guest_reads_field_by_field_as_its_synthesized_twin() {
    let recorded = inventory_of("qemu-recorded");
    let twin = inventory_of("qemu-twin");
    let (recorded, twin) = (recorded.as_object().unwrap(), twin.as_object().unwrap());
    let keys = |o: &serde_json::Map<String, Value>| o.keys().cloned().collect::<Vec<_>>();
    assert_eq!(keys(recorded), keys(twin));
    for (field, value) in recorded {
        if field == "root" || field == "disks" {
            continue;
        }
        assert_eq!(value, &twin[field], "inventory field `{field}`");
    }
    let by_name = |o: &serde_json::Map<String, Value>| -> Vec<Value> {
        o["disks"].as_array().unwrap().clone()
    };
    let (recorded_disks, twin_disks) = (by_name(recorded), by_name(twin));
    let names = |disks: &[Value]| -> Vec<String> {
        disks
            .iter()
            .map(|d| d["name"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(names(&recorded_disks), names(&twin_disks));
    assert_eq!(
        names(&recorded_disks),
        ["nvme0n1", "nvme1n1", "nvme2n1", "vda", "vdb", "vdc"]
    );
    for (r, t) in recorded_disks.iter().zip(&twin_disks) {
        let (r, t) = (r.as_object().unwrap(), t.as_object().unwrap());
        assert_eq!(keys(r), keys(t), "{}: fields", r["name"]);
        for (field, value) in r {
            assert_eq!(
                without_not_captured(value),
                without_not_captured(&t[field]),
                "{}: field `{field}`",
                r["name"]
            );
        }
    }
}

/// A probe result without what each capture did not hold: the recording kept two MiB of each
/// drive, the twin's generator every window the probe reads.
fn without_not_captured(value: &Value) -> Value {
    let mut value = value.clone();
    if let Some(object) = value.as_object_mut() {
        object.remove("not_captured");
        for (_, inner) in object.iter_mut() {
            *inner = without_not_captured(inner);
        }
    } else if let Some(array) = value.as_array_mut() {
        for inner in array.iter_mut() {
            *inner = without_not_captured(inner);
        }
    }
    value
}

/// Every sysfs file and link snapshot-host kept of the recorded guest is in its twin, byte for
/// byte: the padding of NVMe strings, block sizes, wwids, link targets. The inventory trims
/// what it reads, so only this sees a generator that pads or names differently from the
/// kernel. The loop devices (empty, never listed) are left out of the twin's spec; the twin's
/// extras are the hidden multipath paths, which snapshot-host does not copy.
#[test]
fn the_synthesized_twin_has_the_recorded_guests_sysfs_byte_for_byte() {
    fn walk(root: &std::path::Path, dir: &std::path::Path, into: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(dir).unwrap().flatten() {
            let kind = entry.file_type().unwrap();
            if kind.is_dir() {
                walk(root, &entry.path(), into);
            } else {
                into.push(entry.path().strip_prefix(root).unwrap().to_path_buf());
            }
        }
    }
    let (recorded, twin) = (
        fixtures::path("hosts/qemu-recorded"),
        fixtures::path("hosts/qemu-twin"),
    );
    let mut paths = Vec::new();
    walk(&recorded, &recorded.join("sys"), &mut paths);
    paths.retain(|p| !p.to_string_lossy().contains("loop"));
    assert!(paths.len() > 50, "{paths:?}");
    for path in &paths {
        let (r, t) = (recorded.join(path), twin.join(path));
        match std::fs::read_link(&r) {
            Ok(target) => assert_eq!(
                std::fs::read_link(&t).ok(),
                Some(target),
                "{}",
                path.display()
            ),
            // As text, so that a failure shows the padding that differs.
            Err(_) => assert_eq!(
                std::fs::read(&t)
                    .map(|b| String::from_utf8_lossy(&b).into_owned())
                    .ok(),
                Some(String::from_utf8_lossy(&std::fs::read(&r).unwrap()).into_owned()),
                "{}",
                path.display()
            ),
        }
    }
}

/// With nvme_core.multipath=N the namespace sits directly under its controller
/// (/sys/block/nvme0n1 -> ../devices/pci.../nvme/nvme0/nvme0n1) and no nvme-subsystem path
/// leads to it: sysfs.rs must then read the identity from the controller itself.
#[test]
fn namespaces_without_multipath_are_read_from_their_controller() {
    let root = fixtures::path("hosts/no-multipath");
    let (entries, _) = sysfs::scan(&root.join("sys"));
    let names: Vec<&str> = entries.iter().map(|e| e.name.as_str()).collect();
    assert_eq!(names, ["nvme0n1", "nvme1n1", "nvme2n1", "sda"]);
    let expected = [
        (
            "nvme0n1",
            "0000:02:00.0/nvme/nvme0",
            "nvme0",
            "Samsung SSD 990 PRO 2TB",
            "S73WNJ0W612345A",
            "4B2QJXD7",
            "eui.002538b131a12345",
        ),
        (
            "nvme1n1",
            "0000:03:00.0/nvme/nvme1",
            "nvme1",
            "Samsung SSD 990 PRO 2TB",
            "S73WNJ0W612346B",
            "4B2QJXD7",
            "eui.002538b131a12346",
        ),
        (
            "nvme2n1",
            "0000:01:00.0/nvme/nvme2",
            "nvme2",
            "WD_BLACK SN850X 4000GB",
            "23301K800123",
            "620361WD",
            "eui.e8238fa6bf530001001b448b4a123456",
        ),
    ];
    let inventory = inventory_of("no-multipath");
    let disks = inventory["disks"].as_array().unwrap();
    for (name, under, controller, model, serial, firmware, wwid) in expected {
        let entry = entries.iter().find(|e| e.name == name).unwrap();
        // The branch in question: the namespace's parent is the controller.
        let parent = entry.sys_path.parent().unwrap();
        assert!(
            parent.ends_with(under),
            "{name}: {}",
            entry.sys_path.display()
        );
        assert!(!entry.sys_path.to_string_lossy().contains("nvme-subsystem"));
        let nvme = entry.nvme.as_ref().unwrap();
        assert_eq!(nvme.model.as_deref(), Some(model), "{name}");
        assert_eq!(nvme.serial.as_deref(), Some(serial), "{name}");
        assert_eq!(nvme.firmware_rev.as_deref(), Some(firmware), "{name}");
        assert_eq!(nvme.wwid.as_deref(), Some(wwid), "{name}");
        assert_eq!(nvme.nsid, Some(1), "{name}");
        assert_eq!(nvme.controller.as_deref(), Some(controller), "{name}");
        assert_eq!(
            nvme.pci_address.as_deref(),
            Some(&under[..12]),
            "{name}: pci address"
        );
        // What the inventory makes of it, udev's view and sysfs's agreeing.
        let disk = disks.iter().find(|d| d["name"] == name).unwrap();
        assert_eq!(disk["model"], model, "{name}");
        assert_eq!(disk["serial"], serial, "{name}");
        assert_eq!(disk["firmware"], firmware, "{name}");
        assert_eq!(disk["wwn"], wwid, "{name}");
        assert_eq!(disk["nvme_controller"], controller, "{name}");
        assert!(disk["ineligible"].as_array().unwrap().is_empty(), "{disk}");
    }
    let nguid = entries[2].nvme.as_ref().unwrap().nguid.clone();
    assert_eq!(
        nguid.as_deref(),
        Some("e8238fa6-bf53-0001-001b-448b4a123456")
    );
    let eui = entries[0].nvme.as_ref().unwrap().eui.clone();
    assert_eq!(eui.as_deref(), Some("00 25 38 b1 31 a1 23 45"));
    // And the host fits a layout naming its models, as the multipath one does.
    let (code, json) = {
        let root = root.to_str().unwrap();
        let layout = fixtures::path("layouts/990pro-sn850x.toml");
        run(&[
            "detect",
            "--json",
            "--root",
            root,
            "--layout",
            layout.to_str().unwrap(),
        ])
    };
    assert_eq!(code, 0, "{json:#}");
}

#[test]
fn a_target_root_that_is_not_an_installed_root_is_a_usage_error_that_says_what_to_mount() {
    let dir = tempfile::tempdir().unwrap();
    let run = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_phoenix-zfs"))
            .args(args)
            .output()
            .unwrap()
    };
    let empty = dir.path().to_str().unwrap();
    let out = run(&["plan", "--target-root", empty]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!("--target-root {empty}: has no etc/")),
        "{stderr}"
    );
    let out = run(&["apply", "--yes", "--keep-imported"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--target-root"));
    let out = run(&["plan", "--target-root", "/"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("leave out --target-root"));
}

/// Each drive's ineligible reasons in `json` (detect's), by serial.
fn reasons_by_serial(json: &Value) -> Vec<(String, Vec<Value>)> {
    json["inventory"]["disks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["transport"] == "nvme")
        .map(|d| {
            (
                d["serial"].as_str().unwrap().to_string(),
                d["ineligible"].as_array().unwrap().clone(),
            )
        })
        .collect()
}

/// `plan --json --root HOST` with `--wipe` for each of `serials`.
fn plan_with_wipe(host: &str, serials: &[&str]) -> (i32, Value) {
    let root = fixtures::path("hosts").join(host);
    let mut args = vec!["plan", "--json", "--root", root.to_str().unwrap()];
    for s in serials {
        args.extend(["--wipe", s]);
    }
    run(&args)
}

/// A drive in use is refused with exit 3 (the hardware does not fit), `--wipe` of every serial
/// or not, and no action names it; the refusal says what holds each drive and how to release it.
fn refused_whatever_wipe_says(host: &str, serials: &[&str], said: &[&str]) {
    for wipe in [&[][..], serials] {
        let (code, json) = plan_with_wipe(host, wipe);
        assert_eq!(code, 3, "--wipe {wipe:?}: {json:#}");
        let actions = json["actions"].as_array().unwrap();
        for serial in serials {
            assert!(
                !actions
                    .iter()
                    .any(|a| a["argv"].to_string().contains(serial)),
                "an action names {serial}: {actions:#?}"
            );
        }
        let message = json["blockers"][0]["message"].as_str().unwrap();
        assert!(
            message.starts_with("pool `quickOS` needs 2 drive(s)"),
            "{message}"
        );
        for text in said {
            assert!(message.contains(text), "`{text}` not in: {message}");
        }
    }
}

#[test]
fn drives_held_by_lvm_luks_md_bcache_and_device_mapper_say_by_what_and_how_to_release_them() {
    let (code, json) = detect("in-use-holders", None);
    assert_eq!(code, 3, "{json:#}");
    let reasons = reasons_by_serial(&json);
    let holders: Vec<(&str, Vec<(&str, &str)>)> = reasons
        .iter()
        .map(|(serial, reasons)| {
            let said = reasons
                .iter()
                .map(|r| {
                    assert_eq!(r["reason"], "in-use", "{r}");
                    (
                        r["holder"]["kind"].as_str().unwrap(),
                        r["held"][0].as_str().unwrap(),
                    )
                })
                .collect();
            (serial.as_str(), said)
        })
        .collect();
    assert_eq!(
        holders,
        [
            // The LV is the top of LV-on-LUKS-on-partition: it goes first.
            ("S2TA0001", vec![("logical-volumes", "nvme0n1p1")]),
            ("S2TA0002", vec![("logical-volumes", "nvme1n1")]),
            ("S2TA0003", vec![("md-array", "nvme2n1p1")]),
            ("S2TA0004", vec![("bcache-backing", "nvme3n1")]),
            (
                "S2TA0005",
                vec![
                    ("device-mapper", "nvme4n1p2"),
                    ("bcache-cache", "nvme4n1p1")
                ]
            ),
            ("S4TB0001", vec![]),
        ]
    );
    let remedy = |serial: &str, index: usize| -> Vec<&str> {
        let r = &reasons.iter().find(|(s, _)| s == serial).unwrap().1[index];
        strings(&r["remedy"]["argv"])
    };
    assert_eq!(remedy("S2TA0001", 0), ["lvchange", "-an", "data/backups"]);
    assert_eq!(remedy("S2TA0002", 0), ["vgchange", "-an", "oldvg"]);
    assert_eq!(remedy("S2TA0003", 0), ["mdadm", "--stop", "/dev/md/data"]);
    assert_eq!(
        remedy("S2TA0004", 0),
        ["tee", "/sys/block/bcache0/bcache/stop"]
    );
    assert_eq!(remedy("S2TA0005", 0), ["dmsetup", "remove", "scratch"]);
    refused_whatever_wipe_says(
        "in-use-holders",
        &["S2TA0001", "S2TA0002", "S2TA0003", "S2TA0004", "S2TA0005"],
        &[
            "LV data/backups (dm-1) holds nvme0n1p1; deactivate it: `lvchange -an data/backups`",
            "LVs oldvg/root, oldvg/vm-100-disk-0 (dm-2, dm-3) hold nvme1n1; deactivate them: `vgchange -an oldvg`",
            "md array /dev/md/data (md127) holds nvme2n1p1; stop it: `mdadm --stop /dev/md/data`",
            "bcache0 runs on nvme3n1, its backing device; stop bcache0: `echo 1 | tee /sys/block/bcache0/bcache/stop`",
            "/dev/mapper/scratch (dm-4) holds nvme4n1p2; remove it: `dmsetup remove scratch`",
            "nvme4n1p1 is a cache device of bcache cache set 6f0c8e2b-7d1c-4a0e-9a57-2c1b1f1d9e3a; unregister the cache set: `echo 1 | tee /sys/fs/bcache/6f0c8e2b-7d1c-4a0e-9a57-2c1b1f1d9e3a/unregister`",
        ],
    );
}

#[test]
fn a_loop_device_and_a_mount_only_another_namespace_has_hold_their_drives() {
    let (code, json) = detect("in-use-loop-namespace", None);
    assert_eq!(code, 3, "{json:#}");
    let reasons = reasons_by_serial(&json);
    let kinds: Vec<(&str, Vec<&str>)> = reasons
        .iter()
        .map(|(serial, reasons)| {
            (
                serial.as_str(),
                reasons
                    .iter()
                    .map(|r| r["reason"].as_str().unwrap())
                    .collect(),
            )
        })
        .collect();
    assert_eq!(
        kinds,
        [
            // The loop device's mount first, then the loop device.
            ("S2TA0001", vec!["mounted", "in-use"]),
            ("S2TA0002", vec!["mounted-in-namespace"]),
            ("S4TB0001", vec![]),
        ]
    );
    let s1 = &reasons[0].1;
    assert_eq!(s1[0]["mountpoint"], "/mnt/old image");
    assert_eq!(s1[1]["holder"]["backing_file"], "/dev/nvme0n1p1");
    assert_eq!(
        strings(&s1[1]["remedy"]["argv"]),
        ["losetup", "-d", "/dev/loop0"]
    );
    let s2 = &reasons[1].1[0];
    assert_eq!(
        (s2["pid"].as_u64(), s2["comm"].as_str()),
        (Some(1234), Some("nginx"))
    );
    // The loop device over a regular file holds no drive: its file's mount would.
    for (serial, reasons) in &reasons {
        let said = Value::Array(reasons.clone()).to_string();
        assert!(!said.contains("loop1"), "{serial}: {said}");
    }
    refused_whatever_wipe_says(
        "in-use-loop-namespace",
        &["S2TA0001", "S2TA0002"],
        &[
            "/mnt/old image is mounted from /dev/loop0; unmount it: `umount '/mnt/old image'`",
            "loop0 (backed by /dev/nvme0n1p1) reads nvme0n1p1; detach it: `losetup -d /dev/loop0`",
            "/dev/nvme1n1p1 is mounted at /srv in another mount namespace (pid 1234, comm nginx); unmount it: `nsenter -t 1234 -m umount /srv`",
        ],
    );
}
