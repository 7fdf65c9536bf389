//! `cargo xtask test`: every test the project has, in the order a failure is cheapest to see.
//! This is the README's test command and what .ci/run calls.

use crate::util::{run, workspace_root};
use anyhow::Result;
use std::process::Command;

/// The schema test validates manifests with Python's `jsonschema` (an independent validator):
/// install it from PyPI when this machine lacks it.
fn ensure_jsonschema() -> Result<()> {
    let present = Command::new("python3")
        .args(["-c", "import jsonschema"])
        .status()
        .is_ok_and(|s| s.success());
    if !present {
        run(Command::new("python3").args(["-m", "pip", "install", "--quiet", "jsonschema"]))?;
    }
    Ok(())
}

pub fn main(_args: &[String]) -> Result<()> {
    let root = workspace_root();
    ensure_jsonschema()?;
    run(Command::new("cargo")
        .current_dir(&root)
        .args(["test", "--workspace", "--locked"]))?;
    crate::build_only::main()?;
    // The QEMU suite builds the static binary and the guest image it needs (cached by inputs).
    crate::qemu_test::main(&[])
}
