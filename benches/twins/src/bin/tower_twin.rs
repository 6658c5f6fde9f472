//! examples/counter.rs on tower-sessions: its MemoryStore, or its Redis
//! store when `SESSION_STORE=redis://...`; same endpoint and cookie options.

use std::convert::Infallible;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::{Request, Response};
use hyper_util::service::TowerToHyperService;
use tower::ServiceBuilder;
use tower_sessions::{Session, SessionManagerLayer, SessionStore};

async fn session_test(req: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    if req.uri().path() != "/session_test" {
        return load_twins::not_found();
    }
    let Some(session) = req.extensions().get::<Session>().cloned() else {
        return load_twins::not_found();
    };
    let n = session.get::<u64>("test_counter").await.ok().flatten().unwrap_or(0) + 1;
    let _ = session.insert("test_counter", n).await;
    Ok(load_twins::counter_json(n))
}

async fn run<S: SessionStore + Clone>(store: S) {
    let layer = SessionManagerLayer::new(store)
        .with_name("sid")
        .with_secure(false)
        .with_http_only(true);
    let service = ServiceBuilder::new().layer(layer).service_fn(session_test);
    load_twins::serve(TowerToHyperService::new(service)).await;
}

#[tokio::main]
async fn main() {
    match std::env::var("SESSION_STORE") {
        Ok(url) if url.starts_with("redis://") => {
            use tower_sessions_redis_store::fred::prelude::*;
            let config = Config::from_url(&url).expect("redis url");
            let pool = Pool::new(config, None, None, None, 4).expect("redis pool");
            pool.connect();
            pool.wait_for_connect().await.expect("redis connect");
            run(tower_sessions_redis_store::RedisStore::new(pool)).await;
        }
        _ => run(tower_sessions::MemoryStore::default()).await,
    }
}
