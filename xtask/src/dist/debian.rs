//! The Debian route: Debian's own Rust (rustc-web with its std sources; 1.92 or later for
//! `-Cpanic=immediate-abort`, bookworm-security has 1.96) builds std for musl,
//! and links against a small directory of musl start files, libc.a, gcc's crtbegin/crtend and a
//! patched LLVM libunwind.a, because Debian's compiler ships none of them for the musl target.
//! Everything comes from Debian packages, the one source promised to be reachable.

use super::{SizeOptions, BUILD_ARGS, IMMEDIATE_ABORT_SINCE, MUSL_TARGET};
use crate::apt;
use crate::util::{self, cache_root, run};
use anyhow::{bail, Context, Result};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Installed and upgraded in one apt command so that rustc, cargo and the std sources are the
/// same release.
const RUST_PACKAGES: [&str; 3] = ["rustc-web", "cargo-web", "rust-web-src"];
/// The workspace's `rust-version`: below it nothing builds, whatever the options.
pub const RUST_VERSION_FLOOR: &str = "1.85";
const UNWIND_PACKAGE: &str = "libunwind-16-dev";
/// libunwind-16-dev declares a conflict with this one; where it is installed we unpack instead.
const CONFLICTING_UNWIND_PACKAGE: &str = "libunwind-dev";
const UNWIND_ARCHIVE: &str = "usr/lib/llvm-16/lib/libunwind.a";
const MUSL_LIB_DIR: &str = "/usr/lib/x86_64-linux-musl";
const MUSL_OBJECTS: [&str; 6] = ["crt1.o", "rcrt1.o", "Scrt1.o", "crti.o", "crtn.o", "libc.a"];
const GCC_OBJECTS: [&str; 5] = [
    "crtbegin.o",
    "crtbeginS.o",
    "crtbeginT.o",
    "crtend.o",
    "crtendS.o",
];
/// Bumped whenever the recipe of the link directory changes, so old caches are not reused.
const LINK_DIR_RECIPE: &str = "r1";

/// LLVM's libunwind.a in Debian was built against glibc with fortify, so it calls `__fprintf_chk`,
/// which musl does not have. Its debug logging is the only caller; forwarding to vfprintf is exact.
const FPRINTF_CHK_SHIM: &str = r#"#include <stdarg.h>
#include <stdio.h>
int __fprintf_chk(FILE *stream, int flag, const char *format, ...) {
    (void)flag;
    va_list args;
    va_start(args, format);
    int written = vfprintf(stream, format, args);
    va_end(args);
    return written;
}
"#;

pub struct DebianToolchain {
    pub rustc_version: String,
    link_dir: PathBuf,
}

impl DebianToolchain {
    pub fn describe(&self) -> String {
        format!(
            "Debian {} with build-std, link dir {}",
            self.rustc_version,
            self.link_dir.display()
        )
    }
}

/// Installs what is missing, upgrades a Debian Rust too old for the size options, and returns
/// the toolchain with its cached link dir.
pub fn prepare() -> Result<DebianToolchain> {
    let unwind_conflicts = apt::installed_version(CONFLICTING_UNWIND_PACKAGE).is_some();
    let mut wants = vec![
        apt::Want {
            packages: &RUST_PACKAGES,
            minimum: Some(RUST_VERSION_FLOOR),
            preferred: Some(IMMEDIATE_ABORT_SINCE),
        },
        apt::Want::any(&["musl-tools"]),
    ];
    if !unwind_conflicts {
        wants.push(apt::Want::any(&[UNWIND_PACKAGE]));
    }
    for warning in apt::ensure(&wants, None)? {
        eprintln!("xtask: warning: {warning}");
    }
    let versions = RUST_PACKAGES
        .iter()
        .map(|package| Ok((*package, apt::require_installed(package)?)))
        .collect::<Result<Vec<_>>>()?;
    if versions
        .iter()
        .any(|(_, version)| *version != versions[0].1)
    {
        let listed: Vec<String> = versions.iter().map(|(p, v)| format!("{p} {v}")).collect();
        bail!(
            "Debian's Rust packages are at different versions ({}); build-std needs the std sources of \
             the very compiler. Run `apt-get install {}` to bring them to one release.",
            listed.join(", "),
            RUST_PACKAGES.join(" ")
        );
    }
    let unwind = if unwind_conflicts {
        unpacked_unwind()?
    } else {
        installed_unwind()?
    };
    let gcc_dir = gcc_object_dir()?;
    let key = link_dir_key(&[
        owning_package(&Path::new(MUSL_LIB_DIR).join("libc.a"))?,
        owning_package(&gcc_dir.join("crtbegin.o"))?,
        unwind.package_version.clone(),
        format!("musl-tools={}", apt::require_installed("musl-tools")?),
    ]);
    let link_dir = cache_root().join(format!("musl-{key}"));
    if link_dir.join("libunwind.a").is_file() {
        eprintln!("xtask: reusing musl link dir {}", link_dir.display());
    } else {
        build_link_dir(&link_dir, &gcc_dir, &unwind.archive)?;
    }
    let rustc_version = util::output(Command::new("/usr/bin/rustc").arg("--version"))?
        .trim()
        .to_string();
    Ok(DebianToolchain {
        rustc_version,
        link_dir,
    })
}

/// Builds the phoenix-zfs binary and returns where cargo put it.
pub fn build(toolchain: &DebianToolchain, workspace: &Path, size: &SizeOptions) -> Result<PathBuf> {
    let target_dir = workspace.join("target/musl-debian");
    let mut rustflags = format!("-L native={}", toolchain.link_dir.display());
    for flag in size.rustflags() {
        rustflags.push(' ');
        rustflags.push_str(flag);
    }
    let mut cargo = Command::new("/usr/bin/cargo");
    cargo
        .current_dir(workspace)
        // /usr/bin/cargo would otherwise run rustup's rustc found first on PATH.
        .env("RUSTC", "/usr/bin/rustc")
        .env("RUSTDOC", "/usr/bin/rustdoc")
        // build-std and the size options are unstable; Debian ships no nightly.
        .env("RUSTC_BOOTSTRAP", "1")
        .env(
            "CARGO_TARGET_X86_64_UNKNOWN_LINUX_MUSL_RUSTFLAGS",
            rustflags,
        )
        .env("CC_x86_64_unknown_linux_musl", "musl-gcc")
        .args(BUILD_ARGS)
        .args(["--target", MUSL_TARGET, "--target-dir"])
        .arg(&target_dir)
        .args(["-Z", "build-std=std,panic_abort"]);
    if let Some(features) = size.build_std_features() {
        cargo.args(["-Z", &format!("build-std-features={features}")]);
    }
    super::clear_inherited_rust_env(&mut cargo);
    super::show_build_env(&cargo);
    eprintln!(
        "xtask: building the static binary with {} (std from source: a few minutes the first time)",
        toolchain.rustc_version
    );
    util::run_logged(&mut cargo)?;
    Ok(target_dir.join(MUSL_TARGET).join("release/phoenix-zfs"))
}

struct UnwindSource {
    archive: PathBuf,
    package_version: String,
}

fn installed_unwind() -> Result<UnwindSource> {
    Ok(UnwindSource {
        archive: Path::new("/").join(UNWIND_ARCHIVE),
        package_version: format!(
            "{UNWIND_PACKAGE}={}",
            apt::require_installed(UNWIND_PACKAGE)?
        ),
    })
}

/// With libunwind-dev installed, libunwind-16-dev cannot be: fetch its .deb and unpack it under
/// the cache instead, once per candidate version.
fn unpacked_unwind() -> Result<UnwindSource> {
    let candidate = candidate_version(UNWIND_PACKAGE)?;
    let unpacked = cache_root()
        .join("debs")
        .join(format!("{UNWIND_PACKAGE}_{}", sanitize(&candidate)));
    let archive = unpacked.join(UNWIND_ARCHIVE);
    if !archive.is_file() {
        eprintln!(
            "xtask: {CONFLICTING_UNWIND_PACKAGE} is installed and conflicts with {UNWIND_PACKAGE}; \
             unpacking {UNWIND_PACKAGE} {candidate} under {}",
            unpacked.display()
        );
        let download_dir = sibling(&unpacked, "download");
        let _ = fs::remove_dir_all(&download_dir);
        fs::create_dir_all(&download_dir)
            .with_context(|| format!("could not create {}", download_dir.display()))?;
        util::run_logged(
            Command::new("apt-get")
                .current_dir(&download_dir)
                // apt drops to its _apt user by default, and that user cannot write the cache.
                .args(["download", "-o", "APT::Sandbox::User=root", UNWIND_PACKAGE]),
        )?;
        let deb = fs::read_dir(&download_dir)?
            .filter_map(|entry| entry.ok().map(|entry| entry.path()))
            .find(|path| path.extension().is_some_and(|ext| ext == "deb"))
            .with_context(|| {
                format!(
                    "apt-get download left no .deb in {}",
                    download_dir.display()
                )
            })?;
        run(Command::new("dpkg-deb").arg("-x").arg(&deb).arg(&unpacked))?;
        fs::remove_dir_all(&download_dir).ok();
        if !archive.is_file() {
            bail!("{} does not contain {UNWIND_ARCHIVE}", deb.display());
        }
    }
    Ok(UnwindSource {
        archive,
        package_version: format!("{UNWIND_PACKAGE}={candidate}"),
    })
}

fn candidate_version(package: &str) -> Result<String> {
    let policy = util::output(
        Command::new("apt-cache")
            .args(["policy", package])
            .env("LC_ALL", "C"),
    )?;
    policy
        .lines()
        .find_map(|line| line.trim().strip_prefix("Candidate:"))
        .map(|version| version.trim().to_string())
        .filter(|version| version != "(none)")
        .with_context(|| format!("apt knows no candidate for {package}; run `apt-get update`"))
}

/// `package=version` of the Debian package that owns `path`.
fn owning_package(path: &Path) -> Result<String> {
    let owner = util::output(Command::new("dpkg-query").arg("-S").arg(path))?;
    let package = owner
        .lines()
        .next()
        .and_then(|line| line.split_once(": "))
        .map(|(package, _)| {
            package
                .split(':')
                .next()
                .unwrap_or(package)
                .trim()
                .to_string()
        })
        .with_context(|| format!("dpkg-query -S printed no owner for {}", path.display()))?;
    Ok(format!("{package}={}", apt::require_installed(&package)?))
}

fn gcc_object_dir() -> Result<PathBuf> {
    let libgcc = util::output(Command::new("gcc").arg("-print-libgcc-file-name"))?;
    let dir = Path::new(libgcc.trim()).parent().map(Path::to_path_buf);
    dir.filter(|dir| dir.join("crtbegin.o").is_file())
        .with_context(|| {
            format!(
                "gcc's libgcc `{}` has no crtbegin.o beside it",
                libgcc.trim()
            )
        })
}

/// A directory name that says which package versions the link dir came from.
fn link_dir_key(package_versions: &[String]) -> String {
    let mut key = String::from(LINK_DIR_RECIPE);
    for package_version in package_versions {
        key.push('_');
        key.push_str(&sanitize(package_version));
    }
    key
}

/// `dir.suffix` beside `dir` (not `with_extension`: version numbers in the name hold dots).
fn sibling(dir: &Path, suffix: &str) -> PathBuf {
    let mut name = dir.file_name().unwrap_or_default().to_os_string();
    name.push(".");
    name.push(suffix);
    dir.with_file_name(name)
}

fn sanitize(text: &str) -> String {
    text.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '+' | '~' | '-' | '=') {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// Built beside its final place and renamed into it, so an interrupted run never leaves a
/// half-made directory that a later run would take as complete.
fn build_link_dir(link_dir: &Path, gcc_dir: &Path, unwind_archive: &Path) -> Result<()> {
    eprintln!("xtask: building musl link dir {}", link_dir.display());
    let partial = sibling(link_dir, &format!("partial-{}", std::process::id()));
    let _ = fs::remove_dir_all(&partial);
    fs::create_dir_all(&partial)
        .with_context(|| format!("could not create {}", partial.display()))?;
    let sources = MUSL_OBJECTS
        .iter()
        .map(|name| Path::new(MUSL_LIB_DIR).join(name))
        .chain(GCC_OBJECTS.iter().map(|name| gcc_dir.join(name)))
        .chain([unwind_archive.to_path_buf()]);
    for source in sources {
        let name = source.file_name().context("source path has no file name")?;
        fs::copy(&source, partial.join(name))
            .with_context(|| format!("could not copy {} into the link dir", source.display()))?;
    }
    let shim_source = partial.join("fprintf_chk.c");
    fs::write(&shim_source, FPRINTF_CHK_SHIM)?;
    let shim_object = partial.join("fprintf_chk.o");
    run(Command::new("musl-gcc")
        .args(["-c", "-O2", "-fPIC", "-o"])
        .arg(&shim_object)
        .arg(&shim_source))?;
    run(Command::new("ar")
        .arg("rs")
        .arg(partial.join("libunwind.a"))
        .arg(&shim_object))?;
    fs::remove_file(&shim_object)?;
    match fs::rename(&partial, link_dir) {
        Ok(()) => Ok(()),
        // Another run finished the same directory first; its copy is as good as ours.
        Err(_) if link_dir.join("libunwind.a").is_file() => {
            fs::remove_dir_all(&partial).ok();
            Ok(())
        }
        Err(err) => Err(err)
            .with_context(|| format!("could not move the link dir into {}", link_dir.display())),
    }
}
