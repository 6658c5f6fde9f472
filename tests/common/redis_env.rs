//! Where the Redis tests find their Redis, and how they keep apart.

use std::time::{SystemTime, UNIX_EPOCH};

/// The Redis to test against, or `None` (the test is skipped) when
/// `REDIS_URL` is unset, unless `HYPER_SESSION_REQUIRE_REDIS` demands it
/// (CI sets both, so CI never skips).
pub fn redis_url() -> Option<String> {
    match std::env::var("REDIS_URL") {
        Ok(url) if !url.is_empty() => Some(url),
        _ if std::env::var_os("HYPER_SESSION_REQUIRE_REDIS").is_some() => {
            panic!(
                "REDIS_URL is not set, and HYPER_SESSION_REQUIRE_REDIS says Redis tests must run"
            )
        }
        _ => {
            println!("skipped: REDIS_URL not set");
            None
        }
    }
}

/// A key prefix no other test (or run) uses.
pub fn unique_prefix(test: &str) -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_nanos();
    format!("hyper-session-test:{test}:{}:{nanos}:", std::process::id())
}
