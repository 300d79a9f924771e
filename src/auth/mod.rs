//! Credentials: API keys, permissions, account passwords and bearer tokens.
//! Pure logic; the HTTP layer (`crate::http::authn`) decides which one a request needs.

pub mod apikey;
pub mod password;
pub mod permissions;
pub mod token;
