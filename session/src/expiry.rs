//! Server-side expiry: when a session ends, and when to refresh it.

use std::time::{SystemTime, UNIX_EPOCH};

use crate::config::SessionConfig;

/// Milliseconds since the Unix epoch, the unit of every timestamp in a record.
pub(crate) fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        // In u64, where `as_millis` worked in u128, for the same value.
        .map_or(0, |d| {
            d.as_secs()
                .saturating_mul(1000)
                .saturating_add(u64::from(d.subsec_millis()))
        })
}

/// A session's time limits, in milliseconds, derived from its config.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Lifetime {
    idle: u64,
    absolute: u64,
    renew_after: Option<u64>,
}

impl Lifetime {
    pub(crate) fn of(config: &SessionConfig) -> Self {
        // A cookie with Max-Age is gone from the browser after that long
        // without a refresh, so the server ends the session no later.
        let idle = match config.max_age() {
            0 => config.idle_timeout(),
            max_age => max_age.min(config.idle_timeout()),
        };
        Self {
            idle: idle.saturating_mul(1000),
            absolute: config.absolute_timeout().saturating_mul(1000),
            renew_after: match config.renew_after() {
                0 => None,
                s => Some(s.saturating_mul(1000)),
            },
        }
    }

    /// When a session created at `created_at` ends if it is active `now`.
    pub(crate) fn expires_at(&self, created_at: u64, now: u64) -> u64 {
        now.saturating_add(self.idle)
            .min(created_at.saturating_add(self.absolute))
    }

    /// Whether a stored session is over for this handler: past the expiry
    /// its last refresh set, or past this handler's absolute limit (so a
    /// handler with a stricter limit never serves an older session).
    pub(crate) fn ended(&self, created_at: u64, expires_at: u64, now: u64) -> bool {
        expires_at <= now || created_at.saturating_add(self.absolute) <= now
    }

    /// Whether a read-only request should push the expiry out.
    ///
    /// Refreshing on every read would turn every read into a write; instead
    /// the expiry moves once a quarter of the idle window has passed since
    /// the last refresh, so an active reader is never logged out and a
    /// session is rewritten at most four times per idle window.
    pub(crate) fn refresh_due(&self, current_expiry: u64, new_expiry: u64) -> bool {
        new_expiry.saturating_sub(current_expiry) >= self.idle / 4
    }

    /// Whether an id issued at `renewed_at` is old enough to be replaced.
    pub(crate) fn renewal_due(&self, renewed_at: u64, now: u64) -> bool {
        self.renew_after
            .is_some_and(|age| now.saturating_sub(renewed_at) >= age)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn idle_and_absolute_both_bound_the_session() {
        let config = SessionConfig::DEFAULT
            .with_idle_timeout(10)
            .with_absolute_timeout(25);
        let life = Lifetime::of(&config);
        assert_eq!(life.expires_at(0, 0), 10_000);
        assert_eq!(life.expires_at(0, 20_000), 25_000);
    }

    #[test]
    fn max_age_bounds_the_idle_window() {
        let life = Lifetime::of(&SessionConfig::DEFAULT.with_max_age(1));
        assert_eq!(life.expires_at(0, 0), 1_000);
    }

    #[test]
    fn refresh_waits_for_a_quarter_of_the_window() {
        let life = Lifetime::of(&SessionConfig::DEFAULT.with_idle_timeout(100));
        assert!(!life.refresh_due(100_000, 124_000));
        assert!(life.refresh_due(100_000, 125_000));
    }

    #[test]
    fn renewal_only_when_configured() {
        let off = Lifetime::of(&SessionConfig::DEFAULT);
        assert!(!off.renewal_due(0, u64::MAX));
        let on = Lifetime::of(&SessionConfig::DEFAULT.with_renew_after(60));
        assert!(!on.renewal_due(0, 59_999));
        assert!(on.renewal_due(0, 60_000));
    }
}
