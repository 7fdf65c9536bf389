//! The scenario file format of qemu-tests/README.md, parsed and checked before any boot.

use anyhow::{bail, Context, Result};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    pub description: String,
    #[serde(default)]
    pub layout: Option<PathBuf>,
    #[serde(rename = "drive")]
    pub drives: Vec<Drive>,
    #[serde(rename = "boot")]
    pub boots: Vec<Boot>,
    #[serde(default)]
    pub expect: Expect,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Content {
    #[default]
    Blank,
    Ext4,
    Gpt,
    ZfsLabel,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Drive {
    pub serial: String,
    pub size: u64,
    #[serde(default = "default_lbs")]
    pub logical_block_size: u32,
    #[serde(default)]
    pub model: Option<String>,
    #[serde(default)]
    pub content: Content,
    /// The drive is plugged in from this boot on (1-based); earlier boots do not see it.
    #[serde(default = "first_boot")]
    pub attached_from_boot: usize,
    /// The drive is unplugged from this boot on (1-based); absent: it stays to the end.
    #[serde(default)]
    pub detached_from_boot: Option<usize>,
}

impl Drive {
    /// Whether the drive is plugged in during boot `boot` (1-based).
    pub fn present_in(&self, boot: usize) -> bool {
        self.attached_from_boot <= boot && self.detached_from_boot.is_none_or(|d| boot < d)
    }
}

fn first_boot() -> usize {
    1
}

fn default_lbs() -> u32 {
    512
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Boot {
    #[serde(default)]
    pub firstboot_unit: bool,
    /// Boot a live rescue system (another copy of the guest image) with the installed system's
    /// disk attached as /dev/disk/by-id/virtio-phx-root, not mounted.
    #[serde(default)]
    pub live_system: bool,
    #[serde(default, rename = "step")]
    pub steps: Vec<Step>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Step {
    pub run: Vec<String>,
    #[serde(default)]
    pub exit: i32,
    #[serde(default)]
    pub unchanged: bool,
    #[serde(default)]
    pub mutating_commands: Option<usize>,
    #[serde(default)]
    pub zfs_commands_at_most: Option<usize>,
    #[serde(default)]
    pub stdout_contains: Vec<String>,
    #[serde(default)]
    pub power_cut_after_action: Option<u32>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Expect {
    #[serde(default)]
    pub pools: Option<Vec<String>>,
    #[serde(default)]
    pub datasets: Option<usize>,
    #[serde(default)]
    pub untouched: Vec<String>,
    #[serde(default)]
    pub all_untouched: bool,
    #[serde(default)]
    pub pool: BTreeMap<String, PoolExpect>,
    #[serde(default)]
    pub dataset: BTreeMap<String, BTreeMap<String, String>>,
    #[serde(default)]
    pub manifest: Option<ManifestExpect>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PoolExpect {
    #[serde(default)]
    pub vdev: Option<String>,
    #[serde(default)]
    pub drives: Option<Vec<String>>,
    #[serde(default)]
    pub properties: BTreeMap<String, String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ManifestExpect {
    #[serde(default)]
    pub outcome: Option<String>,
    #[serde(default)]
    pub exit_code: Option<u8>,
    #[serde(default)]
    pub ssh_keygen_verify: bool,
    #[serde(default)]
    pub drive_roles: BTreeMap<String, String>,
    #[serde(default)]
    pub firmware_verdicts: BTreeMap<String, String>,
    /// Serials whose drives[].health (baseline and current reading) must be filled in.
    #[serde(default)]
    pub health: Vec<String>,
    /// services.storages[].id, exactly, in any order.
    #[serde(default)]
    pub storages: Option<Vec<String>>,
    /// services.exports[].dataset, exactly, in any order.
    #[serde(default)]
    pub exports: Option<Vec<String>>,
    /// The number of services.deferred entries.
    #[serde(default)]
    pub deferred: Option<usize>,
    /// Per pool, text its pools[].scan (zpool status's scan line) must contain.
    #[serde(default)]
    pub pool_scans: BTreeMap<String, String>,
}

impl Scenario {
    pub fn load(path: &Path) -> Result<Scenario> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read {}", path.display()))?;
        let scenario: Scenario =
            toml::from_str(&text).with_context(|| format!("{}", path.display()))?;
        scenario
            .check()
            .with_context(|| format!("{}", path.display()))?;
        Ok(scenario)
    }

    fn check(&self) -> Result<()> {
        if self.drives.is_empty() {
            bail!("a scenario needs at least one [[drive]]");
        }
        if self.boots.is_empty() {
            bail!("a scenario needs at least one [[boot]]");
        }
        let mut serials = std::collections::BTreeSet::new();
        for d in &self.drives {
            if !serials.insert(d.serial.as_str()) {
                bail!("drive serial {} appears twice", d.serial);
            }
            if d.logical_block_size != 512 && d.logical_block_size != 4096 {
                bail!("drive {}: logical_block_size must be 512 or 4096", d.serial);
            }
            if let Some(detached) = d.detached_from_boot {
                if detached <= d.attached_from_boot {
                    bail!(
                        "drive {}: detached_from_boot ({detached}) must come after attached_from_boot ({})",
                        d.serial,
                        d.attached_from_boot
                    );
                }
            }
        }
        for (b, boot) in self.boots.iter().enumerate() {
            for (s, step) in boot.steps.iter().enumerate() {
                let at = format!("boot {} step {}", b + 1, s + 1);
                if step.run.is_empty() {
                    bail!("{at}: run is empty");
                }
                if step.power_cut_after_action.is_some() {
                    if step.run.get(..2)
                        != Some(&["phoenix-zfs".to_string(), "apply".to_string()][..])
                    {
                        bail!("{at}: power_cut_after_action needs a `phoenix-zfs apply` step");
                    }
                    if s + 1 != boot.steps.len() {
                        bail!("{at}: the power is cut here, so no step may follow it in this boot");
                    }
                }
            }
        }
        let named = |s: &String| serials.contains(s.as_str());
        for s in self.expect.untouched.iter().chain(
            self.expect
                .pool
                .values()
                .flat_map(|p| p.drives.iter().flatten()),
        ) {
            if !named(s) {
                bail!("[expect] names drive {s}, which is not a [[drive]] of this scenario");
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_shipped_scenario_parses() {
        let dir = crate::util::workspace_root().join("qemu-tests/scenarios");
        let mut n = 0;
        for entry in std::fs::read_dir(&dir).unwrap().flatten() {
            if entry.path().extension().is_some_and(|e| e == "toml") {
                Scenario::load(&entry.path()).unwrap();
                n += 1;
            }
        }
        assert!(n >= 9, "only {n} scenarios in {}", dir.display());
    }

    #[test]
    fn a_drive_is_present_from_its_attaching_boot_until_its_detaching_one() {
        let text = r#"
description = "x"
[[drive]]
serial = "A"
size = 1048576
attached_from_boot = 2
detached_from_boot = 3
[[boot]]
"#;
        let s: Scenario = toml::from_str(text).unwrap();
        s.check().unwrap();
        let presence: Vec<bool> = (1..=4).map(|b| s.drives[0].present_in(b)).collect();
        assert_eq!(presence, [false, true, false, false]);
        let backwards = text.replace("detached_from_boot = 3", "detached_from_boot = 2");
        let s: Scenario = toml::from_str(&backwards).unwrap();
        assert!(s
            .check()
            .unwrap_err()
            .to_string()
            .contains("must come after"));
    }

    #[test]
    fn a_power_cut_must_end_its_boot() {
        let text = r#"
description = "x"
[[drive]]
serial = "A"
size = 1048576
[[boot]]
[[boot.step]]
run = ["phoenix-zfs", "apply", "--yes"]
power_cut_after_action = 1
[[boot.step]]
run = ["true"]
"#;
        let s: Scenario = toml::from_str(text).unwrap();
        assert!(s
            .check()
            .unwrap_err()
            .to_string()
            .contains("no step may follow"));
    }
}
