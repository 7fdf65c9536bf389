//! The one way an error becomes text: its own message, then each cause under it, once.
//!
//! An error's message says only what happened to what; a lower failure is its `#[source]`, never
//! part of its message. [`Report`] walks that chain and writes it on one line,
//! `what: cause: cause's cause`, which is how the binary, xtask and the pvesm stand-in print an
//! error, and how an error is stored as text (the manifest, the plan JSON, a log field).

use std::error::Error;
use std::fmt;

/// An error with its causes, for `{}`: `Report(&err).to_string()`, `format!("{}", Report(&err))`.
#[derive(Clone, Copy)]
pub struct Report<'a>(pub &'a (dyn Error + 'static));

impl fmt::Display for Report<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut said = self.0.to_string();
        f.write_str(&said)?;
        let mut cause = self.0.source();
        while let Some(error) = cause {
            let text = error.to_string();
            // Other crates' errors (ssh-key's, ssh-encoding's) end their own message with their
            // source's as well: a cause the level above has just said is not said twice.
            if !said.ends_with(&text) {
                write!(f, ": {text}")?;
            }
            said = text;
            cause = error.source();
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::Report;
    use std::io;

    #[derive(Debug, thiserror::Error)]
    #[error("pool tank was not created")]
    struct NotCreated {
        #[source]
        source: JournalWrite,
    }

    #[derive(Debug, thiserror::Error)]
    #[error("cannot write the journal /run/phoenix-zfs/journal.json")]
    struct JournalWrite {
        #[source]
        source: io::Error,
    }

    #[derive(Debug, thiserror::Error)]
    #[error("`zpool create tank`: {0}")]
    struct Embedding(#[source] io::Error);

    fn three_levels() -> NotCreated {
        NotCreated {
            source: JournalWrite {
                source: io::Error::other("no space left on device"),
            },
        }
    }

    #[test]
    fn each_level_is_printed_once_in_order() {
        let line = Report(&three_levels()).to_string();
        assert_eq!(
            line,
            "pool tank was not created: cannot write the journal /run/phoenix-zfs/journal.json: \
             no space left on device"
        );
        for level in [
            "pool tank was not created",
            "cannot write the journal",
            "no space left on device",
        ] {
            assert_eq!(line.matches(level).count(), 1, "{level} in {line}");
        }
    }

    #[test]
    fn an_error_without_a_cause_is_its_message() {
        let error = io::Error::new(io::ErrorKind::NotFound, "no such file");
        assert_eq!(Report(&error).to_string(), "no such file");
    }

    /// The library's errors that once ended their message with their source's: the cause is
    /// said exactly once, after the error's own words.
    #[test]
    fn the_library_errors_say_their_cause_once() {
        let cause = "permission denied";
        let could_not_start = crate::runner::RunError::spawn(
            "zpool create tank".into(),
            io::Error::new(io::ErrorKind::PermissionDenied, cause),
        );
        let dir = tempfile::tempdir().unwrap();
        let blocker = dir.path().join("etc");
        std::fs::write(&blocker, "a file where a directory must be").unwrap();
        let write =
            crate::apply::atomic_file::write_atomically(&blocker.join("x.conf"), b"x").unwrap_err();
        let write_cause = write.source.to_string();
        let journal = crate::apply::journal::JournalError::Write {
            path: "/run/phoenix-zfs/journal.json".into(),
            source: io::Error::new(io::ErrorKind::PermissionDenied, cause),
        };
        for (error, said, cause) in [
            (
                &could_not_start as &(dyn std::error::Error + 'static),
                "`zpool create tank`: could not start".to_string(),
                cause,
            ),
            (
                &write,
                format!("cannot write {}", blocker.join("x.conf").display()),
                write_cause.as_str(),
            ),
            (
                &journal,
                "cannot write the journal /run/phoenix-zfs/journal.json".to_string(),
                cause,
            ),
        ] {
            let line = Report(error).to_string();
            assert_eq!(line, format!("{said}: {cause}"));
            assert_eq!(line.matches(cause).count(), 1, "{line}");
            assert!(!error.to_string().contains(cause), "{error}");
        }
    }

    /// ssh-key's errors end their message with their source's; the host key's error says what
    /// ssh-key found once.
    #[test]
    fn a_host_key_that_is_not_a_key_is_reported_without_repeats() {
        let dir = tempfile::tempdir().unwrap();
        let key = dir.path().join("ssh_host_ed25519_key");
        std::fs::write(&key, "-----BEGIN OPENSSH PRIVATE KEY-----\nnot base64!\n").unwrap();
        let error = crate::manifest::signing::load_host_key(&key).unwrap_err();
        let line = Report(&error).to_string();
        let own = error.to_string();
        assert!(line.starts_with(&format!("{own}: ")), "{line}");
        let mut cause = std::error::Error::source(&error);
        let mut levels = 0;
        while let Some(level) = cause {
            let text = level.to_string();
            assert_eq!(line.matches(&text).count(), 1, "{text} in {line}");
            levels += 1;
            cause = level.source();
        }
        // ssh-key's Encoding(Pem(..)): three levels under ours, each with the same words.
        assert!(levels >= 2, "{error:?}");
    }

    #[test]
    fn a_cause_its_parent_already_ends_with_is_not_repeated() {
        let error = Embedding(io::Error::other("permission denied"));
        assert_eq!(
            Report(&error).to_string(),
            "`zpool create tank`: permission denied"
        );
    }
}
