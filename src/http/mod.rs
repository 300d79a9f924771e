//! The thin HTTP front end: accepts connections, gives each request an id, routes it, and talks
//! to the rest of the system through [`App`](crate::app::App) (actors and the store).

pub mod api;
pub mod authn;
pub mod body;
pub mod client_ip;
pub mod cors;
pub mod envelope;
pub mod ratelimit;
pub mod router;
pub mod routes;
pub mod tls;
pub mod views;

use std::convert::Infallible;
use std::sync::Arc;
use std::time::{Duration, Instant};

use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;

use crate::app::App;
use envelope::RequestCtx;

/// Serves until `shutdown` resolves, then stops accepting and waits (up to the configured grace
/// period) for in-flight requests to finish. With `tls`, every connection is HTTPS.
pub async fn serve(
    app: Arc<App>,
    listener: TcpListener,
    tls: Option<tokio_rustls::TlsAcceptor>,
    shutdown: impl std::future::Future<Output = ()>,
) {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    // hyper only enforces the header-read timeout when a timer is installed.
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(Duration::from_secs(app.config.server.header_read_timeout_secs))
        .max_buf_size(app.config.server.max_header_bytes.max(8192))
        // A client that sends its request and then shuts down its side (`nc -N`, some scripts)
        // still gets the answer.
        .half_close(true);
    builder
        .http2()
        .timer(TokioTimer::new())
        .max_concurrent_streams(256)
        // The same header cap as HTTP/1 (its buffer size above).
        .max_header_list_size(u32::try_from(app.config.server.max_header_bytes).unwrap_or(u32::MAX))
        // Idle HTTP/2 connections are pinged; a peer that stops answering is dropped.
        .keep_alive_interval(Duration::from_secs(30))
        .keep_alive_timeout(Duration::from_secs(10));
    let builder = Arc::new(builder);
    let graceful = GracefulShutdown::new();
    tokio::pin!(shutdown);

    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                Err(e) => {
                    // Out of file descriptors and the like: back off instead of spinning.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        let app = Arc::clone(&app);
        let builder = Arc::clone(&builder);
        let watcher = graceful.watcher();
        let tls = tls.clone();
        tokio::spawn(async move {
            // hyper's header-read timeout starts at the first byte: a connection that never
            // sends one would otherwise be held open forever. The same bound covers the TLS
            // handshake.
            let first_byte = Duration::from_secs(app.config.server.header_read_timeout_secs);
            let mut probe = [0u8; 1];
            match tokio::time::timeout(first_byte, stream.peek(&mut probe)).await {
                Ok(Ok(n)) if n > 0 => {}
                _ => return,
            }
            let service = service_fn(move |req| {
                let app = Arc::clone(&app);
                async move {
                    let ctx = RequestCtx {
                        request_id: uuid::Uuid::new_v4().to_string(),
                        started: Instant::now(),
                        peer_ip: peer.ip(),
                    };
                    Ok::<_, Infallible>(router::handle(app, req, ctx).await)
                }
            });
            match tls {
                None => {
                    let conn = builder.serve_connection(TokioIo::new(stream), service);
                    let _ = watcher.watch(conn.into_owned()).await;
                }
                Some(acceptor) => {
                    let stream = match tokio::time::timeout(first_byte, acceptor.accept(stream)).await {
                        Ok(Ok(stream)) => stream,
                        Ok(Err(e)) => {
                            tracing::debug!(peer = %peer, error = %e, "TLS handshake failed");
                            return;
                        }
                        Err(_) => return,
                    };
                    let conn = builder.serve_connection(TokioIo::new(stream), service);
                    let _ = watcher.watch(conn.into_owned()).await;
                }
            }
        });
    }

    drop(listener);
    let grace = Duration::from_secs(app.config.server.shutdown_grace_secs);
    if tokio::time::timeout(grace, graceful.shutdown()).await.is_err() {
        tracing::warn!("connections still open after the shutdown grace period; closing them");
    }
}
