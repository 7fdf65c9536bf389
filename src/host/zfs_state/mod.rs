//! The ZFS state as it is, read from zpool and zfs into the model's
//! [`Observed`](crate::model::pools::Observed): [`read`] reads it with as few and as narrow
//! calls as possible, and [`devices`] finds which block device of the host each member is.

pub mod devices;
pub mod read;
