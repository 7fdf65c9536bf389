//! The integration tests, in one binary so that `cargo test` links them once: one module per
//! subject, and fixtures.rs for what they share about the recorded and hand-made data under
//! tests/fixtures/ (its path, reading a file, the loaders more than one module uses).
//! `cargo test --test it MODULE::` runs one subject's tests.

mod apply_replay;
mod cli;
mod firstboot;
mod fixture_hosts;
mod fixtures;
mod fleet;
mod kept_plan;
mod manifest_interop;
mod outputs;
mod plan_cases;
mod probe;
mod proxmox;
mod zfs_membership;
mod zfs_parsers;
