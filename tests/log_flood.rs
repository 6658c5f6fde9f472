//! A client that sends forged cookies cannot flood the logs: the WARN for
//! bad cookies is written at most once per 10 s per process, with the
//! number of events it stands for. (Its own test binary: the limit is
//! per process.)

mod common;

use std::sync::Arc;

use common::lifecycle::*;
use common::logs::Logs;
use tracing::Level;

#[tokio::test]
async fn forged_cookies_log_one_warning_per_window() {
    let (logs, _guard) = Logs::capture();
    let store = Arc::new(Switchable::default());
    let base = start(manager(&store, SECRET, None)).await;
    let url = format!("{base}/me");
    for i in 0..200 {
        let response = with_cookie(&url, &format!("sid=forged{i}; sid=other{i}"))
            .send()
            .await
            .expect("request");
        assert_eq!(response.status(), 200);
    }
    let warnings: Vec<_> = logs
        .events()
        .into_iter()
        .filter(|e| e.level == Level::WARN)
        .collect();
    assert_eq!(
        warnings.len(),
        1,
        "one WARN for 400 forged values: {warnings:?}"
    );
    assert!(
        warnings[0].text.contains("events=2"),
        "the first warning counts the values of its request: {}",
        warnings[0].text
    );
    assert!(
        !logs.all_text().contains("forged1"),
        "no cookie value in the logs"
    );
}
