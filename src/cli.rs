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
}

fn load(common: &Common, listen: Option<SocketAddr>) -> Result<Config, String> {
    let overrides = Overrides { listen, data_dir: common.data_dir.clone() };
    Config::load(common.config.as_deref(), overrides).map_err(|e| e.to_string())
}

fn open_store(config: &Config) -> Result<Store, String> {
    let dir = &config.storage.data_dir;
    std::fs::create_dir_all(dir).map_err(|e| format!("cannot create data dir {}: {e}", dir.display()))?;
    Store::open(&dir.join("altus4.db")).map_err(|e| format!("cannot open the metadata store: {e}"))
}

fn runtime() -> Result<tokio::runtime::Runtime, String> {
    tokio::runtime::Builder::new_multi_thread().enable_all().build().map_err(|e| e.to_string())
}

fn init_logging(config: &Config) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(&config.logging.filter));
    tracing_subscriber::fmt().with_env_filter(filter).with_target(true).init();
}

pub fn run(cli: Cli) -> Result<(), String> {
    match cli.command {
        Command::Serve { common, listen } => {
            let config = load(&common, listen)?;
            init_logging(&config);
            serve(config)
        }
        Command::Migrate { common } => {
            let config = load(&common, None)?;
            let path = config.storage.data_dir.join("altus4.db");
            std::fs::create_dir_all(&config.storage.data_dir).map_err(|e| e.to_string())?;
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

fn serve(config: Config) -> Result<(), String> {
    let store = open_store(&config)?;
    let master = master_secret(&config)?;
    let rt = runtime()?;
    rt.block_on(async move {
        let listen = config.server.listen;
        let listener = tokio::net::TcpListener::bind(listen).await.map_err(|e| format!("cannot listen on {listen}: {e}"))?;
        let app = App::start(config, store, master).await?;
        tracing::info!(address = %listener.local_addr().map_err(|e| e.to_string())?, "altus4 listening");
        crate::http::serve(app, listener, shutdown_signal()).await;
        tracing::info!("altus4 stopped");
        Ok(())
    })
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
