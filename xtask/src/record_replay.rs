//! `cargo xtask record-replay CASE SCENARIO BOOT STEP`: copies the zpool/zfs transcripts that a
//! QEMU scenario step recorded (PHOENIX_ZFS_RECORD in the guest, real OpenZFS 2.3) into
//! tests/fixtures/replay/CASE/, where tests/apply_replay.rs replays them. Run the scenario first
//! (`cargo xtask qemu-test SCENARIO`); the case's case.toml is written by hand and kept.

use crate::util::workspace_root;
use anyhow::{bail, Context, Result};

pub fn main(args: &[String]) -> Result<()> {
    let [case, scenario, boot, step] = args else {
        bail!("usage: cargo xtask record-replay CASE SCENARIO BOOT STEP");
    };
    let from = workspace_root().join(format!(
        "target/qemu-test/{scenario}/boot-{boot}/results/step-{step}.zfs"
    ));
    let to = workspace_root().join("tests/fixtures/replay").join(case);
    std::fs::create_dir_all(&to)?;
    for old in std::fs::read_dir(&to)?.flatten() {
        if old.file_name() != "case.toml" {
            std::fs::remove_file(old.path())?;
        }
    }
    let mut n = 0;
    for entry in std::fs::read_dir(&from)
        .with_context(|| {
            format!(
                "no transcripts at {} (run the scenario first)",
                from.display()
            )
        })?
        .flatten()
    {
        std::fs::copy(entry.path(), to.join(entry.file_name()))?;
        n += 1;
    }
    eprintln!(
        "xtask: {n} files from {} into {}",
        from.display(),
        to.display()
    );
    Ok(())
}
