//! `GET /me` for a visitor without a session: no cookie, no store entry.
//! Its own test binary, because it installs the process default manager.

mod common;

// The example brings its own copy of `support`, as `common` does.
#[allow(dead_code, clippy::duplicate_mod)]
#[path = "../examples/app.rs"]
mod app;

use common::{plain, set_cookies, spawn};
use hyper_session::{MemoryStore, Sessions};

#[tokio::test]
async fn a_visitor_who_only_reads_creates_nothing() {
    let store = MemoryStore::new();
    Sessions::builder()
        .store(store.clone())
        .build()
        .expect("manager")
        .install()
        .expect("first install");
    let base = spawn(app::route).await;
    for _ in 0..3 {
        let response = plain()
            .get(format!("{base}/me"))
            .send()
            .await
            .expect("request");
        assert!(set_cookies(&response).is_empty(), "no cookie for a reader");
        let body: serde_json::Value = response.json().await.expect("json");
        assert_eq!(body, serde_json::json!({ "user": null }));
    }
    assert!(store.is_empty(), "no store entry for a reader");
    // The counter does write, so the same store fills: the check above could fail.
    plain()
        .get(format!("{base}/session_test"))
        .send()
        .await
        .expect("request");
    assert_eq!(store.len(), 1);
    assert!(
        Sessions::in_memory().expect("manager").install().is_err(),
        "installing twice is refused"
    );
}
