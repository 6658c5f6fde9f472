//! Flash messages: set in one request, shown once in a later one.

use rand::rngs::OsRng;
use rand::TryRngCore as _;

use crate::error::SessionError;
use crate::expiry::now_ms;
use crate::session::Session;

/// Session keys of queued flash messages start with this; the rest of the
/// key orders them (the time, then a random tie-breaker).
const PREFIX: &str = "_flash:";

impl Session {
    /// Queues `message` for a later request, which shows it once with
    /// [`take_flashes`](Self::take_flashes): the message of a form post
    /// that redirects (POST → 303 → GET).
    ///
    /// Each message is a session key of its own, so two concurrent
    /// requests that each queue one both keep theirs (delta commits merge
    /// them; there is no shared list for one to overwrite).
    ///
    /// ```
    /// use hyper_session::Session;
    ///
    /// let mut session = Session::detached();
    /// session.flash("Signed in as ada")?;
    /// session.flash("Welcome back")?;
    /// assert_eq!(session.take_flashes(), ["Signed in as ada", "Welcome back"]);
    /// assert!(session.take_flashes().is_empty()); // shown once
    /// # Ok::<(), hyper_session::SessionError>(())
    /// ```
    ///
    /// # Errors
    ///
    /// As [`insert`](Self::insert) (the session's size limit), and
    /// [`SessionError::Random`] if the OS random generator fails.
    pub fn flash(&mut self, message: &str) -> Result<(), SessionError> {
        let tie = OsRng
            .try_next_u32()
            .map_err(|e| SessionError::Random(e.to_string()))?;
        let key = format!("{PREFIX}{:016x}{tie:08x}", now_ms());
        self.insert(&key, message)
    }

    /// Takes the queued flash messages, oldest first: each is returned
    /// once. A session without any is not changed (a visitor without a
    /// session gets no cookie from reading).
    pub fn take_flashes(&mut self) -> Vec<String> {
        let mut keys: Vec<String> = self
            .keys()
            .filter(|k| k.starts_with(PREFIX))
            .map(str::to_owned)
            .collect();
        keys.sort_unstable();
        keys.into_iter()
            .filter_map(|key| {
                let message = self.get::<String>(&key).ok().flatten();
                self.remove(&key);
                message
            })
            .collect()
    }
}
