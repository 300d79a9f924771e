//! Runtime machinery of altus4, independent of HTTP and SQL.
//!
//! Everything here is a [ractor] actor or a piece of state an actor owns. Storage is reached only
//! through the small traits this crate defines (for example [`key_cache::KeyLookup`]), so the
//! product crate decides where data lives and these pieces can be tested on their own.

pub mod batch;
pub mod breaker;
pub mod clock;
pub mod ip_limits;
pub mod key_cache;
pub mod limiter;
pub mod rate;
pub mod registry;
pub mod singleton;
pub mod usage;

/// How long a request-path caller waits for an actor before giving up with an error instead of
/// hanging. ractor mailboxes are unbounded and `call!` has no timeout, so every request-path call
/// goes through `call_t!`/`call(.., Some(timeout))` with a bound like this one.
pub const DEFAULT_CALL_TIMEOUT_MS: u64 = 5_000;
