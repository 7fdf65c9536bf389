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
/// The default layout into a file to edit (the redirection is the shell's).
pub const LAYOUT_TO_FILE: &str = "phoenix-zfs layout show > layout.toml";
/// The edited copy used (apply checks it first).
pub const APPLY_LAYOUT: &str = "phoenix-zfs apply --layout layout.toml";

/// Consent to erase the drive `--wipe` knows as `name` (its serial, or `SERIAL/NSID`).
pub fn wipe(name: &str) -> String {
    format!("{APPLY} --wipe {name}")
}

/// How to give the layout drives of the classes and models this host has.
pub fn edit_layout() -> String {
    format!("`{LAYOUT_TO_FILE}`, edit its size_class/models, `{APPLY_LAYOUT}`")
}

/// `manifest verify` of `manifest` against a trust anchor.
pub fn verify_signed(manifest: &str) -> String {
    format!("phoenix-zfs manifest verify --allowed-signers FILE {manifest}")
}

/// Every command this module builds, for the test that parses them.
pub fn all() -> Vec<String> {
    vec![
        APPLY.into(),
        VERIFY.into(),
        PLAN.into(),
        APPLY_YES.into(),
        FORCE_IMPORT.into(),
        HOST_KEY.into(),
        SNAPSHOT_HOST.into(),
        LAYOUT_TO_FILE.into(),
        APPLY_LAYOUT.into(),
        wipe("S2TA0001"),
        wipe("S2TA0001/2"),
        wipe("SERIAL"),
        verify_signed("manifests/pve-a/manifest.json"),
    ]
}
