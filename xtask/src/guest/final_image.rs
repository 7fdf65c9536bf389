//! The guest as the QEMU scenarios boot it: the cached base image (`cargo xtask guest`) plus the
//! binary under test, the project's first-boot unit and the scenario helpers, written into a copy
//! of root.img with debugfs (no mount, no loop device). Cached by the digest of what goes in, so a
//! rebuilt binary costs seconds, not a new image.

use crate::guest::{self, cache_key, GuestImage};
use crate::util::{cache_root, output_logged, run, run_logged, workspace_root};
use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};
use std::process::Command;

/// (file on the host, path in the guest, mode)
fn payload(binary: &Path) -> Vec<(PathBuf, &'static str, u32)> {
    let root = workspace_root();
    let harness = |name: &str| root.join("qemu-tests/harness").join(name);
    vec![
        (binary.to_path_buf(), "/usr/local/sbin/phoenix-zfs", 0o755),
        // What `phx-install-hook` installs as the Proxmox installer would: the file
        // `cargo xtask hook` ships when it was built, else the binary itself (the bare form).
        (
            hook_file(binary),
            "/usr/local/lib/phx/proxmox-first-boot",
            0o755,
        ),
        (
            root.join("target/debug/pvesm-standin"),
            "/usr/local/bin/pvesm-standin",
            0o755,
        ),
        (
            harness("storage.cfg"),
            "/var/lib/pmxcfs-standin/storage.cfg",
            0o640,
        ),
        (
            harness("pmxcfs-standin.service"),
            "/etc/systemd/system/pmxcfs-standin.service",
            0o644,
        ),
        (
            harness("rescue-no-console.conf"),
            "/etc/systemd/system/rescue.service.d/no-console.conf",
            0o644,
        ),
        (
            harness("phx-net.service"),
            "/etc/systemd/system/phx-net.service",
            0o644,
        ),
        (
            harness("proxmox-first-boot-multi-user.service"),
            "/usr/lib/systemd/system/proxmox-first-boot-multi-user.service",
            0o644,
        ),
        // 25-late-route and 26-route-after-hook: installed, not enabled; the scenarios enable
        // phx-late-route.service or phx-no-route.service.
        (
            harness("phx-late-route.service"),
            "/etc/systemd/system/phx-late-route.service",
            0o644,
        ),
        (
            harness("phx-no-route.service"),
            "/etc/systemd/system/phx-no-route.service",
            0o644,
        ),
        (
            harness("phx-route-arrives.timer"),
            "/etc/systemd/system/phx-route-arrives.timer",
            0o644,
        ),
        (
            harness("phx-route-arrives.service"),
            "/etc/systemd/system/phx-route-arrives.service",
            0o644,
        ),
        (
            harness("phx-exports-or-deferred"),
            "/usr/local/sbin/phx-exports-or-deferred",
            0o755,
        ),
        (
            harness("phx-install-hook"),
            "/usr/local/sbin/phx-install-hook",
            0o755,
        ),
        (
            harness("phx-nfs-roundtrip"),
            "/usr/local/sbin/phx-nfs-roundtrip",
            0o755,
        ),
        (
            root.join("firstboot/phoenix-zfs-firstboot.service"),
            "/etc/systemd/system/phoenix-zfs-firstboot.service",
            0o644,
        ),
        (
            root.join("qemu-tests/harness/phx-model"),
            "/usr/local/sbin/phx-model",
            0o755,
        ),
        (
            root.join("qemu-tests/harness/after-firstboot.conf"),
            "/etc/systemd/system/phoenix-test-harness.service.d/after-firstboot.conf",
            0o644,
        ),
    ]
}

/// (link in the guest, what it points to): `pvesm` is the stand-in (named so in its own help),
/// and the test network is up on every boot.
const SYMLINKS: &[(&str, &str)] = &[
    ("/usr/local/sbin/pvesm", "/usr/local/bin/pvesm-standin"),
    (
        "/etc/systemd/system/multi-user.target.wants/phx-net.service",
        "/etc/systemd/system/phx-net.service",
    ),
    (
        "/etc/systemd/system/network-online.target.wants/phx-net.service",
        "/etc/systemd/system/phx-net.service",
    ),
    (
        "/etc/systemd/system/multi-user.target.wants/pmxcfs-standin.service",
        "/etc/systemd/system/pmxcfs-standin.service",
    ),
];

/// Empty directories the scenarios need: the mount point of the pmxcfs stand-in.
const EMPTY_DIRS: &[&str] = &["/etc/pve"];

fn hook_file(binary: &Path) -> PathBuf {
    let hook = binary.with_file_name("proxmox-first-boot");
    if hook.is_file() {
        hook
    } else {
        binary.to_path_buf()
    }
}

/// Builds the pvesm stand-in for the guest (same Debian release as the host, so the host's
/// glibc build runs there).
pub fn build_pvesm_standin() -> Result<()> {
    run(Command::new(env!("CARGO"))
        .args(["build", "--quiet", "-p", "pvesm-standin"])
        .current_dir(workspace_root()))
}

/// udev's NVMe rule sets ID_MODEL from the controller and names the by-id link from it in the
/// same file; the copy in /etc (which overrides /usr/lib) asks phx-model right after, so the
/// link carries the scenario's model.
fn patched_storage_rules(original: &str) -> Result<String> {
    let anchor = "ATTRS{model}==\"?*\",        ENV{ID_MODEL}=\"$attr{model}\"";
    if !original.contains(anchor) {
        bail!("60-persistent-storage.rules has no NVMe model line to hook phx-model after; udev changed?");
    }
    let hook = format!("{anchor}\nKERNEL==\"nvme*[0-9]n*[0-9]\", ENV{{ID_SERIAL_SHORT}}==\"?*\", IMPORT{{program}}=\"/usr/local/sbin/phx-model $env{{ID_SERIAL_SHORT}}\"");
    Ok(original.replacen(anchor, &hook, 1))
}

fn debugfs(image: &Path, command: &str) -> Result<String> {
    output_logged(
        Command::new("debugfs")
            .args(["-w", "-R", command])
            .arg(image),
    )
}

pub fn ensure_image_with(binary: &Path) -> Result<GuestImage> {
    ensure_image_in("guest-final", binary)
}

/// [`ensure_image_with`] in its own cache directory `slot`: a task that boots its own binary
/// (bench-guest) must not replace the image a concurrent scenario run is still booting from.
pub fn ensure_image_in(slot: &str, binary: &Path) -> Result<GuestImage> {
    let base = guest::ensure_image()?;
    build_pvesm_standin()?;
    let mut inputs = format!("base {}\n", base.dir.display());
    for (file, target, mode) in payload(binary) {
        let bytes =
            std::fs::read(&file).with_context(|| format!("cannot read {}", file.display()))?;
        inputs.push_str(&format!("{target} {mode:o} sha256={}\n", cache_key(&bytes)));
    }
    for (link, target) in SYMLINKS {
        inputs.push_str(&format!("{link} -> {target}\n"));
    }
    for dir in EMPTY_DIRS {
        inputs.push_str(&format!("{dir}/\n"));
    }
    inputs.push_str(&format!(
        "source xtask/src/guest/final_image.rs sha256={}\n",
        cache_key(include_str!("final_image.rs"))
    ));
    let dir = cache_root().join(slot).join(cache_key(&inputs));
    let image = GuestImage {
        dir: dir.clone(),
        root_img: dir.join("root.img"),
        ..base.clone()
    };
    if std::fs::read_to_string(dir.join("key-inputs.txt")).is_ok_and(|s| s == inputs)
        && image.root_img.is_file()
    {
        return Ok(image);
    }
    // A few final images at most: they differ only in the binary and each takes about 500 MB,
    // but a run in another worktree may still be booting the one before.
    prune_final_images(slot, KEEP_FINAL_IMAGES - 1);
    std::fs::create_dir_all(&dir)?;
    let building = dir.join("root.img.building");
    run(Command::new("cp")
        .args(["--sparse=always", "--reflink=auto"])
        .arg(&base.root_img)
        .arg(&building))?;
    for (file, target, mode) in payload(binary) {
        if let Some(parent) = Path::new(target).parent() {
            // Fails harmlessly when the directory exists.
            let _ = debugfs(&building, &format!("mkdir {}", parent.display()));
        }
        let _ = debugfs(&building, &format!("rm {target}"));
        debugfs(&building, &format!("write {} {target}", file.display()))?;
        debugfs(
            &building,
            &format!("sif {target} mode 0{:o}", 0o100000 | mode),
        )?;
        // debugfs exits 0 whatever its command did: look for the file to know it is there.
        if !debugfs(&building, &format!("stat {target}"))?.contains("Inode:") {
            bail!("debugfs did not write {target} into {}", building.display());
        }
    }
    for dir in EMPTY_DIRS {
        let _ = debugfs(&building, &format!("mkdir {dir}"));
        if !debugfs(&building, &format!("stat {dir}"))?.contains("Type: directory") {
            bail!(
                "debugfs did not make the directory {dir} in {}",
                building.display()
            );
        }
    }
    for (link, target) in SYMLINKS {
        if let Some(parent) = Path::new(link).parent() {
            let _ = debugfs(&building, &format!("mkdir {}", parent.display()));
        }
        let _ = debugfs(&building, &format!("rm {link}"));
        debugfs(&building, &format!("symlink {link} {target}"))?;
        if !debugfs(&building, &format!("stat {link}"))?.contains("Type: symlink") {
            bail!(
                "debugfs did not make the link {link} in {}",
                building.display()
            );
        }
    }
    let rules = debugfs(
        &building,
        "cat /usr/lib/udev/rules.d/60-persistent-storage.rules",
    )?;
    let patched = dir.join("60-persistent-storage.rules");
    std::fs::write(&patched, patched_storage_rules(&rules)?)?;
    debugfs(
        &building,
        &format!(
            "write {} /etc/udev/rules.d/60-persistent-storage.rules",
            patched.display()
        ),
    )?;
    run_logged(Command::new("e2fsck").args(["-f", "-n"]).arg(&building))?;
    std::fs::rename(&building, &image.root_img)?;
    std::fs::write(dir.join("key-inputs.txt"), &inputs)?;
    eprintln!(
        "xtask: scenario image {} (base {})",
        dir.display(),
        base.dir.display()
    );
    Ok(image)
}

const KEEP_FINAL_IMAGES: usize = 3;

/// Removes all but the `keep` most recently made final images of a cache slot.
fn prune_final_images(slot: &str, keep: usize) {
    let Ok(entries) = std::fs::read_dir(cache_root().join(slot)) else {
        return;
    };
    let mut dirs: Vec<(std::time::SystemTime, PathBuf)> = entries
        .flatten()
        .filter_map(|e| Some((e.metadata().ok()?.modified().ok()?, e.path())))
        .collect();
    dirs.sort_by_key(|d| std::cmp::Reverse(d.0));
    for (_, old) in dirs.into_iter().skip(keep) {
        let _ = std::fs::remove_dir_all(old);
    }
}

/// Kernel arguments of one scenario boot: the drives' models for phx-model, and the first-boot
/// unit pulled in by systemd's debug generator when the boot asks for it.
pub fn scenario_kernel_args(models: &[(String, String)], firstboot_unit: bool) -> Vec<String> {
    let mut args: Vec<String> = models
        .iter()
        .map(|(s, m)| format!("phx.model={s}:{}", m.replace(' ', "%20")))
        .collect();
    if firstboot_unit {
        args.push("systemd.wants=phoenix-zfs-firstboot.service".into());
    }
    args
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn models_travel_on_the_kernel_command_line_without_spaces() {
        let args = scenario_kernel_args(
            &[("S2TA0001".into(), "Samsung SSD 990 EVO Plus 2TB".into())],
            true,
        );
        assert_eq!(
            args,
            [
                "phx.model=S2TA0001:Samsung%20SSD%20990%20EVO%20Plus%202TB",
                "systemd.wants=phoenix-zfs-firstboot.service"
            ]
        );
    }

    #[test]
    fn the_model_hook_goes_right_after_udevs_model_line() {
        let rules = "ATTRS{serial}==\"?*\",       ENV{ID_SERIAL_SHORT}=\"$attr{serial}\"\nATTRS{model}==\"?*\",        ENV{ID_MODEL}=\"$attr{model}\"\nENV{ID_WWN}==\"?*\", SYMLINK+=\"x\"\n";
        let patched = patched_storage_rules(rules).unwrap();
        let lines: Vec<&str> = patched.lines().collect();
        assert!(lines[2].contains("phx-model"), "{patched}");
        assert!(patched_storage_rules("nothing").is_err());
    }
}
