//! The `zpool` command: argv for what phoenix-zfs runs, and the parser of `zpool list -H -p`.
//!
//! Every builder returns an argv (`argv[0]` is "zpool") to hand to the runner, never a shell string.
//! Observation commands always pass `-H -p` and name the pools they ask about.

use serde::{Deserialize, Serialize};

use super::error::{numbered_lines, ParseError};
use super::property::PROPERTY_COLUMNS;
use super::state::{VdevState, STATE_EXPECTED};

/// Where imports look for devices, so vdevs keep their stable by-id names.
pub const BY_ID_DIR: &str = "/dev/disk/by-id";

/// The `-o` columns of `zpool list` that [`parse_zpool_list`] reads, in this order.
pub const POOL_LIST_COLUMNS: &str = "name,size,alloc,free,health,guid";

const POOL_LIST_EXPECTED: &str = "6 tab-separated fields (name, size, alloc, free, health, guid)";

/// How the devices of a new pool are arranged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TopologyKind {
    /// One device, no redundancy (a one-device stripe, named for what the layout meant).
    Single,
    /// Several devices, no redundancy.
    Stripe,
    Mirror,
    Raidz1,
    Raidz2,
    Raidz3,
}

impl TopologyKind {
    /// The vdev type word `zpool create` expects before the devices, if any.
    fn vdev_keyword(self) -> Option<&'static str> {
        match self {
            TopologyKind::Single | TopologyKind::Stripe => None,
            TopologyKind::Mirror => Some("mirror"),
            TopologyKind::Raidz1 => Some("raidz1"),
            TopologyKind::Raidz2 => Some("raidz2"),
            TopologyKind::Raidz3 => Some("raidz3"),
        }
    }
}

/// The single top-level vdev of a new pool: its kind and its devices (by-id paths).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Topology {
    pub kind: TopologyKind,
    pub devices: Vec<String>,
}

/// `zpool create -o K=V... -O K=V... POOL [mirror|raidzN] DEV...`: `pool_props` (ashift,
/// autotrim, ...) with `-o`, properties of the pool's root file system (compression, ...) with `-O`.
pub fn zpool_create(
    pool: &str,
    topology: &Topology,
    pool_props: &[(String, String)],
    root_fs_props: &[(String, String)],
) -> Vec<String> {
    let mut argv = vec!["zpool".to_string(), "create".to_string()];
    push_props(&mut argv, "-o", pool_props);
    push_props(&mut argv, "-O", root_fs_props);
    argv.push(pool.to_string());
    argv.extend(topology.kind.vdev_keyword().map(str::to_string));
    argv.extend(topology.devices.iter().cloned());
    argv
}

/// `zpool set PROP=VALUE POOL`.
pub fn zpool_set(pool: &str, prop: &str, value: &str) -> Vec<String> {
    strings(&["zpool", "set", &format!("{prop}={value}"), pool])
}

/// `zpool replace POOL OLD NEW`: `old` as `zpool status` names the member (its GUID once its
/// path is gone, which zpool-replace(8) accepts), `new` a whole drive, which zpool partitions.
pub fn zpool_replace(pool: &str, old: &str, new: &str) -> Vec<String> {
    strings(&["zpool", "replace", pool, old, new])
}

/// `zpool import -d DIR NAME_OR_GUID [NEW_NAME]`, searching `search_dir` (default
/// /dev/disk/by-id, so vdevs keep their by-id names). Never forces: a pool last used by another
/// host stays where it is until someone asks for [`zpool_import_forced`].
pub fn zpool_import(
    name_or_guid: &str,
    new_name: Option<&str>,
    search_dir: Option<&str>,
) -> Vec<String> {
    import_argv(false, name_or_guid, new_name, search_dir)
}

/// [`zpool_import`] with `-f`: only for an operator who asked to take over a pool that another
/// host (or an earlier installation) last had imported.
pub fn zpool_import_forced(
    name_or_guid: &str,
    new_name: Option<&str>,
    search_dir: Option<&str>,
) -> Vec<String> {
    import_argv(true, name_or_guid, new_name, search_dir)
}

fn import_argv(
    force: bool,
    name_or_guid: &str,
    new_name: Option<&str>,
    search_dir: Option<&str>,
) -> Vec<String> {
    let mut argv = strings(&["zpool", "import"]);
    if force {
        argv.push("-f".to_string());
    }
    argv.push("-d".to_string());
    argv.push(search_dir.unwrap_or(BY_ID_DIR).to_string());
    argv.push(name_or_guid.to_string());
    argv.extend(new_name.map(str::to_string));
    argv
}

/// `zpool export POOL`.
pub fn zpool_export(pool: &str) -> Vec<String> {
    strings(&["zpool", "export", pool])
}

/// `zpool list -H -p -o name,size,alloc,free,health,guid POOL...`, read by [`parse_zpool_list`].
/// With no pools it lists every imported pool.
pub fn zpool_list_argv<S: AsRef<str>>(pools: &[S]) -> Vec<String> {
    let mut argv = strings(&["zpool", "list", "-H", "-p", "-o", POOL_LIST_COLUMNS]);
    argv.extend(pools.iter().map(|pool| pool.as_ref().to_string()));
    argv
}

/// `zpool get -H -p -o name,property,value,source PROP,... POOL...`, read by
/// [`super::parse_property_table`]. Every pool named must be imported: since OpenZFS 2.2 the
/// words after the first pool are taken as its vdevs unless all are imported pools, so a missing
/// one makes the whole command a usage error. For several pools that may be missing, use
/// [`super::zpool_list_props_argv`].
pub fn zpool_get_argv<P: AsRef<str>, S: AsRef<str>>(props: &[P], pools: &[S]) -> Vec<String> {
    let mut argv = strings(&["zpool", "get", "-H", "-p", "-o", PROPERTY_COLUMNS]);
    argv.push(join_names(props));
    argv.extend(pools.iter().map(|pool| pool.as_ref().to_string()));
    argv
}

/// `zpool status -P -p POOL...`: full vdev paths (/dev/disk/by-id/...-part1) and exact error
/// counts, read by [`super::parse_zpool_status`].
pub fn zpool_status_argv<S: AsRef<str>>(pools: &[S]) -> Vec<String> {
    let mut argv = strings(&["zpool", "status", "-P", "-p"]);
    argv.extend(pools.iter().map(|pool| pool.as_ref().to_string()));
    argv
}

/// `zpool import -d /dev/disk/by-id`: lists the pools that could be imported, without importing
/// any; read by [`super::parse_zpool_import_scan`].
pub fn zpool_import_scan_argv() -> Vec<String> {
    strings(&["zpool", "import", "-d", BY_ID_DIR])
}

/// `zpool import -D -d /dev/disk/by-id`: lists the destroyed pools whose labels are still there
/// (which `zpool import -D POOL` would bring back), and only those; read by
/// [`super::parse_zpool_import_scan`].
pub fn zpool_import_destroyed_scan_argv() -> Vec<String> {
    strings(&["zpool", "import", "-D", "-d", BY_ID_DIR])
}

/// One pool as `zpool list -H -p -o name,size,alloc,free,health,guid` prints it. Sizes are bytes;
/// they are `None` ("-") for a pool that is not available.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PoolListRow {
    pub name: String,
    pub size: Option<u64>,
    pub alloc: Option<u64>,
    pub free: Option<u64>,
    pub health: VdevState,
    pub guid: u64,
}

/// Parses `zpool list -H -p -o name,size,alloc,free,health,guid`.
pub fn parse_zpool_list(output: &str) -> Result<Vec<PoolListRow>, ParseError> {
    numbered_lines(output)
        .map(|(number, line)| parse_pool_row(number, line))
        .collect()
}

fn parse_pool_row(number: usize, line: &str) -> Result<PoolListRow, ParseError> {
    let fields: Vec<&str> = line.split('\t').collect();
    let [name, size, alloc, free, health, guid] = fields[..] else {
        return Err(ParseError::at(
            number,
            line,
            POOL_LIST_EXPECTED,
            fields.len().to_string(),
        ));
    };
    if name.is_empty() {
        return Err(ParseError::at(
            number,
            line,
            "a pool name in the first field",
            "an empty field",
        ));
    }
    let bytes = |column: &str, text: &str| -> Result<Option<u64>, ParseError> {
        if text == "-" {
            return Ok(None);
        }
        text.parse().map(Some).map_err(|_| {
            ParseError::at(
                number,
                line,
                format!("{column} as an exact number of bytes (zpool list -p) or -"),
                format!("`{text}`"),
            )
        })
    };
    Ok(PoolListRow {
        name: name.to_string(),
        size: bytes("size", size)?,
        alloc: bytes("alloc", alloc)?,
        free: bytes("free", free)?,
        health: VdevState::from_word(health).ok_or_else(|| {
            ParseError::at(
                number,
                line,
                format!("health to be {STATE_EXPECTED}"),
                format!("`{health}`"),
            )
        })?,
        guid: guid.parse().map_err(|_| {
            ParseError::at(
                number,
                line,
                "guid as a decimal 64-bit number",
                format!("`{guid}`"),
            )
        })?,
    })
}

fn push_props(argv: &mut Vec<String>, flag: &str, props: &[(String, String)]) {
    for (name, value) in props {
        argv.push(flag.to_string());
        argv.push(format!("{name}={value}"));
    }
}

pub(crate) fn strings(words: &[&str]) -> Vec<String> {
    words.iter().map(|word| word.to_string()).collect()
}

/// A property list for `get`: comma-joined, or "all" when none is named.
pub(crate) fn join_names<P: AsRef<str>>(names: &[P]) -> String {
    if names.is_empty() {
        return "all".to_string();
    }
    names
        .iter()
        .map(|name| name.as_ref())
        .collect::<Vec<_>>()
        .join(",")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn props(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn create_mirror_with_pool_and_root_props() {
        let topology = Topology {
            kind: TopologyKind::Mirror,
            devices: vec![
                "/dev/disk/by-id/nvme-A".into(),
                "/dev/disk/by-id/nvme-B".into(),
            ],
        };
        let argv = zpool_create(
            "quickOS",
            &topology,
            &props(&[("ashift", "12"), ("autotrim", "on")]),
            &props(&[("compression", "lz4"), ("atime", "off")]),
        );
        assert_eq!(
            argv.join(" "),
            "zpool create -o ashift=12 -o autotrim=on -O compression=lz4 -O atime=off \
             quickOS mirror /dev/disk/by-id/nvme-A /dev/disk/by-id/nvme-B"
        );
    }

    #[test]
    fn create_single_and_raidz() {
        let single = Topology {
            kind: TopologyKind::Single,
            devices: vec!["/dev/disk/by-id/nvme-C".into()],
        };
        assert_eq!(
            zpool_create("fastData", &single, &[], &[]).join(" "),
            "zpool create fastData /dev/disk/by-id/nvme-C"
        );
        let raidz = Topology {
            kind: TopologyKind::Raidz2,
            devices: vec!["a".into(), "b".into(), "c".into(), "d".into()],
        };
        assert_eq!(
            zpool_create("p", &raidz, &[], &[]).join(" "),
            "zpool create p raidz2 a b c d"
        );
    }

    #[test]
    fn import_by_guid_searches_by_id_and_never_forces() {
        assert_eq!(
            zpool_import("1234567890", Some("quickOS"), None).join(" "),
            "zpool import -d /dev/disk/by-id 1234567890 quickOS"
        );
        assert_eq!(
            zpool_import("quickOS", None, Some("/dev")).join(" "),
            "zpool import -d /dev quickOS"
        );
        assert_eq!(
            zpool_import_forced("quickOS", None, None).join(" "),
            "zpool import -f -d /dev/disk/by-id quickOS"
        );
    }

    #[test]
    fn observation_commands_are_scripted_and_narrow() {
        assert_eq!(
            zpool_list_argv(&["quickOS", "fastData"]).join(" "),
            "zpool list -H -p -o name,size,alloc,free,health,guid quickOS fastData"
        );
        assert_eq!(
            zpool_get_argv(&["ashift", "autotrim"], &["quickOS"]).join(" "),
            "zpool get -H -p -o name,property,value,source ashift,autotrim quickOS"
        );
        assert_eq!(
            zpool_status_argv(&[String::from("quickOS")]).join(" "),
            "zpool status -P -p quickOS"
        );
        assert_eq!(
            zpool_import_scan_argv().join(" "),
            "zpool import -d /dev/disk/by-id"
        );
        assert_eq!(
            zpool_set("quickOS", "autotrim", "on").join(" "),
            "zpool set autotrim=on quickOS"
        );
        assert_eq!(zpool_export("fastData").join(" "), "zpool export fastData");
    }

    #[test]
    fn list_rows() {
        let rows = parse_zpool_list(
            "quickOS\t1992864825344\t552960\t1992864272384\tONLINE\t9816403616924958385\n\
             gone\t-\t-\t-\tFAULTED\t42\n",
        )
        .unwrap();
        assert_eq!(rows[0].size, Some(1_992_864_825_344));
        assert_eq!(rows[0].health, VdevState::Online);
        assert_eq!(rows[0].guid, 9_816_403_616_924_958_385);
        assert_eq!(rows[1].free, None);
        assert_eq!(rows[1].health, VdevState::Faulted);
    }

    #[test]
    fn list_rejects_human_sizes_and_bad_fields() {
        let error = parse_zpool_list("quickOS\t1.81T\t540K\t1.81T\tONLINE\t1\n").unwrap_err();
        assert_eq!(
            error.to_string(),
            "line 1: expected size as an exact number of bytes (zpool list -p) or -, found `1.81T`: \
             `quickOS\\t1.81T\\t540K\\t1.81T\\tONLINE\\t1`"
        );
        assert!(parse_zpool_list("quickOS\t1\t1\t1\tONLINE\n").is_err());
        assert!(parse_zpool_list("quickOS\t1\t1\t1\tonline\t1\n").is_err());
        assert!(parse_zpool_list("quickOS\t1\t1\t1\tONLINE\t-1\n").is_err());
        assert!(parse_zpool_list("quickOS\t1\t1\t1\tONLINE\t18446744073709551616\n").is_err());
        assert!(parse_zpool_list("\t1\t1\t1\tONLINE\t1\n").is_err());
    }
}
