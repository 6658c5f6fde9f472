//! Id changes over a real server: automatic renewal, `cycle_id` at
//! login, key rotation.

mod common;

#[allow(unused_imports)]
use common::lifecycle::*;
use common::{cookie_value, plain, set_cookies};
use std::sync::Arc;
use std::time::Duration;

#[tokio::test]
async fn an_old_id_is_renewed_transparently() {
    let store = Arc::new(Switchable::default());
    let url = format!("{}/renewing", start(manager(&store, SECRET, None)).await);
    let first = plain().get(&url).send().await.expect("request");
    let old = format!("sid={}", cookie_value(&first, "sid").expect("a cookie"));
    let quick = with_cookie(&url, &old).send().await.expect("request");
    assert!(set_cookies(&quick).is_empty(), "a young id is kept");
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let renewed = with_cookie(&url, &old).send().await.expect("request");
    let new = format!(
        "sid={}",
        cookie_value(&renewed, "sid").expect("a renewed id")
    );
    assert_ne!(new, old);
    assert_eq!(body(renewed).await["n"], 3, "the data came along");
    assert_eq!(
        body(with_cookie(&url, &new).send().await.expect("request")).await["n"],
        4
    );
    assert_eq!(
        body(with_cookie(&url, &old).send().await.expect("request")).await["n"],
        1,
        "the old id is dead"
    );
}

#[tokio::test]
async fn login_cycles_the_id_and_an_insert_after_it_stays_on_the_new_id() {
    let store = Arc::new(Switchable::default());
    let base = start(manager(&store, SECRET, None)).await;
    let first = plain()
        .get(format!("{base}/count"))
        .send()
        .await
        .expect("request");
    let before = format!("sid={}", cookie_value(&first, "sid").expect("cookie"));
    let login = with_cookie(&format!("{base}/login"), &before)
        .send()
        .await
        .expect("request");
    let after = format!("sid={}", cookie_value(&login, "sid").expect("new cookie"));
    assert_ne!(before, after);
    let count = format!("{base}/count");
    assert_eq!(
        body(with_cookie(&count, &after).send().await.expect("request")).await["n"],
        2
    );
    assert_eq!(
        body(with_cookie(&count, &before).send().await.expect("request")).await["n"],
        1
    );
    assert_eq!(
        store.inner.len(),
        2,
        "the login session and the stale cookie's fresh one"
    );
}

#[tokio::test]
async fn rotated_keys_accept_old_cookies_and_reissue_them() {
    let store = Arc::new(Switchable::default());
    let old_server = start(manager(&store, OLD_SECRET, None)).await;
    let new_server = start(manager(&store, SECRET, Some(OLD_SECRET))).await;
    let only_new = start(manager(&store, SECRET, None)).await;

    let first = plain()
        .get(format!("{old_server}/count"))
        .send()
        .await
        .expect("request");
    let old_value = cookie_value(&first, "sid").expect("cookie");
    let old_cookie = format!("sid={old_value}");

    let rotated = with_cookie(&format!("{new_server}/count"), &old_cookie)
        .send()
        .await
        .expect("request");
    let reissued = cookie_value(&rotated, "sid").expect("re-issued under the current key");
    assert_eq!(
        body(rotated).await["n"],
        2,
        "the old cookie's session is served"
    );
    assert_eq!(
        reissued.split('.').next(),
        old_value.split('.').next(),
        "same id"
    );
    assert_ne!(reissued, old_value, "new tag");

    let reissued_cookie = format!("sid={reissued}");
    let quiet = with_cookie(&format!("{new_server}/count"), &reissued_cookie)
        .send()
        .await
        .expect("request");
    assert!(
        set_cookies(&quiet).is_empty(),
        "a current-key cookie is not re-issued"
    );
    assert_eq!(body(quiet).await["n"], 3);
    // Without the old key, the old cookie is worthless; the new one works.
    assert_eq!(
        body(
            with_cookie(&format!("{only_new}/count"), &old_cookie)
                .send()
                .await
                .expect("request")
        )
        .await["n"],
        1
    );
    assert_eq!(
        body(
            with_cookie(&format!("{only_new}/count"), &reissued_cookie)
                .send()
                .await
                .expect("request")
        )
        .await["n"],
        4
    );
}
