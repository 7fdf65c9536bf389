//! phoenix-zfs: turns blank NVMe drives into the Phoenix OpenZFS layout of a Proxmox VE host.
//!
//! The crate is a pure core behind a thin shell: `inventory`, `matching`, `firmware`, `layout`,
//! the parsers in `zfs` and `plan` are functions from data to data; only `runner` spawns processes.

pub mod apply;
pub mod arc;
pub mod assess;
pub mod atomic_file;
pub mod contents;
pub mod exit;
pub mod firmware;
pub mod glob;
pub mod hook;
pub mod import_scan;
pub mod inventory;
pub mod journal;
pub mod layout;
pub mod log;
pub mod manifest;
pub mod matching;
pub mod nfs;
pub mod observe;
pub mod observed;
pub mod plan;
pub mod proxmox;
pub mod runner;
pub mod services;
pub mod situation;
pub mod size;
pub mod smartd;
pub mod target;
pub mod wear;
pub mod zfs;
