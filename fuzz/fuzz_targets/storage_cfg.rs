#![no_main]
//! The Proxmox integration's parsers on any input: storage.cfg above all (a parsed file must be
//! written back into text that parses to the same storages and is written the same way again,
//! and the storage plan must be computable from it), then /proc/net/route, `ip -j addr`,
//! `smartctl -j` and smartd.conf merging (merging twice changes nothing), none of which may
//! panic. One target for all of them: coverage feedback steers the input towards whichever
//! parser it is reaching.
use libfuzzer_sys::fuzz_target;
use phoenix_zfs::layout::Layout;
use phoenix_zfs::formats::proxmox::storage_cfg::StorageConfig;
use phoenix_zfs::formats::{nfs, proxmox, smartd, wear};
use std::collections::BTreeMap;
use std::sync::OnceLock;

fn layout() -> &'static Layout {
    static LAYOUT: OnceLock<Layout> = OnceLock::new();
    LAYOUT.get_or_init(Layout::default_layout)
}

/// The keys of each section as Proxmox would keep them: a false `disable` is never written.
fn shape(cfg: &StorageConfig) -> Vec<(String, String, Vec<String>)> {
    cfg.sections
        .iter()
        .map(|s| {
            let mut keys: Vec<String> = s
                .properties
                .iter()
                .filter(|p| !(p.key == "disable" && p.value == "0"))
                .map(|p| p.key.clone())
                .collect();
            keys.sort();
            (s.kind.clone(), s.id.clone(), keys)
        })
        .collect()
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(cfg) = StorageConfig::parse(text) {
        let written = cfg.to_text();
        let again = match StorageConfig::parse(&written) {
            Ok(again) => again,
            Err(e) => panic!("written storage.cfg does not parse: {e}\n{written}"),
        };
        assert_eq!(shape(&cfg), shape(&again), "{written}");
        assert_eq!(again.to_text(), written);
        let mounts: BTreeMap<String, String> = cfg
            .sections
            .iter()
            .map(|s| {
                (
                    format!("fastData/{}", s.id),
                    s.get("path").unwrap_or("/x").to_string(),
                )
            })
            .chain([
                (
                    "fastData/shared-backups".to_string(),
                    "/fastData/shared-backups".to_string(),
                ),
                (
                    "fastData/shared-iso".to_string(),
                    "/fastData/shared-iso".to_string(),
                ),
            ])
            .collect();
        let _ = proxmox::storage_changes(layout(), &cfg, &mounts);
    }
    let _ = nfs::default_route_interface(text);
    let _ = nfs::interface_network(text, "eth0");
    let _ = text.parse::<nfs::Network>();
    let _ = wear::parse_smartctl(text);
    let block = "# BEGIN phoenix-zfs\n/dev/disk/by-id/nvme-A -d nvme -a\n# END phoenix-zfs\n";
    if let Ok(merged) = smartd::merge_block(text, block) {
        assert_eq!(
            smartd::merge_block(&merged, block).as_deref(),
            Ok(merged.as_str())
        );
    }
});
