//! The storage options the stand-in knows, and how Proxmox checks their values. Read from
//! proxmox/pve-storage (Plugin.pm, ZFSPoolPlugin.pm, DirPlugin.pm) and pve-common
//! (JSONSchema.pm), whose wording the errors keep.

use crate::failure::Failure;

/// The storage types this stand-in can add.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Zfspool,
    Dir,
}

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Kind::Zfspool => "zfspool",
            Kind::Dir => "dir",
        }
    }

    pub fn from_name(name: &str) -> Option<Kind> {
        match name {
            "zfspool" => Some(Kind::Zfspool),
            "dir" => Some(Kind::Dir),
            _ => None,
        }
    }

    /// `options()` of ZFSPoolPlugin.pm / DirPlugin.pm: every key the type accepts.
    fn options(self) -> &'static [&'static str] {
        match self {
            Kind::Zfspool => &[
                "pool",
                "blocksize",
                "sparse",
                "nodes",
                "disable",
                "content",
                "bwlimit",
                "mountpoint",
            ],
            Kind::Dir => &[
                "path",
                "content-dirs",
                "nodes",
                "shared",
                "disable",
                "maxfiles",
                "prune-backups",
                "max-protected-backups",
                "content",
                "format",
                "mkdir",
                "create-base-path",
                "create-subdirs",
                "is_mountpoint",
                "bwlimit",
                "preallocation",
                "snapshot-as-volume-chain",
            ],
        }
    }

    pub fn accepts(self, key: &str) -> bool {
        self.options().contains(&key)
    }

    pub fn fixed(self) -> &'static str {
        match self {
            Kind::Zfspool => "pool",
            Kind::Dir => "path",
        }
    }
}

/// Storage types Proxmox has and this stand-in does not implement.
pub const OTHER_TYPES: &[&str] = &[
    "btrfs",
    "cephfs",
    "cifs",
    "esxi",
    "iscsi",
    "iscsidirect",
    "lvm",
    "lvmthin",
    "nfs",
    "pbs",
    "rbd",
    "zfs",
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Value {
    Boolean,
    Text,
    /// `pve-storage-path`.
    AbsolutePath,
    /// `pve-storage-content-list`.
    Content,
    /// `pve-storage-zfs-blocksize`.
    Blocksize,
    /// `pve-node-list`.
    NodeList,
}

/// The options this stand-in implements, with their value kinds.
const IMPLEMENTED: &[(&str, Value)] = &[
    ("pool", Value::Text),
    ("path", Value::AbsolutePath),
    ("content", Value::Content),
    ("sparse", Value::Boolean),
    ("blocksize", Value::Blocksize),
    ("mountpoint", Value::AbsolutePath),
    ("nodes", Value::NodeList),
    ("disable", Value::Boolean),
    ("is_mountpoint", Value::Text),
    ("create-base-path", Value::Boolean),
    ("create-subdirs", Value::Boolean),
    ("prune-backups", Value::Text),
    ("shared", Value::Boolean),
];

/// Options of other storage types: Proxmox's schema is shared by all types, so pvesm parses
/// them and then refuses them as unexpected for zfspool and dir.
const OTHER_TYPE_OPTIONS: &[&str] = &[
    "base",
    "data-pool",
    "datastore",
    "domain",
    "encryption-key",
    "export",
    "fingerprint",
    "fs-name",
    "iscsiprovider",
    "keyring",
    "krbd",
    "master-pubkey",
    "monhost",
    "namespace",
    "options",
    "password",
    "port",
    "portal",
    "saferemove",
    "server",
    "share",
    "smbversion",
    "subdir",
    "tagged_only",
    "target",
    "thinpool",
    "username",
    "vgname",
];

/// How pvesm's command line treats an option name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Known {
    Implemented(Value),
    /// An option of zfspool or dir in Proxmox that this stand-in does not implement.
    NotImplemented,
    /// An option of another storage type only.
    OtherType,
    /// Not an option of pvesm at all.
    Unknown,
}

pub fn known(key: &str) -> Known {
    if let Some((_, v)) = IMPLEMENTED.iter().find(|(k, _)| *k == key) {
        Known::Implemented(*v)
    } else if Kind::Zfspool.accepts(key) || Kind::Dir.accepts(key) {
        Known::NotImplemented
    } else if OTHER_TYPE_OPTIONS.contains(&key) {
        Known::OtherType
    } else {
        Known::Unknown
    }
}

/// pve-common parse_boolean.
pub fn parse_boolean(value: &str) -> Option<bool> {
    match value.to_ascii_lowercase().as_str() {
        "1" | "on" | "yes" | "true" => Some(true),
        "0" | "off" | "no" | "false" => Some(false),
        _ => None,
    }
}

/// Content types any storage may name (DirPlugin's list, which includes all others).
const CONTENT_TYPES: &[&str] = &[
    "images", "rootdir", "vztmpl", "iso", "backup", "snippets", "none", "import",
];

/// Checks a value the way the API schema does before any storage code runs; returns it as it
/// is stored (booleans as 1/0).
pub fn check_value(key: &str, kind: Value, value: &str) -> Result<String, Failure> {
    let invalid = |message: String| Failure::ParameterVerification {
        key: key.to_string(),
        message,
    };
    if value.contains(['\n', '\r']) {
        return Err(Failure::Plain("property contains a line feed".into()));
    }
    match kind {
        Value::Boolean => match value {
            "" => Ok("1".into()),
            v => parse_boolean(v)
                .map(|b| if b { "1" } else { "0" }.to_string())
                .ok_or(Failure::Usage("unable to parse boolean option".into())),
        },
        Value::Text => Ok(value.to_string()),
        Value::AbsolutePath => {
            let ok = value.starts_with('/') && value.len() > 1 && !value.contains([';', '(', ')']);
            if ok {
                Ok(value.to_string())
            } else {
                Err(invalid(
                    "invalid format - value does not look like a valid absolute path".into(),
                ))
            }
        }
        Value::Content => {
            for item in split_list(value) {
                if !CONTENT_TYPES.contains(&item) {
                    return Err(invalid(format!(
                        "invalid format - invalid content type '{item}'"
                    )));
                }
            }
            Ok(value.to_string())
        }
        Value::Blocksize => {
            check_blocksize(value).map_err(|m| invalid(format!("invalid format - {m}")))
        }
        Value::NodeList => {
            for node in split_list(value) {
                if !valid_node_name(node) {
                    return Err(invalid(format!(
                        "invalid format - value does not look like a valid node name '{node}'"
                    )));
                }
            }
            Ok(value.to_string())
        }
    }
}

/// PVE::Tools::split_list.
pub fn split_list(value: &str) -> impl Iterator<Item = &str> {
    value
        .split(|c: char| c == ',' || c == ';' || c == '\0' || c.is_whitespace())
        .filter(|s| !s.is_empty())
}

fn valid_node_name(name: &str) -> bool {
    let b = name.as_bytes();
    matches!((b.first(), b.last()), (Some(f), Some(l)) if f.is_ascii_alphanumeric() && l.is_ascii_alphanumeric())
        && b.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'-')
}

/// ZFSPoolPlugin.pm verify_zfs_blocksize, over the library's reading of pve-storage's pattern.
fn check_blocksize(value: &str) -> Result<String, String> {
    let Some(bytes) = phoenix_zfs::formats::proxmox::blocksize::blocksize_number(value) else {
        return Err(format!(
            "invalid ZFS blocksize format '{value}'. Use a positive number (no leading zeros) with an optional 'k' or 'm' suffix."
        ));
    };
    if (512..=16 << 20).contains(&bytes) && bytes.is_power_of_two() {
        Ok(value.to_string())
    } else {
        Err(format!(
            "value '{value}' is not a valid ZFS blocksize. Must be a power of 2 between 512B and 16MiB (e.g., 4k, 8k, 16k, 64k, 1m)."
        ))
    }
}

/// Plugin.pm decode_value for `content`: types the storage does not support are dropped with a
/// warning; what is left is returned in the order given.
pub fn decode_content(
    facts: &phoenix_zfs::formats::proxmox::plugins::PluginFacts,
    value: &str,
    warnings: &mut Vec<String>,
) -> Result<String, Failure> {
    let mut kept: Vec<&str> = Vec::new();
    for item in split_list(value) {
        let supported = facts.content_allowed.contains(&item);
        if !supported {
            warnings.push(format!("storage does not support content type '{item}'"));
        } else if !kept.contains(&item) {
            kept.push(item);
        }
    }
    if kept.contains(&"none") && kept.len() > 1 {
        return Err(Failure::Plain(
            "unable to combine 'none' with other content types".into(),
        ));
    }
    if kept.is_empty() && !facts.content_allowed.contains(&"none") {
        return Err(Failure::Plain(
            "storage does not support content type 'none'".into(),
        ));
    }
    Ok(if kept.is_empty() {
        "none".to_string()
    } else {
        kept.join(",")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocksizes_as_zfspoolplugin_checks_them() {
        for ok in ["512", "4k", "16K", "1m", "16M"] {
            assert!(check_blocksize(ok).is_ok(), "{ok}");
        }
        for bad in ["", "k", "016k", "3k", "32m", "256", "1g", "-4k"] {
            assert!(check_blocksize(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn booleans_and_bare_flags() {
        assert_eq!(check_value("sparse", Value::Boolean, "").unwrap(), "1");
        assert_eq!(check_value("sparse", Value::Boolean, "Yes").unwrap(), "1");
        assert_eq!(check_value("sparse", Value::Boolean, "off").unwrap(), "0");
        assert!(check_value("sparse", Value::Boolean, "maybe").is_err());
    }

    #[test]
    fn content_unsupported_by_the_type_is_dropped_with_a_warning() {
        let zfspool = phoenix_zfs::formats::proxmox::plugins::plugin("zfspool").unwrap();
        let mut warnings = Vec::new();
        assert_eq!(
            decode_content(zfspool, "images,backup", &mut warnings).unwrap(),
            "images"
        );
        assert_eq!(warnings, ["storage does not support content type 'backup'"]);
        assert!(decode_content(zfspool, "backup", &mut Vec::new()).is_err());
    }

    #[test]
    fn classifies_option_names() {
        assert_eq!(known("pool"), Known::Implemented(Value::Text));
        assert_eq!(known("bwlimit"), Known::NotImplemented);
        assert_eq!(known("server"), Known::OtherType);
        assert_eq!(known("bogus"), Known::Unknown);
    }
}
