//! `plan --out FILE` and `apply --plan FILE`: the kept plan's file and what the administrator
//! reads about it (apply's module runs it). What the file holds, and whether the host still reads
//! as it did, is phoenix_zfs::plan::kept's.

use crate::context::Context;
use crate::failure::Failure;
use phoenix_zfs::assess::Assessment;
use phoenix_zfs::plan::kept::{self, Kept};
use phoenix_zfs::plan::Consent;
use std::path::Path;

/// Keeps the plan of `a` in `file`, unless blockers stop it: apply would refuse it anyway.
pub fn write(
    ctx: &Context,
    a: &Assessment,
    layout_file: Option<&Path>,
    consent: &Consent,
    file: &Path,
    json: bool,
) -> Result<(), Failure> {
    let say = |line: String| match json {
        true => eprintln!("phoenix-zfs: {line}"),
        false => println!("{line}"),
    };
    let shown = file.display().to_string();
    if let Some(exit) = a.plan.exit() {
        say(format!(
            "no plan kept in {shown}: apply would refuse it (exit {})",
            exit.code()
        ));
        return Ok(());
    }
    // apply --plan may run in another directory.
    let layout_file = layout_file.map(|f| std::path::absolute(f).unwrap_or(f.to_path_buf()));
    let made_at = phoenix_zfs::manifest::now_rfc3339();
    let value = kept::keep(a, layout_file.as_deref(), consent, &made_at);
    let text = serde_json::to_string_pretty(&value).unwrap_or_default() + "\n";
    phoenix_zfs::apply::atomic_file::write_atomically(file, text.as_bytes())
        .map_err(Failure::unexpected)?;
    let apply = ctx.remedies.apply_plan(file);
    say(format!(
        "plan kept in {shown}: `{apply}` runs it while the host reads as it does now"
    ));
    Ok(())
}

/// What `apply --plan` says when the host no longer reads as the plan was made from: each
/// change, and the command that makes a new plan with the same layout and consent.
pub fn refuse(ctx: &Context, file: &Path, kept: &Kept, stale: &[String]) {
    println!("the plan in {} no longer fits this host:", file.display());
    for line in stale {
        println!("  {line}");
    }
    let make = ctx.remedies.plan_out(
        kept.layout_file.as_deref(),
        &kept.consent.wipe,
        kept.consent.force_import,
        file,
    );
    println!("make a new plan: `{make}`");
    println!("nothing was changed");
}
