//! The command line: `serve`, `migrate`, `create-admin`, `check-config`.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use clap::{Args, Parser, Subcommand};

use crate::app::App;
use crate::config::{Config, Overrides};
use crate::secrets::{MasterSecret, SecretSource};
use crate::store::{migrations, NewUser, Store};

#[derive(Parser, Debug)]
#[command(name = "altus4", version, about = "Secure full-text search over your MySQL/MariaDB databases")]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Args, Debug)]
struct Common {
    /// TOML configuration file (defaults apply when omitted).
    #[arg(long, short)]
    config: Option<PathBuf>,
    /// Directory for the SQLite metadata file and the generated master secret.
    #[arg(long)]
    data_dir: Option<PathBuf>,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run the HTTP server.
    Serve {
        #[command(flatten)]
        common: Common,
        /// Address to listen on, e.g. 127.0.0.1:3000.
        #[arg(long)]
        listen: Option<SocketAddr>,
    },
    /// Apply pending metadata migrations and exit.
    Migrate {
        #[command(flatten)]
        common: Common,
    },
    /// Create an administrator account (password from ALTUS4_ADMIN_PASSWORD).
    CreateAdmin {
        #[command(flatten)]
        common: Common,
        #[arg(long)]
        email: String,
        #[arg(long, default_value = "Administrator")]
        name: String,
    },
    /// Validate the configuration and print the effective values (secrets redacted).
    CheckConfig {
        #[command(flatten)]
        common: Common,
    },
    /// Ask the running server (found through `<data_dir>/altus4.pid`) to reload its rate-limit
    /// tiers from its configuration file; the same as sending it SIGHUP.
    Reload {
        #[command(flatten)]
        common: Common,
    },
}

fn load(common: &Common, listen: Option<SocketAddr>) -> Result<Config, String> {
    let overrides = Overrides { listen, data_dir: common.data_dir.clone() };
    Config::load(common.config.as_deref(), overrides).map_err(|e| e.to_string())
}

/// Creates the data directory owner-only: it holds the metadata (password hashes, key
/// digests, encrypted credentials) and possibly the master secret.
fn data_dir(config: &Config) -> Result<&Path, String> {
    let dir = &config.storage.data_dir;
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder.create(dir).map_err(|e| format!("cannot create data dir {}: {e}", dir.display()))?;
    Ok(dir)
}

fn open_store(config: &Config) -> Result<Store, String> {
    let path = data_dir(config)?.join("altus4.db");
    let store = Store::open(&path).map_err(|e| format!("cannot open the metadata store: {e}"))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        for suffix in ["", "-wal", "-shm"] {
            let file = PathBuf::from(format!("{}{suffix}", path.display()));
            if file.exists() {
                std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600))
                    .map_err(|e| format!("cannot restrict {}: {e}", file.display()))?;
            }
        }
    }
    Ok(store)
}

fn runtime() -> Result<tokio::runtime::Runtime, String> {
    tokio::runtime::Builder::new_multi_thread().enable_all().build().map_err(|e| e.to_string())
}

fn init_logging(config: &Config) {
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    use tracing_subscriber::Layer;

    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(&config.logging.filter));
    // Logs go to stderr, coloured only on a terminal.
    use std::io::IsTerminal;
    let console = tracing_subscriber::fmt::layer()
        .with_target(true)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_filter(filter);
    // Warnings and errors (the security events among them) also go, as JSON lines, to the
    // security log, whatever the console filter says.
    let (security, problem) = match config.security_log_path().map(|p| open_security_log(&p).map_err(|e| (p, e))) {
        Some(Ok(file)) => {
            let layer = tracing_subscriber::fmt::layer()
                .json()
                .with_target(true)
                .with_current_span(false)
                .with_writer(Arc::new(file))
                .with_filter(tracing_subscriber::filter::LevelFilter::WARN);
            (Some(layer), None)
        }
        Some(Err((path, e))) => (None, Some(format!("cannot open the security log {}: {e}", path.display()))),
        None => (None, None),
    };
    tracing_subscriber::registry().with(console).with(security).init();
    if let Some(problem) = problem {
        tracing::error!("{problem}; security events go to the console only");
    }
}

/// Opens the security log for appending, readable by the owner only.
fn open_security_log(path: &Path) -> std::io::Result<std::fs::File> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let mut options = std::fs::OpenOptions::new();
    options.create(true).append(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(path)
}

pub fn run(cli: Cli) -> Result<(), String> {
    match cli.command {
        Command::Serve { common, listen } => {
            let config = load(&common, listen)?;
            init_logging(&config);
            serve(config, common.config)
        }
        Command::Reload { common } => {
            let config = load(&common, None)?;
            let pid_file = config.storage.data_dir.join("altus4.pid");
            let pid = std::fs::read_to_string(&pid_file)
                .map_err(|e| format!("cannot read {} (is the server running?): {e}", pid_file.display()))?;
            let pid = pid.trim();
            if pid.is_empty() || !pid.chars().all(|c| c.is_ascii_digit()) {
                return Err(format!("{} does not hold a process id", pid_file.display()));
            }
            let status = std::process::Command::new("kill")
                .args(["-HUP", pid])
                .status()
                .map_err(|e| format!("cannot run kill: {e}"))?;
            if !status.success() {
                return Err(format!("could not signal process {pid}"));
            }
            println!("asked altus4 (pid {pid}) to reload its rate-limit tiers");
            Ok(())
        }
        Command::Migrate { common } => {
            let config = load(&common, None)?;
            let path = data_dir(&config)?.join("altus4.db");
            let mut conn = rusqlite::Connection::open(&path).map_err(|e| e.to_string())?;
            let applied = migrations::apply(&mut conn).map_err(|e| e.to_string())?;
            println!("applied {} migration(s) to {}", applied.len(), path.display());
            for (version, name) in migrations::status(&conn).map_err(|e| e.to_string())? {
                println!("  {version:>4}  {name}");
            }
            Ok(())
        }
        Command::CreateAdmin { common, email, name } => {
            let config = load(&common, None)?;
            let password = std::env::var("ALTUS4_ADMIN_PASSWORD")
                .map_err(|_| "set ALTUS4_ADMIN_PASSWORD to the new admin's password".to_string())?;
            if password.chars().count() < crate::http::routes::auth::MIN_PASSWORD_CHARS {
                return Err("the password must be at least 8 characters".into());
            }
            let store = open_store(&config)?;
            runtime()?.block_on(async {
                let hasher = crate::auth::password::PasswordHasher::new(1);
                let hash = hasher.hash(crate::secrets::Secret::new(password)).await.map_err(|e| e.to_string())?;
                let user = store
                    .create_user(NewUser { email, name, password_hash: hash, role: "admin".into() })
                    .await
                    .map_err(|e| e.to_string())?
                    .ok_or("a user with this email already exists")?;
                println!("created admin {} ({})", user.email, user.id);
                Ok(())
            })
        }
        Command::CheckConfig { common } => {
            let config = load(&common, None)?;
            println!("{config:#?}");
            Ok(())
        }
    }
}

fn master_secret(config: &Config) -> Result<Arc<MasterSecret>, String> {
    let dir: &Path = &config.storage.data_dir;
    let (master, source) = MasterSecret::load_or_generate(config.security.master_secret.as_ref(), dir)
        .map_err(|e| format!("cannot load the master secret: {e}"))?;
    if source == SecretSource::Generated {
        tracing::warn!(
            path = %dir.join("master.key").display(),
            "no master secret configured: generated one (owner-only file). Back it up: without it, \
             stored database credentials cannot be decrypted. Set ALTUS4_MASTER_SECRET to manage it yourself."
        );
    }
    Ok(Arc::new(master))
}

fn serve(config: Config, config_path: Option<PathBuf>) -> Result<(), String> {
    // One TLS stack in the process: every rustls user (HTTPS serving, target databases, the
    // webhook client) gets ring, whatever defaults a dependency would pick.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let store = open_store(&config)?;
    let master = master_secret(&config)?;
    let pid_file = config.storage.data_dir.join("altus4.pid");
    let rt = runtime()?;
    rt.block_on(async move {
        let listen = config.server.listen;
        let listener = tokio::net::TcpListener::bind(listen).await.map_err(|e| format!("cannot listen on {listen}: {e}"))?;
        let tls = match (&config.server.tls_cert, &config.server.tls_key) {
            (Some(cert), Some(key)) => Some(crate::http::tls::acceptor(cert, key)?),
            _ => None,
        };
        let scheme = if tls.is_some() { "https" } else { "http" };
        let app = App::start(config, config_path, store, master).await?;
        std::fs::write(&pid_file, std::process::id().to_string())
            .map_err(|e| format!("cannot write {}: {e}", pid_file.display()))?;
        reload_on_sighup(Arc::clone(&app));
        tracing::info!(address = %listener.local_addr().map_err(|e| e.to_string())?, scheme, "altus4 listening");
        crate::http::serve(Arc::clone(&app), listener, tls, shutdown_signal()).await;
        app.shutdown().await;
        let _ = std::fs::remove_file(&pid_file);
        tracing::info!("altus4 stopped");
        Ok(())
    })
}

/// SIGHUP reloads the rate-limit tiers from the configuration file.
fn reload_on_sighup(app: Arc<App>) {
    #[cfg(unix)]
    tokio::spawn(async move {
        let Ok(mut hup) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()) else {
            tracing::warn!("cannot install a SIGHUP handler; use POST /api/v1/admin/reload");
            return;
        };
        while hup.recv().await.is_some() {
            match app.reload_tiers() {
                Ok(tiers) => tracing::info!(?tiers, "SIGHUP: rate-limit tiers reloaded"),
                Err(e) => tracing::error!(error = %e, "SIGHUP: reload failed; keeping the current tiers"),
            }
        }
    });
    #[cfg(not(unix))]
    let _ = app;
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .expect("can install a SIGTERM handler");
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
    tracing::info!("shutdown requested: draining in-flight requests");
}
