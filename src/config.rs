//! Configuration: parsed once at start-up into typed structs, validated, then shared read-only.
//!
//! Sources, later ones winning: built-in defaults, the TOML file, environment variables for
//! secrets (`ALTUS4_MASTER_SECRET`), then command-line flags. An invalid value fails start-up
//! with a message naming the field.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use crate::secrets::Secret;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub server: ServerConfig,
    pub storage: StorageConfig,
    pub security: SecurityConfig,
    pub auth: AuthConfig,
    pub key_cache: KeyCacheConfig,
    pub targets: TargetConfig,
    pub search: SearchConfig,
    pub logging: LoggingConfig,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    /// Address the HTTP server binds.
    pub listen: SocketAddr,
    /// How long a client may take to send its request headers (slowloris defence).
    pub header_read_timeout_secs: u64,
    /// Largest accepted request body; larger bodies get 413.
    pub max_body_bytes: usize,
    /// Time allowed to drain in-flight requests on SIGTERM.
    pub shutdown_grace_secs: u64,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StorageConfig {
    /// Holds the SQLite metadata file and the generated master secret.
    pub data_dir: PathBuf,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SecurityConfig {
    /// Root secret for credential encryption and token signing (hex or any string of at least
    /// 32 bytes). Prefer `ALTUS4_MASTER_SECRET`; when neither is set a random one is generated
    /// into `<data_dir>/master.key`.
    pub master_secret: Option<Secret<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuthConfig {
    /// Lifetime of the bearer token returned by login/register.
    pub token_ttl_secs: u64,
    /// Longest password accepted (bytes); longer ones are refused before hashing.
    pub max_password_bytes: usize,
    /// How many argon2 computations may run at once (each takes a core for ~20 ms).
    pub max_concurrent_hashes: usize,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct KeyCacheConfig {
    pub max_entries: u64,
    pub ttl_secs: u64,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TargetConfig {
    /// Time to open a connection to a tenant database.
    pub connect_timeout_ms: u64,
    /// Client-side bound on one query; the server-side statement cap is set to the same value.
    pub query_timeout_ms: u64,
    /// Most connections kept to one tenant database.
    pub max_connections_per_database: usize,
    /// How long discovered FULLTEXT schemas are reused before being read again.
    pub schema_ttl_secs: u64,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SearchConfig {
    pub max_query_chars: usize,
    pub snippet_chars: usize,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LoggingConfig {
    /// A tracing filter such as `info` or `altus4=debug,info`; `RUST_LOG` overrides it.
    pub filter: String,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            server: ServerConfig::default(),
            storage: StorageConfig::default(),
            security: SecurityConfig::default(),
            auth: AuthConfig::default(),
            key_cache: KeyCacheConfig::default(),
            targets: TargetConfig::default(),
            search: SearchConfig::default(),
            logging: LoggingConfig::default(),
        }
    }
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            listen: "127.0.0.1:3000".parse().expect("valid literal"),
            header_read_timeout_secs: 10,
            max_body_bytes: 1024 * 1024,
            shutdown_grace_secs: 10,
        }
    }
}

impl Default for StorageConfig {
    fn default() -> Self {
        Self { data_dir: PathBuf::from("data") }
    }
}

impl Default for SecurityConfig {
    fn default() -> Self {
        Self { master_secret: None }
    }
}

impl Default for AuthConfig {
    fn default() -> Self {
        Self { token_ttl_secs: 3600, max_password_bytes: 1024, max_concurrent_hashes: 2 }
    }
}

impl Default for KeyCacheConfig {
    fn default() -> Self {
        Self { max_entries: 100_000, ttl_secs: 300 }
    }
}

impl Default for TargetConfig {
    fn default() -> Self {
        Self {
            connect_timeout_ms: 3_000,
            query_timeout_ms: 10_000,
            max_connections_per_database: 10,
            schema_ttl_secs: 60,
        }
    }
}

impl Default for SearchConfig {
    fn default() -> Self {
        Self { max_query_chars: 1000, snippet_chars: 160 }
    }
}

impl Default for LoggingConfig {
    fn default() -> Self {
        Self { filter: "info".into() }
    }
}

/// A configuration problem, naming the offending field.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("invalid config file {path}: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("invalid config field `{field}`: {message}")]
    Field { field: &'static str, message: String },
}

/// Overrides given on the command line; `None` keeps the file's value.
#[derive(Debug, Default)]
pub struct Overrides {
    pub listen: Option<SocketAddr>,
    pub data_dir: Option<PathBuf>,
}

impl Config {
    /// Loads the file (if any), applies environment and flag overrides, and validates.
    pub fn load(path: Option<&Path>, overrides: Overrides) -> Result<Self, ConfigError> {
        let mut config = match path {
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .map_err(|source| ConfigError::Read { path: path.into(), source })?;
                Self::parse(&text).map_err(|message| ConfigError::Parse { path: path.into(), message })?
            }
            None => Self::default(),
        };
        if let Ok(secret) = std::env::var("ALTUS4_MASTER_SECRET") {
            if !secret.is_empty() {
                config.security.master_secret = Some(Secret::new(secret));
            }
        }
        if let Some(listen) = overrides.listen {
            config.server.listen = listen;
        }
        if let Some(dir) = overrides.data_dir {
            config.storage.data_dir = dir;
        }
        config.validate()?;
        Ok(config)
    }

    pub fn parse(text: &str) -> Result<Self, String> {
        toml::from_str(text).map_err(|e| e.to_string())
    }

    fn validate(&self) -> Result<(), ConfigError> {
        fn positive(field: &'static str, value: u64) -> Result<(), ConfigError> {
            if value == 0 {
                return Err(ConfigError::Field { field, message: "must be greater than 0".into() });
            }
            Ok(())
        }
        positive("server.header_read_timeout_secs", self.server.header_read_timeout_secs)?;
        positive("server.max_body_bytes", self.server.max_body_bytes as u64)?;
        positive("auth.token_ttl_secs", self.auth.token_ttl_secs)?;
        positive("auth.max_concurrent_hashes", self.auth.max_concurrent_hashes as u64)?;
        positive("key_cache.max_entries", self.key_cache.max_entries)?;
        positive("key_cache.ttl_secs", self.key_cache.ttl_secs)?;
        positive("targets.connect_timeout_ms", self.targets.connect_timeout_ms)?;
        positive("targets.query_timeout_ms", self.targets.query_timeout_ms)?;
        positive("targets.max_connections_per_database", self.targets.max_connections_per_database as u64)?;
        positive("search.max_query_chars", self.search.max_query_chars as u64)?;
        if self.auth.max_password_bytes < 8 {
            return Err(ConfigError::Field {
                field: "auth.max_password_bytes",
                message: "must be at least 8 (the minimum password length)".into(),
            });
        }
        if let Some(secret) = &self.security.master_secret {
            if secret.expose().len() < 32 {
                return Err(ConfigError::Field {
                    field: "security.master_secret",
                    message: "must be at least 32 bytes (use 64 hex characters)".into(),
                });
            }
        }
        if self.storage.data_dir.as_os_str().is_empty() {
            return Err(ConfigError::Field { field: "storage.data_dir", message: "must not be empty".into() });
        }
        Ok(())
    }

    pub fn connect_timeout(&self) -> Duration {
        Duration::from_millis(self.targets.connect_timeout_ms)
    }

    pub fn query_timeout(&self) -> Duration {
        Duration::from_millis(self.targets.query_timeout_ms)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_config_file_parses_and_matches_the_defaults() {
        let text = include_str!("../config/altus4.toml");
        let parsed = Config::parse(text).expect("config/altus4.toml parses");
        parsed.validate().unwrap();
        let defaults = Config::default();
        assert_eq!(format!("{parsed:?}"), format!("{defaults:?}"));
    }

    #[test]
    fn unknown_fields_are_refused_by_name() {
        let err = Config::parse("[server]\nlisten_addr = \"127.0.0.1:1\"\n").unwrap_err();
        assert!(err.contains("listen_addr"), "{err}");
    }

    #[test]
    fn bad_values_name_their_field() {
        let mut config = Config::default();
        config.targets.query_timeout_ms = 0;
        let err = config.validate().unwrap_err().to_string();
        assert!(err.contains("targets.query_timeout_ms"), "{err}");

        let err = Config::parse("[server]\nlisten = \"not an address\"\n").unwrap_err();
        assert!(err.contains("listen"), "{err}");

        let mut config = Config::default();
        config.security.master_secret = Some(Secret::new("short".into()));
        let err = config.validate().unwrap_err().to_string();
        assert!(err.contains("security.master_secret") && !err.contains("short"), "{err}");
    }
}
