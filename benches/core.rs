//! The pure core at scale, on generated inputs: parsing `zfs get -H -p` output, reading the
//! inventory of a host with many NVMe namespaces through `--root`, and planning a large layout
//! against a large observed state. Each group runs a small and a 10x (8x for namespaces) input so
//! that `cargo xtask bench` can check from criterion's estimates that the cost grows linearly.
//!
//! Group and parameter names are read by xtask/src/bench/mod.rs: change them together.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use phoenix_zfs::firmware;
use phoenix_zfs::formats::zfs;
use phoenix_zfs::formats::zfs::{VdevClass, VdevKind};
use phoenix_zfs::host::inventory;
use phoenix_zfs::host::root::HostRoot;
use phoenix_zfs::layout::Layout;
use phoenix_zfs::matching;
use phoenix_zfs::model::pools::{
    DataVdev, DatasetKind, Observed, ObservedDataset, ObservedPool, ObservedValue, PoolMember,
};
use phoenix_zfs::plan::{self, Facts};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::fs;
use std::hint::black_box;
use std::os::unix::fs::symlink;
use std::path::Path;
use std::time::Duration;

/// The eight properties a `zfs get` of the default layout asks for, with `-p` values and sources
/// in the proportions a real host shows (local on the layout's datasets, inherited below).
const PROPS: [(&str, &str); 8] = [
    ("type", "filesystem"),
    ("guid", "13862329856254163532"),
    ("recordsize", "131072"),
    ("compression", "lz4"),
    ("sync", "standard"),
    ("quota", "858993459200"),
    ("atime", "off"),
    ("acltype", "posix"),
];

fn zfs_get_output(datasets: usize) -> String {
    let mut out = String::with_capacity(datasets * PROPS.len() * 64);
    for i in 0..datasets {
        let pool = if i % 2 == 0 { "quickOS" } else { "fastData" };
        let name = format!("{pool}/vm-disks/vm-{}-disk-{}", 100 + i / 4, i % 4);
        for (n, (prop, value)) in PROPS.iter().enumerate() {
            let source = match n % 4 {
                0 => "-".to_string(),
                1 => "local".to_string(),
                2 => "default".to_string(),
                _ => format!("inherited from {pool}"),
            };
            let _ = writeln!(out, "{name}\t{prop}\t{value}\t{source}");
        }
    }
    out
}

fn parse_zfs_get(c: &mut Criterion) {
    let mut group = c.benchmark_group("parse_zfs_get");
    for datasets in [1_000usize, 10_000] {
        let output = zfs_get_output(datasets);
        let lines = datasets * PROPS.len();
        group.throughput(Throughput::Elements(lines as u64));
        group.bench_with_input(BenchmarkId::from_parameter(lines), &output, |b, output| {
            b.iter(|| {
                // What observe reads a `zfs get` with: borrowed lines, sources checked.
                let rows: Vec<zfs::PropertyLine> = zfs::property_lines(black_box(output))
                    .collect::<Result<_, _>>()
                    .expect("parses");
                assert_eq!(rows.len(), lines);
                rows
            })
        });
    }
    group.finish();
}

/// One emulated NVMe drive of a generated host.
struct FakeNvme {
    model: String,
    serial: String,
    size_bytes: u64,
}

fn write(path: &Path, text: &str) {
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent).expect("mkdir");
    }
    fs::write(path, text).expect("write");
}

/// A host root in the shapes of tests/fixtures/hosts/qemu-recorded (Linux 6.12 with NVMe
/// multipath, systemd 252): per drive a PCI controller, its nvme-subsystem with the namespace,
/// the udev database record and the by-id links; the loop devices and virtio disks the guest
/// also has; /proc/mounts with the root on vda; and the device node as the two probe windows.
fn fake_host(root: &Path, drives: &[FakeNvme]) {
    let sys = root.join("sys");
    let udev = root.join("run/udev/data");
    let by_id = root.join("dev/disk/by-id");
    fs::create_dir_all(sys.join("block")).expect("mkdir");
    fs::create_dir_all(&udev).expect("mkdir");
    fs::create_dir_all(&by_id).expect("mkdir");
    write(
        &root.join("proc/mounts"),
        "sysfs /sys sysfs rw,nosuid,nodev,noexec,relatime 0 0\n\
         proc /proc proc rw,nosuid,nodev,noexec,relatime 0 0\n\
         /dev/vda / ext4 rw,noatime,errors=remount-ro 0 0\n\
         tmpfs /run tmpfs rw,nosuid,nodev,noexec,relatime,size=201904k,mode=755,inode64 0 0\n",
    );
    for loop_n in 0..8 {
        let dir = sys.join(format!("devices/virtual/block/loop{loop_n}"));
        write(&dir.join("dev"), &format!("7:{loop_n}\n"));
        write(&dir.join("size"), "0\n");
        write(&dir.join("ro"), "0\n");
        write(&dir.join("removable"), "0\n");
        write(&dir.join("queue/logical_block_size"), "512\n");
        write(&dir.join("queue/physical_block_size"), "512\n");
        symlink(
            format!("../devices/virtual/block/loop{loop_n}"),
            sys.join(format!("block/loop{loop_n}")),
        )
        .expect("symlink");
        write(
            &udev.join(format!("b7:{loop_n}")),
            "I:1000\nG:systemd\nQ:systemd\nV:1\n",
        );
    }
    for (v, serial) in ["phx-root", "phx-input", "phx-results"].iter().enumerate() {
        let name = format!("vd{}", (b'a' + v as u8) as char);
        let pci = format!("0000:00:{:02x}.0", 0x10 + v);
        let rel = format!("devices/pci0000:00/{pci}/virtio{v}/block/{name}");
        let dir = sys.join(&rel);
        write(&dir.join("dev"), &format!("254:{}\n", v * 16));
        write(&dir.join("size"), "6291456\n");
        write(&dir.join("ro"), "0\n");
        write(&dir.join("removable"), "0\n");
        write(&dir.join("queue/logical_block_size"), "512\n");
        write(&dir.join("queue/physical_block_size"), "512\n");
        symlink(format!("../{rel}"), sys.join(format!("block/{name}"))).expect("symlink");
        write(
            &udev.join(format!("b254:{}", v * 16)),
            &format!(
                "S:disk/by-id/virtio-{serial}\nS:disk/by-path/pci-{pci}\nE:ID_SERIAL={serial}\n\
                 E:ID_PATH=pci-{pci}\nG:systemd\nQ:systemd\nV:1\n"
            ),
        );
        symlink(
            format!("../../{name}"),
            by_id.join(format!("virtio-{serial}")),
        )
        .expect("symlink");
    }
    for (n, drive) in drives.iter().enumerate() {
        let pci = format!("0000:{:02x}:{:02x}.0", 1 + n / 32, n % 32);
        let ctrl = sys.join(format!("devices/pci0000:00/{pci}/nvme/nvme{n}"));
        write(&ctrl.join("model"), &format!("{:<40}\n", "QEMU NVMe Ctrl"));
        write(&ctrl.join("serial"), &format!("{:<20}\n", drive.serial));
        write(&ctrl.join("firmware_rev"), "10.0.2  \n");
        write(&ctrl.join("address"), &format!("{pci}\n"));
        write(&ctrl.join("transport"), "pcie\n");
        let subsys = sys.join(format!("devices/virtual/nvme-subsystem/nvme-subsys{n}"));
        write(
            &subsys.join("model"),
            &format!("{:<40}\n", "QEMU NVMe Ctrl"),
        );
        write(&subsys.join("serial"), &format!("{:<20}\n", drive.serial));
        write(&subsys.join("firmware_rev"), "10.0.2  \n");
        symlink(
            format!("../../../pci0000:00/{pci}/nvme/nvme{n}"),
            subsys.join(format!("nvme{n}")),
        )
        .expect("symlink");
        let name = format!("nvme{n}n1");
        let ns = subsys.join(&name);
        let dev = format!("259:{n}");
        let wwid = format!("eui.002538b1{n:08x}");
        write(&ns.join("dev"), &format!("{dev}\n"));
        write(&ns.join("size"), &format!("{}\n", drive.size_bytes / 512));
        write(&ns.join("nsid"), "1\n");
        write(&ns.join("wwid"), &format!("{wwid}\n"));
        write(&ns.join("ro"), "0\n");
        write(&ns.join("removable"), "0\n");
        write(&ns.join("queue/logical_block_size"), "512\n");
        write(&ns.join("queue/physical_block_size"), "512\n");
        symlink(format!("../../nvme-subsys{n}"), ns.join("device")).expect("symlink");
        symlink(
            format!("../devices/virtual/nvme-subsystem/nvme-subsys{n}/{name}"),
            sys.join(format!("block/{name}")),
        )
        .expect("symlink");
        let id = format!("{}_{}", drive.model.replace(' ', "_"), drive.serial);
        let links = [
            format!("nvme-{id}_1"),
            format!("nvme-{id}"),
            format!("nvme-{wwid}"),
        ];
        let mut record = String::new();
        for link in &links {
            let _ = writeln!(record, "S:disk/by-id/{link}");
            symlink(format!("../../{name}"), by_id.join(link)).expect("symlink");
        }
        let _ = write!(
            record,
            "S:disk/by-path/pci-{pci}-nvme-1\nI:7538859\nE:ID_SERIAL_SHORT={serial}\n\
             E:ID_WWN={wwid}\nE:ID_MODEL={model}\nE:ID_REVISION=10.0.2\nE:ID_NSID=1\n\
             E:ID_SERIAL={id}_1\nE:ID_PATH=pci-{pci}-nvme-1\nG:systemd\nQ:systemd\nV:1\n",
            serial = drive.serial,
            model = drive.model,
        );
        write(&udev.join(format!("b{dev}")), &record);
        // What `debug snapshot-host` records of a drive: its first and last MiB, here blank.
        let node = fs::File::create(root.join(format!("dev/{name}"))).expect("create");
        node.set_len(2 << 20).expect("size");
    }
}

fn drives(count: usize) -> Vec<FakeNvme> {
    (0..count)
        .map(|n| {
            let (model, size) = if n % 3 == 2 {
                ("Samsung SSD 990 EVO Plus 4TB", 4_000_787_030_016)
            } else {
                ("Samsung SSD 990 EVO Plus 2TB", 2_000_398_934_016)
            };
            FakeNvme {
                model: model.to_string(),
                serial: format!("S{}T{:06}", if size > 3_000_000_000_000 { 4 } else { 2 }, n),
                size_bytes: size,
            }
        })
        .collect()
}

fn inventory_read(c: &mut Criterion) {
    let mut group = c.benchmark_group("inventory_nvme");
    for namespaces in [4usize, 32] {
        let dir = tempfile::tempdir().expect("tempdir");
        fake_host(dir.path(), &drives(namespaces));
        let root = HostRoot(dir.path().to_path_buf());
        group.throughput(Throughput::Elements(namespaces as u64));
        group.bench_with_input(BenchmarkId::from_parameter(namespaces), &root, |b, root| {
            b.iter(|| {
                // What assess does for every command: read, then probe the candidates.
                let mut inv = inventory::read(black_box(root));
                inventory::probe_candidates(root, &mut inv);
                assert_eq!(
                    inv.disks.iter().filter(|d| d.is_candidate()).count(),
                    namespaces
                );
                inv
            })
        });
    }
    group.finish();
}

const POOLS: &str = r#"version = 1

[[pool]]
name = "quickOS"
vdev = "mirror"
drives = 2
size_class = "2TB"
models = ["Samsung SSD 990 EVO Plus 2TB"]
[pool.properties]
ashift = "12"
autotrim = "on"
[pool.filesystem_properties]
compression = "lz4"
atime = "off"

[[pool]]
name = "fastData"
vdev = "single"
drives = 1
size_class = "4TB"
models = ["Samsung SSD 990 EVO Plus 4TB"]
[pool.properties]
ashift = "12"
autotrim = "on"
[pool.filesystem_properties]
compression = "lz4"
atime = "off"
"#;

fn dataset_name(i: usize) -> String {
    let pool = if i % 2 == 0 { "quickOS" } else { "fastData" };
    format!("{pool}/ds-{i:05}")
}

/// A layout of `n` datasets over the two default pools.
fn big_layout(n: usize) -> Layout {
    let mut text = String::from(POOLS);
    for i in 0..n {
        let _ = write!(
            text,
            "\n[[dataset]]\nname = \"{}\"\nserves = \"files\"\n\
             properties = {{ recordsize = \"128K\", compression = \"lz4\", sync = \"standard\", quota = \"1G\" }}\n",
            dataset_name(i)
        );
    }
    Layout::parse(&text, "<generated>").expect("the generated layout is valid")
}

/// `n` observed datasets: 90% of the layout's (one in ten with a quota that differs), the rest
/// datasets the layout does not know (Proxmox's zvols); the layout's last tenth is missing.
fn big_observed(n: usize, drive_paths: &[(String, Vec<String>)]) -> Observed {
    let value = |v: &str, local: bool| ObservedValue {
        value: v.to_string(),
        local,
    };
    let datasets = (0..n)
        .map(|i| {
            let known = i < n * 9 / 10;
            let name = if known {
                dataset_name(i)
            } else {
                format!("quickOS/ds-00000/vm-{i}-disk-0")
            };
            let quota = if i % 10 == 3 {
                "2147483648"
            } else {
                "1073741824"
            };
            ObservedDataset {
                name,
                kind: if known {
                    DatasetKind::Filesystem
                } else {
                    DatasetKind::Volume
                },
                properties: BTreeMap::from([
                    ("recordsize".to_string(), value("131072", true)),
                    ("compression".to_string(), value("lz4", true)),
                    ("sync".to_string(), value("standard", true)),
                    ("quota".to_string(), value(quota, true)),
                    ("atime".to_string(), value("off", false)),
                ]),
            }
        })
        .chain(["quickOS", "fastData"].map(|pool| ObservedDataset {
            name: pool.to_string(),
            kind: DatasetKind::Filesystem,
            properties: BTreeMap::from([
                ("compression".to_string(), value("lz4", true)),
                ("atime".to_string(), value("off", true)),
            ]),
        }))
        .collect();
    Observed {
        pools: drive_paths
            .iter()
            .map(|(pool, paths)| ObservedPool {
                name: pool.clone(),
                guid: Some(42),
                health: "ONLINE".into(),
                members: paths
                    .iter()
                    .map(|p| PoolMember::new(format!("{p}-part1"), VdevClass::Data))
                    .collect(),
                data_vdevs: vec![match paths.len() {
                    1 => DataVdev::new(VdevKind::Disk, 1),
                    n => DataVdev::new(VdevKind::Mirror, n),
                }],
                properties: BTreeMap::from([
                    ("ashift".to_string(), "12".to_string()),
                    ("autotrim".to_string(), "on".to_string()),
                ]),
                missing: Vec::new(),
                scan: None,
            })
            .collect(),
        datasets,
        other_pools: Vec::new(),
        other_pools_unknown: false,
        importable: Vec::new(),
        destroyed: Vec::new(),
        destroyed_unknown: false,
        import_scan_skipped: None,
    }
}

fn plan_big(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("tempdir");
    fake_host(dir.path(), &drives(3));
    let root = HostRoot(dir.path().to_path_buf());
    let mut inventory = inventory::read(&root);
    inventory::probe_candidates(&root, &mut inventory);
    let path_of = |i: usize| {
        inventory
            .disks
            .iter()
            .find(|d| d.name == format!("nvme{i}n1"))
    };
    let paths = |ids: &[usize]| -> Vec<String> {
        ids.iter()
            .filter_map(|&i| path_of(i).map(|d| d.preferred_path.clone()))
            .collect()
    };
    let pools = vec![
        ("quickOS".to_string(), paths(&[0, 1])),
        ("fastData".to_string(), paths(&[2])),
    ];
    let mut group = c.benchmark_group("plan_datasets");
    for n in [100usize, 1_000] {
        let layout = big_layout(n);
        let observed = big_observed(n, &pools);
        let matches = matching::match_drives(&layout, &inventory, &observed.existing_pools());
        assert!(matches.problems.is_empty(), "{:?}", matches.problems);
        let firmware = firmware::judge(&inventory, &layout.firmware.rules);
        let consent = phoenix_zfs::plan::Consent::default();
        let services = phoenix_zfs::model::services::HostServices::not_observed();
        let facts = Facts {
            layout: &layout,
            inventory: &inventory,
            matches: &matches,
            firmware: &firmware,
            observed: &observed,
            consent: &consent,
            pending: &[],
            services: &services,
            target: &phoenix_zfs::host::target::Target::RunningSystem,
        };
        group.throughput(Throughput::Elements(n as u64));
        group.bench_with_input(BenchmarkId::from_parameter(n), &facts, |b, facts| {
            b.iter(|| {
                let plan = plan::plan(black_box(facts));
                assert!(plan.blockers.is_empty(), "{:?}", plan.blockers);
                // A tenth missing (created), a tenth of the rest with a quota that differs (set).
                assert_eq!(plan.actions.len(), n / 10 + n * 9 / 100);
                plan
            })
        });
    }
    group.finish();
}

fn config() -> Criterion {
    // The build machines are shared and loaded: short runs, enough samples for a stable median.
    Criterion::default()
        .sample_size(30)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(4))
}

criterion_group! {
    name = core;
    config = config();
    targets = parse_zfs_get, inventory_read, plan_big
}
criterion_main!(core);
