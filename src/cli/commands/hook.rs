//! The binary started as Proxmox's first-boot hook
//! (`/var/lib/proxmox-first-boot/proxmox-first-boot ORDERING`) instead of as `phoenix-zfs`:
//! it then runs `firstboot`, whatever else the command line says.

use std::path::Path;

/// The ordering the installer started this binary with, `Some(None)` when started under the
/// hook's name without one, `None` when this is not the hook.
pub fn started_as_proxmox_hook() -> Option<Option<String>> {
    let mut args = std::env::args();
    let argv0 = args.next().unwrap_or_default();
    let first = args.next();
    let named_as_hook = Path::new(&argv0)
        .file_name()
        .is_some_and(|n| n == "proxmox-first-boot");
    match first {
        Some(arg) if phoenix_zfs::formats::proxmox::hook::is_ordering(&arg) => Some(Some(arg)),
        None if named_as_hook => Some(None),
        _ => None,
    }
}
