//! The binary started as Proxmox's first-boot hook
//! (`/var/lib/proxmox-first-boot/proxmox-first-boot ORDERING`) instead of as `phoenix-zfs`:
//! it then runs `firstboot`, whatever else the command line says.

use std::path::Path;

/// The ordering the installer started this binary with, `Some(None)` when started under the
/// hook's name without one, `None` when this is not the hook.
pub fn started_as_proxmox_hook() -> Option<Option<String>> {
    let mut args = std::env::args();
    hook_call(&args.next().unwrap_or_default(), args.next())
}

/// What [`started_as_proxmox_hook`] decides from argv0 and the first argument. Only an
/// installer's ordering, or the hook's name with no argument at all, starts the first boot:
/// anything else (`--help`, `--version`) is an ordinary command line for clap.
fn hook_call(argv0: &str, first: Option<String>) -> Option<Option<String>> {
    let named_as_hook = Path::new(argv0)
        .file_name()
        .is_some_and(|n| n == "proxmox-first-boot");
    match first {
        Some(arg) if phoenix_zfs::formats::proxmox::hook::is_ordering(&arg) => Some(Some(arg)),
        None if named_as_hook => Some(None),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::hook_call;

    const HOOK: &str = "/var/lib/proxmox-first-boot/proxmox-first-boot";

    #[test]
    fn only_an_ordering_or_no_argument_starts_the_first_boot() {
        assert_eq!(
            hook_call(HOOK, Some("fully-up".into())),
            Some(Some("fully-up".into()))
        );
        assert_eq!(hook_call(HOOK, None), Some(None));
        assert_eq!(hook_call("phoenix-zfs", None), None);
        for asking in ["--help", "-h", "--version", "-V", "help"] {
            assert_eq!(hook_call(HOOK, Some(asking.into())), None, "{asking}");
        }
    }
}
