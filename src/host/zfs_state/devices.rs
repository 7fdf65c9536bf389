//! Which block device a pool member is. zpool names a device by the path it was opened with
//! (`zpool status -P`), by that path's last part (`zpool import`, which searched directories for
//! it), or by its vdev GUID once it is gone; the path may be a by-id, by-path, by-uuid or mapper
//! link as well as a kernel name. Whatever it is called, the kernel's device number
//! (`major:minor`) says which device it is, and it is what the inventory knows every disk and
//! partition by: membership is decided on it (`contents::member_of`).
//!
//! Read under the [`HostRoot`], so that a live host and a copy read with `--root` take the same
//! path: the links of its `dev/` are followed to a kernel name, whose number sysfs gives
//! (`sys/class/block/NAME/dev`; a copy made by `debug snapshot-host` keeps only
//! `sys/block/DISK/dev` and `sys/block/DISK/PART/dev`).

use crate::host::inventory::sysfs;
use crate::host::root::HostRoot;
use crate::model::pools::PoolMember;
use std::fs;
use std::path::{Path, PathBuf};

/// Where a device `zpool import` names by its last part is: the directory phoenix-zfs scans
/// (`-d /dev/disk/by-id`) first, then the others of libzutil's `zpool_default_import_path`
/// (lib/libzutil/os/linux/zutil_import_os.c) in its order, for a name an administrator's own
/// scan made.
const SEARCH_DIRS: [&str; 9] = [
    crate::formats::zfs::BY_ID_DIR,
    "/dev/disk/by-vdev",
    "/dev/mapper",
    "/dev/disk/by-partlabel",
    "/dev/disk/by-partuuid",
    "/dev/disk/by-label",
    "/dev/disk/by-uuid",
    "/dev/disk/by-path",
    "/dev",
];

/// Looks up the device of every member that has none yet.
pub fn resolve<'a>(root: &HostRoot, members: impl Iterator<Item = &'a mut PoolMember>) {
    for member in members.filter(|m| m.major_minor.is_none()) {
        member.major_minor = major_minor(root, &member.path);
    }
}

/// The `major:minor` of the block device zpool names `name`, or None when no device of this
/// host has that name: a vdev GUID, a file vdev, a path that is not (or no longer) there.
pub fn major_minor(root: &HostRoot, name: &str) -> Option<String> {
    if name.is_empty() || name.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let candidates: Vec<String> = if name.starts_with("/dev/") {
        vec![name.to_string()]
    } else if name.starts_with('/') {
        return None;
    } else {
        SEARCH_DIRS
            .iter()
            .map(|dir| format!("{dir}/{name}"))
            .collect()
    };
    candidates
        .iter()
        .find_map(|path| kernel_name(root, Path::new(path)))
        .and_then(|kernel| device_number(root, &kernel))
}

/// The kernel's name of the device node `path` (a path on the host) leads to through its links:
/// `nvme0n1p1` for `/dev/disk/by-id/nvme-..._1-part1`.
fn kernel_name(root: &HostRoot, path: &Path) -> Option<String> {
    let end = crate::host::identity::follow_links(root, path.to_str()?).ok()?;
    fs::symlink_metadata(root.path(end.to_str()?)).ok()?;
    // Device nodes sit in /dev itself; anything deeper is no kernel name.
    if end.parent() != Some(Path::new("/dev")) {
        return None;
    }
    end.file_name().map(|n| n.to_string_lossy().into_owned())
}

/// sysfs's `dev` of the disk or partition called `kernel`.
fn device_number(root: &HostRoot, kernel: &str) -> Option<String> {
    let dev_of = |dir: PathBuf| sysfs::attr(&dir, "dev");
    dev_of(root.path(&format!("sys/class/block/{kernel}")))
        .or_else(|| dev_of(root.path(&format!("sys/block/{kernel}"))))
        .or_else(|| {
            // A partition, in a copy that keeps only sys/block: under the disk its name starts with.
            fs::read_dir(root.path("sys/block"))
                .ok()?
                .flatten()
                .filter(|disk| kernel.starts_with(&*disk.file_name().to_string_lossy()))
                .find_map(|disk| dev_of(disk.path().join(kernel)))
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::formats::zfs::VdevClass;
    use std::os::unix::fs::symlink;

    /// A host with nvme0n1 (259:0) and its partition nvme0n1p1 (259:1) as sysfs has them, their
    /// nodes in dev/, by-id links to both, and one by-path link to the partition.
    fn host(class_block: bool) -> (tempfile::TempDir, HostRoot) {
        let dir = tempfile::tempdir().unwrap();
        let at = |p: &str| dir.path().join(p);
        let write = |p: &str, text: &str| {
            fs::create_dir_all(at(p).parent().unwrap()).unwrap();
            fs::write(at(p), text).unwrap();
        };
        if class_block {
            write("sys/class/block/nvme0n1/dev", "259:0\n");
            write("sys/class/block/nvme0n1p1/dev", "259:1\n");
        } else {
            write(
                "sys/devices/virtual/nvme-subsystem/nvme-subsys0/nvme0n1/dev",
                "259:0\n",
            );
            write(
                "sys/devices/virtual/nvme-subsystem/nvme-subsys0/nvme0n1/nvme0n1p1/dev",
                "259:1\n",
            );
            fs::create_dir_all(at("sys/block")).unwrap();
            symlink(
                "../devices/virtual/nvme-subsystem/nvme-subsys0/nvme0n1",
                at("sys/block/nvme0n1"),
            )
            .unwrap();
        }
        write("dev/nvme0n1", "");
        write("dev/nvme0n1p1", "");
        fs::create_dir_all(at("dev/disk/by-id")).unwrap();
        fs::create_dir_all(at("dev/disk/by-path")).unwrap();
        let id = "dev/disk/by-id/nvme-QEMU_NVMe_Ctrl_S2TA0001";
        symlink("../../nvme0n1", at(id)).unwrap();
        symlink("../../nvme0n1p1", at(&format!("{id}-part1"))).unwrap();
        // An absolute target, and a link to a link.
        symlink(
            "/dev/nvme0n1p1",
            at("dev/disk/by-path/pci-0000:00:04.0-nvme-1-part1"),
        )
        .unwrap();
        symlink(
            "../by-path/pci-0000:00:04.0-nvme-1-part1",
            at("dev/disk/by-id/wwn-0x1-part1"),
        )
        .unwrap();
        let root = HostRoot(dir.path().to_path_buf());
        (dir, root)
    }

    #[test]
    fn every_name_zfs_gives_a_device_leads_to_its_number() {
        for class_block in [true, false] {
            let (_dir, root) = host(class_block);
            for (name, expected) in [
                (
                    "/dev/disk/by-id/nvme-QEMU_NVMe_Ctrl_S2TA0001-part1",
                    "259:1",
                ),
                ("/dev/disk/by-id/nvme-QEMU_NVMe_Ctrl_S2TA0001", "259:0"),
                ("nvme-QEMU_NVMe_Ctrl_S2TA0001-part1", "259:1"),
                ("nvme-QEMU_NVMe_Ctrl_S2TA0001", "259:0"),
                ("/dev/nvme0n1p1", "259:1"),
                ("nvme0n1p1", "259:1"),
                ("/dev/disk/by-path/pci-0000:00:04.0-nvme-1-part1", "259:1"),
                ("pci-0000:00:04.0-nvme-1-part1", "259:1"),
                ("/dev/disk/by-id/wwn-0x1-part1", "259:1"),
            ] {
                assert_eq!(
                    major_minor(&root, name).as_deref(),
                    Some(expected),
                    "{name} (sys/class/block: {class_block})"
                );
            }
        }
    }

    #[test]
    fn names_of_no_device_here_resolve_to_nothing() {
        let (dir, root) = host(true);
        symlink("nvme-loop", dir.path().join("dev/disk/by-id/nvme-loop")).unwrap();
        for name in [
            "9962378560323266958",
            "/dev/disk/by-id/nvme-QEMU_NVMe_Ctrl_S2TA0002-part1",
            "nvme-QEMU_NVMe_Ctrl_S2TA0002",
            "/var/tmp/file-vdev.img",
            "draid2-0-0",
            "/dev/disk/by-id",
            "nvme-loop",
            "",
        ] {
            assert_eq!(major_minor(&root, name), None, "{name}");
        }
    }

    #[test]
    fn only_members_not_yet_resolved_are_looked_up() {
        let (_dir, root) = host(true);
        let mut members = [
            PoolMember::new("nvme0n1p1", VdevClass::Special),
            PoolMember {
                major_minor: Some("8:0".into()),
                ..PoolMember::new("nvme0n1", VdevClass::Data)
            },
            PoolMember::new("123", VdevClass::Log),
        ];
        resolve(&root, members.iter_mut());
        let found: Vec<Option<&str>> = members.iter().map(|m| m.major_minor.as_deref()).collect();
        assert_eq!(found, [Some("259:1"), Some("8:0"), None]);
    }
}
