//! A tenant database that goes away degrades that tenant's searches, never the server.

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;
use reqwest::StatusCode;
use serde_json::json;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Notify;

/// A loopback TCP forwarder to MariaDB that can be cut (live connections dropped, new ones
/// closed at once) and restored.
struct Forwarder {
    port: u16,
    down: Arc<AtomicBool>,
    slow: Arc<AtomicBool>,
    cut: Arc<Notify>,
    /// Connections forwarded so far (what the server behind it sees as new logins).
    accepted: Arc<std::sync::atomic::AtomicUsize>,
}

/// Copies `from` to `to`, holding every chunk back 300 ms while `slow` is set.
async fn pump(mut from: tokio::net::tcp::OwnedReadHalf, mut to: tokio::net::tcp::OwnedWriteHalf, slow: Arc<AtomicBool>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let n = match from.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        if slow.load(Ordering::SeqCst) {
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
        if to.write_all(&buf[..n]).await.is_err() {
            return;
        }
    }
}

impl Forwarder {
    async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let down = Arc::new(AtomicBool::new(false));
        let slow = Arc::new(AtomicBool::new(false));
        let cut = Arc::new(Notify::new());
        let accepted = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let (is_down, is_slow, on_cut, count) = (Arc::clone(&down), Arc::clone(&slow), Arc::clone(&cut), Arc::clone(&accepted));
        tokio::spawn(async move {
            let mut conns = tokio::task::JoinSet::new();
            loop {
                tokio::select! {
                    accepted = listener.accept() => {
                        let Ok((inbound, _)) = accepted else { break };
                        if is_down.load(Ordering::SeqCst) {
                            continue; // dropped: the client sees the connection closed
                        }
                        let slow = Arc::clone(&is_slow);
                        count.fetch_add(1, Ordering::SeqCst);
                        conns.spawn(async move {
                            if let Ok(outbound) = TcpStream::connect((MARIADB_HOST, MARIADB_PORT)).await {
                                let (client_read, client_write) = inbound.into_split();
                                let (server_read, server_write) = outbound.into_split();
                                let up = pump(client_read, server_write, Arc::new(AtomicBool::new(false)));
                                let down = pump(server_read, client_write, slow);
                                tokio::join!(up, down);
                            }
                        });
                    }
                    _ = on_cut.notified() => conns.abort_all(),
                }
            }
        });
        Self { port, down, slow, cut, accepted }
    }

    fn cut(&self) {
        self.down.store(true, Ordering::SeqCst);
        self.cut.notify_one();
    }

    fn restore(&self) {
        self.down.store(false, Ordering::SeqCst);
    }
}

#[tokio::test]
async fn a_vanished_database_gives_503_quickly_and_leaves_others_alone() {
    let forwarder = Forwarder::start().await;
    let server = Server::start().await;

    let fragile = server.register("fragile@example.com").await;
    let (fragile_key, _) = server.create_key(&fragile, &["search"]).await;
    let body = json!({"name": "via proxy", "host": "127.0.0.1", "port": forwarder.port, "database": "sakila", "username": "root"});
    let (status, created) = server.post("/api/v1/databases", Some(&fragile), body).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let (status, _) = server.search(&fragile_key, json!({"query": "astronaut"})).await;
    assert_eq!(status, StatusCode::OK);

    let steady = server.sakila_tenant("steady@example.com").await;

    forwarder.cut();
    tokio::time::sleep(Duration::from_millis(100)).await;

    for _ in 0..3 {
        let started = Instant::now();
        let (status, body) = server.search(&fragile_key, json!({"query": "astronaut"})).await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
        assert_eq!(body["error"]["code"], "DATABASE_UNAVAILABLE");
        // Bounded by the connect timeout (3 s by default), never a hang.
        assert!(started.elapsed() < Duration::from_secs(8), "took {:?}", started.elapsed());

        let (status, body) = server.search(&steady.key, json!({"query": "astronaut boat"})).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["data"]["results"][0]["content"]["film_id"], 296);
    }
    let (status, _) = server.get("/health", None).await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn the_breaker_opens_fails_fast_and_closes_when_the_database_returns() {
    let forwarder = Forwarder::start().await;
    let config = format!("{GENEROUS_LIMITS}\n[targets]\nbreaker_failures = 2\nbreaker_cooldown_secs = 2\n");
    let server = Server::start_with_config(&config).await;
    let token = server.register("breaker@example.com").await;
    let (key, _) = server.create_key(&token, &["search"]).await;
    let body = json!({"name": "via proxy", "host": "127.0.0.1", "port": forwarder.port, "database": "sakila", "username": "root"});
    let (status, created) = server.post("/api/v1/databases", Some(&token), body).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let db = created["data"]["id"].as_str().unwrap().to_string();
    assert_eq!(server.search(&key, json!({"query": "astronaut"})).await.0, StatusCode::OK);

    forwarder.cut();
    tokio::time::sleep(Duration::from_millis(100)).await;
    for _ in 0..2 {
        let (status, _) = server.search(&key, json!({"query": "boat"})).await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    }
    let (_, body) = server.get(&format!("/api/v1/databases/{db}"), Some(&token)).await;
    assert_eq!(body["data"]["circuitBreaker"], "open", "{body}");
    // Open: refused at once, without touching the network.
    let started = Instant::now();
    let (status, body) = server.search(&key, json!({"query": "boat"})).await;
    assert_eq!((status, body["error"]["code"].as_str()), (StatusCode::SERVICE_UNAVAILABLE, Some("DATABASE_UNAVAILABLE")));
    assert!(body["error"]["message"].as_str().unwrap().contains("repeated failures"), "{body}");
    assert!(started.elapsed() < Duration::from_millis(500), "{:?}", started.elapsed());
    let (_, statuses) = server.get("/api/v1/databases/status", Some(&token)).await;
    assert_eq!(statuses["data"][0]["circuitBreaker"], "open");

    // The database comes back; after the cool-down one probe closes the breaker.
    forwarder.restore();
    tokio::time::sleep(Duration::from_millis(2_200)).await;
    let (status, body) = server.search(&key, json!({"query": "astronaut boat"})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["data"]["results"][0]["content"]["film_id"], 296);
    let (_, body) = server.get(&format!("/api/v1/databases/{db}"), Some(&token)).await;
    assert_eq!(body["data"]["circuitBreaker"], "closed");
}

#[tokio::test]
async fn clients_that_give_up_mid_search_leave_the_pool_healthy() {
    let forwarder = Forwarder::start().await;
    let server = Server::start().await;
    let token = server.register("impatient@example.com").await;
    let (key, _) = server.create_key(&token, &["search"]).await;
    let body = json!({"name": "slow link", "host": "127.0.0.1", "port": forwarder.port, "database": "sakila", "username": "root"});
    assert_eq!(server.post("/api/v1/databases", Some(&token), body).await.0, StatusCode::CREATED);
    assert_eq!(server.search(&key, json!({"query": "astronaut"})).await.0, StatusCode::OK);

    // Slow answers; twenty clients hang up after 100 ms, mid-query.
    forwarder.slow.store(true, Ordering::SeqCst);
    let impatient = reqwest::Client::builder().timeout(Duration::from_millis(100)).build().unwrap();
    let mut set = tokio::task::JoinSet::new();
    for i in 0..20 {
        let (client, url, key) = (impatient.clone(), format!("{}/api/v1/search", server.base), key.clone());
        set.spawn(async move {
            let sent = client.post(url).bearer_auth(key).json(&json!({"query": format!("boat {i}")})).send().await;
            assert!(sent.is_err(), "the client should have given up");
        });
    }
    set.join_all().await;
    forwarder.slow.store(false, Ordering::SeqCst);

    // The abandoned queries finish on their own; the pool serves the next hundred searches.
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    let logins_before = forwarder.accepted.load(Ordering::SeqCst);
    for i in 0..100 {
        let (status, body) = server.search(&key, json!({"query": "astronaut boat"})).await;
        assert_eq!(status, StatusCode::OK, "search {i}: {body}");
        assert_eq!(body["data"]["results"][0]["content"]["film_id"], 296);
    }
    // Pooled connections are reused, not opened per search.
    let logins = forwarder.accepted.load(Ordering::SeqCst) - logins_before;
    assert!(logins <= 2, "100 sequential searches opened {logins} connections");
}
