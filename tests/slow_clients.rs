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

#[tokio::test]
async fn a_header_trickled_a_byte_at_a_time_is_cut_off_at_the_header_timeout() {
    let server = Server::start_with_config(&format!("{GENEROUS_LIMITS}{QUICK_TIMEOUTS}")).await;
    let mut trickle = TcpStream::connect(addr(&server)).await.unwrap();
    let started = Instant::now();
    let request = b"GET /health HTTP/1.1\r\nhost: x\r\nx-slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n\r\n";
    let mut cut_off = None;
    for byte in request {
        // One byte every 300 ms: always "active", never finished within the 1 s header timeout.
        if trickle.write_all(&[*byte]).await.is_err() {
            cut_off = Some(started.elapsed());
            break;
        }
        let mut buf = [0u8; 256];
        match tokio::time::timeout(Duration::from_millis(300), trickle.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => {
                cut_off = Some(started.elapsed());
                break;
            }
            Ok(Ok(n)) => {
                // hyper may answer 408 before closing; anything but a served request is a cut.
                let text = String::from_utf8_lossy(&buf[..n]);
                assert!(!text.starts_with("HTTP/1.1 200"), "a trickled request was served: {text}");
            }
            Err(_) => {}
        }
        // Normal requests are served meanwhile.
        if started.elapsed() < Duration::from_millis(400) {
            assert_eq!(server.get("/health", None).await.0, StatusCode::OK);
        }
    }
    let cut_off = cut_off.expect("the trickling connection was never closed");
    assert!(cut_off < Duration::from_secs(4), "held for {cut_off:?} with a 1 s header timeout");
    assert_eq!(server.get("/health", None).await.0, StatusCode::OK);
}

/// Oversized bodies are refused as they arrive, not after being read: a declared 2 MiB body gets
/// 413 while only a few bytes of it were sent, and a chunked body (no length) as soon as it
/// passes the cap, with the rest never sent. A server that buffered would wait for the rest
/// (the body timeout here is 30 s, the test waits at most 5).
#[tokio::test]
async fn oversized_bodies_are_refused_without_being_read() {
    let server = Server::start().await;
    let read_status = |mut stream: TcpStream| async move {
        let mut buf = vec![0u8; 512];
        let n = tokio::time::timeout(Duration::from_secs(5), stream.read(&mut buf))
            .await
            .expect("an answer before the body was sent")
            .unwrap();
        String::from_utf8_lossy(&buf[..n]).lines().next().unwrap_or_default().to_string()
    };

    let mut declared = TcpStream::connect(addr(&server)).await.unwrap();
    declared
        .write_all(b"POST /api/v1/auth/login HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: 2097152\r\n\r\n{\"email\":")
        .await
        .unwrap();
    assert_eq!(read_status(declared).await, "HTTP/1.1 413 Payload Too Large");

    let mut chunked = TcpStream::connect(addr(&server)).await.unwrap();
    chunked
        .write_all(b"POST /api/v1/auth/login HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\n\r\n")
        .await
        .unwrap();
    // The default cap is 1 MiB: 17 chunks of 64 KiB pass it; the body is never finished.
    let chunk = [format!("{:x}\r\n", 64 * 1024).into_bytes(), vec![b' '; 64 * 1024], b"\r\n".to_vec()].concat();
    for _ in 0..17 {
        chunked.write_all(&chunk).await.unwrap();
    }
    assert_eq!(read_status(chunked).await, "HTTP/1.1 413 Payload Too Large");
}

/// A client that sends its request and then closes its sending side still gets the answer.
#[tokio::test]
async fn a_half_closed_client_still_gets_its_answer() {
    let server = Server::start().await;
    let mut stream = TcpStream::connect(addr(&server)).await.unwrap();
    stream.write_all(b"GET /health HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n").await.unwrap();
    stream.shutdown().await.unwrap();
    let (reply, _) = read_until_closed(&mut stream).await;
    assert!(reply.starts_with("HTTP/1.1 200 OK"), "{reply}");
}
