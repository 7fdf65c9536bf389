//! `cargo xtask guest-run`: boot the guest with a given set of drives, run a script in it, and
//! unpack what the script left in $PHX_OUT into a host directory.
//!
//! Data goes in on a read-only virtio disk holding a tar archive (serial phx-input) and comes back
//! on a second one (serial phx-results) that the guest's harness writes a tar archive onto; the
//! console is only a log for people.

use crate::guest;
use crate::qemu::{create_sparse, Accel, BootOutcome, Machine};
use crate::util::{run, workspace_root};
use anyhow::{bail, Context, Result};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

const USAGE: &str = "\
usage: cargo xtask guest-run --script FILE --out DIR [options]

  --script FILE              executable run in the guest as /run/phx/run (cwd /run/phx,
                             $PHX_OUT=/run/phx/out: whatever it writes there comes back)
  --out DIR                  where the guest's results are unpacked
  --nvme SERIAL:SIZE[:LBS]   an emulated NVMe drive; SIZE in bytes or with K/M/G/T (binary),
                             LBS 512 (default) or 4096. Repeatable. Default: S2TA0001 and S2TA0002
                             at 2000398934016 bytes, S4TB0001 at 4000787030016 bytes
  --disk SERIAL:SIZE         an extra blank virtio disk (/dev/disk/by-id/virtio-SERIAL). Repeatable
  --add FILE                 put FILE into /run/phx next to the script. Repeatable
  --timeout SECONDS          kill the guest after this long (default 900)
  --kvm                      use KVM instead of TCG (where nested KVM works)
  --keep                     keep the run directory's disk images for inspection
  --verbose-console          kernel and systemd status messages in the console log
";

const DEFAULT_HOST: &[(&str, u64, u32)] = &[
    ("S2TA0001", 2_000_398_934_016, 512),
    ("S2TA0002", 2_000_398_934_016, 512),
    ("S4TB0001", 4_000_787_030_016, 512),
];

/// Room for the results tar; sparse, so only what the guest writes takes host disk.
const RESULTS_DISK_BYTES: u64 = 1 << 30;

#[derive(Debug, Default)]
struct Options {
    script: Option<PathBuf>,
    out: Option<PathBuf>,
    nvme: Vec<(String, u64, u32)>,
    disks: Vec<(String, u64)>,
    add: Vec<PathBuf>,
    timeout: Option<u64>,
    kvm: bool,
    keep: bool,
    verbose_console: bool,
}

pub fn main(args: &[String]) -> Result<()> {
    let opts = parse_args(args).map_err(|err| anyhow::anyhow!("{err}\n\n{USAGE}"))?;
    let started = Instant::now();
    let script = opts.script.clone().context("--script is required")?;
    let out = opts.out.clone().context("--out is required")?;
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
    let nvme = if opts.nvme.is_empty() {
        DEFAULT_HOST
            .iter()
            .map(|(s, b, l)| (s.to_string(), *b, *l))
            .collect()
    } else {
        opts.nvme.clone()
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
    for (serial, size) in &opts.disks {
        let path = run_dir.join(format!("disk-{serial}.raw"));
        create_sparse(&path, *size)?;
        machine.add_disk(serial, &path, false)?;
    }
    let input = run_dir.join("input.tar");
    write_input_tar(&script, &opts.add, &input)?;
    machine.add_disk("phx-input", &input, true)?;
    let results = run_dir.join("results.img");
    create_sparse(&results, RESULTS_DISK_BYTES)?;
    machine.add_disk("phx-results", &results, false)?;

    let limit = Duration::from_secs(opts.timeout.unwrap_or(900));
    let outcome = machine.boot(limit)?;
    let elapsed = match outcome {
        BootOutcome::TimedOut { limit } => bail!(
            "the guest did not power off within {} s and was killed; its console log is {}",
            limit.as_secs(),
            machine.console_log.display()
        ),
        BootOutcome::Exited { elapsed } => elapsed,
    };
    if !holds_tar(&results)? {
        bail!(
            "the guest powered off after {:.1} s without writing results; see its console log {}",
            elapsed.as_secs_f64(),
            machine.console_log.display()
        );
    }
    std::fs::create_dir_all(&out).with_context(|| format!("could not create {}", out.display()))?;
    run(Command::new("tar")
        .arg("-xf")
        .arg(&results)
        .arg("-C")
        .arg(&out))?;
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

fn parse_args(args: &[String]) -> Result<Options> {
    let mut opts = Options::default();
    let mut it = args.iter();
    while let Some(flag) = it.next() {
        let mut value = || it.next().with_context(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--script" => opts.script = Some(PathBuf::from(value()?)),
            "--out" => opts.out = Some(PathBuf::from(value()?)),
            "--nvme" => opts.nvme.push(parse_nvme(value()?)?),
            "--disk" => {
                let spec = value()?;
                let (serial, size) = spec
                    .split_once(':')
                    .with_context(|| format!("--disk `{spec}`: expected SERIAL:SIZE"))?;
                opts.disks.push((serial.to_string(), parse_size(size)?));
            }
            "--add" => opts.add.push(PathBuf::from(value()?)),
            "--timeout" => {
                let text = value()?;
                opts.timeout =
                    Some(text.parse().with_context(|| {
                        format!("--timeout `{text}` is not a number of seconds")
                    })?);
            }
            "--kvm" => opts.kvm = true,
            "--keep" => opts.keep = true,
            "--verbose-console" => opts.verbose_console = true,
            other => bail!("unknown option `{other}`"),
        }
    }
    Ok(opts)
}

fn parse_nvme(spec: &str) -> Result<(String, u64, u32)> {
    let mut parts = spec.split(':');
    let (Some(serial), Some(size)) = (parts.next(), parts.next()) else {
        bail!("--nvme `{spec}`: expected SERIAL:SIZE[:LBS]");
    };
    let lbs = match parts.next() {
        None => 512,
        Some(text) => text
            .parse()
            .with_context(|| format!("--nvme `{spec}`: block size `{text}` is not a number"))?,
    };
    if parts.next().is_some() {
        bail!("--nvme `{spec}`: expected SERIAL:SIZE[:LBS]");
    }
    Ok((serial.to_string(), parse_size(size)?, lbs))
}

/// Bytes, or a number with a binary K/M/G/T suffix.
fn parse_size(text: &str) -> Result<u64> {
    let (digits, shift) = match text.char_indices().last() {
        Some((i, 'K')) => (&text[..i], 10),
        Some((i, 'M')) => (&text[..i], 20),
        Some((i, 'G')) => (&text[..i], 30),
        Some((i, 'T')) => (&text[..i], 40),
        _ => (text, 0),
    };
    let n: u64 = digits
        .parse()
        .with_context(|| format!("size `{text}` is not bytes or a number with K/M/G/T"))?;
    n.checked_mul(1 << shift)
        .with_context(|| format!("size `{text}` is too large"))
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

/// The input disk: a tar of `run` (the script) and the added files, padded to whole MiB so that
/// it is a valid block device size.
fn write_input_tar(script: &Path, add: &[PathBuf], tar_path: &Path) -> Result<()> {
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
    crate::guest_final::write_input_tar(tar_path, &files)
}

/// A tar archive starts with a non-zero header block; an untouched results disk is all zeros.
fn holds_tar(path: &Path) -> Result<bool> {
    let mut head = [0u8; 512];
    std::fs::File::open(path)?.read_exact(&mut head)?;
    Ok(head.iter().any(|&b| b != 0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_in_bytes_and_binary_units() {
        assert_eq!(parse_size("2000398934016").ok(), Some(2_000_398_934_016));
        assert_eq!(parse_size("64M").ok(), Some(64 << 20));
        assert_eq!(parse_size("1T").ok(), Some(1 << 40));
        assert!(parse_size("12X").is_err());
        assert!(parse_size("").is_err());
        assert!(parse_size("99999999999T").is_err());
    }

    #[test]
    fn nvme_spec_with_optional_block_size() {
        assert_eq!(parse_nvme("S1:1G").ok(), Some(("S1".into(), 1 << 30, 512)));
        assert_eq!(
            parse_nvme("S1:1G:4096").ok(),
            Some(("S1".into(), 1 << 30, 4096))
        );
        assert!(parse_nvme("S1").is_err());
        assert!(parse_nvme("S1:1G:4096:x").is_err());
    }
}
