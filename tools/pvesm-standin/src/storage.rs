//! `pvesm add` and `pvesm set` applied to a parsed storage.cfg, in the order Proxmox checks
//! things (API2/Storage/Config.pm create/update, SectionConfig.pm check_config), so that the
//! first error a command meets is the one Proxmox would report.

use crate::failure::Failure;
use crate::options::{self, check_value, decode_content, known, parse_boolean, Kind, Known};
use phoenix_zfs::formats::proxmox::plugins;
use phoenix_zfs::formats::proxmox::storage_cfg::{valid_storage_id, Section, StorageConfig};

/// What the storage code asks of the machine it runs on.
pub trait Host {
    /// `zfs get -o value -Hp mountpoint DATASET`, None when that fails.
    fn zfs_mountpoint(&self, dataset: &str) -> Option<String>;
    /// Whether a file system is mounted exactly at `path` (symlinks resolved).
    fn is_mounted(&self, path: &str) -> bool;
}

/// What Plugin.pm's parse_config adds to every configuration it reads, so that it is in every
/// file pvesm writes: a `dir: local` at /var/lib/vz, and default content where none is set.
pub fn read_defaults(config: &mut StorageConfig) {
    let usable_local = config
        .get("local")
        .is_some_and(|s| s.kind == "dir" && s.get("path").is_none_or(|p| p == "/var/lib/vz"));
    if !usable_local {
        config.sections.retain(|s| s.id != "local");
        let mut local = Section::new("dir", "local");
        for (key, value) in [
            ("path", "/var/lib/vz"),
            ("prune-backups", "keep-all=1"),
            ("content", "backup,images,iso,rootdir,snippets,vztmpl"),
        ] {
            let _ = local.set(key, value);
        }
        config.sections.insert(0, local);
    }
    for section in &mut config.sections {
        if section.id == "local" {
            if section.get("path").is_none() {
                let _ = section.set("path", "/var/lib/vz");
            }
            section.properties.retain(|p| p.key != "nodes");
        }
        if section.get("content").is_none() {
            if let Some(facts) = plugins::plugin(&section.kind) {
                if !facts.content_default.is_empty() {
                    let _ = section.set("content", &facts.content_default.join(","));
                }
            }
        }
    }
}

/// The API schema's checks, which run before any storage code: values of known options.
fn check_values(options: &[(String, String)]) -> Result<Vec<(String, String)>, Failure> {
    options
        .iter()
        .map(|(key, value)| match known(key) {
            Known::Implemented(kind) => Ok((key.clone(), check_value(key, kind, value)?)),
            _ => Ok((key.clone(), value.clone())),
        })
        .collect()
}

fn check_storage_id(id: &str) -> Result<(), Failure> {
    let message = if id.chars().count() < 2 {
        format!("invalid format - storage ID '{id}' cannot be shorter than 2 characters")
    } else if !valid_storage_id(id) {
        format!("invalid format - storage ID '{id}' contains illegal characters")
    } else {
        return Ok(());
    };
    Err(Failure::ParameterVerification {
        key: "storage".into(),
        message,
    })
}

/// SectionConfig check_config for the keys given: unknown to the type, fixed, or not
/// implemented here. `create` allows fixed keys: the plugin's `fixed` options (for a dir
/// storage also snapshot-as-volume-chain, pve-storage 9.x).
fn check_keys(kind: Kind, options: &[(String, String)], create: bool) -> Result<(), String> {
    let fixed = plugins::plugin(kind.name()).map_or(&[][..], |p| p.fixed);
    for (key, _) in options {
        if !create && (key == kind.fixed() || fixed.contains(&key.as_str())) {
            return Err(format!("can't change value of fixed parameter '{key}'"));
        }
        if !kind.accepts(key) {
            return Err(format!("unexpected property '{key}'"));
        }
    }
    Ok(())
}

fn not_implemented(options: &[(String, String)]) -> Result<(), Failure> {
    match options
        .iter()
        .find(|(k, _)| known(k) == Known::NotImplemented)
    {
        Some((key, _)) => Err(Failure::StandIn(format!(
            "option `--{key}` exists in Proxmox's pvesm but is not implemented by this stand-in"
        ))),
        None => Ok(()),
    }
}

/// Sets the options on a section, `content` decoded for its type.
fn apply(
    section: &mut Section,
    options: &[(String, String)],
    warnings: &mut Vec<String>,
) -> Result<(), Failure> {
    for (key, value) in options {
        let value = if key == "content" {
            match plugins::plugin(&section.kind) {
                Some(facts) => decode_content(facts, value, warnings)?,
                None => value.clone(),
            }
        } else {
            value.clone()
        };
        section
            .set(key, &value)
            .map_err(|e| Failure::Plain(phoenix_zfs::report::Report(&e).to_string()))?;
    }
    Ok(())
}

/// DirPlugin.pm parse_is_mountpoint: `yes` stands for the storage's own path.
fn mountpoint_to_check(section: &Section) -> Option<String> {
    let value = section.get("is_mountpoint")?;
    match parse_boolean(value) {
        Some(true) => section.get("path").map(str::to_string),
        Some(false) => None,
        None => Some(value.to_string()),
    }
}

pub fn add(
    config: &mut StorageConfig,
    kind_name: &str,
    id: &str,
    options: &[(String, String)],
    host: &dyn Host,
    warnings: &mut Vec<String>,
) -> Result<(), Failure> {
    let kind = Kind::from_name(kind_name);
    if kind.is_none() && !options::OTHER_TYPES.contains(&kind_name) {
        let mut all: Vec<&str> = options::OTHER_TYPES.to_vec();
        all.extend(["dir", "zfspool"]);
        all.sort_unstable();
        return Err(Failure::ParameterVerification {
            key: "type".into(),
            message: format!(
                "value '{kind_name}' does not have a value in the enumeration '{}'",
                all.join(", ")
            ),
        });
    }
    check_storage_id(id)?;
    let options = check_values(options)?;
    let Some(kind) = kind else {
        return Err(Failure::StandIn(format!(
            "storage type '{kind_name}' is not implemented by this stand-in (only zfspool and dir)"
        )));
    };
    check_keys(kind, &options, true).map_err(Failure::Plain)?;
    not_implemented(&options)?;
    let mut section = Section::new(kind.name(), id);
    apply(&mut section, &options, warnings)?;
    let fixed = kind.fixed();
    let Some(target) = section.get(fixed).map(str::to_string) else {
        return Err(Failure::Plain(format!(
            "missing value for required option '{fixed}'"
        )));
    };
    let legal_dir_path = target
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"-/_.@".contains(&b));
    if kind == Kind::Dir && !(target.starts_with('/') && target.len() > 1 && legal_dir_path) {
        return Err(Failure::Plain(format!(
            "illegal path for directory storage: {target}"
        )));
    }

    let failed = |message: String| Failure::Locked {
        action: "create storage failed",
        message,
    };
    if config.get(id).is_some() {
        return Err(failed(format!("storage ID '{id}' already defined")));
    }
    // ZFSPoolPlugin on_add_hook: remember where the dataset is mounted, if it can be asked.
    if kind == Kind::Zfspool && section.get("mountpoint").is_none() {
        if let Some(mp) = host.zfs_mountpoint(&target) {
            if mp.starts_with('/') {
                let _ = section.set("mountpoint", &mp);
            }
        }
    }
    // Proxmox activates a new storage to find problems early; for a dir storage that must be
    // a mount point, activation fails when nothing is mounted there.
    let enabled = section.get("disable").is_none_or(|d| d == "0");
    if let (true, Some(mp)) = (enabled, mountpoint_to_check(&section)) {
        if !host.is_mounted(&mp) {
            return Err(failed(format!(
                "unable to activate storage '{id}' - directory is expected to be a mount point but is not mounted: '{mp}'"
            )));
        }
    }
    config.sections.push(section);
    Ok(())
}

pub fn set(
    config: &mut StorageConfig,
    id: &str,
    options: &[(String, String)],
    warnings: &mut Vec<String>,
) -> Result<(), Failure> {
    let options = check_values(options)?;
    let failed = |message: String| Failure::Locked {
        action: "update storage failed",
        message,
    };
    let Some(section) = config.get_mut(id) else {
        return Err(failed(format!("storage '{id}' does not exist")));
    };
    let Some(kind) = Kind::from_name(&section.kind) else {
        return Err(Failure::StandIn(format!(
            "`pvesm set` on a '{}' storage is not implemented by this stand-in",
            section.kind
        )));
    };
    check_keys(kind, &options, false).map_err(failed)?;
    not_implemented(&options)?;
    apply(section, &options, warnings).map_err(|e| match e {
        Failure::Plain(message) => failed(message),
        other => other,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    struct FakeHost {
        mounted: &'static [&'static str],
    }

    impl Host for FakeHost {
        fn zfs_mountpoint(&self, dataset: &str) -> Option<String> {
            Some(format!("/{dataset}"))
        }
        fn is_mounted(&self, path: &str) -> bool {
            self.mounted.contains(&path)
        }
    }

    fn opts(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    const HOST: FakeHost = FakeHost {
        mounted: &["/fastData/shared-iso"],
    };

    #[test]
    fn adds_a_zfspool_with_its_mountpoint() {
        let mut cfg = StorageConfig::default();
        let o = opts(&[
            ("pool", "quickOS/vm-disks"),
            ("content", "images"),
            ("sparse", "1"),
            ("blocksize", "16k"),
        ]);
        add(
            &mut cfg,
            "zfspool",
            "quickOS-vm-disks",
            &o,
            &HOST,
            &mut Vec::new(),
        )
        .unwrap();
        assert_eq!(
            cfg.to_text(),
            "zfspool: quickOS-vm-disks\n\tpool quickOS/vm-disks\n\tblocksize 16k\n\tcontent images\n\tmountpoint /quickOS/vm-disks\n\tsparse 1\n\n"
        );
    }

    #[test]
    fn a_dir_that_must_be_a_mountpoint_must_be_mounted() {
        let mut cfg = StorageConfig::default();
        let o = opts(&[
            ("path", "/fastData/shared-backups"),
            ("is_mountpoint", "yes"),
        ]);
        let err = add(&mut cfg, "dir", "backups", &o, &HOST, &mut Vec::new()).unwrap_err();
        assert_eq!(
            err.to_string(),
            "create storage failed: unable to activate storage 'backups' - directory is expected to be a mount point but is not mounted: '/fastData/shared-backups'"
        );
        let o = opts(&[("path", "/fastData/shared-iso"), ("is_mountpoint", "yes")]);
        add(&mut cfg, "dir", "iso", &o, &HOST, &mut Vec::new()).unwrap();
    }

    #[test]
    fn refusals_in_proxmox_order_and_wording() {
        let mut cfg = StorageConfig::parse("zfspool: vm\n\tpool tank/vm\n").unwrap();
        let msg = |r: Result<(), Failure>| r.unwrap_err().to_string();
        let o = opts(&[("pool", "tank/x")]);
        assert_eq!(
            msg(add(&mut cfg, "zfspool", "vm", &o, &HOST, &mut Vec::new())),
            "create storage failed: storage ID 'vm' already defined"
        );
        assert_eq!(
            msg(add(&mut cfg, "zfspool", "x", &o, &HOST, &mut Vec::new())),
            "400 Parameter verification failed.\nstorage: invalid format - storage ID 'x' cannot be shorter than 2 characters"
        );
        assert_eq!(
            msg(add(
                &mut cfg,
                "zfspool",
                "v2",
                &opts(&[]),
                &HOST,
                &mut Vec::new()
            )),
            "missing value for required option 'pool'"
        );
        assert_eq!(
            msg(add(
                &mut cfg,
                "dir",
                "d2",
                &opts(&[("pool", "a")]),
                &HOST,
                &mut Vec::new()
            )),
            "unexpected property 'pool'"
        );
        assert_eq!(
            msg(set(
                &mut cfg,
                "vm",
                &opts(&[("pool", "tank/y")]),
                &mut Vec::new()
            )),
            "update storage failed: can't change value of fixed parameter 'pool'"
        );
        let mut dirs = StorageConfig::parse("dir: d1\n\tpath /d1\n").unwrap();
        assert_eq!(
            msg(set(
                &mut dirs,
                "d1",
                &opts(&[("snapshot-as-volume-chain", "1")]),
                &mut Vec::new()
            )),
            "update storage failed: can't change value of fixed parameter 'snapshot-as-volume-chain'"
        );
        assert_eq!(
            msg(set(
                &mut cfg,
                "nope",
                &opts(&[("content", "images")]),
                &mut Vec::new()
            )),
            "update storage failed: storage 'nope' does not exist"
        );
        assert_eq!(
            msg(set(
                &mut cfg,
                "vm",
                &opts(&[("content", "backup")]),
                &mut Vec::new()
            )),
            "update storage failed: storage does not support content type 'none'"
        );
        assert!(msg(add(
            &mut cfg,
            "nfs",
            "n1",
            &opts(&[]),
            &HOST,
            &mut Vec::new()
        ))
        .starts_with("pvesm-standin: "));
    }

    #[test]
    fn set_changes_content() {
        let mut cfg = StorageConfig::parse("dir: iso\n\tpath /iso\n\tcontent iso\n").unwrap();
        set(
            &mut cfg,
            "iso",
            &opts(&[("content", "iso,vztmpl")]),
            &mut Vec::new(),
        )
        .unwrap();
        assert_eq!(cfg.get("iso").unwrap().get("content"), Some("iso,vztmpl"));
    }

    #[test]
    fn read_defaults_as_plugin_pm() {
        let mut cfg = StorageConfig::parse(
            "zfspool: local-zfs\n\tpool rpool/data\n\nlvmthin: thin\n\tvgname pve\n\tthinpool data\n",
        )
        .unwrap();
        read_defaults(&mut cfg);
        assert_eq!(cfg.sections[0].id, "local");
        assert_eq!(
            cfg.get("local-zfs").unwrap().get("content"),
            Some("images,rootdir")
        );
        assert_eq!(
            cfg.get("thin").unwrap().get("content"),
            Some("images,rootdir")
        );
    }
}
