//! A small HTTP/1 load generator: N keep-alive connections, each one client.
//!
//! `loadgen URL CONNECTIONS SECONDS MODE`, MODE `returning` (each connection
//! keeps its cookie, like a browser) or `new` (no cookie is ever sent: every
//! request is a new visitor). Prints one line: requests, req/s, p50, p99.

use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper::Request;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

struct Stats {
    latencies_us: Vec<u32>,
    errors: u64,
}

async fn client(url: hyper::Uri, keep_cookie: bool, until: Instant) -> Stats {
    let mut stats = Stats { latencies_us: Vec::with_capacity(1 << 16), errors: 0 };
    let authority = url.authority().expect("url has a host").clone();
    let Ok(stream) = TcpStream::connect(authority.as_str()).await else {
        stats.errors += 1;
        return stats;
    };
    let _ = stream.set_nodelay(true);
    let Ok((mut sender, conn)) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await else {
        stats.errors += 1;
        return stats;
    };
    tokio::spawn(conn);
    let mut cookie: Option<String> = None;
    while Instant::now() < until {
        let mut req = Request::get(url.clone()).header("host", authority.as_str());
        if let Some(c) = &cookie {
            req = req.header("cookie", c.as_str());
        }
        let req = req.body(Empty::<Bytes>::new()).expect("request");
        let start = Instant::now();
        let Ok(response) = sender.send_request(req).await else {
            stats.errors += 1;
            break;
        };
        if keep_cookie {
            if let Some(set) = response.headers().get("set-cookie").and_then(|v| v.to_str().ok()) {
                cookie = set.split(';').next().map(str::to_owned);
            }
        }
        let ok = response.status().is_success();
        if response.into_body().collect().await.is_err() || !ok {
            stats.errors += 1;
        }
        stats.latencies_us.push(start.elapsed().as_micros().min(u128::from(u32::MAX)) as u32);
    }
    stats
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let [_, url, connections, seconds, mode] = args.as_slice() else {
        eprintln!("usage: loadgen URL CONNECTIONS SECONDS returning|new");
        std::process::exit(2);
    };
    let url: hyper::Uri = url.parse().expect("url");
    let connections: usize = connections.parse().expect("connections");
    let duration = Duration::from_secs_f64(seconds.parse().expect("seconds"));
    let keep_cookie = match mode.as_str() {
        "returning" => true,
        "new" => false,
        other => panic!("mode {other}: expected returning or new"),
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let (mut all, errors, elapsed) = runtime.block_on(async {
        let start = Instant::now();
        let until = start + duration;
        let tasks: Vec<_> = (0..connections)
            .map(|_| tokio::spawn(client(url.clone(), keep_cookie, until)))
            .collect();
        let mut all = Vec::new();
        let mut errors = 0;
        for t in tasks {
            let s = t.await.expect("client task");
            all.extend(s.latencies_us);
            errors += s.errors;
        }
        (all, errors, start.elapsed())
    });
    all.sort_unstable();
    let pct = |p: f64| all.get(((all.len() as f64 * p) as usize).min(all.len().saturating_sub(1))).copied().unwrap_or(0);
    println!(
        "requests={} rps={:.0} p50_us={} p99_us={} errors={}",
        all.len(),
        all.len() as f64 / elapsed.as_secs_f64(),
        pct(0.50),
        pct(0.99),
        errors
    );
}
