//! One module per command. Each returns the exit it calls for, or a failure for `main` to
//! print; only firstboot prints its own errors (see there).

pub mod apply;
pub mod attach;
pub mod detect;
pub mod firstboot;
pub mod hook;
pub mod kept;
pub mod layout;
pub mod manifest_show;
pub mod manifest_verify;
pub mod plan;
pub mod snapshot_host;
pub mod verify;
