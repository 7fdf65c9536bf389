//! `phoenix-zfs debug snapshot-host DIR`: copies exactly what the inventory reads into DIR, with
//! sysfs's symlinks kept, so that `--root DIR` later sees the same host. This is how fixture hosts
//! are recorded (in the QEMU guest) and what an administrator attaches to a bug report.

use super::sysfs;
use crate::host::root::HostRoot;
use crate::model::disk::Transport;
use std::fs;
use std::io;
use std::os::unix::fs::symlink;
use std::path::{Component, Path, PathBuf};

/// Lexically resolves `..` and `.` (sysfs link targets are relative and free of further links
/// in the parts that matter here).
fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::ParentDir => {
                out.pop();
            }
            Component::CurDir => {}
            Component::RootDir | Component::Prefix(_) => out = PathBuf::new(),
            Component::Normal(n) => out.push(n),
        }
    }
    out
}

/// Recreates `rel` (relative to the roots) under `dst`: every symlink met on the way is recreated
/// with its target, directories are created, and a regular file at the end is copied.
fn replicate(src: &Path, dst: &Path, rel: &Path) -> io::Result<()> {
    let mut cur = PathBuf::new();
    let components: Vec<Component> = rel.components().collect();
    for (i, comp) in components.iter().enumerate() {
        cur.push(comp);
        let from = src.join(&cur);
        let meta = fs::symlink_metadata(&from)?;
        let to = dst.join(&cur);
        if meta.file_type().is_symlink() {
            let target = fs::read_link(&from)?;
            if fs::symlink_metadata(&to).is_err() {
                if let Some(parent) = to.parent() {
                    fs::create_dir_all(parent)?;
                }
                symlink(&target, &to)?;
            }
            cur = normalize(&cur.parent().unwrap_or(Path::new("")).join(&target));
        } else if meta.is_dir() {
            fs::create_dir_all(&to)?;
        } else if i + 1 == components.len() {
            if let Some(parent) = to.parent() {
                fs::create_dir_all(parent)?;
            }
            // sysfs files report size 4096 whatever they hold: read, don't copy by length.
            fs::write(&to, fs::read(&from)?)?;
        }
    }
    Ok(())
}

/// Copies what is there; sysfs attributes that a device lacks are simply not copied.
fn try_replicate(src: &Path, dst: &Path, rel: impl AsRef<Path>) {
    let _ = replicate(src, dst, rel.as_ref());
}

/// What kept the copy from being whole, with the path read or written.
#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    #[error("cannot read {}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("cannot write {}", path.display())]
    Write {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
}

fn reading(path: &Path) -> impl FnOnce(io::Error) -> SnapshotError {
    let path = path.to_path_buf();
    |source| SnapshotError::Read { path, source }
}

/// Writes `bytes` to `path`, creating its directory.
fn write(path: &Path, bytes: &[u8]) -> Result<(), SnapshotError> {
    path.parent()
        .map_or(Ok(()), fs::create_dir_all)
        .and_then(|()| fs::write(path, bytes))
        .map_err(|source| SnapshotError::Write {
            path: path.to_path_buf(),
            source,
        })
}

/// Writes the bytes read of a device as a capture (see [`super::capture`]).
fn write_capture(
    path: &Path,
    bytes: &crate::formats::ondisk::ReadBytes,
) -> Result<(), SnapshotError> {
    let (data, index) = super::capture::encode(bytes);
    write(path, &data)?;
    let mut index_path = path.as_os_str().to_owned();
    index_path.push(super::capture::INDEX_SUFFIX);
    write(Path::new(&index_path), index.as_bytes())
}

/// Copies what the inventory reads of the host at `root` into `out`; the number of block devices.
pub fn snapshot(root: &HostRoot, out: &Path) -> Result<usize, SnapshotError> {
    let src = root.0.as_path();
    // Before anything is read: a DIR that cannot be made is said at once.
    fs::create_dir_all(out).map_err(|source| SnapshotError::Write {
        path: out.to_path_buf(),
        source,
    })?;
    let inventory = super::read(root);
    let (entries, _zvols) = sysfs::scan(&root.path("sys"));
    const ATTRS: &[&str] = &[
        "dev",
        "size",
        "removable",
        "ro",
        "queue/logical_block_size",
        "queue/physical_block_size",
        "nsid",
        "wwid",
        "eui",
        "nguid",
        "dm/name",
        "dm/uuid",
        "loop/backing_file",
        "device/model",
        "device/rev",
    ];
    // bcache's own directory on a device it claimed, its links to the bcacheN device and the
    // cache set, and a backing device's state (which keeps the directory of one that waits for
    // its cache from being empty, as git would drop it from a fixture).
    const BCACHE: &[&str] = &[
        "bcache",
        "bcache/dev",
        "bcache/set",
        "bcache/state",
        "bcache/running",
    ];
    for e in &entries {
        let base = PathBuf::from("sys/block").join(&e.name);
        for a in ATTRS.iter().chain(BCACHE) {
            try_replicate(src, out, base.join(a));
        }
        for dir in ["holders", "slaves"] {
            try_replicate(src, out, base.join(dir));
            for name in fs::read_dir(src.join(&base).join(dir))
                .into_iter()
                .flatten()
                .flatten()
            {
                try_replicate(src, out, base.join(dir).join(name.file_name()));
            }
        }
        for p in &e.partitions {
            for a in ["partition", "dev", "size", "start", "holders"]
                .iter()
                .chain(BCACHE)
            {
                try_replicate(src, out, base.join(&p.name).join(a));
            }
            for name in fs::read_dir(src.join(&base).join(&p.name).join("holders"))
                .into_iter()
                .flatten()
                .flatten()
            {
                try_replicate(
                    src,
                    out,
                    base.join(&p.name).join("holders").join(name.file_name()),
                );
            }
        }
        if e.nvme.is_some() {
            for a in ["model", "serial", "firmware_rev"] {
                try_replicate(src, out, base.join("..").join(a));
            }
            let parent = base.join("..");
            let real_parent = fs::canonicalize(src.join(&parent)).unwrap_or_default();
            for c in fs::read_dir(&real_parent).into_iter().flatten().flatten() {
                let name = c.file_name().to_string_lossy().into_owned();
                if name
                    .strip_prefix("nvme")
                    .is_some_and(|n| !n.is_empty() && n.chars().all(|c| c.is_ascii_digit()))
                {
                    for a in ["model", "serial", "firmware_rev", "address", "transport"] {
                        try_replicate(src, out, parent.join(&name).join(a));
                    }
                }
            }
        }
        let devs = std::iter::once(e.dev.clone()).chain(e.partitions.iter().map(|p| p.dev.clone()));
        for dev in devs.flatten() {
            try_replicate(src, out, format!("run/udev/data/b{dev}"));
        }
    }
    for link in fs::read_dir(src.join("dev/disk/by-id"))
        .into_iter()
        .flatten()
        .flatten()
    {
        try_replicate(
            src,
            out,
            PathBuf::from("dev/disk/by-id").join(link.file_name()),
        );
    }
    let mounts = src.join("proc/mounts");
    let mounts = fs::read(src.join("proc/self/mounts"))
        .or_else(|_| fs::read(&mounts))
        .map_err(reading(&mounts))?;
    write(&out.join("proc/mounts"), &mounts)?;
    if let Ok(swaps) = fs::read(src.join("proc/swaps")) {
        write(&out.join("proc/swaps"), &swaps)?;
    }
    copy_mount_namespaces(root, out)?;
    for d in inventory
        .disks
        .iter()
        .filter(|d| d.transport == Transport::Nvme)
    {
        // Every window the probe reads of the disk and of each partition any table describes,
        // with an index saying where each lies on the disk.
        let mut disk = d.clone();
        let node = root.path(&d.dev_node);
        let bytes = super::read_disk(root, &mut disk).map_err(reading(&node))?;
        write_capture(&out.join("dev").join(&d.name), &bytes)?;
        // A partition of a capture by an older version has no start: its own windows instead.
        for p in disk
            .partitions
            .iter()
            .filter(|p| p.start_bytes.is_none() && p.has_node())
        {
            let node = root.path(&format!("/dev/{}", p.name));
            let bytes = super::read_own_node(root, p).map_err(reading(&node))?;
            write_capture(&out.join("dev").join(&p.name), &bytes)?;
        }
    }
    Ok(entries.len())
}

/// The mount table of phoenix-zfs's own namespace (proc/self/mountinfo) and of one process in
/// each other namespace (proc/PID/mountinfo, comm), each with its ns/mnt link, which is how the
/// reader tells the namespaces apart. A process that ends meanwhile is left out; one that stands
/// for a namespace is the first of it still there.
fn copy_mount_namespaces(root: &HostRoot, out: &Path) -> Result<(), SnapshotError> {
    let own = root.path("proc/self");
    let Ok(mountinfo) = fs::read(own.join("mountinfo")) else {
        return Ok(());
    };
    write(&out.join("proc/self/mountinfo"), &mountinfo)?;
    let Ok(own_namespace) = super::in_use::namespace_of(&own) else {
        return Ok(());
    };
    let link = |target: &Path, at: PathBuf| -> Result<(), SnapshotError> {
        let made = at
            .parent()
            .map_or(Ok(()), fs::create_dir_all)
            .and_then(|()| symlink(target, &at));
        made.map_err(|source| SnapshotError::Write { path: at, source })
    };
    link(&own_namespace, out.join("proc/self/ns/mnt"))?;
    let (others, _denied) = super::in_use::other_namespaces(root, &own_namespace);
    for (namespace, pids) in others {
        for pid in pids {
            let dir = root.path(&format!("proc/{pid}"));
            let Ok(mountinfo) = fs::read(dir.join("mountinfo")) else {
                continue;
            };
            let copy = out.join(format!("proc/{pid}"));
            write(&copy.join("mountinfo"), &mountinfo)?;
            write(
                &copy.join("comm"),
                &fs::read(dir.join("comm")).unwrap_or_default(),
            )?;
            link(&namespace, copy.join("ns/mnt"))?;
            break;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Also the hosts whose drives are in use in every way the inventory reads: mount
    /// namespaces, loop devices, device-mapper and md stacks, bcache.
    #[test]
    fn a_snapshot_of_a_fixture_host_reads_the_same() {
        for host in ["realistic", "in-use-holders", "in-use-loop-namespace"] {
            let fixture = HostRoot(
                PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                    .join("tests/fixtures/hosts")
                    .join(host),
            );
            let dir = tempfile::tempdir().unwrap();
            snapshot(&fixture, dir.path()).unwrap();
            let original = super::super::read(&fixture);
            let copy = super::super::read(&HostRoot(dir.path().to_path_buf()));
            assert_eq!(copy.notes, original.notes, "{host}");
            let (original, copy) = (
                serde_json::to_value(original.disks).unwrap(),
                serde_json::to_value(copy.disks).unwrap(),
            );
            assert_eq!(original, copy, "{host}");
            assert!(
                host == "realistic" || original.to_string().contains("\"in-use\""),
                "{host}: nothing in use"
            );
        }
    }

    #[test]
    fn normalize_resolves_parents() {
        assert_eq!(
            normalize(Path::new("sys/block/../devices/virtual/x")),
            Path::new("sys/devices/virtual/x")
        );
    }
}
