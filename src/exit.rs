//! The exit codes of phoenix-zfs, in one place: what the planner's blockers, apply's ending,
//! `manifest verify` and the command line report to the shell, the first-boot unit and scripts.
//!
//! The codes are an interface (Proxmox's hook keeps its flag unless the run exits 0, scenarios and
//! fleet scripts test for 3, 5, 7, 8): a variant's code never changes once released.

/// How a run ended, as its exit code says. 3, 4 and 5 are refusals: when they come before any
/// action, nothing was changed. The refusals are ordered as an administrator has to fix them
/// (hardware, then a drive's firmware or health, then its data): a plan's exit is the least of
/// its blockers'.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Exit {
    /// 0: done, or nothing to do (deferred steps included).
    Done,
    /// 1: an unexpected error (the host's state could not be read, a file could not be written).
    Unexpected,
    /// 2: an invalid layout or invalid usage.
    Usage,
    /// 3: the hardware does not match the layout, or a pool of the layout is on other drives.
    HardwareMismatch,
    /// 4: the firmware policy refused a drive, or a pool drive's controller reports itself
    /// read-only or degraded.
    DriveRefused,
    /// 5: a target drive holds data, a dataset exists as a zvol, or a pool was last imported by
    /// another system (`--force-import`).
    DataRefused,
    /// 6: a command failed during apply; a rerun resumes.
    CommandFailed,
    /// 7: `verify` found differences between the host and the layout, or `apply --plan` found
    /// the host changed since the kept plan was made (and changed nothing).
    Differs,
    /// 1 for `manifest verify`: a manifest is unsigned, changed, or not signed by a key trusted
    /// for its host. It shares 1 with [`Exit::Unexpected`]: a script must not trust either.
    ManifestInDoubt,
    /// 8 for `manifest verify`: every manifest checks out, but a host's run was refused or failed.
    RunNotDone,
}

/// What `--help` ends with: every code the enum has (a test holds the two together), and two
/// commands to start from. Short: these bytes ship in the first-boot hook.
pub const HELP: &str = "\
Exit codes:
  0  done, or nothing to do
  1  unexpected error; manifest verify: a manifest in doubt
  2  invalid layout or usage
  3  the drives do not fit the layout
  4  a drive's firmware or health refused
  5  a drive holds data, or a pool needs --force-import
  6  a command failed; a rerun resumes
  7  verify: the host differs from the layout
  8  manifest verify: a run was refused or failed

Examples:
  phoenix-zfs plan --layout layout.toml
  phoenix-zfs apply --wipe S2TA0002";

impl Exit {
    /// The number the process exits with.
    pub fn code(self) -> u8 {
        match self {
            Exit::Done => 0,
            Exit::Unexpected | Exit::ManifestInDoubt => 1,
            Exit::Usage => 2,
            Exit::HardwareMismatch => 3,
            Exit::DriveRefused => 4,
            Exit::DataRefused => 5,
            Exit::CommandFailed => 6,
            Exit::Differs => 7,
            Exit::RunNotDone => 8,
        }
    }

    pub fn is_done(self) -> bool {
        self == Exit::Done
    }
}

impl From<Exit> for std::process::ExitCode {
    fn from(exit: Exit) -> Self {
        std::process::ExitCode::from(exit.code())
    }
}

#[cfg(test)]
mod tests {
    use super::{Exit, HELP};

    /// Every variant, in declaration order.
    fn every_exit() -> Vec<Exit> {
        let all = [
            Exit::Done,
            Exit::Unexpected,
            Exit::Usage,
            Exit::HardwareMismatch,
            Exit::DriveRefused,
            Exit::DataRefused,
            Exit::CommandFailed,
            Exit::Differs,
            Exit::ManifestInDoubt,
            Exit::RunNotDone,
        ];
        // A new variant does not compile here until it has a place in `all`.
        for (i, exit) in all.iter().enumerate() {
            let place = match exit {
                Exit::Done => 0,
                Exit::Unexpected => 1,
                Exit::Usage => 2,
                Exit::HardwareMismatch => 3,
                Exit::DriveRefused => 4,
                Exit::DataRefused => 5,
                Exit::CommandFailed => 6,
                Exit::Differs => 7,
                Exit::ManifestInDoubt => 8,
                Exit::RunNotDone => 9,
            };
            assert_eq!(place, i);
        }
        all.to_vec()
    }

    #[test]
    fn the_help_lists_every_code_the_enum_has_and_no_other() {
        let table: Vec<(u8, &str)> = HELP
            .split("\n\n")
            .next()
            .unwrap()
            .lines()
            .skip(1)
            .map(|line| {
                let (code, what) = line.trim_start().split_once("  ").unwrap();
                (code.parse().unwrap(), what)
            })
            .collect();
        let listed: Vec<u8> = table.iter().map(|(code, _)| *code).collect();
        let mut codes: Vec<u8> = every_exit().into_iter().map(Exit::code).collect();
        codes.sort();
        codes.dedup();
        assert_eq!(listed, codes, "{HELP}");
        // The two that only `manifest verify` gives say so.
        for exit in [Exit::ManifestInDoubt, Exit::RunNotDone] {
            let (_, what) = table.iter().find(|(c, _)| *c == exit.code()).unwrap();
            assert!(what.contains("manifest verify"), "{exit:?}: {what}");
        }
    }

    #[test]
    fn the_documented_codes_hold() {
        let codes: Vec<u8> = every_exit().into_iter().map(Exit::code).collect();
        // In declaration order: `ManifestInDoubt` shares 1 with `Unexpected`.
        assert_eq!(codes, [0, 1, 2, 3, 4, 5, 6, 7, 1, 8]);
        assert!(
            Exit::HardwareMismatch < Exit::DriveRefused && Exit::DriveRefused < Exit::DataRefused
        );
    }
}
