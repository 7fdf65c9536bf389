//! `cargo xtask guest-run`: boot the guest with a given set of drives, run a script in it, and
//! unpack what the script left in $PHX_OUT into a host directory.
//!
//! The boot itself is [`Machine::run_script`](crate::qemu::Machine::run_script), as for the
//! scenarios: the script and the added files go in on one disk, the results come back on another.

use crate::flags::GuestRunOptions;
use crate::guest;
use crate::qemu::{create_sparse, Accel, Machine, ScriptOutcome, ScriptRun};
use crate::util::workspace_root;
use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

const DEFAULT_HOST: &[(&str, u64, u32)] = &[
    ("S2TA0001", 2_000_398_934_016, 512),
    ("S2TA0002", 2_000_398_934_016, 512),
    ("S4TB0001", 4_000_787_030_016, 512),
];

/// `cargo xtask guest-run`.
pub fn guest_run(opts: &GuestRunOptions) -> Result<()> {
    let started = Instant::now();
    let script = &opts.script;
    let out = &opts.out;
    if !script.is_file() {
        bail!(
            "script {} does not exist or is not a file",
            script.display()
        );
    }
    let image = guest::ensure_image()?;

    let run_dir = new_run_dir()?;
    let accel = if opts.kvm { Accel::Kvm } else { Accel::Tcg };
    let mut machine = Machine::new(&image, &run_dir, accel)?;
    machine.verbose_console = opts.verbose_console;
    let nvme: Vec<(String, u64, u32)> = if opts.nvme.is_empty() {
        DEFAULT_HOST
            .iter()
            .map(|(s, b, l)| (s.to_string(), *b, *l))
            .collect()
    } else {
        opts.nvme
            .iter()
            .map(|d| (d.serial.clone(), d.size_bytes, d.logical_block_size))
            .collect()
    };
    for (serial, size, lbs) in &nvme {
        machine.add_nvme(&run_dir, serial, *size, *lbs)?;
    }
    for drive in &machine.nvme {
        eprintln!(
            "xtask: NVMe {} of {} bytes, {}-byte blocks",
            drive.serial, drive.size_bytes, drive.logical_block_size
        );
    }
    for disk in &opts.disk {
        let path = run_dir.join(format!("disk-{}.raw", disk.serial));
        create_sparse(&path, disk.size_bytes)?;
        machine.add_disk(&disk.serial, &path, false)?;
    }
    let files = input_files(script, &opts.add)?;
    let outcome = machine.run_script(&ScriptRun {
        files: &files,
        dir: &run_dir,
        out,
        replace_out: false,
        limit: Duration::from_secs(opts.timeout),
    })?;
    let elapsed = match outcome {
        ScriptOutcome::TimedOut { limit } => bail!(
            "the guest did not power off within {} s and was killed; its console log is {}",
            limit.as_secs(),
            machine.console_log.display()
        ),
        ScriptOutcome::NoResults { elapsed } => bail!(
            "the guest powered off after {:.1} s without writing results; see its console log {}",
            elapsed.as_secs_f64(),
            machine.console_log.display()
        ),
        ScriptOutcome::Results { elapsed } => elapsed,
    };
    eprintln!(
        "xtask: boot to results in {:.1} s (whole run {:.1} s); results in {}",
        elapsed.as_secs_f64(),
        started.elapsed().as_secs_f64(),
        out.display()
    );
    if let Ok(timing) = std::fs::read_to_string(out.join("timing")) {
        eprintln!(
            "xtask: guest uptimes: {}",
            timing.trim().replace('\n', ", ")
        );
    }
    if !opts.keep {
        for disk in
            std::iter::once(&machine.root_overlay).chain(machine.nvme.iter().map(|d| &d.backing))
        {
            let _ = std::fs::remove_file(disk);
        }
        for disk in &machine.disks {
            let _ = std::fs::remove_file(&disk.backing);
        }
    }
    let status = std::fs::read_to_string(out.join("run.status"))
        .context("the results hold no run.status")?;
    match status.trim() {
        "0" => Ok(()),
        other => bail!(
            "the script exited with status {other} in the guest; see {}/run.stderr and {}/harness.log",
            out.display(),
            out.display()
        ),
    }
}

fn new_run_dir() -> Result<PathBuf> {
    let stamp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let dir = workspace_root().join(format!("target/guest-runs/{stamp}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).with_context(|| format!("could not create {}", dir.display()))?;
    eprintln!("xtask: run directory {}", dir.display());
    Ok(dir)
}

/// `run` (the script) and the added files, by the names the guest finds them under.
fn input_files(script: &Path, add: &[PathBuf]) -> Result<Vec<(PathBuf, String)>> {
    let mut files = vec![(script.to_path_buf(), "run".to_string())];
    for file in add {
        let name = file
            .file_name()
            .with_context(|| format!("--add {}: not a file name", file.display()))?;
        if name == "run" || name == "out" {
            bail!(
                "--add {}: the names `run` and `out` are the harness's own",
                file.display()
            );
        }
        files.push((file.clone(), name.to_string_lossy().into_owned()));
    }
    Ok(files)
}
