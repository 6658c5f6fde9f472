//! `SessionLayer` in a plain tower `ServiceBuilder` stack, served by hyper
//! through hyper-util's `TowerToHyperService`: the shared scenarios, plus
//! what only a fallible tower service shows (an inner `Err`) and the
//! layer's own options.

mod common;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::{Method, Request, Response, StatusCode};
use hyper_session::{RequestError, SessionError, SessionLayer, SharedSession};
use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tower::{service_fn, ServiceBuilder, ServiceExt as _};

use common::browser;
use common::layered::{self, Late, Server, CONFIG};
use common::lifecycle::{manager, Switchable, SECRET};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The shared routes, read from the request's extensions; `/fail` writes
/// and then fails.
async fn route(late: Arc<Late>, req: Request<Incoming>) -> Result<Response<Full<Bytes>>, BoxError> {
    let session = req
        .extensions()
        .get::<SharedSession>()
        .cloned()
        .ok_or("no SessionLayer")?;
    let body = match (req.method(), req.uri().path()) {
        (&Method::GET, "/count") => session.with(layered::count)?,
        (&Method::POST, "/login") => session.with(layered::login)?,
        (&Method::GET, "/me") => session.with(layered::me)?,
        (&Method::POST, "/logout") => session.with(layered::logout)?,
        (&Method::GET, "/write") => {
            let key = layered::key_param(req.uri().query());
            session.with(|s| layered::write(s, &key))?
        }
        (&Method::GET, "/keys") => session.with(layered::keys)?,
        (&Method::GET, "/late") => layered::spawn_late_write(&late, session),
        (&Method::GET, "/fail") => {
            session.insert("n", 1000)?;
            return Err("the inner service failed".into());
        }
        _ => {
            let mut response = Response::new(Full::default());
            *response.status_mut() = StatusCode::NOT_FOUND;
            return Ok(response);
        }
    };
    Ok(Response::new(Full::from(body.to_string())))
}

async fn start() -> Server {
    let store = Arc::new(Switchable::default());
    let (late, results) = Late::new();
    let layer = SessionLayer::new(&CONFIG).with_manager(manager(&store, SECRET, None));
    let routes = late.clone();
    let service = ServiceBuilder::new()
        .layer(layer)
        .service_fn(move |req| route(routes.clone(), req));
    let listener = TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0)))
        .await
        .expect("bind a loopback port");
    let base = format!("http://{}", listener.local_addr().expect("bound address"));
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let service = TowerToHyperService::new(service.clone());
            tokio::spawn(async move {
                let _ = http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    Server {
        base,
        store,
        late,
        results,
    }
}

layered_scenarios!();

#[tokio::test]
async fn an_inner_error_commits_nothing() {
    let server = start().await;
    let client = browser();
    let count = format!("{}/count", server.base);
    assert_eq!(common::get_json(&client, &count).await["n"], 1);
    let writes = server.store.writes.load(Ordering::SeqCst);
    let failed = client.get(format!("{}/fail", server.base)).send().await;
    assert!(
        failed.is_err(),
        "hyper drops the connection on a service error"
    );
    assert_eq!(server.store.writes.load(Ordering::SeqCst), writes);
    assert_eq!(common::get_json(&client, &count).await["n"], 2);
}

/// An error type of the inner service's own, to see it come back as it was.
#[derive(Debug, PartialEq)]
struct Refused(u32);

#[tokio::test]
async fn an_inner_error_passes_through_untouched() {
    let store = Arc::new(Switchable::default());
    let service = ServiceBuilder::new()
        .layer(SessionLayer::new(&CONFIG).with_manager(manager(&store, SECRET, None)))
        .service_fn(|req: Request<()>| async move {
            let session = req.extensions().get::<SharedSession>().cloned();
            session.expect("the layer").insert("n", 1).expect("fits");
            Err::<Response<String>, _>(Refused(42))
        });
    let result = service.oneshot(Request::new(())).await;
    assert_eq!(result.err(), Some(Refused(42)));
    assert_eq!(store.writes.load(Ordering::SeqCst), 0, "nothing committed");
}

fn teapot(error: &RequestError) -> Response<String> {
    let mut response = Response::new(format!("custom: {error}"));
    *response.status_mut() = StatusCode::IM_A_TEAPOT;
    response
}

#[tokio::test]
async fn on_error_replaces_the_503() {
    let store = Arc::new(Switchable::default());
    store.down.store(true, Ordering::SeqCst);
    let layer = SessionLayer::new(&CONFIG)
        .with_manager(manager(&store, SECRET, None))
        .on_error(teapot);
    // No cookie, so no load: the failure shows at the commit.
    let writing =
        ServiceBuilder::new()
            .layer(layer)
            .service(service_fn(|req: Request<()>| async move {
                let session = req.extensions().get::<SharedSession>().cloned();
                session.expect("the layer").insert("n", 1).expect("fits");
                Ok::<_, Infallible>(Response::new("written".to_owned()))
            }));
    let response = writing.oneshot(Request::new(())).await.expect("infallible");
    assert_eq!(response.status(), StatusCode::IM_A_TEAPOT);
    assert!(
        response.body().starts_with("custom: session store"),
        "{}",
        response.body()
    );
}

#[tokio::test]
async fn without_a_manager_the_process_default_serves() {
    let service = ServiceBuilder::new()
        .layer(SessionLayer::new(&CONFIG))
        .service_fn(|req: Request<()>| async move {
            let session = req.extensions().get::<SharedSession>().cloned();
            session.expect("the layer").insert("n", 1).expect("fits");
            Ok::<_, Infallible>(Response::new(String::new()))
        });
    let response = service.oneshot(Request::new(())).await.expect("infallible");
    let cookies: Vec<_> = response.headers().get_all("set-cookie").iter().collect();
    assert_eq!(cookies.len(), 1, "{cookies:?}");
}

/// A client that goes away drops the request's future before any commit:
/// a handle kept past that point fails loudly too.
#[tokio::test]
async fn a_write_after_a_cancelled_request_fails_loudly() {
    let (kept_tx, kept_rx) = tokio::sync::oneshot::channel::<SharedSession>();
    let kept_tx = Arc::new(std::sync::Mutex::new(Some(kept_tx)));
    let service = ServiceBuilder::new()
        .layer(SessionLayer::new(&CONFIG))
        .service_fn(move |req: Request<()>| {
            let session = req.extensions().get::<SharedSession>().cloned();
            if let Some(tx) = kept_tx.lock().expect("lock").take() {
                let _ = tx.send(session.expect("the layer"));
            }
            // Never answers: the caller gives up first.
            std::future::pending::<Result<Response<String>, Infallible>>()
        });
    let cancelled = tokio::time::timeout(
        std::time::Duration::from_millis(50),
        service.oneshot(Request::new(())),
    )
    .await;
    assert!(cancelled.is_err(), "the request was cancelled");
    let kept = kept_rx.await.expect("the handler kept a handle");
    assert!(matches!(
        kept.insert("late", true),
        Err(SessionError::Committed)
    ));
}
