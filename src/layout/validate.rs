//! What makes a layout valid (errors, with the place in the file) and what an expert would flag
//! about a valid one (warnings, printed by `plan`).

use super::properties::{check, PropertyScope};
use super::{DatasetRole, Layout, PoolSpec, StorageType, VdevLayout};
use crate::formats::size::{self, ZfsSize};
use serde::Serialize;
use std::collections::BTreeSet;
use std::ops::Range;

pub(super) struct Problem {
    pub span: Option<Range<usize>>,
    pub message: String,
}

fn at(span: Range<usize>, message: String) -> Problem {
    Problem {
        span: Some(span),
        message,
    }
}

fn nowhere(message: String) -> Problem {
    Problem {
        span: None,
        message,
    }
}

/// Content types Proxmox accepts per storage type (pve-storage ZFSPoolPlugin.pm and DirPlugin.pm).
const ZFSPOOL_CONTENT: &[&str] = &["images", "rootdir"];
const DIR_CONTENT: &[&str] = &[
    "images", "rootdir", "vztmpl", "iso", "backup", "snippets", "import",
];
/// Mount options Proxmox accepts for container mount points (`mountoptions` in pct.conf).
const MOUNT_OPTIONS: &[&str] = &[
    "discard", "lazytime", "noatime", "nodev", "noexec", "nosuid",
];
/// OpenZFS's ZFS_MAX_DATASET_NAME_LEN, the terminating NUL included.
const MAX_DATASET_NAME: usize = 256;
/// What pool_namecheck leaves room for: `POOL/$ORIGIN@$ORIGIN` must still fit.
const MAX_POOL_NAME: usize = MAX_DATASET_NAME - 2 - 2 * "$ORIGIN".len();

/// A character ZFS takes in a pool or dataset name (zfs_namecheck.c, valid_char).
fn zfs_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || "_-.: ".contains(c)
}

/// Why ZFS refuses `name` for a pool, by zfs_namecheck.c's pool_namecheck and the names libzfs
/// reserves when a pool is created (zpool_name_valid: vdev keywords would be read as such).
fn pool_name_fault(name: &str) -> Option<&'static str> {
    Some(if name.len() >= MAX_POOL_NAME {
        "is longer than the 239 characters ZFS takes"
    } else if !name.chars().all(zfs_char) {
        "has a character ZFS does not take: letters, digits and `_-.: ` only"
    } else if !name.starts_with(|c: char| c.is_ascii_alphabetic()) {
        "does not begin with a letter"
    } else if ["mirror", "raidz", "draid", "spare"]
        .iter()
        .any(|r| name.starts_with(r))
        || name == "log"
    {
        "is reserved by zpool: it must not be `log` nor begin with mirror, raidz, draid or spare"
    } else if name.starts_with('c') && name[1..].starts_with(|c: char| c.is_ascii_digit()) {
        "looks like a Solaris disk name (c0...), which ZFS refuses"
    } else {
        return None;
    })
}

/// Why ZFS refuses `name` for a dataset (dataset_namecheck, entity_namecheck): at most 255
/// characters, components of letters, digits and `_-.: `, none empty, `.` or `..`.
fn dataset_name_fault(name: &str) -> Option<&'static str> {
    Some(if name.len() >= MAX_DATASET_NAME {
        "is longer than the 255 characters ZFS takes"
    } else if !name.contains('/') {
        "names no dataset inside a pool: write POOL/NAME"
    } else if !name.chars().all(|c| c == '/' || zfs_char(c)) {
        "has a character ZFS does not take: letters, digits and `_-.: ` only"
    } else if name.split('/').any(|c| matches!(c, "" | "." | "..")) {
        "has an empty, `.` or `..` component"
    } else {
        return None;
    })
}

/// Where a dataset is mounted when its mountpoint is inherited or set: its parent's place and
/// its own last component, or what it sets; None for `none` and `legacy`, which children inherit.
fn mount_point(parent: Option<&str>, leaf: &str, set: Option<&str>) -> Option<String> {
    match set {
        Some("none" | "legacy") => None,
        Some(path) => match path.trim_end_matches('/') {
            "" => Some("/".to_string()),
            trimmed => Some(trimmed.to_string()),
        },
        None => parent.map(|p| format!("{}/{leaf}", p.trim_end_matches('/'))),
    }
}

/// Why `what` `name` may not mount at `path`: another of `mounts` is there.
fn shadowed(
    mounts: &[(Option<String>, &str)],
    path: &Option<String>,
    what: &str,
    name: &str,
) -> Option<String> {
    let path = path.as_deref()?;
    let (_, other) = mounts.iter().find(|(p, _)| p.as_deref() == Some(path))?;
    Some(format!(
        "{what} `{name}` mounts at {path}, where `{other}` does: one would hide the other"
    ))
}

/// Every problem of the layout, in the order of the file; empty when it is valid.
pub(super) fn validate(layout: &Layout) -> Vec<Problem> {
    let mut problems = Vec::new();
    if layout.version != 1 {
        problems.push(nowhere(format!(
            "layout version {} is not supported: this phoenix-zfs reads version 1",
            layout.version
        )));
    }
    let tolerance = layout.matching.size_tolerance_percent;
    if !(0.0..=10.0).contains(&tolerance) {
        problems.push(nowhere(format!(
            "matching.size_tolerance_percent = {tolerance} is out of range: use 0 to 10 (1 is typical)"
        )));
    }
    problems.extend(
        crate::firmware::validate_rules(&layout.firmware.rules)
            .err()
            .map(nowhere),
    );
    problems.extend(check_network(&layout.nfs.network).err().map(nowhere));
    if let Some(text) = &layout.zfs.arc_max {
        match ZfsSize::parse(text) {
            Err(e) => problems.push(nowhere(format!("zfs.arc_max: {e}"))),
            // OpenZFS takes a zfs_arc_max only above 64 MiB (pve-docs local-zfs, "Limit ZFS
            // Memory Usage"); the host's RAM and zfs_arc_min are checked when the plan is made.
            Ok(size) if size.bytes() <= crate::formats::arc::MINIMUM => problems.push(nowhere(format!(
                "zfs.arc_max = \"{text}\" is not above 64M, and ZFS ignores such a limit: use more than 64M (Proxmox suggests 2 GiB plus 1 GiB per TiB of pool storage)"
            ))),
            Ok(_) => {}
        }
    }
    if layout.pools.is_empty() {
        problems.push(nowhere(
            "the layout has no [[pool]]: describe at least one pool".into(),
        ));
    }
    let mut pool_names = BTreeSet::new();
    // Who mounts where, as (path, pool or dataset): two at one path hide one another. A layout
    // has tens of datasets, so a list does, and no map of another shape joins the binary.
    let mut mounts: Vec<(Option<String>, &str)> = Vec::new();
    for pool in &layout.pools {
        validate_pool(pool, &mut problems);
        if !pool_names.insert(pool.name()) {
            problems.push(at(
                pool.name.span(),
                format!("pool `{}` is described twice", pool.name()),
            ));
            continue;
        }
        let set = pool
            .filesystem_properties
            .get("mountpoint")
            .map(|v| v.as_str());
        let path = mount_point(Some("/"), pool.name(), set);
        if let Some(e) = shadowed(&mounts, &path, "pool", pool.name()) {
            problems.push(at(pool.name.span(), e));
        }
        mounts.push((path, pool.name()));
    }
    let mut dataset_names = BTreeSet::new();
    let mut storage_ids = BTreeSet::new();
    let mut bind_paths: Vec<(&str, &str)> = Vec::new();
    for ds in &layout.datasets {
        let name = ds.name();
        let span = ds.name.span();
        let mut problem = |message: String| problems.push(at(span.clone(), message));
        if let Some(why) = dataset_name_fault(name) {
            problem(format!("dataset name `{name}` {why}"));
            continue;
        }
        let parent = name.rsplit_once('/').map_or(name, |(p, _)| p);
        if !pool_names.contains(ds.pool()) {
            problem(format!(
                "dataset `{name}` is in pool `{}`, which the layout does not describe",
                ds.pool()
            ));
        } else if parent != ds.pool() && !dataset_names.contains(parent) {
            problem(format!(
                "dataset `{name}` comes before its parent `{parent}`: describe `{parent}` first"
            ));
        }
        if !dataset_names.insert(name) {
            problem(format!("dataset `{name}` is described twice"));
            continue;
        }
        for (prop, value) in &ds.properties {
            if let Err(e) = check(PropertyScope::Dataset, prop, value.as_str()) {
                problem(format!("dataset `{name}`: properties: {e}"));
            }
        }
        if ds.properties.contains_key("volblocksize") {
            problem(format!(
                "dataset `{name}`: volblocksize applies to zvols only; for the zvols Proxmox creates set `blocksize` in its proxmox table"
            ));
        }
        let leaf = name.rsplit('/').next().unwrap_or(name);
        let inherited = mounts
            .iter()
            .find(|(_, owner)| *owner == parent)
            .and_then(|(path, _)| path.as_deref());
        let set = ds.properties.get("mountpoint").map(|v| v.as_str());
        let path = mount_point(inherited, leaf, set);
        if let Some(e) = shadowed(&mounts, &path, "dataset", name) {
            problem(e);
        }
        mounts.push((path, name));
        if let Some(storage) = &ds.proxmox {
            if let Err(e) = validate_storage(name, ds.serves, storage) {
                problem(e);
            }
            if !storage_ids.insert(storage.storage.as_str()) {
                problem(format!(
                    "Proxmox storage `{}` is used twice",
                    storage.storage
                ));
            }
        }
        if ds.nfs.is_some() && ds.serves != DatasetRole::Files {
            problem(format!(
                "dataset `{name}`: only datasets with serves = \"files\" can be exported over NFS"
            ));
        }
        if let Some(bind) = &ds.bind_mount {
            if !bind.path.starts_with('/') || bind.path.contains(',') {
                problem(format!(
                    "dataset `{name}`: bind_mount.path `{}` must be an absolute path without commas", bind.path
                ));
            } else {
                let path = bind.path.trim_end_matches('/');
                if let Some((_, other)) = bind_paths.iter().find(|(p, _)| *p == path) {
                    problem(format!(
                        "dataset `{name}`: bind_mount.path `{}` is `{other}`'s too: in a container one would hide the other",
                        bind.path
                    ));
                }
                bind_paths.push((path, name));
            }
            if let Some(bad) = bind
                .options
                .iter()
                .find(|o| !MOUNT_OPTIONS.contains(&o.as_str()))
            {
                problem(format!(
                    "dataset `{name}`: bind_mount option `{bad}` is not one Proxmox accepts ({})",
                    MOUNT_OPTIONS.join(", ")
                ));
            }
        }
    }
    problems
}

fn validate_pool(pool: &PoolSpec, problems: &mut Vec<Problem>) {
    let name = pool.name();
    let mut problem = |span: Range<usize>, message: String| problems.push(at(span, message));
    if let Some(why) = pool_name_fault(name) {
        problem(pool.name.span(), format!("pool name `{name}` {why}"));
    }
    let drives = *pool.drives.get_ref();
    let span = pool.drives.span();
    match pool.vdev {
        VdevLayout::Single if drives != 1 => problem(
            span.clone(),
            format!("pool `{name}`: vdev = \"single\" takes exactly 1 drive, not {drives}"),
        ),
        VdevLayout::Mirror if drives < 2 => problem(
            span.clone(),
            format!("pool `{name}`: a mirror needs at least 2 drives, not {drives}"),
        ),
        _ => {}
    }
    if !pool.serials.is_empty() && pool.serials.len() != drives as usize {
        problem(
            span,
            format!(
                "pool `{name}`: serials names {} drive(s) but drives = {drives}",
                pool.serials.len()
            ),
        );
    }
    if pool.models.iter().any(|m| m.trim().is_empty()) {
        problem(
            pool.name.span(),
            format!("pool `{name}`: an entry of models is empty"),
        );
    }
    for (prop, value) in &pool.properties {
        if let Err(e) = check(PropertyScope::Pool, prop, value.as_str()) {
            problem(pool.name.span(), format!("pool `{name}`: properties: {e}"));
        }
    }
    for (prop, value) in &pool.filesystem_properties {
        if let Err(e) = check(PropertyScope::Dataset, prop, value.as_str()) {
            problem(
                pool.name.span(),
                format!("pool `{name}`: filesystem_properties: {e}"),
            );
        }
    }
}

fn validate_storage(
    dataset: &str,
    role: DatasetRole,
    s: &super::ProxmoxStorage,
) -> Result<(), String> {
    let id_ok = s
        .storage
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic())
        && s.storage
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c));
    if !id_ok {
        return Err(format!(
            "dataset `{dataset}`: Proxmox storage ID `{}` is not valid: start with a letter, then letters, digits, `-_.`",
            s.storage
        ));
    }
    let (allowed, fits_role) = match s.kind {
        StorageType::Zfspool => (ZFSPOOL_CONTENT, role != DatasetRole::Files),
        StorageType::Dir => (DIR_CONTENT, role == DatasetRole::Files),
    };
    if !fits_role {
        return Err(format!(
            "dataset `{dataset}`: a {:?} storage does not fit serves = {role:?}: zfspool serves zvols or subvols, dir serves files",
            s.kind
        )
        .to_lowercase());
    }
    if s.content.is_empty() {
        return Err(format!(
            "dataset `{dataset}`: proxmox.content is empty: name at least one of {}",
            allowed.join(", ")
        ));
    }
    if let Some(bad) = s.content.iter().find(|c| !allowed.contains(&c.as_str())) {
        return Err(format!(
            "dataset `{dataset}`: content `{bad}` is not allowed on this storage type: use {}",
            allowed.join(", ")
        ));
    }
    if s.kind == StorageType::Dir && (s.sparse.is_some() || s.blocksize.is_some()) {
        return Err(format!(
            "dataset `{dataset}`: sparse and blocksize apply to zfspool storages only"
        ));
    }
    if let Some(bs) = &s.blocksize {
        check(PropertyScope::Dataset, "volblocksize", bs)
            .map_err(|e| format!("dataset `{dataset}`: proxmox.blocksize: {e}"))?;
    }
    Ok(())
}

fn check_network(network: &str) -> Result<(), String> {
    if network == "auto" {
        return Ok(());
    }
    let ok = network.split_once('/').is_some_and(|(addr, bits)| {
        let bits: Option<u8> = bits.parse().ok();
        match addr.parse::<std::net::IpAddr>() {
            Ok(std::net::IpAddr::V4(_)) => bits.is_some_and(|b| b <= 32),
            Ok(std::net::IpAddr::V6(_)) => bits.is_some_and(|b| b <= 128),
            Err(_) => false,
        }
    });
    if ok {
        Ok(())
    } else {
        Err(format!("nfs.network `{network}` is not valid: use \"auto\" or a network such as \"192.0.2.0/24\""))
    }
}

/// Something valid but questionable, as an expert reviewer would say it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Warning {
    /// A stable identifier, for scripts: `quota-overcommit`, `recordsize-on-zvols`, ...
    pub code: &'static str,
    /// The pool or dataset it is about.
    pub subject: String,
    pub message: String,
}

/// About what a pool of vdev capacity `bytes` lets datasets use: the whole-disk partitioning ZFS
/// does (1 MiB in front, 8 MiB reserved partition), labels and boot area, then the slop space ZFS
/// keeps back (1/32 of the pool, at least 128 MiB, at most 128 GiB).
pub fn usable_estimate(vdev_bytes: u64) -> u64 {
    let raw = vdev_bytes.saturating_sub(9 << 20).saturating_sub(4 << 20);
    let slop = (raw / 32).clamp(128 << 20, 128 << 30);
    raw.saturating_sub(slop)
}

/// Warnings that follow from the layout alone (the plan adds those that need the hardware).
pub fn layout_warnings(layout: &Layout) -> Vec<Warning> {
    let mut warnings = Vec::new();
    for pool in &layout.pools {
        if pool.vdev == VdevLayout::Mirror && pool.size_class.is_none() {
            warnings.push(Warning {
                code: "mirror-without-size-class",
                subject: pool.name().to_string(),
                message: format!(
                    "pool `{}` is a mirror with no size_class: members of different sizes can be chosen, and a mirror holds only as much as its smallest member",
                    pool.name()
                ),
            });
        }
        if let Some(class) = pool.size_class {
            warnings.extend(quota_overcommit(
                layout,
                pool,
                class.idema_bytes(),
                &format!("{} {class} drive(s)", pool.vdev),
            ));
        }
    }
    for ds in &layout.datasets {
        // Proxmox accepts it, so it is no error; but a bind shares the pool's file system and
        // the kernel ignores file-system options on a bind.
        if ds
            .bind_mount
            .as_ref()
            .is_some_and(|b| b.options.iter().any(|o| o == "discard"))
        {
            warnings.push(Warning {
                code: "bind-discard",
                subject: ds.name().to_string(),
                message: format!(
                    "dataset `{}`: bind_mount option `discard` has no effect: the kernel ignores file-system options on a bind mount; the pool's autotrim = \"on\" frees the drives' blocks instead, so drop `discard`",
                    ds.name()
                ),
            });
        }
        if ds.serves == DatasetRole::Zvols && ds.properties.contains_key("recordsize") {
            let blocksize = ds
                .proxmox
                .as_ref()
                .and_then(|p| p.blocksize.as_deref())
                .unwrap_or("16k, Proxmox's default");
            warnings.push(Warning {
                code: "recordsize-on-zvols",
                subject: ds.name().to_string(),
                message: format!(
                    "dataset `{}` holds zvols, and recordsize does not apply to zvols: their block size is the Proxmox storage's blocksize ({blocksize})",
                    ds.name()
                ),
            });
        }
    }
    warnings
}

/// Quotas of a pool's datasets against what the pool can hold, in ZFS's binary units.
pub fn quota_overcommit(
    layout: &Layout,
    pool: &PoolSpec,
    vdev_bytes: u64,
    what: &str,
) -> Option<Warning> {
    let quotas: Vec<(String, u64)> = layout
        .datasets_of(pool.name())
        .filter_map(|d| {
            let q = d.properties.get("quota")?;
            let bytes = ZfsSize::parse(q.as_str()).ok()?.bytes();
            Some((q.as_str().to_string(), bytes))
        })
        .collect();
    let total: u64 = quotas.iter().map(|(_, b)| b).sum();
    let usable = usable_estimate(vdev_bytes);
    if total <= usable {
        return None;
    }
    let terms: Vec<&str> = quotas.iter().map(|(q, _)| q.as_str()).collect();
    Some(Warning {
        code: "quota-overcommit",
        subject: pool.name().to_string(),
        message: format!(
            "quotas on pool `{}` add up to {} ({}), more than the about {} that {what} can hold: ZFS quotas are binary (800G is 800 GiB = {}), so the datasets can fill the pool before any reaches its quota",
            pool.name(),
            size::binary(total),
            terms.join(" + "),
            size::binary(usable),
            size::decimal(800 << 30),
        ),
    })
}
