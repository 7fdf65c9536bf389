//! `cargo xtask test`: every test the project has, in the order a failure is cheapest to see.
//! This is the README's test command and what .ci/run calls.

use crate::apt::{self, Want};
use crate::util::{run, workspace_root};
use anyhow::{Context, Result};
use std::process::Command;

/// What `cargo test --workspace` runs besides the programs it builds, from Debian packages:
/// ssh-keygen (the manifest interop tests check signatures with stock OpenSSH) and Python's
/// jsonschema (an independent validator of the manifest schema; stock Debian 12 has no pip, and
/// PEP 668 refuses pip installs into the system Python anyway). The other programs the tests
/// start (sh, cp, dpkg, gzip, tail, sha256sum) are Essential on Debian.
pub const TEST_PACKAGES: [&str; 2] = ["openssh-client", "python3-jsonschema"];

pub fn ensure_test_tools() -> Result<()> {
    apt::ensure(&[Want::any(&TEST_PACKAGES)], None)
        .map(drop)
        .context("could not install what the tests run")
}

pub fn main(_args: &[String]) -> Result<()> {
    let root = workspace_root();
    ensure_test_tools()?;
    run(Command::new("cargo")
        .current_dir(&root)
        .args(["test", "--workspace", "--locked"]))?;
    // The QEMU suite builds the static binary and the guest image it needs (cached by inputs).
    crate::qemu_test::main(&[])
}
