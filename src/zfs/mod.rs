//! zpool and zfs: argv builders and parsers of their scripted output.
//!
//! Builders are pure functions returning an argv (argv[0] = "zpool" or "zfs") for the runner;
//! observation commands always use `-H -p` and name what they ask about. Parsers take the
//! command's stdout as `&str` and return typed values or a [`ParseError`] naming the line.
//! Formats are those of OpenZFS 2.2 and 2.3 (cmd/zpool/zpool_main.c, cmd/zfs/zfs_main.c).

mod error;
mod property;
mod units;

pub use error::ParseError;
pub use property::{parse_property_table, PropertyRow, PropertySource, PROPERTY_COLUMNS};
pub use units::{parse_zfs_size, same_zfs_size};
