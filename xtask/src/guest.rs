//! `cargo xtask guest`: the QEMU guest (Debian bookworm + backports kernel + OpenZFS 2.3), built
//! once and cached under `cache_root()/guest/<key>/`, where the key covers everything the image is
//! made from. A second run with the same inputs only checks the host and prints the paths.

use crate::guest_tree;
use crate::host_packages::{self, GuestKernel};
use crate::util::{cache_root, run, workspace_root};
use anyhow::{bail, Context, Result};
use sha2::{Digest, Sha256};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

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
#[derive(Default)]
pub struct Stages(Vec<(&'static str, Duration)>);

impl Stages {
    pub fn time<T>(&mut self, name: &'static str, f: impl FnOnce() -> Result<T>) -> Result<T> {
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
    let mut stages = Stages::default();
    let kernel = stages.time("host packages and zfs modules", host_packages::prepare)?;
    let recipe_dir = workspace_root().join("qemu-tests/guest");
    let inputs = image_key_inputs(&recipe_dir, &kernel)?;
    let guest_root = cache_root().join("guest");
    let key = cache_key(&inputs);
    let dir = guest_root.join(&key);
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

    let (base_tree, _) = guest_tree::ensure_base_tree(&mut stages, &recipe_dir, &kernel)?;
    let building = guest_root.join(format!("{key}.building"));
    if building.exists() {
        std::fs::remove_dir_all(&building)
            .with_context(|| format!("could not remove {}", building.display()))?;
    }
    std::fs::create_dir_all(&building)
        .with_context(|| format!("could not create {}", building.display()))?;
    let tree = building.join("tree");
    stages.time("copy base tree", || {
        run(Command::new("cp")
            .args(["-a", "--reflink=auto"])
            .arg(&base_tree)
            .arg(&tree))
    })?;
    stages.time("customize tree", || customize(&tree, &recipe_dir, &kernel))?;
    stages.time("mke2fs root.img", || {
        let boot = tree.join("boot");
        std::fs::copy(
            boot.join(format!("vmlinuz-{}", kernel.release)),
            building.join("vmlinuz"),
        )?;
        std::fs::copy(
            boot.join(format!("initrd.img-{}", kernel.release)),
            building.join("initrd.img"),
        )?;
        run(Command::new("mke2fs")
            .args(["-q", "-t", "ext4", "-L", "root", "-d"])
            .arg(&tree)
            .arg(building.join("root.img"))
            .arg(ROOT_IMAGE_SIZE))
    })?;
    std::fs::remove_dir_all(&tree)
        .with_context(|| format!("could not remove {}", tree.display()))?;
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

/// Everything the image is made from, one line each: the base tree's inputs, the recipe files,
/// and the build code. Its sha256 is the cache key.
fn image_key_inputs(recipe_dir: &Path, kernel: &GuestKernel) -> Result<String> {
    let mut text = guest_tree::key_inputs(recipe_dir, kernel)?;
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
            cache_key(&bytes)
        )?;
    }
    for (name, source) in [
        ("xtask/src/guest.rs", include_str!("guest.rs")),
        (
            "xtask/src/host_packages.rs",
            include_str!("host_packages.rs"),
        ),
    ] {
        writeln!(text, "source {name} sha256={}", cache_key(source))?;
    }
    writeln!(
        text,
        "zfs-modules {}",
        kernel
            .zfs_modules
            .iter()
            .map(|p| p.display().to_string())
            .collect::<Vec<_>>()
            .join(" ")
    )?;
    Ok(text)
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
    Ok(())
}

/// Lower-case hex sha256 of `data`, shortened to 16 digits: enough to tell builds apart, short
/// enough for a directory name.
pub fn cache_key(data: impl AsRef<[u8]>) -> String {
    let digest = Sha256::digest(data.as_ref());
    digest[..8].iter().fold(String::new(), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}
