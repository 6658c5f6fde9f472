//! Shared serving loop of the twins.

use std::convert::Infallible;
use std::net::SocketAddr;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

/// `ADDR`, default 127.0.0.1:3000.
pub fn addr() -> SocketAddr {
    std::env::var("ADDR")
        .ok()
        .and_then(|a| a.parse().ok())
        .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 3000)))
}

/// The counter's JSON response.
pub fn counter_json(n: u64) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::from(format!("{{\"test_counter\":{n}}}")));
    r.headers_mut()
        .insert("content-type", "application/json".parse().expect("static header"));
    r
}

pub fn not_found() -> Result<Response<Full<Bytes>>, Infallible> {
    let mut r = Response::new(Full::default());
    *r.status_mut() = StatusCode::NOT_FOUND;
    Ok(r)
}

/// Serves `service` on HTTP/1 forever.
pub async fn serve<S>(service: S)
where
    S: hyper::service::Service<Request<Incoming>, Response = Response<Full<Bytes>>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let listener = TcpListener::bind(addr()).await.expect("bind");
    loop {
        let Ok((stream, _)) = listener.accept().await else { continue };
        let service = service.clone();
        tokio::spawn(async move {
            let _ = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

/// tower-sessions' Redis store on a fred pool of 4 connections to `url`,
/// as both twins use it.
pub async fn tower_sessions_redis(
    url: &str,
) -> tower_sessions_redis_store::RedisStore<tower_sessions_redis_store::fred::prelude::Pool> {
    use tower_sessions_redis_store::fred::prelude::*;
    let config = Config::from_url(url).expect("redis url");
    let pool = Pool::new(config, None, None, None, 4).expect("redis pool");
    pool.connect();
    pool.wait_for_connect().await.expect("redis connect");
    tower_sessions_redis_store::RedisStore::new(pool)
}
