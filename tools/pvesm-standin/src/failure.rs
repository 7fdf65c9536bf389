//! How the stand-in fails: with the text Proxmox's pvesm prints for the same mistake (a Perl
//! `die` message, or a PVE::Exception with HTTP code 400 followed by the command's usage line),
//! or, for what only the stand-in lacks, a message that says so.

use thiserror::Error;

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum Failure {
    /// Getopt::Long's warning, then pvesm's "unable to parse option".
    #[error("Unknown option: {0}\n400 unable to parse option")]
    UnknownOption(String),
    /// A parameter exception without details (`400 MESSAGE`).
    #[error("400 {0}")]
    Usage(String),
    /// A value the API schema rejects.
    #[error("400 Parameter verification failed.\n{key}: {message}")]
    ParameterVerification { key: String, message: String },
    /// A plain `die` in the storage code.
    #[error("{0}")]
    Plain(String),
    /// A `die` inside the storage.cfg lock, which prefixes what failed.
    #[error("{action}: {message}")]
    Locked {
        action: &'static str,
        message: String,
    },
    #[error("ERROR: unknown command 'pvesm {0}'\nUSAGE: pvesm <COMMAND> [ARGS] [OPTIONS]\n{commands}", commands = COMMANDS)]
    UnknownCommand(String),
    /// Something Proxmox's pvesm does that this stand-in does not.
    #[error("pvesm-standin: {0}")]
    StandIn(String),
}

const COMMANDS: &str = "       pvesm add <type> <storage> [OPTIONS]\n       pvesm set <storage> [OPTIONS]\n       pvesm status";

impl Failure {
    /// Proxmox's CLI handler prints the command's usage line after a parameter exception.
    pub fn shows_usage(&self) -> bool {
        matches!(
            self,
            Failure::UnknownOption(_) | Failure::Usage(_) | Failure::ParameterVerification { .. }
        )
    }
}
