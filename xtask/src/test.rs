//! `cargo xtask test`: every test the project has, in the order a failure is cheapest to see.
//! This is the README's test command and what .ci/run calls.

use crate::apt::{self, Want};
use crate::flags::QemuTestOptions;
use crate::util::{self, run, workspace_root};
use anyhow::{bail, Context, Result};
use std::process::Command;

/// What `cargo test --workspace` runs besides the programs it builds, from Debian packages:
/// ssh-keygen (the manifest interop tests check signatures with stock OpenSSH) and Python's
/// jsonschema (an independent validator of the manifest schema; stock Debian 12 has no pip, and
/// PEP 668 refuses pip installs into the system Python anyway). The other programs the tests
/// start (sh, cp, dpkg, gzip, tail, sha256sum) are Essential on Debian.
pub const TEST_PACKAGES: [&str; 2] = ["openssh-client", "python3-jsonschema"];

pub fn ensure_test_tools() -> Result<()> {
    apt::ensure(&[Want::any(&TEST_PACKAGES)], None)
        .context("could not install what the tests run")?;
    // The tests run the first python3 on PATH; one from pyenv or a venv does not see Debian's
    // dist-packages, and the schema test would fail after minutes of building.
    let importable = Command::new("python3")
        .args(["-c", "import jsonschema"])
        .output()
        .is_ok_and(|out| out.status.success());
    if !importable {
        let which =
            util::output(Command::new("sh").args(["-c", "command -v python3"])).unwrap_or_default();
        bail!(
            "python3 on PATH ({}) cannot import jsonschema, although Debian's python3-jsonschema \
             is installed for /usr/bin/python3: put /usr/bin before that interpreter's directory \
             in PATH, or install jsonschema into it",
            which.trim()
        );
    }
    Ok(())
}

/// `cargo xtask test`.
pub fn run_all() -> Result<()> {
    let root = workspace_root();
    ensure_test_tools()?;
    run(Command::new("cargo")
        .current_dir(&root)
        .args(["test", "--workspace", "--locked"]))?;
    crate::build_only::build()?;
    // The QEMU suite builds the static binary and the guest image it needs (cached by inputs).
    crate::qemu::test::run_suite(&QemuTestOptions::default())
}
