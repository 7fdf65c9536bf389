//! The signature probe against devices made by real tools (tests/fixtures/signatures/README.md).
//! Every NAME.toml there is checked, so a fixture dropped into the folder is tested without code.

use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};

use crate::fixtures;
use flate2::read::GzDecoder;
use phoenix_zfs::formats::ondisk::{probe, Signature, SignatureKind, PROBE_WINDOW};
use serde::Deserialize;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Fixture {
    size: u64,
    logical_block_size: u32,
    made_by: String,
    expect: Vec<Expected>,
}

#[derive(Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
struct Expected {
    kind: SignatureKind,
    offset: u64,
    label: Option<String>,
    uuid: Option<String>,
}

impl From<&Signature> for Expected {
    fn from(signature: &Signature) -> Self {
        Expected {
            kind: signature.kind,
            offset: signature.offset,
            label: signature.label.clone(),
            uuid: signature.uuid.clone(),
        }
    }
}

fn fixture_dir() -> PathBuf {
    fixtures::path("signatures")
}

fn gunzip(path: &Path) -> Result<Vec<u8>, String> {
    let file = fs::File::open(path).map_err(|error| format!("{}: {error}", path.display()))?;
    let mut bytes = Vec::new();
    GzDecoder::new(file)
        .read_to_end(&mut bytes)
        .map_err(|error| format!("{}: not gzip: {error}", path.display()))?;
    Ok(bytes)
}

struct Loaded {
    fixture: Fixture,
    head: Vec<u8>,
    tail: Vec<u8>,
}

fn load(name: &str) -> Result<Loaded, String> {
    let dir = fixture_dir();
    let toml_path = dir.join(format!("{name}.toml"));
    let text = fs::read_to_string(&toml_path)
        .map_err(|error| format!("{}: {error}", toml_path.display()))?;
    let fixture: Fixture =
        toml::from_str(&text).map_err(|error| format!("{}: {error}", toml_path.display()))?;
    if !fixture.made_by.starts_with("host: ") && !fixture.made_by.starts_with("qemu guest: ") {
        return Err(format!(
            "{}: made_by must start with \"host: \" or \"qemu guest: \"",
            toml_path.display()
        ));
    }
    let head = gunzip(&dir.join(format!("{name}.head.gz")))?;
    let tail = gunzip(&dir.join(format!("{name}.tail.gz")))?;
    let window = PROBE_WINDOW.min(fixture.size);
    for (part, bytes) in [("head", &head), ("tail", &tail)] {
        if bytes.len() as u64 != window {
            return Err(format!(
                "{name}.{part}.gz holds {} bytes, expected min(1 MiB, size) = {window}",
                bytes.len()
            ));
        }
    }
    Ok(Loaded {
        fixture,
        head,
        tail,
    })
}

fn fixture_names() -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(fixture_dir())
        .expect("tests/fixtures/signatures is readable")
        .filter_map(|entry| {
            let path = entry.ok()?.path();
            (path.extension()? == "toml").then(|| path.file_stem()?.to_str().map(str::to_owned))?
        })
        .collect();
    names.sort();
    names
}

fn run(loaded: &Loaded) -> Vec<Signature> {
    probe(
        &loaded.head,
        &loaded.tail,
        loaded.fixture.size,
        loaded.fixture.logical_block_size,
    )
}

#[test]
fn every_fixture_gives_exactly_its_expected_signatures() {
    let names = fixture_names();
    assert!(
        names.len() >= 18,
        "expected the recorded fixtures, found only {names:?}"
    );
    let mut failures = Vec::new();
    for name in &names {
        let loaded = match load(name) {
            Ok(loaded) => loaded,
            Err(error) => {
                failures.push(error);
                continue;
            }
        };
        let found = run(&loaded);
        let got: Vec<Expected> = found.iter().map(Expected::from).collect();
        if got != loaded.fixture.expect {
            failures.push(format!(
                "{name}: expected {:#?}\nbut probe() found {found:#?}",
                loaded.fixture.expect
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

fn detail_of(name: &str, kind: SignatureKind) -> String {
    let loaded = load(name).unwrap_or_else(|error| panic!("{error}"));
    run(&loaded)
        .into_iter()
        .find(|signature| signature.kind == kind)
        .and_then(|signature| signature.detail)
        .unwrap_or_else(|| panic!("{name}: no {kind:?} signature with a detail"))
}

#[test]
fn ext_flavours_are_told_apart_like_blkid() {
    assert!(detail_of("ext2", SignatureKind::Ext).starts_with("ext2 file system"));
    assert!(detail_of("ext3", SignatureKind::Ext).starts_with("ext3 file system"));
    assert!(detail_of("ext4", SignatureKind::Ext).starts_with("ext4 file system"));
    let ext4_4k = detail_of("ext4-4k-blocks", SignatureKind::Ext);
    assert!(
        ext4_4k.contains("524288 blocks of 4096 bytes (2 GiB)"),
        "{ext4_4k}"
    );
}

#[test]
fn zfs_whole_disk_layout_is_called_out() {
    let detail = detail_of("gpt-zfs-layout", SignatureKind::Gpt);
    assert!(
        detail.contains("GPT partition 1: Solaris /usr & Apple ZFS, name zfs-3c2e4c5d6a7b8c9d"),
        "{detail}"
    );
    assert!(
        detail.contains("GPT partition 9: Solaris reserved 1"),
        "{detail}"
    );
    assert!(detail.contains("whole-disk ZFS vdev layout"), "{detail}");
}

#[test]
fn gpt_details_name_partitions_and_damage() {
    let detail = detail_of("gpt", SignatureKind::Gpt);
    for expected in [
        "GPT partition 1: EFI System, name esp, LBA 2048-206847 (100 MiB)",
        "GPT partition 4: Linux LVM, name lvm",
        "GPT partition 5: Linux RAID, name raid",
        "backup header at LBA 2097151 is valid",
    ] {
        assert!(detail.contains(expected), "{expected:?} not in {detail}");
    }
    let backup = detail_of("gpt-backup-only", SignatureKind::GptBackup);
    assert!(
        backup.contains("backup header only: no primary header at LBA 1"),
        "{backup}"
    );
    let four_k = detail_of("gpt-4kn", SignatureKind::Gpt);
    assert!(
        four_k.contains("GPT partition 1: Linux filesystem, name data4k, LBA 256-65791 (256 MiB)"),
        "{four_k}"
    );
}

#[test]
fn lvm_detail_names_the_volume_group() {
    let detail = detail_of("lvm2", SignatureKind::Lvm2);
    assert!(detail.ends_with("volume group phxvg"), "{detail}");
}

#[test]
fn mbr_detail_lists_partitions() {
    let detail = detail_of("mbr", SignatureKind::Mbr);
    assert!(
        detail.contains("MBR partition 1: Linux (0x83), bootable, sector 2048 + 204800 (100 MiB)"),
        "{detail}"
    );
    assert!(
        detail.contains("MBR partition 4: Extended (0x05)"),
        "{detail}"
    );
}

#[test]
fn truncated_windows_never_panic() {
    for name in fixture_names() {
        let loaded = load(&name).unwrap_or_else(|error| panic!("{error}"));
        for cut in [0, 1, 511, 512, 4095, 65_600, 200_000] {
            let head = loaded.head.get(..cut).unwrap_or(&loaded.head);
            let tail = loaded
                .tail
                .get(loaded.tail.len().saturating_sub(cut)..)
                .unwrap_or(&[]);
            for size in [0, cut as u64, loaded.fixture.size, u64::MAX] {
                let _ = probe(head, tail, size, loaded.fixture.logical_block_size);
            }
        }
    }
}

#[test]
fn zfs_labels_written_by_openzfs_are_decoded() {
    let detail = detail_of("zfs-raw-vdev", SignatureKind::ZfsLabel);
    assert!(
        detail.starts_with(
            "ZFS label L0; ZFS pool phxztest guid 18206229406921710657 state ACTIVE txg 4 \
             vdev guid 17891344244398471743 last host vm version 5000; "
        ),
        "{detail}"
    );
    assert!(detail.contains("uberblocks, newest txg"), "{detail}");
}
