//! A command that could not do its work: the exit it calls for and the message `main` prints.

use phoenix_zfs::exit::Exit;
use phoenix_zfs::report::Report;
use std::error::Error;

/// What a command ends with: the exit it calls for, or a failure for `main` to print.
pub type Outcome = Result<Exit, Failure>;

/// Why a command stopped: the message says what happened, to what, and what to do.
#[derive(Debug)]
pub struct Failure {
    pub exit: Exit,
    pub message: String,
}

impl Failure {
    /// A failure of `error`: its message, then each cause under it ([`Report`]).
    pub fn new(exit: Exit, error: &(dyn Error + 'static)) -> Failure {
        Failure::said(exit, Report(error).to_string())
    }

    /// A failure the command words itself; a cause in it is written with [`Report`].
    pub fn said(exit: Exit, message: String) -> Failure {
        Failure { exit, message }
    }

    /// Exit 2: the layout or the command line is wrong.
    pub fn usage(error: impl Error + 'static) -> Failure {
        Failure::new(Exit::Usage, &error)
    }

    /// Exit 1: the host could not be read, or a file could not be written.
    pub fn unexpected(error: impl Error + 'static) -> Failure {
        Failure::new(Exit::Unexpected, &error)
    }
}

/// The one form of an error line. An error's message says what happened, and its causes are its
/// `source()` chain, which [`Report`] walks and prints once each (see the `report` module); every
/// failure's message is built that way, so this prints it as it is. `main` prints a command's
/// failure with it; a command prints with it only a problem it carries on after (a notice it
/// could not write, say), so that the line comes where it happened.
pub fn print_error(message: &str) {
    eprintln!("phoenix-zfs: error: {message}");
}
