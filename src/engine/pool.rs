//! One actor per registered tenant database: owns its mysql_async pool, knows whether the server
//! is MariaDB or MySQL (for the statement time cap), and caches the discovered schema.
//!
//! Each query runs in its own spawned task, so the actor never waits on the network and a caller
//! that gives up (timeout, client gone) cannot drop a connection mid-protocol: the task finishes
//! or the server-side statement cap ends it, and the connection returns to the pool clean.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use altus4_actors::breaker::{Breaker, BreakerConfig};
use altus4_actors::clock::{Clock, SystemClock};
use altus4_actors::registry::ChildFactory;
use mysql_async::prelude::Queryable;
use mysql_async::{Conn, OptsBuilder, Pool, PoolConstraints, PoolOpts, Row, SslOpts, Value};
use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort};
use tokio::sync::OnceCell;

use super::schema::{self, DbSchema};
use crate::secrets::Secret;

/// Everything needed to connect to one tenant database.
#[derive(Clone, Debug)]
pub struct PoolSpec {
    pub host: String,
    pub port: u16,
    pub database: String,
    pub username: String,
    pub password: Option<Secret<String>>,
    pub ssl: bool,
    pub limits: PoolLimits,
}

impl PoolSpec {
    /// The address to connect to, once the target-network policy admits the host (`None`: no
    /// policy, connect by name).
    async fn admitted(&self) -> Result<Option<Vec<std::net::IpAddr>>, PoolError> {
        self.limits.networks.admit(&self.host, self.port).await
    }
}

#[derive(Clone, Debug)]
pub struct PoolLimits {
    pub connect_timeout: Duration,
    pub query_timeout: Duration,
    pub max_connections: usize,
    pub schema_ttl: Duration,
    pub breaker: BreakerConfig,
    /// PEM bundle of extra roots trusted for `sslEnabled` databases (private CAs), in addition to
    /// the built-in web roots.
    pub tls_ca_file: Option<std::path::PathBuf>,
    /// Where tenant databases may be reached.
    pub networks: super::networks::TargetNetworks,
}

#[derive(Debug, Clone, thiserror::Error)]
pub enum PoolError {
    #[error("database unreachable")]
    Unreachable,
    /// The host is (or resolves to) an address outside `[targets]`' permitted networks; nothing
    /// was sent to it.
    #[error("the database host is outside the networks this server may connect to")]
    NotAllowed,
    #[error("database refused the credentials")]
    AccessDenied,
    #[error("database does not exist")]
    UnknownDatabase,
    #[error("database did not answer in time")]
    Timeout,
    #[error("the server at that address does not speak the MySQL protocol correctly")]
    Protocol,
    /// TLS was asked for and could not be set up: the server offers none, or its certificate is
    /// not trusted (or not for this host).
    #[error("TLS to the database failed: the server offers no TLS or its certificate is not trusted for this host")]
    Tls,
    /// The circuit breaker is open after repeated failures; nothing was sent.
    #[error("database unavailable after repeated failures; retry in {retry_after_secs} s")]
    CircuitOpen { retry_after_secs: u64 },
    /// The server refused the statement (MySQL error number kept for logs and mapping).
    #[error("database rejected the query (error {0})")]
    Rejected(u16),
}

impl PoolError {
    /// Failures that say the database is unwell (they count towards opening the breaker); a
    /// refused statement means the server is answering.
    fn is_outage(&self) -> bool {
        matches!(self, PoolError::Unreachable | PoolError::Timeout | PoolError::Protocol)
    }

    fn from_mysql(e: &mysql_async::Error) -> Self {
        match e {
            mysql_async::Error::Server(s) => match s.code {
                1044 | 1045 | 1698 => PoolError::AccessDenied,
                1049 => PoolError::UnknownDatabase,
                // MariaDB max_statement_time / MySQL max_execution_time exceeded.
                1969 | 3024 => PoolError::Timeout,
                code => PoolError::Rejected(code),
            },
            e if is_tls_failure(e) => PoolError::Tls,
            _ => PoolError::Unreachable,
        }
    }
}

fn is_tls_failure(e: &mysql_async::Error) -> bool {
    use mysql_async::{DriverError, Error, IoError};
    match e {
        Error::Driver(DriverError::NoClientSslFlagFromServer) | Error::Io(IoError::Tls(_)) => true,
        // A failed handshake comes back as an I/O error carrying rustls' own error.
        Error::Io(IoError::Io(io)) => io.get_ref().is_some_and(|inner| inner.is::<rustls::Error>()),
        _ => false,
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Flavor {
    MariaDb,
    MySql,
}

/// Result of a successful probe.
#[derive(Clone, Debug)]
pub struct ServerInfo {
    pub version: String,
    pub latency: Duration,
}

/// How long an idle pooled connection to a tenant database is kept open.
const IDLE_CONNECTION_TTL: Duration = Duration::from_secs(60);

/// Connection options for `spec`. `pinned` are the addresses the target-network policy checked
/// (`networks::admit`): the driver connects only there and uses the name only to verify a TLS
/// certificate, so a second DNS answer cannot lead anywhere else, on this or any later connection.
fn opts(spec: &PoolSpec, pinned: Option<Vec<std::net::IpAddr>>) -> OptsBuilder {
    let constraints =
        PoolConstraints::new(0, spec.limits.max_connections.max(1)).expect("0 <= max and max >= 1");
    let mut builder = OptsBuilder::default()
        .ip_or_hostname(spec.host.clone())
        .resolved_ips(pinned)
        .tcp_port(spec.port)
        .user(Some(spec.username.clone()))
        .pass(spec.password.as_ref().map(|p| p.expose().clone()))
        .db_name(Some(spec.database.clone()))
        // Connect where the tenant said, never to a local socket found by asking the server.
        .prefer_socket(false)
        // No reset when a connection goes back to the pool: altus4 never changes session state
        // (its time cap is `SET STATEMENT … FOR`, scoped to one statement, and each pool serves
        // one tenant database), and a reset would also drop the prepared-statement cache, so
        // every search would be prepared again and cost two more round trips.
        //
        // Idle connections are kept (up to the maximum) for a minute: with mysql_async's default
        // inactive TTL of 0, every connection above the minimum (here: all) is closed when it is
        // returned, and each search paid a new TCP connection and login.
        .pool_opts(
            PoolOpts::default()
                .with_constraints(constraints)
                .with_reset_connection(false)
                .with_inactive_connection_ttl(IDLE_CONNECTION_TTL),
        );
    if spec.ssl {
        let mut ssl = SslOpts::default();
        if let Some(ca) = &spec.limits.tls_ca_file {
            ssl = ssl.with_root_certs(vec![ca.clone().into()]);
        }
        builder = builder.ssl_opts(Some(ssl));
    }
    builder
}

/// Connects once without a pool: used to check a database before it is registered.
///
/// Runs in its own task: the driver panics on some malformed server replies (a port that only
/// pretends to be MySQL), and that must end this probe, not the caller's request.
pub async fn probe(spec: &PoolSpec) -> Result<ServerInfo, PoolError> {
    let spec = spec.clone();
    tokio::spawn(async move { probe_inner(&spec).await }).await.unwrap_or(Err(PoolError::Protocol))
}

async fn probe_inner(spec: &PoolSpec) -> Result<ServerInfo, PoolError> {
    let started = Instant::now();
    let connect = async {
        let pinned = spec.admitted().await?;
        Conn::new(opts(spec, pinned)).await.map_err(|e| PoolError::from_mysql(&e))
    };
    let mut conn =
        tokio::time::timeout(spec.limits.connect_timeout, connect).await.map_err(|_| PoolError::Timeout)??;
    let version = server_version(&mut conn, spec.limits.query_timeout).await?;
    let latency = started.elapsed();
    tokio::spawn(async move {
        let _ = conn.disconnect().await;
    });
    Ok(ServerInfo { version, latency })
}

/// `SELECT VERSION()`, read without assuming the server sends valid UTF-8.
async fn server_version(conn: &mut Conn, timeout: Duration) -> Result<String, PoolError> {
    let row: Option<Row> = tokio::time::timeout(timeout, conn.query_first("SELECT VERSION()"))
        .await
        .map_err(|_| PoolError::Timeout)?
        .map_err(|e| PoolError::from_mysql(&e))?;
    Ok(row.and_then(|r| r.as_ref(0).and_then(super::rows::as_text).map(|t| t.into_owned())).unwrap_or_default())
}

pub enum PoolMsg {
    /// The database's schema, from cache unless older than the TTL or `refresh` is set.
    Schema { refresh: bool, reply: RpcReplyPort<Result<Arc<DbSchema>, PoolError>> },
    /// Runs one read-only statement (built by the search planner) with positional parameters,
    /// under the server-side statement time cap.
    Query { sql: String, params: Vec<Value>, reply: RpcReplyPort<Result<Vec<Row>, PoolError>> },
    /// The circuit breaker's state: `closed`, `open` or `half-open`.
    Breaker { reply: RpcReplyPort<&'static str> },
    /// How many statements this pool has sent to the database.
    Executed { reply: RpcReplyPort<u64> },
}

/// How often a pool's host is resolved and checked against the network policy again.
const RECHECK: Duration = Duration::from_secs(60);

/// A pool and the addresses it is pinned to (`None`: no policy, the driver resolves the name).
struct Pinned {
    pool: Pool,
    addresses: Option<Vec<std::net::IpAddr>>,
    /// When the addresses were last checked; `None` after a connection failure.
    checked: Option<Instant>,
}

/// State shared by the actor and the query tasks it spawns.
pub struct Shared {
    spec: PoolSpec,
    /// Made on first use, once the address has passed the network policy (see `current_pool`).
    pool: tokio::sync::Mutex<Option<Pinned>>,
    flavor: OnceCell<Flavor>,
    schema: Mutex<Option<(Instant, Arc<DbSchema>)>>,
    breaker: Mutex<Breaker>,
    clock: SystemClock,
    executed: std::sync::atomic::AtomicU64,
}

impl Shared {
    /// Runs `work` through the circuit breaker: refused at once while open; outcome recorded.
    async fn guarded<T>(&self, work: impl std::future::Future<Output = Result<T, PoolError>>) -> Result<T, PoolError> {
        let now = self.clock.now_ms();
        if let Err(open) = self.breaker.lock().expect("breaker lock").admit(now) {
            let retry_after_secs = open.retry_at.saturating_sub(now).div_ceil(1000).max(1);
            return Err(PoolError::CircuitOpen { retry_after_secs });
        }
        let result = work.await;
        let mut breaker = self.breaker.lock().expect("breaker lock");
        match &result {
            Err(e) if e.is_outage() => breaker.on_failure(self.clock.now_ms()),
            _ => breaker.on_success(),
        }
        result
    }

    async fn conn(&self) -> Result<Conn, PoolError> {
        let connect = async {
            let pool = self.current_pool().await?;
            pool.get_conn().await.map_err(|e| PoolError::from_mysql(&e))
        };
        let result =
            tokio::time::timeout(self.spec.limits.connect_timeout, connect).await.map_err(|_| PoolError::Timeout)?;
        if result.as_ref().is_err_and(PoolError::is_outage) {
            // The name may point elsewhere now (a failover): check it again on the next request.
            if let Some(pinned) = self.pool.lock().await.as_mut() {
                pinned.checked = None;
            }
        }
        result
    }

    /// The pool, connected only to addresses the network policy admitted. The host's addresses
    /// are checked again every `RECHECK` and after a connection failure; when they changed (a
    /// DNS failover), a new pool replaces the old one. A refusal is not kept, so a policy or
    /// DNS change takes effect on the next request.
    async fn current_pool(&self) -> Result<Pool, PoolError> {
        let mut slot = self.pool.lock().await;
        if let Some(pinned) = slot.as_ref().filter(|p| p.checked.is_some_and(|at| at.elapsed() < RECHECK)) {
            return Ok(pinned.pool.clone());
        }
        let addresses = self.spec.admitted().await?;
        match slot.as_mut() {
            Some(pinned) if pinned.addresses == addresses => pinned.checked = Some(Instant::now()),
            _ => {
                let fresh = Pinned { pool: Pool::new(opts(&self.spec, addresses.clone())), addresses, checked: Some(Instant::now()) };
                if let Some(old) = slot.replace(fresh) {
                    tokio::spawn(async move {
                        let _ = old.pool.disconnect().await;
                    });
                }
            }
        }
        Ok(slot.as_ref().expect("just set").pool.clone())
    }

    async fn flavor(&self, conn: &mut Conn) -> Result<Flavor, PoolError> {
        self.flavor
            .get_or_try_init(|| async {
                let version = server_version(conn, self.spec.limits.query_timeout).await?;
                Ok(if version.to_lowercase().contains("mariadb") {
                    Flavor::MariaDb
                } else {
                    Flavor::MySql
                })
            })
            .await
            .copied()
    }

    /// Prefixes a SELECT with the server-side time cap of this server's flavor.
    fn capped(&self, flavor: Flavor, sql: &str) -> String {
        let ms = self.spec.limits.query_timeout.as_millis().max(1);
        match flavor {
            Flavor::MariaDb => format!("SET STATEMENT max_statement_time={:.3} FOR {sql}", ms as f64 / 1000.0),
            Flavor::MySql => sql.replacen("SELECT", &format!("SELECT /*+ MAX_EXECUTION_TIME({ms}) */"), 1),
        }
    }

    async fn query(&self, sql: String, params: Vec<Value>) -> Result<Vec<Row>, PoolError> {
        let mut conn = self.conn().await?;
        let flavor = self.flavor(&mut conn).await?;
        let sql = self.capped(flavor, &sql);
        self.executed.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        // The client-side bound is a little longer than the server's own cap, so the server's
        // clean interruption normally wins and the connection stays usable.
        let bound = self.spec.limits.query_timeout + Duration::from_millis(500);
        tokio::time::timeout(bound, conn.exec(sql, params))
            .await
            .map_err(|_| PoolError::Timeout)?
            .map_err(|e| PoolError::from_mysql(&e))
    }

    async fn schema(&self, refresh: bool) -> Result<Arc<DbSchema>, PoolError> {
        if !refresh {
            if let Some((at, cached)) = self.schema.lock().expect("schema lock").as_ref() {
                if at.elapsed() < self.spec.limits.schema_ttl {
                    return Ok(Arc::clone(cached));
                }
            }
        }
        // Only real reads go through the breaker: a cache hit says nothing about the database.
        let discovered = self
            .guarded(async {
                let mut conn = self.conn().await?;
                tokio::time::timeout(self.spec.limits.query_timeout, schema::discover(&mut conn, &self.spec.database))
                    .await
                    .map_err(|_| PoolError::Timeout)?
                    .map_err(|e| PoolError::from_mysql(&e))
            })
            .await?;
        let discovered = Arc::new(discovered);
        *self.schema.lock().expect("schema lock") = Some((Instant::now(), Arc::clone(&discovered)));
        Ok(discovered)
    }
}

pub struct PoolActor;

impl Actor for PoolActor {
    type Msg = PoolMsg;
    type State = Arc<Shared>;
    type Arguments = PoolSpec;

    async fn pre_start(&self, _myself: ActorRef<PoolMsg>, spec: PoolSpec) -> Result<Arc<Shared>, ActorProcessingErr> {
        // The pool is created, and connects, on the first query.
        Ok(Arc::new(Shared {
            pool: tokio::sync::Mutex::new(None),
            flavor: OnceCell::new(),
            schema: Mutex::new(None),
            breaker: Mutex::new(Breaker::new(spec.limits.breaker)),
            clock: SystemClock::new(),
            executed: std::sync::atomic::AtomicU64::new(0),
            spec,
        }))
    }

    async fn handle(
        &self,
        _myself: ActorRef<PoolMsg>,
        message: PoolMsg,
        shared: &mut Arc<Shared>,
    ) -> Result<(), ActorProcessingErr> {
        let shared = Arc::clone(shared);
        match message {
            PoolMsg::Schema { refresh, reply } => {
                tokio::spawn(async move {
                    let _ = reply.send(shared.schema(refresh).await);
                });
            }
            PoolMsg::Query { sql, params, reply } => {
                tokio::spawn(async move {
                    let _ = reply.send(shared.guarded(shared.query(sql, params)).await);
                });
            }
            PoolMsg::Executed { reply } => {
                let _ = reply.send(shared.executed.load(std::sync::atomic::Ordering::Relaxed));
            }
            PoolMsg::Breaker { reply } => {
                let status = shared.breaker.lock().expect("breaker lock").status(shared.clock.now_ms());
                let _ = reply.send(status);
            }
        }
        Ok(())
    }

    async fn post_stop(&self, _myself: ActorRef<PoolMsg>, shared: &mut Arc<Shared>) -> Result<(), ActorProcessingErr> {
        if let Some(Pinned { pool, .. }) = shared.pool.lock().await.take() {
            tokio::spawn(async move {
                let _ = pool.disconnect().await;
            });
        }
        Ok(())
    }
}

/// Asks a pool actor and waits at most `timeout`. A pool that stopped or dropped the reply counts
/// as an unreachable database.
pub async fn ask<T: Send + 'static>(
    pool: &ActorRef<PoolMsg>,
    timeout: Duration,
    build: impl FnOnce(RpcReplyPort<T>) -> PoolMsg,
) -> Result<T, PoolError> {
    match pool.call(build, Some(timeout)).await {
        Ok(ractor::rpc::CallResult::Success(answer)) => Ok(answer),
        Ok(ractor::rpc::CallResult::Timeout) => Err(PoolError::Timeout),
        _ => Err(PoolError::Unreachable),
    }
}

/// Builds pool actors for the registry, keyed by database connection id.
pub struct PoolFactory;

impl ChildFactory for PoolFactory {
    type Key = String;
    type Spec = PoolSpec;
    type Child = PoolActor;

    fn build(&self, _id: &String, spec: PoolSpec) -> (PoolActor, PoolSpec) {
        (PoolActor, spec)
    }
}
