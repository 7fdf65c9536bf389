//! Progress of apply: on a terminal, one status line redrawn in place at each step (actions done
//! of the round's, seconds since it began, the action started last); plain log lines otherwise
//! (under systemd the journal keeps them). The line is our own, not indicatif's: that crate and
//! what it pulls in were about 5 % of the binary that must fit Proxmox's first-boot hook.

use phoenix_zfs::apply::Progress;
use phoenix_zfs::manifest::{ActionRecord, ActionResult};
use phoenix_zfs::plan::Action;
use std::time::Instant;

pub enum Reporter {
    /// A terminal; `open` while the status line has no newline yet; `stopped` once a failure
    /// ended it, until the next round.
    Line {
        of: usize,
        done: usize,
        since: Instant,
        message: String,
        open: bool,
        stopped: bool,
    },
    Lines,
}

impl Reporter {
    pub fn for_stderr() -> Reporter {
        use std::io::IsTerminal;
        if std::io::stderr().is_terminal() && std::env::var_os("INVOCATION_ID").is_none() {
            Reporter::Line {
                of: 0,
                done: 0,
                since: Instant::now(),
                message: String::new(),
                open: false,
                stopped: false,
            }
        } else {
            Reporter::Lines
        }
    }

    /// Redraws the status line where it is (carriage return, erase the line); `end` ends it.
    fn draw(&mut self, end: bool) {
        if let Reporter::Line {
            of,
            done,
            since,
            message,
            open,
            stopped: false,
        } = self
        {
            let line = status(*done, *of, since.elapsed().as_secs(), message, columns());
            eprint!("\r\x1b[K{line}{}", if end { "\n" } else { "" });
            *open = !end;
        }
    }
}

/// `[3/10] 12s create dataset ...`, cut to one character less than `width` so that it never
/// wraps (a wrapped line is not redrawn in place).
fn status(done: usize, of: usize, seconds: u64, message: &str, width: usize) -> String {
    let line = format!("[{done}/{of}] {seconds}s {message}");
    line.chars().take(width.saturating_sub(1)).collect()
}

/// The terminal's width in columns (of stderr), 80 when it does not say.
fn columns() -> usize {
    let mut size = nix::libc::winsize {
        ws_row: 0,
        ws_col: 0,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCGWINSZ writes one winsize into the struct it is given, and nothing else.
    let said = unsafe { nix::libc::ioctl(2, nix::libc::TIOCGWINSZ, &mut size) };
    match size.ws_col {
        0 => 80,
        _ if said != 0 => 80,
        columns => usize::from(columns),
    }
}

impl Progress for Reporter {
    fn round(&mut self, actions: &[Action]) {
        match self {
            Reporter::Line {
                of,
                done,
                since,
                message,
                stopped,
                ..
            } => {
                (*of, *done, *since, *stopped) = (actions.len(), 0, Instant::now(), false);
                message.clear();
                self.draw(false);
            }
            Reporter::Lines => eprintln!("phoenix-zfs: {} action(s) to run", actions.len()),
        }
    }

    fn started(&mut self, index: usize, action: &Action) {
        match self {
            Reporter::Line { message, .. } => {
                *message = action.summary();
                self.draw(false);
            }
            Reporter::Lines => eprintln!("phoenix-zfs: [{}] {}", index + 1, action.summary()),
        }
    }

    fn finished(&mut self, index: usize, record: &ActionRecord) {
        let failed = record.result == ActionResult::Failed;
        match self {
            Reporter::Line {
                of, done, message, ..
            } => {
                *done += 1;
                if failed {
                    *message = format!("failed: {}", record.summary);
                }
                let end = failed || *done == *of;
                self.draw(end);
                // What the other pools' lanes still finish is in the manifest, as before.
                if let Reporter::Line { stopped, .. } = self {
                    *stopped |= failed;
                }
            }
            Reporter::Lines => {
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

/// A status line a round left open (it stopped before its last action) ends before what apply
/// prints next.
impl Drop for Reporter {
    fn drop(&mut self) {
        if let Reporter::Line { open: true, .. } = self {
            eprintln!();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::status;

    #[test]
    fn the_status_line_never_reaches_the_last_column() {
        assert_eq!(
            status(3, 10, 12, "create dataset quickOS/vm-disks", 80),
            "[3/10] 12s create dataset quickOS/vm-disks"
        );
        assert_eq!(status(3, 10, 12, "create dataset", 12), "[3/10] 12s ");
        // Cut by characters, never inside one.
        assert_eq!(status(0, 2, 0, "éé", 11), "[0/2] 0s é");
        assert_eq!(status(0, 2, 0, "", 0), "");
    }
}
