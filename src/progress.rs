//! Progress of apply: one indicatif bar over the actions on a terminal, plain log lines otherwise
//! (under systemd the journal keeps them).

use indicatif::{ProgressBar, ProgressStyle};
use phoenix_zfs::apply::Progress;
use phoenix_zfs::manifest::{ActionRecord, ActionResult};
use phoenix_zfs::plan::Action;
use phoenix_zfs::situation::Situation;
use std::thread::ScopedJoinHandle;

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

/// Says where apply runs (`situation: ...` on stdout) before anything else apply reports. The
/// situation is asked of systemd (a process) beside apply's first assessment; the first progress
/// line, or the end of the run, waits for it.
pub struct SituationFirst<'scope> {
    asking: Option<ScopedJoinHandle<'scope, Situation>>,
    said: Option<Situation>,
    inner: Reporter,
}

impl<'scope> SituationFirst<'scope> {
    /// The situation is being asked for on another thread.
    pub fn asking(asking: ScopedJoinHandle<'scope, Situation>, inner: Reporter) -> Self {
        SituationFirst {
            asking: Some(asking),
            said: None,
            inner,
        }
    }

    /// The situation was known, and said, before apply started.
    pub fn said(situation: Situation, inner: Reporter) -> Self {
        SituationFirst {
            asking: None,
            said: Some(situation),
            inner,
        }
    }

    /// The situation, said once.
    pub fn situation(&mut self) -> Situation {
        if let Some(asking) = self.asking.take() {
            let situation = asking
                .join()
                .unwrap_or_else(|p| std::panic::resume_unwind(p));
            println!("situation: {situation}");
            self.said = Some(situation);
        }
        self.said.clone().unwrap_or(Situation::NormalHost)
    }
}

impl Progress for SituationFirst<'_> {
    fn round(&mut self, actions: &[Action]) {
        self.situation();
        self.inner.round(actions);
    }

    fn started(&mut self, index: usize, action: &Action) {
        self.inner.started(index, action);
    }

    fn finished(&mut self, index: usize, record: &ActionRecord) {
        self.inner.finished(index, record);
    }
}
