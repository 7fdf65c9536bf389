//! `cargo xtask record-replay CASE SCENARIO BOOT STEP`: copies the zpool/zfs transcripts that a
//! QEMU scenario step recorded (PHOENIX_ZFS_RECORD in the guest, real OpenZFS 2.3) into
//! tests/fixtures/replay/CASE/, where tests/it/apply_replay.rs replays them. Run the scenario
//! first (`cargo xtask qemu-test SCENARIO`).
//!
//! The case's outcome in case.toml is derived from that step, never typed: `exit_code` is what
//! the step's `step-N.status` holds, `mutating_commands` the number of its transcripts whose
//! command changes storage (`phoenix_zfs::runner::changes_storage`). The rest of case.toml (which
//! fixture host, layout, --wipe, the word a failure must mention) says how to replay the step and
//! is kept as written.

use crate::flags::RecordReplayOptions;
use crate::util::workspace_root;
use anyhow::{bail, Context, Result};
use phoenix_zfs::runner::{changes_storage, Transcript};
use std::path::Path;

/// `cargo xtask record-replay`.
pub fn record(options: &RecordReplayOptions) -> Result<()> {
    let RecordReplayOptions {
        case,
        scenario,
        boot,
        step,
    } = options;
    let results = workspace_root().join(format!("target/qemu-test/{scenario}/boot-{boot}/results"));
    let from = results.join(format!("step-{step}.zfs"));
    if !results.is_dir() {
        bail!(
            "no results at {} (run `cargo xtask qemu-test {scenario}` first)",
            results.display()
        );
    }
    // Everything is read before the case is touched, so that a missing result leaves it as it was.
    let exit_code = recorded_exit_code(&results.join(format!("step-{step}.status")))?;
    let transcripts = Transcript::load_dir(&from).with_context(|| {
        format!(
            "cannot read the transcripts at {} (run `cargo xtask qemu-test {scenario}` first)",
            from.display()
        )
    })?;
    let mutating = transcripts
        .iter()
        .filter(|t| changes_storage(&t.argv))
        .count();

    let to = workspace_root().join("tests/fixtures/replay").join(case);
    std::fs::create_dir_all(&to)?;
    for old in std::fs::read_dir(&to)?.flatten() {
        if old.file_name() != "case.toml" {
            std::fs::remove_file(old.path())?;
        }
    }
    let mut n = 0;
    for entry in std::fs::read_dir(&from)?.flatten() {
        std::fs::copy(entry.path(), to.join(entry.file_name()))?;
        n += 1;
    }
    eprintln!(
        "xtask: {n} files from {} into {}",
        from.display(),
        to.display()
    );

    let case_file = to.join("case.toml");
    let text = match std::fs::read_to_string(&case_file) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => format!(
            "recorded_by = \"qemu-tests/scenarios/{scenario}.toml boot {boot} step {step}\"\n"
        ),
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", case_file.display())),
    };
    let text = with_recorded_outcome(&text, exit_code, mutating);
    std::fs::write(&case_file, &text)
        .with_context(|| format!("cannot write {}", case_file.display()))?;
    eprintln!(
        "xtask: {}: exit_code = {exit_code}, mutating_commands = {mutating} (from the step's status and transcripts)",
        case_file.display()
    );
    if !text.lines().any(|l| l.starts_with("host =")) {
        bail!(
            "{} has no `host`: add `host = \"NAME\"`, the fixture host under tests/fixtures/hosts/ \
             with the scenario's drives (and `layout`, `wipe` as the step ran), then run \
             `cargo test --test it apply_replay::`",
            case_file.display()
        );
    }
    Ok(())
}

/// The exit code the guest wrote for a step (`echo $? > step-N.status`).
fn recorded_exit_code(path: &Path) -> Result<u8> {
    let text = std::fs::read_to_string(path).with_context(|| {
        format!(
            "cannot read {} (a step that the power cut interrupted has none: record another step)",
            path.display()
        )
    })?;
    text.trim().parse().with_context(|| {
        format!(
            "{}: `{}` is not an exit code (0-255)",
            path.display(),
            text.trim()
        )
    })
}

/// case.toml with `exit_code` and `mutating_commands` set to the recorded values: their lines
/// replaced where they are, added after the other keys where they are not; every other line kept.
fn with_recorded_outcome(text: &str, exit_code: u8, mutating: usize) -> String {
    let derived = [
        ("exit_code", exit_code.to_string()),
        ("mutating_commands", mutating.to_string()),
    ];
    let key_of = |line: &str| line.split('=').next().unwrap_or("").trim().to_string();
    let mut out = String::new();
    let mut written = [false; 2];
    for line in text.lines() {
        match derived.iter().position(|(key, _)| key_of(line) == *key) {
            Some(i) if !written[i] => {
                out.push_str(&format!("{} = {}\n", derived[i].0, derived[i].1));
                written[i] = true;
            }
            // A second line for the same key would make the TOML invalid.
            Some(_) => {}
            None => {
                out.push_str(line);
                out.push('\n');
            }
        }
    }
    for (i, (key, value)) in derived.iter().enumerate() {
        if !written[i] {
            out.push_str(&format!("{key} = {value}\n"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_recorded_outcome_replaces_the_typed_one_and_keeps_the_rest() {
        let typed = "recorded_by = \"x boot 1 step 3\"\nhost = \"qemu-default\"\nexit_code = 0\nmutating_commands = 99\nfailure_mentions = \"quickOS/a\"\n";
        assert_eq!(
            with_recorded_outcome(typed, 6, 7),
            "recorded_by = \"x boot 1 step 3\"\nhost = \"qemu-default\"\nexit_code = 6\nmutating_commands = 7\nfailure_mentions = \"quickOS/a\"\n"
        );
    }

    #[test]
    fn a_new_case_gets_the_outcome_appended() {
        assert_eq!(
            with_recorded_outcome("recorded_by = \"s boot 1 step 1\"\n", 0, 10),
            "recorded_by = \"s boot 1 step 1\"\nexit_code = 0\nmutating_commands = 10\n"
        );
    }

    #[test]
    fn the_status_file_is_the_exit_code() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("step-1.status");
        std::fs::write(&path, "5\n").unwrap();
        assert_eq!(recorded_exit_code(&path).unwrap(), 5);
        std::fs::write(&path, "").unwrap();
        assert!(recorded_exit_code(&path).is_err());
        let err = recorded_exit_code(&dir.path().join("step-2.status")).unwrap_err();
        assert!(format!("{err:#}").contains("power cut"), "{err:#}");
    }
}
