//! Serving plumbing shared by the examples and the end-to-end tests: an
//! HTTP/1 accept loop over hyper, nothing session-specific.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

/// The address to listen on: env `ADDR`, else `127.0.0.1:3000`.
#[allow(dead_code)]
pub fn addr_from_env() -> SocketAddr {
    std::env::var("ADDR")
        .ok()
        .and_then(|a| a.parse().ok())
        .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 3000)))
}

/// Accepts connections forever, serving each with `handler` on its own task.
pub async fn serve<H, F, E>(listener: TcpListener, handler: H)
where
    H: Fn(Request<Incoming>) -> F + Clone + Send + 'static,
    F: Future<Output = Result<Response<Full<Bytes>>, E>> + Send + 'static,
    E: Into<Box<dyn std::error::Error + Send + Sync>> + 'static,
{
    loop {
        let (stream, _) = match listener.accept().await {
            Ok(conn) => conn,
            Err(e) => {
                // Out of file descriptors and the like: keep serving.
                tracing::warn!(error = %e, "accept failed");
                continue;
            }
        };
        let handler = handler.clone();
        tokio::spawn(async move {
            let conn =
                http1::Builder::new().serve_connection(TokioIo::new(stream), service_fn(handler));
            if let Err(e) = conn.await {
                tracing::debug!(error = %e, "connection ended with an error");
            }
        });
    }
}

/// A JSON response.
#[allow(dead_code)]
pub fn json(body: String) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::from(body));
    response.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("application/json"),
    );
    response
}

/// A response with only a status.
#[allow(dead_code)]
pub fn status(code: StatusCode) -> Result<Response<Full<Bytes>>, Infallible> {
    let mut response = Response::new(Full::default());
    *response.status_mut() = code;
    Ok(response)
}

/// Installs the process's default session manager from the environment:
/// `SESSION_SECRET` signs cookies (random per process if unset, which only
/// a memory store accepts); `SESSION_STORE` selects the store: `memory`
/// (the default) or a Redis URL (build with `--features redis`):
/// `redis://[user:password@]host[:port][/db]`, `rediss://...` for TLS, or
/// `valkey://` / `valkeys://`. `SESSION_REDIS_CA=/path/ca.pem` verifies a
/// TLS Redis against that private CA instead of the system's roots.
#[allow(dead_code)]
pub async fn install_sessions_from_env() -> Result<(), Box<dyn std::error::Error>> {
    let mut builder = hyper_session::Sessions::builder();
    if let Ok(secret) = std::env::var("SESSION_SECRET") {
        builder = builder.secret(secret);
    }
    // The URL may hold a password: no message below repeats it.
    match std::env::var("SESSION_STORE") {
        Ok(url)
            if ["redis", "rediss", "valkey", "valkeys"]
                .iter()
                .any(|scheme| url.starts_with(&format!("{scheme}://"))) =>
        {
            #[cfg(feature = "redis")]
            {
                let mut redis = hyper_session::RedisStore::builder(url);
                let ca = std::env::var_os("SESSION_REDIS_CA").filter(|ca| !ca.is_empty());
                if let Some(ca) = ca {
                    redis = redis.ca_file(ca);
                }
                builder = builder.store(redis.connect().await?);
                tracing::info!("sessions in Redis");
            }
            #[cfg(not(feature = "redis"))]
            return Err("SESSION_STORE is a Redis URL: run with `--features redis`".into());
        }
        Ok(other) if !other.is_empty() && other != "memory" => {
            let expected = "`memory` or a redis://, rediss://, valkey:// or valkeys:// URL";
            return Err(format!("SESSION_STORE: expected {expected}").into());
        }
        _ => tracing::info!("sessions in memory"),
    }
    builder.build()?.install()?;
    Ok(())
}

/// Logs to stderr, filtered by `RUST_LOG` (default `info`).
#[allow(dead_code)]
pub fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
}
