//! Secret values and the master secret everything else is derived from.
//!
//! [`Secret`] wraps anything that must never be printed: its `Debug` is a fixed placeholder and
//! it has no `Display`, so a secret cannot end up in a log line by accident.

use std::fmt;
use std::io::Write;
use std::path::Path;

use ring::hkdf;
use ring::rand::{SecureRandom, SystemRandom};
use serde::Deserialize;

#[derive(Clone, Deserialize, PartialEq, Eq)]
#[serde(transparent)]
pub struct Secret<T>(T);

impl<T> Secret<T> {
    pub fn new(value: T) -> Self {
        Self(value)
    }

    /// The only way to read the value: greppable, so every use can be reviewed.
    pub fn expose(&self) -> &T {
        &self.0
    }
}

impl<T> fmt::Debug for Secret<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret([redacted])")
    }
}

/// Fills a fresh array from the operating system's CSPRNG.
pub fn random_bytes<const N: usize>() -> [u8; N] {
    let mut out = [0u8; N];
    SystemRandom::new().fill(&mut out).expect("the OS random source is available");
    out
}

/// The root secret. Sub-keys are derived with HKDF-SHA256 under distinct labels, so the token
/// signing key and the credential encryption keys are independent even though one value is
/// configured. HKDF (not a password hash) is right because the secret is high-entropy.
pub struct MasterSecret {
    prk: hkdf::Prk,
}

/// Where the master secret came from, for the start-up log.
#[derive(Debug, PartialEq, Eq)]
pub enum SecretSource {
    Configured,
    ExistingFile,
    Generated,
}

impl MasterSecret {
    pub fn from_bytes(bytes: &[u8]) -> Self {
        let salt = hkdf::Salt::new(hkdf::HKDF_SHA256, b"altus4 master secret v1");
        Self { prk: salt.extract(bytes) }
    }

    /// Uses the configured secret, else `<data_dir>/master.key`, creating that file (mode 0600)
    /// with 32 random bytes when it does not exist yet.
    pub fn load_or_generate(
        configured: Option<&Secret<String>>,
        data_dir: &Path,
    ) -> std::io::Result<(Self, SecretSource)> {
        if let Some(secret) = configured {
            return Ok((Self::from_bytes(secret.expose().as_bytes()), SecretSource::Configured));
        }
        let path = data_dir.join("master.key");
        match std::fs::read_to_string(&path) {
            Ok(text) => {
                let bytes = hex::decode(text.trim()).map_err(|_| {
                    std::io::Error::new(
                        std::io::ErrorKind::InvalidData,
                        format!("{} is not hex", path.display()),
                    )
                })?;
                Ok((Self::from_bytes(&bytes), SecretSource::ExistingFile))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let bytes: [u8; 32] = random_bytes();
                let mut options = std::fs::OpenOptions::new();
                options.write(true).create_new(true);
                #[cfg(unix)]
                {
                    use std::os::unix::fs::OpenOptionsExt;
                    options.mode(0o600);
                }
                let mut file = options.open(&path)?;
                file.write_all(hex::encode(bytes).as_bytes())?;
                file.sync_all()?;
                Ok((Self::from_bytes(&bytes), SecretSource::Generated))
            }
            Err(e) => Err(e),
        }
    }

    /// Derives `N` bytes for a purpose label and an optional per-record salt.
    pub fn derive<const N: usize>(&self, label: &str, salt: &[u8]) -> [u8; N] {
        struct Len(usize);
        impl hkdf::KeyType for Len {
            fn len(&self) -> usize {
                self.0
            }
        }
        let info = [label.as_bytes(), salt];
        let okm = self.prk.expand(&info, Len(N)).expect("N is within HKDF's output limit");
        let mut out = [0u8; N];
        okm.fill(&mut out).expect("length matches");
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_the_value() {
        let s = Secret::new("hunter2-hunter2".to_string());
        assert!(!format!("{s:?}").contains("hunter2"));
    }

    #[test]
    fn derivations_differ_by_label_and_salt_and_are_stable() {
        let m = MasterSecret::from_bytes(&[7; 32]);
        let a: [u8; 32] = m.derive("a", b"");
        assert_eq!(a, m.derive::<32>("a", b""));
        assert_ne!(a, m.derive::<32>("b", b""));
        assert_ne!(a, m.derive::<32>("a", b"salt"));
    }

    #[test]
    fn generated_secret_is_owner_only_and_reused() {
        let dir = std::env::temp_dir().join(format!("altus4-secret-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        let (first, src) = MasterSecret::load_or_generate(None, &dir).unwrap();
        assert_eq!(src, SecretSource::Generated);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.join("master.key")).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let (second, src) = MasterSecret::load_or_generate(None, &dir).unwrap();
        assert_eq!(src, SecretSource::ExistingFile);
        assert_eq!(first.derive::<16>("x", b""), second.derive::<16>("x", b""));
        std::fs::remove_dir_all(dir).unwrap();
    }
}
