//! A kept plan: `plan --out FILE` writes the plan's actions with a fingerprint of what it was
//! made from, and `apply --plan FILE` runs them only on a host that reads the same, as
//! `terraform plan -out` and `terraform apply PLANFILE` do. Pure: the fingerprint is a function of
//! what the host's assessment read, and the file is JSON with its keys sorted.
//!
//! The fingerprint holds every drive as the witnesses saw it (sysfs's identity, size and device
//! number, what uses it, the probe's findings, udev's view, the partitions with theirs), the pools
//! (imported, exported, destroyed, the layout's and others) with their vdevs, members and
//! properties, the layout's datasets with their properties (`sharenfs`: the NFS exports) and the
//! Proxmox storages. Not the drives' health readings, whose temperature and hours move between
//! any two reads, nor a pool's scan line (a scrub's progress); a drive whose controller turns
//! read-only meanwhile is still refused by apply's own health check. What else the plan rests on
//! (the NFS server and network, smartd.conf, the ARC limit, the journal) shows in the actions
//! planned from it, which must be the kept ones too.

use crate::assess::Assessment;
use crate::contents;
use crate::model::disk::Inventory;
use crate::model::pools::Observed;
use crate::model::services::HostServices;
use crate::plan::{Action, Consent};
use serde_json::{json, Map, Value};
use std::path::{Path, PathBuf};

/// The `schema` of a kept plan's file; another one is not read.
pub const SCHEMA: &str = "phoenix-zfs-plan/1";

/// What the plan was made from, as JSON with sorted keys: equal exactly when the host reads the
/// same. One entry per thing an administrator names, under the words a message names it with:
/// `drive SERIAL` (the word `--wipe` takes: a drive swapped for another is one gone and one new),
/// `pool NAME`, `exported pool NAME (guid N)`, `destroyed pool ...`, `dataset NAME`,
/// `Proxmox storage ID`. A drive's fields are in words too: what the witnesses found on it, as
/// detect says it, is its `contents`.
pub fn fingerprint(inventory: &Inventory, observed: &Observed, services: &HostServices) -> Value {
    let mut read = Map::new();
    let mut put = |what: String, entry: Value| {
        read.insert(what, entry);
    };
    for d in &inventory.disks {
        let name = d.wipe_name(&inventory.disks);
        let found: Vec<String> = contents::findings(d)
            .iter()
            .map(|f| f.to_string())
            .collect();
        let in_use: Vec<String> = d.ineligible.iter().map(|i| i.to_string()).collect();
        let partitions: Vec<String> = d
            .partitions
            .iter()
            .map(|p| {
                let at = p.start_bytes.map_or("?".into(), |b| b.to_string());
                format!("{}: {} bytes at byte {at}", p.name, p.size_bytes)
            })
            .collect();
        let drive = json!({
            "serial": d.serial,
            "model": d.model,
            "firmware": d.firmware,
            "size": d.size_bytes,
            "by-id path": d.preferred_path,
            "device number": d.major_minor,
            "use": in_use,
            "contents": found,
            "partitions": partitions,
        });
        put(format!("drive {}", name.as_ref().unwrap_or(&d.name)), drive);
    }
    for p in &observed.pools {
        let mut pool = json!(p);
        pool["scan"] = Value::Null;
        put(format!("pool {}", p.name), pool);
    }
    for p in &observed.other_pools {
        put(format!("pool {}", p.name), json!(p));
    }
    for (word, pools) in [
        ("exported", &observed.importable),
        ("destroyed", &observed.destroyed),
    ] {
        for p in pools {
            put(
                format!("{word} pool {} (guid {})", p.name, p.guid),
                json!(p),
            );
        }
    }
    for d in &observed.datasets {
        put(format!("dataset {}", d.name), json!(d));
    }
    // Without line numbers: a comment added to storage.cfg changes no storage.
    for s in services
        .proxmox
        .ready()
        .iter()
        .flat_map(|cfg| &cfg.sections)
    {
        let mut settings = Map::new();
        for (key, v) in s.settings() {
            settings.insert(key.into(), v.into());
        }
        settings.insert("type".into(), s.kind.clone().into());
        put(format!("Proxmox storage {}", s.id), Value::Object(settings));
    }
    Value::Object(read)
}

/// Each difference between the fingerprint a plan was made from and the host's now, in words
/// that name the drive, pool, dataset or storage and what of it changed; empty when they match.
pub fn changes(then: &Value, now: &Value) -> Vec<String> {
    let mut said = Vec::new();
    for (what, a, b) in pairs(then, now) {
        let changed = match (a, b) {
            _ if a == b => continue,
            (Value::Null, _) => "new".to_string(),
            (_, Value::Null) => "gone".to_string(),
            _ => {
                let fields: Vec<String> = pairs(a, b)
                    .into_iter()
                    .filter(|(_, x, y)| x != y)
                    .map(|(field, x, y)| match (x, y) {
                        (
                            Value::Number(_) | Value::String(_),
                            Value::Number(_) | Value::String(_),
                        ) => {
                            format!("{field} (was {x}, now {y})")
                        }
                        _ => field.to_string(),
                    })
                    .collect();
                format!("{} changed", fields.join(", "))
            }
        };
        said.push(format!("{what}: {changed} since the plan was made"));
    }
    said
}

/// Every key of the objects `a` and `b` (those of `a`, then those only `b` has), with its value
/// in each: null where it has none.
fn pairs<'v>(a: &'v Value, b: &'v Value) -> Vec<(&'v String, &'v Value, &'v Value)> {
    let keys = |v: &'v Value| v.as_object().into_iter().flatten().map(|(k, _)| k);
    let only_b = keys(b).filter(|k| a.get(k.as_str()).is_none());
    let both = keys(a).chain(only_b);
    both.map(|k| (k, &a[k.as_str()], &b[k.as_str()])).collect()
}

/// The actions as `plan --json` shows them: each with the argv that carries it out and whether
/// it destroys data.
pub fn actions_json(actions: &[Action]) -> Value {
    Value::Array(
        actions
            .iter()
            .map(|action| {
                let mut v = json!(action);
                v["argv"] = json!(action.argv());
                v["destroys_data"] = json!(action.destroys_data());
                v
            })
            .collect(),
    )
}

/// The file `plan --out` writes: the plan of `a`, made with the layout in `layout_file` (None:
/// the embedded default) and `consent`, at `made_at`.
pub fn keep(a: &Assessment, layout_file: Option<&Path>, consent: &Consent, made_at: &str) -> Value {
    json!({
        "schema": SCHEMA,
        "made_at": made_at,
        "layout": layout_file,
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

/// Reads the text of a kept plan; None when it is not one this phoenix-zfs wrote.
pub fn parse(text: &str) -> Option<Kept> {
    let file: Value = serde_json::from_str(text).ok()?;
    let consent = &file["consent"];
    let wipe = consent["wipe"].as_array()?.iter();
    let consent = Consent {
        wipe: wipe
            .map(|s| s.as_str().map(String::from))
            .collect::<Option<_>>()?,
        force_import: consent["force_import"].as_bool()?,
    };
    let layout_file = file["layout"].as_str().map(PathBuf::from);
    (file["schema"] == SCHEMA).then_some(Kept {
        layout_file,
        consent,
        file,
    })
}

/// An action of a plan's JSON as a person recognises it: its command, or what it is.
fn action_line(action: &Value) -> String {
    let argv: Vec<String> = action["argv"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|a| Some(a.as_str()?.to_string()))
        .collect();
    match (argv.is_empty(), action["action"].as_str()) {
        (false, _) => format!("`{}`", crate::runner::display(&argv)),
        (true, Some(kind)) => format!("{kind} {}", action["path"].as_str().unwrap_or_default()),
        (true, None) => "none".into(),
    }
}

impl Kept {
    /// Why the plan may not run on the host `a` read (with the plan's layout and consent): what
    /// the host reads differs from the fingerprint, or the plan made now is not the kept one (the
    /// layout file, the NFS server, smartd.conf, the journal or phoenix-zfs itself changed).
    /// Empty when it may run as it is.
    pub fn stale(&self, a: &Assessment) -> Vec<String> {
        let now = fingerprint(&a.inventory, &a.observed, &a.services);
        let mut said = changes(&self.file["fingerprint"], &now);
        for (key, actions) in [
            ("actions", &a.plan.actions),
            ("afterwards", &a.plan.afterwards),
        ] {
            let (then, now) = (&self.file[key], actions_json(actions));
            if !said.is_empty() || *then == now {
                continue;
            }
            let len = |v: &Value| v.as_array().map_or(0, Vec::len);
            let at = (0..len(then).max(len(&now))).find(|&i| then[i] != now[i]);
            let at = at.unwrap_or_default();
            said.push(format!(
                "the plan made now differs at its {key} [{}]: kept {}, now {}",
                at + 1,
                action_line(&then[at]),
                action_line(&now[at]),
            ));
        }
        said
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::host::root::HostRoot;
    use crate::host::target::Target;
    use crate::layout::Layout;

    fn host(name: &str) -> HostRoot {
        HostRoot(
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("tests/fixtures/hosts")
                .join(name),
        )
    }

    fn assessed(name: &str) -> Assessment {
        assessed_with(name, &Layout::default_layout())
    }

    fn assessed_with(name: &str, layout: &Layout) -> Assessment {
        crate::assess::assess(
            &host(name),
            &Target::RunningSystem,
            layout,
            crate::assess::ZfsSource::Absent,
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
        let file = keep(a, None, &Consent::default(), "then");
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
            assert_eq!(kept.stale(&now), Vec::<String>::new(), "{name}");
            let read = print(&then);
            let drives = read.as_object().unwrap().keys();
            assert!(
                drives.filter(|k| k.starts_with("drive ")).count() >= 2,
                "{name}: {read:#}"
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
        let file = keep(&a, Some(Path::new("/etc/l.toml")), &consent, "now");
        let kept = parse(&file.to_string()).unwrap();
        assert_eq!(kept.consent, consent);
        assert_eq!(kept.layout_file.as_deref(), Some(Path::new("/etc/l.toml")));
        assert_eq!(file["schema"], SCHEMA);
        assert_eq!(file["actions"], actions_json(&a.plan.actions));
        let argv = &file["actions"][0]["argv"];
        assert!(argv.as_array().is_some_and(|a| !a.is_empty()), "{file:#}");
    }

    #[test]
    fn what_is_not_a_kept_plan_is_not_read() {
        assert!(parse("{").is_none());
        let a = assessed("qemu-default");
        let mut file = keep(&a, None, &Consent::default(), "t");
        assert!(parse(&file.to_string()).is_some());
        file["consent"]["wipe"] = json!([1]);
        assert!(parse(&file.to_string()).is_none());
        file["consent"]["wipe"] = json!([]);
        file["consent"]
            .as_object_mut()
            .unwrap()
            .remove("force_import");
        assert!(parse(&file.to_string()).is_none());
        file["consent"]["force_import"] = json!(false);
        file["schema"] = json!("phoenix-zfs-manifest/1");
        assert!(parse(&file.to_string()).is_none());
    }

    /// The kept plan of qemu-default against the same host changed by `change`: what it says.
    fn stale_after(change: impl FnOnce(&mut Assessment)) -> Vec<String> {
        let then = assessed("qemu-default");
        let mut now = assessed("qemu-default");
        change(&mut now);
        kept(&then).stale(&now)
    }

    fn disk<'a>(a: &'a mut Assessment, serial: &str) -> &'a mut crate::model::disk::Disk {
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
            d.partitions.push(crate::model::disk::Partition {
                name: "nvme2n1p1".into(),
                number: Some(1),
                start_bytes: Some(1 << 20),
                size_bytes: 1 << 30,
                listed_by: vec![crate::formats::ondisk::PartitionSource::Kernel],
                probe: crate::model::disk::ProbeState::read(Vec::new()),
                udev: None,
                major_minor: Some("259:7".into()),
            });
            d.udev = Some(crate::model::disk::BlkidView {
                part_table_type: Some("gpt".into()),
                ..Default::default()
            });
        });
        assert_eq!(
            said,
            ["drive S4TB0001: contents, partitions changed since the plan was made"]
        );
    }

    fn pool(properties: &[(&str, &str)]) -> crate::model::pools::ObservedPool {
        crate::model::pools::ObservedPool {
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
        let mut now = then.clone();
        now.observed.pools[0].scan = Some("scrub repaired 0B in 00:00:01 with 0 errors".into());
        assert_eq!(kept.stale(&now), Vec::<String>::new());
        now.observed.pools = vec![pool(&[("autotrim", "off")])];
        assert_eq!(
            kept.stale(&now),
            ["pool quickOS: properties changed since the plan was made"]
        );
    }

    #[test]
    fn a_storage_changed_is_named_and_a_comment_in_storage_cfg_is_not() {
        use crate::formats::proxmox::storage_cfg::StorageConfig;
        use crate::model::services::Availability;
        let cfg = |text: &str| Availability::Ready {
            value: StorageConfig::parse(text).unwrap(),
        };
        let local = "dir: local\n\tpath /var/lib/vz\n\tcontent iso,backup\n";
        let mut then = assessed("qemu-default");
        then.services.proxmox = cfg(local);
        let kept = kept(&then);
        let mut now = then.clone();
        now.services.proxmox = cfg(&format!("# a comment\n\n{local}"));
        assert_eq!(kept.stale(&now), Vec::<String>::new());
        now.services.proxmox = cfg("dir: local\n\tpath /var/lib/vz\n\tcontent iso\n");
        assert_eq!(
            kept.stale(&now),
            [
                r#"Proxmox storage local: content (was "iso,backup", now "iso") changed since the plan was made"#
            ]
        );
        now.services.proxmox = cfg(&format!("{local}\ndir: extra\n\tpath /x\n"));
        assert_eq!(
            kept.stale(&now),
            ["Proxmox storage extra: new since the plan was made"]
        );
    }

    #[test]
    fn a_dataset_made_by_hand_is_named() {
        use crate::model::pools::{DatasetKind, ObservedDataset};
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
        let kept = kept(&assessed("qemu-default"));
        let text =
            crate::layout::DEFAULT_LAYOUT_TOML.replacen("ashift = \"12\"", "ashift = \"13\"", 1);
        let other = Layout::parse(&text, "other.toml").unwrap();
        let said = kept.stale(&assessed_with("qemu-default", &other));
        assert_eq!(said.len(), 1, "{said:?}");
        let kept_create = "kept `zpool create -o ashift=12 -o autotrim=on";
        let now_create = "now `zpool create -o ashift=13 -o autotrim=on";
        let at = "the plan made now differs at its actions [1]: ";
        assert!(
            said[0].starts_with(&format!("{at}{kept_create}")),
            "{said:?}"
        );
        assert!(said[0].contains(now_create), "{said:?}");
    }
}
