//! In-process cost of the request path: tag sign and verify, cookie header
//! parsing, and a whole `#[with_session]` handler beside the same body
//! without it, for four kinds of visitor. No sockets: this isolates what
//! the session layer adds to a request.
//!
//! `cargo bench -p hyper-session --bench request_path`

use std::convert::Infallible;

use bytes::Bytes;
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use http::header::{HeaderMap, HeaderValue, COOKIE};
use http::{Request, Response};
use http_body_util::Full;
use hyper_session::__bench as bench;
use hyper_session::{with_session, Session, SessionConfig, Sessions};

const CONFIG: SessionConfig = SessionConfig::DEFAULT.with_secure(false);

/// The handler body both variants share.
fn body(session: &mut Session, write: bool) -> Response<Full<Bytes>> {
    let n = session
        .get::<u64>("test_counter")
        .ok()
        .flatten()
        .unwrap_or(0);
    if write {
        let _ = session.insert("test_counter", n + 1);
    }
    Response::new(Full::from(format!("{{\"test_counter\":{n}}}")))
}

#[with_session(config = CONFIG, manager = sessions)]
async fn with_sessions(
    req: Request<()>,
    session: &mut Session,
    sessions: &Sessions,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let write = req.uri().path() == "/write";
    Ok(body(session, write))
}

async fn bare(req: Request<()>) -> Result<Response<Full<Bytes>>, Infallible> {
    let write = req.uri().path() == "/write";
    Ok(body(&mut Session::detached(), write))
}

fn request(path: &'static str, cookie: Option<&HeaderValue>) -> Request<()> {
    let mut req = Request::get(path).body(()).expect("request");
    if let Some(c) = cookie {
        req.headers_mut().insert(COOKIE, c.clone());
    }
    req
}

fn parts(c: &mut Criterion) {
    let sessions = Sessions::builder()
        .secret("benchmark secret, thirty-two bytes long")
        .build()
        .expect("manager");
    let value = bench::sign_fresh(&sessions, &CONFIG);
    let mut headers = HeaderMap::new();
    headers.insert(
        COOKIE,
        HeaderValue::from_str(&format!("theme=dark; lang=en; sid={value}; _ga=GA1.2.3"))
            .expect("header"),
    );
    assert!(bench::verify(&sessions, &CONFIG, &headers));
    let mut tampered = headers.clone();
    tampered.insert(
        COOKIE,
        HeaderValue::from_str(&format!("sid=A{}", &value[1..])).expect("header"),
    );

    let mut group = c.benchmark_group("cookie");
    group.bench_function("sign", |b| b.iter(|| bench::sign_fresh(&sessions, &CONFIG)));
    group.bench_function("set_cookie", |b| {
        b.iter(|| bench::set_cookie(&CONFIG, &value))
    });
    group.bench_function("parse_and_verify", |b| {
        b.iter(|| bench::verify(&sessions, &CONFIG, &headers))
    });
    group.bench_function("parse_and_reject", |b| {
        b.iter(|| bench::verify(&sessions, &CONFIG, &tampered))
    });
    group.finish();
}

fn handlers(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("runtime");
    let sessions = Sessions::builder()
        .secret("benchmark secret, thirty-two bytes long")
        .build()
        .expect("manager");
    // A returning visitor: a stored session and its cookie.
    let cookie = runtime.block_on(async {
        let response = with_sessions(request("/write", None), &sessions)
            .await
            .expect("infallible");
        let set = response.headers()["set-cookie"]
            .to_str()
            .expect("ascii")
            .to_owned();
        HeaderValue::from_str(set.split(';').next().expect("pair")).expect("header")
    });

    // New visitors who write fill their store; give them their own, so the
    // other cases measure a store of ordinary size.
    let filling = Sessions::builder()
        .secret("benchmark secret, thirty-two bytes long")
        .build()
        .expect("manager");
    let mut group = c.benchmark_group("handler");
    let cases: [(&str, &'static str, Option<&HeaderValue>); 4] = [
        ("new_visitor_reads", "/read", None),
        ("new_visitor_writes", "/write", None),
        ("returning_reads", "/read", Some(&cookie)),
        ("returning_writes", "/write", Some(&cookie)),
    ];
    for (name, path, cookie) in cases {
        group.bench_with_input(BenchmarkId::new("bare", name), &(), |b, ()| {
            b.to_async(&runtime).iter(|| bare(request(path, cookie)));
        });
        let manager = if name == "new_visitor_writes" {
            &filling
        } else {
            &sessions
        };
        group.bench_with_input(BenchmarkId::new("with_session", name), &(), |b, ()| {
            b.to_async(&runtime)
                .iter(|| with_sessions(request(path, cookie), manager));
        });
    }
    group.finish();
}

criterion_group!(benches, parts, handlers);
criterion_main!(benches);
