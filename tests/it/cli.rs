//! The binary as an administrator meets it on the recorded hosts: `--version`, usage errors
//! that name what was wrong (exit 2, nothing read or changed past them), and the advice each
//! command prints being a command that command's user can run.

use crate::fixtures;
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn run(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_phoenix-zfs"))
        .args(args)
        .output()
        .expect("phoenix-zfs runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn host(name: &str) -> String {
    fixtures::path("hosts").join(name).display().to_string()
}

#[test]
fn version_names_the_commit_and_the_embedded_layouts_digest() {
    let out = run(&["--version"]);
    assert_eq!(out.status.code(), Some(0));
    let line = text(&out.stdout);
    let digest = Sha256::digest(phoenix_zfs::layout::DEFAULT_LAYOUT_TOML.as_bytes());
    let hex: String = digest[..6].iter().map(|b| format!("{b:02x}")).collect();
    let rest = line
        .trim_end()
        .strip_prefix(concat!("phoenix-zfs ", env!("CARGO_PKG_VERSION"), " ("))
        .unwrap_or_else(|| panic!("{line}"));
    let (commit, layout) = rest
        .strip_suffix(')')
        .and_then(|r| r.split_once(", "))
        .unwrap_or_else(|| panic!("{line}"));
    assert_eq!(layout, format!("layout sha256:{hex}"), "{line}");
    let head = Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .current_dir(fixtures::repo())
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| text(&o.stdout).trim().to_string());
    match head {
        Some(head) => assert_eq!(commit, head, "{line}"),
        None => assert_eq!(commit, "unknown", "{line}"),
    }
}

#[test]
fn a_root_that_is_no_host_tree_is_a_usage_error_naming_it() {
    let empty = tempfile::tempdir().unwrap();
    let empty = empty.path().to_str().unwrap();
    for root in ["/nonexistent/phoenix", empty] {
        for command in [&["detect"][..], &["plan"], &["verify"], &["apply", "--yes"]] {
            let out = run(&[command, &["--root", root]].concat());
            let stderr = text(&out.stderr);
            assert_eq!(out.status.code(), Some(2), "{command:?} {root}: {stderr}");
            assert!(
                stderr.contains(&format!("--root {root}: no sys/ there")),
                "{command:?}: {stderr}"
            );
            assert!(out.stdout.is_empty(), "{command:?}: {}", text(&out.stdout));
        }
    }
}

#[test]
fn target_root_is_taken_only_where_it_means_something() {
    for command in ["detect", "plan", "apply", "verify"] {
        let out = run(&[command, "--help"]);
        assert!(
            text(&out.stdout).contains("--target-root <DIR>"),
            "{command}"
        );
    }
    for command in [
        &["layout", "show"][..],
        &["manifest", "verify", "m.json"],
        &["firstboot"],
        &["attach", "100"],
    ] {
        let out = run(&[command, &["--target-root", "/mnt"]].concat());
        assert_eq!(out.status.code(), Some(2), "{command:?}");
        assert!(
            text(&out.stderr).contains("unexpected argument '--target-root'"),
            "{command:?}: {}",
            text(&out.stderr)
        );
        let help = run(&[command[..command.len().min(2)].to_vec(), vec!["--help"]].concat());
        assert!(!text(&help.stdout).contains("--target-root"), "{command:?}");
    }
}

/// A copy of the fixture host `name` with the transcripts of the replay case `case` as its
/// ZFS tools, the guest's network and a host key: what `apply --root` needs.
fn host_with_transcripts(name: &str, case: &str, scratch: &Path) -> (PathBuf, PathBuf) {
    let root = scratch.join("host");
    let copied = Command::new("cp")
        .arg("-a")
        .arg(fixtures::path("hosts").join(name))
        .arg(&root)
        .status()
        .unwrap();
    assert!(copied.success());
    let transcripts = Command::new("cp")
        .arg("-a")
        .arg(fixtures::path("replay").join(case))
        .arg(root.join("zfs-commands"))
        .status()
        .unwrap();
    assert!(transcripts.success());
    let key = fixtures::ssh_keygen_ed25519(&scratch.join("host_key"), "root@pve");
    (root, key)
}

#[test]
fn a_wipe_that_names_no_drive_is_a_usage_error_for_plan_and_apply() {
    let out = run(&["plan", "--root", &host("qemu-default"), "--wipe", "XYZ123"]);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("--wipe XYZ123: no drive here has that serial"),
        "{stderr}"
    );
    assert!(
        stderr.contains("the drives here: S2TA0001, S2TA0002, S4TB0001"),
        "{stderr}"
    );
    assert!(out.stdout.is_empty(), "{}", text(&out.stdout));
    // A right serial among wrong ones does not save them.
    let out = run(&[
        "plan",
        "--root",
        &host("qemu-default"),
        "--wipe",
        "S2TA0001",
        "--wipe",
        "S2TA001",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("--wipe S2TA001:"));

    let scratch = tempfile::tempdir().unwrap();
    let (root, key) =
        host_with_transcripts("ext4-on-2tb", "refused-drive-holds-data", scratch.path());
    let manifest = scratch.path().join("manifest.json");
    let apply = |wipe: &str| {
        run(&[
            "apply",
            "--yes",
            "--root",
            root.to_str().unwrap(),
            "--host-key",
            key.to_str().unwrap(),
            "--manifest",
            manifest.to_str().unwrap(),
            "--wipe",
            wipe,
        ])
    };
    let out = apply("XYZ123");
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("--wipe XYZ123: no drive here"), "{stderr}");
    assert!(stderr.contains("S2TA0002"), "{stderr}");
    assert!(!manifest.exists(), "a usage error is no run to record");
    // The same run with a serial the host has goes on to the refusal the case recorded.
    let out = apply("S2TA0001");
    assert_eq!(out.status.code(), Some(5), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("if its data may be erased: phoenix-zfs apply --wipe S2TA0002"),
        "{}",
        text(&out.stdout)
    );
    assert!(manifest.exists());
}

#[test]
fn detect_and_verify_advise_apply_for_a_wipe_which_they_do_not_take() {
    for command in ["detect", "verify", "plan"] {
        let out = run(&[command, "--root", &host("ext4-on-2tb")]);
        let stdout = text(&out.stdout);
        assert_eq!(out.status.code(), Some(5), "{command}: {stdout}");
        assert!(
            stdout.contains("if its data may be erased: phoenix-zfs apply --wipe S2TA0002"),
            "{command}: {stdout}"
        );
        assert!(!stdout.contains("run again"), "{command}: {stdout}");
    }
}

/// After `--layout FILE`, the advice runs against FILE too, not against the embedded default.
#[test]
fn the_advice_repeats_the_users_own_layout() {
    let scratch = tempfile::tempdir().unwrap();
    let layout = scratch.path().join("mine.toml");
    std::fs::write(&layout, phoenix_zfs::layout::DEFAULT_LAYOUT_TOML).unwrap();
    let layout = layout.to_str().unwrap();
    for command in ["detect", "verify", "plan"] {
        let out = run(&[command, "--root", &host("ext4-on-2tb"), "--layout", layout]);
        let stdout = text(&out.stdout);
        assert_eq!(out.status.code(), Some(5), "{command}: {stdout}");
        assert!(
            stdout.contains(&format!(
                "if its data may be erased: phoenix-zfs apply --layout {layout} --wipe S2TA0002\n"
            )),
            "{command}: {stdout}"
        );
    }
}

#[test]
fn a_drive_with_the_layouts_own_pool_on_it_is_sent_to_zpool_import_before_any_wipe() {
    // qemu-exported without ZFS tools: the drives carry quickOS and fastData's labels, and no
    // import scan offered the pools.
    let out = run(&["detect", "--root", &host("qemu-exported")]);
    let stdout = text(&out.stdout);
    for (serial, pool) in [
        ("S2TA0001", "quickOS"),
        ("S2TA0002", "quickOS"),
        ("S4TB0001", "fastData"),
    ] {
        let advice = stdout
            .lines()
            .find(|l| l.contains(&format!("--wipe {serial}")))
            .unwrap_or_else(|| panic!("{serial}: {stdout}"));
        let import = advice
            .find(&format!("zpool import -d /dev/disk/by-id {pool}"))
            .unwrap_or_else(|| panic!("{advice}"));
        assert!(import < advice.find("--wipe").unwrap(), "{advice}");
        assert!(advice.contains("only otherwise"), "{advice}");
    }
    // A drive with another file system is told to wipe, and nothing about an import.
    let out = run(&["detect", "--root", &host("ext4-on-2tb")]);
    assert!(!text(&out.stdout).contains("zpool import -d"));
}

#[test]
fn a_missing_drive_is_told_how_to_describe_the_drives_there_are() {
    let out = run(&["plan", "--root", &host("missing-2tb")]);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(3), "{stdout}");
    for said in [
        "pool `quickOS` needs 2 drive(s)",
        "`phoenix-zfs layout show > layout.toml`",
        "`phoenix-zfs apply --layout layout.toml`",
    ] {
        assert!(stdout.contains(said), "{said}: {stdout}");
    }
}

#[test]
fn layout_check_reports_every_problem_as_file_line_col_and_exits_2() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("bad.toml");
    let layout = phoenix_zfs::layout::DEFAULT_LAYOUT_TOML
        .replacen("name = \"fastData\"", "name = \"c0fast\"", 1)
        .replace("fastData/", "c0fast/")
        .replacen(
            "name = \"quickOS/lxc-disks\"",
            "name = \"quickOS/lxc-disks/.\"",
            1,
        )
        .replace(
            "path = \"/mnt/shared-bulk-data\"",
            "path = \"/mnt/shared-prod-data\"",
        );
    std::fs::write(&file, &layout).unwrap();
    let shown = file.display().to_string();
    let out = run(&["layout", "check", &shown]);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 3, "{stderr}");
    assert!(lines[0].starts_with("phoenix-zfs: error: "), "{stderr}");
    for (line, said) in lines.iter().zip([
        "pool name `c0fast` looks like a Solaris disk name",
        "dataset name `quickOS/lxc-disks/.` has an empty, `.` or `..` component",
        "is `quickOS/shared-prod-data`'s too",
    ]) {
        // The first line is the error line; the others follow it as a compiler's do.
        let line = line.strip_prefix("phoenix-zfs: error: ").unwrap_or(line);
        let place = line
            .strip_prefix(&format!("{shown}:"))
            .unwrap_or_else(|| panic!("{line}"));
        let (row, rest) = place.split_once(':').unwrap();
        let (col, message) = rest.split_once(": ").unwrap();
        let row: usize = row.parse().unwrap();
        assert!(col.parse::<usize>().is_ok(), "{line}");
        assert!(message.contains(said), "{line}");
        let at = layout.lines().nth(row - 1).unwrap();
        assert!(
            at.starts_with("name = \"c0fast") || at.starts_with("name = \"quickOS/"),
            "{line}"
        );
    }
}
