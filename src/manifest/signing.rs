//! SSHSIG signatures over the manifest with the host's Ed25519 key, so that stock OpenSSH checks
//! them: `ssh-keygen -Y verify -f allowed_signers -I HOST -n phoenix-zfs-manifest -s SIG < FILE`.
//! And the atomic write both files go through.

use ssh_key::{HashAlg, LineEnding, PrivateKey, PublicKey, SshSig};
use std::fmt;
use std::path::{Path, PathBuf};

/// The SSHSIG namespace: a signature made for anything else never verifies as a manifest.
pub const NAMESPACE: &str = "phoenix-zfs-manifest";

#[derive(Debug)]
pub enum SigningError {
    KeyMissing { path: PathBuf },
    KeyUnreadable { path: PathBuf, error: String },
    Sign(String),
}

impl fmt::Display for SigningError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SigningError::KeyMissing { path } => write!(
                f,
                "host key {} does not exist: create it with `ssh-keygen -A` (openssh-server does at install), or name another with --host-key",
                path.display()
            ),
            SigningError::KeyUnreadable { path, error } => {
                write!(f, "host key {}: {error}; it must be an unencrypted OpenSSH Ed25519 private key", path.display())
            }
            SigningError::Sign(e) => write!(f, "cannot sign the manifest: {e}"),
        }
    }
}

impl std::error::Error for SigningError {}

pub fn load_host_key(path: &Path) -> Result<PrivateKey, SigningError> {
    if !path.exists() {
        return Err(SigningError::KeyMissing {
            path: path.to_path_buf(),
        });
    }
    let key = PrivateKey::read_openssh_file(path).map_err(|e| SigningError::KeyUnreadable {
        path: path.to_path_buf(),
        error: e.to_string(),
    })?;
    if key.is_encrypted() {
        return Err(SigningError::KeyUnreadable {
            path: path.to_path_buf(),
            error: "the key is encrypted".into(),
        });
    }
    if key.algorithm() != ssh_key::Algorithm::Ed25519 {
        return Err(SigningError::KeyUnreadable {
            path: path.to_path_buf(),
            error: format!("the key is {}, not Ed25519", key.algorithm()),
        });
    }
    Ok(key)
}

/// The armored signature (`-----BEGIN SSH SIGNATURE-----`) over `message`.
pub fn sign(key: &PrivateKey, message: &[u8]) -> Result<String, SigningError> {
    let sig = key
        .sign(NAMESPACE, HashAlg::Sha512, message)
        .map_err(|e| SigningError::Sign(e.to_string()))?;
    sig.to_pem(LineEnding::LF)
        .map_err(|e| SigningError::Sign(e.to_string()))
}

/// What a good signature proves: which key made it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GoodSignature {
    /// `SHA256:...`, as `ssh-keygen -l` prints it.
    pub fingerprint: String,
    /// Whether the signer is the key the caller trusts (--key), or only the key inside the signature.
    pub trusted_key: bool,
}

/// Checks `signature_pem` over `message`. With `trusted`, the signature must have been made by
/// that key; without, it is checked against the key it carries (integrity, not authenticity).
pub fn verify(
    message: &[u8],
    signature_pem: &str,
    trusted: Option<&PublicKey>,
) -> Result<GoodSignature, String> {
    let sig = SshSig::from_pem(signature_pem).map_err(|e| format!("not an SSH signature: {e}"))?;
    if sig.namespace() != NAMESPACE {
        return Err(format!(
            "signature namespace is `{}`, not `{NAMESPACE}`",
            sig.namespace()
        ));
    }
    let carried = PublicKey::from(sig.public_key().clone());
    let key = match trusted {
        Some(k) if k.key_data() != sig.public_key() => {
            return Err(format!(
                "signed by {}, not by the trusted key {}",
                carried.fingerprint(HashAlg::Sha256),
                k.fingerprint(HashAlg::Sha256)
            ))
        }
        Some(k) => k,
        None => &carried,
    };
    key.verify(NAMESPACE, message, &sig)
        .map_err(|e| format!("bad signature: {e}"))?;
    Ok(GoodSignature {
        fingerprint: key.fingerprint(HashAlg::Sha256).to_string(),
        trusted_key: trusted.is_some(),
    })
}
