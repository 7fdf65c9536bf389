//! What apply can do: each action is a value with the one command that carries it out.

use crate::formats::zfs::{self, Topology, TopologyKind};
use crate::layout::VdevLayout;
use serde::Serialize;
use std::collections::BTreeMap;

/// Who allowed a wipe.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "by", rename_all = "kebab-case")]
pub enum WipeConsent {
    /// The administrator named the drive's serial with `--wipe`.
    Named,
    /// The journal names the drive for this create, and every witness shows nothing else.
    InterruptedCreate { pool: String, started_at: String },
}

impl std::fmt::Display for WipeConsent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            WipeConsent::Named => f.write_str("named with --wipe"),
            WipeConsent::InterruptedCreate { pool, started_at } => write!(
                f,
                "the remains of creating pool {pool}, begun at {started_at} and cut off"
            ),
        }
    }
}

/// One change to the world. Every variant is safe to retry: apply re-plans from observed state,
/// so an action that already happened is simply not planned again.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "action", rename_all = "kebab-case")]
pub enum Action {
    /// Clear the ZFS labels of an old pool from a drive named with `--wipe SERIAL` (wipefs alone
    /// can leave labels behind that make a later `zpool import` find a ghost pool).
    ClearZfsLabels {
        /// The drive in words, for people; JSON has the path.
        #[serde(skip)]
        drive: String,
        path: String,
    },
    /// Erase the signatures of a drive (or of one of its partitions, `path` ending `-partN`):
    /// one the administrator named with `--wipe SERIAL`, or the remains of our own interrupted
    /// create that the journal and every witness vouch for.
    WipeDrive {
        #[serde(skip)]
        drive: String,
        serial: String,
        path: String,
        /// What each witness found there: what the wipe erases.
        signatures: Vec<crate::contents::Finding>,
        consent: WipeConsent,
    },
    /// Import an existing, exported pool by GUID, keeping by-id device names.
    ImportPool {
        pool: String,
        guid: u64,
        /// `zpool import -f`: only when the administrator passed --force-import.
        force: bool,
        /// `-R DIR`: the installed system's root under a live system (`--target-root`).
        #[serde(skip_serializing_if = "Option::is_none")]
        altroot: Option<String>,
    },
    /// Never `-f`: every drive is blank by every witness by then (wiped, if it had to be), so
    /// zpool's own in-use check stays a last witness.
    CreatePool {
        pool: String,
        vdev: VdevLayout,
        devices: Vec<String>,
        properties: BTreeMap<String, String>,
        filesystem_properties: BTreeMap<String, String>,
        /// `-R DIR`, as for [`Action::ImportPool`].
        #[serde(skip_serializing_if = "Option::is_none")]
        altroot: Option<String>,
    },
    /// Put a new drive in the place of a mirror member zpool reports missing; zpool then
    /// resilvers it from the remaining members.
    ReplaceMember {
        pool: String,
        /// The member as `zpool status -P` names it: its GUID once the path is gone.
        missing: String,
        /// The path the member had ("was PATH"), for people.
        was: Option<String>,
        /// The new drive, for people.
        #[serde(skip)]
        drive: String,
        /// The new drive's by-id path (the whole drive).
        new_device: String,
    },
    SetPoolProperty {
        pool: String,
        property: String,
        from: String,
        to: String,
    },
    CreateDataset {
        dataset: String,
        properties: BTreeMap<String, String>,
    },
    SetDatasetProperties {
        dataset: String,
        changes: Vec<PropertyChange>,
    },
    /// Install Debian packages a service needs (the NFS server, which Proxmox's ISO lacks).
    InstallPackages { packages: Vec<String>, why: String },
    /// Add or change a Proxmox storage with `pvesm`.
    RegisterStorage {
        storage: String,
        /// `add`, or `set` with what differs.
        change: String,
        argv: Vec<String>,
    },
    /// Replace a configuration file with `content` (written to a temporary file beside it, then
    /// renamed over it). The one kind of action that runs no command: argv is empty.
    WriteFile {
        path: String,
        content: String,
        purpose: String,
    },
    /// Make a running service read its changed configuration; nothing when it is not running.
    ReloadService { unit: String },
    /// Set a kernel module parameter now, through /sys/module (written directly: sysfs files
    /// cannot be replaced by a rename). Runs no command: argv is empty.
    SetModuleParameter {
        path: String,
        from: String,
        to: String,
    },
    /// Rebuild the initramfs of every kernel, which carries a copy of /etc/modprobe.d.
    RefreshInitramfs { why: String },
    /// Hand a pool back to the installed system at the end of a run from a live system.
    ExportPool { pool: String, why: String },
    /// Bind a shared dataset into a container (`phoenix-zfs attach`), with `pct set`.
    BindMount {
        ctid: u32,
        dataset: String,
        argv: Vec<String>,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PropertyChange {
    pub property: String,
    /// What `zfs get -p` printed, in the layout's units (`1M`, not `1048576`).
    pub from: String,
    /// As the layout writes it.
    pub to: String,
}

impl Action {
    /// The one command that carries out this action.
    pub fn argv(&self) -> Vec<String> {
        let pairs = |m: &BTreeMap<String, String>| {
            m.iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect::<Vec<_>>()
        };
        match self {
            Action::ClearZfsLabels { path, .. } => vec![
                "zpool".into(),
                "labelclear".into(),
                "-f".into(),
                path.clone(),
            ],
            Action::WipeDrive { path, .. } => vec!["wipefs".into(), "--all".into(), path.clone()],
            Action::ImportPool {
                guid,
                force,
                altroot,
                ..
            } => {
                let argv = if *force {
                    zfs::zpool_import_forced(&guid.to_string(), None, None)
                } else {
                    zfs::zpool_import(&guid.to_string(), None, None)
                };
                with_altroot(argv, altroot)
            }
            Action::CreatePool {
                pool,
                vdev,
                devices,
                properties,
                filesystem_properties,
                altroot,
            } => {
                let kind = match vdev {
                    VdevLayout::Single => TopologyKind::Single,
                    VdevLayout::Mirror => TopologyKind::Mirror,
                };
                let topology = Topology {
                    kind,
                    devices: devices.clone(),
                };
                let argv = zfs::zpool_create(
                    pool,
                    &topology,
                    &pairs(properties),
                    &pairs(filesystem_properties),
                );
                with_altroot(argv, altroot)
            }
            Action::ReplaceMember {
                pool,
                missing,
                new_device,
                ..
            } => zfs::zpool_replace(pool, missing, new_device),
            Action::SetPoolProperty {
                pool, property, to, ..
            } => zfs::zpool_set(pool, property, to),
            Action::CreateDataset {
                dataset,
                properties,
            } => zfs::zfs_create(dataset, &pairs(properties)),
            Action::SetDatasetProperties { dataset, changes } => {
                let props: Vec<(String, String)> = changes
                    .iter()
                    .map(|c| (c.property.clone(), c.to.clone()))
                    .collect();
                zfs::zfs_set(dataset, &props)
            }
            Action::InstallPackages { packages, .. } => {
                // No debconf questions: nobody is at the console of a first boot.
                let mut argv: Vec<String> = [
                    "env",
                    "DEBIAN_FRONTEND=noninteractive",
                    "apt-get",
                    "install",
                    "--yes",
                    "--no-install-recommends",
                ]
                .iter()
                .map(|s| s.to_string())
                .collect();
                argv.extend(packages.iter().cloned());
                argv
            }
            Action::ExportPool { pool, .. } => zfs::zpool_export(pool),
            Action::RegisterStorage { argv, .. } | Action::BindMount { argv, .. } => argv.clone(),
            Action::WriteFile { .. } | Action::SetModuleParameter { .. } => Vec::new(),
            Action::RefreshInitramfs { .. } => vec![
                "update-initramfs".into(),
                "-u".into(),
                "-k".into(),
                "all".into(),
            ],
            Action::ReloadService { unit } => vec![
                "systemctl".into(),
                "try-reload-or-restart".into(),
                unit.clone(),
            ],
        }
    }

    pub fn summary(&self) -> String {
        let props = |m: &BTreeMap<String, String>| {
            m.iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join(" ")
        };
        match self {
            Action::ClearZfsLabels { drive, path } => {
                format!("clear the ZFS labels of {drive} at {path}")
            }
            Action::WipeDrive {
                drive,
                signatures,
                consent,
                ..
            } => {
                let said: Vec<String> = signatures.iter().map(ToString::to_string).collect();
                format!("wipe {drive} ({consent}): erase {}", said.join("; "))
            }
            Action::ImportPool {
                pool,
                guid,
                force,
                altroot,
            } => format!(
                "import pool {pool} (guid {guid}){}{}",
                if *force {
                    ", forced (--force-import)"
                } else {
                    ""
                },
                under(altroot)
            ),
            Action::CreatePool {
                pool,
                vdev,
                devices,
                properties,
                filesystem_properties,
                altroot,
                ..
            } => format!(
                "create pool {pool}: {vdev} of {} [{}] [root: {}]{}",
                devices.join(" "),
                props(properties),
                props(filesystem_properties),
                under(altroot)
            ),
            Action::ReplaceMember {
                pool,
                missing,
                was,
                drive,
                new_device,
            } => {
                let was = was
                    .as_deref()
                    .map(|w| format!(" (was {w})"))
                    .unwrap_or_default();
                format!("replace missing member {missing}{was} of pool {pool} by {drive} at {new_device}")
            }
            Action::SetPoolProperty {
                pool,
                property,
                from,
                to,
            } => format!("set {property}={to} on pool {pool} (now {from})"),
            Action::CreateDataset {
                dataset,
                properties,
            } => format!("create dataset {dataset} [{}]", props(properties)),
            Action::SetDatasetProperties { dataset, changes } => {
                let c: Vec<String> = changes
                    .iter()
                    .map(|c| format!("{}={} (now {})", c.property, c.to, c.from))
                    .collect();
                format!("set on {dataset}: {}", c.join(", "))
            }
            Action::InstallPackages { packages, why } => {
                format!("install {} ({why})", packages.join(" "))
            }
            Action::RegisterStorage {
                storage, change, ..
            } => format!("{change} Proxmox storage {storage}"),
            Action::WriteFile { path, purpose, .. } => format!("write {path}: {purpose}"),
            Action::ReloadService { unit } => format!("reload {unit} if it is running"),
            Action::SetModuleParameter { path, from, to } => {
                format!("write {to} to {path} (now {from})")
            }
            Action::RefreshInitramfs { why } => format!("update the initramfs ({why})"),
            Action::ExportPool { pool, why } => format!("export pool {pool}: {why}"),
            Action::BindMount { ctid, dataset, .. } => {
                format!("bind {dataset} into container {ctid}")
            }
        }
    }
}

/// `zpool import/create -R DIR ...`: the option goes right after the subcommand.
fn with_altroot(mut argv: Vec<String>, altroot: &Option<String>) -> Vec<String> {
    if let Some(dir) = altroot {
        argv.splice(2..2, ["-R".to_string(), dir.clone()]);
    }
    argv
}

fn under(altroot: &Option<String>) -> String {
    altroot
        .as_deref()
        .map(|dir| format!(", mounted under {dir}"))
        .unwrap_or_default()
}

/// The drives `actions` wipe, by serial (by path for one without), each once.
pub fn wiped_drives(actions: &[Action]) -> Vec<&str> {
    let mut drives: Vec<&str> = Vec::new();
    for a in actions {
        if let Action::WipeDrive { serial, path, .. } = a {
            let who = if serial.is_empty() { path } else { serial };
            if !drives.contains(&who.as_str()) {
                drives.push(who);
            }
        }
    }
    drives
}

/// One way the host differs from the layout, as `verify` reports it, in text (its `Display`)
/// and in JSON alike.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Difference {
    /// What differs: `pool`, `dataset`, `drive`, `package`, `storage`, `file`, `parameter`.
    pub kind: &'static str,
    /// Which one: the pool's, dataset's or storage's name, the drive's serial, the path.
    pub object: String,
    /// The property that differs; None when the object itself is missing or not as it should be.
    pub property: Option<String>,
    /// What the host has, in the layout's units; None when the object does not exist.
    pub found: Option<String>,
    /// What the layout asks for, where there is a value to say.
    pub wanted: Option<String>,
}

/// `dataset quickOS/x: recordsize is 1M, the layout says 16K`, `pool fastData does not exist`.
impl std::fmt::Display for Difference {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.kind, self.object)?;
        let Some(found) = &self.found else {
            return f.write_str(" does not exist");
        };
        match &self.property {
            Some(property) => write!(f, ": {property} is {found}")?,
            None => write!(f, " is {found}")?,
        }
        match &self.wanted {
            Some(wanted) => write!(f, ", the layout says {wanted}"),
            None => Ok(()),
        }
    }
}

impl Action {
    /// Whether it erases what is on a drive: `wipefs`, `zpool labelclear`.
    pub fn destroys_data(&self) -> bool {
        matches!(
            self,
            Action::ClearZfsLabels { .. } | Action::WipeDrive { .. }
        )
    }

    /// What this action says about the host, as differences from the layout, added to `out`.
    /// None for the steps that follow another (a reload after its file) or come after
    /// convergence (an export).
    pub fn differences(&self, out: &mut Vec<Difference>) {
        if let Action::SetDatasetProperties { dataset, changes } = self {
            for c in changes {
                out.push(Difference {
                    kind: "dataset",
                    object: dataset.clone(),
                    property: Some(c.property.clone()),
                    found: Some(c.from.clone()),
                    wanted: Some(c.to.clone()),
                });
            }
            return;
        }
        let owned = |s: &String| Some(s.clone());
        let (kind, object, property, found, wanted) = match self {
            Action::ClearZfsLabels { path, .. } => (
                "drive",
                path,
                None,
                Some("holding the labels of an old pool".into()),
                None,
            ),
            Action::WipeDrive {
                serial,
                path,
                consent,
                ..
            } => (
                "drive",
                if serial.is_empty() { path } else { serial },
                None,
                Some(format!("holding data ({consent})")),
                None,
            ),
            Action::ImportPool { pool, .. } => (
                "pool",
                pool,
                None,
                Some("exported".into()),
                Some("imported".into()),
            ),
            Action::CreatePool { pool, .. } => ("pool", pool, None, None, None),
            Action::ReplaceMember {
                pool,
                missing,
                was,
                new_device,
                ..
            } => (
                "pool",
                pool,
                Some(format!("member {missing}")),
                Some(match was {
                    Some(was) => format!("missing (was {was})"),
                    None => "missing".into(),
                }),
                owned(new_device),
            ),
            Action::SetPoolProperty {
                pool,
                property,
                from,
                to,
            } => ("pool", pool, owned(property), owned(from), owned(to)),
            Action::CreateDataset { dataset, .. } => ("dataset", dataset, None, None, None),
            Action::InstallPackages { packages, .. } => (
                "package",
                &packages.join(" "),
                None,
                Some("not installed".into()),
                None,
            ),
            Action::RegisterStorage {
                storage, change, ..
            } => (
                "storage",
                storage,
                None,
                change
                    .strip_prefix("set ")
                    .map(|what| format!("different {what}")),
                None,
            ),
            Action::WriteFile { path, purpose, .. } => (
                "file",
                path,
                None,
                Some("not as phoenix-zfs writes it".into()),
                owned(purpose),
            ),
            Action::SetModuleParameter { path, from, to } => {
                ("parameter", path, None, owned(from), owned(to))
            }
            Action::BindMount { ctid, dataset, .. } => (
                "dataset",
                dataset,
                None,
                Some(format!("not bound into container {ctid}")),
                None,
            ),
            Action::SetDatasetProperties { .. }
            | Action::ReloadService { .. }
            | Action::RefreshInitramfs { .. }
            | Action::ExportPool { .. } => return,
        };
        out.push(Difference {
            kind,
            object: object.to_string(),
            property,
            found,
            wanted,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn differences(action: &Action) -> Vec<Difference> {
        let mut found = Vec::new();
        action.differences(&mut found);
        found
    }

    fn said(action: &Action) -> Vec<String> {
        differences(action)
            .iter()
            .map(ToString::to_string)
            .collect()
    }

    #[test]
    fn a_difference_says_in_text_what_its_fields_say() {
        let changed = Action::SetDatasetProperties {
            dataset: "quickOS/x".into(),
            changes: vec![PropertyChange {
                property: "recordsize".into(),
                from: "1M".into(),
                to: "16K".into(),
            }],
        };
        assert_eq!(
            said(&changed),
            ["dataset quickOS/x: recordsize is 1M, the layout says 16K"]
        );
        let d = &differences(&changed)[0];
        assert_eq!(
            (
                d.kind,
                d.property.as_deref(),
                d.found.as_deref(),
                d.wanted.as_deref()
            ),
            ("dataset", Some("recordsize"), Some("1M"), Some("16K"))
        );
        let missing = Action::CreateDataset {
            dataset: "fastData/iso".into(),
            properties: BTreeMap::new(),
        };
        assert_eq!(said(&missing), ["dataset fastData/iso does not exist"]);
        assert_eq!(differences(&missing)[0].found, None);
        let exported = Action::ImportPool {
            pool: "quickOS".into(),
            guid: 1,
            force: false,
            altroot: None,
        };
        assert_eq!(
            said(&exported),
            ["pool quickOS is exported, the layout says imported"]
        );
        // An export hands the pools back after convergence: no difference.
        let export = Action::ExportPool {
            pool: "quickOS".into(),
            why: String::new(),
        };
        assert!(differences(&export).is_empty());
    }

    #[test]
    fn only_wipes_and_labelclears_destroy_data_and_each_drive_is_wiped_once() {
        let wipe = |serial: &str, path: &str| Action::WipeDrive {
            drive: String::new(),
            serial: serial.into(),
            path: path.into(),
            signatures: Vec::new(),
            consent: WipeConsent::Named,
        };
        let actions = [
            wipe("S1", "/dev/disk/by-id/a-part1"),
            wipe("S1", "/dev/disk/by-id/a"),
            Action::ClearZfsLabels {
                drive: String::new(),
                path: "/dev/disk/by-id/b".into(),
            },
            wipe("", "/dev/disk/by-id/b"),
            Action::ReloadService { unit: "x".into() },
        ];
        let destroying: Vec<bool> = actions.iter().map(Action::destroys_data).collect();
        assert_eq!(destroying, [true, true, true, true, false]);
        assert_eq!(wiped_drives(&actions), ["S1", "/dev/disk/by-id/b"]);
    }
}
