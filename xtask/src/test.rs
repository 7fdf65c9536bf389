//! `cargo xtask test`: every test the project has, in the order a failure is cheapest to see.
//! This is the README's test command and what .ci/run calls.

use crate::util::{run, workspace_root};
use anyhow::Result;
use std::process::Command;

pub fn main(_args: &[String]) -> Result<()> {
    let root = workspace_root();
    run(Command::new("cargo")
        .current_dir(&root)
        .args(["test", "--workspace", "--locked"]))?;
    Ok(())
}
