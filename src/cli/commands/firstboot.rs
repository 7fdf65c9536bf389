//! `phoenix-zfs firstboot`, also run as Proxmox's first-boot hook: installs the binary, applies
//! the embedded layout without asking, and leaves a notice where an administrator looks when the
//! host is not done.

use crate::context::Context;
use crate::failure::print_error;
use phoenix_zfs::apply::deferred;
use phoenix_zfs::exit::Exit;
use phoenix_zfs::host::inventory::HostRoot;
use phoenix_zfs::manifest;
use phoenix_zfs::plan::Consent;
use phoenix_zfs::remedy;
use std::path::Path;

/// Where an administrator looks first after a failed first boot: the console login banner
/// (agetty reads /etc/issue.d) and the message of the day after login (pam_motd reads /etc/motd.d).
const NOTICES: [&str; 2] = ["/etc/issue.d/phoenix-zfs.issue", "/etc/motd.d/phoenix-zfs"];
/// The first boot, unattended: install, apply with --yes on the embedded layout, and leave a
/// notice where an administrator will see it if the host is not done. Exits 0 only when done,
/// so Proxmox's first-boot unit keeps its flag and runs this again at the next boot otherwise.
/// `ordering` is the installer's (`fully-up`, ...) when started as its hook: the notice names
/// that ordering's unit. `ctx` is the running system's (main refuses `--target-root` here).
/// Prints its own errors, so that the apply's come before the notice, as they happened.
pub fn run(ctx: &Context, ordering: Option<&str>) -> Exit {
    // Neither is fatal: the host can still be provisioned; rescue reruns and deferred work just
    // need them put in place by hand.
    let live = HostRoot::live();
    for installed in [
        deferred::install_self(&live),
        deferred::install_deferred_unit(&live),
    ] {
        if let Err(e) = installed {
            print_error(e);
        }
    }
    let manifest_path = Path::new(manifest::DEFAULT_PATH);
    let exit = super::apply::run(
        ctx,
        None,
        true,
        &Consent::default(),
        manifest_path,
        Path::new(manifest::DEFAULT_HOST_KEY),
        None,
    )
    .unwrap_or_else(|failure| {
        print_error(&failure.message);
        failure.exit
    });
    if exit.is_done() {
        for notice in NOTICES {
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
    for notice in NOTICES {
        let path = Path::new(notice);
        if let Err(e) = path
            .parent()
            .map_or(Ok(()), std::fs::create_dir_all)
            .and_then(|()| std::fs::write(path, &text))
        {
            print_error(format!("cannot write {notice}: {e}"));
        }
    }
    eprint!("{text}");
    exit
}
