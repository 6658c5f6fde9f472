//! A million live sessions in the memory store: resident memory, and
//! request latency while half of them expire and are reclaimed.
//!
//! `cargo bench -p hyper-session --bench million`
//!
//! Fills the store through the real request path (load, insert, commit):
//! 500,000 sessions that expire after 20 s and 500,000 that live on. Then
//! measures returning visitors' requests (load + read + commit, in process)
//! first while nothing expires, then while the background sweeper reclaims
//! the expired half, and prints p50/p99 of both and their ratio.

use std::time::{Duration, Instant};

use http::header::HeaderMap;
use hyper_session::{MemoryStore, SessionConfig, Sessions};

/// Longer than the fill takes, so nothing expires before the steady phase.
const SHORT_SECS: u64 = 20;
const SHORT: SessionConfig = SessionConfig::DEFAULT.with_idle_timeout(SHORT_SECS);
const LONG: SessionConfig = SessionConfig::DEFAULT;
const HALF: usize = 500_000;

fn rss_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}

async fn create(sessions: &Sessions, config: &SessionConfig, n: u64) -> HeaderMap {
    let mut s = sessions
        .load(config, &HeaderMap::new())
        .await
        .expect("load");
    s.insert("test_counter", n).expect("fits");
    let set = sessions
        .commit(config, s)
        .await
        .expect("commit")
        .expect("cookie");
    hyper_session::__bench::cookie_header(&set)
}

/// Returning visitors reading their counter until `until` says stop.
async fn measure(
    sessions: &Sessions,
    cookies: &[HeaderMap],
    mut until: impl FnMut(usize) -> bool,
) -> Vec<u32> {
    let mut latencies = Vec::new();
    let mut i = 0;
    while !until(i) {
        let headers = &cookies[i % cookies.len()];
        let start = Instant::now();
        let s = sessions.load(&LONG, headers).await.expect("load");
        assert!(
            s.get::<u64>("test_counter").expect("number").is_some(),
            "a live session"
        );
        sessions.commit(&LONG, s).await.expect("commit");
        latencies.push(start.elapsed().as_nanos() as u32);
        i += 1;
    }
    latencies
}

fn percentiles(mut v: Vec<u32>) -> (u32, u32, usize) {
    v.sort_unstable();
    let at = |p: f64| v[((v.len() as f64 * p) as usize).min(v.len() - 1)];
    (at(0.5), at(0.99), v.len())
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return; // `cargo bench --no-run`-style probes
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let before = rss_mib();
        let store = MemoryStore::with_capacity(2 * HALF + 100_000);
        let sessions = Sessions::builder()
            .secret("million-session benchmark secret, long")
            .store(store.clone())
            .build()
            .expect("manager");
        let fill = Instant::now();
        let mut cookies = Vec::with_capacity(10_000);
        for n in 0..HALF as u64 {
            create(&sessions, &SHORT, n).await;
            let headers = create(&sessions, &LONG, n).await;
            if cookies.len() < 10_000 {
                cookies.push(headers);
            }
        }
        let expiring_at = fill.elapsed();
        let live = store.len();
        let rss = rss_mib() - before;
        println!("filled {live} sessions in {:.1} s; resident memory for them: {rss:.0} MiB ({:.0} bytes each)",
            fill.elapsed().as_secs_f64(), rss * 1024.0 * 1024.0 / live as f64);

        // Steady: nothing has expired yet.
        assert!(fill.elapsed() < Duration::from_secs(SHORT_SECS - 3), "the fill took too long for this measurement");
        let steady = measure(&sessions, &cookies, |i| i >= 200_000).await;
        let (p50, p99, n) = percentiles(steady);
        println!("steady:      {n} requests, p50 {p50} ns, p99 {p99} ns");

        // Wait for the short half to expire, then measure while the
        // sweeper thread reclaims it.
        let first_expiry = Duration::from_secs(SHORT_SECS);
        tokio::time::sleep(first_expiry.saturating_sub(fill.elapsed())).await;
        let sweep_start = Instant::now();
        let during = measure(&sessions, &cookies, |i| {
            i % 1000 == 0
                && (store.len() <= HALF + 10
                    || sweep_start.elapsed() > expiring_at + Duration::from_secs(5))
        })
        .await;
        let reclaimed_in = sweep_start.elapsed();
        let (q50, q99, m) = percentiles(during);
        println!("reclaiming:  {m} requests, p50 {q50} ns, p99 {q99} ns; {} sessions left after {:.2} s",
            store.len(), reclaimed_in.as_secs_f64());
        println!("p99 while reclaiming / p99 steady = {:.2}", f64::from(q99) / f64::from(p99));
    });
}
