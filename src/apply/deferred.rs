//! What a run leaves for the next boot of the system it provisions: the flag listing the
//! deferred steps (beside the manifest), phoenix-zfs-deferred.service that finishes them, and the
//! binary that unit starts. All of it is written into the target's tree (`files`): `/` on the
//! running host, the installed root under a live system.

use crate::apply::atomic_file::{write_atomically, WriteError};
use crate::host::root::HostRoot;
use crate::plan::Deferred;
use std::io;
use std::path::{Path, PathBuf};

/// Where the binary installs itself; the units start it from here.
pub const INSTALLED_BINARY: &str = "/usr/local/sbin/phoenix-zfs";

pub const DEFERRED_UNIT: &str = "/etc/systemd/system/phoenix-zfs-deferred.service";
const DEFERRED_UNIT_TEXT: &str = include_str!("../../firstboot/phoenix-zfs-deferred.service");
pub const DEFERRED_UNIT_WANTS: &str =
    "/etc/systemd/system/multi-user.target.wants/phoenix-zfs-deferred.service";

/// Why a piece of what is left for the next boot is not in place, with its path.
#[derive(Debug, thiserror::Error)]
pub enum DeferredError {
    #[error(transparent)]
    Write(#[from] WriteError),
    #[error("cannot update {}", path.display())]
    Flag {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("cannot enable {}", path.display())]
    Enable {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("cannot read {}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("cannot make {} executable", path.display())]
    Mode {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
}

/// While a run left work for later, the flag `flag` lists it and phoenix-zfs-deferred.service
/// (and the binary it starts) are installed in `files`; a run with nothing deferred removes the
/// flag. Returns what could not be written, for the caller to report; none of it is fatal.
pub fn record(files: &HostRoot, flag: &Path, deferred: &[Deferred]) -> Vec<DeferredError> {
    let mut problems = Vec::new();
    if !deferred.is_empty() {
        // Whatever ran this (by hand, from a rescue shell or a live system), the next boot
        // finishes the work.
        problems.extend(install_deferred_unit(files).err());
        problems.extend(install_self(files).err());
    }
    let result = if deferred.is_empty() {
        match std::fs::remove_file(flag) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            other => other,
        }
    } else {
        let text: String = deferred
            .iter()
            .map(|d| format!("{}: {}\n", d.subject, d.why))
            .collect();
        write_atomically(flag, text.as_bytes()).map_err(|e| e.source)
    };
    if let Err(source) = result {
        problems.push(DeferredError::Flag {
            path: flag.to_path_buf(),
            source,
        });
    }
    problems
}

/// Installs and enables phoenix-zfs-deferred.service in `files`, as `systemctl enable` would
/// (the link's target is the unit's path inside that system).
pub fn install_deferred_unit(files: &HostRoot) -> Result<(), DeferredError> {
    let unit = files.path(DEFERRED_UNIT);
    write_atomically(&unit, DEFERRED_UNIT_TEXT.as_bytes())?;
    let wants = files.path(DEFERRED_UNIT_WANTS);
    if wants.symlink_metadata().is_ok() {
        return Ok(());
    }
    wants
        .parent()
        .map_or(Ok(()), std::fs::create_dir_all)
        .and_then(|()| std::os::unix::fs::symlink(DEFERRED_UNIT, &wants))
        .map_err(|source| DeferredError::Enable { path: unit, source })
}

/// Copies the running binary to /usr/local/sbin of `files` for rescue reruns and the deferred
/// unit, unless that is the running binary or already the same program.
pub fn install_self(files: &HostRoot) -> Result<(), DeferredError> {
    let unreadable = |path: &Path| {
        let path = path.to_path_buf();
        |source| DeferredError::Read { path, source }
    };
    let exe = Path::new("/proc/self/exe");
    let me = std::fs::read_link(exe).map_err(unreadable(exe))?;
    let target = files.path(INSTALLED_BINARY);
    if me == target {
        return Ok(());
    }
    let bytes = std::fs::read(&me).map_err(unreadable(&me))?;
    if std::fs::read(&target).is_ok_and(|installed| installed == bytes) {
        return Ok(());
    }
    write_atomically(&target, &bytes)?;
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&target, std::fs::Permissions::from_mode(0o755)).map_err(|source| {
        DeferredError::Mode {
            path: target,
            source,
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn deferred() -> Vec<Deferred> {
        vec![Deferred {
            subject: "storage quickOS-vm-disks".into(),
            why: "a live system".into(),
        }]
    }

    #[test]
    fn deferred_work_is_recorded_and_its_unit_enabled_inside_the_target_tree() {
        let dir = tempfile::tempdir().unwrap();
        let files = HostRoot(dir.path().to_path_buf());
        let flag = files.path("/var/lib/phoenix-zfs/deferred");
        let problems = record(&files, &flag, &deferred());
        assert!(problems.is_empty(), "{problems:?}");
        assert_eq!(
            std::fs::read_to_string(&flag).unwrap(),
            "storage quickOS-vm-disks: a live system\n"
        );
        assert_eq!(
            std::fs::read_to_string(files.path(DEFERRED_UNIT)).unwrap(),
            DEFERRED_UNIT_TEXT
        );
        // Enabled as systemctl would: the link names the unit as the target system sees it.
        assert_eq!(
            std::fs::read_link(files.path(DEFERRED_UNIT_WANTS)).unwrap(),
            Path::new(DEFERRED_UNIT)
        );
        assert!(files.path(INSTALLED_BINARY).is_file());
        // Nothing deferred any more: the flag goes, the unit stays (its condition is the flag).
        assert!(record(&files, &flag, &[]).is_empty());
        assert!(!flag.exists());
        assert!(files.path(DEFERRED_UNIT).exists());
    }
}
