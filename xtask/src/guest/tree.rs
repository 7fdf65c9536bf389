//! The guest's base root tree: what mmdebstrap installs, before any of the project's recipe files.
//! Cached on its own under `cache_root()/guest/base-<key>/tree`, so that changing the harness or
//! the customization does not download and unpack 200 packages again.

use crate::guest::host_packages::GuestKernel;
use crate::guest::{cache_key, Stages};
use crate::util::{output, run_logged};
use anyhow::{bail, Context, Result};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Packages of the guest's root tree besides the kernel. zfsutils-linux without zfs-dkms: the
/// modules come from the host's dkms build. The block-device tools let scenarios write real
/// signatures (md, LVM, LUKS, XFS, Btrfs, FAT, exFAT, NTFS) onto drives; none of them pulls an
/// MTA without Recommends (mdadm only recommends one).
const GUEST_PACKAGES: &[&str] = &[
    "systemd-sysv",
    "udev",
    "kmod",
    "initramfs-tools",
    // The initramfs scripts (mdadm's among them) expect busybox's rm and friends.
    "busybox",
    // Not zfs-zed: it depends on zfs-modules | zfs-dkms, and the guest must not build modules.
    "zfsutils-linux",
    "nvme-cli",
    "smartmontools",
    "iproute2",
    "procps",
    "openssh-server",
    "nfs-kernel-server",
    "e2fsprogs",
    "util-linux",
    "gdisk",
    "fdisk",
    "lvm2",
    "mdadm",
    "cryptsetup-bin",
    "xfsprogs",
    "btrfs-progs",
    // The `content` kinds fat32, exfat and ntfs-in-gpt (mkfs.vfat, mkfs.exfat, mkntfs).
    "dosfstools",
    "exfatprogs",
    "ntfs-3g",
    "tar",
    "gzip",
];

const MIRROR_LINES: &[&str] = &[
    "deb http://deb.debian.org/debian bookworm main contrib",
    "deb http://deb.debian.org/debian bookworm-updates main contrib",
    "deb http://deb.debian.org/debian-security bookworm-security main contrib",
    "deb http://deb.debian.org/debian bookworm-backports main contrib",
];

/// The base tree for `kernel`, built with mmdebstrap unless cached. Returns the tree's path and
/// the key inputs it was made from.
pub fn ensure_base_tree(
    stages: &mut Stages,
    recipe_dir: &Path,
    kernel: &GuestKernel,
) -> Result<(PathBuf, String)> {
    let preferences = recipe_dir.join("apt-preferences");
    let inputs = key_inputs(recipe_dir, kernel)?;
    let dir = crate::util::cache_root()
        .join("guest")
        .join(format!("base-{}", cache_key(&inputs)));
    let tree = dir.join("tree");
    let inputs_file = dir.join("key-inputs.txt");
    if std::fs::read_to_string(&inputs_file).is_ok_and(|s| s == inputs) && tree.is_dir() {
        crate::guest::mark_used(&dir);
        eprintln!("xtask: base tree is cached: {}", tree.display());
        return Ok((tree, inputs));
    }
    if dir.exists() {
        std::fs::remove_dir_all(&dir)
            .with_context(|| format!("could not remove the stale {}", dir.display()))?;
    }
    std::fs::create_dir_all(&dir).with_context(|| format!("could not create {}", dir.display()))?;
    eprintln!("xtask: building the guest's Debian root tree with mmdebstrap (a few minutes)");
    stages.time("mmdebstrap base tree", || {
        mmdebstrap(&tree, &preferences, &kernel.release)
    })?;
    check_zfs_userland(&tree, kernel)?;
    // Written last: a tree without it is an interrupted build and is made again.
    std::fs::write(&inputs_file, &inputs)?;
    Ok((tree, inputs))
}

/// What the base tree is made from, one line each.
pub fn key_inputs(recipe_dir: &Path, kernel: &GuestKernel) -> Result<String> {
    let preferences = recipe_dir.join("apt-preferences");
    let prefs = std::fs::read(&preferences)
        .with_context(|| format!("could not read {}", preferences.display()))?;
    let mut text = String::new();
    writeln!(
        text,
        "recipe qemu-tests/guest/apt-preferences sha256={}",
        cache_key(&prefs)
    )?;
    writeln!(
        text,
        "source xtask/src/guest/tree.rs sha256={}",
        cache_key(include_str!("tree.rs"))
    )?;
    writeln!(text, "kernel-release {}", kernel.release)?;
    writeln!(
        text,
        "linux-headers-{} {}",
        kernel.release, kernel.package_version
    )?;
    writeln!(text, "zfs-dkms {}", kernel.zfs_dkms_version)?;
    writeln!(text, "guest-packages {}", GUEST_PACKAGES.join(","))?;
    Ok(text)
}

fn mmdebstrap(tree: &Path, preferences: &Path, kernel_release: &str) -> Result<()> {
    let mut include: Vec<String> = GUEST_PACKAGES.iter().map(|s| s.to_string()).collect();
    include.push(format!("linux-image-{kernel_release}"));
    run_logged(
        Command::new("mmdebstrap")
            .args([
                "--variant=minbase",
                "--mode=root",
                "--architectures=amd64",
                "--components=main,contrib",
            ])
            .arg("--aptopt=APT::Install-Recommends \"false\"")
            .arg("--setup-hook=mkdir -p \"$1/etc/apt/preferences.d\"")
            .arg(format!(
                "--setup-hook=cp {} \"$1/etc/apt/preferences.d/phoenix\"",
                shell_quote(preferences)
            ))
            .arg(format!("--include={}", include.join(",")))
            // The image needs no package lists or downloaded .debs.
            .arg("--customize-hook=chroot \"$1\" apt-get clean")
            .arg("--customize-hook=rm -rf \"$1\"/var/lib/apt/lists/*")
            .arg("bookworm")
            .arg(tree)
            .args(MIRROR_LINES),
    )
}

/// zfs.ko comes from the host's zfs-dkms; the tools from the guest's zfsutils-linux. Different
/// versions would make every transcript a lie about OpenZFS, so refuse them here.
fn check_zfs_userland(tree: &Path, kernel: &GuestKernel) -> Result<()> {
    let guest_zfs = output(
        Command::new("dpkg-query")
            .arg(format!(
                "--admindir={}",
                tree.join("var/lib/dpkg").display()
            ))
            .args(["-W", "-f=${Version}", "zfsutils-linux"]),
    )?;
    if guest_zfs.trim() != kernel.zfs_dkms_version {
        bail!(
            "the guest got zfsutils-linux {} but the host built zfs.ko from zfs-dkms {}: userland \
             and module must match; run `apt-get update && apt-get install -t bookworm-backports \
             zfs-dkms` and retry",
            guest_zfs.trim(),
            kernel.zfs_dkms_version
        );
    }
    Ok(())
}

fn shell_quote(path: &Path) -> String {
    format!("'{}'", path.display().to_string().replace('\'', "'\\''"))
}
