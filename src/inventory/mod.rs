//! What the host has: block devices from sysfs and the udev database, and what is written on them.

pub mod probe;
