//! examples/counter.rs on actix-web and actix-session with its Redis store
//! (`SESSION_STORE=redis://...`, required): the same endpoint and cookie
//! options (`sid`, HttpOnly, not Secure, a browser-session cookie), one
//! worker thread as the other servers have one tokio worker.

use actix_session::storage::RedisSessionStore;
use actix_session::{Session, SessionMiddleware};
use actix_web::cookie::Key;
use actix_web::{web, App, HttpResponse, HttpServer};

async fn session_test(session: Session) -> HttpResponse {
    let n = session.get::<u64>("test_counter").ok().flatten().unwrap_or(0) + 1;
    let _ = session.insert("test_counter", n);
    HttpResponse::Ok()
        .content_type("application/json")
        .body(format!("{{\"test_counter\":{n}}}"))
}

#[actix_web::main]
async fn main() -> std::io::Result<()> {
    let url = std::env::var("SESSION_STORE").unwrap_or_default();
    if !url.starts_with("redis://") {
        eprintln!("actix_twin runs on Redis only: set SESSION_STORE=redis://...");
        std::process::exit(2);
    }
    let store = RedisSessionStore::new(url).await.expect("redis connect");
    // The cookie key from the same secret the other servers sign with
    // (actix wants 64 bytes: the secret, repeated).
    let secret = std::env::var("SESSION_SECRET").expect("SESSION_SECRET");
    let key = Key::from(&secret.repeat(64 / secret.len() + 1).as_bytes()[..64]);
    HttpServer::new(move || {
        App::new()
            .wrap(
                SessionMiddleware::builder(store.clone(), key.clone())
                    .cookie_name("sid".to_owned())
                    .cookie_secure(false)
                    .cookie_http_only(true)
                    .build(),
            )
            .route("/session_test", web::get().to(session_test))
    })
    .workers(workers())
    .bind(load_twins::addr())?
    .run()
    .await
}

/// HTTP workers: `TOKIO_WORKER_THREADS`, as the tokio servers read it (1
/// unless set); actix's own system thread, which holds the Redis
/// connection, comes on top.
fn workers() -> usize {
    std::env::var("TOKIO_WORKER_THREADS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(1)
}
