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

/// What a drive holds before the first boot's steps (qemu-tests/README.md lists them).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Content {
    #[default]
    Blank,
    Ext4,
    Gpt,
    ZfsLabel,
    Fat32,
    Exfat,
    NtfsInGpt,
    LvmPv,
    Luks2,
    #[serde(rename = "md-1.0")]
    Md10,
    ZfsPool,
}

impl Content {
    /// Whether the guest writes this content (at the start of the first boot, before any step)
    /// rather than the host onto the backing file. The host writes only what its own packages
    /// (xtask/src/guest/host_packages.rs TOOLS) can make on a plain file; the rest needs the guest's
    /// kernel (ZFS, device-mapper, md) or tools only the guest image carries.
    pub fn prepared_in_guest(self) -> bool {
        !matches!(self, Content::Blank | Content::Ext4 | Content::Gpt)
    }

    /// The name a scenario file gives it.
    pub fn name(self) -> &'static str {
        match self {
            Content::Blank => "blank",
            Content::Ext4 => "ext4",
            Content::Gpt => "gpt",
            Content::ZfsLabel => "zfs-label",
            Content::Fat32 => "fat32",
            Content::Exfat => "exfat",
            Content::NtfsInGpt => "ntfs-in-gpt",
            Content::LvmPv => "lvm-pv",
            Content::Luks2 => "luks2",
            Content::Md10 => "md-1.0",
            Content::ZfsPool => "zfs-pool",
        }
    }
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
    /// Absent means 0; kept apart from an explicit 0 so that a power-cut step, which has no exit
    /// code, can refuse it.
    #[serde(default)]
    pub exit: Option<i32>,
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

impl Step {
    /// The exit code the step must end with.
    pub fn expected_exit(&self) -> i32 {
        self.exit.unwrap_or(0)
    }

    /// The keys of this step that check its outcome; a step whose power is cut has no outcome,
    /// so it may have none of them.
    fn outcome_keys(&self) -> Vec<&'static str> {
        let mut keys = Vec::new();
        if self.exit.is_some() {
            keys.push("exit");
        }
        if self.unchanged {
            keys.push("unchanged");
        }
        if self.mutating_commands.is_some() {
            keys.push("mutating_commands");
        }
        if self.zfs_commands_at_most.is_some() {
            keys.push("zfs_commands_at_most");
        }
        if !self.stdout_contains.is_empty() {
            keys.push("stdout_contains");
        }
        keys
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Expect {
    pub pools: Option<Vec<String>>,
    pub datasets: Option<usize>,
    pub untouched: Vec<String>,
    pub all_untouched: bool,
    /// serial -> boot: the drive's whole contents at the end are those it had after that boot.
    pub untouched_after_boot: BTreeMap<String, usize>,
    pub pool: BTreeMap<String, PoolExpect>,
    pub dataset: BTreeMap<String, BTreeMap<String, String>>,
    pub manifest: Option<ManifestExpect>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PoolExpect {
    pub vdev: Option<String>,
    pub drives: Option<Vec<String>>,
    pub properties: BTreeMap<String, String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ManifestExpect {
    pub outcome: Option<String>,
    pub exit_code: Option<u8>,
    pub ssh_keygen_verify: bool,
    pub drive_roles: BTreeMap<String, String>,
    pub firmware_verdicts: BTreeMap<String, String>,
    /// Serials whose drives[].health (baseline and current reading) must be filled in.
    pub health: Vec<String>,
    /// services.storages[].id, exactly, in any order.
    pub storages: Option<Vec<String>>,
    /// services.exports[].dataset, exactly, in any order.
    pub exports: Option<Vec<String>>,
    /// The number of services.deferred entries.
    pub deferred: Option<usize>,
    /// Per pool, text its pools[].scan (zpool status's scan line) must contain.
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

    pub(crate) fn check(&self) -> Result<()> {
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
                    // The harness cuts the power mid-step: there is no exit code, no hash after
                    // and no complete command list, so these checks could only be skipped.
                    let keys = step.outcome_keys();
                    if !keys.is_empty() {
                        bail!(
                            "{at}: power_cut_after_action cannot be combined with {}: the power is \
                             cut before the step ends, so nothing of its outcome can be checked; \
                             remove {} or put the check on a step of the next boot",
                            keys.iter().map(|k| format!("`{k}`")).collect::<Vec<_>>().join(", "),
                            if keys.len() == 1 { "it" } else { "them" }
                        );
                    }
                }
            }
        }
        // The drives' whole-content digests are taken on the host before the first boot, so a
        // content the guest writes at the start of that boot would always count as a change.
        for d in &self.drives {
            let named = self.expect.untouched.contains(&d.serial);
            if d.content.prepared_in_guest() && (named || self.expect.all_untouched) {
                bail!(
                    "drive {}: its content is written in the guest, after the host took the \
                     digest `untouched` compares with, so it can never be untouched; {} and use \
                     `unchanged = true` on the steps that must leave it alone",
                    d.serial,
                    if named {
                        "leave it out of [expect] untouched"
                    } else {
                        "drop all_untouched, name the other drives in untouched"
                    }
                );
            }
        }
        for d in &self.drives {
            // The harness writes it when it starts, which is after the first-boot unit ran.
            if d.content.prepared_in_guest() && self.boots[0].firstboot_unit {
                bail!(
                    "drive {}: content \"{}\" is written in the guest by the test harness, which \
                     starts after phoenix-zfs-firstboot.service, so the unit of boot 1 would see a \
                     blank drive; enable firstboot_unit from boot 2 on, or use \"ext4\" or \"gpt\" \
                     (written on the host)",
                    d.serial,
                    d.content.name()
                );
            }
            if d.content.prepared_in_guest() && d.attached_from_boot != 1 {
                bail!(
                    "drive {}: content \"{}\" is written in the guest at the start of boot 1, but the \
                     drive is attached from boot {} on; attach it from boot 1, or write the \
                     content with steps of its first boot",
                    d.serial,
                    d.content.name(),
                    d.attached_from_boot
                );
            }
        }
        let named = |s: &String| serials.contains(s.as_str());
        for (serial, &boot) in &self.expect.untouched_after_boot {
            if boot == 0 || boot >= self.boots.len() {
                bail!(
                    "[expect] untouched_after_boot: drive {serial} after boot {boot}: the boot \
                     must be one of 1..{} (a boot that has another after it)",
                    self.boots.len().saturating_sub(1)
                );
            }
        }
        for s in self
            .expect
            .untouched
            .iter()
            .chain(self.expect.untouched_after_boot.keys())
            .chain(
                self.expect
                    .pool
                    .values()
                    .flat_map(|p| p.drives.iter().flatten()),
            )
        {
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

    #[test]
    fn a_power_cut_step_refuses_every_check_of_its_outcome_naming_file_step_and_key() {
        let dir = tempfile::tempdir().unwrap();
        for (key, line) in [
            ("exit", "exit = 0"),
            ("unchanged", "unchanged = true"),
            ("mutating_commands", "mutating_commands = 0"),
            ("zfs_commands_at_most", "zfs_commands_at_most = 3"),
            ("stdout_contains", "stdout_contains = [\"done\"]"),
        ] {
            let path = dir.path().join(format!("{key}.toml"));
            std::fs::write(
                &path,
                format!(
                    r#"
description = "x"
[[drive]]
serial = "A"
size = 1048576
[[boot]]
[[boot.step]]
run = ["true"]
[[boot.step]]
run = ["phoenix-zfs", "apply", "--yes"]
power_cut_after_action = 1
{line}
"#
                ),
            )
            .unwrap();
            let err = format!("{:#}", Scenario::load(&path).unwrap_err());
            assert!(err.contains(&path.display().to_string()), "{err}");
            assert!(err.contains("boot 1 step 2"), "{err}");
            assert!(err.contains(&format!("`{key}`")), "{err}");
        }
        // Without those keys the same step is fine.
        let path = dir.path().join("plain.toml");
        std::fs::write(
            &path,
            "description = \"x\"\n[[drive]]\nserial = \"A\"\nsize = 1048576\n[[boot]]\n\
             [[boot.step]]\nrun = [\"phoenix-zfs\", \"apply\", \"--yes\"]\npower_cut_after_action = 1\n",
        )
        .unwrap();
        Scenario::load(&path).unwrap();
    }

    #[test]
    fn every_content_kind_parses_and_the_guest_written_ones_cannot_be_untouched() {
        let kinds = [
            ("blank", Content::Blank, false),
            ("ext4", Content::Ext4, false),
            ("gpt", Content::Gpt, false),
            ("zfs-label", Content::ZfsLabel, true),
            ("fat32", Content::Fat32, true),
            ("exfat", Content::Exfat, true),
            ("ntfs-in-gpt", Content::NtfsInGpt, true),
            ("lvm-pv", Content::LvmPv, true),
            ("luks2", Content::Luks2, true),
            ("md-1.0", Content::Md10, true),
            ("zfs-pool", Content::ZfsPool, true),
        ];
        for (name, kind, in_guest) in kinds {
            let text = format!(
                "description = \"x\"\n[[drive]]\nserial = \"A\"\nsize = 1048576\ncontent = \"{name}\"\n\
                 [[drive]]\nserial = \"B\"\nsize = 1048576\n[[boot]]\n[expect]\nuntouched = [\"A\"]\n"
            );
            let s: Scenario = toml::from_str(&text).unwrap();
            assert_eq!(s.drives[0].content, kind);
            assert_eq!(kind.name(), name);
            assert_eq!(kind.prepared_in_guest(), in_guest, "{name}");
            match s.check() {
                Ok(()) => assert!(!in_guest, "{name}: untouched accepted"),
                Err(e) => {
                    assert!(in_guest, "{name}: {e}");
                    assert!(e.to_string().contains("drive A"), "{e}");
                }
            }
            let all = text.replace("untouched = [\"A\"]", "all_untouched = true");
            let s: Scenario = toml::from_str(&all).unwrap();
            assert_eq!(s.check().is_err(), in_guest, "{name}: all_untouched");
            // The other drive may be named on its own.
            let other = text.replace("untouched = [\"A\"]", "untouched = [\"B\"]");
            let s: Scenario = toml::from_str(&other).unwrap();
            s.check().unwrap();
        }
        // Written by the harness, which starts after the first-boot unit: refused there.
        let unit =
            "description = \"x\"\n[[drive]]\nserial = \"A\"\nsize = 1\ncontent = \"luks2\"\n\
                    [[boot]]\nfirstboot_unit = true\n";
        let s: Scenario = toml::from_str(unit).unwrap();
        assert!(s
            .check()
            .unwrap_err()
            .to_string()
            .contains("phoenix-zfs-firstboot.service"));
        let s: Scenario = toml::from_str(&unit.replace("luks2", "ext4")).unwrap();
        s.check().unwrap();
        // Nor can a drive attached later hold it: the harness writes contents in boot 1 only.
        let late =
            "description = \"x\"\n[[drive]]\nserial = \"A\"\nsize = 1\ncontent = \"md-1.0\"\n\
                    attached_from_boot = 2\n[[boot]]\n[[boot]]\n";
        let s: Scenario = toml::from_str(late).unwrap();
        assert!(s
            .check()
            .unwrap_err()
            .to_string()
            .contains("attached from boot 2"));
        let bad = "description = \"x\"\n[[drive]]\nserial = \"A\"\nsize = 1\ncontent = \"fat16\"\n[[boot]]\n";
        assert!(toml::from_str::<Scenario>(bad).is_err());
    }
}
