//! The gate in front of every write, tested against drive images made of bytes.
//!
//! Each case builds three drives (two 2 TB, one 4 TB) as sparse files: blank, holding real
//! on-disk structures (the signature fixtures, made by real tools) or random bytes at any place
//! the windows cover, a partition table with a file system behind it that `wipefs --all` erased,
//! or the remains of an interrupted `zpool create` (its GPT, built here from OpenZFS's
//! zpool_label_disk, and maybe labels of a pool). udev's records are written as systemd writes
//! them (a partition's record carries its disk's ID_PART_TABLE_TYPE). The real probe, the udev
//! reader, matching and the planner then decide; the oracle is the image model itself, never the
//! code under test: no destructive action (wipe, label clear, create, replace) may target a
//! drive whose image is not all zero, unless its serial was named with --wipe, or it holds
//! exactly the remains of the create of the pool a journal entry names it for (one pool GUID
//! across the entry's drives); never a drive in use; `zpool create` never gets -f; and the run
//! is refused exactly when one of the drives the layout takes may not be written.

use super::*;
use crate::formats::ondisk::{zfs_label_for_tests, PartitionSource};
use crate::formats::udev;
use crate::host::root::HostRoot;
use crate::host::target::Target;
use crate::matching::match_drives;
use crate::model::disk::{BlkidView, Disk, Ineligible, Partition};
use crate::model::pending::JournaledDrive;
use crate::model::pools::{ImportablePool, OtherPool, Presence};
use crate::model::services::HostServices;
use proptest::prelude::*;
use std::io::{Read, Seek, SeekFrom, Write};

const TB2: u64 = 2_000_398_934_016;
const TB4: u64 = 4_000_787_030_016;
const MIB: u64 = 1 << 20;
const SECTOR: u64 = 512;

fn size_of(i: usize) -> u64 {
    if i == 2 {
        TB4
    } else {
        TB2
    }
}

fn size_name(i: usize) -> &'static str {
    if i == 2 {
        "4TB"
    } else {
        "2TB"
    }
}

fn serial(i: usize) -> String {
    format!("S{i}")
}

fn path(i: usize) -> String {
    format!(
        "/dev/disk/by-id/nvme-Samsung_SSD_990_EVO_Plus_{}_S{i}_1",
        size_name(i)
    )
}

/// The windows the specification names (first 4 MiB and last 16 MiB of a disk), by the oracle's
/// own arithmetic.
fn window_places(size: u64, len: u64) -> [std::ops::Range<u64>; 2] {
    [0..4 * MIB - len, size - 16 * MIB..size - len]
}

/// What a drive holds, as the oracle knows it.
#[derive(Debug, Clone)]
enum Content {
    Blank,
    /// Real structures or random bytes at offsets inside the windows.
    Data(Vec<Placed>),
    /// A GPT with one Linux partition from 1 MiB holding a file system, whose protective MBR and
    /// both headers `wipefs --all` erased.
    ErasedTable {
        fs: &'static str,
    },
    /// What `zpool create` leaves when cut off after it partitioned the drive, with labels of
    /// `labels` (pool, guid) in partition 1 when it got that far.
    CreateRemains {
        labels: Option<(&'static str, u64)>,
    },
}

#[derive(Debug, Clone)]
struct Placed {
    offset: u64,
    what: Bytes,
}

#[derive(Debug, Clone)]
enum Bytes {
    /// The first MiB of a signature fixture.
    Fixture(&'static str),
    Random(Vec<u8>),
}

impl Content {
    fn is_blank(&self) -> bool {
        matches!(self, Content::Blank)
    }
}

const FIXTURES: &[&str] = &[
    "ext4",
    "xfs",
    "btrfs",
    "luks2",
    "lvm2-pv",
    "swap",
    "md-raid-1.2",
    "fat-no-partition-table",
    "zfs-raw-exported",
    "gpt",
    "mbr",
];

fn placed(size: u64) -> impl Strategy<Value = Placed> {
    let fixture = prop::sample::select(FIXTURES).prop_map(Bytes::Fixture);
    let random = prop::collection::vec(1u8..=255, 1..64).prop_map(Bytes::Random);
    (
        prop_oneof![1 => fixture, 2 => random],
        any::<bool>(),
        any::<u64>(),
    )
        .prop_map(move |(what, at_tail, seed)| {
            let len = match &what {
                Bytes::Fixture(_) => MIB,
                Bytes::Random(bytes) => bytes.len() as u64,
            };
            let places = window_places(size, len);
            let range = &places[usize::from(at_tail)];
            // Fixtures lie where their tools put them: at the start of the disk.
            let offset = match what {
                Bytes::Fixture(_) => 0,
                Bytes::Random(_) => range.start + seed % (range.end - range.start),
            };
            Placed { offset, what }
        })
}

fn content(i: usize) -> impl Strategy<Value = Content> {
    let size = size_of(i);
    prop_oneof![
        4 => Just(Content::Blank),
        3 => prop::collection::vec(placed(size), 1..3).prop_map(Content::Data),
        1 => prop::sample::select(&["ext4", "xfs", "btrfs"][..])
            .prop_map(|fs| Content::ErasedTable { fs }),
        3 => prop_oneof![
            Just(None),
            Just(Some(("quickOS", 111))),
            Just(Some(("quickOS", 222))),
            Just(Some(("fastData", 333))),
            Just(Some(("tank", 444))),
        ]
        .prop_map(|labels| Content::CreateRemains { labels }),
    ]
}

/// The CRC-32 of UEFI (reflected 0x04C11DB7), bit by bit: the oracle's own.
fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &byte in bytes {
        crc ^= u32::from(byte);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

/// A GPT partition: number, type GUID as stored (mixed endian), first and last LBA, name.
type GptEntry = (u32, [u8; 16], u64, u64, &'static str);

const ZFS_DATA: [u8; 16] = [
    0xc3, 0x8c, 0x89, 0x6a, 0xd2, 0x1d, 0xb2, 0x11, 0x99, 0xa6, 0x08, 0x00, 0x20, 0x73, 0x66, 0x31,
];
const ZFS_RESERVED: [u8; 16] = [
    0x3b, 0x5a, 0x94, 0x6a, 0xd2, 0x1d, 0xb2, 0x11, 0x99, 0xa6, 0x08, 0x00, 0x20, 0x73, 0x66, 0x31,
];
const LINUX_FS: [u8; 16] = [
    0xaf, 0x3d, 0xc6, 0x0f, 0x83, 0x84, 0x72, 0x47, 0x8e, 0x79, 0x3d, 0x69, 0xd8, 0x47, 0x7d, 0xe4,
];

/// The writes of a GPT (UEFI 2.10, 5.3) on a disk of `size` bytes: protective MBR, both headers
/// and both entry arrays of 128 entries.
fn gpt(size: u64, entries: &[GptEntry]) -> Writes {
    let last = size / SECTOR - 1;
    let mut array = vec![0u8; 128 * 128];
    for &(number, type_guid, first, end, name) in entries {
        let at = (number as usize - 1) * 128;
        array[at..at + 16].copy_from_slice(&type_guid);
        array[at + 16..at + 32].copy_from_slice(&[number as u8; 16]);
        array[at + 32..at + 40].copy_from_slice(&first.to_le_bytes());
        array[at + 40..at + 48].copy_from_slice(&end.to_le_bytes());
        for (k, unit) in name.encode_utf16().enumerate() {
            array[at + 56 + 2 * k..at + 58 + 2 * k].copy_from_slice(&unit.to_le_bytes());
        }
    }
    let header = |lba: u64, alternate: u64, entries_lba: u64| {
        let mut h = vec![0u8; 92];
        h[0..8].copy_from_slice(b"EFI PART");
        h[8..12].copy_from_slice(&0x0001_0000u32.to_le_bytes());
        h[12..16].copy_from_slice(&92u32.to_le_bytes());
        h[24..32].copy_from_slice(&lba.to_le_bytes());
        h[32..40].copy_from_slice(&alternate.to_le_bytes());
        h[40..48].copy_from_slice(&34u64.to_le_bytes());
        h[48..56].copy_from_slice(&(last - 33).to_le_bytes());
        h[56..72].copy_from_slice(&[0x42; 16]);
        h[72..80].copy_from_slice(&entries_lba.to_le_bytes());
        h[80..84].copy_from_slice(&128u32.to_le_bytes());
        h[84..88].copy_from_slice(&128u32.to_le_bytes());
        h[88..92].copy_from_slice(&crc32(&array).to_le_bytes());
        let crc = crc32(&h);
        h[16..20].copy_from_slice(&crc.to_le_bytes());
        h
    };
    let mut pmbr = vec![0u8; 512];
    pmbr[446 + 4] = 0xee;
    pmbr[446 + 8..446 + 12].copy_from_slice(&1u32.to_le_bytes());
    pmbr[446 + 12..446 + 16]
        .copy_from_slice(&u32::try_from(last).unwrap_or(u32::MAX).to_le_bytes());
    pmbr[510..512].copy_from_slice(&[0x55, 0xaa]);
    let (primary, backup) = (header(1, last, 2), header(last, 1, last - 32));
    vec![
        (0, pmbr),
        (SECTOR, primary),
        (2 * SECTOR, array.clone()),
        ((last - 32) * SECTOR, array),
        (last * SECTOR, backup),
    ]
}

/// Partition 1 and 9 of a whole disk as OpenZFS's zpool_label_disk lays them out: data from
/// sector 2048 to the last usable sector less the 16384-sector reserve, aligned down to 2048
/// sectors; the reserve right after it.
fn zpool_partitions(size: u64) -> (GptEntry, GptEntry) {
    let last_usable = size / SECTOR - 34;
    let slice = (last_usable + 1 - 16384 - 2048) / 2048 * 2048;
    (
        (1, ZFS_DATA, 2048, 2048 + slice - 1, "zfs-0123456789abcdef"),
        (9, ZFS_RESERVED, 2048 + slice, 2048 + slice + 16383, ""),
    )
}

fn fixture(name: &str) -> Vec<u8> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join(format!("tests/fixtures/signatures/{name}.head.gz"));
    let mut bytes = Vec::new();
    flate2::read::GzDecoder::new(std::fs::File::open(&path).unwrap())
        .read_to_end(&mut bytes)
        .unwrap();
    bytes
}

/// Bytes to write into an image, by offset.
type Writes = Vec<(u64, Vec<u8>)>;
/// A partition the kernel lists: number, first byte, length.
type KernelPartition = (u32, u64, u64);

/// The bytes of a drive with `content`, and the partitions the kernel lists on it: the kernel
/// reads a valid GPT, and nothing where it was erased.
fn image(size: u64, content: &Content) -> (Writes, Vec<KernelPartition>) {
    match content {
        Content::Blank => (Vec::new(), Vec::new()),
        Content::Data(placed) => {
            let writes = placed
                .iter()
                .map(|p| match &p.what {
                    Bytes::Fixture(name) => (p.offset, fixture(name)),
                    Bytes::Random(bytes) => (p.offset, bytes.clone()),
                })
                .collect();
            (writes, Vec::new())
        }
        Content::ErasedTable { fs } => {
            let last_usable = size / SECTOR - 34;
            let mut writes = gpt(size, &[(1, LINUX_FS, 2048, last_usable, "data")]);
            writes.push((MIB, fixture(fs)));
            // wipefs --all: 55 AA of the protective MBR, "EFI PART" of both headers.
            writes.push((510, vec![0; 2]));
            writes.push((SECTOR, vec![0; 8]));
            writes.push((size - SECTOR, vec![0; 8]));
            (writes, Vec::new())
        }
        Content::CreateRemains { labels } => {
            let (data, reserve) = zpool_partitions(size);
            let mut writes = gpt(size, &[data, reserve]);
            let p1 = (data.2 * SECTOR, (data.3 - data.2 + 1) * SECTOR);
            let p9 = (reserve.2 * SECTOR, (reserve.3 - reserve.2 + 1) * SECTOR);
            if let Some((pool, guid)) = labels {
                let label = zfs_label_for_tests(pool, *guid);
                let len = label.len() as u64;
                let aligned_end = p1.0 + p1.1 / len * len;
                for offset in [p1.0, p1.0 + len, aligned_end - 2 * len, aligned_end - len] {
                    writes.push((offset, label.clone()));
                }
            }
            (writes, vec![(1, p1.0, p1.1), (9, p9.0, p9.1)])
        }
    }
}

/// udev's record of a partition of a drive with `content`, as systemd writes it: the disk's
/// ID_PART_TABLE_* imported, and blkid's own ID_FS_* for what is in it.
fn partition_record(content: &Content, number: u32) -> udev::UdevRecord {
    let mut text = String::from(
        "E:ID_PART_TABLE_TYPE=gpt\nE:ID_PART_TABLE_UUID=42424242-4242-4242-4242-424242424242\n",
    );
    text.push_str(&format!("E:ID_PART_ENTRY_NUMBER={number}\n"));
    if let (
        Content::CreateRemains {
            labels: Some((pool, guid)),
        },
        1,
    ) = (content, number)
    {
        text.push_str(&format!(
            "E:ID_FS_TYPE=zfs_member\nE:ID_FS_LABEL={pool}\nE:ID_FS_UUID={guid}\n"
        ));
    }
    udev::parse(&text).unwrap()
}

fn disk_record(content: &Content) -> udev::UdevRecord {
    let text = match content {
        Content::CreateRemains { .. } => {
            "E:ID_PART_TABLE_TYPE=gpt\nE:ID_PART_TABLE_UUID=42424242-4242-4242-4242-424242424242\n"
        }
        _ => "",
    };
    udev::parse(text).unwrap()
}

/// Drive `i` with `content` written into a sparse file under `root`, read by the real probe.
fn drive(root: &HostRoot, i: usize, content: &Content, mounted: bool) -> Disk {
    let size = size_of(i);
    let name = format!("nvme{i}n1");
    let node = root.path(&format!("/dev/{name}"));
    let mut file = std::fs::File::create(&node).unwrap();
    file.set_len(size).unwrap();
    let (writes, kernel) = image(size, content);
    for (offset, bytes) in &writes {
        file.seek(SeekFrom::Start(*offset)).unwrap();
        file.write_all(bytes).unwrap();
    }
    let model = format!("Samsung SSD 990 EVO Plus {}", size_name(i));
    let mut disk = Disk::test_nvme(&name, &model, &serial(i), size);
    let disk_udev = disk_record(content);
    disk.udev = Some(BlkidView::of(&disk_udev));
    disk.partitions = kernel
        .iter()
        .map(|&(number, start, len)| Partition {
            name: format!("{name}p{number}"),
            number: Some(number),
            start_bytes: Some(start),
            size_bytes: len,
            listed_by: vec![PartitionSource::Kernel],
            probe: ProbeState::NotProbed,
            udev: Some(BlkidView::of_partition(
                &partition_record(content, number),
                Some(&disk_udev),
            )),
            major_minor: None,
        })
        .collect();
    if mounted {
        disk.ineligible = vec![Ineligible::Mounted {
            mountpoint: "/mnt".into(),
            via: format!("/dev/{name}"),
        }];
    }
    let by_id = root.path("/dev/disk/by-id");
    std::fs::create_dir_all(&by_id).unwrap();
    let link = by_id.join(path_of(i));
    if !link.exists() {
        std::os::unix::fs::symlink(format!("../../{name}"), &link).unwrap();
        std::os::unix::fs::symlink(
            format!("../../{name}p1"),
            by_id.join(format!("{}-part1", path_of(i))),
        )
        .unwrap();
    }
    crate::host::inventory::probe_disk(root, &mut disk);
    disk
}

/// Journal entries: mostly true ones (the layout's pool on the drives it takes, named by their
/// own serial and path), some naming a drive by another's path or serial, some for another pool.
fn journal() -> impl Strategy<Value = Vec<PendingCreate>> {
    let named = |i: usize| {
        prop_oneof![
            6 => Just(JournaledDrive { serial: Some(serial(i)), path: path(i) }),
            1 => (0usize..3).prop_map(move |p| JournaledDrive { serial: Some(serial(i)), path: path(p) }),
            1 => (0usize..3).prop_map(move |s| JournaledDrive { serial: Some(serial(s)), path: path(i) }),
        ]
    };
    let entry = |pool: &'static str, drives: Vec<usize>| {
        let named: Vec<_> = drives.into_iter().map(named).collect();
        named.prop_map(move |drives| PendingCreate {
            pool: pool.into(),
            drives,
            started_at: "t".into(),
        })
    };
    let quick = prop_oneof![
        4 => entry("quickOS", vec![0, 1]),
        1 => entry("quickOS", vec![0]),
        1 => entry("tank", vec![0, 1]),
        1 => entry("fastData", vec![1]),
    ];
    let fast = prop_oneof![
        3 => entry("fastData", vec![2]),
        1 => entry("quickOS", vec![2]),
    ];
    (
        prop::option::weighted(0.7, quick),
        prop::option::weighted(0.6, fast),
    )
        .prop_map(|(q, f)| q.into_iter().chain(f).collect())
}

/// A pool the layout does not describe, `tank`, as the guest recorded it (OpenZFS 2.3): its data
/// on a drive of its own and a vdev of one class on the 2 TB pair; imported, exported or
/// destroyed.
#[derive(Debug, Clone, Copy)]
struct Foreign {
    recording: &'static str,
    presence: Presence,
}

fn foreign() -> impl Strategy<Value = Option<Foreign>> {
    let recording =
        prop::sample::select(&["special-2tb", "log-2tb", "dedup-2tb", "cache-spare-2tb"][..]);
    let presence = prop_oneof![
        Just(Presence::Imported),
        Just(Presence::Exported),
        Just(Presence::Destroyed)
    ];
    prop::option::weighted(
        0.3,
        (recording, presence).prop_map(|(recording, presence)| Foreign {
            recording,
            presence,
        }),
    )
}

/// The recording's text with the guest's drive names turned into this test's.
fn recorded(recording: &str, file: &str) -> String {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join(format!("tests/fixtures/zfs/openzfs-2.3/{recording}/{file}"));
    let text = std::fs::read_to_string(&path).unwrap();
    // tank's data drive is a fourth drive, which the layout does not take: only the 2 TB pair
    // is at stake, as on the host where wiping them destroyed tank.
    [
        ("S2TA0001", path_of(0)),
        ("S2TA0002", path_of(1)),
        ("S4TB0001", "nvme-Other_Drive_S9_1"),
    ]
    .iter()
    .fold(text, |text, (guest, link)| {
        text.replace(&format!("nvme-QEMU_NVMe_Ctrl_{guest}"), link)
    })
}

fn path_of(i: usize) -> &'static str {
    [
        "nvme-Samsung_SSD_990_EVO_Plus_2TB_S0_1",
        "nvme-Samsung_SSD_990_EVO_Plus_2TB_S1_1",
        "nvme-Samsung_SSD_990_EVO_Plus_4TB_S2_1",
    ][i]
}

/// ZFS's view of the host with `foreign`, read by the real parsers from what zpool printed, its
/// members looked up under `root` as on a host.
fn observed(root: &HostRoot, foreign: Option<Foreign>) -> Observed {
    let mut observed = Observed::default();
    let Some(f) = foreign else {
        return observed;
    };
    match f.presence {
        Presence::Imported => {
            let text = recorded(f.recording, "zpool-status-P-p.stdout");
            let status = crate::formats::zfs::parse_zpool_status(&text).unwrap();
            observed
                .other_pools
                .push(OtherPool::from_status("tank".into(), status.first()));
        }
        Presence::Exported | Presence::Destroyed => {
            let mut text = recorded(f.recording, "zpool-import.stdout");
            if f.presence == Presence::Destroyed {
                text = text.replace(" state: ONLINE\n", " state: ONLINE (DESTROYED)\n");
            }
            let scanned = crate::formats::zfs::parse_zpool_import_scan(&text).unwrap();
            let pools = scanned.into_iter().map(ImportablePool::from_scan);
            if f.presence == Presence::Destroyed {
                observed.destroyed.extend(pools);
            } else {
                observed.importable.extend(pools);
            }
        }
    }
    crate::host::zfs_state::devices::resolve(root, observed.members_mut());
    observed
}

/// The drive an action writes, by by-id path (a partition's `-partN` path names its disk).
fn targets(action: &Action) -> Vec<String> {
    let disk_of = |p: &str| match p.rfind("-part") {
        Some(i) => p[..i].to_string(),
        None => p.to_string(),
    };
    match action {
        Action::WipeDrive { path, .. } | Action::ClearZfsLabels { path, .. } => {
            vec![disk_of(path)]
        }
        Action::CreatePool { devices, .. } => devices.clone(),
        Action::ReplaceMember { new_device, .. } => vec![new_device.clone()],
        _ => Vec::new(),
    }
}

/// The pool an action on a drive serves: its own for create and replace; for a wipe, the pool
/// the plan creates on that drive.
fn action_pool<'a>(action: &'a Action, plan: &'a Plan) -> Option<&'a str> {
    match action {
        Action::CreatePool { pool, .. } | Action::ReplaceMember { pool, .. } => Some(pool),
        _ => {
            let target = targets(action).pop()?;
            plan.actions.iter().find_map(|a| match a {
                Action::CreatePool { pool, devices, .. } if devices.contains(&target) => {
                    Some(pool.as_str())
                }
                _ => None,
            })
        }
    }
}

/// The oracle: whether the model allows writing drive `i` for `pool`.
fn may_write(
    i: usize,
    pool: Option<&str>,
    contents: &[Content; 3],
    foreign: Option<Foreign>,
    wipe: &[usize],
    pending: &[PendingCreate],
) -> bool {
    // Every recording puts one of tank's vdevs on the 2 TB pair.
    if foreign.is_some() && i < 2 {
        return false;
    }
    if contents[i].is_blank() || wipe.contains(&i) {
        return true;
    }
    let Content::CreateRemains { labels } = &contents[i] else {
        return false;
    };
    let Some(pool) = pool else { return false };
    pending.iter().any(|entry| {
        let names = |j: usize| {
            entry
                .drives
                .iter()
                .any(|d| d.serial.as_deref() == Some(serial(j).as_str()) && d.path == path(j))
        };
        let guids: std::collections::BTreeSet<u64> = (0..3)
            .filter(|&j| names(j))
            .filter_map(|j| match &contents[j] {
                Content::CreateRemains {
                    labels: Some((_, guid)),
                } => Some(*guid),
                _ => None,
            })
            .collect();
        entry.pool == pool
            && names(i)
            && labels.is_none_or(|(name, _)| name == pool)
            && guids.len() <= 1
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    #[test]
    fn nothing_is_written_that_the_bytes_and_no_consent_allow(
        contents in (content(0), content(1), content(2)),
        mounted in prop::sample::subsequence(vec![0usize, 1, 2], 0..=1),
        foreign in foreign(),
        pending in journal(),
        wipe in prop::sample::subsequence(vec![0usize, 1, 2], 0..=3),
    ) {
        let contents = [contents.0, contents.1, contents.2];
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("dev")).unwrap();
        let root = HostRoot(dir.path().to_path_buf());
        let disks: Vec<Disk> = (0..3)
            .map(|i| drive(&root, i, &contents[i], mounted.contains(&i)))
            .collect();
        let layout = Layout::default_layout();
        let inventory = Inventory {
            root: dir.path().display().to_string(),
            udev_database: true,
            notes: Vec::new(),
            disks,
            zvols: 0,
            udev_zfs: Default::default(),
        };
        let observed = observed(&root, foreign);
        let consent = Consent { wipe: wipe.iter().map(|&i| serial(i)).collect(), force_import: false };
        let matches = match_drives(&layout, &inventory, &observed.existing_pools());
        let firmware = crate::firmware::judge(&inventory, &layout.firmware.rules);
        let services = HostServices::not_observed();
        let plan = plan(&Facts {
            layout: &layout,
            inventory: &inventory,
            matches: &matches,
            firmware: &firmware,
            observed: &observed,
            consent: &consent,
            pending: &pending,
            services: &services,
            target: &Target::RunningSystem,
        });
        // The default layout takes drives 0 and 1 for quickOS and drive 2 for fastData: the run
        // must go ahead exactly when each of them is free and may be written for its pool.
        let pool_of = |i: usize| if i == 2 { "fastData" } else { "quickOS" };
        let writable = (0..3).all(|i| {
            !mounted.contains(&i)
                && may_write(i, Some(pool_of(i)), &contents, foreign, &wipe, &pending)
        });
        prop_assert_eq!(
            plan.exit_code().is_none(),
            writable,
            "contents {:?}, mounted {:?}, foreign {:?}, wipe {:?}, journal {:?}: blockers {:#?}",
            contents, mounted, foreign, wipe, pending, plan.blockers
        );
        if plan.exit_code().is_some() {
            // A refused plan runs nothing at all.
            return Ok(());
        }
        let creates = plan.actions.iter().filter(|a| matches!(a, Action::CreatePool { .. })).count();
        prop_assert_eq!(creates, 2);
        for action in &plan.actions {
            if let Action::CreatePool { .. } = action {
                prop_assert!(!action.argv().iter().any(|a| a == "-f"), "{action:?}");
            }
            for target in targets(action) {
                let i = (0..3).find(|&i| path(i) == target).expect("a known drive");
                prop_assert!(!mounted.contains(&i), "{action:?} writes a drive in use");
                prop_assert!(
                    may_write(i, action_pool(action, &plan), &contents, foreign, &wipe, &pending),
                    "{action:?} writes drive {i} holding {:?}", contents[i]
                );
            }
        }
    }
}

/// A blank drive's image is all zeros, and one with a single byte anywhere the windows reach is
/// not: the generator and the probe agree on what "blank" means at the edges.
#[test]
fn one_byte_at_either_edge_of_the_windows_is_seen() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("dev")).unwrap();
    let root = HostRoot(dir.path().to_path_buf());
    for (i, offset) in [
        (0usize, 4 * MIB - 1),
        (1, TB2 - 16 * MIB),
        (2, 0),
        (2, TB4 - 1),
    ] {
        let content = Content::Data(vec![Placed {
            offset,
            what: Bytes::Random(vec![7]),
        }]);
        let disk = drive(&root, i, &content, false);
        assert!(
            !crate::contents::findings(&disk).is_empty(),
            "byte at {offset}"
        );
    }
}
