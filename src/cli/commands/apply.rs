//! `phoenix-zfs apply`: converges the host to the layout (asking first on a terminal), then
//! writes and signs the manifest, also after a refusal or a failure.

use crate::context::{load_layout, Context, ZfsTools};
use crate::failure::{print_error, Failure, Outcome};
use phoenix_zfs::apply::journal::Journal;
use phoenix_zfs::apply::{self, deferred, Ending};
use phoenix_zfs::assess::assess;
use phoenix_zfs::exit::Exit;
use phoenix_zfs::host::target::Target;
use phoenix_zfs::manifest::{self, signing, RunInfo};
use phoenix_zfs::plan::kept::{self, Kept};
use phoenix_zfs::plan::Consent;
use phoenix_zfs::remedy;
use phoenix_zfs::report::Report;
use std::io::{BufRead, IsTerminal, Write};
use std::path::Path;

/// Asks on the terminal; anything but y/yes is no.
fn confirm(question: &str) -> bool {
    eprint!("{question} [y/N] ");
    let _ = std::io::stderr().flush();
    let mut answer = String::new();
    std::io::stdin().lock().read_line(&mut answer).is_ok()
        && matches!(answer.trim(), "y" | "Y" | "yes")
}

/// `apply --plan FILE`: apply with the plan's layout and consent, its first round the kept one.
pub fn run_kept(ctx: &Context, file: &Path, manifest: &Path, host_key: &Path) -> Outcome {
    let shown = file.display();
    let text = std::fs::read_to_string(file).map_err(|e| {
        Failure::said(
            Exit::Usage,
            format!("{shown}: cannot read the plan: {}", Report(&e)),
        )
    })?;
    let Some(kept) = kept::parse(&text) else {
        let make = ctx.remedies.plan_out(None, &[], false, file);
        let not = format!("not a plan `{}` wrote ({})", remedy::PLAN_OUT, kept::SCHEMA);
        return Err(Failure::said(
            Exit::Usage,
            format!("{shown}: {not}; make one with `{make}`"),
        ));
    };
    let (layout, consent) = (kept.layout_file.as_deref(), &kept.consent);
    run(
        ctx,
        layout,
        true,
        consent,
        manifest,
        host_key,
        Some((file, &kept)),
    )
}

/// `manifest_path` and `host_key` are the target's own (under DIR for `--target-root DIR`).
/// `kept`: the plan `apply --plan FILE` runs, and FILE; then `layout_file` and `consent` are the
/// plan's, and `yes` is true.
pub fn run(
    ctx: &Context,
    layout_file: Option<&Path>,
    yes: bool,
    consent: &Consent,
    manifest_path: &Path,
    host_key: &Path,
    kept: Option<(&Path, &Kept)>,
) -> Outcome {
    let (root, target) = (&ctx.root, &ctx.target);
    let started_at = manifest::now_rfc3339();
    let layout = load_layout(layout_file)?;
    ctx.check_wipes(consent)?;
    // Checked before anything changes: a run that cannot sign its manifest does not start.
    let key = signing::load_host_key(host_key).map_err(Failure::unexpected)?;
    let tools = ctx.tools()?;
    let ZfsTools::Runner(runner) = &tools else {
        return Err(Failure::said(
            Exit::Usage,
            format!(
                "{}: no zfs-commands/ transcripts: apply needs ZFS tools",
                root.0.display()
            ),
        ));
    };
    // Asked to confirm, the admin sees where the run happens before the plan; with --yes, systemd
    // is asked while apply reads the host (its answer is only reported, and under emulation a
    // process costs tens of milliseconds), and the line still comes first on stdout.
    let mut situation = None;
    if !yes {
        let asked = ctx.situation(&tools);
        println!("situation: {asked}");
        situation = Some(asked);
        if !std::io::stdin().is_terminal() {
            return Err(Failure::said(
                Exit::Usage,
                format!(
                    "apply changes disks: without a terminal to confirm on, add --yes (`{}`)",
                    remedy::APPLY_YES
                ),
            ));
        }
        let pending = Journal::of(&target.files(root)).load_or_none();
        match assess(
            root,
            target,
            &layout,
            phoenix_zfs::assess::ZfsSource::Tools(runner.as_ref()),
            consent,
            &pending,
            None,
        ) {
            Ok(a) if a.plan.blockers.is_empty() && !a.plan.actions.is_empty() => {
                crate::render::plan(&a, &ctx.remedies);
                if !confirm(&a.plan.confirmation()) {
                    eprintln!("phoenix-zfs: nothing changed");
                    return Ok(Exit::Done);
                }
            }
            Ok(_) => {}
            Err(e) => return Err(Failure::unexpected(e)),
        }
    }
    let journal = Journal::of(&target.files(root));
    // A kept plan runs only on the host it was made from: its first round is the reading it was
    // checked against. Refused, the run writes nothing, not even a manifest: the host and its
    // last manifest are as they were.
    let mut read = None;
    if let Some((file, kept)) = kept {
        let zfs = phoenix_zfs::assess::ZfsSource::Tools(runner.as_ref());
        let pending = journal.load_or_none();
        let a = assess(root, target, &layout, zfs, consent, &pending, None)
            .map_err(Failure::unexpected)?;
        let stale = kept.stale(&a);
        if !stale.is_empty() {
            super::kept::refuse(ctx, file, kept, &stale);
            return Ok(Exit::Differs);
        }
        read = Some(a);
    }
    let mut reporter = crate::progress::Reporter::for_stderr();
    let (situation, report) = std::thread::scope(|scope| {
        let situation = match situation {
            Some(asked) => Err(asked),
            None => Ok(scope.spawn(|| ctx.situation(&tools))),
        };
        let inputs = apply::Inputs {
            root,
            target,
            layout: &layout,
            runner: runner.as_ref(),
            consent,
            journal: &journal,
        };
        let report = apply::apply_from(read, &inputs, &mut reporter);
        let situation = match situation {
            Err(asked) => asked,
            Ok(asking) => {
                let asked = asking
                    .join()
                    .unwrap_or_else(|p| std::panic::resume_unwind(p));
                println!("situation: {asked}");
                asked
            }
        };
        (situation, report)
    });
    // Ends a status line the run left open, before the lines below.
    drop(reporter);
    let source = layout_file.map_or_else(
        || "<default layout>".to_string(),
        |p| p.display().to_string(),
    );
    let run = RunInfo {
        command: "apply",
        started_at,
        layout_source: &source,
        layout: &layout,
        host: manifest::host_identity(&target.files(root), Some(&key)),
        baselines: manifest::previous_baselines(manifest_path),
        situation,
    };
    let record = manifest::from_report(run, &report);
    let flag = manifest_path.with_file_name("deferred");
    for problem in deferred::record(&target.files(root), &flag, &record.services.deferred) {
        print_error(&Report(&problem).to_string());
    }
    let exit = report.ending.exit();
    let matches = if record.services.deferred.is_empty() {
        "the host matches the layout".to_string()
    } else {
        format!(
            "the pools and datasets match the layout; {} step(s) deferred",
            record.services.deferred.len()
        )
    };
    match &report.ending {
        Ending::Converged { changed: true } => {
            println!("done: {} action(s); {matches}", report.actions.len())
        }
        Ending::Converged { changed: false } => println!("nothing to do: {matches}"),
        Ending::Refused { blockers, .. } => {
            for b in blockers {
                crate::render::refusal(b, &ctx.remedies);
            }
            // An earlier round of this run may have changed the host before the refusal.
            if report.actions.is_empty() {
                println!("nothing was changed");
            } else {
                println!(
                    "before this refusal, this run did {} action(s):",
                    report.actions.len()
                );
                for a in &report.actions {
                    println!("  {:?}: {}", a.result, a.summary);
                }
            }
        }
        Ending::Failed { reasons } | Ending::Unexpected { reasons } => {
            for r in reasons {
                println!("failed: {}", ctx.remedies.carry(r));
            }
            if exit == Exit::CommandFailed {
                println!(
                    "a rerun of `{}` resumes from here",
                    ctx.remedies.carry(remedy::APPLY)
                );
            }
        }
    }
    for d in &record.services.deferred {
        println!("deferred: {}: {}", d.subject, ctx.remedies.carry(&d.why));
    }
    if !record.services.deferred.is_empty() {
        match target {
            Target::RunningSystem => println!(
                "phoenix-zfs-deferred.service finishes the deferred steps at the next boot; `{}` does them by hand",
                remedy::APPLY
            ),
            Target::MountedRoot { dir, .. } => println!(
                "phoenix-zfs-deferred.service, enabled under {}, finishes the deferred steps at the installed system's next boot",
                dir.display()
            ),
        }
    }
    if let Err(e) = manifest::write_signed(&record, manifest_path, &key) {
        // The run's own exit says more than the manifest's; a done run without one is not done.
        let exit = if exit.is_done() {
            Exit::Unexpected
        } else {
            exit
        };
        return Err(Failure::new(exit, &e));
    }
    println!("manifest: {} (signed)", manifest_path.display());
    Ok(exit)
}
