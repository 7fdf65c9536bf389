//! `phoenix-zfs firstboot`, also run as Proxmox's first-boot hook: installs the binary, applies
//! the embedded layout without asking, and leaves a notice where an administrator looks when the
//! host is not done. `--root DIR` puts all of it under DIR (a host tree, as every command reads
//! one); `--dry-run` says what it would do and does none of it.

use crate::context::{Context, Need};
use crate::failure::{print_error, Outcome};
use phoenix_zfs::apply::{deferred, journal};
use phoenix_zfs::exit::Exit;
use phoenix_zfs::host::root::HostRoot;
use phoenix_zfs::manifest::{self, signature_path, signing};
use phoenix_zfs::plan::{Action, Consent};
use phoenix_zfs::remedy;
use phoenix_zfs::report::Report;
use std::path::Path;

/// Where an administrator looks first after a failed first boot: the console login banner
/// (agetty reads /etc/issue.d) and the message of the day after login (pam_motd reads /etc/motd.d).
const NOTICES: [&str; 2] = ["/etc/issue.d/phoenix-zfs.issue", "/etc/motd.d/phoenix-zfs"];
/// The first boot, unattended: install, apply with --yes on the embedded layout, and leave a
/// notice where an administrator will see it if the host is not done. Exits 0 only when done,
/// so Proxmox's first-boot unit keeps its flag and runs this again at the next boot otherwise.
/// `ordering` is the installer's (`fully-up`, ...) when started as its hook: the notice names
/// that ordering's unit. `ctx` is the running system's (main refuses `--target-root` here); each
/// file it writes goes under its root, `/` but for `--root DIR`.
/// Prints its own errors, so that the apply's come before the notice, as they happened.
pub fn run(ctx: &Context, ordering: Option<&str>) -> Exit {
    let files = &ctx.root;
    // Neither is fatal: the host can still be provisioned; rescue reruns and deferred work just
    // need them put in place by hand.
    for installed in [
        deferred::install_self(files),
        deferred::install_deferred_unit(files),
    ] {
        if let Err(e) = installed {
            print_error(&Report(&e).to_string());
        }
    }
    let manifest_path = files.path(manifest::DEFAULT_PATH);
    let key = files.path(manifest::DEFAULT_HOST_KEY);
    // apply's own error would offer its --host-key, which the first boot does not take.
    let exit = if !key.exists() {
        print_error(&key_missing(files, &key));
        Exit::Unexpected
    } else {
        super::apply::run(
            ctx,
            None,
            true,
            &Consent::default(),
            &manifest_path,
            &key,
            None,
        )
        .unwrap_or_else(|failure| {
            print_error(&failure.message);
            failure.exit
        })
    };
    let notices = NOTICES.map(|notice| files.path(notice));
    if exit.is_done() {
        for notice in notices {
            let _ = std::fs::remove_file(notice);
        }
        return Exit::Done;
    }
    let text = format!(
        "phoenix-zfs: the first boot did not finish the storage layout (exit {}).\n\
         Read `{}` and {}, fix the cause,\n\
         then {}.\n",
        exit.code(),
        phoenix_zfs::formats::proxmox::hook::log_command(ordering),
        manifest_path.display(),
        remedy::AFTER_FIRST_BOOT
    );
    for notice in notices {
        if let Err(e) = notice
            .parent()
            .map_or(Ok(()), std::fs::create_dir_all)
            .and_then(|()| std::fs::write(&notice, &text))
        {
            print_error(&format!(
                "cannot write {}: {}",
                notice.display(),
                Report(&e)
            ));
        }
    }
    eprint!("{text}");
    exit
}

/// `firstboot --dry-run`: each file the first boot would install and write, by the path `run`
/// gives it, and the plan of its apply as `plan` prints it; changes nothing. Exits as `plan`
/// does, or 1 when the host key would stop the first boot before its apply.
pub fn dry_run(ctx: &Context) -> Outcome {
    let files = &ctx.root;
    let at = |path: &str| files.path(path).display().to_string();
    let notices = NOTICES.map(at).join(" and ");
    println!(
        "firstboot --dry-run: nothing is changed; the first boot would\n\
         install {} (this binary)\n\
         install {}, enabled by the link {}",
        at(deferred::INSTALLED_BINARY),
        at(deferred::DEFERRED_UNIT),
        at(deferred::DEFERRED_UNIT_WANTS)
    );
    let key = files.path(manifest::DEFAULT_HOST_KEY);
    if let Err(e) = signing::load_host_key(&key) {
        let why = match e {
            signing::SigningError::KeyMissing { .. } => key_missing(files, &key),
            other => Report(&other).to_string(),
        };
        return stopped(&why, &notices);
    }
    let (a, situation) = ctx.assess(None, &Consent::default(), Need::Plan)?;
    println!(
        "run `{}` with the embedded layout, whose plan is:\nsituation: {situation}",
        remedy::APPLY_YES
    );
    crate::render::plan(&a, &ctx.remedies);
    let manifest_path = files.path(manifest::DEFAULT_PATH);
    if a.plan
        .actions
        .iter()
        .any(|x| matches!(x, Action::CreatePool { .. }))
    {
        println!(
            "write {} before each `zpool create` (the journal of pools being made)",
            at(journal::PATH)
        );
    }
    if !a.plan.deferred.is_empty() {
        println!(
            "write {} (the deferred steps, for phoenix-zfs-deferred.service)",
            manifest_path.with_file_name("deferred").display()
        );
    }
    println!(
        "write {} and {} (signed with {})\n\
         remove {notices} when apply is done; otherwise write them: the notice that says what to do",
        manifest_path.display(),
        signature_path(&manifest_path).display(),
        key.display()
    );
    Ok(a.plan.exit().unwrap_or(Exit::Done))
}

/// The first boot's word for a missing host key: it takes no `--host-key`, so what it advises
/// makes the key where the first boot looks for it, then runs the first boot again.
fn key_missing(files: &HostRoot, key: &Path) -> String {
    format!(
        "host key {} does not exist: create it with `{}`, then `{}`",
        key.display(),
        remedy::make_host_key(&files.0),
        remedy::firstboot(&files.0)
    )
}

/// The dry run's end when the first boot would stop before its apply: why, and the notice.
fn stopped(why: &str, notices: &str) -> Outcome {
    println!("stop: {why}\nwrite {notices}: the notice that the first boot did not finish");
    Ok(Exit::Unexpected)
}
