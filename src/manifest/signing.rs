//! SSHSIG signatures over the manifest with the host's Ed25519 key, so that stock OpenSSH checks
//! them: `ssh-keygen -Y verify -f allowed_signers -I HOST -n phoenix-zfs-manifest -s SIG < FILE`.

use ssh_key::{HashAlg, LineEnding, PrivateKey, PublicKey, SshSig};
use std::path::{Path, PathBuf};

/// The SSHSIG namespace: a signature made for anything else never verifies as a manifest.
pub const NAMESPACE: &str = "phoenix-zfs-manifest";

#[derive(Debug, thiserror::Error)]
pub enum SigningError {
    #[error("host key {} does not exist: create it with `ssh-keygen -A` (openssh-server does at install), or name another: `{}`", path.display(), crate::remedy::HOST_KEY)]
    KeyMissing { path: PathBuf },
    #[error("host key {} is not an unencrypted OpenSSH Ed25519 private key", path.display())]
    KeyUnreadable {
        path: PathBuf,
        #[source]
        source: ssh_key::Error,
    },
    #[error("cannot sign the manifest")]
    Sign(#[source] ssh_key::Error),
}

/// Why a signature does not vouch for the bytes it came with.
#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    #[error("not an SSH signature")]
    NotASignature(#[source] ssh_key::Error),
    #[error("the signature's namespace is `{0}`, not `{NAMESPACE}`")]
    Namespace(String),
    #[error("bad signature: the manifest changed after it was signed, or the signature is another file's")]
    Bad(#[source] ssh_key::Error),
}

pub fn load_host_key(path: &Path) -> Result<PrivateKey, SigningError> {
    if !path.exists() {
        return Err(SigningError::KeyMissing {
            path: path.to_path_buf(),
        });
    }
    let unreadable = |source| SigningError::KeyUnreadable {
        path: path.to_path_buf(),
        source,
    };
    let key = PrivateKey::read_openssh_file(path).map_err(unreadable)?;
    if key.is_encrypted() {
        return Err(unreadable(ssh_key::Error::Encrypted));
    }
    if key.algorithm() != ssh_key::Algorithm::Ed25519 {
        return Err(unreadable(ssh_key::Error::AlgorithmUnsupported {
            algorithm: key.algorithm(),
        }));
    }
    Ok(key)
}

/// The armored signature (`-----BEGIN SSH SIGNATURE-----`) over `message`.
pub fn sign(key: &PrivateKey, message: &[u8]) -> Result<String, SigningError> {
    let sig = key
        .sign(NAMESPACE, HashAlg::Sha512, message)
        .map_err(SigningError::Sign)?;
    sig.to_pem(LineEnding::LF).map_err(SigningError::Sign)
}

/// The key that made `signature_pem` over `message`, when it is a good manifest signature by the
/// key it carries: integrity only, whom that key belongs to is for the caller to judge.
pub fn verify(message: &[u8], signature_pem: &str) -> Result<PublicKey, VerifyError> {
    let sig = SshSig::from_pem(signature_pem).map_err(VerifyError::NotASignature)?;
    if sig.namespace() != NAMESPACE {
        return Err(VerifyError::Namespace(sig.namespace().to_string()));
    }
    let signer = PublicKey::from(sig.public_key().clone());
    signer
        .verify(NAMESPACE, message, &sig)
        .map_err(VerifyError::Bad)?;
    Ok(signer)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> PrivateKey {
        PrivateKey::from(ssh_key::private::Ed25519Keypair::from_seed(&[3; 32]))
    }

    #[test]
    fn a_good_signature_names_its_key_and_every_other_is_refused_with_why() {
        let key = key();
        let pem = sign(&key, b"manifest").unwrap();
        assert_eq!(verify(b"manifest", &pem).unwrap(), *key.public_key());

        let err = verify(b"manifest!", &pem).unwrap_err();
        assert!(matches!(err, VerifyError::Bad(_)), "{err}");

        let other = key
            .sign("file", HashAlg::Sha512, b"manifest")
            .unwrap()
            .to_pem(LineEnding::LF)
            .unwrap();
        let err = verify(b"manifest", &other).unwrap_err();
        assert_eq!(
            err.to_string(),
            "the signature's namespace is `file`, not `phoenix-zfs-manifest`"
        );

        let err = verify(b"manifest", "not a signature").unwrap_err();
        assert!(matches!(err, VerifyError::NotASignature(_)), "{err}");
    }
}
