//! zpool and zfs: argv builders and parsers of their scripted output.
//!
//! Builders are pure functions returning an argv (`argv[0]` is "zpool" or "zfs") for the runner;
//! observation commands always use `-H -p` and name what they ask about. Parsers take the
//! command's stdout as `&str` and return typed values or a [`ParseError`] naming the line.
//! Formats are those of OpenZFS 2.2 and 2.3 (cmd/zpool/zpool_main.c, cmd/zfs/zfs_main.c).

mod dataset;
mod error;
mod failure;
mod import;
mod pool_props;
mod property;
mod report;
mod state;
mod status;
mod units;
mod vdev;
mod zpool;

pub use dataset::{
    parse_zfs_list, zfs_create, zfs_get_argv, zfs_list_argv, zfs_set, DatasetRow, DatasetType,
    DATASET_LIST_COLUMNS,
};
pub use error::ParseError;
pub use failure::{classify_stderr, DeviceHolder, ZfsFailure};
pub use import::{parse_zpool_import_scan, ImportablePool};
pub use pool_props::{parse_zpool_list_props, zpool_list_props_argv, PoolProperties};
pub use property::{
    line_count, parse_property_table, property_lines, PropertyLine, PropertyRow, PropertySource,
    PROPERTY_COLUMNS,
};
pub use report::ReportField;
pub use state::VdevState;
pub use status::{parse_zpool_status, PoolStatus};
pub use units::{parse_zfs_size, same_zfs_size};
pub use vdev::{pool_devices, VdevClass, VdevErrorCounts, VdevKind, VdevNode, VdevSections};
pub use zpool::{
    parse_zpool_list, zpool_create, zpool_export, zpool_get_argv, zpool_import,
    zpool_import_destroyed_scan_argv, zpool_import_forced, zpool_import_scan_argv, zpool_list_argv,
    zpool_replace, zpool_set, zpool_status_argv, PoolListRow, Topology, TopologyKind, BY_ID_DIR,
    POOL_LIST_COLUMNS,
};
