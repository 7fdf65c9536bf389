//! Which block device a path names now: the kernel name its /dev symlinks lead to and, for a
//! device node, its device number. Apply compares this with the device the witnesses read right
//! before it writes, so that a drive swapped or renumbered under a by-id link is never written in
//! the place of the one that was proven blank.

use crate::host::root::HostRoot;
use std::path::{Component, Path, PathBuf};

/// A block device as a path resolves to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceIdentity {
    /// The kernel name (`nvme0n1`, `nvme0n1p1`): the last component the links lead to.
    pub name: String,
    /// `MAJOR:MINOR` of the device node; None for a host read with `--root`, whose /dev holds
    /// captures, not nodes.
    pub major_minor: Option<String>,
}

/// Why a path could not be resolved.
#[derive(Debug, thiserror::Error)]
pub enum IdentityError {
    #[error("cannot resolve {path}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot resolve {path}: more than {MAX_HOPS} symbolic links")]
    Loop { path: String },
}

const MAX_HOPS: usize = 16;

/// Follows `path` (absolute, as the host knows it) through its symbolic links, inside `root`,
/// as far as they lead: the path of what is at the end (which may not exist).
pub fn follow_links(root: &HostRoot, path: &str) -> Result<PathBuf, IdentityError> {
    let mut current = lexical(Path::new(path));
    for _ in 0..MAX_HOPS {
        let Ok(target) = std::fs::read_link(root.path(&current.to_string_lossy())) else {
            return Ok(current);
        };
        let parent = current.parent().unwrap_or(Path::new("/")).to_path_buf();
        current = lexical(&parent.join(target));
    }
    Err(IdentityError::Loop {
        path: path.to_string(),
    })
}

/// The device `path` leads to: it must exist.
pub fn resolve(root: &HostRoot, path: &str) -> Result<DeviceIdentity, IdentityError> {
    use std::os::unix::fs::{FileTypeExt, MetadataExt};
    let end = follow_links(root, path)?;
    let metadata = std::fs::metadata(root.path(&end.to_string_lossy())).map_err(|source| {
        IdentityError::Io {
            path: path.to_string(),
            source,
        }
    })?;
    let major_minor = metadata.file_type().is_block_device().then(|| {
        let rdev = metadata.rdev();
        format!(
            "{}:{}",
            nix::sys::stat::major(rdev),
            nix::sys::stat::minor(rdev)
        )
    });
    let name = end
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    Ok(DeviceIdentity { name, major_minor })
}

/// `..` and `.` taken away without looking at the file system (the links under /dev are
/// relative to their own directory).
pub fn lexical(path: &Path) -> PathBuf {
    let mut out = PathBuf::from("/");
    for component in path.components() {
        match component {
            Component::ParentDir => {
                out.pop();
            }
            Component::Normal(name) => out.push(name),
            _ => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    #[test]
    fn by_id_links_lead_to_the_kernel_name_inside_the_root() {
        let dir = tempfile::tempdir().unwrap();
        let root = HostRoot(dir.path().to_path_buf());
        std::fs::create_dir_all(dir.path().join("dev/disk/by-id")).unwrap();
        std::fs::write(dir.path().join("dev/nvme0n1"), b"").unwrap();
        std::fs::write(dir.path().join("dev/nvme0n1p1"), b"").unwrap();
        symlink(
            "../../nvme0n1",
            dir.path().join("dev/disk/by-id/nvme-X_S1_1"),
        )
        .unwrap();
        symlink(
            "../../nvme0n1p1",
            dir.path().join("dev/disk/by-id/nvme-X_S1_1-part1"),
        )
        .unwrap();
        let found = resolve(&root, "/dev/disk/by-id/nvme-X_S1_1").unwrap();
        assert_eq!(
            found,
            DeviceIdentity {
                name: "nvme0n1".into(),
                major_minor: None
            }
        );
        assert_eq!(
            resolve(&root, "/dev/disk/by-id/nvme-X_S1_1-part1")
                .unwrap()
                .name,
            "nvme0n1p1"
        );
        assert!(resolve(&root, "/dev/disk/by-id/nvme-gone").is_err());
        symlink("loop", dir.path().join("dev/disk/by-id/loop")).unwrap();
        assert!(matches!(
            resolve(&root, "/dev/disk/by-id/loop"),
            Err(IdentityError::Loop { .. })
        ));
    }

    #[test]
    fn a_device_node_has_its_number() {
        let root = HostRoot::live();
        let found = resolve(&root, "/dev/null").unwrap();
        assert_eq!(found.name, "null");
        assert_eq!(
            found.major_minor, None,
            "a character device is no block device"
        );
    }
}
