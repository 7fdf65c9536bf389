//! The commands that change things or check signatures: apply and manifest verify.

use crate::{error, exit, load_layout, zfs_tools, ZfsTools};
use phoenix_zfs::apply::{self, deferred, Ending};
use phoenix_zfs::assess::assess;
use phoenix_zfs::inventory::HostRoot;
use phoenix_zfs::journal::Journal;
use phoenix_zfs::manifest::{self, signing, RunInfo};
use phoenix_zfs::plan::Consent;
use phoenix_zfs::target::Target;
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

/// `manifest_path` and `host_key` are the target's own (under DIR for `--target-root DIR`).
pub fn apply(
    root: &HostRoot,
    target: &Target,
    layout_file: Option<&Path>,
    yes: bool,
    consent: &Consent,
    manifest_path: &Path,
    host_key: &Path,
) -> u8 {
    let started_at = manifest::now_rfc3339();
    let layout = match load_layout(layout_file) {
        Ok(l) => l,
        Err(e) => {
            error(e);
            return exit::USAGE;
        }
    };
    // Checked before anything changes: a run that cannot sign its manifest does not start.
    let key = match signing::load_host_key(host_key) {
        Ok(k) => k,
        Err(e) => {
            error(e);
            return exit::UNEXPECTED;
        }
    };
    let tools = match zfs_tools(root) {
        Ok(t) => t,
        Err(code) => return code,
    };
    let ZfsTools::Runner(runner) = &tools else {
        error(format!(
            "{}: no zfs-commands/ transcripts: apply needs ZFS tools",
            root.0.display()
        ));
        return exit::USAGE;
    };
    // Asked to confirm, the admin sees where the run happens before the plan; with --yes, systemd
    // is asked while apply reads the host (its answer is only reported, and under emulation a
    // process costs tens of milliseconds), and the line still comes first on stdout.
    let mut situation = None;
    if !yes {
        let asked = crate::situation_of(root, target, &tools);
        println!("situation: {asked}");
        situation = Some(asked);
        if !std::io::stdin().is_terminal() {
            error("apply changes disks: without a terminal to confirm on, pass --yes");
            return exit::USAGE;
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
                crate::render::plan(&a);
                if !confirm(&format!("Apply these {} action(s)?", a.plan.actions.len())) {
                    eprintln!("phoenix-zfs: nothing changed");
                    return 0;
                }
            }
            Ok(_) => {}
            Err(e) => {
                error(e);
                return exit::UNEXPECTED;
            }
        }
    }
    let mut reporter = crate::progress::Reporter::for_stderr();
    let journal = Journal::of(&target.files(root));
    let (situation, report) = std::thread::scope(|scope| {
        let situation = match situation {
            Some(asked) => Err(asked),
            None => Ok(scope.spawn(|| crate::situation_of(root, target, &tools))),
        };
        let report = apply::apply(
            root,
            target,
            &layout,
            runner.as_ref(),
            consent,
            &journal,
            &mut reporter,
        );
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
        error(problem);
    }
    let code = report.ending.exit_code();
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
        Ending::Refused { reasons, .. } => {
            for r in reasons {
                println!("refused: {r}");
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
                println!("failed: {r}");
            }
            if code == 6 {
                println!("a rerun of `phoenix-zfs apply` resumes from here");
            }
        }
    }
    for d in &record.services.deferred {
        println!("deferred: {}: {}", d.subject, d.why);
    }
    if !record.services.deferred.is_empty() {
        match target {
            Target::RunningSystem => println!(
                "phoenix-zfs-deferred.service finishes the deferred steps at the next boot; `phoenix-zfs apply` does them by hand"
            ),
            Target::MountedRoot { dir, .. } => println!(
                "phoenix-zfs-deferred.service, enabled under {}, finishes the deferred steps at the installed system's next boot",
                dir.display()
            ),
        }
    }
    let w = manifest::write_signed(&record, manifest_path, &key);
    match w {
        Ok(()) => println!("manifest: {} (signed)", manifest_path.display()),
        Err(e) => {
            error(e);
            return if code == 0 { exit::UNEXPECTED } else { code };
        }
    }
    code
}

/// What `manifest verify` trusts, as given on the command line.
pub struct TrustAnchor<'a> {
    pub key: Option<&'a Path>,
    pub allowed_signers: Option<&'a Path>,
    pub trust_embedded_key: bool,
}

/// Checks each manifest and prints one line per host (or JSON), then the tally.
pub fn verify_manifests(files: &[std::path::PathBuf], trust: &TrustAnchor<'_>, json: bool) -> u8 {
    use manifest::allowed_signers::AllowedSigners;
    use manifest::fleet::{self, Anchor};
    let key = match trust
        .key
        .map(ssh_key::PublicKey::read_openssh_file)
        .transpose()
    {
        Ok(k) => k,
        Err(e) => {
            error(format!(
                "{}: not an OpenSSH public key: {e}",
                trust
                    .key
                    .map(|k| k.display().to_string())
                    .unwrap_or_default()
            ));
            return exit::USAGE;
        }
    };
    let signers = match trust.allowed_signers {
        None => None,
        Some(path) => match std::fs::read_to_string(path) {
            Ok(text) => match AllowedSigners::parse(&path.display().to_string(), &text) {
                Ok(s) => Some(s),
                Err(e) => {
                    error(e);
                    return exit::USAGE;
                }
            },
            Err(e) => {
                error(format!(
                    "cannot read the allowed signers {}: {e}",
                    path.display()
                ));
                return exit::USAGE;
            }
        },
    };
    let anchor = match (&signers, &key) {
        (Some(s), _) => Anchor::AllowedSigners(s),
        (None, Some(k)) => Anchor::Key(k),
        (None, None) => Anchor::Embedded {
            trusted: trust.trust_embedded_key,
        },
    };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let reports: Vec<fleet::Report> = files
        .iter()
        .map(|f| fleet::check(f, &anchor, now))
        .collect();
    let code = fleet::exit_code(&reports);
    if json {
        let value = serde_json::json!({
            "manifests": reports,
            "exit_code": code,
        });
        println!(
            "{}",
            serde_json::to_string_pretty(&value).unwrap_or_default()
        );
    } else {
        for r in &reports {
            println!("{}", r.line());
        }
        println!("{}", fleet::tally(&reports));
    }
    code
}

/// Where an administrator looks first after a failed first boot: the console login banner
/// (agetty reads /etc/issue.d) and the message of the day after login (pam_motd reads /etc/motd.d).
const NOTICES: [&str; 2] = ["/etc/issue.d/phoenix-zfs.issue", "/etc/motd.d/phoenix-zfs"];
/// The first boot, unattended: install, apply with --yes on the embedded layout, and leave a
/// notice where an administrator will see it if the host is not done. Exits 0 only when done,
/// so Proxmox's first-boot unit keeps its flag and runs this again at the next boot otherwise.
/// `ordering` is the installer's (`fully-up`, ...) when started as its hook: the notice names
/// that ordering's unit.
pub fn firstboot(root: &HostRoot, ordering: Option<&str>) -> u8 {
    // Neither is fatal: the host can still be provisioned; rescue reruns and deferred work just
    // need them put in place by hand.
    let live = HostRoot::live();
    for installed in [
        deferred::install_self(&live),
        deferred::install_deferred_unit(&live),
    ] {
        if let Err(e) = installed {
            error(e);
        }
    }
    let manifest_path = Path::new(manifest::DEFAULT_PATH);
    let code = apply(
        root,
        &Target::RunningSystem,
        None,
        true,
        &Consent::default(),
        manifest_path,
        Path::new(manifest::DEFAULT_HOST_KEY),
    );
    if code == 0 {
        for notice in NOTICES {
            let _ = std::fs::remove_file(notice);
        }
        return 0;
    }
    let text = format!(
        "phoenix-zfs: the first boot did not finish the storage layout (exit {code}).\n\
         Read `{}` and {}, fix the cause,\n\
         then run `phoenix-zfs plan` and `phoenix-zfs apply` (add --wipe SERIAL only for a drive you mean to erase).\n",
        phoenix_zfs::hook::log_command(ordering),
        manifest_path.display()
    );
    for notice in NOTICES {
        let path = Path::new(notice);
        if let Err(e) = path
            .parent()
            .map_or(Ok(()), std::fs::create_dir_all)
            .and_then(|()| std::fs::write(path, &text))
        {
            error(format!("cannot write {notice}: {e}"));
        }
    }
    eprint!("{text}");
    code
}
