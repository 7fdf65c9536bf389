//! ZFS vdev labels written straight onto a device (OpenZFS module/zfs/vdev_label.c): four copies of
//! 256 KiB, two at the start and two at the end of the size rounded down to 256 KiB. Each holds an
//! XDR nvlist describing the pool at 16 KiB and a ring of uberblocks from 128 KiB.
//!
//! One signature per label, at the label's start (wipefs instead lists every uberblock).

use nom::number::complete::{be_u64, le_u64};
use nom::Parser;

use super::fields::Parsed;
use super::nvlist::{self, find_str, find_u64, NvlistError};
use super::window::DeviceWindow;
use super::{Signature, SignatureKind};

pub(super) const LABEL_SIZE: u64 = 256 * 1024;
const NVLIST_OFFSET: u64 = 16 * 1024;
/// vdev_phys_t is 112 KiB, of which the last 40 bytes are its embedded checksum.
const NVLIST_SIZE: usize = 112 * 1024 - 40;
const UBERBLOCK_RING_OFFSET: u64 = 128 * 1024;
/// Uberblock slots are max(1 KiB, 2^ashift); stepping by 1 KiB visits every slot of any ashift.
const UBERBLOCK_STEP: u64 = 1024;
const UBERBLOCK_RING_SIZE: u64 = 128 * 1024;
const UBERBLOCK_MAGIC: u64 = 0x00ba_b10c;

/// `pool_state_t` in include/sys/fs/zfs.h.
fn state_name(state: u64) -> String {
    match state {
        0 => "ACTIVE".to_owned(),
        1 => "EXPORTED".to_owned(),
        2 => "DESTROYED".to_owned(),
        3 => "SPARE".to_owned(),
        4 => "L2CACHE".to_owned(),
        5 => "UNINITIALIZED".to_owned(),
        6 => "UNAVAIL".to_owned(),
        7 => "POTENTIALLY_ACTIVE".to_owned(),
        other => format!("unknown ({other})"),
    }
}

/// Where the four labels of a device of `size` bytes start.
fn label_offsets(size: u64) -> Option<[u64; 4]> {
    let aligned = size - size % LABEL_SIZE;
    if aligned < 4 * LABEL_SIZE {
        return None;
    }
    Some([
        0,
        LABEL_SIZE,
        aligned - 2 * LABEL_SIZE,
        aligned - LABEL_SIZE,
    ])
}

/// What the uberblock ring of one label holds.
#[derive(Default)]
struct Uberblocks {
    count: usize,
    newest_txg: Option<u64>,
}

/// An uberblock's magic and txg, in whichever byte order the writing host used.
fn uberblock(slot: &[u8]) -> Parsed<'_, Option<u64>> {
    let (_, (magic_le, _, txg_le)) = (le_u64, le_u64, le_u64).parse(slot)?;
    if magic_le == UBERBLOCK_MAGIC {
        return Ok((slot, Some(txg_le)));
    }
    let (_, (magic_be, _, txg_be)) = (be_u64, be_u64, be_u64).parse(slot)?;
    Ok((slot, (magic_be == UBERBLOCK_MAGIC).then_some(txg_be)))
}

fn scan_uberblocks(device: &DeviceWindow, label: u64) -> Uberblocks {
    let mut found = Uberblocks::default();
    let ring = label + UBERBLOCK_RING_OFFSET;
    for slot_offset in (ring..ring + UBERBLOCK_RING_SIZE).step_by(UBERBLOCK_STEP as usize) {
        let txg = device
            .bytes(slot_offset, 24)
            .and_then(|slot| uberblock(slot).ok())
            .and_then(|(_, txg)| txg);
        if let Some(txg) = txg {
            found.count += 1;
            found.newest_txg = found.newest_txg.max(Some(txg));
        }
    }
    found
}

enum Config {
    Pairs(Vec<nvlist::Pair>),
    Unreadable(NvlistError),
    Blank,
}

fn read_config(device: &DeviceWindow, label: u64) -> Config {
    let Some(packed) = device.bytes(label + NVLIST_OFFSET, NVLIST_SIZE) else {
        return Config::Blank;
    };
    if packed.iter().take(16).all(|&byte| byte == 0) {
        return Config::Blank;
    }
    match nvlist::parse(packed) {
        Ok(pairs) if describes_a_vdev(&pairs) => Config::Pairs(pairs),
        Ok(_) => Config::Blank,
        Err(error) => Config::Unreadable(error),
    }
}

fn describes_a_vdev(pairs: &[nvlist::Pair]) -> bool {
    ["name", "pool_guid", "guid", "state"]
        .iter()
        .any(|key| pairs.iter().any(|pair| pair.name == *key))
}

pub(super) fn probe(device: &DeviceWindow) -> Vec<Signature> {
    let Some(offsets) = label_offsets(device.size()) else {
        return Vec::new();
    };
    offsets
        .iter()
        .enumerate()
        .filter_map(|(index, &label)| probe_label(device, index, label))
        .collect()
}

fn probe_label(device: &DeviceWindow, index: usize, label: u64) -> Option<Signature> {
    let config = read_config(device, label);
    let uberblocks = scan_uberblocks(device, label);
    // Random bytes fail the XDR header; an nvlist without uberblocks is still a label (spares,
    // cache devices and freshly made labels have none yet).
    if matches!(config, Config::Blank | Config::Unreadable(_)) && uberblocks.count == 0 {
        return None;
    }
    let mut detail = vec![format!("ZFS label L{index}")];
    let (pool_name, pool_guid) = match &config {
        Config::Pairs(pairs) => {
            detail.push(describe_config(pairs));
            (
                find_str(pairs, "name").map(str::to_owned),
                find_u64(pairs, "pool_guid").map(|guid| guid.to_string()),
            )
        }
        Config::Unreadable(error) => {
            detail.push(format!("config unreadable: {error}"));
            (None, None)
        }
        Config::Blank => {
            detail.push("no config".to_owned());
            (None, None)
        }
    };
    detail.push(match uberblocks.newest_txg {
        Some(txg) => format!("{} uberblocks, newest txg {txg}", uberblocks.count),
        None => "no uberblocks".to_owned(),
    });
    Some(Signature {
        kind: SignatureKind::ZfsLabel,
        offset: label,
        label: pool_name,
        uuid: pool_guid,
        detail: Some(detail.join("; ")),
    })
}

/// A 256 KiB label of pool `pool` (guid `guid`) as `zpool create` writes it before the pool's
/// first transaction group: the config, no uberblock yet.
#[cfg(test)]
pub(crate) fn label_for_tests(pool: &str, guid: u64) -> Vec<u8> {
    use super::nvlist::build::{packed, TestValue};
    let config = packed(&[
        ("version", TestValue::U64(5000)),
        ("name", TestValue::Str(pool)),
        ("state", TestValue::U64(0)),
        ("txg", TestValue::U64(4)),
        ("pool_guid", TestValue::U64(guid)),
        ("guid", TestValue::U64(guid ^ 0x5a5a)),
    ]);
    let mut label = vec![0u8; LABEL_SIZE as usize];
    let at = NVLIST_OFFSET as usize;
    label[at..at + config.len()].copy_from_slice(&config);
    label
}

fn describe_config(pairs: &[nvlist::Pair]) -> String {
    let mut facts = Vec::new();
    match find_str(pairs, "name") {
        Some(name) => facts.push(format!("ZFS pool {name}")),
        None => facts.push("ZFS device with no pool (spare or cache)".to_owned()),
    }
    if let Some(guid) = find_u64(pairs, "pool_guid") {
        facts.push(format!("guid {guid}"));
    }
    if let Some(state) = find_u64(pairs, "state") {
        facts.push(format!("state {}", state_name(state)));
    }
    if let Some(txg) = find_u64(pairs, "txg") {
        facts.push(format!("txg {txg}"));
    }
    if let Some(guid) = find_u64(pairs, "guid") {
        facts.push(format!("vdev guid {guid}"));
    }
    if let Some(host) = find_str(pairs, "hostname") {
        facts.push(format!("last host {host}"));
    }
    if let Some(version) = find_u64(pairs, "version") {
        facts.push(format!("version {version}"));
    }
    facts.join(" ")
}

#[cfg(test)]
mod tests {
    use super::super::nvlist::build::{packed, TestValue};
    use super::*;

    const MIB: u64 = 1024 * 1024;

    /// A vdev label laid out as vdev_label.c writes it (vdev_label_t), with the given config and
    /// little-endian uberblocks at 4 KiB slots (ashift 12).
    fn write_label(device: &mut [u8], at: usize, config: &[u8], uberblock_txgs: &[u64]) {
        let nvlist = at + NVLIST_OFFSET as usize;
        device[nvlist..nvlist + config.len()].copy_from_slice(config);
        for (slot, txg) in uberblock_txgs.iter().enumerate() {
            let ub = at + UBERBLOCK_RING_OFFSET as usize + slot * 4096;
            device[ub..ub + 8].copy_from_slice(&UBERBLOCK_MAGIC.to_le_bytes());
            device[ub + 8..ub + 16].copy_from_slice(&5000u64.to_le_bytes());
            device[ub + 16..ub + 24].copy_from_slice(&txg.to_le_bytes());
        }
    }

    fn tank_config() -> Vec<u8> {
        packed(&[
            ("version", TestValue::U64(5000)),
            ("name", TestValue::Str("tank")),
            ("state", TestValue::U64(1)),
            ("txg", TestValue::U64(42)),
            ("pool_guid", TestValue::U64(12_345_678_901_234_567_890)),
            ("hostname", TestValue::Str("pve1")),
            ("guid", TestValue::U64(777)),
            ("vdev_tree", TestValue::Nested("guid", 777)),
        ])
    }

    #[test]
    fn all_four_labels_of_a_raw_vdev_are_reported() {
        // 64 MiB + 100 KiB: the end labels sit below the size rounded down to 256 KiB.
        let size = 64 * MIB + 100 * 1024;
        let config = tank_config();
        let mut head = vec![0u8; MIB as usize];
        let mut tail = vec![0u8; MIB as usize];
        write_label(&mut head, 0, &config, &[40, 41, 42]);
        write_label(&mut head, LABEL_SIZE as usize, &config, &[40, 41, 42]);
        let tail_start = size - MIB;
        let aligned = 64 * MIB;
        for label in [aligned - 2 * LABEL_SIZE, aligned - LABEL_SIZE] {
            write_label(&mut tail, (label - tail_start) as usize, &config, &[42]);
        }
        let found = probe(&DeviceWindow::new(&head, &tail, size));
        let offsets: Vec<u64> = found.iter().map(|signature| signature.offset).collect();
        assert_eq!(
            offsets,
            [
                0,
                LABEL_SIZE,
                aligned - 2 * LABEL_SIZE,
                aligned - LABEL_SIZE
            ]
        );
        for signature in &found {
            assert_eq!(signature.kind, SignatureKind::ZfsLabel);
            assert_eq!(signature.label.as_deref(), Some("tank"));
            assert_eq!(signature.uuid.as_deref(), Some("12345678901234567890"));
        }
        assert_eq!(
            found[0].detail.as_deref(),
            Some(
                "ZFS label L0; ZFS pool tank guid 12345678901234567890 state EXPORTED txg 42 \
                 vdev guid 777 last host pve1 version 5000; 3 uberblocks, newest txg 42"
            )
        );
    }

    #[test]
    fn big_endian_uberblocks_count_too() {
        let mut head = vec![0u8; MIB as usize];
        let ub = UBERBLOCK_RING_OFFSET as usize + 1024;
        head[ub..ub + 8].copy_from_slice(&UBERBLOCK_MAGIC.to_be_bytes());
        head[ub + 16..ub + 24].copy_from_slice(&9u64.to_be_bytes());
        let found = probe(&DeviceWindow::new(&head, &[], 64 * MIB));
        assert_eq!(found.len(), 1);
        let detail = found[0].detail.as_deref().unwrap_or_default();
        assert!(
            detail.ends_with("no config; 1 uberblocks, newest txg 9"),
            "{detail}"
        );
    }

    #[test]
    fn a_spare_label_without_pool_name_is_still_a_label() {
        let spare = packed(&[("state", TestValue::U64(3)), ("guid", TestValue::U64(5))]);
        let mut head = vec![0u8; MIB as usize];
        write_label(&mut head, 0, &spare, &[]);
        let found = probe(&DeviceWindow::new(&head, &[], 64 * MIB));
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].label, None);
        let detail = found[0].detail.as_deref().unwrap_or_default();
        assert!(
            detail.contains("no pool (spare or cache) state SPARE"),
            "{detail}"
        );
    }

    #[test]
    fn garbage_in_the_config_area_alone_is_not_a_label() {
        let mut head = vec![0u8; MIB as usize];
        head[NVLIST_OFFSET as usize..NVLIST_OFFSET as usize + 4].copy_from_slice(&[7, 7, 7, 7]);
        assert!(probe(&DeviceWindow::new(&head, &[], 64 * MIB)).is_empty());
    }
}
