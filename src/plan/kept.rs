//! A kept plan: `plan --out FILE` writes the plan's actions with a fingerprint of what it was
//! made from, and `apply --plan FILE` runs them only on a host that reads the same, as
//! `terraform plan -out` and `terraform apply PLANFILE` do. Pure: the fingerprint is a function of
//! what the host's assessment read, and the file is JSON with its keys sorted.
//!
//! The fingerprint holds every drive as the witnesses saw it (sysfs's identity, size and device
//! number, the probe's findings, udev's view, the partitions, what uses it), udev's list of ZFS
//! members, the pools (imported, exported, destroyed) with their vdevs and properties, the layout's
//! datasets with their properties (`sharenfs`: the NFS exports), the Proxmox storages and the
//! NFS server, smartd.conf and the ARC limit. Not the drives' health readings, whose temperature and
//! hours move between any two reads, nor a pool's scan line (a scrub's progress); a drive whose
//! controller turns read-only meanwhile is still refused by apply's own health check.

use crate::host::assess::Assessment;
use crate::host::inventory::Inventory;
use crate::host::services::HostServices;
use crate::host::zfs_state::Observed;
use crate::layout::Layout;
use crate::plan::{Action, Consent};
use serde::Serialize;
use serde_json::{json, Map, Value};
use std::path::{Path, PathBuf};

/// The `schema` of a kept plan's file; another one is not read.
pub const SCHEMA: &str = "phoenix-zfs-plan/1";

/// The fingerprint's parts: the key, the word that names one of its entries in a message, and
/// whether it is keyed by entry (a drive, a pool) or compared as one thing.
const PARTS: &[(&str, &str, bool)] = &[
    ("drives", "drive", true),
    ("udev_zfs", "udev's list of ZFS members", false),
    ("pools", "pool", true),
    ("other_pools", "pool", true),
    ("exported", "exported pool", true),
    ("destroyed", "destroyed pool", true),
    ("datasets", "dataset", true),
    ("storages", "Proxmox storage", true),
    ("nfs", "the NFS server", false),
    ("smartd", "/etc/smartd.conf", false),
    ("arc", "the ARC limit", false),
];

fn value(v: &impl Serialize) -> Value {
    serde_json::to_value(v).unwrap_or(Value::Null)
}

fn keyed(entries: impl Iterator<Item = (String, Value)>) -> Value {
    Value::Object(entries.collect())
}

/// What the plan was made from, as JSON with sorted keys: equal exactly when the host reads the
/// same. Drives are keyed by the word `--wipe` names them with (the serial), so that a drive
/// swapped for another is one gone and one new.
pub fn fingerprint(inventory: &Inventory, observed: &Observed, services: &HostServices) -> Value {
    let drives = inventory.disks.iter().map(|d| {
        let key = d.wipe_name(&inventory.disks);
        (key.unwrap_or_else(|| d.name.clone()), value(d))
    });
    let pools = observed.pools.iter().map(|p| {
        let mut v = value(p);
        if let Some(pool) = v.as_object_mut() {
            pool.remove("scan");
        }
        (p.name.clone(), v)
    });
    let others = observed.other_pools.iter();
    let scanned = |pools: &[crate::host::zfs_state::ImportablePool]| {
        keyed(
            pools
                .iter()
                .map(|p| (format!("{} (guid {})", p.name, p.guid), value(p))),
        )
    };
    // Without line numbers: a comment added to storage.cfg changes no storage.
    let storages = services.proxmox.ready().map_or(Value::Null, |cfg| {
        keyed(cfg.sections.iter().map(|s| {
            let settings = json!({"type": s.kind, "settings": s.settings()});
            (s.id.clone(), settings)
        }))
    });
    json!({
        "drives": keyed(drives),
        "udev_zfs": inventory.udev_zfs,
        "pools": keyed(pools),
        "other_pools": keyed(others.map(|p| (p.name.clone(), value(p)))),
        "exported": scanned(&observed.importable),
        "destroyed": scanned(&observed.destroyed),
        "datasets": keyed(observed.datasets.iter().map(|d| (d.name.clone(), value(d)))),
        "storages": storages,
        "nfs": services.nfs,
        "smartd": services.smartd,
        "arc": services.arc,
    })
}

/// A field of a fingerprint's entry in an administrator's words.
fn field_word(field: &str) -> &str {
    match field {
        "size_bytes" => "size",
        "major_minor" => "device number",
        "preferred_path" => "by-id path",
        "probe" => "contents",
        "udev" => "udev's view",
        "ineligible" => "use",
        other => other,
    }
}

/// What differs between `then` and `now` of one entry, said of `what`.
fn describe(what: &str, then: &Value, now: &Value, fields: bool) -> Option<String> {
    let said = match (then, now) {
        _ if then == now => return None,
        (Value::Null, _) => "new".to_string(),
        (_, Value::Null) => "gone".to_string(),
        (Value::Object(a), Value::Object(b)) if fields => {
            let mut names: Vec<&String> = a.keys().chain(b.keys()).collect();
            names.sort();
            names.dedup();
            let changed: Vec<String> = names
                .into_iter()
                .filter_map(|k| {
                    let (x, y) = (&a.get(k), &b.get(k));
                    let word = field_word(k);
                    let scalar = |v: &Value| !v.is_object() && !v.is_array();
                    match (x, y) {
                        _ if x == y => None,
                        (Some(x), Some(y)) if scalar(x) && scalar(y) => {
                            Some(format!("{word} (was {x}, now {y})"))
                        }
                        _ => Some(word.to_string()),
                    }
                })
                .collect();
            format!("{} changed", changed.join(", "))
        }
        _ => "changed".to_string(),
    };
    Some(format!("{what}: {said} since the plan was made"))
}

/// Each difference between the fingerprint a plan was made from and the host's now, in words
/// that name the drive, pool, dataset or storage and what of it changed; empty when they match.
pub fn changes(then: &Value, now: &Value) -> Vec<String> {
    let mut said = Vec::new();
    for (part, word, by_entry) in PARTS {
        let (a, b) = (&then[part], &now[part]);
        if !by_entry {
            said.extend(describe(word, a, b, false));
            continue;
        }
        let none = Map::new();
        let (a, b) = (
            a.as_object().unwrap_or(&none),
            b.as_object().unwrap_or(&none),
        );
        let mut keys: Vec<&String> = a.keys().chain(b.keys()).collect();
        keys.sort();
        keys.dedup();
        for key in keys {
            let (x, y) = (a.get(key), b.get(key));
            let null = Value::Null;
            let what = format!("{word} {key}");
            said.extend(describe(
                &what,
                x.unwrap_or(&null),
                y.unwrap_or(&null),
                true,
            ));
        }
    }
    said
}

/// The actions as `plan --json` shows them: each with the argv that carries it out.
pub fn actions_json(actions: &[Action]) -> Value {
    Value::Array(
        actions
            .iter()
            .map(|action| {
                let mut v = value(action);
                if let Value::Object(map) = &mut v {
                    map.insert("argv".into(), json!(action.argv()));
                }
                v
            })
            .collect(),
    )
}

/// The layout's digest as the manifest records it (`layout.sha256`): of its meaning, so that a
/// comment changed in the file leaves it as it was.
pub fn layout_sha256(layout: &Layout) -> String {
    crate::manifest::LayoutRecord::new("", layout).sha256
}

/// The file `plan --out` writes: the plan of `a`, made with the layout (`layout_file`, None for
/// the embedded default) and `consent`, at `made_at`.
pub fn keep(
    a: &Assessment,
    layout: &Layout,
    layout_file: Option<&Path>,
    consent: &Consent,
    made_at: &str,
) -> Value {
    json!({
        "schema": SCHEMA,
        "made_at": made_at,
        "made_by": concat!("phoenix-zfs ", env!("CARGO_PKG_VERSION")),
        "layout": {"file": layout_file, "sha256": layout_sha256(layout)},
        "consent": {"wipe": consent.wipe, "force_import": consent.force_import},
        "actions": actions_json(&a.plan.actions),
        "afterwards": actions_json(&a.plan.afterwards),
        "fingerprint": fingerprint(&a.inventory, &a.observed, &a.services),
    })
}

/// A kept plan as `apply --plan` reads it back.
#[derive(Debug)]
pub struct Kept {
    /// The layout file the plan was made with; None for the embedded default.
    pub layout_file: Option<PathBuf>,
    /// The `--wipe` and `--force-import` the plan was made with.
    pub consent: Consent,
    file: Value,
}

/// Why a file is not a kept plan apply can run.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
#[error("not a plan `phoenix-zfs plan --out` wrote: {0}")]
pub struct NotAPlan(String);

/// Reads the text of a kept plan.
pub fn parse(text: &str) -> Result<Kept, NotAPlan> {
    let file: Value = serde_json::from_str(text).map_err(|e| NotAPlan(e.to_string()))?;
    if file["schema"] != SCHEMA {
        return Err(NotAPlan(format!(
            "its schema is {}, not {SCHEMA}",
            file["schema"]
        )));
    }
    let missing = |key: &str| NotAPlan(format!("`{key}` is missing or malformed"));
    let wipe = file["consent"]["wipe"]
        .as_array()
        .ok_or(missing("consent.wipe"))?;
    let wipe = wipe
        .iter()
        .map(|s| s.as_str().map(String::from))
        .collect::<Option<Vec<_>>>()
        .ok_or(missing("consent.wipe"))?;
    let force_import = file["consent"]["force_import"].as_bool();
    let layout_file = match &file["layout"]["file"] {
        Value::Null => None,
        Value::String(path) => Some(PathBuf::from(path)),
        _ => return Err(missing("layout.file")),
    };
    for key in ["actions", "afterwards"] {
        file[key].as_array().ok_or(missing(key))?;
    }
    file["layout"]["sha256"]
        .as_str()
        .ok_or(missing("layout.sha256"))?;
    file["fingerprint"]
        .as_object()
        .ok_or(missing("fingerprint"))?;
    Ok(Kept {
        layout_file,
        consent: Consent {
            wipe,
            force_import: force_import.ok_or(missing("consent.force_import"))?,
        },
        file,
    })
}

/// An action of a plan's JSON as a person recognises it: its command, or the file it writes.
fn action_line(action: Option<&Value>) -> String {
    let Some(action) = action else {
        return "none".into();
    };
    let argv: Vec<String> = action["argv"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|a| a.as_str().map(String::from))
        .collect();
    match action["path"].as_str() {
        Some(path) if argv.is_empty() => format!("write {path}"),
        _ => format!("`{}`", crate::runner::display(&argv)),
    }
}

impl Kept {
    /// Why the plan may not run on the host `a` read, with `layout`: the layout changed, what the
    /// host reads differs from the fingerprint, or (the same host, another phoenix-zfs or
    /// journal) the plan made now is not the kept one. Empty when it may run as it is.
    pub fn stale(&self, layout: &Layout, a: &Assessment) -> Vec<String> {
        if self.file["layout"]["sha256"] != layout_sha256(layout) {
            let file = self.layout_file.as_deref().map(Path::display);
            let which = file.map_or("the embedded default layout".into(), |f| f.to_string());
            return vec![format!("{which}: changed since the plan was made")];
        }
        let now = fingerprint(&a.inventory, &a.observed, &a.services);
        let said = changes(&self.file["fingerprint"], &now);
        if !said.is_empty() {
            return said;
        }
        let mut said = Vec::new();
        for (key, actions) in [
            ("actions", &a.plan.actions),
            ("afterwards", &a.plan.afterwards),
        ] {
            let (then, now) = (&self.file[key], actions_json(actions));
            let (then, now) = (then.as_array(), now.as_array());
            let (then, now) = (then.map_or(&[][..], |v| v), now.map_or(&[][..], |v| v));
            if let Some(i) = (0..then.len().max(now.len())).find(|&i| then.get(i) != now.get(i)) {
                said.push(format!(
                    "the plan made now differs at its {key} [{}]: kept {}, now {}",
                    i + 1,
                    action_line(then.get(i)),
                    action_line(now.get(i)),
                ));
            }
        }
        said
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::host::inventory::HostRoot;
    use crate::host::target::Target;

    fn host(name: &str) -> HostRoot {
        HostRoot(
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("tests/fixtures/hosts")
                .join(name),
        )
    }

    fn assessed(name: &str) -> Assessment {
        crate::host::assess::assess(
            &host(name),
            &Target::RunningSystem,
            &Layout::default_layout(),
            crate::host::assess::ZfsSource::Absent,
            &Consent::default(),
            &[],
            None,
        )
        .unwrap()
    }

    fn print(a: &Assessment) -> Value {
        fingerprint(&a.inventory, &a.observed, &a.services)
    }

    fn kept(a: &Assessment) -> Kept {
        let file = keep(
            a,
            &Layout::default_layout(),
            None,
            &Consent::default(),
            "then",
        );
        parse(&serde_json::to_string_pretty(&file).unwrap()).unwrap()
    }

    #[test]
    fn a_plan_kept_and_read_again_on_every_recorded_host_matches() {
        let hosts = std::fs::read_dir(host("").0).unwrap();
        let mut seen = 0;
        for entry in hosts.flatten().filter(|e| e.path().is_dir()) {
            let name = entry.file_name().to_string_lossy().into_owned();
            let (then, now) = (assessed(&name), assessed(&name));
            let kept = kept(&then);
            assert_eq!(
                kept.stale(&Layout::default_layout(), &now),
                Vec::<String>::new(),
                "{name}"
            );
            assert!(
                print(&then)["drives"]
                    .as_object()
                    .is_some_and(|d| !d.is_empty()),
                "{name}"
            );
            seen += 1;
        }
        assert!(seen >= 10, "only {seen} hosts");
    }

    #[test]
    fn the_file_keeps_the_consent_the_layout_and_the_actions_as_plan_json_shows_them() {
        let a = assessed("old-signatures");
        let consent = Consent {
            wipe: vec!["S2TA0001".into(), "S2TA0002".into()],
            force_import: true,
        };
        let layout = Layout::default_layout();
        let file = keep(&a, &layout, Some(Path::new("/etc/l.toml")), &consent, "now");
        let kept = parse(&file.to_string()).unwrap();
        assert_eq!(kept.consent, consent);
        assert_eq!(kept.layout_file.as_deref(), Some(Path::new("/etc/l.toml")));
        assert_eq!(file["schema"], SCHEMA);
        assert_eq!(file["actions"], actions_json(&a.plan.actions));
        let argv = &file["actions"][0]["argv"];
        assert!(argv.as_array().is_some_and(|a| !a.is_empty()), "{file:#}");
    }

    #[test]
    fn what_is_not_a_kept_plan_is_refused_naming_why() {
        let not = |text: &str| parse(text).unwrap_err().0;
        assert!(not("{").contains("EOF"));
        assert!(not(r#"{"schema": "phoenix-zfs-manifest/1"}"#).contains("phoenix-zfs-plan/1"));
        let a = assessed("qemu-default");
        let mut file = keep(
            &a,
            &Layout::default_layout(),
            None,
            &Consent::default(),
            "t",
        );
        file["consent"]["wipe"] = json!([1]);
        assert_eq!(
            not(&file.to_string()),
            "`consent.wipe` is missing or malformed"
        );
        file["consent"]["wipe"] = json!([]);
        file.as_object_mut().unwrap().remove("fingerprint");
        assert_eq!(
            not(&file.to_string()),
            "`fingerprint` is missing or malformed"
        );
    }

    /// The kept plan of qemu-default against the same host changed by `change`: what it says.
    fn stale_after(change: impl FnOnce(&mut Assessment)) -> Vec<String> {
        let then = assessed("qemu-default");
        let mut now = assessed("qemu-default");
        change(&mut now);
        kept(&then).stale(&Layout::default_layout(), &now)
    }

    fn disk<'a>(a: &'a mut Assessment, serial: &str) -> &'a mut crate::host::inventory::Disk {
        let mut disks = a.inventory.disks.iter_mut();
        disks.find(|d| d.serial.as_deref() == Some(serial)).unwrap()
    }

    #[test]
    fn a_drive_with_another_serial_is_one_gone_and_one_new() {
        let said = stale_after(|a| disk(a, "S2TA0002").serial = Some("S2TA0009".into()));
        assert_eq!(
            said,
            [
                "drive S2TA0002: gone since the plan was made",
                "drive S2TA0009: new since the plan was made"
            ]
        );
    }

    #[test]
    fn a_drive_of_another_size_is_named_with_both_sizes() {
        let said = stale_after(|a| disk(a, "S2TA0002").size_bytes = 1_000_204_886_016);
        assert_eq!(
            said,
            ["drive S2TA0002: size (was 2000398934016, now 1000204886016) changed since the plan was made"]
        );
    }

    #[test]
    fn a_new_partition_or_file_system_on_a_drive_is_named() {
        let said = stale_after(|a| {
            let d = disk(a, "S4TB0001");
            d.partitions.push(crate::host::inventory::Partition {
                name: "nvme2n1p1".into(),
                number: Some(1),
                start_bytes: Some(1 << 20),
                size_bytes: 1 << 30,
                listed_by: vec![crate::host::inventory::probe::PartitionSource::Kernel],
                probe: crate::host::inventory::ProbeState::read(Vec::new()),
                udev: None,
                major_minor: Some("259:7".into()),
            });
            d.udev = Some(crate::host::inventory::BlkidView {
                part_table_type: Some("gpt".into()),
                ..Default::default()
            });
        });
        assert_eq!(
            said,
            ["drive S4TB0001: partitions, udev's view changed since the plan was made"]
        );
    }

    fn pool(properties: &[(&str, &str)]) -> crate::host::zfs_state::ObservedPool {
        crate::host::zfs_state::ObservedPool {
            name: "quickOS".into(),
            guid: Some(7),
            health: "ONLINE".into(),
            members: Vec::new(),
            data_vdevs: Vec::new(),
            properties: properties
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            scan: None,
            missing: Vec::new(),
        }
    }

    #[test]
    fn a_pool_property_changed_is_named_and_a_scrub_is_not() {
        let mut then = assessed("qemu-default");
        then.observed.pools = vec![pool(&[("autotrim", "on")])];
        let kept = kept(&then);
        let layout = Layout::default_layout();
        let mut now = then.clone();
        now.observed.pools[0].scan = Some("scrub repaired 0B in 00:00:01 with 0 errors".into());
        assert_eq!(kept.stale(&layout, &now), Vec::<String>::new());
        now.observed.pools = vec![pool(&[("autotrim", "off")])];
        assert_eq!(
            kept.stale(&layout, &now),
            ["pool quickOS: properties changed since the plan was made"]
        );
    }

    #[test]
    fn a_storage_changed_is_named_and_a_comment_in_storage_cfg_is_not() {
        use crate::formats::proxmox::storage_cfg::StorageConfig;
        use crate::host::services::Availability;
        let cfg = |text: &str| Availability::Ready {
            value: StorageConfig::parse(text).unwrap(),
        };
        let local = "dir: local\n\tpath /var/lib/vz\n\tcontent iso,backup\n";
        let mut then = assessed("qemu-default");
        then.services.proxmox = cfg(local);
        let kept = kept(&then);
        let layout = Layout::default_layout();
        let mut now = then.clone();
        now.services.proxmox = cfg(&format!("# a comment\n\n{local}"));
        assert_eq!(kept.stale(&layout, &now), Vec::<String>::new());
        now.services.proxmox = cfg("dir: local\n\tpath /var/lib/vz\n\tcontent iso\n");
        assert_eq!(
            kept.stale(&layout, &now),
            ["Proxmox storage local: settings changed since the plan was made"]
        );
        now.services.proxmox = cfg(&format!("{local}\ndir: extra\n\tpath /x\n"));
        assert_eq!(
            kept.stale(&layout, &now),
            ["Proxmox storage extra: new since the plan was made"]
        );
    }

    #[test]
    fn a_dataset_made_by_hand_is_named() {
        use crate::host::zfs_state::{DatasetKind, ObservedDataset};
        let said = stale_after(|a| {
            a.observed.datasets.push(ObservedDataset {
                name: "quickOS/vm-disks".into(),
                kind: DatasetKind::Filesystem,
                properties: Default::default(),
            })
        });
        assert_eq!(
            said,
            ["dataset quickOS/vm-disks: new since the plan was made"]
        );
    }

    #[test]
    fn another_layout_or_another_plan_from_the_same_host_is_stale() {
        let a = assessed("qemu-default");
        let kept = kept(&a);
        let other = Layout::parse(
            &crate::layout::DEFAULT_LAYOUT_TOML.replace("autotrim = \"on\"", "autotrim = \"off\""),
            "other.toml",
        )
        .unwrap();
        assert_eq!(
            kept.stale(&other, &a),
            ["the embedded default layout: changed since the plan was made"]
        );
        let mut now = a.clone();
        now.plan.actions.remove(0);
        let said = kept.stale(&Layout::default_layout(), &now);
        assert_eq!(said.len(), 1, "{said:?}");
        assert!(
            said[0].starts_with("the plan made now differs at its actions [1]: kept `zpool create"),
            "{said:?}"
        );
    }
}
