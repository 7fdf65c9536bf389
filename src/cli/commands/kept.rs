//! `plan --out FILE` and `apply --plan FILE`: the kept plan's file and what the administrator
//! reads about it. What the file holds, and whether the host still reads as it did, is
//! phoenix_zfs::plan::kept's.

use crate::context::Context;
use crate::failure::{Failure, Outcome};
use phoenix_zfs::assess::Assessment;
use phoenix_zfs::host::target::Target;
use phoenix_zfs::plan::kept::{self, Kept};
use phoenix_zfs::plan::Consent;
use std::path::Path;

/// `phoenix-zfs` with this run's `--root` or `--target-root`, then `words`, as a shell runs it.
fn command(ctx: &Context, words: Vec<String>) -> String {
    let mut words = words.into_iter();
    let mut argv = vec!["phoenix-zfs".to_string()];
    if ctx.root.0 != Path::new("/") {
        argv.extend(["--root".into(), ctx.root.0.display().to_string()]);
    }
    // --target-root belongs to the subcommand, so it follows it.
    argv.extend(words.next());
    if let Target::MountedRoot { dir, keep_imported } = &ctx.target {
        argv.extend(["--target-root".into(), dir.display().to_string()]);
        if *keep_imported {
            argv.push("--keep-imported".into());
        }
    }
    argv.extend(words);
    phoenix_zfs::runner::display(&argv)
}

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
    let apply = command(ctx, vec!["apply".into(), "--plan".into(), shown.clone()]);
    say(format!(
        "plan kept in {shown}: `{apply}` runs it while the host reads as it does now"
    ));
    Ok(())
}

/// `apply --plan FILE`: apply with the plan's layout and consent, its first round the kept one.
pub fn apply(ctx: &Context, file: &Path, manifest: &Path, host_key: &Path) -> Outcome {
    let shown = file.display();
    let text = std::fs::read_to_string(file)
        .map_err(|e| Failure::usage(format!("{shown}: cannot read the plan: {e}")))?;
    let Some(kept) = kept::parse(&text) else {
        let make = command(ctx, vec!["plan".into(), "--out".into(), shown.to_string()]);
        let not = format!(
            "not a plan `{}` wrote ({})",
            phoenix_zfs::remedy::PLAN_OUT,
            kept::SCHEMA
        );
        return Err(Failure::usage(format!(
            "{shown}: {not}; make one with `{make}`"
        )));
    };
    let (layout, consent) = (kept.layout_file.as_deref(), &kept.consent);
    let kept_plan = Some((file, &kept));
    super::apply::run(ctx, layout, true, consent, manifest, host_key, kept_plan)
}

/// What `apply --plan` says when the host no longer reads as the plan was made from: each
/// change, and the command that makes a new plan with the same layout and consent.
pub fn refuse(ctx: &Context, file: &Path, kept: &Kept, stale: &[String]) {
    println!("the plan in {} no longer fits this host:", file.display());
    for line in stale {
        println!("  {line}");
    }
    let mut words = vec!["plan".to_string()];
    if let Some(layout) = &kept.layout_file {
        words.extend(["--layout".into(), layout.display().to_string()]);
    }
    for serial in &kept.consent.wipe {
        words.extend(["--wipe".into(), serial.clone()]);
    }
    if kept.consent.force_import {
        words.push("--force-import".into());
    }
    words.extend(["--out".into(), file.display().to_string()]);
    println!("make a new plan: `{}`", command(ctx, words));
    println!("nothing was changed");
}
