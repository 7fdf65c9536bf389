//! Progress of apply: one indicatif bar over the actions on a terminal, plain log lines otherwise
//! (under systemd the journal keeps them).

use indicatif::{ProgressBar, ProgressStyle};
use phoenix_zfs::apply::Progress;
use phoenix_zfs::manifest::{ActionRecord, ActionResult};
use phoenix_zfs::plan::Action;

pub enum Reporter {
    Bar(Option<ProgressBar>),
    Lines,
}

impl Reporter {
    pub fn for_stderr() -> Reporter {
        use std::io::IsTerminal;
        if std::io::stderr().is_terminal() && std::env::var_os("INVOCATION_ID").is_none() {
            Reporter::Bar(None)
        } else {
            Reporter::Lines
        }
    }
}

impl Progress for Reporter {
    fn round(&mut self, actions: &[Action]) {
        match self {
            Reporter::Bar(bar) => {
                let b = ProgressBar::new(actions.len() as u64);
                b.set_style(
                    ProgressStyle::with_template("{bar:30} {pos}/{len} {elapsed} {msg}")
                        .unwrap_or_else(|_| ProgressStyle::default_bar()),
                );
                *bar = Some(b);
            }
            Reporter::Lines => eprintln!("phoenix-zfs: {} action(s) to run", actions.len()),
        }
    }

    fn started(&mut self, index: usize, action: &Action) {
        match self {
            Reporter::Bar(Some(bar)) => bar.set_message(action.summary()),
            _ => eprintln!("phoenix-zfs: [{}] {}", index + 1, action.summary()),
        }
    }

    fn finished(&mut self, index: usize, record: &ActionRecord) {
        let failed = record.result == ActionResult::Failed;
        match self {
            Reporter::Bar(Some(bar)) => {
                bar.inc(1);
                if failed {
                    bar.abandon_with_message(format!("failed: {}", record.summary));
                }
            }
            _ => {
                let verdict = if failed { "failed" } else { "done" };
                eprintln!(
                    "phoenix-zfs: [{}] {verdict} in {} ms",
                    index + 1,
                    record.duration_ms
                );
            }
        }
    }
}
