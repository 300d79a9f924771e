//! Encryption of tenant database credentials at rest: AES-256-GCM with a per-record key.
//!
//! Each record gets a random 16-byte salt; its key is HKDF(master, "db-credential", salt), and a
//! random 96-bit nonce is drawn per encryption. Stored form: `salt || nonce || ciphertext+tag`.
//! The record's id is bound in as associated data, so a ciphertext copied onto another record
//! does not decrypt.

use std::sync::Arc;

use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM, NONCE_LEN};

use crate::secrets::{random_bytes, MasterSecret, Secret};

const SALT_LEN: usize = 16;
const LABEL: &str = "altus4 db-credential v1";

#[derive(Clone)]
pub struct CredentialCipher {
    master: Arc<MasterSecret>,
}

#[derive(Debug, thiserror::Error)]
#[error("stored credential cannot be decrypted (wrong master secret or corrupted record)")]
pub struct DecryptError;

impl CredentialCipher {
    pub fn new(master: Arc<MasterSecret>) -> Self {
        Self { master }
    }

    fn key(&self, salt: &[u8]) -> LessSafeKey {
        let bytes: [u8; 32] = self.master.derive(LABEL, salt);
        LessSafeKey::new(UnboundKey::new(&AES_256_GCM, &bytes).expect("32-byte key"))
    }

    pub fn encrypt(&self, record_id: &str, plaintext: &Secret<String>) -> Vec<u8> {
        let salt: [u8; SALT_LEN] = random_bytes();
        let nonce: [u8; NONCE_LEN] = random_bytes();
        let mut buf = plaintext.expose().as_bytes().to_vec();
        self.key(&salt)
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(record_id.as_bytes()),
                &mut buf,
            )
            .expect("AES-GCM sealing of a short buffer cannot fail");
        let mut out = Vec::with_capacity(SALT_LEN + NONCE_LEN + buf.len());
        out.extend_from_slice(&salt);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&buf);
        out
    }

    pub fn decrypt(&self, record_id: &str, stored: &[u8]) -> Result<Secret<String>, DecryptError> {
        if stored.len() < SALT_LEN + NONCE_LEN + AES_256_GCM.tag_len() {
            return Err(DecryptError);
        }
        let (salt, rest) = stored.split_at(SALT_LEN);
        let (nonce, sealed) = rest.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| DecryptError)?;
        let mut buf = sealed.to_vec();
        let plain = self
            .key(salt)
            .open_in_place(nonce, Aad::from(record_id.as_bytes()), &mut buf)
            .map_err(|_| DecryptError)?;
        String::from_utf8(plain.to_vec()).map(Secret::new).map_err(|_| DecryptError)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cipher(seed: u8) -> CredentialCipher {
        CredentialCipher::new(Arc::new(MasterSecret::from_bytes(&[seed; 32])))
    }

    #[test]
    fn round_trip_and_fresh_randomness() {
        let c = cipher(1);
        let pw = Secret::new("s3cret pässword".to_string());
        let a = c.encrypt("db-1", &pw);
        let b = c.encrypt("db-1", &pw);
        assert_ne!(a, b, "salt and nonce are fresh per encryption");
        assert!(!a.windows(6).any(|w| w == b"s3cret"));
        assert_eq!(c.decrypt("db-1", &a).unwrap(), pw);
    }

    #[test]
    fn wrong_record_wrong_master_or_tampering_fail() {
        let c = cipher(1);
        let sealed = c.encrypt("db-1", &Secret::new("pw".into()));
        assert!(c.decrypt("db-2", &sealed).is_err());
        assert!(cipher(2).decrypt("db-1", &sealed).is_err());
        let mut tampered = sealed.clone();
        *tampered.last_mut().unwrap() ^= 1;
        assert!(c.decrypt("db-1", &tampered).is_err());
        assert!(c.decrypt("db-1", &sealed[..10]).is_err());
    }
}
