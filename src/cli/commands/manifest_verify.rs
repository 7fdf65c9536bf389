//! `phoenix-zfs manifest verify`: each manifest's signature, the digests inside it and who
//! signed it, one line per host.

use crate::failure::{Failure, Outcome};
use phoenix_zfs::exit::Exit;
use phoenix_zfs::manifest;
use phoenix_zfs::report::Report;
use std::path::{Path, PathBuf};

/// What `manifest verify` trusts, as given on the command line.
pub struct TrustAnchor<'a> {
    pub key: Option<&'a Path>,
    pub allowed_signers: Option<&'a Path>,
    pub trust_embedded_key: bool,
}

/// Checks each manifest and prints one line per host (or JSON), then the tally.
pub fn run(files: &[PathBuf], trust: &TrustAnchor<'_>, json: bool) -> Outcome {
    use manifest::allowed_signers::AllowedSigners;
    use manifest::fleet::{self, Anchor};
    let key = trust
        .key
        .map(ssh_key::PublicKey::read_openssh_file)
        .transpose()
        .map_err(|e| {
            Failure::said(
                Exit::Usage,
                format!(
                    "{}: not an OpenSSH public key: {}",
                    trust
                        .key
                        .map(|k| k.display().to_string())
                        .unwrap_or_default(),
                    Report(&e)
                ),
            )
        })?;
    let signers = match trust.allowed_signers {
        None => None,
        Some(path) => {
            let text = std::fs::read_to_string(path).map_err(|e| {
                Failure::said(
                    Exit::Usage,
                    format!(
                        "cannot read the allowed signers {}: {}",
                        path.display(),
                        Report(&e)
                    ),
                )
            })?;
            Some(
                AllowedSigners::parse(&path.display().to_string(), &text)
                    .map_err(Failure::usage)?,
            )
        }
    };
    let anchor = match (&signers, &key) {
        (Some(s), _) => Anchor::AllowedSigners(s),
        (None, Some(k)) => Anchor::Key(k),
        (None, None) => Anchor::Embedded {
            trusted: trust.trust_embedded_key,
        },
    };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let reports: Vec<fleet::Report> = files
        .iter()
        .map(|f| fleet::check(f, &anchor, now))
        .collect();
    let exit = fleet::exit(&reports);
    if json {
        let value = serde_json::json!({
            "manifests": reports,
            "exit_code": exit.code(),
        });
        println!(
            "{}",
            serde_json::to_string_pretty(&value).unwrap_or_default()
        );
    } else {
        for r in &reports {
            println!("{}", r.line());
        }
        println!("{}", fleet::tally(&reports));
    }
    Ok(exit)
}
