//! What the integration tests share about their data: where tests/fixtures/ is, reading one of
//! its files, and the loaders more than one module uses (a fixture host's root and inventory, a
//! recorded zpool/zfs transcript, a run's assessment with the QEMU guest's smartctl reading, a
//! host key made by stock ssh-keygen). The READMEs under tests/fixtures/ say where its files
//! come from.
use phoenix_zfs::assess::{assess, Assessment, ZfsSource};
use phoenix_zfs::formats::wear::{self, WearBaseline};
use phoenix_zfs::host::inventory;
use phoenix_zfs::host::root::HostRoot;
use phoenix_zfs::host::target::Target;
use phoenix_zfs::layout::Layout;
use phoenix_zfs::model::disk::{Disk, Inventory};
use phoenix_zfs::model::services::{Availability, DriveHealth};
use phoenix_zfs::runner::Transcript;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The repository's root: README.md, schema/, qemu-tests/ are read from here.
pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// tests/fixtures/.
pub fn dir() -> PathBuf {
    repo().join("tests/fixtures")
}

/// A path under tests/fixtures/.
pub fn path(relative: impl AsRef<Path>) -> PathBuf {
    dir().join(relative)
}

/// The text of a file under tests/fixtures/; a missing one panics with its full path.
pub fn read(relative: &str) -> String {
    let full = path(relative);
    std::fs::read_to_string(&full).unwrap_or_else(|e| panic!("{}: {e}", full.display()))
}

/// The root of the fixture host tests/fixtures/hosts/NAME, as `--root` reads it.
pub fn host_root(name: &str) -> HostRoot {
    HostRoot(path("hosts").join(name))
}

/// What detect reads of a fixture host: its inventory, with the candidates probed.
pub fn host_inventory(name: &str) -> Inventory {
    let root = host_root(name);
    let mut inventory = inventory::read(&root);
    inventory::probe_candidates(&root, &mut inventory);
    inventory
}

/// What apply assesses on a fixture host as a running system without ZFS tools (a fixture host
/// has none), for the manifest of a run.
pub fn assess_without_zfs(host: &str, layout: &Layout) -> Assessment {
    assess(
        &host_root(host),
        &Target::RunningSystem,
        layout,
        ZfsSource::Absent,
        &Default::default(),
        &[],
        None,
    )
    .unwrap()
}

/// The health reading smartctl gave in the QEMU guest, as the health of each disk that `which`
/// selects: the services a live host reports, filled in.
pub fn with_qemu_guest_health(assessment: &mut Assessment, which: impl Fn(&Disk) -> bool) {
    let reading = qemu_guest_wear();
    assessment.services.health = assessment
        .inventory
        .disks
        .iter()
        .filter(|disk| which(disk))
        .map(|disk| DriveHealth {
            drive: disk.name.clone(),
            serial: disk.serial.clone(),
            by_id: disk.preferred_path.clone(),
            reading: Availability::Ready { value: reading },
        })
        .collect();
}

/// The recorded command under tests/fixtures/ whose files are RELATIVE.argv, RELATIVE.stdout...
pub fn transcript(relative: &str) -> Transcript {
    let full = path(relative);
    Transcript::load(&full).unwrap_or_else(|e| panic!("{}: {e}", full.display()))
}

/// The health log smartctl read of the QEMU guest's emulated NVMe controller
/// (tests/fixtures/wear/qemu-nvme0.json).
pub fn qemu_guest_wear() -> WearBaseline {
    wear::parse_smartctl(&read("wear/qemu-nvme0.json")).unwrap()
}

/// A new Ed25519 key at `key` (and `key`.pub), made by ssh-keygen as openssh-server makes host
/// keys, with `comment`.
pub fn ssh_keygen_ed25519(key: &Path, comment: &str) -> PathBuf {
    let status = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-C", comment, "-f"])
        .arg(key)
        .status()
        .expect("ssh-keygen runs");
    assert!(status.success());
    key.to_path_buf()
}
