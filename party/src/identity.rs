//! Key pairs and self-signed certificates: making them, storing them, loading them.

use std::fmt;
use std::path::{Path, PathBuf};

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

use crate::error::{Error, Result, io_err};

/// A member's certificate and private key. `Debug` shows the fingerprint, never the key.
pub struct Identity {
    cert: CertificateDer<'static>,
    key: PrivateKeyDer<'static>,
}

impl fmt::Debug for Identity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Identity")
            .field("fingerprint", &crate::wire::hex(&self.fingerprint()))
            .finish_non_exhaustive()
    }
}

/// SHA-256 of a certificate's DER bytes: what the cluster file pins.
pub fn fingerprint(cert_der: &[u8]) -> [u8; 32] {
    let d = ring::digest::digest(&ring::digest::SHA256, cert_der);
    d.as_ref().try_into().expect("SHA-256 is 32 bytes")
}

impl Identity {
    /// A fresh ECDSA P-256 key pair and a self-signed certificate naming `name` (for example
    /// `party-0`) and any extra host names. The key comes from the OS random generator.
    ///
    /// # Errors
    /// Certificate generation failed.
    pub fn generate(name: &str, extra_names: &[String]) -> Result<Self> {
        let mut names = vec![name.to_owned()];
        names.extend(extra_names.iter().cloned());
        let ck = rcgen::generate_simple_self_signed(names)
            .map_err(|e| Error::Key(format!("generating {name}'s certificate: {e}")))?;
        Ok(Self {
            cert: ck.cert.der().clone(),
            key: PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(ck.signing_key.serialize_der())),
        })
    }

    /// A certificate and its PKCS#8 private key, both DER (made in memory, e.g. by the
    /// attested dealer, whose key never touches disk).
    pub fn from_der(cert: Vec<u8>, pkcs8_key: Vec<u8>) -> Self {
        Self {
            cert: CertificateDer::from(cert),
            key: PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(pkcs8_key)),
        }
    }

    /// The certificate, DER.
    pub fn cert_der(&self) -> &[u8] {
        self.cert.as_ref()
    }

    /// The certificate, PEM.
    pub fn cert_pem(&self) -> String {
        pem("CERTIFICATE", self.cert.as_ref())
    }

    /// Reads a PEM certificate and a PEM private key.
    ///
    /// # Errors
    /// A file is missing or holds no certificate / key.
    pub fn load(cert_path: &Path, key_path: &Path) -> Result<Self> {
        let cert = CertificateDer::from_pem_file(cert_path)
            .map_err(|e| Error::Key(format!("certificate {}: {e}", cert_path.display())))?;
        let key = PrivateKeyDer::from_pem_file(key_path)
            .map_err(|e| Error::Key(format!("private key {}: {e}", key_path.display())))?;
        Ok(Self { cert, key })
    }

    /// Writes `DIR/STEM.crt` and `DIR/STEM.key` (the key readable by its owner only).
    ///
    /// # Errors
    /// The files cannot be written.
    pub fn save(&self, dir: &Path, stem: &str) -> Result<(PathBuf, PathBuf)> {
        let cert_path = dir.join(format!("{stem}.crt"));
        let key_path = dir.join(format!("{stem}.key"));
        let cert_pem = pem("CERTIFICATE", self.cert.as_ref());
        std::fs::write(&cert_path, cert_pem).map_err(io_err("certificate", &cert_path))?;
        let key_pem = pem("PRIVATE KEY", self.key.secret_der());
        write_private(&key_path, key_pem.as_bytes()).map_err(io_err("private key", &key_path))?;
        Ok((cert_path, key_path))
    }

    /// SHA-256 of the certificate.
    pub fn fingerprint(&self) -> [u8; 32] {
        fingerprint(self.cert.as_ref())
    }

    pub(crate) fn cert(&self) -> CertificateDer<'static> {
        self.cert.clone()
    }

    pub(crate) fn key(&self) -> PrivateKeyDer<'static> {
        self.key.clone_key()
    }
}

fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut file = opts.open(path)?;
    // The mode above applies only to a new file: an existing one (keygen --force) keeps its
    // permissions unless they are set, and a private key is always 0600. Set them before
    // the key is written, so it is never readable by others.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        file.set_permissions(std::fs::Permissions::from_mode(0o600))?;
    }
    file.write_all(bytes)
}

fn pem(label: &str, der: &[u8]) -> String {
    pem::encode(&pem::Pem::new(label, der))
}

#[cfg(test)]
mod tests {
    #[cfg(unix)]
    #[test]
    fn a_rewritten_key_file_is_private_whatever_it_was_before() {
        use std::os::unix::fs::PermissionsExt;
        let dir = std::env::temp_dir().join(format!("umbra-key-mode-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("party-0.key");
        std::fs::write(&path, b"old").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        super::write_private(&path, b"new key").unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "mode {mode:o}");
        assert_eq!(std::fs::read(&path).unwrap(), b"new key");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    use super::*;

    #[test]
    fn identities_survive_a_save_and_load() {
        let dir = std::env::temp_dir().join(format!("umbra-id-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let id = Identity::generate("party-0", &[]).unwrap();
        let (c, k) = id.save(&dir, "party-0").unwrap();
        let back = Identity::load(&c, &k).unwrap();
        assert_eq!(back.fingerprint(), id.fingerprint());
        assert_eq!(back.key().secret_der(), id.key().secret_der());
        assert!(!format!("{back:?}").contains("key:"));
        let err = Identity::load(&k, &c).unwrap_err().to_string();
        assert!(err.contains("certificate"), "{err}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
