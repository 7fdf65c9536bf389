//! The phoenix-zfs commands its messages tell an administrator to run next, built here and
//! nowhere else, so that one test parses every one of them with the binary's own command line
//! (a flag the subcommand does not take, or a subcommand that does not exist, fails it).
//! Each names its subcommand: detect and verify print the same refusals as plan and apply, and
//! take no `--wipe`, so "run again with --wipe" would be wrong from them. Words in capitals
//! (SERIAL, PATH) are for the administrator to fill in, where the message cannot know them.

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
    all
}
