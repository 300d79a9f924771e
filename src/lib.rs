//! altus4: secure full-text search over your own MySQL/MariaDB databases.
//!
//! The product crate: configuration, CLI, HTTP front end, domain, metadata storage and search
//! SQL. The binary (`src/main.rs`) only calls [`cli::run`]; being a library as well lets the
//! benchmarks in `benches/` measure the real functions. See ARCHITECTURE.md for the map.

pub mod app;
pub mod audit;
pub mod auth;
pub mod cidr;
pub mod cli;
pub mod config;
pub mod crypto;
pub mod engine;
pub mod error;
pub mod http;
pub mod incidents;
pub mod secrets;
pub mod store;
