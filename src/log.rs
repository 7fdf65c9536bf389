//! The log on stderr: one `LEVEL target: message key=value` line per tracing event.
//!
//! tracing-subscriber's `fmt` layer with its registry, span storage and ANSI styling took bytes
//! of a binary that must fit Proxmox's 1 MiB first-boot hook (BENCHMARKS.md, "The first-boot
//! hook"); phoenix-zfs logs events only (no spans), to stderr, filtered by one level, and this
//! does exactly that.

use std::fmt::{self, Write as _};
use std::io::Write as _;
use tracing::field::{Field, Visit};
use tracing::level_filters::LevelFilter;
use tracing::span::{Attributes, Id, Record};
use tracing::subscriber::Interest;
use tracing::{Event, Metadata, Subscriber};

/// Writes events at `max` and above to stderr.
pub struct StderrLog {
    max: LevelFilter,
    /// Where a finished line goes: stderr, or a test's buffer.
    sink: fn(&str),
}

fn write_stderr(line: &str) {
    // A log line that cannot be written (stderr closed) must not stop the provisioning.
    let _ = std::io::stderr().lock().write_all(line.as_bytes());
}

impl StderrLog {
    pub fn new(max: LevelFilter) -> StderrLog {
        StderrLog {
            max,
            sink: write_stderr,
        }
    }

    /// Installs the log for the whole process; a second call keeps the first log.
    pub fn install(self) {
        let _ = tracing::subscriber::set_global_default(self);
    }
}

/// The line an event becomes, without its newline.
pub fn format_event(event: &Event<'_>) -> String {
    let metadata = event.metadata();
    let mut fields = Fields::default();
    event.record(&mut fields);
    let mut line = format!(
        "{:>5} {}: {}",
        metadata.level(),
        metadata.target(),
        fields.message
    );
    line.push_str(&fields.rest);
    line
}

#[derive(Default)]
struct Fields {
    message: String,
    rest: String,
}

impl Visit for Fields {
    fn record_str(&mut self, field: &Field, value: &str) {
        // Display, not Debug: a command line or a path reads as itself, as with `%value`.
        self.record_debug(field, &format_args!("{value}"));
    }

    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        // An error field reads as the error line does: its message, then each cause once.
        self.record_debug(field, &format_args!("{}", crate::report::Report(value)));
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        if field.name() == "message" {
            let _ = write!(self.message, "{value:?}");
        } else {
            let _ = write!(self.rest, " {}={value:?}", field.name());
        }
    }
}

impl Subscriber for StderrLog {
    fn register_callsite(&self, metadata: &'static Metadata<'static>) -> Interest {
        if self.enabled(metadata) {
            Interest::always()
        } else {
            Interest::never()
        }
    }

    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        *metadata.level() <= self.max
    }

    fn max_level_hint(&self) -> Option<LevelFilter> {
        Some(self.max)
    }

    // Spans are accepted so that a library's `span!` does no harm, but nothing records them.
    fn new_span(&self, _span: &Attributes<'_>) -> Id {
        Id::from_u64(1)
    }

    fn record(&self, _span: &Id, _values: &Record<'_>) {}

    fn record_follows_from(&self, _span: &Id, _follows: &Id) {}

    fn event(&self, event: &Event<'_>) {
        let mut line = format_event(event);
        line.push('\n');
        (self.sink)(&line);
    }

    fn enter(&self, _span: &Id) {}

    fn exit(&self, _span: &Id) {}
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::RefCell;

    thread_local! {
        static LINES: RefCell<String> = const { RefCell::new(String::new()) };
    }

    fn capture(line: &str) {
        LINES.with(|lines| lines.borrow_mut().push_str(line));
    }

    /// What the log writes at `max` while `emit` runs on this thread.
    fn logged(max: LevelFilter, emit: impl FnOnce()) -> String {
        LINES.with(|lines| lines.borrow_mut().clear());
        let log = StderrLog { max, sink: capture };
        tracing::subscriber::with_default(log, emit);
        LINES.with(|lines| lines.borrow().clone())
    }

    #[test]
    fn an_event_is_level_target_message_and_fields() {
        let text = logged(LevelFilter::INFO, || {
            let command = "zpool list -H -p";
            tracing::warn!(command = %command, code = ?Some(1), ms = 12u64, "ran, failed");
        });
        assert_eq!(
            text,
            " WARN phoenix_zfs::log::tests: ran, failed command=zpool list -H -p code=Some(1) ms=12\n"
        );
    }

    #[test]
    fn string_fields_read_as_themselves() {
        let text = logged(LevelFilter::DEBUG, || {
            tracing::debug!(stdout = "a b", "output");
        });
        assert_eq!(text, "DEBUG phoenix_zfs::log::tests: output stdout=a b\n");
    }

    #[test]
    fn an_error_field_reads_with_each_cause_once() {
        let error = crate::apply::journal::JournalError::Write {
            path: "/run/phoenix-zfs/journal.json".into(),
            source: std::io::Error::other("read-only file system"),
        };
        let text = logged(LevelFilter::WARN, || {
            tracing::warn!(error = &error as &dyn std::error::Error, "journal");
        });
        assert_eq!(
            text,
            " WARN phoenix_zfs::log::tests: journal error=cannot write the journal \
             /run/phoenix-zfs/journal.json: read-only file system\n"
        );
    }

    #[test]
    fn events_below_the_level_are_dropped() {
        let text = logged(LevelFilter::WARN, || {
            tracing::info!("hidden");
            tracing::debug!("hidden too");
            tracing::error!("shown");
        });
        assert_eq!(text, "ERROR phoenix_zfs::log::tests: shown\n");
    }

    #[test]
    fn off_writes_nothing() {
        assert_eq!(logged(LevelFilter::OFF, || tracing::error!("no")), "");
    }
}
