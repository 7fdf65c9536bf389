//! `plan --out FILE` and `apply --plan FILE` on the command line, on a copy of the qemu-default
//! fixture host answered by the QEMU guest's recorded first apply (tests/fixtures/replay/): a
//! kept plan runs on the host it was made from, and on a changed host is refused with exit 7,
//! naming the change, and writes nothing.

use crate::apply_replay::with_guest_network;
use crate::fixtures;
use phoenix_zfs::runner::is_mutating;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// A copy of qemu-default under `scratch` with the recorded first apply's transcripts in its
/// zfs-commands/: all of them, or only those that change nothing (then any change apply tried
/// would fail as not recorded, exit 6).
fn host(scratch: &Path, changes_too: bool) -> PathBuf {
    let root = with_guest_network(&fixtures::path("hosts/qemu-default"), scratch).unwrap();
    let recorded = fixtures::path("replay/blank-host-first-apply");
    let commands = root.join("zfs-commands");
    std::fs::create_dir_all(&commands).unwrap();
    for entry in std::fs::read_dir(&recorded).unwrap().flatten() {
        let path = entry.path();
        if path.extension().is_none_or(|e| e != "argv") {
            continue;
        }
        let argv: Vec<String> = std::fs::read_to_string(&path)
            .unwrap()
            .lines()
            .map(String::from)
            .collect();
        if is_mutating(&argv) && !changes_too {
            continue;
        }
        for ext in ["argv", "stdout", "stderr", "status"] {
            let file = path.with_extension(ext);
            std::fs::copy(&file, commands.join(file.file_name().unwrap())).unwrap();
        }
    }
    root
}

fn phoenix_zfs(root: &Path, args: &[&str]) -> (i32, String) {
    let out: Output = Command::new(env!("CARGO_BIN_EXE_phoenix-zfs"))
        .arg("--root")
        .arg(root)
        .args(args)
        .output()
        .expect("phoenix-zfs runs");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let said = format!(
        "{stdout}\n--- stderr:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code().expect("exit code"), said)
}

/// `apply --plan FILE` with the manifest and host key under `scratch`.
fn apply_kept(root: &Path, scratch: &Path, file: &str) -> (i32, String, PathBuf) {
    let key = fixtures::ssh_keygen_ed25519(&scratch.join("host_key"), "root@kept");
    let manifest = scratch.join("manifest.json");
    let (code, said) = phoenix_zfs(
        root,
        &[
            "apply",
            "--plan",
            file,
            "--manifest",
            manifest.to_str().unwrap(),
            "--host-key",
            key.to_str().unwrap(),
        ],
    );
    (code, said, manifest)
}

#[test]
fn a_kept_plan_runs_on_the_host_it_was_made_from() {
    let scratch = tempfile::tempdir().unwrap();
    let root = host(scratch.path(), true);
    let file = scratch.path().join("plan.json");
    let file = file.to_str().unwrap();
    let (code, said) = phoenix_zfs(&root, &["plan", "--json", "--out", file]);
    assert_eq!(code, 0, "{said}");
    assert!(
        said.contains(&format!("plan kept in {file}: `phoenix-zfs --root ")),
        "{said}"
    );
    let (json, _) = said.split_once("\n--- stderr:").unwrap();
    let shown: serde_json::Value = serde_json::from_str(json).unwrap();
    let kept: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(file).unwrap()).unwrap();
    assert_eq!(kept["schema"], "phoenix-zfs-plan/1");
    assert_eq!(kept["actions"], shown["actions"]);
    assert_eq!(kept["afterwards"], shown["afterwards"]);
    let creates = kept["actions"].as_array().unwrap().iter();
    let creates = creates.filter(|a| a["action"] == "create-pool").count();
    assert_eq!(creates, 2, "{kept:#}");

    let (code, said, manifest) = apply_kept(&root, scratch.path(), file);
    assert_eq!(code, 0, "{said}");
    assert!(said.contains("done: "), "{said}");
    assert!(manifest.is_file(), "{said}");
}

#[test]
fn a_kept_plan_on_a_changed_host_is_refused_with_exit_7_and_writes_nothing() {
    let scratch = tempfile::tempdir().unwrap();
    let root = host(scratch.path(), false);
    let file = scratch.path().join("plan.json");
    let file = file.to_str().unwrap();
    let (code, said) = phoenix_zfs(&root, &["plan", "--out", file]);
    assert_eq!(code, 0, "{said}");
    // udev now finds ext4 on S2TA0002, as after a mkfs.ext4 of it.
    let record = root.join("run/udev/data/b259:3");
    let text = std::fs::read_to_string(&record).unwrap();
    assert!(text.contains("ID_SERIAL_SHORT=S2TA0002"), "{text}");
    std::fs::write(&record, format!("{text}E:ID_FS_TYPE=ext4\n")).unwrap();

    let (code, said, manifest) = apply_kept(&root, scratch.path(), file);
    assert_eq!(code, 7, "{said}");
    let remake = format!(
        "make a new plan: `phoenix-zfs --root {} plan --out {file}`",
        root.display()
    );
    for line in [
        "drive S2TA0002: contents changed since the plan was made",
        &remake,
        "nothing was changed",
    ] {
        assert!(said.contains(line), "{line} in {said}");
    }
    assert!(!manifest.exists(), "{said}");
    let state = root.join("var/lib/phoenix-zfs");
    assert!(
        !state.exists(),
        "{:?}",
        std::fs::read_dir(&state).map(|d| d.count())
    );
}

#[test]
fn a_plan_with_blockers_is_not_kept_and_apply_takes_its_consent_from_the_plan_only() {
    let scratch = tempfile::tempdir().unwrap();
    let file = scratch.path().join("plan.json");
    let file = file.to_str().unwrap();
    let root = fixtures::path("hosts/old-signatures");
    let (code, said) = phoenix_zfs(&root, &["plan", "--out", file]);
    assert_eq!(code, 5, "{said}");
    assert!(said.contains(&format!("no plan kept in {file}")), "{said}");
    assert!(!Path::new(file).exists());

    let (code, said) = phoenix_zfs(&root, &["apply", "--plan", file, "--wipe", "S2TA0001"]);
    assert_eq!(code, 2, "{said}");
    let (code, said) = phoenix_zfs(&root, &["apply", "--plan", file]);
    assert_eq!(code, 2, "{said}");
    assert!(said.contains("cannot read the plan"), "{said}");
    std::fs::write(file, "{}").unwrap();
    let (code, said) = phoenix_zfs(&root, &["apply", "--plan", file]);
    assert_eq!(code, 2, "{said}");
    assert!(
        said.contains("make one with `phoenix-zfs --root "),
        "{said}"
    );
}
