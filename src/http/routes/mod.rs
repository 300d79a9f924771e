//! One module per resource of the contract. Each handler authenticates, validates, calls the
//! store or the engine, and returns a [`Reply`](crate::http::envelope::Reply) or an
//! [`ApiError`](crate::error::ApiError); the envelope is added by the router.

pub mod account;
pub mod admin;
pub mod analytics;
pub mod auth;
pub mod databases;
pub mod health;
pub mod keys;
pub mod management;
pub mod search;
