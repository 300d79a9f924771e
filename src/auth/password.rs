//! Account passwords: argon2id with the crate's (OWASP) parameters.
//!
//! Each hash or verification costs ~20 ms of one core, so it runs on the blocking pool behind a
//! semaphore: logins cannot starve the async workers, and a burst queues instead of spawning
//! hundreds of threads. Verification against an unknown account still runs a real verification
//! (against a dummy hash) so timing does not reveal which emails are registered.

use std::sync::Arc;

use argon2::password_hash::{PasswordHash, PasswordHasher as _, PasswordVerifier as _, SaltString};
use argon2::Argon2;
use tokio::sync::Semaphore;

use crate::secrets::{random_bytes, Secret};

#[derive(Clone)]
pub struct PasswordHasher {
    permits: Arc<Semaphore>,
    dummy_hash: Arc<String>,
}

#[derive(Debug, thiserror::Error)]
#[error("password hashing failed: {0}")]
pub struct HashError(String);

fn hash_blocking(password: &[u8]) -> Result<String, HashError> {
    let salt_bytes: [u8; 16] = random_bytes();
    let salt = SaltString::encode_b64(&salt_bytes).map_err(|e| HashError(e.to_string()))?;
    Argon2::default()
        .hash_password(password, &salt)
        .map(|h| h.to_string())
        .map_err(|e| HashError(e.to_string()))
}

impl PasswordHasher {
    pub fn new(max_concurrent: usize) -> Self {
        let dummy = hash_blocking(b"altus4 dummy password for timing equalisation").expect("argon2 works");
        Self { permits: Arc::new(Semaphore::new(max_concurrent)), dummy_hash: Arc::new(dummy) }
    }

    async fn run<R: Send + 'static>(&self, f: impl FnOnce() -> R + Send + 'static) -> Result<R, HashError> {
        let _permit = self.permits.acquire().await.map_err(|e| HashError(e.to_string()))?;
        tokio::task::spawn_blocking(f).await.map_err(|e| HashError(e.to_string()))
    }

    pub async fn hash(&self, password: Secret<String>) -> Result<String, HashError> {
        self.run(move || hash_blocking(password.expose().as_bytes())).await?
    }

    /// `stored` is the user's PHC string, or `None` when there is no such user.
    pub async fn verify(&self, password: Secret<String>, stored: Option<String>) -> Result<bool, HashError> {
        let exists = stored.is_some();
        let phc = stored.unwrap_or_else(|| self.dummy_hash.as_str().to_owned());
        let matched = self
            .run(move || {
                let Ok(parsed) = PasswordHash::new(&phc) else { return false };
                Argon2::default().verify_password(password.expose().as_bytes(), &parsed).is_ok()
            })
            .await?;
        Ok(exists && matched)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn hash_and_verify() {
        let h = PasswordHasher::new(2);
        let stored = h.hash(Secret::new("correct horse".into())).await.unwrap();
        assert!(stored.starts_with("$argon2id$"));
        assert!(!stored.contains("correct horse"));
        assert!(h.verify(Secret::new("correct horse".into()), Some(stored.clone())).await.unwrap());
        assert!(!h.verify(Secret::new("wrong horse".into()), Some(stored)).await.unwrap());
        // An unknown account never verifies, even with the dummy's own password.
        let dummy_pw = "altus4 dummy password for timing equalisation".to_string();
        assert!(!h.verify(Secret::new(dummy_pw), None).await.unwrap());
    }
}
