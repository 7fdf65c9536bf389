//! The commands that change things or check signatures: apply and manifest verify.

use crate::{error, exit, load_layout, zfs_tools, ZfsTools};
use phoenix_zfs::apply::{self, Ending};
use phoenix_zfs::assess::assess;
use phoenix_zfs::inventory::HostRoot;
use phoenix_zfs::journal::Journal;
use phoenix_zfs::manifest::{self, signing, RunInfo};
use phoenix_zfs::plan::Consent;
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

pub fn apply(
    root: &HostRoot,
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
    let situation = crate::situation_of(root, &tools);
    println!("situation: {situation}");
    if !yes {
        if !std::io::stdin().is_terminal() {
            error("apply changes disks: without a terminal to confirm on, pass --yes");
            return exit::USAGE;
        }
        let pending = Journal::beside(manifest_path).load().unwrap_or_default();
        match assess(
            root,
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
    let journal = Journal::beside(manifest_path);
    let report = apply::apply(
        root,
        &layout,
        runner.as_ref(),
        consent,
        &journal,
        &mut reporter,
    );
    let source = layout_file.map_or_else(
        || "<default layout>".to_string(),
        |p| p.display().to_string(),
    );
    let run = RunInfo {
        command: "apply",
        started_at,
        layout_source: &source,
        layout: &layout,
        host: manifest::host_identity(Some(&key)),
        baselines: manifest::previous_baselines(manifest_path),
        situation,
    };
    let record = manifest::from_report(run, &report);
    mark_deferred(manifest_path, &record.services.deferred);
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
        println!(
            "phoenix-zfs-deferred.service finishes the deferred steps at the next boot; `phoenix-zfs apply` does them by hand"
        );
    }
    match manifest::write_signed(&record, manifest_path, &key) {
        Ok(()) => println!("manifest: {} (signed)", manifest_path.display()),
        Err(e) => {
            error(e);
            return if code == 0 { exit::UNEXPECTED } else { code };
        }
    }
    code
}

pub fn verify_manifest(file: &Path, key: Option<&Path>) -> u8 {
    let trusted = match key.map(ssh_key::PublicKey::read_openssh_file).transpose() {
        Ok(k) => k,
        Err(e) => {
            error(format!(
                "{}: not an OpenSSH public key: {e}",
                key.map(|k| k.display().to_string()).unwrap_or_default()
            ));
            return exit::USAGE;
        }
    };
    match manifest::verify_file(file, trusted.as_ref()) {
        Ok(v) => {
            let how = if v.signature.trusted_key {
                "the given key"
            } else {
                "the key inside the signature (pass --key to check who signed)"
            };
            println!(
                "{}: good signature by {} ({how}); outcome {}",
                file.display(),
                v.signature.fingerprint,
                v.outcome
            );
            0
        }
        Err(e) => {
            error(e);
            exit::UNEXPECTED
        }
    }
}

/// While a run left work for later, a flag beside the manifest lists it, and
/// phoenix-zfs-deferred.service runs apply at the next boot; a run with nothing deferred removes it.
fn mark_deferred(manifest_path: &Path, deferred: &[phoenix_zfs::plan::Deferred]) {
    let flag = manifest_path.with_file_name("deferred");
    if !deferred.is_empty() {
        // Whatever ran this (by hand, from a rescue shell), the next boot finishes the work.
        if let Err(e) = install_deferred_unit() {
            error(e);
        }
    }
    let result = if deferred.is_empty() {
        match std::fs::remove_file(&flag) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            other => other,
        }
    } else {
        let text: String = deferred
            .iter()
            .map(|d| format!("{}: {}\n", d.subject, d.why))
            .collect();
        phoenix_zfs::atomic_file::write_atomically(&flag, text.as_bytes())
    };
    if let Err(e) = result {
        error(format!("cannot update {}: {e}", flag.display()));
    }
}

/// The unit that finishes deferred work at the next boot, installed with the binary.
const DEFERRED_UNIT: (&str, &str) = (
    "/etc/systemd/system/phoenix-zfs-deferred.service",
    include_str!("../firstboot/phoenix-zfs-deferred.service"),
);
const DEFERRED_UNIT_WANTS: &str =
    "/etc/systemd/system/multi-user.target.wants/phoenix-zfs-deferred.service";

/// Installs and enables phoenix-zfs-deferred.service, the way `systemctl enable` would.
fn install_deferred_unit() -> Result<(), String> {
    let (path, text) = DEFERRED_UNIT;
    phoenix_zfs::atomic_file::write_atomically(Path::new(path), text.as_bytes())
        .map_err(|e| format!("cannot install {path}: {e}"))?;
    let wants = Path::new(DEFERRED_UNIT_WANTS);
    if wants.symlink_metadata().is_ok() {
        return Ok(());
    }
    wants
        .parent()
        .map_or(Ok(()), std::fs::create_dir_all)
        .and_then(|()| std::os::unix::fs::symlink(path, wants))
        .map_err(|e| format!("cannot enable {path}: {e}"))
}

/// Where an administrator looks first after a failed first boot: the console login banner
/// (agetty reads /etc/issue.d) and the message of the day after login (pam_motd reads /etc/motd.d).
const NOTICES: [&str; 2] = ["/etc/issue.d/phoenix-zfs.issue", "/etc/motd.d/phoenix-zfs"];
pub const INSTALLED_BINARY: &str = "/usr/local/sbin/phoenix-zfs";

/// Copies the running binary to /usr/local/sbin for rescue reruns, unless it already runs from there.
fn install_self() -> Result<(), String> {
    let me = std::fs::read_link("/proc/self/exe")
        .map_err(|e| format!("cannot find the running binary: {e}"))?;
    let target = Path::new(INSTALLED_BINARY);
    if me == target {
        return Ok(());
    }
    let bytes = std::fs::read(&me).map_err(|e| format!("cannot read {}: {e}", me.display()))?;
    phoenix_zfs::atomic_file::write_atomically(target, &bytes)
        .map_err(|e| format!("cannot install {INSTALLED_BINARY}: {e}"))?;
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(target, std::fs::Permissions::from_mode(0o755))
        .map_err(|e| format!("cannot make {INSTALLED_BINARY} executable: {e}"))
}

/// The first boot, unattended: install, apply with --yes on the embedded layout, and leave a
/// notice where an administrator will see it if the host is not done. Exits 0 only when done,
/// so Proxmox's first-boot unit keeps its flag and runs this again at the next boot otherwise.
pub fn firstboot(root: &HostRoot) -> u8 {
    // Neither is fatal: the host can still be provisioned; rescue reruns and deferred work just
    // need them put in place by hand.
    for installed in [install_self(), install_deferred_unit()] {
        if let Err(e) = installed {
            error(e);
        }
    }
    let manifest_path = Path::new(manifest::DEFAULT_PATH);
    let code = apply(
        root,
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
         Read `journalctl -b -u phoenix-zfs-firstboot -u proxmox-first-boot` and {}, fix the cause,\n\
         then run `phoenix-zfs plan` and `phoenix-zfs apply` (add --wipe SERIAL only for a drive you mean to erase).\n",
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
