//! `cargo xtask bench`: the core benchmarks (benches/core.rs, criterion) and the start time of
//! the static binary, checked against their targets (below). The measurements live here, not in
//! timed unit tests, because only a whole run on a known machine says anything.
//!
//! Checks, from criterion's own estimates (target/criterion/GROUP/INPUT/new/estimates.json,
//! median): each group's cost grows linearly (time ratio at most 1.2x the input ratio, i.e. 10x
//! input in at most 12x time), 80,000 `zfs get` lines parse in under 100 ms, and
//! `phoenix-zfs --version` averages under 5 ms over 100 runs.

pub mod guest;
mod pairs;

use crate::dist;
use crate::flags::{BenchOptions, DistOptions};
use crate::util::workspace_root;
use anyhow::{bail, Context, Result};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// (criterion group, small input, large input, what one item is). Named as in benches/core.rs.
const GROUPS: &[(&str, u64, u64, &str)] = &[
    ("parse_zfs_get", 8_000, 80_000, "`zfs get -H -p` line"),
    ("inventory_nvme", 4, 32, "NVMe namespace"),
    ("plan_datasets", 100, 1_000, "dataset"),
];

/// 10x input may take at most 12x time.
const MAX_GROWTH: f64 = 1.2;
const PARSE_80K_LIMIT: Duration = Duration::from_millis(100);
const STARTUP_RUNS: usize = 100;
const STARTUP_LIMIT: Duration = Duration::from_millis(5);

struct Estimate {
    median_ns: f64,
    low_ns: f64,
    high_ns: f64,
}

fn read_estimate(dir: &Path) -> Result<Estimate> {
    let path = dir.join("new/estimates.json");
    let text = std::fs::read_to_string(&path)
        .with_context(|| format!("criterion left no {}", path.display()))?;
    let json: serde_json::Value =
        serde_json::from_str(&text).with_context(|| format!("{} is not JSON", path.display()))?;
    let median = &json["median"];
    let number = |v: &serde_json::Value| {
        v.as_f64()
            .with_context(|| format!("{}: no median estimate", path.display()))
    };
    Ok(Estimate {
        median_ns: number(&median["point_estimate"])?,
        low_ns: number(&median["confidence_interval"]["lower_bound"])?,
        high_ns: number(&median["confidence_interval"]["upper_bound"])?,
    })
}

fn human(ns: f64) -> String {
    if ns >= 1e6 {
        format!("{:.2} ms", ns / 1e6)
    } else if ns >= 1e3 {
        format!("{:.2} µs", ns / 1e3)
    } else {
        format!("{ns:.0} ns")
    }
}

/// `cargo xtask bench`.
pub fn bench(options: &BenchOptions) -> Result<()> {
    let startup = !options.no_startup;
    let root = workspace_root();
    // Built and timed first, so that its build output does not land in the middle of the tables.
    let startup_line = if startup {
        dist::build(&DistOptions {
            allow_oversize: true,
            ..DistOptions::default()
        })?;
        let binary = root.join("target/dist/phoenix-zfs");
        let times = startup_times(&binary)?;
        let mean = times.iter().sum::<Duration>() / times.len() as u32;
        let max = times.iter().max().copied().unwrap_or_default();
        let mut sorted = times.clone();
        sorted.sort();
        let median = sorted[sorted.len() / 2];
        Some((binary, times.len(), mean, median, max))
    } else {
        None
    };
    let criterion = root.join("target/criterion");
    // Old estimates must not stand in for a group that failed to run this time.
    for (group, ..) in GROUPS {
        let _ = std::fs::remove_dir_all(criterion.join(group));
    }
    let log = root.join("target/bench-core.log");
    eprintln!(
        "xtask: $ cargo bench --bench core (criterion's report: {})",
        log.display()
    );
    let status = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .args(["bench", "--locked", "-p", "phoenix-zfs", "--bench", "core"])
        .current_dir(&root)
        .stdout(std::fs::File::create(&log)?)
        .stderr(Stdio::inherit())
        .status()
        .context("could not start cargo bench")?;
    if !status.success() {
        bail!("cargo bench failed ({status}); see {}", log.display());
    }

    let mut failures = Vec::new();
    println!("core benchmarks (criterion median, 95% interval; per item = median / items):");
    println!(
        "{:<16} {:>7}  {:>10}  {:>23}  {:>10}  item",
        "group", "items", "median", "interval", "per item"
    );
    let mut ratios = Vec::new();
    for &(group, small, large, item) in GROUPS {
        let mut medians = Vec::new();
        for n in [small, large] {
            let e = read_estimate(&criterion.join(group).join(n.to_string()))?;
            println!(
                "{group:<16} {n:>7}  {:>10}  {:>23}  {:>10}  {item}",
                human(e.median_ns),
                format!("{} .. {}", human(e.low_ns), human(e.high_ns)),
                human(e.median_ns / n as f64),
            );
            medians.push(e.median_ns);
        }
        let input = large as f64 / small as f64;
        let time = medians[1] / medians[0];
        let limit = input * MAX_GROWTH;
        ratios.push(format!(
            "{group}: {input:.0}x input took {time:.2}x time (limit {limit:.1}x)"
        ));
        if time > limit {
            failures.push(format!(
                "{group}: {input:.0}x the input took {time:.2}x the time, more than {limit:.1}x: the cost does not grow linearly"
            ));
        }
        if group == "parse_zfs_get" && medians[1] >= PARSE_80K_LIMIT.as_nanos() as f64 {
            failures.push(format!(
                "parsing {large} property lines took {}, the target is under {} ms",
                human(medians[1]),
                PARSE_80K_LIMIT.as_millis()
            ));
        }
    }
    println!("\nscaling:");
    for r in &ratios {
        println!("  {r}");
    }

    let mut measured = vec![LINEAR_TARGET, PARSE_TARGET];
    let mut skipped = Vec::new();
    if let Some((binary, runs, mean, median, max)) = startup_line {
        measured.push(STARTUP_TARGET);
        println!(
            "\nstart: `{} --version` over {runs} runs: mean {:.2} ms, median {:.2} ms, max {:.2} ms (target: mean under {} ms)",
            binary.display(),
            mean.as_secs_f64() * 1e3,
            median.as_secs_f64() * 1e3,
            max.as_secs_f64() * 1e3,
            STARTUP_LIMIT.as_millis()
        );
        if mean >= STARTUP_LIMIT {
            failures.push(format!(
                "`phoenix-zfs --version` took {:.2} ms on average, the target is under {} ms",
                mean.as_secs_f64() * 1e3,
                STARTUP_LIMIT.as_millis()
            ));
        }
    } else {
        skipped.push(format!("{STARTUP_TARGET} (--no-startup)"));
    }

    match verdict(&measured, &skipped, &failures) {
        Ok(closing) => {
            println!("\n{closing}");
            Ok(())
        }
        Err(missed) => bail!("{missed}"),
    }
}

const LINEAR_TARGET: &str = "linear growth (10x input in at most 12x time)";
const PARSE_TARGET: &str = "80,000 `zfs get` lines parsed in under 100 ms";
const STARTUP_TARGET: &str = "`phoenix-zfs --version` in under 5 ms on average";

/// The closing line, from what was measured, what was skipped and what missed; Err when a
/// measured target was missed. "all targets met" only when nothing was skipped: a target that
/// was not measured is not met, and the line names it.
fn verdict(measured: &[&str], skipped: &[String], failures: &[String]) -> Result<String, String> {
    let skipped_part = if skipped.is_empty() {
        String::new()
    } else {
        format!("\nskipped, so not checked: {}", skipped.join("; "))
    };
    if !failures.is_empty() {
        return Err(format!("{}{skipped_part}", failures.join("\n")));
    }
    let measured_part = format!("measured: {}", measured.join("; "));
    if skipped.is_empty() {
        Ok(format!("{measured_part}\nall targets met"))
    } else {
        Ok(format!(
            "{measured_part}\nthe measured targets are met; not all targets were checked{skipped_part}"
        ))
    }
}

/// Wall time from spawn to exit of each run, stdout read to the end (the version is printed).
fn startup_times(binary: &Path) -> Result<Vec<Duration>> {
    let once = || -> Result<Duration> {
        let start = Instant::now();
        let out = Command::new(binary)
            .arg("--version")
            .stdin(Stdio::null())
            .stderr(Stdio::null())
            .output()
            .with_context(|| format!("could not run {}", binary.display()))?;
        let took = start.elapsed();
        if !out.status.success() || !out.stdout.starts_with(b"phoenix-zfs ") {
            bail!(
                "`{} --version` failed or printed no version ({})",
                binary.display(),
                out.status
            );
        }
        Ok(took)
    };
    // The first run pays for reading the binary from disk; every later start finds it cached,
    // as a host's rescue reruns do.
    once()?;
    (0..STARTUP_RUNS).map(|_| once()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn all_targets_met_only_when_every_target_was_measured() {
        let all = [LINEAR_TARGET, PARSE_TARGET, STARTUP_TARGET];
        let closing = verdict(&all, &[], &[]).unwrap();
        assert!(closing.ends_with("\nall targets met"), "{closing}");
        assert!(closing.contains(STARTUP_TARGET), "{closing}");
    }

    #[test]
    fn a_skipped_target_is_named_and_never_all_met() {
        let skipped = [format!("{STARTUP_TARGET} (--no-startup)")];
        let closing = verdict(&[LINEAR_TARGET, PARSE_TARGET], &skipped, &[]).unwrap();
        assert!(!closing.contains("all targets met"), "{closing}");
        assert!(
            closing.contains("not all targets were checked"),
            "{closing}"
        );
        assert!(
            closing.contains("skipped, so not checked: `phoenix-zfs --version` in under 5 ms on average (--no-startup)"),
            "{closing}"
        );
        assert!(closing.starts_with(&format!("measured: {LINEAR_TARGET}; {PARSE_TARGET}")));
    }

    #[test]
    fn a_missed_target_fails_and_still_names_what_was_skipped() {
        let skipped = [format!("{STARTUP_TARGET} (--no-startup)")];
        let missed = [
            "parsing 80000 property lines took 120.00 ms, the target is under 100 ms".to_string(),
        ];
        let err = verdict(&[LINEAR_TARGET, PARSE_TARGET], &skipped, &missed).unwrap_err();
        assert!(err.starts_with("parsing 80000"), "{err}");
        assert!(err.contains("skipped, so not checked"), "{err}");
        assert!(verdict(&[LINEAR_TARGET], &[], &missed).is_err());
    }
}
