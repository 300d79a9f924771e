//! Per-request costs on the hot path, measured on the real code:
//! - one rate-limit admission decision (the limiter state a per-key actor owns);
//! - the same decision through the per-key actor (registry fast path + mailbox round trip);
//! - warm API-key validation: strict format check + SHA-256 + key-cache lookup (a hit is read
//!   from the shared cache without a mailbox round trip);
//! - rendering one search hit's text: the snippet and highlight of each indexed column and the
//!   escaped row, for an ASCII PyPI row and a non-ASCII one (what every uncached search pays per
//!   result).
//!
//! Run: `cargo bench --bench hot_path`. Figures and their baseline live in benches/README.md.

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use altus4::auth::apikey::{self, Environment};
use altus4_actors::clock::SystemClock;
use altus4_actors::key_cache::{KeyCache, KeyCacheConfig, KeyDigest, KeyLookup};
use altus4_actors::limiter::{LimiterSettings, RateLimits};
use altus4_actors::rate::{Limiter, Tier};
use criterion::{criterion_group, criterion_main, Criterion};

/// Times `work` inside a task on the runtime, as a request handler would run it (an actor call
/// from outside the runtime pays a cross-thread wake-up that requests never pay).
fn on_runtime(rt: &tokio::runtime::Runtime, work: impl std::future::Future<Output = ()> + Send + 'static) -> Duration {
    rt.block_on(async {
        tokio::spawn(async move {
            let start = Instant::now();
            work.await;
            start.elapsed()
        })
        .await
        .unwrap()
    })
}

fn unlimited() -> Tier {
    Tier { name: "bench".into(), per_hour: u32::MAX, per_minute: u32::MAX, burst: u32::MAX, block_ms: 0 }
}

fn admission(c: &mut Criterion) {
    let tier = unlimited();
    let mut limiter = Limiter::new();
    let mut now = 1_700_000_000_000u64;
    c.bench_function("admission decision (limiter state)", |b| {
        b.iter(|| {
            now += 1; // a new millisecond each time: buckets roll over as in real traffic
            black_box(limiter.check(black_box(&tier), now))
        })
    });

    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let limits = rt.block_on(async {
        let settings =
            LimiterSettings {
                clock: SystemClock::shared(),
                idle_ms: 600_000,
                tick: Duration::from_secs(30),
                attempt_window_secs: 10,
            };
        RateLimits::start(settings, 5_000).await.unwrap()
    });
    let tier = Arc::new(unlimited());
    c.bench_function("admission decision (per-key actor)", |b| {
        b.iter_custom(|iters| {
            let (limits, tier) = (limits.clone(), Arc::clone(&tier));
            on_runtime(&rt, async move {
                for _ in 0..iters {
                    black_box(limits.check("bench-key", Arc::clone(&tier)).await.unwrap());
                }
            })
        })
    });
}

/// A fixed table of keys, standing in for the metadata store (never reached when warm).
struct Table(Vec<(KeyDigest, String)>);

impl KeyLookup for Table {
    type Record = Arc<String>;
    async fn lookup(&self, digest: KeyDigest) -> Result<Option<Arc<String>>, String> {
        Ok(self.0.iter().find(|(d, _)| *d == digest).map(|(_, owner)| Arc::new(owner.clone())))
    }
}

fn key_validation(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let key = apikey::generate(Environment::Live);
    let secret = key.secret.expose().clone();
    let cache = rt.block_on(async {
        let table = Table(vec![(key.digest, "owner".into())]);
        let config = KeyCacheConfig { max_entries: 100_000, ttl: Duration::from_secs(300) };
        let cache = KeyCache::start(Arc::new(table), config, 1000).await.unwrap();
        // Warm it, and let the fill land.
        cache.resolve(key.digest).await.unwrap().unwrap();
        tokio::time::sleep(Duration::from_millis(50)).await;
        cache
    });
    c.bench_function("key format check + SHA-256", |b| b.iter(|| black_box(apikey::parse(black_box(&secret)))));
    c.bench_function("key validation, warm cache (parse + digest + cache hit)", |b| {
        b.iter_custom(|iters| {
            let (cache, secret) = (cache.clone(), secret.clone());
            on_runtime(&rt, async move {
                for _ in 0..iters {
                    let parsed = apikey::parse(black_box(&secret)).unwrap();
                    black_box(cache.resolve(parsed.digest).await.unwrap().unwrap());
                }
            })
        })
    });
}

fn hit_rendering(c: &mut Criterion) {
    use altus4::engine::rows;
    let terms = rows::Terms::new(&["async".into(), "driver".into()]);
    let names = vec!["id".to_string(), "name".to_string(), "summary".to_string()];
    let (primary_key, indexed) = (
        vec!["id".to_string()],
        vec!["name".to_string(), "summary".to_string()],
    );
    let row = |name: &str, summary: &str| {
        vec![
            mysql_async::Value::Int(42),
            mysql_async::Value::Bytes(name.into()),
            mysql_async::Value::Bytes(summary.into()),
        ]
    };
    let ascii = row(
        "asyncpg-driver-tools",
        "A fast PostgreSQL database client library for Python/asyncio, with an async driver, connection pooling & <typed> records; \
         see the documentation for the full list of features and the supported server versions of PostgreSQL and its forks.",
    );
    let unicode = row(
        "größen-async",
        "Asynchroner Treiber für Datenbanken – schnell, klein und mit Unterstützung für „async“ Verbindungen; Driver für PostgreSQL \
         und MariaDB, geschrieben für Anwendungen, die viele gleichzeitige Anfragen bedienen müssen (Größe: ~2 MB).",
    );
    for (label, values) in [("ASCII", &ascii), ("non-ASCII", &unicode)] {
        c.bench_function(&format!("render one hit to JSON text ({label})"), |b| {
            b.iter(|| {
                let hit = rows::HitView {
                    database: "d0b7",
                    database_name: "pypi",
                    table: "packages",
                    score: 13.5,
                    row: rows::Content {
                        names: &names,
                        values: black_box(values),
                    },
                    primary_key: &primary_key,
                    position: 0,
                    indexed: &indexed,
                    terms: &terms,
                    snippet_chars: 160,
                };
                black_box(serde_json::value::to_raw_value(&hit).unwrap())
            })
        });
    }
}

fn injection_screening(c: &mut Criterion) {
    use altus4::incidents::injection::probe_shape;
    c.bench_function("injection screening of one query (ordinary search)", |b| {
        b.iter(|| black_box(probe_shape(black_box("postgres async driver for python"))))
    });
    c.bench_function("injection screening of one query (probe)", |b| {
        b.iter(|| black_box(probe_shape(black_box("x' UNION/*!50000SELECT*/ username, password FROM users --"))))
    });
}

criterion_group! {
    name = benches;
    config = Criterion::default().warm_up_time(Duration::from_secs(1)).measurement_time(Duration::from_secs(3));
    targets = admission, key_validation, hit_rendering, injection_screening
}
criterion_main!(benches);
