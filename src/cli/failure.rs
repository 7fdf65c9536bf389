//! A command that could not do its work: the exit it calls for and the message `main` prints.

use phoenix_zfs::exit::Exit;
use std::fmt::Display;

/// What a command ends with: the exit it calls for, or a failure for `main` to print.
pub type Outcome = Result<Exit, Failure>;

/// Why a command stopped: the message says what happened, to what, and what to do.
#[derive(Debug)]
pub struct Failure {
    pub exit: Exit,
    pub message: String,
}

impl Failure {
    pub fn new(exit: Exit, message: impl Display) -> Failure {
        Failure {
            exit,
            message: message.to_string(),
        }
    }

    /// Exit 2: the layout or the command line is wrong.
    pub fn usage(message: impl Display) -> Failure {
        Failure::new(Exit::Usage, message)
    }

    /// Exit 1: the host could not be read, or a file could not be written.
    pub fn unexpected(message: impl Display) -> Failure {
        Failure::new(Exit::Unexpected, message)
    }
}

/// The one form of an error line: the error's own message only, never its `source()` chain,
/// which the library's messages already end with (see the runner module's doc). `main` prints a
/// command's failure with it; a command prints with it only a problem it carries on after (a
/// notice it could not write, say), so that the line comes where it happened.
pub fn print_error(message: impl Display) {
    eprintln!("phoenix-zfs: error: {message}");
}
