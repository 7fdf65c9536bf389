//! The host side of the guest build: Debian packages from bookworm-backports, the guest kernel's
//! version, and the OpenZFS kernel modules that dkms builds for that kernel.
//!
//! The host itself never loads these modules (it has no /lib/modules of its own); they are copied
//! into the guest's root tree.

use crate::apt::{self, Want};
use crate::util::{output, run_logged};
use anyhow::{Context, Result};
use std::path::{Path, PathBuf};
use std::process::Command;

const BACKPORTS: &str = "bookworm-backports";
const SOURCES_FILE: &str = "/etc/apt/sources.list.d/phoenix-backports.sources";
const SOURCES: &str = "\
# Written by `cargo xtask guest`: OpenZFS 2.3, Linux 6.12 and QEMU 10 for the test guest.
Types: deb
URIs: http://deb.debian.org/debian
Suites: bookworm-backports
Components: main contrib
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
";

/// Tools the build and the runner call; kernel headers and zfs-dkms are added once the kernel
/// version is known.
const TOOLS: &[&str] = &[
    "qemu-system-x86",
    "qemu-utils",
    "mmdebstrap",
    "e2fsprogs",
    "dkms",
    "tar",
    "gzip",
    // The QEMU scenarios: sfdisk writes GPT contents, ssh-keygen checks manifest signatures.
    "fdisk",
    "openssh-client",
];

/// What the guest will run, as resolved on this host.
#[derive(Debug, Clone)]
pub struct GuestKernel {
    /// The kernel release, e.g. `6.12.43+deb12-amd64` (the `uname -r` inside the guest).
    pub release: String,
    /// Debian version of linux-headers-<release> (the same source as the guest's linux-image).
    pub package_version: String,
    /// Debian version of zfs-dkms the modules were built from.
    pub zfs_dkms_version: String,
    /// zfs.ko / spl.ko (possibly .ko.xz) as dkms installed them for `release`.
    pub zfs_modules: Vec<PathBuf>,
}

/// Makes sure every host package is installed and the ZFS modules exist for the current
/// backports kernel. A host that already has all of it, with lists younger than a day, does no
/// apt work at all.
pub fn prepare() -> Result<GuestKernel> {
    if write_sources_file()? {
        apt::refresh(&format!("{SOURCES_FILE} was just written"))?;
    } else if !backports_lists_present()? {
        apt::refresh("the lists have no bookworm-backports contrib index")?;
    } else {
        // The kernel release comes from the lists and mmdebstrap fetches that very kernel from
        // the mirror, which keeps only the current one: old lists name a kernel that is gone.
        apt::refresh_if_stale()?;
    }
    let release = match resolve_kernel_release() {
        Ok(release) => release,
        Err(_) => {
            apt::refresh_once("apt knows no bookworm-backports kernel")?;
            resolve_kernel_release()?
        }
    };
    eprintln!("xtask: guest kernel: {release}");

    let headers = format!("linux-headers-{release}");
    let headers_package = [headers.as_str()];
    apt::ensure(
        &[Want::any(TOOLS), Want::any(&headers_package)],
        Some(BACKPORTS),
    )?;
    // zfs-dkms goes in separately, after the headers, so that its postinst finds the kernel to
    // build for.
    if apt::installed_version("zfs-dkms").is_none() {
        eprintln!(
            "xtask: zfs-dkms builds OpenZFS for {release} as it installs (about 5 minutes on 2 cores)"
        );
    }
    apt::ensure(&[Want::any(&["zfs-dkms"])], Some(BACKPORTS))?;

    let package_version = apt::require_installed(&headers)?;
    let zfs_dkms_version = apt::require_installed("zfs-dkms")?;
    let zfs_modules = ensure_zfs_modules(&release, &zfs_dkms_version)?;
    Ok(GuestKernel {
        release,
        package_version,
        zfs_dkms_version,
        zfs_modules,
    })
}

/// Returns true when the file had to be (re)written.
fn write_sources_file() -> Result<bool> {
    if std::fs::read_to_string(SOURCES_FILE).ok().as_deref() == Some(SOURCES) {
        return Ok(false);
    }
    std::fs::write(SOURCES_FILE, SOURCES)
        .with_context(|| format!("could not write {SOURCES_FILE} (the guest build needs root)"))?;
    eprintln!("xtask: wrote {SOURCES_FILE}");
    Ok(true)
}

fn backports_lists_present() -> Result<bool> {
    let lists =
        std::fs::read_dir("/var/lib/apt/lists").context("could not read /var/lib/apt/lists")?;
    let found = lists.filter_map(|e| e.ok()).any(|e| {
        let name = e.file_name().to_string_lossy().into_owned();
        name.contains("bookworm-backports_contrib_binary-amd64_Packages")
    });
    Ok(found)
}

/// The kernel release that bookworm-backports' linux-image-amd64 currently points at.
fn resolve_kernel_release() -> Result<String> {
    let text = output(Command::new("apt-cache").args([
        "depends",
        "-t",
        "bookworm-backports",
        "linux-image-amd64",
    ]))?;
    parse_kernel_release(&text).with_context(|| {
        format!("`apt-cache depends -t bookworm-backports linux-image-amd64` named no linux-image-* package:\n{text}")
    })
}

fn parse_kernel_release(depends: &str) -> Option<String> {
    depends.lines().find_map(|line| {
        let name = line.trim().strip_prefix("Depends:")?.trim();
        let release = name.strip_prefix("linux-image-")?;
        let plausible = release.chars().next().is_some_and(|c| c.is_ascii_digit())
            && release
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "+-.~_".contains(c));
        plausible.then(|| release.to_string())
    })
}

/// dkms keeps the module version as the upstream part of the Debian version (2.3.2-2~bpo12+1 -> 2.3.2).
fn dkms_module_version(debian_version: &str) -> &str {
    let no_epoch = debian_version
        .split_once(':')
        .map_or(debian_version, |(_, v)| v);
    no_epoch
        .rsplit_once('-')
        .map_or(no_epoch, |(upstream, _)| upstream)
}

fn ensure_zfs_modules(release: &str, zfs_dkms_version: &str) -> Result<Vec<PathBuf>> {
    let dir = PathBuf::from(format!("/usr/lib/modules/{release}/updates/dkms"));
    if let Some(found) = find_zfs_modules(&dir) {
        return Ok(found);
    }
    let module = format!("zfs/{}", dkms_module_version(zfs_dkms_version));
    eprintln!("xtask: building {module} for {release} with dkms (about 5 minutes on 2 cores)");
    run_logged(Command::new("dkms").args(["install", "--force", &module, "-k", release]))?;
    find_zfs_modules(&dir).with_context(|| {
        format!("dkms reported success but {} holds no zfs.ko and spl.ko; see /var/lib/dkms/zfs/*/build/make.log", dir.display())
    })
}

fn find_zfs_modules(dir: &Path) -> Option<Vec<PathBuf>> {
    let entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .ok()?
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .collect();
    let pick = |stem: &str| {
        entries
            .iter()
            .find(|p| {
                p.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.starts_with(&format!("{stem}.ko")))
            })
            .cloned()
    };
    Some(vec![pick("spl")?, pick("zfs")?])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kernel_release_from_apt_cache_depends() {
        let text = "linux-image-amd64\n  Depends: linux-image-6.12.43+deb12-amd64\n";
        assert_eq!(
            parse_kernel_release(text).as_deref(),
            Some("6.12.43+deb12-amd64")
        );
        assert_eq!(parse_kernel_release("linux-image-amd64\n"), None);
        assert_eq!(
            parse_kernel_release("  Depends: linux-image-$(rm -rf /)\n"),
            None
        );
    }

    #[test]
    fn dkms_version_drops_epoch_and_debian_revision() {
        assert_eq!(dkms_module_version("2.3.2-2~bpo12+1"), "2.3.2");
        assert_eq!(dkms_module_version("1:2.3.2-2"), "2.3.2");
        assert_eq!(dkms_module_version("2.3.2"), "2.3.2");
    }
}
