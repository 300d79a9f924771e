//! Configuration: parsed once at start-up into typed structs, validated, then shared read-only.
//!
//! Sources, later ones winning: built-in defaults, the TOML file, environment variables for
//! secrets (`ALTUS4_MASTER_SECRET`), then command-line flags. An invalid value fails start-up
//! with a message naming the field.

use std::collections::BTreeMap;
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
    pub rate_limits: RateLimitConfig,
    pub audit: AuditConfig,
    pub incidents: IncidentConfig,
    pub logging: LoggingConfig,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    /// Address the HTTP server binds.
    pub listen: SocketAddr,
    /// How long a client may take to send its request headers (slowloris defence).
    pub header_read_timeout_secs: u64,
    /// Time allowed to receive a request body once its headers arrived (slow bodies get 408).
    pub body_read_timeout_secs: u64,
    /// Largest accepted request body; larger bodies get 413.
    pub max_body_bytes: usize,
    /// Time allowed to drain in-flight requests on SIGTERM.
    pub shutdown_grace_secs: u64,
    /// Browser origins allowed to call the API (`scheme://host[:port]`); empty: no CORS.
    pub cors_origins: Vec<String>,
    /// Largest request head (request line plus headers) in bytes; larger gets 431.
    pub max_header_bytes: usize,
    /// Longest time one request may take from its headers to its response (then 503).
    pub request_timeout_secs: u64,
    /// PEM certificate chain and private key: when both are set, the server speaks HTTPS only
    /// (TLS 1.2+, HTTP/2 and HTTP/1.1 by ALPN) and sends Strict-Transport-Security.
    pub tls_cert: Option<PathBuf>,
    pub tls_key: Option<PathBuf>,
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
    /// Consecutive connection failures or timeouts that open a database's circuit breaker.
    pub breaker_failures: u32,
    /// How long an open breaker refuses at once before letting one probe through.
    pub breaker_cooldown_secs: u64,
    /// PEM file of extra root certificates trusted for databases registered with `sslEnabled`
    /// (a private CA); the built-in web roots are trusted as well.
    pub tls_ca_file: Option<PathBuf>,
    /// Address ranges tenant databases may be reached on; empty: any that is not denied.
    pub allowed_networks: Vec<String>,
    /// Address ranges tenant databases may never be reached on (checked first).
    pub denied_networks: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SearchConfig {
    pub max_query_chars: usize,
    pub snippet_chars: usize,
    /// How long an identical search (same tenant, request and databases) is answered from
    /// memory; 0 turns the result cache off.
    pub cache_ttl_secs: u64,
    pub cache_max_entries: u64,
    /// An OpenAI-compatible embeddings endpoint that re-ranks `semantic` searches; absent: none
    /// (semantic mode is query expansion alone).
    pub embeddings: Option<EmbeddingsConfig>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EmbeddingsConfig {
    /// The endpoint that takes `{"model", "input": [...]}`, e.g. `https://api.openai.com/v1/embeddings`.
    pub url: String,
    pub model: String,
    /// Environment variable holding the provider's API key (sent as a bearer token).
    #[serde(default)]
    pub api_key_env: Option<String>,
    /// Rows re-ranked per search (the best ones the database finds).
    #[serde(default = "default_candidates")]
    pub candidates: usize,
    /// Time allowed for the provider's answer; slower answers fall back to query expansion.
    #[serde(default = "default_embeddings_timeout")]
    pub timeout_ms: u64,
}

fn default_candidates() -> usize {
    50
}

fn default_embeddings_timeout() -> u64 {
    3_000
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RateLimitConfig {
    /// Tier of keys whose stored tier is no longer configured.
    pub default_tier: String,
    /// Stop a key's limiter after this long without requests, once it holds no counts.
    pub idle_secs: u64,
    /// How often idle limiters check whether they can stop.
    pub idle_check_secs: u64,
    /// How often usage counters (usageCount, lastUsed, lastUsedIp) are written.
    pub usage_flush_ms: u64,
    /// Tiers by name; `free`, `pro` and `enterprise` exist unless overridden, and any other name
    /// adds a tier.
    pub tiers: BTreeMap<String, TierConfig>,
    /// Limits per client address for register, login and setup.
    pub ip: IpLimitConfig,
}

#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct TierConfig {
    pub per_hour: u32,
    pub per_minute: u32,
    /// The most requests admitted within any one second.
    pub burst: u32,
    /// How long a key is refused after exceeding any of the three.
    pub block_secs: u64,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct IpLimitConfig {
    pub per_hour: u32,
    pub per_minute: u32,
    pub burst: u32,
    pub block_secs: u64,
    /// Most client addresses tracked at once (oldest forgotten first).
    pub max_tracked: u64,
    /// IPv6 clients are grouped by this prefix length (a /64 is usually one subscriber).
    pub ipv6_prefix: u8,
    /// Proxies whose X-Forwarded-For is believed (addresses or CIDR ranges).
    pub trusted_proxies: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuditConfig {
    /// How often accepted audit events are written (one transaction per batch).
    pub flush_ms: u64,
    /// Events held in memory while the store is failing; past this the oldest are dropped.
    pub max_pending: usize,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct IncidentConfig {
    /// More failed authentications than this from one address within the window blocks it.
    pub auth_failure_limit: u32,
    pub auth_failure_window_secs: u64,
    /// How long a blocked address gets 403 IP_BLOCKED.
    pub block_secs: u64,
    /// More requests than this on one key within the window (refused ones included) is rapid
    /// fire: the key's limits are divided by `rapid_fire_divisor` for `rapid_fire_penalty_secs`.
    pub rapid_fire_requests: u32,
    pub rapid_fire_window_secs: u64,
    pub rapid_fire_penalty_secs: u64,
    pub rapid_fire_divisor: u32,
    /// Refuse search queries that look like SQL injection probes (400) instead of only logging.
    pub reject_injection: bool,
    /// Revoke a key after this many incidents within a day; 0 never revokes.
    pub revoke_after_incidents: u32,
    /// Incidents are POSTed here as JSON when set (http:// or https://).
    pub webhook_url: Option<String>,
    /// Client addresses whose failures are tracked at once (bounded memory under attack).
    pub max_tracked: u64,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LoggingConfig {
    /// A tracing filter such as `info` or `altus4=debug,info`; `RUST_LOG` overrides it.
    pub filter: String,
    /// JSON-lines file for warnings and errors (security events among them); relative paths are
    /// under the data dir; empty: none.
    pub security_log: PathBuf,
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
            rate_limits: RateLimitConfig::default(),
            audit: AuditConfig::default(),
            incidents: IncidentConfig::default(),
            logging: LoggingConfig::default(),
        }
    }
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            listen: "127.0.0.1:3000".parse().expect("valid literal"),
            header_read_timeout_secs: 10,
            body_read_timeout_secs: 30,
            max_body_bytes: 1024 * 1024,
            shutdown_grace_secs: 10,
            cors_origins: vec![],
            max_header_bytes: 64 * 1024,
            request_timeout_secs: 60,
            tls_cert: None,
            tls_key: None,
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
            breaker_failures: 5,
            breaker_cooldown_secs: 30,
            tls_ca_file: None,
            allowed_networks: vec![],
            // Link-local: cloud metadata services and other host-only endpoints.
            denied_networks: vec!["169.254.0.0/16".into(), "fe80::/10".into()],
        }
    }
}

impl Default for SearchConfig {
    fn default() -> Self {
        Self { max_query_chars: 1000, snippet_chars: 160, cache_ttl_secs: 30, cache_max_entries: 10_000, embeddings: None }
    }
}

fn default_tiers() -> BTreeMap<String, TierConfig> {
    let tier = |per_hour, per_minute, burst, block_secs| TierConfig { per_hour, per_minute, burst, block_secs };
    BTreeMap::from([
        ("free".to_string(), tier(1_000, 50, 10, 300)),
        ("pro".to_string(), tier(10_000, 500, 50, 60)),
        ("enterprise".to_string(), tier(100_000, 5_000, 200, 30)),
    ])
}

impl Default for RateLimitConfig {
    fn default() -> Self {
        Self {
            default_tier: "free".into(),
            idle_secs: 600,
            idle_check_secs: 30,
            usage_flush_ms: 1_000,
            tiers: default_tiers(),
            ip: IpLimitConfig::default(),
        }
    }
}

impl Default for IpLimitConfig {
    fn default() -> Self {
        Self {
            per_hour: 300,
            per_minute: 30,
            burst: 5,
            block_secs: 60,
            max_tracked: 100_000,
            ipv6_prefix: 64,
            trusted_proxies: vec![],
        }
    }
}

impl Default for AuditConfig {
    fn default() -> Self {
        Self { flush_ms: 200, max_pending: 100_000 }
    }
}

impl Default for IncidentConfig {
    fn default() -> Self {
        Self {
            auth_failure_limit: 10,
            auth_failure_window_secs: 300,
            block_secs: 3600,
            rapid_fire_requests: 50,
            rapid_fire_window_secs: 10,
            rapid_fire_penalty_secs: 600,
            rapid_fire_divisor: 4,
            reject_injection: true,
            revoke_after_incidents: 0,
            webhook_url: None,
            max_tracked: 100_000,
        }
    }
}

impl Default for LoggingConfig {
    fn default() -> Self {
        Self { filter: "info".into(), security_log: PathBuf::from("security.log") }
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

    /// Parses TOML; tiers named in the file replace or add to the built-in ones.
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut config: Self = toml::from_str(text).map_err(|e| e.to_string())?;
        for (name, tier) in default_tiers() {
            config.rate_limits.tiers.entry(name).or_insert(tier);
        }
        Ok(config)
    }

    pub fn validate(&self) -> Result<(), ConfigError> {
        /// Every entry of `list` is an IP address or CIDR range.
        fn cidrs(field: &'static str, list: &[String]) -> Result<(), ConfigError> {
            match list.iter().find(|c| crate::cidr::Cidr::parse(c).is_none()) {
                Some(bad) => Err(ConfigError::Field { field, message: format!("'{bad}' is not an IP address or CIDR range") }),
                None => Ok(()),
            }
        }
        fn positive(field: &'static str, value: u64) -> Result<(), ConfigError> {
            if value == 0 {
                return Err(ConfigError::Field { field, message: "must be greater than 0".into() });
            }
            Ok(())
        }
        positive("server.header_read_timeout_secs", self.server.header_read_timeout_secs)?;
        positive("server.max_body_bytes", self.server.max_body_bytes as u64)?;
        positive("server.body_read_timeout_secs", self.server.body_read_timeout_secs)?;
        positive("auth.token_ttl_secs", self.auth.token_ttl_secs)?;
        positive("auth.max_concurrent_hashes", self.auth.max_concurrent_hashes as u64)?;
        positive("key_cache.max_entries", self.key_cache.max_entries)?;
        positive("key_cache.ttl_secs", self.key_cache.ttl_secs)?;
        positive("targets.connect_timeout_ms", self.targets.connect_timeout_ms)?;
        positive("targets.query_timeout_ms", self.targets.query_timeout_ms)?;
        positive("targets.max_connections_per_database", self.targets.max_connections_per_database as u64)?;
        positive("search.max_query_chars", self.search.max_query_chars as u64)?;
        positive("targets.breaker_failures", u64::from(self.targets.breaker_failures))?;
        positive("targets.breaker_cooldown_secs", self.targets.breaker_cooldown_secs)?;
        if let Some(ca) = &self.targets.tls_ca_file {
            if !ca.is_file() {
                return Err(ConfigError::Field {
                    field: "targets.tls_ca_file",
                    message: format!("{} is not a readable file", ca.display()),
                });
            }
        }
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
        if let Some(bad) = self.server.cors_origins.iter().find(|o| !crate::http::cors::Cors::valid_origin(o)) {
            return Err(ConfigError::Field {
                field: "server.cors_origins",
                message: format!("'{bad}' is not an origin (scheme://host[:port])"),
            });
        }
        let rl = &self.rate_limits;
        positive("rate_limits.idle_check_secs", rl.idle_check_secs)?;
        positive("rate_limits.usage_flush_ms", rl.usage_flush_ms)?;
        if !rl.tiers.contains_key(&rl.default_tier) {
            return Err(ConfigError::Field {
                field: "rate_limits.default_tier",
                message: format!("no tier named '{}' is configured", rl.default_tier),
            });
        }
        for (name, t) in &rl.tiers {
            if name.is_empty() || name.len() > 32 || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') {
                return Err(ConfigError::Field { field: "rate_limits.tiers", message: format!("bad tier name '{name}'") });
            }
            if t.per_hour == 0 || t.per_minute == 0 || t.burst == 0 {
                return Err(ConfigError::Field {
                    field: "rate_limits.tiers",
                    message: format!("tier '{name}': per_hour, per_minute and burst must be greater than 0"),
                });
            }
        }
        if rl.ip.per_hour == 0 || rl.ip.per_minute == 0 || rl.ip.burst == 0 {
            return Err(ConfigError::Field {
                field: "rate_limits.ip",
                message: "per_hour, per_minute and burst must be greater than 0".into(),
            });
        }
        positive("rate_limits.ip.max_tracked", rl.ip.max_tracked)?;
        if !(1..=128).contains(&rl.ip.ipv6_prefix) {
            return Err(ConfigError::Field { field: "rate_limits.ip.ipv6_prefix", message: "must be 1 to 128".into() });
        }
        cidrs("rate_limits.ip.trusted_proxies", &rl.ip.trusted_proxies)?;
        cidrs("targets.allowed_networks", &self.targets.allowed_networks)?;
        cidrs("targets.denied_networks", &self.targets.denied_networks)?;
        positive("server.max_header_bytes", self.server.max_header_bytes as u64)?;
        positive("server.request_timeout_secs", self.server.request_timeout_secs)?;
        if self.server.tls_cert.is_some() != self.server.tls_key.is_some() {
            return Err(ConfigError::Field {
                field: "server.tls_cert",
                message: "tls_cert and tls_key must be set together".into(),
            });
        }
        if let Some(e) = &self.search.embeddings {
            if !(e.url.starts_with("http://") || e.url.starts_with("https://")) || reqwest::Url::parse(&e.url).is_err() {
                return Err(ConfigError::Field { field: "search.embeddings.url", message: "must be an http:// or https:// URL".into() });
            }
            if !(1..=500).contains(&e.candidates) {
                return Err(ConfigError::Field { field: "search.embeddings.candidates", message: "must be 1 to 500".into() });
            }
            positive("search.embeddings.timeout_ms", e.timeout_ms)?;
        }
        positive("audit.flush_ms", self.audit.flush_ms)?;
        positive("audit.max_pending", self.audit.max_pending as u64)?;
        let inc = &self.incidents;
        positive("incidents.auth_failure_window_secs", inc.auth_failure_window_secs)?;
        positive("incidents.block_secs", inc.block_secs)?;
        positive("incidents.rapid_fire_requests", u64::from(inc.rapid_fire_requests))?;
        positive("incidents.rapid_fire_penalty_secs", inc.rapid_fire_penalty_secs)?;
        positive("incidents.rapid_fire_divisor", u64::from(inc.rapid_fire_divisor))?;
        positive("incidents.max_tracked", inc.max_tracked)?;
        if !(1..=300).contains(&inc.rapid_fire_window_secs) {
            return Err(ConfigError::Field { field: "incidents.rapid_fire_window_secs", message: "must be 1 to 300".into() });
        }
        if let Some(url) = &inc.webhook_url {
            if !(url.starts_with("http://") || url.starts_with("https://")) || reqwest::Url::parse(url).is_err() {
                return Err(ConfigError::Field {
                    field: "incidents.webhook_url",
                    message: "must be an http:// or https:// URL".into(),
                });
            }
        }
        if self.storage.data_dir.as_os_str().is_empty() {
            return Err(ConfigError::Field { field: "storage.data_dir", message: "must not be empty".into() });
        }
        Ok(())
    }

    /// The security log's path, if one is configured.
    pub fn security_log_path(&self) -> Option<PathBuf> {
        let path = &self.logging.security_log;
        (!path.as_os_str().is_empty()).then(|| self.storage.data_dir.join(path))
    }

    pub fn body_timeout(&self) -> Duration {
        Duration::from_secs(self.server.body_read_timeout_secs)
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
    fn tiers_from_the_file_add_to_and_override_the_defaults() {
        let text = "[rate_limits.tiers.free]\nper_hour = 10\nper_minute = 5\nburst = 2\nblock_secs = 1\n\
                    [rate_limits.tiers.partner]\nper_hour = 7\nper_minute = 7\nburst = 7\nblock_secs = 7\n";
        let config = Config::parse(text).unwrap();
        config.validate().unwrap();
        let tiers = &config.rate_limits.tiers;
        assert_eq!(tiers["free"].per_minute, 5);
        assert_eq!(tiers["partner"].burst, 7);
        assert_eq!(tiers["enterprise"].per_hour, 100_000);

        let bad = Config::parse("[rate_limits.ip]\ntrusted_proxies = [\"10.0.0.0/33\"]\n").unwrap();
        assert!(bad.validate().unwrap_err().to_string().contains("rate_limits.ip.trusted_proxies"));
        let bad = Config::parse("[rate_limits]\ndefault_tier = \"gold\"\n").unwrap();
        assert!(bad.validate().unwrap_err().to_string().contains("rate_limits.default_tier"));
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
