//! Other tools' text, parsed and written without I/O: the caller reads the file or runs the
//! command and hands the text in. Each module cites the tool's documentation or source it follows.

pub mod arc;
pub mod mountinfo;
pub mod nfs;
pub mod ondisk;
pub mod proxmox;
pub mod size;
pub mod smartd;
pub mod udev;
pub mod wear;
pub mod zfs;
