//! The phoenix-zfs commands its messages tell an administrator to run next, built here and
//! nowhere else, so that one test parses every one of them with the binary's own command line
//! (a flag the subcommand does not take, or a subcommand that does not exist, fails it).
//! Each names its subcommand: detect and verify print the same refusals as plan and apply, and
//! take no `--wipe`, so "run again with --wipe" would be wrong from them. Words in capitals
//! (SERIAL, PATH) are for the administrator to fill in, where the message cannot know them.
//! A remedy runs against what the run that printed it ran against: [`Invocation`] carries the
//! administrator's own `--layout FILE` and `--target-root DIR` into it.

use std::path::{Path, PathBuf};

/// The run that converges, once the cause is removed.
pub const APPLY: &str = "phoenix-zfs apply";
/// What differs from the layout, one line each.
pub const VERIFY: &str = "phoenix-zfs verify";
/// What apply would do, changing nothing.
pub const PLAN: &str = "phoenix-zfs plan";
/// apply without a terminal to confirm on.
pub const APPLY_YES: &str = "phoenix-zfs apply --yes";
/// Imports a pool that another system had imported last.
pub const FORCE_IMPORT: &str = "phoenix-zfs apply --force-import";
/// Signs with another host key.
pub const HOST_KEY: &str = "phoenix-zfs apply --host-key PATH";
/// Makes a host tree `--root` can read.
pub const SNAPSHOT_HOST: &str = "phoenix-zfs debug snapshot-host DIR";
/// How to give the layout drives of the classes and models this host has: the default into a
/// file (the redirection is the shell's), edited, then used (apply checks it first). One
/// literal: these bytes ship in the first-boot hook, and formatting would cost more.
pub const EDIT_LAYOUT: &str = "`phoenix-zfs layout show > layout.toml`, edit its size_class/models, `phoenix-zfs apply --layout layout.toml`";
/// What a failed first boot's notice tells the administrator to run.
pub const AFTER_FIRST_BOOT: &str = "run `phoenix-zfs plan` and `phoenix-zfs apply` (`phoenix-zfs apply --wipe SERIAL` only for a drive you mean to erase)";
/// Keeps a plan for `apply --plan FILE`.
pub const PLAN_OUT: &str = "phoenix-zfs plan --out FILE";
/// `manifest verify` against a trust anchor.
pub const VERIFY_SIGNED: &str = "phoenix-zfs manifest verify --allowed-signers FILE MANIFEST...";

/// `manifest verify` of one manifest against an allowed_signers FILE to fill in.
pub fn verify_signed(manifest: &str) -> String {
    format!("phoenix-zfs manifest verify --allowed-signers FILE {manifest}")
}

/// Consent to erase the drive `--wipe` knows as `name` (its serial, or `SERIAL/NSID`).
pub fn wipe(name: &str) -> String {
    format!("{APPLY} --wipe {name}")
}

/// The subcommands that take `--layout` and `--target-root`, into whose remedies
/// [`Invocation::carry`] puts them.
const TAKE_LAYOUT_AND_TARGET: [&str; 4] = ["detect", "plan", "apply", "verify"];

/// What the administrator gave this run that a remedy must give again, so that the command it
/// advises reads the same host tree, layout and installed root.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Invocation {
    /// `--root DIR`: the host tree read instead of `/`.
    pub root: Option<PathBuf>,
    /// `--layout FILE`.
    pub layout: Option<PathBuf>,
    /// `--target-root DIR`, with whether `--keep-imported` came with it.
    pub target_root: Option<PathBuf>,
    pub keep_imported: bool,
}

impl Invocation {
    /// `text` with this run's `--layout` and `--target-root` after the subcommand of every
    /// `phoenix-zfs detect|plan|apply|verify` in it, unless that command names its own. Without
    /// either flag, `text` as it is: the remedies' words are what scenarios match.
    pub fn carry(&self, text: &str) -> String {
        let flags: Vec<(&str, String)> = [
            ("--layout", &self.layout),
            ("--target-root", &self.target_root),
        ]
        .into_iter()
        .filter_map(|(flag, value)| Some((flag, shell_word(value.as_deref()?))))
        .collect();
        if flags.is_empty() {
            return text.to_string();
        }
        let start = "phoenix-zfs ";
        let mut carried = String::with_capacity(text.len());
        let mut rest = text;
        while let Some(at) = rest.find(start) {
            let after = &rest[at + start.len()..];
            let word = after
                .find(|c: char| !c.is_ascii_alphanumeric() && c != '-')
                .unwrap_or(after.len());
            let (subcommand, tail) = after.split_at(word);
            carried.push_str(&rest[..at + start.len() + word]);
            // A remedy ends at its closing backquote, or with the line.
            let own = &tail[..tail.find(['`', '\n']).unwrap_or(tail.len())];
            if TAKE_LAYOUT_AND_TARGET.contains(&subcommand) {
                for (flag, value) in &flags {
                    // A kept plan brings its own layout: `apply --plan` refuses another.
                    let refused = *flag == "--layout" && own.contains("--plan ");
                    if !own.contains(flag) && !refused {
                        carried.push_str(&format!(" {flag} {value}"));
                    }
                }
            }
            rest = tail;
        }
        carried.push_str(rest);
        carried
    }

    /// `phoenix-zfs` with this run's `--root` or `--target-root` (and `--keep-imported`), then
    /// `subcommand` and `rest`: the commands about a kept plan, which must read the host the plan
    /// was made from. `--target-root` belongs to the subcommand, so it follows it.
    fn command(&self, subcommand: &str, rest: Vec<String>) -> String {
        let mut argv = vec!["phoenix-zfs".to_string()];
        if let Some(root) = &self.root {
            argv.extend(["--root".into(), root.display().to_string()]);
        }
        argv.push(subcommand.into());
        if let Some(dir) = &self.target_root {
            argv.extend(["--target-root".into(), dir.display().to_string()]);
            if self.keep_imported {
                argv.push("--keep-imported".into());
            }
        }
        argv.extend(rest);
        crate::runner::display(&argv)
    }

    /// Runs the plan kept in `file`.
    pub fn apply_plan(&self, file: &Path) -> String {
        self.command("apply", vec!["--plan".into(), file.display().to_string()])
    }

    /// Makes a new plan in `file`: with `layout` and the consent (`wipe`, `force_import`) of the
    /// kept plan it replaces, when there is one.
    pub fn plan_out(
        &self,
        layout: Option<&Path>,
        wipe: &[String],
        force_import: bool,
        file: &Path,
    ) -> String {
        let mut words = Vec::new();
        if let Some(layout) = layout {
            words.extend(["--layout".into(), layout.display().to_string()]);
        }
        for serial in wipe {
            words.extend(["--wipe".into(), serial.clone()]);
        }
        if force_import {
            words.push("--force-import".into());
        }
        words.extend(["--out".into(), file.display().to_string()]);
        self.command("plan", words)
    }
}

/// `path` as one shell word.
fn shell_word(path: &Path) -> String {
    crate::runner::display(&[path.display().to_string()])
}

/// Makes the host key the first boot signs with, under `root` (`/`: the running system).
pub fn make_host_key(root: &Path) -> String {
    if root == Path::new("/") {
        return "ssh-keygen -A".into();
    }
    let dir = shell_word(root);
    format!("mkdir -p {dir}/etc/ssh && ssh-keygen -A -f {dir}")
}

/// The first boot again, by hand, on the host under `root` (`/`: the running system).
pub fn firstboot(root: &Path) -> String {
    match root == Path::new("/") {
        true => "phoenix-zfs firstboot".into(),
        false => format!("phoenix-zfs --root {} firstboot", shell_word(root)),
    }
}

/// Every command this module builds, for the test that parses them: those in backquotes inside
/// a longer text each on its own.
pub fn all() -> Vec<String> {
    let quoted = [EDIT_LAYOUT, AFTER_FIRST_BOOT]
        .into_iter()
        .flat_map(|text| text.split('`').skip(1).step_by(2))
        .map(String::from);
    let mut all: Vec<String> = vec![
        APPLY.into(),
        VERIFY.into(),
        PLAN.into(),
        APPLY_YES.into(),
        FORCE_IMPORT.into(),
        HOST_KEY.into(),
        SNAPSHOT_HOST.into(),
        wipe("S2TA0001"),
        wipe("S2TA0001/2"),
        wipe("SERIAL"),
        VERIFY_SIGNED.into(),
        PLAN_OUT.into(),
        verify_signed("/var/lib/phoenix-zfs/manifest.json"),
    ];
    all.extend(quoted);
    let mounted = Invocation {
        layout: Some("/root/layout.toml".into()),
        target_root: Some("/mnt".into()),
        keep_imported: true,
        ..Invocation::default()
    };
    let captured = Invocation {
        root: Some("/tmp/host".into()),
        layout: Some("x.toml".into()),
        ..Invocation::default()
    };
    let file = Path::new("/root/plan.json");
    let wipe = ["S2TA0001".to_string()];
    for run in [&Invocation::default(), &mounted, &captured] {
        all.push(run.apply_plan(file));
        all.push(run.plan_out(None, &[], false, file));
        all.push(run.plan_out(Some(Path::new("/root/layout.toml")), &wipe, true, file));
    }
    for remedy in all.clone() {
        all.push(mounted.carry(&remedy));
    }
    all.extend(["/", "/tmp/host"].map(|root| firstboot(Path::new(root))));
    all
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A refusal's lines, a notice's and an error's, as the library words them.
    fn advice() -> String {
        format!(
            "if its data may be erased: {}\nthen `{APPLY}`, or {EDIT_LAYOUT}\n{AFTER_FIRST_BOOT}; phoenix-zfs-deferred.service and `{}` stay",
            wipe("S2TA0001"),
            Invocation::default().apply_plan(Path::new("/root/plan.json"))
        )
    }

    #[test]
    fn without_layout_or_target_root_the_advice_is_as_worded() {
        let root_only = Invocation {
            root: Some("/tmp/host".into()),
            ..Invocation::default()
        };
        for run in [Invocation::default(), root_only] {
            assert_eq!(run.carry(&advice()), advice());
        }
    }

    #[test]
    fn each_remedy_carries_the_runs_layout_and_target_root_once() {
        let run = Invocation {
            layout: Some("x.toml".into()),
            target_root: Some("/mnt/pve root".into()),
            keep_imported: true,
            ..Invocation::default()
        };
        let flags = "--layout x.toml --target-root '/mnt/pve root'";
        assert_eq!(
            run.carry(&advice()),
            format!(
                "if its data may be erased: phoenix-zfs apply {flags} --wipe S2TA0001\n\
                 then `phoenix-zfs apply {flags}`, or `phoenix-zfs layout show > layout.toml`, edit its size_class/models, `phoenix-zfs apply --target-root '/mnt/pve root' --layout layout.toml`\n\
                 run `phoenix-zfs plan {flags}` and `phoenix-zfs apply {flags}` (`phoenix-zfs apply {flags} --wipe SERIAL` only for a drive you mean to erase); \
                 phoenix-zfs-deferred.service and `phoenix-zfs apply --target-root '/mnt/pve root' --plan /root/plan.json` stay"
            )
        );
    }
}
