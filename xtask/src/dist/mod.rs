//! `cargo xtask dist`: builds the static x86_64 musl phoenix-zfs into target/dist/phoenix-zfs,
//! proves it is static (`file`, `readelf`), checks it fits the Proxmox first-boot hook limit and
//! prints its size and sha256. BENCHMARKS.md ("Binary size") has the measurements behind the
//! default route and options.

mod debian;
mod elf_check;
mod rustup;

use crate::flags::{DistOptions, Route};
use crate::util::{self, workspace_root};
use anyhow::{bail, Context, Result};
use sha2::{Digest, Sha256};
use std::fs;
use std::path::Path;
use std::process::Command;

pub const MUSL_TARGET: &str = "x86_64-unknown-linux-musl";
/// FIRST_BOOT_EXEC_MAX_SIZE in proxmox-installer-common: the hook file handed to
/// `prepare-iso --on-first-boot` may be at most this long.
pub const FIRST_BOOT_HOOK_LIMIT: u64 = 1024 * 1024;
/// The first Rust release with `-Cpanic=immediate-abort` (rust-lang/rust#146317, merged in
/// September 2025, shipped in 1.92; 1.92's std refuses the old build-std feature and points at
/// the flag). Measured here: Debian's rustc-web 1.85 rejects the flag ("either `unwind` or
/// `abort` was expected"), rustup's 1.95 and Debian's 1.96 accept it.
pub const IMMEDIATE_ABORT_SINCE: &str = "1.92";
const IMMEDIATE_ABORT: &str = "-Cpanic=immediate-abort";
/// The cargo arguments that build the shipped binary, whichever the route.
const BUILD_ARGS: [&str; 6] = [
    "build",
    "--release",
    "-p",
    "phoenix-zfs",
    "--bin",
    "phoenix-zfs",
];

/// Size-related compiler options for the musl target.
#[derive(Debug, Clone)]
pub struct SizeOptions {
    std_features: Option<String>,
    rustflags: Vec<String>,
}

impl SizeOptions {
    /// The defaults of each route (BENCHMARKS.md has the measurements), then the user's changes.
    fn for_route(route: Route, overrides: &DistOptions) -> SizeOptions {
        // Non-PIE: 25 KB smaller than static-pie, at the price of a fixed load address.
        let static_executable = "-Crelocation-model=static";
        // Nothing unwinds when every crate aborts on panic, so the tables (15 % of phoenix-zfs)
        // are dead weight; only debuggers and backtraces would read them.
        let no_unwind_tables = "-Cforce-unwind-tables=no";
        // curve25519-dalek picks its AVX2 backend on x86-64, at run time, beside the portable
        // one: 20 KB of code to make the one manifest signature of a run faster.
        let serial_curve = ["--cfg", "curve25519_dalek_backend=\"serial\""];
        let flags = |list: &[&str]| {
            list.iter()
                .chain(&serial_curve)
                .map(|flag| flag.to_string())
                .collect()
        };
        let mut options = match route {
            // Each took the most off the dependency-set proxy (BENCHMARKS.md); immediate-abort
            // needs std built with it, which only build-std does.
            Route::Debian | Route::Auto => SizeOptions {
                std_features: Some("optimize_for_size".to_string()),
                rustflags: flags(&[
                    "-Zunstable-options",
                    IMMEDIATE_ABORT,
                    static_executable,
                    no_unwind_tables,
                ]),
            },
            // The prebuilt std fixes what std can be: only our crates' and the linker's options apply.
            Route::Rustup => SizeOptions {
                std_features: None,
                rustflags: flags(&[static_executable, no_unwind_tables]),
            },
        };
        if let Some(features) = &overrides.std_features {
            options.std_features = (features != "none").then(|| features.clone());
        }
        options.rustflags.extend(overrides.extra_rustflags());
        options
    }

    /// A compiler older than [`IMMEDIATE_ABORT_SINCE`] would refuse `-Cpanic=immediate-abort`:
    /// build with `-Cpanic=abort` instead (a larger binary, never a failed build) and return the
    /// warning that says so. `rustc_version` is what `rustc --version` printed.
    pub fn fit_compiler(&mut self, rustc_version: &str) -> Option<String> {
        if supports_immediate_abort(rustc_version)
            || !self.rustflags.iter().any(|flag| flag == IMMEDIATE_ABORT)
        {
            return None;
        }
        for flag in &mut self.rustflags {
            if flag == IMMEDIATE_ABORT {
                *flag = "-Cpanic=abort".to_string();
            }
        }
        Some(format!(
            "`{}` has no {IMMEDIATE_ABORT} (new in Rust {IMMEDIATE_ABORT_SINCE}): building with \
             -Cpanic=abort, which keeps the panic machinery and makes the binary larger. For the \
             smallest binary run `apt-get update && apt-get install rustc-web cargo-web \
             rust-web-src` and rebuild",
            rustc_version.trim()
        ))
    }

    pub fn rustflags(&self) -> Vec<&str> {
        self.rustflags.iter().map(String::as_str).collect()
    }

    pub fn build_std_features(&self) -> Option<&str> {
        self.std_features.as_deref()
    }

    /// `-Z` flags are unstable and need RUSTC_BOOTSTRAP on a stable compiler.
    pub fn needs_bootstrap(&self) -> bool {
        self.rustflags.iter().any(|flag| flag.starts_with("-Z"))
    }
}

/// Whether the compiler that printed `rustc_version` (`rustc 1.96.0 (hash date)`) knows
/// `-Cpanic=immediate-abort`; a line it cannot read counts as too old, since `-Cpanic=abort`
/// builds everywhere.
fn supports_immediate_abort(rustc_version: &str) -> bool {
    rustc_version
        .split_whitespace()
        .nth(1)
        .filter(|version| version.starts_with(|c: char| c.is_ascii_digit()))
        .is_some_and(|version| crate::apt::compare_versions(version, IMMEDIATE_ABORT_SINCE).is_ge())
}

/// `cargo xtask dist`.
pub fn build(options: &DistOptions) -> Result<()> {
    build_binary(options, false)
}

/// For `cargo xtask hook`, which ships the gzip wrapper when the bare binary does not fit and
/// says so itself: an oversized binary is neither an error nor worth a warning there.
pub fn build_for_hook(options: &DistOptions) -> Result<()> {
    build_binary(options, true)
}

fn build_binary(options: &DistOptions, hook_decides: bool) -> Result<()> {
    let workspace = workspace_root();
    let route = match options.route {
        Route::Auto => match rustup::prepare() {
            Ok(_) => Route::Rustup,
            Err(err) => {
                eprintln!(
                    "xtask: rustup route unavailable ({}); falling back to the Debian route",
                    phoenix_zfs::report::Report(err.as_ref())
                );
                Route::Debian
            }
        },
        chosen => chosen,
    };
    let size_options = SizeOptions::for_route(route, options);
    let (route_used, toolchain, built) = match route {
        Route::Rustup => rustup_build(&workspace, &size_options)?,
        Route::Debian | Route::Auto => debian_build(&workspace, &size_options)?,
    };
    let dist_dir = workspace.join("target/dist");
    fs::create_dir_all(&dist_dir)
        .with_context(|| format!("could not create {}", dist_dir.display()))?;
    let shipped = dist_dir.join("phoenix-zfs");
    let staged = dist_dir.join(".phoenix-zfs.partial");
    fs::copy(&built, &staged)
        .with_context(|| format!("could not copy {} to {}", built.display(), staged.display()))?;
    let kind = check_static(&staged).inspect_err(|_| {
        fs::remove_file(&staged).ok();
    })?;
    fs::rename(&staged, &shipped)
        .with_context(|| format!("could not move the binary to {}", shipped.display()))?;

    let bytes =
        fs::read(&shipped).with_context(|| format!("could not read {}", shipped.display()))?;
    let size = bytes.len() as u64;
    let sha256 = Sha256::digest(&bytes);
    let share = size as f64 * 100.0 / FIRST_BOOT_HOOK_LIMIT as f64;
    println!("dist: {}", shipped.display());
    println!("  route:    {route_used} ({toolchain})");
    println!("  kind:     {kind}");
    println!("  size:     {size} bytes ({share:.1} % of the {FIRST_BOOT_HOOK_LIMIT}-byte first-boot hook limit)");
    println!("  sha256:   {sha256:x}");
    if let Some(message) = oversize_message(&shipped, size).filter(|_| !hook_decides) {
        if !options.allow_oversize {
            bail!(message);
        }
        eprintln!("xtask: warning: {message}");
    }
    Ok(())
}

/// Why a binary of `size` bytes cannot be the first-boot hook, if it cannot.
fn oversize_message(binary: &Path, size: u64) -> Option<String> {
    let over = size
        .checked_sub(FIRST_BOOT_HOOK_LIMIT)
        .filter(|over| *over > 0)?;
    Some(format!(
        "{} is {size} bytes, {over} over the {FIRST_BOOT_HOOK_LIMIT}-byte limit of a Proxmox \
         first-boot hook: prepare-iso would refuse it. Shrink the program or its dependencies \
         (BENCHMARKS.md lists what each size option gives). The binary was written all the same; \
         --allow-oversize makes this a warning.",
        binary.display()
    ))
}

fn debian_build(
    workspace: &Path,
    size: &SizeOptions,
) -> Result<(&'static str, String, std::path::PathBuf)> {
    let toolchain = debian::prepare().context("the Debian route could not get its toolchain")?;
    let mut size = size.clone();
    if let Some(warning) = size.fit_compiler(&toolchain.rustc_version) {
        eprintln!("xtask: warning: {warning}");
    }
    let built = debian::build(&toolchain, workspace, &size)?;
    Ok(("debian", toolchain.describe(), built))
}

fn rustup_build(
    workspace: &Path,
    size: &SizeOptions,
) -> Result<(&'static str, String, std::path::PathBuf)> {
    let toolchain = rustup::prepare().context("the rustup route could not get the musl target")?;
    let built = rustup::build(workspace, size)?;
    Ok(("rustup", toolchain.describe(), built))
}

/// Fails with every reason at once when the binary is not a stripped static x86-64 executable;
/// returns `file`'s description of it otherwise.
fn check_static(binary: &Path) -> Result<String> {
    ensure_inspection_tools()?;
    judge_static(binary)
}

fn judge_static(binary: &Path) -> Result<String> {
    let tool = |program: &str, flags: &[&str]| {
        util::output(
            Command::new(program)
                .args(flags)
                .arg(binary)
                .env("LC_ALL", "C"),
        )
    };
    let file = elf_check::parse_file_description(&tool("file", &["-b"])?);
    let program_headers = elf_check::parse_program_headers(&tool("readelf", &["-lW"])?)?;
    let dynamic = elf_check::parse_dynamic_section(&tool("readelf", &["-dW"])?)?;
    let problems = elf_check::static_binary_problems(&file, &program_headers, &dynamic);
    if !problems.is_empty() {
        bail!(
            "{} is not a static x86-64 binary, so it would not run on a fresh Proxmox host:\n  - {}\n\
             Look at the link line of the build above: without the musl link dir the linker falls \
             back to glibc's or musl's shared libc.",
            binary.display(),
            problems.join("\n  - ")
        );
    }
    Ok(file.text)
}

/// `file` and binutils' `readelf` judge the result; install them when a fresh machine lacks them.
fn ensure_inspection_tools() -> Result<()> {
    crate::apt::ensure(&[crate::apt::Want::any(&["file", "binutils"])], None).map(drop)
}

/// Variables inherited from the calling cargo or the user's shell that would change the nested
/// build behind our back. A global RUSTFLAGS in particular replaces the per-target flags, and the
/// link then silently falls back to glibc's libc.a, without an error.
pub fn clear_inherited_rust_env(cargo: &mut Command) {
    for name in [
        "RUSTFLAGS",
        "CARGO_ENCODED_RUSTFLAGS",
        "CARGO_BUILD_RUSTFLAGS",
        "CARGO_BUILD_TARGET",
        "CARGO_TARGET_DIR",
    ] {
        if let Some(value) = std::env::var_os(name) {
            eprintln!(
                "xtask: ignoring {name}={} for the dist build",
                value.to_string_lossy()
            );
            cargo.env_remove(name);
        }
    }
}

/// The variables set for the nested cargo, printed before its command line so that a build can
/// be repeated by hand from the log.
pub fn show_build_env(cargo: &Command) {
    for (name, value) in cargo.get_envs() {
        if let Some(value) = value {
            util::note(&format!(
                "  {}={}",
                name.to_string_lossy(),
                value.to_string_lossy()
            ));
        }
    }
}

#[cfg(test)]
mod tests;
