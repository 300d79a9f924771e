//! Test harness: runs the real `altus4` binary against the real MariaDB on 127.0.0.1:3306.
//!
//! Each [`Server`] gets its own data directory and port and is killed when dropped. The sakila
//! sample must be loaded (the test script does that); tests fail loudly if it is not.

#![allow(dead_code)]

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use reqwest::{Client, Method, StatusCode};
use serde_json::{json, Value};

pub const MARIADB_HOST: &str = "127.0.0.1";
pub const MARIADB_PORT: u16 = 3306;

pub struct Server {
    child: Child,
    pub base: String,
    pub data_dir: PathBuf,
    pub config_path: PathBuf,
    pub log_path: PathBuf,
    pub client: Client,
}

/// Limits high enough that functional tests never meet them (rate-limit tests pass their own),
/// and no result cache, so every search really reaches the database (the cache test enables it).
pub const GENEROUS_LIMITS: &str = r#"
[search]
cache_ttl_secs = 0

[rate_limits.tiers.free]
per_hour = 1000000
per_minute = 100000
burst = 10000
block_secs = 1

[rate_limits.ip]
per_hour = 1000000
per_minute = 100000
burst = 10000
block_secs = 1

[incidents]
auth_failure_limit = 1000000
rapid_fire_requests = 1000000
"#;

/// Where servers' logs go for the end-of-suite scan (`tests/log_scan.rs`): the test script sets
/// `ALTUS4_TEST_LOG_DIR` to a fresh folder per run.
pub fn log_dir() -> PathBuf {
    let dir = std::env::var_os("ALTUS4_TEST_LOG_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| std::env::temp_dir().join("altus4-test-logs"));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Notes a secret the suite handled (a key, password or token), so the log scan can prove no
/// log line contains it.
pub fn remember_secret(secret: &str) {
    use std::io::Write;
    if secret.len() < 8 {
        return;
    }
    let path = log_dir().join("secrets.txt");
    let mut file = std::fs::OpenOptions::new().create(true).append(true).open(path).unwrap();
    // One write per line: appends from concurrent tests do not interleave.
    file.write_all(format!("{secret}\n").as_bytes()).unwrap();
}

/// Remembers the secrets in a request body and its response.
fn remember_secrets(request: Option<&Value>, response: &Value) {
    for field in ["password", "currentPassword", "newPassword"] {
        if let Some(p) = request.and_then(|b| b[field].as_str()) {
            remember_secret(p);
        }
    }
    for field in ["secretKey", "token"] {
        if let Some(s) = response["data"][field].as_str() {
            remember_secret(s);
        }
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

impl Server {
    pub async fn start() -> Self {
        Self::start_with_config(GENEROUS_LIMITS).await
    }

    /// Starts the server with `config` as its configuration file.
    pub async fn start_with_config(config: &str) -> Self {
        Self::start_with(config, &[]).await
    }

    /// Starts the server with a configuration file and extra environment variables.
    pub async fn start_with(config: &str, env: &[(&str, &str)]) -> Self {
        Self::launch(config, env, false).await
    }

    /// Starts a server whose configuration serves HTTPS (readiness is checked over TLS without
    /// verifying the certificate; tests make their own verifying clients).
    pub async fn start_tls(config: &str) -> Self {
        Self::launch(config, &[], true).await
    }

    async fn launch(config: &str, env: &[(&str, &str)], tls: bool) -> Self {
        let data_dir = std::env::temp_dir().join(format!("altus4-e2e-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&data_dir).unwrap();
        let config_path = data_dir.with_extension("toml");
        std::fs::write(&config_path, config).unwrap();
        let port = free_port();
        let log_path = log_dir().join(format!("altus4-{port}.log"));
        let log = std::fs::File::create(&log_path).unwrap();
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_altus4"));
        cmd.args(["serve", "--listen", &format!("127.0.0.1:{port}"), "--config"])
            .arg(&config_path)
            .arg("--data-dir")
            .arg(&data_dir)
            .env_remove("ALTUS4_MASTER_SECRET")
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(log);
        for (k, v) in env {
            cmd.env(k, v);
        }
        let child = cmd.spawn().expect("altus4 binary starts");
        let server = Server {
            child,
            base: format!("{}://127.0.0.1:{port}", if tls { "https" } else { "http" }),
            data_dir,
            config_path,
            log_path,
            client: Client::builder()
                .timeout(Duration::from_secs(30))
                .danger_accept_invalid_certs(tls)
                .build()
                .unwrap(),
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok(r) = server.client.get(format!("{}/health", server.base)).send().await {
                if r.status() == StatusCode::OK {
                    break;
                }
            }
            assert!(Instant::now() < deadline, "altus4 did not become healthy within 20 s");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        server
    }

    /// Sends a request; returns status and parsed JSON body (every response must be JSON).
    pub async fn call(&self, method: Method, path: &str, auth: Option<&str>, body: Option<Value>) -> (StatusCode, Value) {
        let mut req = self.client.request(method, format!("{}{path}", self.base));
        if let Some(auth) = auth {
            req = req.header("authorization", format!("Bearer {auth}"));
        }
        if let Some(body) = &body {
            req = req.json(body);
        }
        let resp = req.send().await.expect("request completes");
        let status = resp.status();
        let text = resp.text().await.unwrap();
        let json: Value = serde_json::from_str(&text).unwrap_or_else(|_| panic!("non-JSON response {status}: {text}"));
        remember_secrets(body.as_ref(), &json);
        assert!(json["meta"]["requestId"].is_string(), "envelope without meta: {json}");
        assert_eq!(json["success"].as_bool(), Some(status.is_success()), "success flag vs status: {json}");
        (status, json)
    }

    pub async fn post(&self, path: &str, auth: Option<&str>, body: Value) -> (StatusCode, Value) {
        self.call(Method::POST, path, auth, Some(body)).await
    }

    pub async fn get(&self, path: &str, auth: Option<&str>) -> (StatusCode, Value) {
        self.call(Method::GET, path, auth, None).await
    }

    /// Registers an account and returns its login token.
    pub async fn register(&self, email: &str) -> String {
        let (status, body) = self
            .post("/api/v1/auth/register", None, json!({"email": email, "password": "correct horse battery", "name": "Test User"}))
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        body["data"]["token"].as_str().unwrap().to_string()
    }

    /// Creates an API key with the given permissions; returns (secret, key id).
    pub async fn create_key(&self, token: &str, permissions: &[&str]) -> (String, String) {
        let (status, body) = self
            .post("/api/v1/keys", Some(token), json!({"name": "test key", "environment": "test", "permissions": permissions}))
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        (body["data"]["secretKey"].as_str().unwrap().into(), body["data"]["apiKey"]["id"].as_str().unwrap().into())
    }

    /// Creates an administrator through the operator's CLI (`altus4 create-admin`) and logs in;
    /// returns the admin's token.
    pub async fn admin_token(&self, email: &str) -> String {
        let password = "admin passphrase";
        let created = Command::new(env!("CARGO_BIN_EXE_altus4"))
            .args(["create-admin", "--email", email, "--data-dir"])
            .arg(&self.data_dir)
            .env("ALTUS4_ADMIN_PASSWORD", password)
            .output()
            .unwrap();
        assert!(created.status.success(), "{}", String::from_utf8_lossy(&created.stderr));
        let (status, body) = self.post("/api/v1/auth/login", None, json!({"email": email, "password": password})).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["data"]["user"]["role"], "admin");
        body["data"]["token"].as_str().unwrap().to_string()
    }

    /// Registers a database with root credentials; returns its id.
    pub async fn add_database(&self, token: &str, database: &str) -> String {
        self.add_database_as(token, database, "root", "").await
    }

    pub async fn add_database_as(&self, token: &str, database: &str, user: &str, password: &str) -> String {
        let body = json!({"name": format!("{database} db"), "host": MARIADB_HOST, "port": MARIADB_PORT,
                          "database": database, "username": user, "password": password});
        let (status, body) = self.post("/api/v1/databases", Some(token), body).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        body["data"]["id"].as_str().unwrap().to_string()
    }

    pub async fn search(&self, key: &str, body: Value) -> (StatusCode, Value) {
        self.post("/api/v1/search", Some(key), body).await
    }

    /// A tenant with a login token, a search key and the sakila database registered.
    pub async fn sakila_tenant(&self, email: &str) -> Tenant {
        let token = self.register(email).await;
        let (key, key_id) = self.create_key(&token, &["search", "keys:read"]).await;
        let db = self.add_database(&token, "sakila").await;
        Tenant { token, key, key_id, db }
    }

    /// What the server has logged so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log_path).unwrap_or_default()
    }

    /// Everything the server wrote to its data directory, concatenated.
    pub fn data_dir_bytes(&self) -> Vec<u8> {
        let mut all = Vec::new();
        for entry in std::fs::read_dir(&self.data_dir).unwrap() {
            all.extend(std::fs::read(entry.unwrap().path()).unwrap());
        }
        all
    }

    pub fn sqlite_path(&self) -> PathBuf {
        self.data_dir.join("altus4.db")
    }

    /// Sends a signal (e.g. "HUP", "TERM") to the server process.
    pub fn signal(&self, name: &str) {
        let status = Command::new("kill").arg(format!("-{name}")).arg(self.child.id().to_string()).status().unwrap();
        assert!(status.success());
    }

    /// Stops the server with SIGTERM and waits for it to exit.
    pub fn stop(&mut self) {
        self.signal("TERM");
        let deadline = Instant::now() + Duration::from_secs(15);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        // Keep the security log for the end-of-suite scan.
        let kept = self.log_path.with_extension("security.jsonl");
        let _ = std::fs::copy(self.data_dir.join("security.log"), kept);
        let _ = std::fs::remove_dir_all(&self.data_dir);
        let _ = std::fs::remove_file(&self.config_path);
    }
}

pub struct Tenant {
    pub token: String,
    pub key: String,
    pub key_id: String,
    pub db: String,
}

/// A direct MariaDB connection, for comparing against what the server returns.
pub async fn mariadb(database: Option<&str>) -> mysql_async::Conn {
    let opts = mysql_async::OptsBuilder::default()
        .ip_or_hostname(MARIADB_HOST)
        .tcp_port(MARIADB_PORT)
        .user(Some("root"))
        .prefer_socket(false)
        .db_name(database);
    mysql_async::Conn::new(opts)
        .await
        .expect("MariaDB must be running on 127.0.0.1:3306 (root, empty password); run scripts/test.sh")
}

pub fn is_html_safe(s: &str) -> bool {
    !s.contains(['<', '>', '"', '\''])
}
