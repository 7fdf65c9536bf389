//! The one thing apply writes down before it acts: which pool it is about to create on which
//! drives. `zpool create` partitions the drives before it writes the pool's labels, so a power
//! cut in between leaves drives that hold a GPT but no importable pool: to a rerun they would look
//! like someone's data. The journal lets the rerun recognise them as its own, interrupted work.

use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingCreate {
    pub pool: String,
    /// The by-id paths the pool was being created on.
    pub devices: Vec<String>,
    pub started_at: String,
}

#[derive(Debug)]
pub struct Journal {
    path: PathBuf,
    /// Pools are created side by side (apply's lanes): each update reads and rewrites the whole
    /// file, so two at once would lose one.
    update: Mutex<()>,
}

impl Journal {
    /// The journal lives beside the manifest: /var/lib/phoenix-zfs/pending.json by default.
    pub fn beside(manifest: &Path) -> Journal {
        let dir = manifest.parent().unwrap_or(Path::new("."));
        Journal::at(dir.join("pending.json"))
    }

    pub fn at(path: PathBuf) -> Journal {
        Journal {
            path,
            update: Mutex::new(()),
        }
    }

    /// What is pending. A missing file is nothing pending; an unreadable one is reported by the
    /// caller and treated as nothing pending, which can only make a rerun more careful.
    pub fn load(&self) -> Result<Vec<PendingCreate>, String> {
        match std::fs::read(&self.path) {
            Ok(bytes) => {
                serde_json::from_slice(&bytes).map_err(|e| format!("{}: {e}", self.path.display()))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
            Err(e) => Err(format!("{}: {e}", self.path.display())),
        }
    }

    /// A panicked updater left the file whole (writes are atomic), so its lock is still good.
    fn lock(&self) -> MutexGuard<'_, ()> {
        self.update
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn store(&self, pending: &[PendingCreate]) -> Result<(), String> {
        if pending.is_empty() {
            return match std::fs::remove_file(&self.path) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                    Err(format!("{}: {e}", self.path.display()))
                }
                _ => Ok(()),
            };
        }
        let text = serde_json::to_vec_pretty(pending).map_err(|e| e.to_string())?;
        crate::atomic_file::write_atomically(&self.path, &text)
            .map_err(|e| format!("{}: {e}", self.path.display()))
    }

    pub fn begin(&self, entry: PendingCreate) -> Result<(), String> {
        let _update = self.lock();
        let mut pending = self.load().unwrap_or_default();
        pending.retain(|p| p.pool != entry.pool);
        pending.push(entry);
        self.store(&pending)
    }

    pub fn finish(&self, pool: &str) -> Result<(), String> {
        let _update = self.lock();
        let mut pending = self.load().unwrap_or_default();
        pending.retain(|p| p.pool != pool);
        self.store(&pending)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn begin_and_finish_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let j = Journal::beside(&dir.path().join("manifest.json"));
        assert_eq!(j.load().unwrap(), vec![]);
        let entry = PendingCreate {
            pool: "quickOS".into(),
            devices: vec!["/dev/a".into()],
            started_at: "t".into(),
        };
        j.begin(entry.clone()).unwrap();
        assert_eq!(j.load().unwrap(), vec![entry]);
        j.finish("quickOS").unwrap();
        assert!(!dir.path().join("pending.json").exists());
    }
}
