//! API key format: `altus4_sk_{test|live}_{64 lowercase hex}` (32 random bytes).
//!
//! Only the SHA-256 of the whole key is stored, plus a 20-character display prefix. That prefix
//! carries just 5 random hex characters, so it is for people, never for lookup: keys are found by
//! their digest, and the digest read back is compared in constant time.

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::secrets::{random_bytes, Secret};

pub const KEY_LEN: usize = 79;
pub const PREFIX_LEN: usize = 20;
const HEAD: &str = "altus4_sk_";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Environment {
    Test,
    Live,
}

impl Environment {
    pub fn as_str(self) -> &'static str {
        match self {
            Environment::Test => "test",
            Environment::Live => "live",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "test" => Some(Environment::Test),
            "live" => Some(Environment::Live),
            _ => None,
        }
    }
}

pub type KeyDigest = [u8; 32];

/// A freshly generated key: the plaintext goes to the caller once, the rest to storage.
pub struct GeneratedKey {
    pub secret: Secret<String>,
    pub prefix: String,
    pub digest: KeyDigest,
}

pub fn generate(env: Environment) -> GeneratedKey {
    let random: [u8; 32] = random_bytes();
    let key = format!("{HEAD}{}_{}", env.as_str(), hex::encode(random));
    debug_assert!(parse(&key).is_some());
    GeneratedKey { prefix: key[..PREFIX_LEN].to_string(), digest: digest(&key), secret: Secret::new(key) }
}

pub fn digest(key: &str) -> KeyDigest {
    Sha256::digest(key.as_bytes()).into()
}

/// A string that has exactly the key format; nothing else is ever hashed or looked up.
pub struct ParsedKey {
    pub digest: KeyDigest,
}

/// Strict format check: no trimming, no case folding, exact length.
pub fn parse(candidate: &str) -> Option<ParsedKey> {
    let bytes = candidate.as_bytes();
    if bytes.len() != KEY_LEN || !candidate.starts_with(HEAD) {
        return None;
    }
    let rest = &candidate[HEAD.len()..];
    if !(rest.starts_with("test_") || rest.starts_with("live_")) {
        return None;
    }
    let hex_part = &rest.as_bytes()[5..];
    if hex_part.len() != 64 || !hex_part.iter().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
        return None;
    }
    Some(ParsedKey { digest: digest(candidate) })
}

/// Constant-time digest comparison.
pub fn digests_match(a: &KeyDigest, b: &[u8]) -> bool {
    a.as_slice().ct_eq(b).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_keys_have_the_format_and_distinct_secrets() {
        let a = generate(Environment::Live);
        let b = generate(Environment::Test);
        assert_eq!(a.secret.expose().len(), KEY_LEN);
        assert!(a.secret.expose().starts_with("altus4_sk_live_"));
        assert!(b.secret.expose().starts_with("altus4_sk_test_"));
        assert_eq!(a.prefix, &a.secret.expose()[..20]);
        assert_eq!(parse(a.secret.expose()).unwrap().digest, a.digest);
        assert_ne!(a.digest, generate(Environment::Live).digest);
    }

    #[test]
    fn anything_off_format_is_refused() {
        let good = generate(Environment::Live).secret.expose().clone();
        assert!(parse(&good).is_some());
        let bad = [
            format!(" {good}"),
            format!("{good} "),
            good.to_uppercase(),
            good.replacen("live", "prod", 1),
            good.replacen("altus4", "Altus4", 1),
            good[..KEY_LEN - 1].to_string(),
            format!("{good}0"),
            format!("{}g", &good[..KEY_LEN - 1]),
            format!("{}A", &good[..KEY_LEN - 1]),
            format!("{}é", &good[..KEY_LEN - 2]),
            String::new(),
        ];
        for b in bad {
            assert!(parse(&b).is_none(), "accepted {b:?}");
        }
    }

    #[test]
    fn digest_comparison() {
        let d = digest("x");
        assert!(digests_match(&d, &d));
        assert!(!digests_match(&d, &digest("y")));
        assert!(!digests_match(&d, &d[..31]));
    }
}
