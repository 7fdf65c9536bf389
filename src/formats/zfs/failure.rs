//! What a failed `zpool`/`zfs` command said on stderr, named: to explain the failure to the
//! operator and to let apply treat "already exists" as done on a rerun.
//!
//! The messages are libzfs's and zpool's own (libzfs_util.c `zfs_standard_error`,
//! `zpool_standard_error`; zpool_vdev.c; zpool_main.c), in English: the runner is expected to
//! run the tools with LC_ALL=C.

use std::fmt;

use nom::branch::alt;
use nom::bytes::complete::{tag, take_until};
use nom::character::complete::char;
use nom::combinator::rest;
use nom::sequence::{delimited, preceded, terminated};
use nom::{IResult, Parser};
use serde::{Deserialize, Serialize};

/// Why a zpool/zfs command failed, as far as its stderr tells.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "failure")]
pub enum ZfsFailure {
    /// "cannot create 'X': dataset already exists".
    DatasetExists { dataset: String },
    /// "cannot open 'X': dataset does not exist".
    DatasetNotFound { dataset: String },
    /// "cannot create 'X': parent does not exist".
    ParentNotFound { dataset: String },
    /// "cannot create 'X': pool already exists", or an import onto a name already in use.
    PoolExists { pool: String },
    /// "cannot open 'X': no such pool", or nothing to import by that name or GUID.
    NoSuchPool { pool: String },
    /// A device holds a ZFS label of another pool or a file system (zpool create without -f).
    DeviceInUse {
        device: String,
        holder: DeviceHolder,
    },
    /// A device, pool or dataset something else holds open ("DEV is in use and contains a ...",
    /// "Device or resource busy", "pool is busy", "dataset is busy").
    Busy { object: String },
    /// "cannot create 'P': one or more devices is currently unavailable": a new vdev could not
    /// be opened exclusively, typically because udev was still probing the partitions zpool
    /// create had just written. Passes once udev has settled.
    DevicesUnavailable { pool: String },
    /// "cannot import 'X': pool was previously in use from another system": importing needs
    /// `-f`, which phoenix-zfs never adds by itself.
    PoolLastUsedElsewhere { pool: String },
    /// "permission denied", or the tools were not run as root.
    PermissionDenied,
    /// "cannot mount 'X': REASON" (zfs create then adds "filesystem successfully created, but
    /// not mounted"): the dataset exists, something at its mountpoint is in the way.
    MountFailed { dataset: String, reason: String },
    /// The ZFS kernel modules or /dev/zfs are not there.
    ZfsUnavailable { message: String },
    /// None of the above; the first non-empty line of stderr.
    Unknown { message: String },
}

/// What a device in use already belongs to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum DeviceHolder {
    /// "X is part of active|exported|potentially active pool 'P'".
    Pool { pool: String, pool_state: String },
    /// "X is reserved as a hot spare for pool P".
    HotSpare { pool: String },
    /// "X contains a filesystem of type 'T'".
    Filesystem { fs_type: String },
}

impl fmt::Display for ZfsFailure {
    /// What happened, to what, and what to do next, in one sentence for an operator.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ZfsFailure::DatasetExists { dataset } => {
                write!(f, "dataset `{dataset}` already exists")
            }
            ZfsFailure::DatasetNotFound { dataset } => {
                write!(f, "dataset `{dataset}` does not exist")
            }
            ZfsFailure::ParentNotFound { dataset } => write!(
                f,
                "the parent of dataset `{dataset}` does not exist: create the parent first"
            ),
            ZfsFailure::PoolExists { pool } => write!(
                f,
                "a pool named `{pool}` already exists: export it, or import the other one under a new name"
            ),
            ZfsFailure::NoSuchPool { pool } => {
                write!(f, "no pool `{pool}` is imported or can be imported")
            }
            ZfsFailure::DeviceInUse { device, holder } => match holder {
                DeviceHolder::Pool { pool, pool_state } => write!(
                    f,
                    "`{device}` belongs to {pool_state} pool `{pool}`: import that pool, or if its \
                     data is not needed, erase the drive: `{}`",
                    crate::remedy::wipe("SERIAL")
                ),
                DeviceHolder::HotSpare { pool } => write!(
                    f,
                    "`{device}` is a hot spare of pool `{pool}`: remove it from that pool first"
                ),
                DeviceHolder::Filesystem { fs_type } => write!(
                    f,
                    "`{device}` holds a {fs_type} file system: if its data is not needed, erase \
                     the drive: `{}`",
                    crate::remedy::wipe("SERIAL")
                ),
            },
            ZfsFailure::Busy { object } => write!(
                f,
                "`{object}` is busy: something else holds it open (a mount, a VM, another pool); \
                 close that, then `{}`",
                crate::remedy::APPLY
            ),
            ZfsFailure::DevicesUnavailable { pool } => write!(
                f,
                "a device of pool `{pool}` could not be opened exclusively, usually udev still \
                 probing the new partitions; phoenix-zfs waits for udev and retries once"
            ),
            ZfsFailure::PoolLastUsedElsewhere { pool } => write!(
                f,
                "pool `{pool}` was last used by another host: make sure no other host uses it, \
                 then import it by hand with `zpool import -f`"
            ),
            ZfsFailure::PermissionDenied => {
                write!(f, "permission denied: run phoenix-zfs as root")
            }
            ZfsFailure::ZfsUnavailable { message } => write!(
                f,
                "ZFS is not available ({message}): install zfsutils and load the module with `modprobe zfs`"
            ),
            ZfsFailure::MountFailed { dataset, reason } => write!(
                f,
                "dataset `{dataset}` cannot be mounted ({reason}): move aside what is at its \
                 mountpoint, then `{}`",
                crate::remedy::APPLY
            ),
            ZfsFailure::Unknown { message } => f.write_str(message),
        }
    }
}

/// Names the failure described by a zpool/zfs stderr. Looks at each line in turn, so the
/// specific line in a multi-line message ("invalid vdev specification" / "use '-f' ..." /
/// "DEV is part of exported pool 'P'") is found wherever it is.
pub fn classify_stderr(stderr: &str) -> ZfsFailure {
    stderr
        .lines()
        .find_map(classify_line)
        .unwrap_or_else(|| ZfsFailure::Unknown {
            message: stderr
                .lines()
                .map(str::trim)
                .find(|line| !line.is_empty())
                .unwrap_or_default()
                .to_string(),
        })
}

fn classify_line(line: &str) -> Option<ZfsFailure> {
    let line = line.trim_end();
    if let Some(pool) = line
        .strip_prefix("Cannot get properties of ")
        .and_then(|rest| rest.strip_suffix(": no such pool available."))
    {
        return Some(ZfsFailure::NoSuchPool {
            pool: pool.to_string(),
        });
    }
    if let Ok((_, (object, reason))) = cannot_line(line) {
        if line.starts_with("cannot mount '") {
            return Some(ZfsFailure::MountFailed {
                dataset: object.to_string(),
                reason: reason.trim_end_matches('.').to_string(),
            });
        }
        return classify_reason(object, reason.trim_end_matches('.'));
    }
    if let Ok((_, failure)) = device_line(line) {
        return Some(failure);
    }
    library_unavailable(line)
}

/// "cannot VERB 'OBJECT': REASON" (also "Cannot import ..." from zpool import).
fn cannot_line(line: &str) -> IResult<&str, (&str, &str)> {
    preceded(
        (
            alt((tag("cannot "), tag("Cannot "))),
            take_until(" '"),
            tag(" "),
        ),
        (delimited(char('\''), take_until("': "), tag("': ")), rest),
    )
    .parse(line)
}

fn classify_reason(object: &str, reason: &str) -> Option<ZfsFailure> {
    let object = object.to_string();
    let failure = match reason {
        "dataset already exists" => ZfsFailure::DatasetExists { dataset: object },
        "dataset does not exist" => ZfsFailure::DatasetNotFound { dataset: object },
        "parent does not exist" => ZfsFailure::ParentNotFound { dataset: object },
        "pool already exists" => ZfsFailure::PoolExists { pool: object },
        // zpool import: "... already exists" or "... is already created/imported,".
        reason if reason.starts_with("a pool with that name ") => {
            ZfsFailure::PoolExists { pool: object }
        }
        "no such pool" | "no such pool available" => ZfsFailure::NoSuchPool { pool: object },
        // zpool_standard_error's ENOENT: a dataset when the name has a slash.
        "no such pool or dataset" if object.contains('/') => {
            ZfsFailure::DatasetNotFound { dataset: object }
        }
        "no such pool or dataset" => ZfsFailure::NoSuchPool { pool: object },
        "permission denied" => ZfsFailure::PermissionDenied,
        "Device or resource busy" | "pool is busy" | "dataset is busy" => {
            ZfsFailure::Busy { object }
        }
        "one or more devices is currently unavailable" => {
            ZfsFailure::DevicesUnavailable { pool: object }
        }
        "pool was previously in use from another system" => {
            ZfsFailure::PoolLastUsedElsewhere { pool: object }
        }
        reason if reason.starts_with("pool is imported on ") => {
            ZfsFailure::PoolLastUsedElsewhere { pool: object }
        }
        _ => return None,
    };
    Some(failure)
}

fn device_line(line: &str) -> IResult<&str, ZfsFailure> {
    alt((
        (
            take_until(" is part of "),
            preceded(tag(" is part of "), take_until(" pool '")),
            delimited(tag(" pool '"), take_until("'"), char('\'')),
        )
            .map(
                |(device, state, pool): (&str, &str, &str)| ZfsFailure::DeviceInUse {
                    device: device.to_string(),
                    holder: DeviceHolder::Pool {
                        pool: pool.to_string(),
                        pool_state: state.to_string(),
                    },
                },
            ),
        (
            take_until(" is reserved as a hot spare for pool "),
            preceded(tag(" is reserved as a hot spare for pool "), rest),
        )
            .map(|(device, pool): (&str, &str)| ZfsFailure::DeviceInUse {
                device: device.to_string(),
                holder: DeviceHolder::HotSpare {
                    pool: pool.to_string(),
                },
            }),
        (
            take_until(" contains a filesystem of type '"),
            delimited(
                tag(" contains a filesystem of type '"),
                take_until("'"),
                char('\''),
            ),
        )
            .map(|(device, fs_type): (&str, &str)| ZfsFailure::DeviceInUse {
                device: device.to_string(),
                holder: DeviceHolder::Filesystem {
                    fs_type: fs_type.to_string(),
                },
            }),
        terminated(take_until(" is in use and contains a "), rest).map(|device: &str| {
            ZfsFailure::Busy {
                object: device.to_string(),
            }
        }),
    ))
    .parse(line)
}

/// libzfs_error_init's messages when libzfs cannot start at all.
fn library_unavailable(line: &str) -> Option<ZfsFailure> {
    if line.starts_with("Permission denied the ZFS utilities must be run as root") {
        return Some(ZfsFailure::PermissionDenied);
    }
    let unavailable = [
        "The ZFS modules are not loaded.",
        "The ZFS modules cannot be auto-loaded.",
        "/dev/zfs and /proc/self/mounts are required.",
        "Failed to initialize the libzfs library.",
    ];
    unavailable
        .iter()
        .any(|start| line.starts_with(start))
        .then(|| ZfsFailure::ZfsUnavailable {
            message: line.to_string(),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dataset_and_pool_messages() {
        assert_eq!(
            classify_stderr("cannot create 'quickOS/vm-disks': dataset already exists\n"),
            ZfsFailure::DatasetExists {
                dataset: "quickOS/vm-disks".into()
            }
        );
        assert_eq!(
            classify_stderr("cannot open 'quickOS/nope': dataset does not exist\n"),
            ZfsFailure::DatasetNotFound {
                dataset: "quickOS/nope".into()
            }
        );
        assert_eq!(
            classify_stderr("cannot create 'quickOS': pool already exists\n"),
            ZfsFailure::PoolExists {
                pool: "quickOS".into()
            }
        );
        assert_eq!(
            classify_stderr("cannot open 'fastData': no such pool\n"),
            ZfsFailure::NoSuchPool {
                pool: "fastData".into()
            }
        );
        assert_eq!(
            classify_stderr(
                "cannot import 'quickOS': a pool with that name already exists\n\
                 use the form 'zpool import <pool | id> <newpool>' to give it a new name\n"
            ),
            ZfsFailure::PoolExists {
                pool: "quickOS".into()
            }
        );
        assert_eq!(
            classify_stderr(
                "cannot import 'quickOS': a pool with that name is already created/imported,\n\
                 and no additional pools with that name were found\n"
            ),
            ZfsFailure::PoolExists {
                pool: "quickOS".into()
            }
        );
        assert_eq!(
            classify_stderr("Cannot get properties of nope: no such pool available.\n"),
            ZfsFailure::NoSuchPool {
                pool: "nope".into()
            }
        );
        assert_eq!(
            classify_stderr("cannot create 'a/b/c': parent does not exist\n"),
            ZfsFailure::ParentNotFound {
                dataset: "a/b/c".into()
            }
        );
    }

    #[test]
    fn devices_in_use() {
        let stderr = "invalid vdev specification\n\
                      use '-f' to override the following errors:\n\
                      /dev/disk/by-id/nvme-QEMU_NVMe_Ctrl_S2TA0001-part1 is part of exported pool 'quickOS'\n";
        assert_eq!(
            classify_stderr(stderr),
            ZfsFailure::DeviceInUse {
                device: "/dev/disk/by-id/nvme-QEMU_NVMe_Ctrl_S2TA0001-part1".into(),
                holder: DeviceHolder::Pool {
                    pool: "quickOS".into(),
                    pool_state: "exported".into()
                }
            }
        );
        assert_eq!(
            classify_stderr("/dev/nvme0n1 contains a filesystem of type 'ext4'\n"),
            ZfsFailure::DeviceInUse {
                device: "/dev/nvme0n1".into(),
                holder: DeviceHolder::Filesystem {
                    fs_type: "ext4".into()
                }
            }
        );
        assert_eq!(
            classify_stderr("/dev/nvme0n1 is in use and contains a unknown filesystem.\n"),
            ZfsFailure::Busy {
                object: "/dev/nvme0n1".into()
            }
        );
    }

    #[test]
    fn import_elsewhere_permission_and_modules() {
        assert_eq!(
            classify_stderr(
                "cannot import 'quickOS': pool was previously in use from another system.\n\
                 Last accessed by pve1 (hostid=1234abcd) at Tue Nov 25 10:00:00 2026\n"
            ),
            ZfsFailure::PoolLastUsedElsewhere {
                pool: "quickOS".into()
            }
        );
        assert_eq!(
            classify_stderr("Permission denied the ZFS utilities must be run as root.\n"),
            ZfsFailure::PermissionDenied
        );
        assert_eq!(
            classify_stderr("cannot create 'quickOS/x': permission denied\n"),
            ZfsFailure::PermissionDenied
        );
        assert!(matches!(
            classify_stderr("The ZFS modules are not loaded.\nTry running 'modprobe zfs' as root to load them.\n"),
            ZfsFailure::ZfsUnavailable { .. }
        ));
    }

    #[test]
    fn a_create_racing_udev_is_named() {
        // Seen in the QEMU guest under load: zpool create opened the new partition while udev
        // still probed it.
        let stderr = "cannot create 'quickOS': one or more devices is currently unavailable\n";
        assert_eq!(
            classify_stderr(stderr),
            ZfsFailure::DevicesUnavailable {
                pool: "quickOS".into()
            }
        );
    }

    #[test]
    fn display_says_what_to_do_next() {
        let failure = classify_stderr(
            "invalid vdev specification\n/dev/disk/by-id/nvme-A-part1 is part of exported pool 'old'\n",
        );
        assert_eq!(
            failure.to_string(),
            "`/dev/disk/by-id/nvme-A-part1` belongs to exported pool `old`: import that pool, or if \
             its data is not needed, erase the drive: `phoenix-zfs apply --wipe SERIAL`"
        );
        assert_eq!(
            classify_stderr("weird\n").to_string(),
            "weird",
            "unknown failures show zpool's own words"
        );
    }

    #[test]
    fn anything_else_is_unknown_with_its_first_line() {
        assert_eq!(
            classify_stderr("\n  cannot set property for 'x': invalid property 'foo'\nmore\n"),
            ZfsFailure::Unknown {
                message: "cannot set property for 'x': invalid property 'foo'".into()
            }
        );
        assert_eq!(
            classify_stderr(""),
            ZfsFailure::Unknown {
                message: String::new()
            }
        );
    }
}
