//! `phoenix-zfs detect --root HOST --json` and `plan --json` on the fixture hosts under
//! tests/fixtures/hosts: each gives the right roles or the right refusal, with the right exit code.

use serde_json::Value;
use std::path::PathBuf;
use std::process::Command;

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

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
    let root = fixtures().join("hosts").join(host);
    let mut args = vec!["detect", "--json", "--root", root.to_str().unwrap()];
    let layout_path;
    if let Some(l) = layout {
        layout_path = fixtures().join("layouts").join(l);
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
        .find(|d| d["drive"].as_str().unwrap().starts_with("nvme3n1"))
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
    let root = fixtures().join("hosts/qemu-default");
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
    assert!(blockers.iter().all(|b| b["blocker"] == "drive-holds-data"));
    assert_eq!(blockers[0]["serial"], "S2TA0001");
    assert_eq!(blockers[1]["serial"], "S2TA0002");
    // The roles are still known: the refusal is about data, not about fit.
    assert_eq!(roles(&json), default_roles());
}

#[test]
fn wipe_plans_labelclear_and_wipefs_for_the_named_drive_only() {
    let root = fixtures().join("hosts/old-signatures");
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
    assert_eq!(
        argvs[0],
        "zpool labelclear -f /dev/disk/by-id/nvme-Samsung_SSD_990_EVO_Plus_2TB_S2TA0001_1-part1"
    );
    assert_eq!(
        argvs[1],
        "wipefs --all /dev/disk/by-id/nvme-Samsung_SSD_990_EVO_Plus_2TB_S2TA0001_1"
    );
    assert_eq!(
        argvs[2],
        "zpool labelclear -f /dev/disk/by-id/nvme-Samsung_SSD_990_EVO_Plus_2TB_S2TA0002_1"
    );
    assert_eq!(
        argvs[3],
        "wipefs --all /dev/disk/by-id/nvme-Samsung_SSD_990_EVO_Plus_2TB_S2TA0002_1"
    );
    assert!(argvs[4].starts_with("zpool create"));
}

#[test]
fn the_recorded_qemu_guest_reads_as_its_synthesized_twin_does() {
    // Recorded in the QEMU guest by `phoenix-zfs debug snapshot-host` (qemu-tests/record/host-snapshot.sh):
    // the real 6.12 sysfs (NVMe multipath, controllers out of PCI order) and systemd 252 udev database.
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
