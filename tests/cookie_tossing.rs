//! Cookie tossing over a real server: an attacker who can plant a cookie
//! for the host (a sibling subdomain, or an on-path attacker on plain HTTP)
//! gets it sent before the victim's. A planted value must neither hide the
//! victim's session nor save it from the victim's logout, and a pile of
//! values must stay cheap.

mod common;

use std::sync::atomic::Ordering;
use std::sync::Arc;

use common::lifecycle::*;
use common::{cookie_value, plain};
use serde_json::{json, Value};

/// Logs in on a fresh client; returns the `sid=...` pair of the session.
async fn signed_in(base: &str) -> String {
    let response = plain()
        .get(format!("{base}/login"))
        .send()
        .await
        .expect("request");
    format!("sid={}", cookie_value(&response, "sid").expect("a cookie"))
}

/// A genuine, signed cookie whose session has ended (logged out).
async fn dead(base: &str) -> String {
    let cookie = signed_in(base).await;
    with_cookie(&format!("{base}/logout"), &cookie)
        .send()
        .await
        .expect("request");
    cookie
}

async fn me(base: &str, cookie: &str) -> Value {
    body(
        with_cookie(&format!("{base}/me"), cookie)
            .send()
            .await
            .expect("request"),
    )
    .await
}

#[tokio::test]
async fn a_dead_value_sent_first_does_not_hide_the_victims_session() {
    let store = Arc::new(Switchable::default());
    let base = start(manager(&store, SECRET, None)).await;
    let victim = signed_in(&base).await;
    let planted = dead(&base).await;

    let loads = store.loads.load(Ordering::SeqCst);
    assert_eq!(
        me(&base, &format!("{planted}; {victim}")).await,
        json!({ "user": "ada" })
    );
    assert_eq!(
        store.loads.load(Ordering::SeqCst) - loads,
        2,
        "the dead value, then the live one"
    );
}

#[tokio::test]
async fn logout_ends_the_victims_session_behind_a_planted_value() {
    let store = Arc::new(Switchable::default());
    let base = start(manager(&store, SECRET, None)).await;
    let victim = signed_in(&base).await;
    let planted = dead(&base).await;

    let response = with_cookie(&format!("{base}/logout"), &format!("{planted}; {victim}"))
        .send()
        .await
        .expect("request");
    assert!(common::set_cookies(&response)
        .iter()
        .any(|c| c.contains("Max-Age=0")));
    assert_eq!(
        me(&base, &victim).await,
        json!({ "user": null }),
        "a stolen session must not survive its owner's logout"
    );
}

#[tokio::test]
async fn at_most_two_loads_and_logout_still_ends_every_genuine_value() {
    let store = Arc::new(Switchable::default());
    let base = start(manager(&store, SECRET, None)).await;
    let victim = signed_in(&base).await;
    let header = format!("{}; {}; {victim}", dead(&base).await, dead(&base).await);

    let loads = store.loads.load(Ordering::SeqCst);
    assert_eq!(me(&base, &header).await, json!({ "user": null }));
    assert_eq!(
        store.loads.load(Ordering::SeqCst) - loads,
        2,
        "two dead values use up the two loads a request may make"
    );
    with_cookie(&format!("{base}/logout"), &header)
        .send()
        .await
        .expect("request");
    assert_eq!(
        me(&base, &victim).await,
        json!({ "user": null }),
        "a logout ends every live session among the genuine values sent"
    );
}

#[tokio::test]
async fn only_the_first_four_values_are_checked() {
    let store = Arc::new(Switchable::default());
    let base = start(manager(&store, SECRET, None)).await;
    let victim = signed_in(&base).await;
    let forged = format!("sid={}.{}", "A".repeat(43), "B".repeat(43));
    let four_forged = [forged.as_str(); 4].join("; ");

    let loads = store.loads.load(Ordering::SeqCst);
    assert_eq!(
        me(&base, &format!("{four_forged}; {victim}")).await,
        json!({ "user": null })
    );
    // 4,050 forged values cost four tag checks and no store call.
    let flood = vec![forged.as_str(); 4_050].join("; ");
    assert_eq!(
        me(&base, &format!("{flood}; {victim}")).await,
        json!({ "user": null })
    );
    assert_eq!(
        store.loads.load(Ordering::SeqCst),
        loads,
        "forged values cost no store call"
    );
    assert_eq!(me(&base, &victim).await, json!({ "user": "ada" }));
}
