//! The one thing apply writes down before it acts: which pool it is about to create on which
//! drives. `zpool create` partitions the drives before it writes the pool's labels, so a power
//! cut in between leaves drives that hold a GPT but no importable pool: to a rerun they would look
//! like someone's data. The journal lets the rerun recognise them as its own, interrupted work.
//!
//! An entry proves nothing by itself: the plan honours it only for a drive it names by serial
//! and by-id path whose every witness shows nothing but the remains of that very create
//! ([`crate::contents::foreign_to_create`]). Apply removes an entry as soon as it is spent: when
//! the create succeeded, when it failed before writing anything, and when the pool is found
//! imported or importable.

use crate::model::pending::PendingCreate;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

/// Where the provisioned system keeps the journal, under its root (`/`, or DIR for
/// `--target-root DIR`): beside the default manifest, whatever `--manifest` says.
pub const PATH: &str = "/var/lib/phoenix-zfs/pending.json";

/// Why the journal could not be read or written, with its path.
#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    #[error("cannot read the journal {path}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("the journal {path} is ignored, so an interrupted pool creation must be finished with `{}` for each of its drives (`{}` names them); it is not in this version's format", crate::remedy::wipe("SERIAL"), crate::remedy::PLAN)]
    Format {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
    #[error("cannot write the journal {path}")]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

#[derive(Debug)]
pub struct Journal {
    path: PathBuf,
    /// Pools are created side by side (apply's lanes): each update reads and rewrites the whole
    /// file, so two at once would lose one.
    update: Mutex<()>,
}

impl Journal {
    /// The journal of the system whose files are under `files` (the host's root, or the
    /// installed system's root from a live system).
    pub fn of(files: &crate::host::root::HostRoot) -> Journal {
        Journal::at(files.path(PATH))
    }

    pub fn at(path: PathBuf) -> Journal {
        Journal {
            path,
            update: Mutex::new(()),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// What is pending. A missing file is nothing pending; an unreadable one is reported by the
    /// caller and treated as nothing pending, which can only make a rerun more careful.
    pub fn load(&self) -> Result<Vec<PendingCreate>, JournalError> {
        match std::fs::read(&self.path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|source| JournalError::Format {
                path: self.path.clone(),
                source,
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
            Err(source) => Err(JournalError::Read {
                path: self.path.clone(),
                source,
            }),
        }
    }

    /// What is pending, a journal that cannot be read counting as none (logged): for the
    /// read-only commands and for apply, which then honours nothing.
    pub fn load_or_none(&self) -> Vec<PendingCreate> {
        self.load().unwrap_or_else(|e| {
            tracing::warn!(error = %crate::report::Report(&e), "interrupted pool creations will not be recognised");
            Vec::new()
        })
    }

    /// A panicked updater left the file whole (writes are atomic), so its lock is still good.
    fn lock(&self) -> MutexGuard<'_, ()> {
        self.update
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn store(&self, pending: &[PendingCreate]) -> Result<(), JournalError> {
        let write_error = |source| JournalError::Write {
            path: self.path.clone(),
            source,
        };
        if pending.is_empty() {
            return match std::fs::remove_file(&self.path) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(write_error(e)),
                _ => Ok(()),
            };
        }
        let text = serde_json::to_vec_pretty(pending).map_err(|e| write_error(e.into()))?;
        if let Some(dir) = self.path.parent() {
            std::fs::create_dir_all(dir).map_err(write_error)?;
        }
        crate::apply::atomic_file::write_atomically(&self.path, &text)
            .map_err(|e| write_error(e.source))
    }

    pub fn begin(&self, entry: PendingCreate) -> Result<(), JournalError> {
        let _update = self.lock();
        let mut pending = self.load().unwrap_or_default();
        pending.retain(|p| p.pool != entry.pool);
        pending.push(entry);
        self.store(&pending)
    }

    /// Removes the entry of `pool`, if any.
    pub fn finish(&self, pool: &str) -> Result<(), JournalError> {
        let _update = self.lock();
        let mut pending = self.load().unwrap_or_default();
        if !pending.iter().any(|p| p.pool == pool) {
            return Ok(());
        }
        pending.retain(|p| p.pool != pool);
        self.store(&pending)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::pending::JournaledDrive;

    fn entry(pool: &str) -> PendingCreate {
        PendingCreate {
            pool: pool.into(),
            drives: vec![JournaledDrive {
                serial: Some("S2TA0001".into()),
                path: "/dev/disk/by-id/a".into(),
            }],
            started_at: "t".into(),
        }
    }

    #[test]
    fn begin_and_finish_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let j = Journal::at(dir.path().join("state/pending.json"));
        assert_eq!(j.load().unwrap(), vec![]);
        j.begin(entry("quickOS")).unwrap();
        j.begin(entry("fastData")).unwrap();
        assert_eq!(j.load().unwrap(), vec![entry("quickOS"), entry("fastData")]);
        j.finish("quickOS").unwrap();
        assert_eq!(j.load().unwrap(), vec![entry("fastData")]);
        j.finish("fastData").unwrap();
        assert!(!dir.path().join("state/pending.json").exists());
    }

    #[test]
    fn an_entry_names_a_drive_by_serial_and_path_together() {
        let e = entry("quickOS");
        assert!(e.names(Some("S2TA0001"), "/dev/disk/by-id/a"));
        assert!(!e.names(Some("S2TA0002"), "/dev/disk/by-id/a"));
        assert!(!e.names(Some("S2TA0001"), "/dev/disk/by-id/b"));
        assert!(!e.names(None, "/dev/disk/by-id/a"));
    }

    #[test]
    fn an_entry_of_the_old_format_is_refused_not_honoured() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("pending.json");
        std::fs::write(
            &path,
            r#"[{"pool":"quickOS","devices":["/dev/disk/by-id/a"],"started_at":"t"}]"#,
        )
        .unwrap();
        let j = Journal::at(path);
        assert!(matches!(j.load(), Err(JournalError::Format { .. })));
        assert_eq!(j.load_or_none(), vec![]);
    }

    #[test]
    fn the_journal_lives_in_the_systems_state_directory() {
        let files = crate::host::root::HostRoot(PathBuf::from("/mnt"));
        assert_eq!(
            Journal::of(&files).path(),
            Path::new("/mnt/var/lib/phoenix-zfs/pending.json")
        );
    }
}
