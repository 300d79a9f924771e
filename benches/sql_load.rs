//! A small closed-loop load generator that sends one SQL statement straight to MariaDB: the
//! baseline the search benchmark (`benches/search_load.py`) compares altus4's `/api/v1/search`
//! against. `concurrency` tasks, each with its own connection, run the statement back to back
//! for `duration` seconds (as prepared statements with bound parameters, as altus4 does);
//! prints one JSON line: requests per second, p50 and p99 in milliseconds.
//!
//! `cargo bench --bench sql_load -- <url> <concurrency> <seconds> <sql> [param...]`
//! e.g. url = mysql://root@127.0.0.1:3306/altus4_pypi

use std::time::{Duration, Instant};

use mysql_async::prelude::Queryable;

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

#[tokio::main]
async fn main() {
    // `cargo bench` adds `--bench`; everything else is ours.
    let args: Vec<String> = std::env::args().skip(1).filter(|a| a != "--bench").collect();
    let [url, concurrency, seconds, sql, params @ ..] = args.as_slice() else {
        eprintln!("usage: sql_load <mysql-url> <concurrency> <seconds> <sql> [param...]");
        std::process::exit(2);
    };
    let concurrency: usize = concurrency.parse().expect("concurrency is a number");
    let duration = Duration::from_secs(seconds.parse().expect("seconds is a number"));
    let opts = mysql_async::Opts::from_url(url).expect("a mysql:// URL");
    let params: Vec<mysql_async::Value> = params.iter().map(|p| mysql_async::Value::from(p.as_str())).collect();

    let mut tasks = tokio::task::JoinSet::new();
    let deadline = Instant::now() + duration;
    for _ in 0..concurrency {
        let (opts, sql, params) = (opts.clone(), sql.clone(), params.clone());
        tasks.spawn(async move {
            let mut conn = mysql_async::Conn::new(opts).await.expect("connects");
            let mut latencies = vec![];
            while Instant::now() < deadline {
                let started = Instant::now();
                let rows: Vec<mysql_async::Row> = conn.exec(&sql, params.clone()).await.expect("statement runs");
                std::hint::black_box(rows);
                latencies.push(started.elapsed().as_secs_f64() * 1000.0);
            }
            latencies
        });
    }
    let mut all = vec![];
    while let Some(latencies) = tasks.join_next().await {
        all.extend(latencies.unwrap());
    }
    all.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let report = serde_json::json!({
        "requests": all.len(),
        "rps": all.len() as f64 / duration.as_secs_f64(),
        "p50_ms": percentile(&all, 50.0),
        "p99_ms": percentile(&all, 99.0),
    });
    println!("{report}");
}
