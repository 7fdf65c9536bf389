//! What Proxmox's storage plugins declare about their sections, as far as reading and writing
//! storage.cfg depends on it. Read from proxmox/pve-storage (src/PVE/Storage/*Plugin.pm,
//! `options()` and `plugindata()`, commit 0c56bad8, July 2026).

/// A storage type Proxmox ships, with the keys its `options()` marks neither optional nor
/// absent (SectionConfig::write_config writes these first, sorted), and the content types
/// `plugindata()` allows and defaults to.
pub struct PluginFacts {
    pub kind: &'static str,
    pub required: &'static [&'static str],
    /// Keys `options()` marks `fixed`: set at creation, never changed by `pvesm set`.
    pub fixed: &'static [&'static str],
    pub content_allowed: &'static [&'static str],
    /// Filled in by Plugin.pm's parse_config when a section has no `content` line.
    pub content_default: &'static [&'static str],
}

const FILE_CONTENT: &[&str] = &[
    "images", "rootdir", "vztmpl", "iso", "backup", "snippets", "import",
];
const FILE_CONTENT_OR_NONE: &[&str] = &[
    "images", "rootdir", "vztmpl", "iso", "backup", "snippets", "none", "import",
];

pub const PLUGINS: &[PluginFacts] = &[
    PluginFacts {
        kind: "btrfs",
        required: &["path"],
        fixed: &["path"],
        content_allowed: FILE_CONTENT_OR_NONE,
        content_default: &["images", "rootdir"],
    },
    PluginFacts {
        kind: "cephfs",
        required: &["path"],
        fixed: &["path"],
        content_allowed: &["vztmpl", "iso", "backup", "snippets", "import"],
        content_default: &["backup"],
    },
    PluginFacts {
        kind: "cifs",
        required: &["path", "server", "share"],
        fixed: &["path", "server", "share"],
        content_allowed: FILE_CONTENT,
        content_default: &["images"],
    },
    PluginFacts {
        kind: "dir",
        required: &["path"],
        // pve-storage 9.x: a dir storage's snapshots as qcow2 volume chains, chosen at creation.
        fixed: &["path", "snapshot-as-volume-chain"],
        content_allowed: FILE_CONTENT_OR_NONE,
        content_default: &["images", "rootdir"],
    },
    PluginFacts {
        kind: "esxi",
        required: &["server", "username"],
        fixed: &[],
        content_allowed: &["import"],
        content_default: &["import"],
    },
    PluginFacts {
        kind: "iscsi",
        required: &["portal", "target"],
        fixed: &["portal", "target"],
        content_allowed: &["images", "none"],
        content_default: &["images"],
    },
    PluginFacts {
        kind: "iscsidirect",
        required: &["portal", "target"],
        fixed: &["portal", "target"],
        content_allowed: &["images", "none"],
        content_default: &["images"],
    },
    PluginFacts {
        kind: "lvm",
        required: &["vgname"],
        fixed: &["vgname", "base"],
        content_allowed: &["images", "rootdir"],
        content_default: &["images"],
    },
    PluginFacts {
        kind: "lvmthin",
        required: &["thinpool", "vgname"],
        fixed: &["thinpool", "vgname"],
        content_allowed: &["images", "rootdir"],
        content_default: &["images", "rootdir"],
    },
    PluginFacts {
        kind: "nfs",
        required: &["export", "path", "server"],
        fixed: &["export", "path", "server"],
        content_allowed: FILE_CONTENT,
        content_default: &["images"],
    },
    PluginFacts {
        kind: "pbs",
        required: &["datastore", "server"],
        fixed: &["datastore", "server"],
        content_allowed: &["backup", "none"],
        content_default: &["backup"],
    },
    PluginFacts {
        kind: "rbd",
        required: &[],
        fixed: &[],
        content_allowed: &["images", "rootdir"],
        content_default: &["images"],
    },
    PluginFacts {
        kind: "zfs",
        required: &["blocksize", "iscsiprovider", "pool", "portal", "target"],
        fixed: &["blocksize", "iscsiprovider", "pool", "portal", "target"],
        content_allowed: &["images"],
        content_default: &["images"],
    },
    PluginFacts {
        kind: "zfspool",
        required: &["pool"],
        fixed: &["pool"],
        content_allowed: &["images", "rootdir"],
        content_default: &["images", "rootdir"],
    },
];

/// The facts for a storage type, or None for a type Proxmox does not ship (a third-party plugin).
pub fn plugin(kind: &str) -> Option<&'static PluginFacts> {
    PLUGINS.iter().find(|p| p.kind == kind)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn required_keys_are_sorted_as_write_config_emits_them() {
        for p in PLUGINS {
            let mut sorted = p.required.to_vec();
            sorted.sort_unstable();
            assert_eq!(sorted, p.required, "{}", p.kind);
        }
    }

    #[test]
    fn fixed_keys_are_pve_storages() {
        let fixed = |kind| plugin(kind).map(|p| p.fixed.to_vec());
        assert_eq!(fixed("zfspool"), Some(vec!["pool"]));
        assert_eq!(fixed("dir"), Some(vec!["path", "snapshot-as-volume-chain"]));
        assert_eq!(fixed("nfs"), Some(vec!["export", "path", "server"]));
        assert_eq!(fixed("lvm"), Some(vec!["vgname", "base"]));
        assert_eq!(fixed("lvmthin"), Some(vec!["thinpool", "vgname"]));
    }

    #[test]
    fn defaults_are_allowed_content() {
        for p in PLUGINS {
            for c in p.content_default {
                assert!(p.content_allowed.contains(c), "{}: {c}", p.kind);
            }
        }
    }
}
