//! What is read from the machine, never written: the block devices and what is on them
//! ([`inventory`]), the ZFS pools and datasets as they are ([`zfs_state`]), the services around
//! them ([`services`]), the system provisioned and the situation of the run ([`target`]), and
//! the read-only half of a run that puts them together with the plan ([`assess`]).
//!
//! The one file written from here is a copy: `inventory::snapshot` copies what the inventory
//! reads into the directory `debug snapshot-host` is given, so that a host can be read again
//! with `--root`; the host itself is left as it was.

pub mod assess;
pub mod inventory;
pub mod services;
pub mod target;
pub mod zfs_state;
