//! HTTPS with a generated certificate: HTTP/2 and HTTP/1.1 by ALPN, TLS 1.2 and 1.3 accepted,
//! a TLS 1.1-only client refused, HSTS on every response.

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use common::{Server, GENEROUS_LIMITS};
use reqwest::{StatusCode, Version};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

struct TlsServer {
    server: Server,
    addr: SocketAddr,
    ca: reqwest::Certificate,
}

async fn start() -> TlsServer {
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
    let dir = std::env::temp_dir().join(format!("altus4-tls-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let (cert_path, key_path) = (dir.join("cert.pem"), dir.join("key.pem"));
    std::fs::write(&cert_path, cert.cert.pem()).unwrap();
    std::fs::write(&key_path, cert.key_pair.serialize_pem()).unwrap();
    let config = GENEROUS_LIMITS.replace(
        "[search]",
        &format!("[server]\ntls_cert = {:?}\ntls_key = {:?}\n\n[search]", cert_path.display().to_string(), key_path.display().to_string()),
    );
    let server = Server::start_tls(&config).await;
    let addr: SocketAddr = server.base.trim_start_matches("https://").parse().unwrap();
    let ca = reqwest::Certificate::from_pem(cert.cert.pem().as_bytes()).unwrap();
    TlsServer { server, addr, ca }
}

impl TlsServer {
    fn client(&self, configure: impl FnOnce(reqwest::ClientBuilder) -> reqwest::ClientBuilder) -> reqwest::Client {
        let builder = reqwest::Client::builder()
            .use_rustls_tls()
            .tls_built_in_root_certs(false)
            .add_root_certificate(self.ca.clone())
            .resolve("localhost", self.addr)
            .timeout(Duration::from_secs(10));
        configure(builder).build().unwrap()
    }

    fn url(&self, path: &str) -> String {
        format!("https://localhost:{}{path}", self.addr.port())
    }
}

#[tokio::test]
async fn https_serves_http2_and_http11_with_hsts() {
    let tls = start().await;
    let h2 = tls.client(|b| b).get(tls.url("/health")).send().await.unwrap();
    assert_eq!(h2.status(), StatusCode::OK);
    assert_eq!(h2.version(), Version::HTTP_2, "ALPN picks HTTP/2");
    assert_eq!(h2.headers()["strict-transport-security"], "max-age=31536000; includeSubDomains");

    let h1 = tls.client(|b| b.http1_only()).get(tls.url("/health")).send().await.unwrap();
    assert_eq!(h1.status(), StatusCode::OK);
    assert_eq!(h1.version(), Version::HTTP_11);

    // HTTP/2 has the configured header cap (`server.max_header_bytes`, 64 KiB), as HTTP/1 does:
    // a 32 KB header is served (hyper's own HTTP/2 default would refuse it), a 100 KB one is
    // not, and the connection keeps serving.
    let h2_client = tls.client(|b| b);
    let fits = h2_client.get(tls.url("/health")).header("x-big", "a".repeat(32 * 1024)).send().await.unwrap();
    assert_eq!((fits.status(), fits.version()), (StatusCode::OK, Version::HTTP_2));
    let big = h2_client.get(tls.url("/health")).header("x-big", "a".repeat(100 * 1024)).send().await;
    assert!(big.map_or(true, |r| r.status() != StatusCode::OK), "an oversized header block was served");
    let after = h2_client.get(tls.url("/health")).send().await.unwrap();
    assert_eq!((after.status(), after.version()), (StatusCode::OK, Version::HTTP_2));

    // TLS 1.2 is still accepted; so is a full API round trip over it.
    let tls12 = tls.client(|b| b.max_tls_version(reqwest::tls::Version::TLS_1_2));
    let resp = tls12
        .post(tls.url("/api/v1/auth/register"))
        .json(&serde_json::json!({"email": "tls@example.com", "password": "correct horse battery", "name": "TLS"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::CREATED);

    // Plain HTTP on the TLS port gets no HTTP answer.
    let plain = reqwest::Client::new().get(format!("http://{}/health", tls.addr)).send().await;
    assert!(plain.is_err() || plain.unwrap().status() != StatusCode::OK);
    drop(tls.server);
}

/// A ClientHello offering only TLS 1.1 (legacy version 0x0302, no supported_versions
/// extension) with CBC suites, as an old client would send.
fn tls11_client_hello() -> Vec<u8> {
    let mut body = vec![0x03, 0x02];
    body.extend([7u8; 32]); // random
    body.push(0); // no session id
    body.extend([0x00, 0x04, 0xc0, 0x13, 0x00, 0x2f]); // ECDHE-RSA-AES128-SHA, RSA-AES128-SHA
    body.extend([0x01, 0x00]); // null compression only
    let mut handshake = vec![0x01, 0x00, (body.len() >> 8) as u8, body.len() as u8];
    handshake.extend(body);
    let mut record = vec![0x16, 0x03, 0x01, (handshake.len() >> 8) as u8, handshake.len() as u8];
    record.extend(handshake);
    record
}

#[tokio::test]
async fn a_tls11_only_client_is_refused() {
    let tls = start().await;
    let mut stream = tokio::net::TcpStream::connect(tls.addr).await.unwrap();
    stream.write_all(&tls11_client_hello()).await.unwrap();
    let mut reply = vec![0u8; 7];
    let read = tokio::time::timeout(Duration::from_secs(5), stream.read(&mut reply)).await.expect("the server answers");
    let n = read.unwrap_or(0);
    // Either an alert record (content type 21: protocol_version) or a closed connection;
    // never a handshake record (a ServerHello).
    assert!(n == 0 || reply[0] == 0x15, "expected an alert, got {:?}", &reply[..n]);
    assert_ne!(reply[0], 0x16, "the server must not negotiate TLS 1.1");
    // The server is unaffected.
    let ok = tls.client(|b| b).get(tls.url("/health")).send().await.unwrap();
    assert_eq!(ok.status(), StatusCode::OK);
}
