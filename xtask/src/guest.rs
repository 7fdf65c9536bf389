//! `cargo xtask guest`: the QEMU guest (Debian bookworm + backports kernel + OpenZFS 2.3), built
//! once and cached under `cache_root()/guest/<key>/`, where the key covers everything the image is
//! made from. A second run with the same inputs only checks the host and prints the paths.

use crate::host_packages::{self, GuestKernel};
use crate::util::{cache_root, output, run, workspace_root};
use anyhow::{bail, Context, Result};
use sha2::{Digest, Sha256};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// Packages of the guest's root tree besides the kernel. zfsutils-linux without zfs-dkms: the
/// modules come from the host's dkms build.
const GUEST_PACKAGES: &[&str] = &[
    "systemd-sysv",
    "udev",
    "kmod",
    "initramfs-tools",
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
    "tar",
    "gzip",
    "xfsprogs",
    "btrfs-progs",
];

const MIRROR_LINES: &[&str] = &[
    "deb http://deb.debian.org/debian bookworm main contrib",
    "deb http://deb.debian.org/debian bookworm-updates main contrib",
    "deb http://deb.debian.org/debian-security bookworm-security main contrib",
    "deb http://deb.debian.org/debian bookworm-backports main contrib",
];

/// Recipe files copied into the tree: (file in qemu-tests/guest/, absolute path in the guest).
const RECIPE_PLACEMENT: &[(&str, &str)] = &[
    ("phx-harness", "/usr/local/sbin/phx-harness"),
    (
        "phoenix-test-harness.service",
        "/etc/systemd/system/phoenix-test-harness.service",
    ),
    (
        "61-phoenix-test-harness.rules",
        "/etc/udev/rules.d/61-phoenix-test-harness.rules",
    ),
    ("customize.sh", "/tmp/customize.sh"),
];

const ROOT_IMAGE_SIZE: &str = "3G";

/// A built guest: boot it with `kernel` + `initrd` and `root_img` as /dev/vda (never written to:
/// every boot uses an overlay).
#[derive(Debug, Clone)]
pub struct GuestImage {
    pub dir: PathBuf,
    pub kernel: PathBuf,
    pub initrd: PathBuf,
    pub root_img: PathBuf,
    pub kernel_release: String,
}

pub fn main(args: &[String]) -> Result<()> {
    if let Some(arg) = args.first() {
        bail!("`cargo xtask guest` takes no arguments, got `{arg}`");
    }
    let image = ensure_image()?;
    println!("guest image: {}", image.dir.display());
    println!(
        "  kernel {} ({})",
        image.kernel.display(),
        image.kernel_release
    );
    println!("  initrd {}", image.initrd.display());
    println!("  root   {}", image.root_img.display());
    Ok(())
}

/// Stage timings, printed as each stage ends so a slow build shows where the time goes.
struct Stages(Vec<(&'static str, Duration)>);

impl Stages {
    fn time<T>(&mut self, name: &'static str, f: impl FnOnce() -> Result<T>) -> Result<T> {
        let start = Instant::now();
        let value = f()?;
        let took = start.elapsed();
        eprintln!("xtask: stage {name}: {:.1} s", took.as_secs_f64());
        self.0.push((name, took));
        Ok(value)
    }

    fn summary(&self) -> String {
        let total: Duration = self.0.iter().map(|(_, d)| *d).sum();
        let parts: Vec<String> = self
            .0
            .iter()
            .map(|(n, d)| format!("{n} {:.1} s", d.as_secs_f64()))
            .collect();
        format!("{} (total {:.1} s)", parts.join(", "), total.as_secs_f64())
    }
}

/// Builds the guest unless the cache already holds one for the current inputs.
pub fn ensure_image() -> Result<GuestImage> {
    let mut stages = Stages(Vec::new());
    let kernel = stages.time("host packages and zfs modules", host_packages::prepare)?;
    let recipe_dir = workspace_root().join("qemu-tests/guest");
    let inputs = key_inputs(&recipe_dir, &kernel)?;
    let key = hex(&Sha256::digest(inputs.as_bytes()));
    let guest_root = cache_root().join("guest");
    let dir = guest_root.join(&key[..16]);
    let image = GuestImage {
        kernel: dir.join("vmlinuz"),
        initrd: dir.join("initrd.img"),
        root_img: dir.join("root.img"),
        kernel_release: kernel.release.clone(),
        dir: dir.clone(),
    };
    if cached(&dir, &inputs) {
        eprintln!(
            "xtask: guest image is cached: {} ({})",
            dir.display(),
            stages.summary()
        );
        return Ok(image);
    }

    let building = guest_root.join(format!("{}.building", &key[..16]));
    if building.exists() {
        std::fs::remove_dir_all(&building)
            .with_context(|| format!("could not remove {}", building.display()))?;
    }
    let tree = building.join("tree");
    std::fs::create_dir_all(&building)
        .with_context(|| format!("could not create {}", building.display()))?;
    stages.time("mmdebstrap root tree", || {
        mmdebstrap(&tree, &recipe_dir, &kernel.release)
    })?;
    stages.time("customize tree", || customize(&tree, &recipe_dir, &kernel))?;
    stages.time("mke2fs root.img", || {
        std::fs::copy(
            tree.join(format!("boot/vmlinuz-{}", kernel.release)),
            building.join("vmlinuz"),
        )?;
        std::fs::copy(
            tree.join(format!("boot/initrd.img-{}", kernel.release)),
            building.join("initrd.img"),
        )?;
        run(Command::new("mke2fs")
            .args(["-q", "-t", "ext4", "-L", "root", "-E", "nodiscard", "-d"])
            .arg(&tree)
            .arg(building.join("root.img"))
            .arg(ROOT_IMAGE_SIZE))?;
        std::fs::remove_dir_all(&tree)
            .with_context(|| format!("could not remove {}", tree.display()))
    })?;
    std::fs::write(building.join("key-inputs.txt"), &inputs)?;
    if dir.exists() {
        std::fs::remove_dir_all(&dir)
            .with_context(|| format!("could not replace {}", dir.display()))?;
    }
    std::fs::rename(&building, &dir)
        .with_context(|| format!("could not move the new image to {}", dir.display()))?;
    eprintln!(
        "xtask: built guest image {} ({})",
        dir.display(),
        stages.summary()
    );
    Ok(image)
}

fn cached(dir: &Path, inputs: &str) -> bool {
    let same_inputs =
        std::fs::read_to_string(dir.join("key-inputs.txt")).is_ok_and(|s| s == inputs);
    same_inputs
        && ["vmlinuz", "initrd.img", "root.img"]
            .iter()
            .all(|f| dir.join(f).is_file())
}

/// Everything the image is made from, one line each; its sha256 is the cache key.
fn key_inputs(recipe_dir: &Path, kernel: &GuestKernel) -> Result<String> {
    let mut text = String::new();
    let mut names: Vec<String> = std::fs::read_dir(recipe_dir)
        .with_context(|| {
            format!(
                "could not read the guest recipe in {}",
                recipe_dir.display()
            )
        })?
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    for name in names {
        let bytes = std::fs::read(recipe_dir.join(&name))?;
        writeln!(
            text,
            "recipe qemu-tests/guest/{name} sha256={}",
            hex(&Sha256::digest(&bytes))
        )?;
    }
    for (name, source) in [
        ("xtask/src/guest.rs", include_str!("guest.rs")),
        (
            "xtask/src/host_packages.rs",
            include_str!("host_packages.rs"),
        ),
    ] {
        writeln!(
            text,
            "source {name} sha256={}",
            hex(&Sha256::digest(source.as_bytes()))
        )?;
    }
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

fn mmdebstrap(tree: &Path, recipe_dir: &Path, kernel_release: &str) -> Result<()> {
    let preferences = recipe_dir.join("apt-preferences");
    let mut include: Vec<String> = GUEST_PACKAGES.iter().map(|s| s.to_string()).collect();
    include.push(format!("linux-image-{kernel_release}"));
    run(Command::new("mmdebstrap")
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
            shell_quote(&preferences)
        ))
        .arg(format!("--include={}", include.join(",")))
        .arg("bookworm")
        .arg(tree)
        .args(MIRROR_LINES))
}

fn customize(tree: &Path, recipe_dir: &Path, kernel: &GuestKernel) -> Result<()> {
    let module_dir = tree.join(format!("lib/modules/{}/updates/dkms", kernel.release));
    std::fs::create_dir_all(&module_dir)?;
    for module in &kernel.zfs_modules {
        let name = module
            .file_name()
            .context("module path without a file name")?;
        std::fs::copy(module, module_dir.join(name))
            .with_context(|| format!("could not copy {} into the guest tree", module.display()))?;
    }
    for (file, target) in RECIPE_PLACEMENT {
        let dest = tree.join(target.trim_start_matches('/'));
        if let Some(parent) = dest.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::copy(recipe_dir.join(file), &dest).with_context(|| {
            format!(
                "could not copy qemu-tests/guest/{file} to {}",
                dest.display()
            )
        })?;
    }
    run(Command::new("chroot")
        .arg(tree)
        .args(["/bin/sh", "/tmp/customize.sh", &kernel.release]))?;
    std::fs::remove_file(tree.join("tmp/customize.sh"))?;

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
            "the guest got zfsutils-linux {} but the host built zfs.ko from zfs-dkms {}: userland and \
             module must match; run `apt-get update && apt-get install -t bookworm-backports zfs-dkms` and retry",
            guest_zfs.trim(),
            kernel.zfs_dkms_version
        );
    }
    Ok(())
}

fn shell_quote(path: &Path) -> String {
    format!("'{}'", path.display().to_string().replace('\'', "'\\''"))
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().fold(String::new(), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}
