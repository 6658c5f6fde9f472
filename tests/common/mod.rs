//! Helpers for the end-to-end tests: a real hyper server on 127.0.0.1:0 and
//! real HTTP clients.

#![allow(dead_code)]

pub mod app_contract;
pub mod app_process;
pub mod chromium;
pub mod counter_server;
pub mod devices;
#[cfg(feature = "tower")]
pub mod layered;
pub mod lifecycle;
pub mod logs;
#[cfg(feature = "postgres")]
pub mod pg_env;
#[cfg(feature = "postgres")]
pub mod pg_proxy;
pub mod process_app;
pub mod redis_cluster;
pub mod redis_env;
pub mod temp_dir;

use std::future::Future;
use std::net::SocketAddr;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

/// Accepts connections forever, serving each with `handler` on its own task.
pub async fn serve<H, F, E>(listener: TcpListener, handler: H)
where
    H: Fn(Request<Incoming>) -> F + Clone + Send + 'static,
    F: Future<Output = Result<Response<Full<Bytes>>, E>> + Send + 'static,
    E: Into<Box<dyn std::error::Error + Send + Sync>> + 'static,
{
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let handler = handler.clone();
        tokio::spawn(async move {
            let _ = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service_fn(handler))
                .await;
        });
    }
}

/// Starts `handler` on a fresh loopback port and returns its base URL.
pub async fn spawn<H, F, E>(handler: H) -> String
where
    H: Fn(Request<Incoming>) -> F + Clone + Send + 'static,
    F: Future<Output = Result<Response<Full<Bytes>>, E>> + Send + 'static,
    E: Into<Box<dyn std::error::Error + Send + Sync>> + 'static,
{
    let listener = TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0)))
        .await
        .expect("bind a loopback port");
    let addr = listener.local_addr().expect("bound address");
    tokio::spawn(serve(listener, handler));
    format!("http://{addr}")
}

/// A client that keeps cookies, like a browser.
pub fn browser() -> reqwest::Client {
    reqwest::Client::builder()
        .cookie_store(true)
        .build()
        .expect("client")
}

/// A client that keeps nothing: every request carries only what it is given.
pub fn plain() -> reqwest::Client {
    reqwest::Client::new()
}

/// The `Set-Cookie` headers of a response.
pub fn set_cookies(response: &reqwest::Response) -> Vec<String> {
    response
        .headers()
        .get_all(reqwest::header::SET_COOKIE)
        .iter()
        .map(|v| v.to_str().expect("ascii cookie").to_owned())
        .collect()
}

/// The value of cookie `name` set by a response, if any.
pub fn cookie_value(response: &reqwest::Response, name: &str) -> Option<String> {
    cookie_in(&set_cookies(response), name)
}

/// The value of cookie `name` among `Set-Cookie` header values, if any.
pub fn cookie_in(set_cookies: &[String], name: &str) -> Option<String> {
    set_cookies.iter().find_map(|c| {
        let pair = c.split(';').next()?;
        let (n, v) = pair.split_once('=')?;
        (n.trim() == name).then(|| v.trim().to_owned())
    })
}

/// GETs `url` and returns the JSON body.
pub async fn get_json(client: &reqwest::Client, url: &str) -> serde_json::Value {
    let response = client.get(url).send().await.expect("request");
    assert_eq!(response.status(), 200, "GET {url}");
    response.json().await.expect("json body")
}
