//! The rustup route: the toolchain that runs this xtask plus rustup's prebuilt musl std, whose
//! self-contained start files, libc and libunwind make a static binary with no help from the
//! system. The download comes from rustup's own server, which is not promised to be reachable, so
//! getting it is bounded in time and a failure is an answer, not an error.

use super::{SizeOptions, BUILD_ARGS, MUSL_TARGET};
use crate::util::{self, run};
use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};
use std::process::Command;

/// A download of about 40 MB took 7 s on a working link; a minute and a half means it will not come.
const TARGET_ADD_TIMEOUT_SECONDS: &str = "90";

pub struct RustupToolchain {
    pub rustc_version: String,
}

impl RustupToolchain {
    pub fn describe(&self) -> String {
        format!(
            "rustup {} with its prebuilt {MUSL_TARGET} std",
            self.rustc_version
        )
    }
}

/// Makes sure the musl target is installed for the toolchain running this xtask; an error says
/// why the route is unavailable.
pub fn prepare() -> Result<RustupToolchain> {
    let installed = util::output(Command::new("rustup").args(["target", "list", "--installed"]))
        .context("rustup is not usable here")?;
    if !installed.lines().any(|line| line.trim() == MUSL_TARGET) {
        eprintln!("xtask: adding rustup target {MUSL_TARGET} (giving up after {TARGET_ADD_TIMEOUT_SECONDS} s)");
        let mut add = Command::new("timeout");
        add.args([
            TARGET_ADD_TIMEOUT_SECONDS,
            "rustup",
            "target",
            "add",
            MUSL_TARGET,
        ])
        // One attempt: the fallback is better than minutes of retries against a closed network.
        .env("RUSTUP_MAX_RETRIES", "0");
        run(&mut add).context("rustup could not download the musl target")?;
    }
    let rustc_version = util::output(Command::new("rustc").arg("--version"))?
        .trim()
        .to_string();
    Ok(RustupToolchain { rustc_version })
}

/// Builds the phoenix-zfs binary and returns where cargo put it.
pub fn build(workspace: &Path, size: &SizeOptions) -> Result<PathBuf> {
    if size.build_std_features().is_some() {
        bail!("the rustup route uses the prebuilt std: build-std size options apply to the Debian route only");
    }
    let target_dir = workspace.join("target/musl-rustup");
    let mut cargo = Command::new("cargo");
    cargo
        .current_dir(workspace)
        .env(
            "CARGO_TARGET_X86_64_UNKNOWN_LINUX_MUSL_RUSTFLAGS",
            size.rustflags().join(" "),
        )
        .args(BUILD_ARGS)
        .args(["--target", MUSL_TARGET, "--target-dir"])
        .arg(&target_dir);
    if size.needs_bootstrap() {
        cargo.env("RUSTC_BOOTSTRAP", "1");
    }
    if which("musl-gcc") {
        cargo.env("CC_x86_64_unknown_linux_musl", "musl-gcc");
    }
    super::clear_inherited_rust_env(&mut cargo);
    super::show_build_env(&cargo);
    run(&mut cargo)?;
    Ok(target_dir.join(MUSL_TARGET).join("release/phoenix-zfs"))
}

fn which(program: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|path| std::env::split_paths(&path).any(|dir| dir.join(program).is_file()))
}
