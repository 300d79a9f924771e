//! A tenant database that goes away degrades that tenant's searches, never the server.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;
use reqwest::StatusCode;
use serde_json::json;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Notify;

/// A loopback TCP forwarder to MariaDB that can be cut: existing and new connections die.
struct Forwarder {
    port: u16,
    cut: Arc<Notify>,
}

impl Forwarder {
    async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let cut = Arc::new(Notify::new());
        let stop = Arc::clone(&cut);
        tokio::spawn(async move {
            let mut conns = tokio::task::JoinSet::new();
            loop {
                tokio::select! {
                    accepted = listener.accept() => {
                        let Ok((mut inbound, _)) = accepted else { break };
                        conns.spawn(async move {
                            if let Ok(mut outbound) = TcpStream::connect((MARIADB_HOST, MARIADB_PORT)).await {
                                let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                            }
                        });
                    }
                    _ = stop.notified() => break,
                }
            }
            // Dropping the listener closes the port; aborting the tasks drops live connections.
            conns.abort_all();
        });
        Self { port, cut }
    }

    fn cut(&self) {
        self.cut.notify_one();
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
