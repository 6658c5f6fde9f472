//! Requests of one session, step by step through a manager, for the tests
//! that count what each step sends to its store.

use http::HeaderMap;
use hyper_session::__bench::cookie_header;
use hyper_session::{SessionConfig, Sessions};

/// A request that reads the session and changes nothing.
pub async fn untouched(sessions: &Sessions, config: &SessionConfig, cookie: &HeaderMap) {
    let s = sessions.load(config, cookie).await.expect("load");
    sessions.commit(config, s).await.expect("commit");
}

/// A request that moves the session to a new id (a login): the new cookie.
pub async fn cycle(sessions: &Sessions, config: &SessionConfig, cookie: &HeaderMap) -> HeaderMap {
    let mut s = sessions.load(config, cookie).await.expect("load");
    s.cycle_id();
    let set = sessions.commit(config, s).await.expect("commit");
    cookie_header(&set.expect("a cycle_id sets a cookie"))
}

/// A request that ends the session (a logout).
pub async fn destroy(sessions: &Sessions, config: &SessionConfig, cookie: &HeaderMap) {
    let mut s = sessions.load(config, cookie).await.expect("load");
    s.destroy();
    sessions.commit(config, s).await.expect("commit");
}

/// A new session holding `pairs`: its cookie.
pub async fn create(
    sessions: &Sessions,
    config: &SessionConfig,
    pairs: &[(&str, serde_json::Value)],
) -> HeaderMap {
    let mut s = sessions
        .load(config, &HeaderMap::new())
        .await
        .expect("load");
    for (key, value) in pairs {
        s.insert(key, value).expect("insert");
    }
    let set = sessions.commit(config, s).await.expect("commit");
    cookie_header(&set.expect("a new session sets a cookie"))
}

/// A request that writes `key`.
pub async fn write(
    sessions: &Sessions,
    config: &SessionConfig,
    cookie: &HeaderMap,
    key: &str,
    value: serde_json::Value,
) {
    let mut s = sessions.load(config, cookie).await.expect("load");
    s.insert(key, value).expect("insert");
    sessions.commit(config, s).await.expect("commit");
}
