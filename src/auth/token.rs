//! Bearer tokens for account management: compact JWTs (HS256) signed with a key derived from
//! the master secret. `tv` carries the user's token version: bumping it in storage (logout,
//! password change) invalidates every token issued before.

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;
use ring::hmac;
use serde::{Deserialize, Serialize};

use crate::secrets::MasterSecret;

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct Claims {
    /// User id.
    pub sub: String,
    pub role: String,
    /// Token version of the user at issue time.
    pub tv: i64,
    /// Issued at / expires at, seconds since the epoch.
    pub iat: i64,
    pub exp: i64,
}

pub struct TokenSigner {
    key: hmac::Key,
}

const HEADER: &str = r#"{"alg":"HS256","typ":"JWT"}"#;

impl TokenSigner {
    pub fn new(master: &MasterSecret) -> Self {
        let bytes: [u8; 32] = master.derive("altus4 token-signing v1", b"");
        Self { key: hmac::Key::new(hmac::HMAC_SHA256, &bytes) }
    }

    pub fn sign(&self, claims: &Claims) -> String {
        let header = B64.encode(HEADER);
        let payload = B64.encode(serde_json::to_vec(claims).expect("claims serialize"));
        let signing_input = format!("{header}.{payload}");
        let tag = hmac::sign(&self.key, signing_input.as_bytes());
        format!("{signing_input}.{}", B64.encode(tag.as_ref()))
    }

    /// The claims of a well-signed, unexpired token (at `now` seconds).
    pub fn verify(&self, token: &str, now: i64) -> Option<Claims> {
        if token.len() > 4096 {
            return None;
        }
        let mut parts = token.split('.');
        let (header, payload, sig) = (parts.next()?, parts.next()?, parts.next()?);
        if parts.next().is_some() {
            return None;
        }
        let sig = B64.decode(sig).ok()?;
        let signing_input = &token[..header.len() + 1 + payload.len()];
        hmac::verify(&self.key, signing_input.as_bytes(), &sig).ok()?;
        // Signed by us, so the header is ours; still refuse anything but HS256.
        if B64.decode(header).ok()? != HEADER.as_bytes() {
            return None;
        }
        let claims: Claims = serde_json::from_slice(&B64.decode(payload).ok()?).ok()?;
        (claims.exp > now).then_some(claims)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims(exp: i64) -> Claims {
        Claims { sub: "u1".into(), role: "user".into(), tv: 0, iat: 0, exp }
    }

    #[test]
    fn round_trip_expiry_and_tampering() {
        let signer = TokenSigner::new(&MasterSecret::from_bytes(&[1; 32]));
        let t = signer.sign(&claims(100));
        assert_eq!(signer.verify(&t, 99), Some(claims(100)));
        assert_eq!(signer.verify(&t, 100), None);

        // A payload swapped for another user's fails the signature.
        let forged_payload = B64.encode(serde_json::to_vec(&Claims { sub: "admin".into(), ..claims(100) }).unwrap());
        let mut parts: Vec<&str> = t.split('.').collect();
        parts[1] = &forged_payload;
        assert_eq!(signer.verify(&parts.join("."), 0), None);

        // Another master secret's tokens are refused.
        let other = TokenSigner::new(&MasterSecret::from_bytes(&[2; 32]));
        assert_eq!(other.verify(&t, 0), None);
        for junk in ["", "a.b", "a.b.c.d", "..", "x.y.z"] {
            assert_eq!(signer.verify(junk, 0), None);
        }
    }
}
