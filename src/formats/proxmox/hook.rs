//! Proxmox's first-boot hook as systemd runs it: the ordering argument the installer passes, the
//! unit that runs each, and the log command a failure notice names.
//!
//! proxmox-first-boot.service is only an `Alias=` of the installer's units
//! (pve-installer, proxmox-first-boot-{network-pre,network-online,multi-user}.service), and
//! `journalctl -u` matches the unit a message was logged under, never an alias: a notice that
//! names the alias shows an empty log. So the notice names the unit that ran.

/// The installer starts the hook as `/var/lib/proxmox-first-boot/proxmox-first-boot ORDERING`;
/// each ordering has its own unit.
pub const ORDERINGS: [(&str, &str); 3] = [
    ("before-network", "proxmox-first-boot-network-pre.service"),
    (
        "network-online",
        "proxmox-first-boot-network-online.service",
    ),
    ("fully-up", "proxmox-first-boot-multi-user.service"),
];

/// The unit for hosts installed without the installer's hook (firstboot/).
pub const OWN_UNIT: &str = "phoenix-zfs-firstboot.service";

/// Whether `arg` is an ordering the installer passes.
pub fn is_ordering(arg: &str) -> bool {
    ORDERINGS.iter().any(|(o, _)| *o == arg)
}

/// The `journalctl` command that shows this boot's first-boot log. `ordering` is the one this
/// run was started with; without it (run as `phoenix-zfs firstboot`, or an ordering unknown to
/// this build) every unit that can have run it is named, since naming a unit that did not run
/// costs nothing and missing the one that did hides the log.
pub fn log_command(ordering: Option<&str>) -> String {
    let installer: Vec<&str> = match ORDERINGS.iter().find(|(o, _)| Some(*o) == ordering) {
        Some((_, unit)) => vec![unit],
        None => ORDERINGS.iter().map(|(_, unit)| *unit).collect(),
    };
    let mut command = format!("journalctl -b -u {OWN_UNIT}");
    for unit in installer {
        command.push_str(" -u ");
        command.push_str(unit);
    }
    command
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_notice_names_the_unit_that_ran_never_the_alias() {
        assert_eq!(
            log_command(Some("fully-up")),
            "journalctl -b -u phoenix-zfs-firstboot.service -u proxmox-first-boot-multi-user.service"
        );
        assert_eq!(
            log_command(Some("before-network")),
            "journalctl -b -u phoenix-zfs-firstboot.service -u proxmox-first-boot-network-pre.service"
        );
        let all = log_command(None);
        for unit in [
            "phoenix-zfs-firstboot.service",
            "proxmox-first-boot-multi-user.service",
            "proxmox-first-boot-network-online.service",
            "proxmox-first-boot-network-pre.service",
        ] {
            assert!(all.contains(&format!("-u {unit}")), "{all}");
        }
        for command in [all, log_command(Some("fully-up"))] {
            assert!(!command.contains("proxmox-first-boot "), "{command}");
            assert!(!command.contains("proxmox-first-boot.service"), "{command}");
        }
    }

    #[test]
    fn orderings_are_the_installers() {
        assert!(is_ordering("fully-up"));
        assert!(is_ordering("network-online"));
        assert!(!is_ordering("multi-user"));
    }
}
