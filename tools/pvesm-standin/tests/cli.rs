//! The stand-in as phoenix-zfs will use it: the storage changes planned for the default layout
//! over the installer's storage.cfg are carried out by running the binary, and then nothing is
//! left to do. The binary runs with an empty PATH, so it finds no `zfs` to ask for mountpoints.

use phoenix_zfs::formats::proxmox::storage_cfg::StorageConfig;
use phoenix_zfs::formats::proxmox::{storage_changes, StorageChange};
use phoenix_zfs::layout::Layout;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn fixture(name: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/fixtures/proxmox/storage-cfg")
        .join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

struct Sandbox {
    dir: tempfile::TempDir,
}

impl Sandbox {
    fn with_config(text: &str) -> Sandbox {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("storage.cfg"), text).unwrap();
        std::fs::create_dir(dir.path().join("empty-path")).unwrap();
        Sandbox { dir }
    }

    fn config_path(&self) -> PathBuf {
        self.dir.path().join("storage.cfg")
    }

    fn config(&self) -> String {
        std::fs::read_to_string(self.config_path()).unwrap()
    }

    fn pvesm<S: AsRef<str>>(&self, args: &[S]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_pvesm-standin"))
            .args(args.iter().map(AsRef::as_ref))
            .env("PVESM_STANDIN_CONFIG", self.config_path())
            .env("PATH", self.dir.path().join("empty-path"))
            .output()
            .unwrap()
    }
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Dir storages must be mount points and the stand-in checks that, as Proxmox does: any two
/// mounted directories serve, and /proc and /sys are mounted wherever these tests run.
fn mountpoints() -> BTreeMap<String, String> {
    BTreeMap::from([
        ("fastData/shared-backups".to_string(), "/proc".to_string()),
        ("fastData/shared-iso".to_string(), "/sys".to_string()),
    ])
}

#[test]
fn carries_out_the_planned_storages_and_then_has_nothing_to_do() {
    let layout = Layout::default_layout();
    let sandbox = Sandbox::with_config(&fixture("installer-zfs.cfg"));
    let before = StorageConfig::parse(&sandbox.config()).unwrap();
    let changes = storage_changes(&layout, &before, &mountpoints()).unwrap();
    assert_eq!(changes.len(), 4, "{changes:#?}");
    for change in &changes {
        let StorageChange::Add { argv, .. } = change else {
            panic!("expected only additions, got {change:?}");
        };
        assert_eq!(argv[0], "pvesm");
        let out = sandbox.pvesm(&argv[1..]);
        assert!(out.status.success(), "{argv:?}: {}", stderr(&out));
        assert_eq!(stderr(&out), "", "{argv:?}");
    }

    // What the stand-in wrote is the converged fixture, up to the two mount points.
    let written = sandbox.config();
    let as_on_the_host = written
        .replace("path /proc\n", "path /fastData/shared-backups\n")
        .replace("path /sys\n", "path /fastData/shared-iso\n");
    assert_eq!(as_on_the_host, fixture("converged.cfg"));

    let after = StorageConfig::parse(&written).unwrap();
    assert_eq!(
        storage_changes(&layout, &after, &mountpoints()).unwrap(),
        []
    );

    let status = sandbox.pvesm(&["status"]);
    assert!(status.status.success(), "{}", stderr(&status));
    let listing = String::from_utf8_lossy(&status.stdout);
    assert!(listing.starts_with("Name "), "{listing}");
    for id in [
        "local",
        "local-zfs",
        "quickOS-vm-disks",
        "quickOS-lxc-disks",
        "fastData-shared-backups",
        "fastData-shared-iso",
    ] {
        assert!(
            listing
                .lines()
                .any(|l| l.split_whitespace().next() == Some(id)),
            "{id} missing from:\n{listing}"
        );
    }
    // No zfs here: the zfspool storages cannot be asked, as on a host without the pools.
    assert!(listing
        .lines()
        .any(|l| l.starts_with("quickOS-vm-disks ") && l.contains(" inactive ")));
}

#[test]
fn refuses_with_proxmox_wording_and_leaves_the_file_alone() {
    let sandbox = Sandbox::with_config(&fixture("installer-zfs.cfg"));
    let original = sandbox.config();
    let cases: &[(&[&str], &str)] = &[
        (
            &["add", "zfspool", "local-zfs", "--pool", "tank/x"],
            "create storage failed: storage ID 'local-zfs' already defined\n",
        ),
        (
            &["set", "local-zfs", "--path", "/x"],
            "Unknown option: path\n400 unable to parse option\npvesm set <storage> [OPTIONS]\n",
        ),
        (
            &["set", "local-zfs", "--pool", "tank/x"],
            "update storage failed: can't change value of fixed parameter 'pool'\n",
        ),
        (
            &["add", "zfspool", "tank", "--pool", "tank", "--frobnicate", "1"],
            "Unknown option: frobnicate\n400 unable to parse option\npvesm add <type> <storage> [OPTIONS]\n",
        ),
        (
            &["add", "zfspool", "tank", "--pool", "tank", "--blocksize", "3k"],
            "400 Parameter verification failed.\nblocksize: invalid format - value '3k' is not a valid ZFS blocksize. Must be a power of 2 between 512B and 16MiB (e.g., 4k, 8k, 16k, 64k, 1m).\npvesm add <type> <storage> [OPTIONS]\n",
        ),
    ];
    for (args, expected) in cases {
        let out = sandbox.pvesm(args);
        assert_eq!(out.status.code(), Some(255), "{args:?}");
        assert_eq!(stderr(&out), *expected, "{args:?}");
        assert_eq!(sandbox.config(), original, "{args:?} changed the file");
    }

    let unmounted = sandbox.dir.path().join("empty-path");
    let unmounted = unmounted.to_str().unwrap();
    let out = sandbox.pvesm(&[
        "add",
        "dir",
        "backups",
        "--path",
        unmounted,
        "--is_mountpoint",
        "yes",
    ]);
    assert_eq!(out.status.code(), Some(255));
    assert_eq!(
        stderr(&out),
        format!("create storage failed: unable to activate storage 'backups' - directory is expected to be a mount point but is not mounted: '{unmounted}'\n")
    );
    assert_eq!(sandbox.config(), original);
}

#[test]
fn help_says_it_is_a_stand_in() {
    let sandbox = Sandbox::with_config("");
    let out = sandbox.pvesm(&["--help"]);
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.starts_with("pvesm-standin: a STAND-IN for Proxmox VE's `pvesm`"),
        "{text}"
    );
    assert_eq!(sandbox.config(), "", "help must not write");
}

#[test]
fn set_content_then_rerun_changes_nothing() {
    let sandbox = Sandbox::with_config(&fixture("converged.cfg"));
    let out = sandbox.pvesm(&["set", "fastData-shared-iso", "--content", "iso"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let drifted = StorageConfig::parse(&sandbox.config()).unwrap();
    let mounts = BTreeMap::from([
        (
            "fastData/shared-backups".to_string(),
            "/fastData/shared-backups".to_string(),
        ),
        (
            "fastData/shared-iso".to_string(),
            "/fastData/shared-iso".to_string(),
        ),
    ]);
    let changes = storage_changes(&Layout::default_layout(), &drifted, &mounts).unwrap();
    let [StorageChange::Set { argv, .. }] = changes.as_slice() else {
        panic!("expected one Set, got {changes:#?}");
    };
    assert_eq!(
        argv,
        &[
            "pvesm",
            "set",
            "fastData-shared-iso",
            "--content",
            "iso,vztmpl"
        ]
    );
    let out = sandbox.pvesm(&argv[1..]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(sandbox.config(), fixture("converged.cfg"));
}
