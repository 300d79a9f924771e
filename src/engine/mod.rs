//! The search engine: everything that talks to tenant databases.
//!
//! - [`pool`]: one actor per registered database, owning its connection pool and schema cache;
//! - [`schema`]: FULLTEXT discovery from `information_schema`;
//! - [`ident`]: identifier validation and quoting;
//! - [`boolean`]: turns user input into something InnoDB's boolean parser accepts;
//! - [`search`]: plans per-table queries, runs them in parallel, merges by relevance;
//! - [`rows`]: converts rows to JSON, HTML-escapes, builds snippets;
//! - [`embeddings`]: optional semantic re-ranking through an OpenAI-compatible endpoint.
//!
//! Nothing here knows about HTTP; `crate::http::routes::search` validates the request and calls
//! [`search::run`].

pub mod boolean;
pub mod embeddings;
pub mod ident;
pub mod networks;
pub mod pool;
pub mod rows;
pub mod schema;
pub mod search;
