//! `phoenix-zfs firstboot` on copies of the fixture hosts: `--dry-run` names every path the first
//! boot would install and write, prints the plan as `plan` does, and changes nothing; without
//! `--dry-run`, `--root DIR` puts what it writes under DIR. And the binary started under the
//! hook's name answers `--help` and `--version` instead of starting a first boot.

use crate::fixtures;
use std::collections::BTreeMap;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// Copies a host tree, symlinks as symlinks (sysfs and by-id are made of them).
fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let (source, copy) = (entry.path(), to.join(entry.file_name()));
        let kind = entry.file_type().unwrap();
        if kind.is_symlink() {
            symlink(std::fs::read_link(&source).unwrap(), &copy).unwrap();
        } else if kind.is_dir() {
            copy_tree(&source, &copy);
        } else {
            std::fs::copy(&source, &copy).unwrap();
        }
    }
}

/// Every entry under `dir` by its path: a file's bytes, a link's target, or a directory.
fn tree(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut entries = BTreeMap::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(at) = pending.pop() {
        for entry in std::fs::read_dir(&at).unwrap() {
            let path = entry.unwrap().path();
            let kind = std::fs::symlink_metadata(&path).unwrap().file_type();
            let content = if kind.is_symlink() {
                std::fs::read_link(&path)
                    .unwrap()
                    .into_os_string()
                    .into_encoded_bytes()
            } else if kind.is_dir() {
                pending.push(path.clone());
                b"<dir>".to_vec()
            } else {
                std::fs::read(&path).unwrap()
            };
            entries.insert(path, content);
        }
    }
    entries
}

/// A copy of fixture host `name` in a tempdir, with a host key (made by ssh-keygen) when asked.
fn host_copy(name: &str, with_key: bool) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    copy_tree(&fixtures::path("hosts").join(name), dir.path());
    if with_key {
        let ssh = dir.path().join("etc/ssh");
        std::fs::create_dir_all(&ssh).unwrap();
        fixtures::ssh_keygen_ed25519(&ssh.join("ssh_host_ed25519_key"), name);
    }
    dir
}

fn phoenix(root: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_phoenix-zfs"))
        .args(args)
        .arg("--root")
        .arg(root)
        .output()
        .unwrap()
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn dry_run_names_each_path_prints_the_plan_and_changes_nothing_on_every_fixture_host() {
    let hosts: Vec<String> = std::fs::read_dir(fixtures::path("hosts"))
        .unwrap()
        .map(|e| e.unwrap())
        .filter(|e| e.file_type().unwrap().is_dir())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    assert!(hosts.len() > 10, "{hosts:?}");
    for host in hosts {
        let dir = host_copy(&host, true);
        let root = dir.path();
        let before = tree(root);
        let out = phoenix(root, &["firstboot", "--dry-run"]);
        assert_eq!(tree(root), before, "{host}: the dry run changed the tree");
        let said = stdout(&out);
        let plan = phoenix(root, &["plan"]);
        assert_eq!(out.status.code(), plan.status.code(), "{host}:\n{said}");
        assert!(said.contains(&stdout(&plan)), "{host}: no plan in:\n{said}");
        let under = |path: &str| format!("{}{path}", root.display());
        for path in [
            "/usr/local/sbin/phoenix-zfs",
            "/etc/systemd/system/phoenix-zfs-deferred.service",
            "/etc/systemd/system/multi-user.target.wants/phoenix-zfs-deferred.service",
            "/var/lib/phoenix-zfs/manifest.json",
            "/var/lib/phoenix-zfs/manifest.json.sig",
            "/etc/ssh/ssh_host_ed25519_key",
            "/etc/issue.d/phoenix-zfs.issue",
            "/etc/motd.d/phoenix-zfs",
        ] {
            assert!(
                said.contains(&under(path)),
                "{host}: {path} not in:\n{said}"
            );
        }
    }
}

#[test]
fn dry_run_on_a_blank_host_names_the_journal_and_what_it_cannot_observe() {
    let dir = host_copy("qemu-default", true);
    let out = phoenix(dir.path(), &["firstboot", "--dry-run"]);
    assert_eq!(out.status.code(), Some(0));
    let said = stdout(&out);
    let root = dir.path().display();
    assert!(
        said.contains(&format!(
            "write {root}/var/lib/phoenix-zfs/pending.json before each `zpool create`"
        )),
        "{said}"
    );
    // A recorded host's tree holds no programs and no ZFS: its services are not judged, and so
    // nothing is deferred to a later boot.
    assert!(
        said.contains("note: NFS exports, Proxmox storages and smartd are not observed"),
        "{said}"
    );
    assert!(!said.contains("phoenix-zfs/deferred"), "{said}");
}

#[test]
fn without_a_host_key_the_dry_run_says_the_first_boot_stops_before_apply() {
    let dir = host_copy("qemu-default", false);
    let before = tree(dir.path());
    let out = phoenix(dir.path(), &["firstboot", "--dry-run"]);
    assert_eq!(tree(dir.path()), before);
    assert_eq!(out.status.code(), Some(1));
    let said = stdout(&out);
    let root = dir.path().display();
    assert!(
        said.contains(&format!(
            "stop: host key {root}/etc/ssh/ssh_host_ed25519_key does not exist: create it with `mkdir -p {root}/etc/ssh && ssh-keygen -A -f {root}`"
        )),
        "{said}"
    );
    // The remedy runs as printed, and then the dry run goes on to the plan.
    let remedy = said.split('`').nth(1).unwrap();
    let made = Command::new("sh").args(["-c", remedy]).output().unwrap();
    assert!(made.status.success(), "{remedy}: {made:?}");
    let out = phoenix(dir.path(), &["firstboot", "--dry-run"]);
    assert_eq!(out.status.code(), Some(0));
    assert!(stdout(&out).contains("situation:"));
    assert!(!said.contains("situation:"), "{said}");
}

/// The first boot itself under --root: what it installs and its notice land under DIR, never on
/// this machine (the key is missing, so the run stops before apply, as the dry run says).
#[test]
fn firstboot_with_root_writes_under_it() {
    let live_notice = Path::new("/etc/issue.d/phoenix-zfs.issue");
    let live_before = live_notice.exists();
    let dir = host_copy("qemu-default", false);
    let root = dir.path();
    let out = phoenix(root, &["firstboot"]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let binary = std::fs::read(root.join("usr/local/sbin/phoenix-zfs")).unwrap();
    assert_eq!(
        binary,
        std::fs::read(env!("CARGO_BIN_EXE_phoenix-zfs")).unwrap()
    );
    assert!(root
        .join("etc/systemd/system/phoenix-zfs-deferred.service")
        .is_file());
    for notice in ["etc/issue.d/phoenix-zfs.issue", "etc/motd.d/phoenix-zfs"] {
        let text = std::fs::read_to_string(root.join(notice)).unwrap();
        assert!(
            text.contains("did not finish the storage layout (exit 1)"),
            "{text}"
        );
    }
    assert_eq!(live_notice.exists(), live_before);
    // The first boot takes no --host-key: what it advises makes the key and runs it again.
    let said = String::from_utf8_lossy(&out.stderr);
    let shown = root.display();
    assert!(
        said.contains(&format!(
            "host key {shown}/etc/ssh/ssh_host_ed25519_key does not exist: create it with `mkdir -p {shown}/etc/ssh && ssh-keygen -A -f {shown}`, then `phoenix-zfs --root {shown} firstboot`"
        )),
        "{said}"
    );
    assert!(!said.contains("--host-key"), "{said}");
}

/// Under the hook's name, `--help` and `--version` are questions for clap, not a first boot.
#[test]
fn the_binary_as_the_hook_answers_help_and_version() {
    let dir = tempfile::tempdir().unwrap();
    let hook = dir.path().join("proxmox-first-boot");
    symlink(env!("CARGO_BIN_EXE_phoenix-zfs"), &hook).unwrap();
    // The commit and the layout's digest follow in parentheses.
    let version = format!("phoenix-zfs {} (", env!("CARGO_PKG_VERSION"));
    for (asking, answer) in [
        ("--version", version.as_str()),
        ("-V", &version),
        ("--help", "Usage: "),
        ("-h", "Usage: "),
    ] {
        let out = Command::new(&hook).arg(asking).output().unwrap();
        assert_eq!(out.status.code(), Some(0), "{asking}");
        assert!(stdout(&out).contains(answer), "{asking}: {}", stdout(&out));
        assert!(out.stderr.is_empty(), "{asking}");
    }
}
