//! The instruction budget of the request path, guarded: callgrind counts
//! (through gungraun) of one request through a `#[with_session]` handler,
//! in process (no sockets), for the four cases of `request_path.rs`, beside
//! the same body without sessions (`bare_*`).
//!
//! SHA-256 compressions are not counted: valgrind's CPU has no SHA
//! extensions, so they run in software there (about 3,500 instructions
//! each, three per returning visitor), while the real CPU does one in a
//! few dozen cycles. Callgrind stops counting inside `compress256`
//! (`--toggle-collect`), so each case counts the work around them.
//!
//! A case that exceeds its [`BUDGET`] by more than 2 % fails the run
//! (gungraun exits with code 3): `.ci/run` runs this. The session layer's
//! own cost of a case is its count minus the bare handler's for the same
//! request (`bare_reads_with_cookie` for a returning visitor who reads,
//! and so on): the same body, and dropping a request with a cookie costs
//! the same with or without sessions.
//!
//! ```text
//! cargo install gungraun-runner --version 0.20.0   # once
//! cargo bench -p hyper-session --all-features --bench instructions
//! ```
//!
//! To change a budget on purpose (a feature that must cost more, or a
//! saving to keep), edit [`BUDGET`] to the new count this prints, and say
//! why in the commit.

use std::convert::Infallible;
use std::future::Future;
use std::hint::black_box;

use bytes::Bytes;
use gungraun::{
    library_benchmark, library_benchmark_group, main, Callgrind, EntryPoint, EventKind,
    LibraryBenchmarkConfig,
};
use http::header::{HeaderValue, COOKIE, SET_COOKIE};
use http::{Request, Response};
use http_body_util::Full;
use hyper_session::{with_session, Session, SessionConfig, Sessions};
use tokio::runtime::Runtime;

/// Instructions per request, SHA-256 compressions excluded, as measured
/// when the budget was last set, with `--all-features` as `.ci/run` builds
/// it (the feature set changes the code generated, by a few percent).
const BUDGET: &[(&str, u64)] = &[
    ("bare_reads", 2_319),
    ("bare_writes", 3_196),
    ("bare_reads_with_cookie", 2_722),
    ("bare_writes_with_cookie", 3_599),
    ("returning_reads", 6_046),
    ("returning_writes", 7_258),
    ("new_visitor_reads", 2_930),
    ("new_visitor_writes", 6_104),
];

/// How far over its budget a case may go before the run fails.
const TOLERANCE: f64 = 0.02;

const CONFIG: SessionConfig = SessionConfig::DEFAULT.with_secure(false);
const SECRET: &str = "benchmark secret, thirty-two bytes long";

/// The handler body both variants share: read a counter, maybe write it.
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

/// Everything a measured request needs, built (and warmed up) outside the
/// measurement. Leaked: dropping a runtime is not part of a request.
struct Case {
    runtime: &'static Runtime,
    sessions: &'static Sessions,
    request: Request<()>,
}

fn request(path: &str, cookie: Option<&HeaderValue>) -> Request<()> {
    let mut req = Request::get(path).body(()).expect("request");
    if let Some(c) = cookie {
        req.headers_mut().insert(COOKIE, c.clone());
    }
    req
}

/// A runtime and a manager whose store already holds sessions, after a
/// few requests of every kind (first-use costs are not a request's), and
/// the request to measure: a returning visitor's if `returning`.
fn setup(path: &'static str, returning: bool) -> Case {
    let runtime: &'static Runtime = Box::leak(Box::new(
        tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .expect("runtime"),
    ));
    let sessions: &'static Sessions = Box::leak(Box::new(
        Sessions::builder().secret(SECRET).build().expect("manager"),
    ));
    let cookie = runtime.block_on(async {
        let mut cookie = None;
        for _ in 0..64 {
            let response = with_sessions(request("/write", None), sessions)
                .await
                .expect("infallible");
            let set = response.headers()[SET_COOKIE].to_str().expect("ascii");
            let pair = set.split(';').next().expect("a name=value pair");
            cookie = Some(HeaderValue::from_str(pair).expect("header"));
        }
        let cookie = cookie.expect("64 sessions");
        for path in ["/read", "/write"] {
            for _ in 0..8 {
                let _ = with_sessions(request(path, Some(&cookie)), sessions).await;
                let _ = with_sessions(request(path, None), sessions).await;
                let _ = bare(request(path, None)).await;
            }
        }
        cookie
    });
    let request = request(path, returning.then_some(&cookie));
    warm_allocator();
    Case {
        runtime,
        sessions,
        request,
    }
}

/// Leaves the allocator's per-thread cache of each small size half full,
/// as a server's is between requests: then a request's allocations and
/// frees take its fast path, and the count does not move by a hundred or
/// more when an unrelated part of the setup leaves some size's cache
/// empty (a slow `malloc`) or full (a slow `free`). glibc keeps seven
/// blocks a size: fill it, then take three back for good.
fn warm_allocator() {
    for size in (16..=1024).step_by(16) {
        let fill: Vec<Vec<u8>> = (0..8).map(|_| Vec::with_capacity(size)).collect();
        drop(black_box(fill));
        for _ in 0..3 {
            std::mem::forget(black_box(Vec::<u8>::with_capacity(size)));
        }
    }
}

fn budget(function: &str, case: &str) -> LibraryBenchmarkConfig {
    let budget = BUDGET
        .iter()
        .find(|(name, _)| *name == case)
        .map(|(_, n)| *n)
        .expect("every case has a budget");
    let limit = (budget as f64 * (1.0 + TOLERANCE)).floor() as u64;
    let mut callgrind = Callgrind::default();
    callgrind
        // The toggles set by hand: counting runs in the measured function
        // and stops inside each compression. The second toggle also starts
        // counting inside the setup's compressions, so the counts are
        // zeroed when the measured function starts.
        .entry_point(EntryPoint::None)
        .args([
            "collect-atstart=no",
            "toggle-collect=*::__gungraun_wrapper_mod::*",
            "toggle-collect=sha2::sha256::compress256",
            &format!("zero-before=instructions::{function}::__gungraun_wrapper_mod::{function}"),
        ])
        .hard_limits([(EventKind::Ir, limit)]);
    let mut config = LibraryBenchmarkConfig::default();
    config.tool(callgrind).env("GLIBC_TUNABLES", BASELINE_CPU);
    config
}

/// glibc picks its `memcpy` and `memset` for the CPU it finds, and the
/// variants count different instructions for the same copy: the same build
/// counted 460 more a returning visitor on an AMD EPYC than on an Intel
/// Xeon, whose glibc copied with `rep movsb` (ERMS) at other sizes. With
/// these features off (valgrind's CPU has no AVX-512 or RTM anyway), both
/// get the same AVX2 variants, which never use `rep movsb` at these sizes.
const BASELINE_CPU: &str = "glibc.cpu.hwcaps=-ERMS,-FSRM,-AVX512F,-AVX512VL,-RTM";

/// Polls the request's future where this function pinned it, as hyper's
/// connection polls the service's future in its own state. Handed to
/// `block_on` by value, the future was copied twice or not at all as the
/// compiler's inlining of `block_on` changed with unrelated code, which
/// moved a case's count by 300.
#[inline(never)]
fn run<F: Future>(runtime: &Runtime, future: F) -> F::Output {
    let future = std::pin::pin!(future);
    runtime.block_on(future)
}

#[library_benchmark]
#[bench::bare_reads(args = ("/read", false), setup = setup, config = budget("bare_handler", "bare_reads"))]
#[bench::bare_writes(args = ("/write", false), setup = setup, config = budget("bare_handler", "bare_writes"))]
#[bench::bare_reads_with_cookie(args = ("/read", true), setup = setup, config = budget("bare_handler", "bare_reads_with_cookie"))]
#[bench::bare_writes_with_cookie(args = ("/write", true), setup = setup, config = budget("bare_handler", "bare_writes_with_cookie"))]
fn bare_handler(case: Case) -> Response<Full<Bytes>> {
    let response = run(case.runtime, bare(case.request));
    black_box(response.expect("infallible"))
}

#[library_benchmark]
#[bench::returning_reads(args = ("/read", true), setup = setup, config = budget("session_handler", "returning_reads"))]
#[bench::returning_writes(args = ("/write", true), setup = setup, config = budget("session_handler", "returning_writes"))]
#[bench::new_visitor_reads(args = ("/read", false), setup = setup, config = budget("session_handler", "new_visitor_reads"))]
#[bench::new_visitor_writes(args = ("/write", false), setup = setup, config = budget("session_handler", "new_visitor_writes"))]
fn session_handler(case: Case) -> Response<Full<Bytes>> {
    let response = run(case.runtime, with_sessions(case.request, case.sessions));
    black_box(response.expect("infallible"))
}

library_benchmark_group!(
    name = request_path;
    benchmarks = bare_handler, session_handler
);

main!(library_benchmark_groups = request_path);
