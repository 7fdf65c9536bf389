//! `cargo xtask guest`: the QEMU guest (Debian bookworm + backports kernel + OpenZFS 2.3), built
//! once and cached under `cache_root()/guest/<key>/`, where the key covers everything the image is
//! made from. A second run with the same inputs only checks the host and prints the paths.

pub mod final_image;
pub mod host_packages;
pub mod tree;

use crate::util::{cache_root, run, run_logged, workspace_root};
use anyhow::{Context, Result};
use host_packages::GuestKernel;
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

/// `cargo xtask guest`: builds the image, or finds it in the cache, and says where it is.
pub fn show_image() -> Result<()> {
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
        mark_used(&dir);
        eprintln!(
            "xtask: guest image is cached: {} ({})",
            dir.display(),
            stages.summary()
        );
        return Ok(image);
    }

    let (base_tree, _) = tree::ensure_base_tree(&mut stages, &recipe_dir, &kernel)?;
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
    stages.time("remove the tree copy", || {
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
    stages.time("prune old cache entries", || {
        prune(&guest_root);
        Ok(())
    })?;
    eprintln!(
        "xtask: built guest image {} ({})",
        dir.display(),
        stages.summary()
    );
    Ok(image)
}

/// How many images and base trees stay in the cache: enough for a few worktrees on one machine
/// to alternate without rebuilding, few enough that old builds do not fill the disk.
const KEEP_IMAGES: usize = 4;
const KEEP_BASE_TREES: usize = 2;

/// A cache entry's modification time records its last use; `prune` removes the least recent.
pub fn mark_used(dir: &Path) {
    if let Ok(handle) = std::fs::File::open(dir) {
        let _ = handle.set_modified(std::time::SystemTime::now());
    }
}

/// Removes all but the most recently used images and base trees, and builds that never finished.
pub fn prune(guest_root: &Path) {
    let Ok(entries) = std::fs::read_dir(guest_root) else {
        return;
    };
    let mut images = Vec::new();
    let mut bases = Vec::new();
    for entry in entries.filter_map(|e| e.ok()) {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Ok(modified) = entry.metadata().and_then(|m| m.modified()) else {
            continue;
        };
        if !entry.path().is_dir() {
            continue;
        }
        // A build in progress, or one that failed or was interrupted, has no key-inputs.txt
        // yet (or is still named *.building). Past a few hours nobody is writing it any more.
        let unfinished =
            name.ends_with(".building") || !entry.path().join("key-inputs.txt").is_file();
        if unfinished {
            let stale = std::time::SystemTime::now()
                .duration_since(modified)
                .is_ok_and(|age| age > Duration::from_secs(3 * 3600));
            if stale {
                eprintln!(
                    "xtask: removing the unfinished build {}",
                    entry.path().display()
                );
                let _ = std::fs::remove_dir_all(entry.path());
            }
            continue;
        }
        let list = if name.starts_with("base-") {
            &mut bases
        } else {
            &mut images
        };
        list.push((modified, entry.path()));
    }
    for (mut list, keep) in [(images, KEEP_IMAGES), (bases, KEEP_BASE_TREES)] {
        list.sort_by_key(|entry| std::cmp::Reverse(entry.0));
        for (_, path) in list.into_iter().skip(keep) {
            eprintln!("xtask: removing the old cache entry {}", path.display());
            let _ = std::fs::remove_dir_all(&path);
        }
    }
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
    let mut text = tree::key_inputs(recipe_dir, kernel)?;
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
        ("xtask/src/guest/mod.rs", include_str!("mod.rs")),
        (
            "xtask/src/guest/host_packages.rs",
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
    run_logged(Command::new("chroot").arg(tree).args([
        "/bin/sh",
        "/tmp/customize.sh",
        &kernel.release,
    ]))?;
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, SystemTime};

    fn entry(root: &Path, name: &str, finished: bool, age_hours: u64) {
        let dir = root.join(name);
        std::fs::create_dir_all(&dir).unwrap();
        if finished {
            std::fs::write(dir.join("key-inputs.txt"), name).unwrap();
        }
        let when = SystemTime::now() - Duration::from_secs(age_hours * 3600);
        std::fs::File::open(&dir)
            .unwrap()
            .set_modified(when)
            .unwrap();
    }

    #[test]
    fn prune_keeps_the_recently_used_and_builds_in_progress() {
        let root = std::env::temp_dir().join(format!("phx-prune-test-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        for (i, name) in ["img1", "img2", "img3", "img4", "img5", "img6"]
            .iter()
            .enumerate()
        {
            entry(&root, name, true, i as u64 + 1);
        }
        entry(&root, "base-new", true, 1);
        entry(&root, "base-mid", true, 2);
        entry(&root, "base-old", true, 3);
        entry(&root, "base-failed", false, 10);
        entry(&root, "base-running", false, 0);
        entry(&root, "img7.building", false, 0);
        prune(&root);
        let mut left: Vec<String> = std::fs::read_dir(&root)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        left.sort();
        let _ = std::fs::remove_dir_all(&root);
        assert_eq!(
            left,
            [
                "base-mid",
                "base-new",
                "base-running",
                "img1",
                "img2",
                "img3",
                "img4",
                "img7.building"
            ]
        );
    }

    #[test]
    fn cache_keys_are_16_hex_digits_of_sha256() {
        assert_eq!(cache_key(""), "e3b0c44298fc1c14");
        assert_eq!(cache_key("a").len(), 16);
    }
}
