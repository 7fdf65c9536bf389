//! Where phoenix-zfs runs, said at the top of `plan` and `apply` and kept in the manifest: a
//! normally booted host, a host in systemd's rescue or emergency target (no network, no pmxcfs,
//! pools perhaps not imported), a live rescue system working on an installed root
//! (`--target-root`), or a host tree read with `--root`. What a situation cannot
//! do is found by the services themselves (host/services.rs) and deferred; this only names it.

use crate::runner::Runner;
use serde::Serialize;
use std::fmt;
use std::time::Duration;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Situation {
    NormalHost,
    /// systemd's rescue.target or emergency.target is active.
    RescueTarget {
        target: String,
    },
    /// A live rescue system provisioning the installed system mounted at `target_root`
    /// (`--target-root`).
    LiveSystem {
        target_root: String,
        /// The pools are exported at the end (no `--keep-imported`).
        exports_pools: bool,
    },
    /// `--root DIR`: a host tree, recorded by `debug snapshot-host` or synthesized from a spec,
    /// not the one phoenix-zfs runs on. The manifest names it `recorded-host`, as manifests
    /// already signed do.
    RecordedHost {
        root: String,
    },
}

impl fmt::Display for Situation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Situation::NormalHost => f.write_str("normal host"),
            Situation::RescueTarget { target } => write!(
                f,
                "{target} (single-user mode): pools are imported and converged; Proxmox storages and NFS exports wait for the next normal boot"
            ),
            Situation::LiveSystem {
                target_root,
                exports_pools,
            } => write!(
                f,
                "live system, installed root at {target_root}: pools are imported under {target_root}{}; Proxmox storages and NFS exports wait for the installed system's next boot",
                if *exports_pools {
                    " and exported at the end"
                } else {
                    " and left imported (--keep-imported)"
                }
            ),
            Situation::RecordedHost { root } => write!(f, "host tree under {root}"),
        }
    }
}

/// `systemctl is-active rescue.target emergency.target`: one state per line, in that order.
fn is_active_argv() -> Vec<String> {
    [
        "systemctl",
        "is-active",
        "rescue.target",
        "emergency.target",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

/// The situation of the live host. A host where systemd cannot be asked is taken as normal:
/// the services then find for themselves what is missing.
pub fn detect(runner: &dyn Runner) -> Situation {
    let argv = is_active_argv();
    let Ok(out) = runner.run(&argv, Duration::from_secs(10)) else {
        return Situation::NormalHost;
    };
    parse_is_active(&out.stdout)
}

fn parse_is_active(stdout: &str) -> Situation {
    ["rescue.target", "emergency.target"]
        .iter()
        .zip(stdout.lines())
        .find(|(_, state)| state.trim() == "active")
        .map_or(Situation::NormalHost, |(target, _)| {
            Situation::RescueTarget {
                target: target.to_string(),
            }
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_active_target_names_the_situation() {
        assert_eq!(
            parse_is_active("inactive\ninactive\n"),
            Situation::NormalHost
        );
        assert_eq!(
            parse_is_active("active\ninactive\n"),
            Situation::RescueTarget {
                target: "rescue.target".into()
            }
        );
        assert_eq!(
            parse_is_active("inactive\nactive\n"),
            Situation::RescueTarget {
                target: "emergency.target".into()
            }
        );
        assert_eq!(parse_is_active(""), Situation::NormalHost);
    }
}
