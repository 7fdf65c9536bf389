//! The services around the pools as the host shows them, for the planner: Proxmox's storage.cfg,
//! the NFS server and its network, smartd.conf, each pool drive's health and the ARC limit, each
//! either read or with why it could not be.

use crate::formats::nfs::Network;
use crate::formats::proxmox::storage_cfg::StorageConfig;
use crate::formats::wear::WearBaseline;
use serde::Serialize;

/// Either the thing itself, or why it cannot be had now.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "state", rename_all = "kebab-case")]
pub enum Availability<T> {
    Ready { value: T },
    Unavailable { why: String },
}

impl<T> Availability<T> {
    pub fn ready(&self) -> Option<&T> {
        match self {
            Availability::Ready { value } => Some(value),
            Availability::Unavailable { .. } => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NfsServer {
    /// `exportfs` is installed (nfs-kernel-server).
    pub installed: bool,
    /// The network the exports are for, or why it is not known (no default route, no address).
    pub network: Availability<Network>,
    /// A default route exists: packages can be fetched.
    pub online: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DriveHealth {
    pub drive: String,
    pub serial: Option<String>,
    pub by_id: String,
    pub reading: Availability<WearBaseline>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HostServices {
    /// storage.cfg as pmxcfs shows it, when `pvesm` is installed and /etc/pve is populated.
    pub proxmox: Availability<StorageConfig>,
    pub nfs: NfsServer,
    /// /etc/smartd.conf's text when smartmontools is installed.
    pub smartd: Availability<String>,
    /// One reading per drive chosen for a pool, in pool order.
    pub health: Vec<DriveHealth>,
    /// The ARC limit now and as configured for the next boot; read only when the layout sets one.
    pub arc: Option<ArcState>,
    /// False where none of this could be read: a host read with `--root` without ZFS tools, or
    /// a tree without programs (see `assess`). What was not read is not deferred either, only
    /// not checked.
    #[serde(skip)]
    pub observed: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ArcState {
    /// /sys/module/zfs/parameters/zfs_arc_max (0: ZFS's default).
    pub runtime: Availability<u64>,
    /// /etc/modprobe.d/zfs.conf (empty when absent).
    pub modprobe_conf: Availability<String>,
    /// MemTotal of /proc/meminfo, in bytes: what OpenZFS sizes the ARC and its floor by.
    pub ram: Availability<u64>,
    /// /sys/module/zfs/parameters/zfs_arc_min (0: ZFS's default, 1/32 of the RAM).
    pub arc_min: Availability<u64>,
    /// The root file system is ZFS: the zfs module then loads from the initramfs, with the
    /// initramfs's copy of modprobe.d.
    pub root_on_zfs: bool,
}

impl HostServices {
    /// For a host read with `--root` (recorded or synthesized) without ZFS tools or without
    /// programs: nothing is known, nothing is planned or deferred.
    pub fn not_observed() -> HostServices {
        let why = || "not observed on a host read with --root".to_string();
        HostServices {
            proxmox: Availability::Unavailable { why: why() },
            nfs: NfsServer {
                installed: false,
                network: Availability::Unavailable { why: why() },
                online: false,
            },
            smartd: Availability::Unavailable { why: why() },
            health: Vec::new(),
            arc: None,
            observed: false,
        }
    }
}
