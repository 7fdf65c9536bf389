//! The paired half of `cargo xtask bench-guest`: apply against the floor in lanes, pair by pair.
//!
//! Each pair runs both sides on freshly blanked drives one right after the other, so the ratio of
//! a pair compares two runs that met the same guest: a TCG guest drifts across a boot (another
//! process on the host, the page cache, ZFS's own state), and the ratio of two phases' fastest
//! runs, taken minutes apart, moved by 0.26 between boots. The verdict is the median of the pairs'
//! ratios, and it is withheld when their interquartile range straddles the target and is wider
//! than the target's own margin. Both sides stamp every command on the wall clock (the floor with
//! bash's `$EPOCHREALTIME`, apply in its `ran` log lines), so the time a side spends outside its
//! commands (its own part) and each command's time side by side can be read off the same runs.

use anyhow::{bail, Context, Result};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::Duration;

/// The target: the median pair's apply is at most this much slower than the floor in lanes.
pub const MAX_PAIR_RATIO: f64 = 1.10;
/// An interquartile range of the pair ratios wider than this, around the target, cannot tell a
/// met target from a missed one: as wide as the margin the target allows.
pub const MAX_SPREAD: f64 = 0.10;
/// The target for apply's own part: the median run's time outside any command it ran.
pub const MAX_APPLY_OWN: Duration = Duration::from_millis(300);

/// One command as a side ran it, on the wall clock in microseconds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommandSpan {
    /// The command line as the plan prints it, without quotes (the floor's stamps lose them).
    pub command: String,
    pub start_us: u64,
    pub end_us: u64,
}

impl CommandSpan {
    fn duration(&self) -> Duration {
        Duration::from_micros(self.end_us.saturating_sub(self.start_us))
    }
}

/// One timed run of one side: its wall time and the commands it ran.
#[derive(Debug, Clone, PartialEq)]
pub struct SideRun {
    pub wall: Duration,
    pub commands: Vec<CommandSpan>,
}

impl SideRun {
    /// The time at least one of its commands was running: lanes that overlap count once.
    pub fn busy(&self) -> Duration {
        let mut spans: Vec<(u64, u64)> = self
            .commands
            .iter()
            .map(|c| (c.start_us, c.end_us))
            .collect();
        spans.sort_unstable();
        let mut total = 0;
        let mut current: Option<(u64, u64)> = None;
        for (start, end) in spans {
            current = match current {
                Some((s, e)) if start <= e => Some((s, e.max(end))),
                Some((s, e)) => {
                    total += e - s;
                    Some((start, end))
                }
                None => Some((start, end)),
            };
        }
        if let Some((s, e)) = current {
            total += e - s;
        }
        Duration::from_micros(total)
    }

    /// The wall time no command of its own accounts for: for apply, its reading of the host, its
    /// planning, its journal and its manifest; for the floor, the shell's.
    pub fn own(&self) -> Duration {
        self.wall.saturating_sub(self.busy())
    }
}

/// A pair: both sides on freshly blanked drives, in the order the guest ran them.
#[derive(Debug, Clone, PartialEq)]
pub struct Pair {
    pub number: usize,
    pub apply_first: bool,
    pub floor: SideRun,
    pub apply: SideRun,
}

impl Pair {
    pub fn ratio(&self) -> f64 {
        self.apply.wall.as_secs_f64() / self.floor.wall.as_secs_f64()
    }
}

/// The floor's stamps: one `START_US END_US COMMAND...` line per command.
pub fn parse_stamps(text: &str) -> Result<Vec<CommandSpan>> {
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|line| {
            let mut words = line.splitn(3, ' ');
            let (Some(start), Some(end), Some(command)) =
                (words.next(), words.next(), words.next())
            else {
                bail!("stamps: `{line}` is not START_US END_US COMMAND");
            };
            Ok(CommandSpan {
                command: unquoted(command),
                start_us: number(start, line)?,
                end_us: number(end, line)?,
            })
        })
        .collect()
}

/// apply's commands from its -v log: the runner's `ran command=... at_us=N us=N` lines (the
/// command may hold spaces and `=`, so the fields after it are found from the right).
pub fn parse_apply_log(text: &str) -> Result<Vec<CommandSpan>> {
    let mut spans = Vec::new();
    for line in text.lines() {
        let Some(after) = line
            .split_once(": ran command=")
            .or_else(|| line.split_once(": ran, failed command="))
            .map(|(_, rest)| rest)
        else {
            continue;
        };
        let Some((command, fields)) = after.split_once(" code=") else {
            bail!("apply's log: `{line}` has no code= after its command");
        };
        let field = |name: &str| -> Result<u64> {
            let value = fields
                .split(' ')
                .find_map(|f| f.strip_prefix(name)?.strip_prefix('='))
                .with_context(|| {
                    format!("apply's log: `{line}` has no {name}= (a binary from before the runner logged it)")
                })?;
            number(value, line)
        };
        let start_us = field("at_us")?;
        spans.push(CommandSpan {
            command: unquoted(command),
            start_us,
            end_us: start_us + field("us")?,
        });
    }
    Ok(spans)
}

fn number(text: &str, line: &str) -> Result<u64> {
    text.parse()
        .with_context(|| format!("`{line}`: `{text}` is not a number"))
}

/// The floor's stamps print bash's `$*`, which has lost the plan's shell quoting; apply's log
/// keeps it. Both compare without quotes.
fn unquoted(command: &str) -> String {
    command.replace(['\'', '"'], "")
}

/// The pairs' ratios and apply's own part, summarised.
#[derive(Debug, Clone, PartialEq)]
pub struct PairSummary {
    pub pairs: usize,
    pub median: f64,
    pub lower_quartile: f64,
    pub upper_quartile: f64,
    pub min: f64,
    pub max: f64,
    pub apply_own: Duration,
    pub floor_own: Duration,
}

impl PairSummary {
    pub fn spread(&self) -> f64 {
        self.upper_quartile - self.lower_quartile
    }
}

pub fn summarise(pairs: &[Pair]) -> Option<PairSummary> {
    if pairs.is_empty() {
        return None;
    }
    let mut ratios: Vec<f64> = pairs.iter().map(Pair::ratio).collect();
    ratios.sort_by(f64::total_cmp);
    let own = |side: fn(&Pair) -> &SideRun| {
        let mut owns: Vec<Duration> = pairs.iter().map(|p| side(p).own()).collect();
        owns.sort();
        Duration::from_secs_f64(quantile(
            &owns.iter().map(Duration::as_secs_f64).collect::<Vec<_>>(),
            0.5,
        ))
    };
    Some(PairSummary {
        pairs: pairs.len(),
        median: quantile(&ratios, 0.5),
        lower_quartile: quantile(&ratios, 0.25),
        upper_quartile: quantile(&ratios, 0.75),
        min: ratios[0],
        max: ratios[ratios.len() - 1],
        apply_own: own(|p| &p.apply),
        floor_own: own(|p| &p.floor),
    })
}

/// Linear interpolation between the closest ranks of sorted values (numpy's default).
fn quantile(sorted: &[f64], q: f64) -> f64 {
    let position = q * (sorted.len() - 1) as f64;
    let below = position.floor() as usize;
    let above = position.ceil() as usize;
    sorted[below] + (sorted[above] - sorted[below]) * (position - below as f64)
}

/// What the pairs say of the two targets they judge.
#[derive(Debug, Clone, PartialEq)]
pub enum PairVerdict {
    Met,
    Missed(Vec<String>),
    /// The ratios straddle the target too widely to say; apply's own part is still judged.
    TooWide(String),
}

pub fn judge(s: &PairSummary) -> PairVerdict {
    let mut missed = Vec::new();
    if s.apply_own > MAX_APPLY_OWN {
        missed.push(format!(
            "apply's own part = {} ms (median run), the target is at most {} ms",
            s.apply_own.as_millis(),
            MAX_APPLY_OWN.as_millis()
        ));
    }
    let straddles = s.lower_quartile <= MAX_PAIR_RATIO && MAX_PAIR_RATIO < s.upper_quartile;
    if straddles && s.spread() > MAX_SPREAD {
        let why = format!(
            "the spread is too wide to judge apply/floor-lanes: the middle half of {} pairs runs \
             from {:.2} to {:.2} ({:.2} wide, more than {MAX_SPREAD:.2}) around the target \
             {MAX_PAIR_RATIO:.2}; rerun on an idle machine",
            s.pairs,
            s.lower_quartile,
            s.upper_quartile,
            s.spread()
        );
        return match missed.is_empty() {
            true => PairVerdict::TooWide(why),
            false => {
                missed.push(why);
                PairVerdict::Missed(missed)
            }
        };
    }
    if s.median > MAX_PAIR_RATIO {
        missed.insert(
            0,
            format!(
                "apply/floor-lanes = {:.2} (median of {} pairs), the target is at most {MAX_PAIR_RATIO:.2}",
                s.median, s.pairs
            ),
        );
    }
    match missed.is_empty() {
        true => PairVerdict::Met,
        false => PairVerdict::Missed(missed),
    }
}

/// The pairs, one line each, then the summary lines.
pub fn pairs_table(pairs: &[Pair]) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:<5} {:<12} {:>11} {:>9} {:>6} {:>10} {:>10}",
        "pair", "first", "floor-lanes", "apply", "ratio", "apply own", "floor own"
    );
    for p in pairs {
        let _ = writeln!(
            out,
            "{:<5} {:<12} {:>9.3} s {:>7.3} s {:>6.2} {:>7} ms {:>7} ms",
            p.number,
            if p.apply_first {
                "apply"
            } else {
                "floor-lanes"
            },
            p.floor.wall.as_secs_f64(),
            p.apply.wall.as_secs_f64(),
            p.ratio(),
            p.apply.own().as_millis(),
            p.floor.own().as_millis(),
        );
    }
    out
}

/// Each command's median time on both sides, the floor's commands in their order, then what
/// apply ran that the floor does not (its reads of the host).
pub fn commands_table(pairs: &[Pair]) -> String {
    let mut floor: BTreeMap<&str, Vec<Duration>> = BTreeMap::new();
    let mut apply: BTreeMap<&str, Vec<Duration>> = BTreeMap::new();
    let mut order: Vec<&str> = Vec::new();
    for p in pairs {
        for c in &p.floor.commands {
            if !floor.contains_key(c.command.as_str()) {
                order.push(&c.command);
            }
            floor.entry(&c.command).or_default().push(c.duration());
        }
        for c in &p.apply.commands {
            apply.entry(&c.command).or_default().push(c.duration());
        }
    }
    let mut out = String::new();
    let _ = writeln!(out, "{:>10} {:>10}  command", "floor", "apply");
    let ms = |runs: Option<&Vec<Duration>>| match runs {
        Some(runs) => format!("{} ms", median(runs).as_millis()),
        None => "-".to_string(),
    };
    for command in &order {
        let _ = writeln!(
            out,
            "{:>10} {:>10}  {}",
            ms(floor.get(command)),
            ms(apply.get(command)),
            shortened(command)
        );
    }
    for (command, runs) in &apply {
        if !floor.contains_key(command) {
            let _ = writeln!(
                out,
                "{:>10} {:>10}  {} (apply only, {} per run)",
                "-",
                ms(Some(runs)),
                shortened(command),
                runs.len() / pairs.len().max(1)
            );
        }
    }
    out
}

/// A zpool create line runs to hundreds of characters of properties and by-id paths: its start
/// (tool, verb, options) and its end (the pool's name and drives, a dataset's name) say which
/// command it is.
fn shortened(command: &str) -> String {
    const HEAD: usize = 48;
    const TAIL: usize = 48;
    let chars: Vec<char> = command.chars().collect();
    if chars.len() <= HEAD + TAIL + 3 {
        return command.to_string();
    }
    let head: String = chars[..HEAD].iter().collect();
    let tail: String = chars[chars.len() - TAIL..].iter().collect();
    format!("{head}...{tail}")
}

fn median(runs: &[Duration]) -> Duration {
    let mut sorted = runs.to_vec();
    sorted.sort();
    let secs: Vec<f64> = sorted.iter().map(Duration::as_secs_f64).collect();
    Duration::from_secs_f64(quantile(&secs, 0.5))
}

/// The summary's two lines: the ratios and the own parts.
pub fn summary_lines(s: &PairSummary) -> String {
    format!(
        "apply/floor-lanes over {} pairs: median {:.2}, middle half {:.2} to {:.2} ({:.2} wide), \
         all {:.2} to {:.2}\nown part (wall time outside any command), median run: apply {} ms, \
         floor-lanes {} ms\n",
        s.pairs,
        s.median,
        s.lower_quartile,
        s.upper_quartile,
        s.spread(),
        s.min,
        s.max,
        s.apply_own.as_millis(),
        s.floor_own.as_millis()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn span(command: &str, start_us: u64, end_us: u64) -> CommandSpan {
        CommandSpan {
            command: command.to_string(),
            start_us,
            end_us,
        }
    }

    /// A pair with no command stamps: its walls in seconds (apply's own part is set apart).
    fn pair(number: usize, floor: f64, apply: f64) -> Pair {
        let side = |wall: f64| SideRun {
            wall: Duration::from_secs_f64(wall),
            commands: vec![span(
                "zpool create quickOS",
                0,
                (wall * 1e6) as u64 - 100_000,
            )],
        };
        Pair {
            number,
            apply_first: number % 2 == 1,
            floor: side(floor),
            apply: side(apply),
        }
    }

    #[test]
    fn long_commands_keep_their_start_and_their_end() {
        let create = format!(
            "zpool create -o ashift=12 {} quickOS mirror /dev/disk/by-id/nvme-A /dev/disk/by-id/nvme-B",
            "-O x=y ".repeat(30)
        );
        let short = shortened(&create);
        assert!(short.starts_with("zpool create -o ashift=12"), "{short}");
        assert!(short.ends_with("/dev/disk/by-id/nvme-B"), "{short}");
        assert!(short.len() < 110, "{short}");
        assert_eq!(shortened("zfs create quickOS/vm"), "zfs create quickOS/vm");
    }

    #[test]
    fn overlapping_lanes_count_once_and_gaps_are_own_time() {
        let run = SideRun {
            wall: Duration::from_millis(1_000),
            commands: vec![
                span("zpool create quickOS", 100_000, 600_000),
                span("zpool create fastData", 150_000, 500_000),
                span("zfs create quickOS/a", 600_000, 700_000),
                span("pvesm add", 800_000, 850_000),
            ],
        };
        assert_eq!(run.busy(), Duration::from_millis(650));
        assert_eq!(run.own(), Duration::from_millis(350));
    }

    #[test]
    fn stamps_and_apply_log_give_the_same_commands() {
        let floor = parse_stamps(
            "1733612345100000 1733612345600000 zpool create -o ashift=12 quickOS mirror /dev/a /dev/b\n",
        )
        .unwrap();
        let apply = parse_apply_log(
            " INFO phoenix_zfs::cli::commands::apply: planning\n \
             INFO phoenix_zfs::runner::system: ran command=zpool create -o 'ashift=12' quickOS mirror /dev/a /dev/b code=0 ms=480 at_us=1733612349000000 us=480123\n \
             WARN phoenix_zfs::runner::system: ran, failed command=zpool import code=Some(1) ms=5 at_us=1733612348000000 us=5000 stderr=no pools available\n",
        )
        .unwrap();
        assert_eq!(floor[0].command, apply[0].command);
        assert_eq!(floor[0].duration(), Duration::from_millis(500));
        assert_eq!(apply[0].duration(), Duration::from_micros(480_123));
        assert_eq!(apply[1].command, "zpool import");
        assert!(parse_stamps("12 zpool\n").is_err());
        assert!(parse_apply_log(
            " INFO x: ran command=zpool list code=0 ms=3\n" // no at_us: an older binary
        )
        .unwrap_err()
        .to_string()
        .contains("no at_us="));
    }

    /// The four rounds of the boot (floor-lanes / apply, seconds): a clear miss, whatever
    /// the spread.
    #[test]
    fn a_clear_miss_says_missed() {
        let pairs = [
            pair(1, 4.39, 6.56),
            pair(2, 5.21, 5.63),
            pair(3, 4.12, 5.58),
            pair(4, 5.36, 6.92),
        ];
        let s = summarise(&pairs).unwrap();
        assert!(s.lower_quartile > MAX_PAIR_RATIO, "{s:?}");
        match judge(&s) {
            PairVerdict::Missed(why) => {
                assert!(
                    why[0].starts_with("apply/floor-lanes = 1.32 (median of 4 pairs)"),
                    "{why:?}"
                )
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_wide_spread_around_the_target_says_so() {
        let pairs: Vec<Pair> = [0.95, 1.0, 1.02, 1.08, 1.12, 1.16, 1.2, 1.25]
            .iter()
            .enumerate()
            .map(|(i, r)| pair(i + 1, 4.0, 4.0 * r))
            .collect();
        let s = summarise(&pairs).unwrap();
        assert!(s.spread() > MAX_SPREAD);
        match judge(&s) {
            PairVerdict::TooWide(why) => assert!(why.contains("too wide to judge"), "{why}"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_narrow_spread_is_judged_on_its_median() {
        let ratios = [1.05, 1.06, 1.07, 1.08, 1.09, 1.1, 1.11, 1.12];
        let pairs: Vec<Pair> = ratios
            .iter()
            .enumerate()
            .map(|(i, r)| pair(i + 1, 4.0, 4.0 * r))
            .collect();
        let s = summarise(&pairs).unwrap();
        assert!((s.median - 1.085).abs() < 1e-9, "{s:?}");
        assert_eq!(judge(&s), PairVerdict::Met);
        let slower: Vec<Pair> = ratios
            .iter()
            .enumerate()
            .map(|(i, r)| pair(i + 1, 4.0, 4.0 * (r + 0.04)))
            .collect();
        assert!(matches!(
            judge(&summarise(&slower).unwrap()),
            PairVerdict::Missed(_)
        ));
    }

    #[test]
    fn apply_own_part_is_judged_even_when_the_ratio_is_met() {
        let mut pairs: Vec<Pair> = (1..=8).map(|i| pair(i, 4.0, 4.2)).collect();
        for p in &mut pairs {
            p.apply.commands[0].end_us = 3_500_000;
        }
        let s = summarise(&pairs).unwrap();
        assert_eq!(s.apply_own, Duration::from_millis(700));
        match judge(&s) {
            PairVerdict::Missed(why) => {
                assert_eq!(why.len(), 1);
                assert!(why[0].starts_with("apply's own part = 700 ms"), "{why:?}");
            }
            other => panic!("{other:?}"),
        }
    }
}
