//! Flash messages: set in one request, shown once in a later one.

use std::sync::atomic::{AtomicU32, Ordering};

use rand::rngs::OsRng;
use rand::TryRngCore as _;

use crate::error::SessionError;
use crate::expiry::now_ms;
use crate::session::Session;

/// Session keys of queued flash messages start with this; the rest of the
/// key orders them (see [`Session::flash`]).
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
        // Ordered by time, then by a counter (two in one millisecond of
        // this process keep their order); unique by a random suffix (two
        // processes in one millisecond never write one key).
        static SEQ: AtomicU32 = AtomicU32::new(0);
        let seq = SEQ.fetch_add(1, Ordering::Relaxed);
        let unique = OsRng
            .try_next_u32()
            .map_err(|e| SessionError::Random(e.to_string()))?;
        let key = format!("{PREFIX}{:016x}{seq:08x}{unique:08x}", now_ms());
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

#[cfg(test)]
mod tests {
    use http::HeaderMap;

    use crate::__bench::cookie_header;
    use crate::{SessionConfig, Sessions};

    const CONFIG: SessionConfig = SessionConfig::DEFAULT;

    #[tokio::test]
    async fn two_concurrent_flashes_both_survive() {
        let sessions = Sessions::in_memory().expect("manager");
        let mut s = sessions
            .load(&CONFIG, &HeaderMap::new())
            .await
            .expect("load");
        s.insert("user", "ada").expect("insert");
        let set = sessions
            .commit(&CONFIG, s)
            .await
            .expect("commit")
            .expect("cookie");
        let cookie = cookie_header(&set);
        let mut a = sessions.load(&CONFIG, &cookie).await.expect("load");
        let mut b = sessions.load(&CONFIG, &cookie).await.expect("load");
        a.flash("saved the profile").expect("flash");
        b.flash("uploaded the avatar").expect("flash");
        sessions.commit(&CONFIG, a).await.expect("commit");
        sessions.commit(&CONFIG, b).await.expect("commit");
        let mut shown = sessions.load(&CONFIG, &cookie).await.expect("load");
        let mut flashes = shown.take_flashes();
        flashes.sort_unstable();
        assert_eq!(flashes, ["saved the profile", "uploaded the avatar"]);
        sessions.commit(&CONFIG, shown).await.expect("commit");
        let mut again = sessions.load(&CONFIG, &cookie).await.expect("load");
        assert!(again.take_flashes().is_empty(), "each is shown once");
    }

    #[tokio::test]
    async fn reading_no_flash_creates_no_session() {
        let sessions = Sessions::in_memory().expect("manager");
        let mut s = sessions
            .load(&CONFIG, &HeaderMap::new())
            .await
            .expect("load");
        assert!(s.take_flashes().is_empty());
        assert_eq!(sessions.commit(&CONFIG, s).await.expect("commit"), None);
    }
}
