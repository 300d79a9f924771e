//! Clients that hold connections without sending are cut off; others are served meanwhile.

mod common;

use std::time::{Duration, Instant};

use common::*;
use reqwest::StatusCode;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const QUICK_TIMEOUTS: &str = "[server]\nheader_read_timeout_secs = 1\nbody_read_timeout_secs = 1\n";

fn addr(server: &Server) -> String {
    server.base.trim_start_matches("http://").to_string()
}

/// Reads until the server closes the connection (or 10 s pass); returns what it sent.
async fn read_until_closed(stream: &mut TcpStream) -> (String, Duration) {
    let started = Instant::now();
    let mut buf = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut buf)).await;
    (String::from_utf8_lossy(&buf).into_owned(), started.elapsed())
}

#[tokio::test]
async fn silent_connections_and_stalled_bodies_are_cut_off() {
    let server = Server::start_with_config(&format!("{GENEROUS_LIMITS}{QUICK_TIMEOUTS}")).await;

    // A connection that never sends a byte.
    let mut silent = TcpStream::connect(addr(&server)).await.unwrap();
    // A request whose body stops after 9 of 100 bytes.
    let mut stalled = TcpStream::connect(addr(&server)).await.unwrap();
    stalled
        .write_all(b"POST /api/v1/auth/login HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: 100\r\n\r\n{\"email\":")
        .await
        .unwrap();

    // Meanwhile normal requests are served.
    let (status, _) = server.get("/health", None).await;
    assert_eq!(status, StatusCode::OK);

    let (sent, waited) = read_until_closed(&mut silent).await;
    assert!(sent.is_empty());
    assert!(waited < Duration::from_secs(5), "silent connection held for {waited:?}");

    let (sent, waited) = read_until_closed(&mut stalled).await;
    assert!(sent.starts_with("HTTP/1.1 408"), "{sent}");
    assert!(sent.contains("REQUEST_TIMEOUT"));
    assert!(waited < Duration::from_secs(5), "stalled body held for {waited:?}");
}
