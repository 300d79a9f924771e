//! Databases registered with `sslEnabled` are reached over TLS, their certificate verified
//! against the configured roots. The target is a second, TLS-only MariaDB started by the test
//! (from the machine's own mariadbd) with a certificate from a test CA.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use reqwest::StatusCode;
use serde_json::json;

/// A throwaway MariaDB server whose only user must connect with TLS.
struct TlsMariaDb {
    child: Child,
    port: u16,
    dir: PathBuf,
}

impl Drop for TlsMariaDb {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A CA and a server certificate for 127.0.0.1/localhost signed by it: (ca pem, cert pem, key pem).
fn test_ca_and_server_cert() -> (String, String, String) {
    use rcgen::{BasicConstraints, CertificateParams, IsCa, KeyPair};
    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let server_key = KeyPair::generate().unwrap();
    let server = CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()])
        .unwrap()
        .signed_by(&server_key, &ca, &ca_key)
        .unwrap();
    (ca.pem(), server.pem(), server_key.serialize_pem())
}

fn run(cmd: &mut Command) {
    let out = cmd.output().unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    assert!(out.status.success(), "{cmd:?} failed: {}", String::from_utf8_lossy(&out.stderr));
}

fn socket_sql(dir: &Path, sql: &str) -> bool {
    Command::new("mariadb")
        .args(["--no-defaults", "-uroot", "--socket"])
        .arg(dir.join("mysqld.sock"))
        .args(["-e", sql])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

fn start_tls_mariadb(cert: &str, key: &str, ca: &str) -> TlsMariaDb {
    let dir = std::env::temp_dir().join(format!("altus4-tlsdb-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    for (name, pem) in [("server-cert.pem", cert), ("server-key.pem", key), ("ca.pem", ca)] {
        std::fs::write(dir.join(name), pem).unwrap();
    }
    let data = dir.join("data");
    run(Command::new("mariadb-install-db")
        .args(["--no-defaults", "--user=root", "--auth-root-authentication-method=normal", "--skip-test-db"])
        .arg(format!("--datadir={}", data.display())));
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let daemon = ["/usr/sbin/mariadbd", "/usr/bin/mariadbd"].into_iter().find(|p| Path::new(p).exists()).expect("mariadbd installed");
    let child = Command::new(daemon)
        .arg("--no-defaults")
        .arg("--user=root")
        .arg(format!("--datadir={}", data.display()))
        .arg(format!("--port={port}"))
        .arg("--bind-address=127.0.0.1")
        .arg(format!("--socket={}", dir.join("mysqld.sock").display()))
        .arg(format!("--pid-file={}", dir.join("mysqld.pid").display()))
        .arg(format!("--log-error={}", dir.join("error.log").display()))
        .arg(format!("--ssl-cert={}", dir.join("server-cert.pem").display()))
        .arg(format!("--ssl-key={}", dir.join("server-key.pem").display()))
        .arg(format!("--ssl-ca={}", dir.join("ca.pem").display()))
        .arg("--innodb-buffer-pool-size=16M")
        .arg("--skip-name-resolve")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("mariadbd starts");
    let server = TlsMariaDb { child, port, dir };
    let deadline = Instant::now() + Duration::from_secs(30);
    while !socket_sql(&server.dir, "SELECT 1") {
        assert!(Instant::now() < deadline, "the TLS MariaDB did not start: {}", std::fs::read_to_string(server.dir.join("error.log")).unwrap_or_default());
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(socket_sql(
        &server.dir,
        "CREATE DATABASE notes;
         CREATE TABLE notes.entries (id INT PRIMARY KEY, body TEXT, FULLTEXT(body)) ENGINE=InnoDB;
         INSERT INTO notes.entries VALUES (1, 'encrypted glacier expedition'), (2, 'plain text');
         CREATE USER 'tlsuser'@'%' IDENTIFIED BY 'tls passphrase' REQUIRE SSL;
         GRANT SELECT ON notes.* TO 'tlsuser'@'%';"
    ));
    server
}

fn database(port: u16, ssl: bool) -> serde_json::Value {
    json!({"name": "tls notes", "host": "127.0.0.1", "port": port, "database": "notes",
           "username": "tlsuser", "password": "tls passphrase", "sslEnabled": ssl})
}

#[tokio::test]
async fn ssl_enabled_databases_are_reached_over_verified_tls() {
    let (ca, cert, key) = test_ca_and_server_cert();
    let db = start_tls_mariadb(&cert, &key, &ca);
    let ca_path = db.dir.join("ca.pem");

    // altus4 trusting the test CA: registration (probe), search and the test route all work.
    let config = GENEROUS_LIMITS.replace("[search]", &format!("[targets]\ntls_ca_file = {:?}\n\n[search]", ca_path.display().to_string()));
    let server = Server::start_with_config(&config).await;
    let token = server.register("tls-db@example.com").await;
    let (key_secret, _) = server.create_key(&token, &["search"]).await;
    let (status, body) = server.post("/api/v1/databases", Some(&token), database(db.port, true)).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let id = body["data"]["id"].as_str().unwrap().to_string();
    let (status, body) = server.search(&key_secret, json!({"query": "glacier"})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["data"]["results"][0]["content"]["id"], 1);
    let (status, body) = server.post(&format!("/api/v1/databases/{id}/test"), Some(&token), json!({})).await;
    assert_eq!(status, StatusCode::OK, "{body}");

    // By name: the target-network policy (link-local denied by default) resolves `localhost`
    // and pins the driver to the checked addresses; the certificate is still verified for the
    // name.
    let mut by_name = database(db.port, true);
    by_name["host"] = json!("localhost");
    let (status, body) = server.post("/api/v1/databases", Some(&token), by_name).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");

    // Without sslEnabled the server refuses the user (REQUIRE SSL): a clear 400.
    let (status, body) = server.post("/api/v1/databases", Some(&token), database(db.port, false)).await;
    assert_eq!((status, body["error"]["code"].as_str()), (StatusCode::BAD_REQUEST, Some("CONNECTION_FAILED")), "{body}");

    // An altus4 that does not trust the CA refuses the certificate, and says it was TLS.
    let untrusting = Server::start().await;
    let token = untrusting.register("no-ca@example.com").await;
    let (status, body) = untrusting.post("/api/v1/databases", Some(&token), database(db.port, true)).await;
    assert_eq!((status, body["error"]["code"].as_str()), (StatusCode::BAD_REQUEST, Some("CONNECTION_FAILED")), "{body}");
    assert!(body["error"]["message"].as_str().unwrap().contains("TLS"), "{body}");

    // TLS asked of a server that offers none (the suite's plain MariaDB) is refused, not
    // silently downgraded.
    let (status, body) = untrusting
        .post("/api/v1/databases", Some(&token), json!({"name": "plain", "host": MARIADB_HOST, "port": MARIADB_PORT,
              "database": "sakila", "username": "root", "password": "", "sslEnabled": true}))
        .await;
    assert_eq!((status, body["error"]["code"].as_str()), (StatusCode::BAD_REQUEST, Some("CONNECTION_FAILED")), "{body}");
    assert!(body["error"]["message"].as_str().unwrap().contains("TLS"), "{body}");
}
