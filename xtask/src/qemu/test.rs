//! `cargo xtask qemu-test [SCENARIO...]`: runs the scenarios of qemu-tests/ (format in
//! qemu-tests/README.md) in the QEMU guest and checks what they must show.

use crate::flags::{HookOptions, QemuTestOptions};
use crate::guest;
use crate::guest::final_image;
use crate::qemu::boot_script::{boot_script, GUEST_LAYOUT};
use crate::qemu::checks::{self, BootResults};
use crate::qemu::scenario::{Content, Scenario};
use crate::qemu::{Accel, Machine, ScriptOutcome, ScriptRun};
use crate::util::{files_with_extension, run, workspace_root};
use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// One boot of a scenario: a TCG boot to the harness takes about a minute here, a first boot
/// with pool creation a little more. Ten minutes means the guest is stuck.
const BOOT_LIMIT: Duration = Duration::from_secs(600);

fn scenario_paths(names: &[String]) -> Result<Vec<PathBuf>> {
    let dir = workspace_root().join("qemu-tests/scenarios");
    if names.is_empty() {
        return files_with_extension(&dir, "toml");
    }
    names
        .iter()
        .map(|n| {
            let as_path = PathBuf::from(n);
            let candidate = if as_path.is_file() {
                as_path
            } else {
                dir.join(format!("{n}.toml"))
            };
            if candidate.is_file() {
                Ok(candidate)
            } else {
                bail!(
                    "no scenario `{n}`: not a file, and no {}",
                    dir.join(format!("{n}.toml")).display()
                )
            }
        })
        .collect()
}

/// `cargo xtask qemu-test`.
pub fn run_suite(options: &QemuTestOptions) -> Result<()> {
    let accel = if options.kvm { Accel::Kvm } else { Accel::Tcg };
    let paths = scenario_paths(&options.scenarios)?;
    // Parse every scenario before the first (slow) boot: a typo fails in a second, not in an hour.
    let scenarios: Vec<(PathBuf, Scenario)> = paths
        .into_iter()
        .map(|p| Scenario::load(&p).map(|s| (p, s)))
        .collect::<Result<_>>()?;
    // The hook too: the scenarios that install it as Proxmox's installer does run the very file
    // that ships (the bare binary or its gzip wrapper).
    crate::hook::build(&HookOptions::default())?;
    let binary = workspace_root().join("target/dist/phoenix-zfs");
    let image = final_image::ensure_image_with(&binary)?;
    let suite = Instant::now();
    let (mut passed, mut failed) = (0, 0);
    for (path, scenario) in &scenarios {
        let name = path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        eprintln!("xtask: scenario {name}: {}", scenario.description);
        let started = Instant::now();
        let failures = match run_scenario(&name, path, scenario, &image, accel) {
            Ok(f) => f,
            Err(e) => vec![format!(
                "could not run: {}",
                phoenix_zfs::report::Report(e.as_ref())
            )],
        };
        let secs = started.elapsed().as_secs_f64();
        if failures.is_empty() {
            passed += 1;
            println!("PASS {name} ({secs:.0} s)");
        } else {
            failed += 1;
            println!("FAIL {name} ({secs:.0} s)");
            for f in &failures {
                println!("    {f}");
            }
        }
    }
    println!(
        "qemu-test: {} scenario(s) in {:.0} s",
        scenarios.len(),
        suite.elapsed().as_secs_f64()
    );
    println!("{passed} passed, {failed} failed");
    if failed > 0 {
        bail!("{failed} QEMU scenario(s) failed; logs under target/qemu-test/");
    }
    Ok(())
}

/// Writes what the host can write itself onto a drive's backing file before the first boot.
fn prepare_on_host(content: Content, backing: &Path) -> Result<()> {
    match content {
        // Written in the guest (boot_script.rs `prepare`).
        _ if content.prepared_in_guest() => Ok(()),
        Content::Blank => Ok(()),
        Content::Ext4 => run(Command::new("mkfs.ext4")
            .args([
                "-q",
                "-F",
                "-L",
                "olddata",
                "-E",
                "lazy_itable_init=1,lazy_journal_init=1",
            ])
            .arg(backing)),
        Content::Gpt => {
            let mut child = Command::new("sfdisk")
                .args(["--quiet", "--label", "gpt"])
                .arg(backing)
                .stdin(std::process::Stdio::piped())
                .spawn()
                .context("could not start sfdisk")?;
            use std::io::Write;
            child
                .stdin
                .take()
                .context("sfdisk stdin")?
                .write_all(b",,L\n")?;
            if !child.wait()?.success() {
                bail!("sfdisk could not write a GPT on {}", backing.display());
            }
            Ok(())
        }
        other => bail!(
            "content \"{}\" has no host preparation and is not written in the guest",
            other.name()
        ),
    }
}

pub fn run_scenario(
    name: &str,
    path: &Path,
    scenario: &Scenario,
    image: &guest::GuestImage,
    accel: Accel,
) -> Result<Vec<String>> {
    let dir = workspace_root().join("target/qemu-test").join(name);
    if dir.exists() {
        std::fs::remove_dir_all(&dir).with_context(|| format!("cannot clear {}", dir.display()))?;
    }
    std::fs::create_dir_all(&dir)?;
    let mut machine = Machine::new(image, &dir, accel)?;
    for d in &scenario.drives {
        machine.add_nvme(&dir, &d.serial, d.size, d.logical_block_size)?;
    }
    for (d, nvme) in scenario.drives.iter().zip(&machine.nvme) {
        prepare_on_host(d.content, &nvme.backing)?;
    }
    let models: Vec<(String, String)> = scenario
        .drives
        .iter()
        .filter_map(|d| d.model.clone().map(|m| (d.serial.clone(), m)))
        .collect();
    let before: Vec<(String, String)> = machine
        .nvme
        .iter()
        .map(|n| Ok((n.serial.clone(), checks::whole_drive_digest(&n.backing)?)))
        .collect::<Result<_>>()?;
    let layout = scenario
        .layout
        .as_ref()
        .map(|l| path.parent().unwrap_or(Path::new(".")).join(l));

    let mut failures = Vec::new();
    let mut last_state = None;
    let mut manifests = Vec::new();
    let mut after_boot = Vec::new();
    for (b, boot) in scenario.boots.iter().enumerate() {
        let boot_dir = dir.join(format!("boot-{}", b + 1));
        std::fs::create_dir_all(&boot_dir)?;
        let script = boot_dir.join("run");
        std::fs::write(&script, boot_script(scenario, b))?;
        let mut files: Vec<(PathBuf, String)> = vec![(script, "run".into())];
        if let Some(l) = &layout {
            files.push((
                l.clone(),
                GUEST_LAYOUT.trim_start_matches("/run/phx/").into(),
            ));
        }
        machine.console_log = boot_dir.join("console.log");
        machine.qemu_log = boot_dir.join("qemu.log");
        machine.kernel_args = final_image::scenario_kernel_args(&models, boot.firstboot_unit);
        machine.set_live_system(boot.live_system.then_some(image), &dir)?;
        // Drives added later are left out of the machine until their boot, unplugged ones from
        // theirs on; their backing files stay, for the checks after the last boot.
        let all_drives = machine.nvme.clone();
        machine.nvme = scenario
            .drives
            .iter()
            .zip(&all_drives)
            .filter(|(d, _)| d.present_in(b + 1))
            .map(|(_, n)| n.clone())
            .collect();
        let out = boot_dir.join("results");
        let started = Instant::now();
        let outcome = machine.run_script(&ScriptRun {
            files: &files,
            dir: &boot_dir,
            out: &out,
            replace_out: false,
            limit: BOOT_LIMIT,
        });
        machine.nvme = all_drives;
        match outcome? {
            ScriptOutcome::Results { .. } => {}
            ScriptOutcome::TimedOut { limit } => {
                failures.push(format!(
                    "boot {}: no power-off within {} s (console: {})",
                    b + 1,
                    limit.as_secs(),
                    machine.console_log.display()
                ));
                return Ok(failures);
            }
            ScriptOutcome::NoResults { .. } => {
                failures.push(format!(
                    "boot {}: the guest wrote no results (console: {})",
                    b + 1,
                    machine.console_log.display()
                ));
                return Ok(failures);
            }
        }
        eprintln!(
            "xtask: {name}: boot {} took {:.0} s",
            b + 1,
            started.elapsed().as_secs_f64()
        );
        let present: Vec<String> = scenario
            .drives
            .iter()
            .filter(|d| d.present_in(b + 1))
            .map(|d| d.serial.clone())
            .collect();
        let results = BootResults::load(&out, boot, present)?;
        failures.extend(results.check_steps(b + 1, boot));
        manifests.extend(results.manifests);
        last_state = Some(out);
        for (serial, _) in scenario
            .expect
            .untouched_after_boot
            .iter()
            .filter(|(_, &n)| n == b + 1)
        {
            if let Some(n) = machine.nvme.iter().find(|n| &n.serial == serial) {
                after_boot.push((
                    serial.clone(),
                    b + 1,
                    checks::whole_drive_digest(&n.backing)?,
                ));
            }
        }
    }
    if let Some(state) = &last_state {
        failures.extend(checks::check_expect(scenario, &state.join("state"), &dir)?);
    }
    failures.extend(checks::validate_manifests(
        &workspace_root().join("schema/manifest.schema.json"),
        &manifests,
    ));
    let after: Vec<(String, String)> = machine
        .nvme
        .iter()
        .map(|n| Ok((n.serial.clone(), checks::whole_drive_digest(&n.backing)?)))
        .collect::<Result<_>>()?;
    failures.extend(checks::check_untouched(scenario, &before, &after));
    failures.extend(checks::check_untouched_after_boot(
        scenario,
        &after_boot,
        &after,
    ));
    if failures.is_empty() {
        // Drives are sparse but a scenario's pools still take a few MB each: free them.
        for n in &machine.nvme {
            let _ = std::fs::remove_file(&n.backing);
        }
    }
    Ok(failures)
}
