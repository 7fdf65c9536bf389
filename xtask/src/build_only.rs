//! Code that `cargo test --workspace` does not build: the criterion benches (built only by
//! `cargo bench`) and the fuzz targets (fuzz/ is a workspace of its own, built only by
//! `cargo fuzz`). `cargo xtask test` compiles both, without running them, so that a change to the
//! library's API that breaks one fails the tests instead of the next person who benchmarks or
//! fuzzes.

use crate::util::{run, workspace_root};
use anyhow::Result;
use std::process::Command;

pub fn build() -> Result<()> {
    let root = workspace_root();
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    run(Command::new(&cargo).current_dir(&root).args([
        "build",
        "--locked",
        "--benches",
        "-p",
        "phoenix-zfs",
    ]))?;
    // `cargo check`, not build: linking a fuzz target takes cargo-fuzz's sanitizer flags
    // (nightly), type-checking needs neither (libfuzzer-sys's build script still compiles
    // libFuzzer with the C++ compiler). The workspace's target directory, not fuzz/target, so
    // that the dependencies the two share are compiled once.
    run(Command::new(&cargo).current_dir(&root).args([
        "check",
        "--locked",
        "--manifest-path",
        "fuzz/Cargo.toml",
        "--bins",
        "--target-dir",
        "target",
    ]))
}
