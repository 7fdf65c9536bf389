//! What detect, plan and verify print over the recorded hosts: the JSON each gives is held to its
//! schema (schema/NAME.schema.json, with python3-jsonschema as the manifest's is) with the exit
//! code the process ends with, and the text tells the same story: plan says first what apply
//! would do, verify ends with the one verdict its exit code means, detect shows its drives in a
//! table with what its JSON knows of them.

use crate::fixtures;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Runs the binary; returns its exit code and stdout.
fn run(args: &[&str]) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_phoenix-zfs"))
        .args(args)
        .output()
        .expect("phoenix-zfs runs");
    (
        out.status.code().expect("exit code"),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

/// Every fixture host: the directories under tests/fixtures/hosts.
fn recorded_hosts() -> Vec<PathBuf> {
    let mut hosts: Vec<PathBuf> = std::fs::read_dir(fixtures::path("hosts"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.is_dir())
        .collect();
    hosts.sort();
    assert!(hosts.len() >= 10, "{hosts:?}");
    hosts
}

/// The blank QEMU host with the zpool/zfs transcripts of a recorded apply run as its
/// zfs-commands/: what `--root` reads of a host that has pools.
fn host_with_pools(scratch: &Path, case: &str) -> PathBuf {
    let root = scratch.join(case);
    let status = Command::new("cp")
        .arg("-a")
        .arg(fixtures::path("hosts/qemu-default"))
        .arg(&root)
        .status()
        .unwrap();
    assert!(status.success());
    let commands = root.join("zfs-commands");
    std::fs::create_dir(&commands).unwrap();
    for entry in std::fs::read_dir(fixtures::path("replay").join(case)).unwrap() {
        let path = entry.unwrap().path();
        if path.file_name().unwrap() != "case.toml" {
            std::fs::copy(&path, commands.join(path.file_name().unwrap())).unwrap();
        }
    }
    root
}

/// Validates each (schema name, JSON file) with python3-jsonschema; Err with what failed.
fn validate(documents: &[(&str, PathBuf)]) -> Result<(), String> {
    let script = "import json,sys,jsonschema\n\
                  args=sys.argv[1:]\n\
                  bad=[]\n\
                  for name,path in zip(args[1::2],args[2::2]):\n\
                  \x20 schema=json.load(open(args[0]+'/'+name+'.schema.json'))\n\
                  \x20 jsonschema.Draft202012Validator.check_schema(schema)\n\
                  \x20 for e in jsonschema.Draft202012Validator(schema).iter_errors(json.load(open(path))):\n\
                  \x20   bad.append(path+': '+'/'.join(map(str,e.absolute_path))+': '+e.message[:300])\n\
                  print('\\n'.join(bad))\n\
                  sys.exit(1 if bad else 0)\n";
    let mut command = Command::new("python3");
    command
        .args(["-c", script])
        .arg(fixtures::repo().join("schema"));
    for (name, path) in documents {
        command.arg(name).arg(path);
    }
    let out = command.output().expect("python3 runs");
    match out.status.success() {
        true => Ok(()),
        false => Err(format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )),
    }
}

#[test]
fn every_json_output_on_every_recorded_host_follows_its_schema_with_the_real_exit_code() {
    let scratch = tempfile::tempdir().unwrap();
    let mut roots = recorded_hosts();
    roots.push(host_with_pools(scratch.path(), "converged-rerun"));
    roots.push(host_with_pools(scratch.path(), "drift-restored"));
    let old = fixtures::path("hosts/old-signatures");
    let old = old.to_str().unwrap();
    let mut runs: Vec<Vec<String>> = Vec::new();
    for root in &roots {
        for command in ["detect", "plan", "verify"] {
            runs.push(vec![
                command.into(),
                "--json".into(),
                "--root".into(),
                root.display().to_string(),
            ]);
        }
    }
    // Wipes in the plan, and a plan that is still refused for the drive not named.
    runs.push(
        [
            "plan", "--json", "--root", old, "--wipe", "S2TA0001", "--wipe", "S2TA0002",
        ]
        .map(String::from)
        .to_vec(),
    );
    runs.push(
        ["plan", "--json", "--root", old, "--wipe", "S2TA0002"]
            .map(String::from)
            .to_vec(),
    );
    let mut documents = Vec::new();
    let mut exits = Vec::new();
    for (i, args) in runs.iter().enumerate() {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let (code, stdout) = run(&args);
        let json: Value = serde_json::from_str(&stdout)
            .unwrap_or_else(|e| panic!("{args:?}: not JSON ({e}): {stdout}"));
        assert_eq!(json["exit_code"], code, "{args:?}: {json:#}");
        assert_eq!(
            json["schema"],
            format!("phoenix-zfs/{}/1", args[0]),
            "{args:?}"
        );
        exits.push(code);
        let file = scratch.path().join(format!("{i}-{}.json", args[0]));
        std::fs::write(&file, &stdout).unwrap();
        documents.push((args[0], file));
    }
    // The hosts cover every exit but the firmware's: fits, differs, in sync, missing drive,
    // drive holding data.
    for code in [0, 3, 5, 7] {
        assert!(exits.contains(&code), "no output exits {code}: {exits:?}");
    }
    validate(&documents).unwrap();

    // The validator is no rubber stamp: a verify that says 0 beside a difference, a blocker of
    // another shape and a detect without its schema each fail.
    let drift = documents
        .iter()
        .find(|(name, file)| {
            *name == "verify"
                && std::fs::read_to_string(file)
                    .unwrap()
                    .contains("\"differences\": [\n    {")
        })
        .expect("a verify with differences");
    let mut broken: Value =
        serde_json::from_str(&std::fs::read_to_string(&drift.1).unwrap()).unwrap();
    broken["exit_code"] = 0.into();
    let verify_file = scratch.path().join("broken-verify.json");
    std::fs::write(&verify_file, broken.to_string()).unwrap();
    assert!(validate(&[("verify", verify_file)]).is_err());
    let (_, stdout) = run(&["detect", "--json", "--root", old]);
    let mut broken: Value = serde_json::from_str(&stdout).unwrap();
    broken["blockers"][0]["blocker"] = "drive-holds-data".into();
    let blocker_file = scratch.path().join("broken-blocker.json");
    std::fs::write(&blocker_file, broken.to_string()).unwrap();
    assert!(validate(&[("detect", blocker_file)]).is_err());
    broken.as_object_mut().unwrap().remove("schema");
    let schema_file = scratch.path().join("broken-schema.json");
    std::fs::write(&schema_file, broken.to_string()).unwrap();
    assert!(validate(&[("detect", schema_file)]).is_err());
}

#[test]
fn detect_json_has_typed_drives_one_shape_of_blocker_and_blkids_words() {
    let old = fixtures::path("hosts/old-signatures");
    let (code, stdout) = run(&["detect", "--json", "--root", old.to_str().unwrap()]);
    assert_eq!(code, 5);
    let json: Value = serde_json::from_str(&stdout).unwrap();
    let decision = &json["matching"]["decisions"][0];
    assert_eq!(decision["name"], "nvme0n1", "{decision}");
    // The verdict beside the drive's name, not under a `verdict` of its own.
    assert_eq!(
        json["firmware"][0],
        serde_json::json!({"name": "nvme0n1", "verdict": "not-in-policy"})
    );
    let blocker = &json["blockers"][1];
    assert_eq!(
        (
            &blocker["kind"],
            &blocker["drive"],
            &blocker["serial"],
            &blocker["exit_code"]
        ),
        (
            &"drive-holds-data".into(),
            &"nvme1n1".into(),
            &"S2TA0002".into(),
            &5.into()
        ),
    );
    let kinds: Vec<Value> = json["inventory"]["disks"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|d| {
            d["probe"]["signatures"]
                .as_array()
                .cloned()
                .unwrap_or_default()
        })
        .map(|s| s["kind"].clone())
        .collect();
    assert_eq!(
        kinds,
        [
            "PMBR",
            "gpt",
            "gpt",
            "zfs_member",
            "zfs_member",
            "zfs_member",
            "zfs_member"
        ]
    );
    // And the text says each the same way.
    let (_, text) = run(&["detect", "--root", old.to_str().unwrap()]);
    for kind in [
        "PMBR at byte 510",
        "gpt at byte 512",
        "gpt at the end",
        "zfs_member `phxztest` at byte 0",
    ] {
        assert!(text.contains(kind), "{kind} not in:\n{text}");
    }
    assert!(
        !text.contains("zfs-label") && !text.contains("protective-mbr"),
        "{text}"
    );
}

#[test]
fn detect_shows_a_table_with_a_header_partitions_and_no_byte_numbers_of_the_end() {
    let root = fixtures::path("hosts/qemu-exported");
    let (code, text) = run(&["detect", "--root", root.to_str().unwrap()]);
    assert_eq!(code, 5, "{text}");
    let table: Vec<&str> = text.lines().skip(3).take(4).collect();
    assert_eq!(
        table,
        [
            "DEVICE    MODEL                          SERIAL                SIZE  FIRMWARE   CONTENTS    ROLE",
            "nvme0n1   Samsung SSD 990 EVO Plus 2TB   S2TA0001           2.00 TB  10.0.2     holds data  quickOS",
            "nvme1n1   Samsung SSD 990 EVO Plus 2TB   S2TA0002           2.00 TB  10.0.2     holds data  quickOS",
            "nvme2n1   Samsung SSD 990 EVO Plus 4TB   S4TB0001           4.00 TB  10.0.2     holds data  fastData",
        ],
        "{text}"
    );
    for said in [
        "nvme0n1: /dev/disk/by-id/nvme-Samsung_SSD_990_EVO_Plus_2TB_S2TA0001_1, class 2TB, 512-byte blocks",
        "  matching   fits pool `quickOS` (class 2TB, model Samsung SSD 990 EVO Plus 2TB)",
        "  firmware   10.0.2: not-in-policy: no rule covers the model",
        // The partition `plan --wipe` would wipe, and the one only the tables know.
        "  partition  nvme0n1p1: number 1, 2.00 TB, listed by kernel, gpt, gpt-backup",
        "  partition  nvme0n1 partition 9: number 9, 8.39 MB, listed by gpt, gpt-backup",
        "  probe      nvme0n1: gpt at the end: backup copy of the primary header, same partitions",
        "  udev       nvme0n1p1: zfs_member `quickOS`",
    ] {
        assert!(text.contains(&format!("{said}\n")), "`{said}` not in:\n{text}");
    }
    // A thirteen-digit byte number only where it says where unrecognised data is.
    for line in text.lines() {
        let long = line
            .split(|c: char| !c.is_ascii_digit())
            .any(|n| n.len() >= 13);
        assert!(
            !long || line.contains("unrecognised data at byte"),
            "{line}"
        );
    }
    // A ZFS label's pool state and last host, as the probe read them.
    let old = fixtures::path("hosts/old-signatures");
    let (_, text) = run(&["detect", "--root", old.to_str().unwrap()]);
    assert!(
        text.contains("zfs_member `phxztest` at byte 0: ZFS label L0; ZFS pool phxztest guid 18206229406921710657 state ACTIVE txg 4 vdev guid 17891344244398471743 last host vm"),
        "{text}"
    );
}

#[test]
fn plan_says_first_what_apply_would_do_and_marks_what_erases() {
    let old = fixtures::path("hosts/old-signatures");
    let old = old.to_str().unwrap();
    let (code, text) = run(&[
        "plan", "--root", old, "--wipe", "S2TA0001", "--wipe", "S2TA0002",
    ]);
    assert_eq!(code, 0, "{text}");
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines[1],
        "apply would: create 2 pools and 8 datasets; wipe 2 drives (S2TA0001, S2TA0002)"
    );
    let steps: Vec<&str> = lines.iter().filter(|l| l.contains(". ")).copied().collect();
    let marked: Vec<bool> = steps
        .iter()
        .map(|l| l.contains("[destroys data]"))
        .collect();
    let erasing: Vec<bool> = steps
        .iter()
        .map(|l| {
            l.contains(". [destroys data] wipe ")
                || l.contains(". [destroys data] clear the ZFS labels")
        })
        .collect();
    assert_eq!(marked, erasing, "{text}");
    assert_eq!(marked.iter().filter(|m| **m).count(), 3, "{text}");

    // Refused: it says so first, with the refusal, before the list of what would follow.
    let (code, text) = run(&[
        "plan",
        "--root",
        fixtures::path("hosts/missing-2tb").to_str().unwrap(),
    ]);
    assert_eq!(code, 3);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[1], "apply would change nothing: refused (exit 3)");
    assert!(
        lines[2].starts_with("refused: pool `quickOS` needs 2 drive(s)"),
        "{text}"
    );
    assert_eq!(
        lines[3],
        "once that is resolved, apply would: create 1 pool and 4 datasets"
    );
    assert!(lines[4].starts_with("  1. create pool fastData"), "{text}");

    let blank = fixtures::path("hosts/qemu-default");
    let (code, text) = run(&["plan", "--root", blank.to_str().unwrap()]);
    assert_eq!(code, 0);
    assert_eq!(
        text.lines().nth(1),
        Some("apply would: create 2 pools and 8 datasets")
    );
    assert!(!text.contains("[destroys data]"), "{text}");
    // A host read without its services defers nothing: it says once that they are not seen.
    assert!(!text.contains("deferred"), "{text}");
}

#[test]
fn apply_asks_naming_the_drives_it_erases() {
    let layout = phoenix_zfs::layout::Layout::default_layout();
    let blank = fixtures::assess_without_zfs("qemu-default", &layout);
    assert_eq!(
        blank.plan.confirmation(),
        "Apply these 10 action(s)? No drive is wiped."
    );
    let wipe = phoenix_zfs::plan::Consent {
        wipe: vec!["S2TA0001".into(), "S2TA0002".into()],
        force_import: false,
    };
    let old = phoenix_zfs::assess::assess(
        &fixtures::host_root("old-signatures"),
        &phoenix_zfs::host::target::Target::RunningSystem,
        &layout,
        phoenix_zfs::assess::ZfsSource::Absent,
        &wipe,
        &[],
        None,
    )
    .unwrap();
    assert_eq!(
        old.plan.confirmation(),
        "Apply these 13 action(s), ERASING everything on S2TA0001, S2TA0002?"
    );
}

#[test]
fn verify_ends_with_the_one_verdict_its_exit_code_means() {
    let scratch = tempfile::tempdir().unwrap();
    let drift = host_with_pools(scratch.path(), "drift-restored");
    let (code, text) = run(&["verify", "--root", drift.to_str().unwrap()]);
    assert_eq!(code, 7);
    assert_eq!(
        text,
        "note: NFS exports, Proxmox storages and smartd are not observed on a host read with --root: nothing is said of them\n\
         differs: dataset quickOS/shared-prod-data-sync: recordsize is 1M, the layout says 16K\n\
         differs: dataset fastData/shared-iso does not exist\n\
         result: 2 differences from the layout (exit 7); apply makes the host match\n"
    );
    let (_, json) = run(&["verify", "--json", "--root", drift.to_str().unwrap()]);
    let json: Value = serde_json::from_str(&json).unwrap();
    assert_eq!(
        json["differences"],
        serde_json::json!([
            {"kind": "dataset", "object": "quickOS/shared-prod-data-sync", "property": "recordsize", "found": "1M", "wanted": "16K"},
            {"kind": "dataset", "object": "fastData/shared-iso", "property": null, "found": null, "wanted": null},
        ])
    );
    // Converged: in sync, and nothing listed as deferred that nothing defers.
    let converged = host_with_pools(scratch.path(), "converged-rerun");
    let (code, text) = run(&["verify", "--root", converged.to_str().unwrap()]);
    assert_eq!(code, 0);
    assert_eq!(
        text,
        "note: NFS exports, Proxmox storages and smartd are not observed on a host read with --root: nothing is said of them\n\
         in sync: the host matches the layout\n"
    );
    // On every recorded host, the last line is the verdict of the exit code, and only it.
    for root in recorded_hosts() {
        let (code, text) = run(&["verify", "--root", root.to_str().unwrap()]);
        let last = text.lines().last().unwrap_or_default();
        let expected = match code {
            0 => "in sync: ".to_string(),
            7 => "result: ".to_string(),
            refused => format!("result: refused (exit {refused})"),
        };
        assert!(last.starts_with(&expected), "{}: {last}", root.display());
        let verdicts = text
            .lines()
            .filter(|l| l.starts_with("result: ") || l.starts_with("in sync"))
            .count();
        assert_eq!(verdicts, 1, "{}:\n{text}", root.display());
    }
}
