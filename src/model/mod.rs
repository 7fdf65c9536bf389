//! The data a host is described by, in one place of its own: `host` fills it, the
//! pure core judges it, and neither imports the other. Types with their small pure helpers, no
//! I/O: a drive and what it holds ([`disk`]), ZFS pools and datasets as they are ([`pools`]),
//! the services around them ([`services`]), the creates apply began ([`pending`]).

pub mod disk;
pub mod pending;
pub mod pools;
pub mod services;
