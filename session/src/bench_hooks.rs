//! Hooks for this crate's benchmarks (which measure the parts of the
//! request path one at a time) and tests. Not public API.

use http::HeaderMap;

use crate::config::SessionConfig;
use crate::cookie;
use crate::id::SessionId;
use crate::Sessions;

/// A cookie value `id.tag` for a fresh random id (not a chosen one: this
/// hook must not be a way to forge cookies).
pub fn sign_fresh(sessions: &Sessions, config: &SessionConfig) -> String {
    match SessionId::generate() {
        Ok(id) => cookie::value(&id, config, sessions.keys()),
        Err(_) => String::new(),
    }
}

/// The `Set-Cookie` header for `value`.
pub fn set_cookie(config: &SessionConfig, value: &str) -> http::HeaderValue {
    cookie::set_cookie(config, value, false)
}

/// Finds and verifies our cookie in `headers`; true if genuine.
pub fn verify(sessions: &Sessions, config: &SessionConfig, headers: &HeaderMap) -> bool {
    cookie::read(
        headers,
        config,
        sessions.keys(),
        Sessions::DEFAULT_MAX_COOKIE_LEN,
    )
    .valid()
    .next()
    .is_some()
}

/// The `Cookie` header a browser sends back after receiving `set_cookie`:
/// its `name=value` pair. One definition for the suite, the benches and
/// the tests.
pub fn cookie_header(set_cookie: &http::HeaderValue) -> HeaderMap {
    let mut headers = HeaderMap::new();
    if let Some(pair) = set_cookie.to_str().ok().and_then(|t| t.split(';').next()) {
        if let Ok(value) = http::HeaderValue::from_str(pair) {
            headers.insert(http::header::COOKIE, value);
        }
    }
    headers
}

/// A first visit that stores `values` (numbers) in a new session; the
/// `Cookie` header the browser then sends, or `None` if no cookie was set.
///
/// # Errors
///
/// What the store answered.
pub async fn first_visit(
    sessions: &Sessions,
    config: &SessionConfig,
    values: &[(&str, u64)],
) -> Result<Option<HeaderMap>, crate::RequestError> {
    let mut session = sessions.load(config, &HeaderMap::new()).await?;
    for (key, value) in values {
        // A number always serializes, and a test's few keys fit.
        let _ = session.insert(key, value);
    }
    let set = sessions.commit(config, session).await?;
    Ok(set.map(|set| cookie_header(&set)))
}
