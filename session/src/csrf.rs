//! CSRF tokens for forms and for the `X-CSRF-Token` header.
//!
//! Two kinds, picked by [`Sessions::csrf_token`]:
//!
//! - **Bound to the session**, for a visitor with a stored session (a
//!   signed-in user): a random token kept in the session. `cycle_id` (the
//!   login) drops it, so a new one is drawn after sign-in; automatic
//!   renewal keeps it, so forms open in other tabs keep working.
//! - **Signed double-submit**, for a visitor without a session (the
//!   sign-in page): a random token in a cookie of its own (`csrf`), signed
//!   with the manager's keys like the session cookie, and the same token
//!   in the form. No server-side session is created per visitor, so an
//!   anonymous page cannot be used to flood the store, and a cookie planted
//!   by a sibling subdomain fails the signature.
//!
//! Both are checked in constant time by [`Sessions::verify_csrf`].

use http::header::{HeaderMap, HeaderValue};

use crate::config::SessionConfig;
use crate::cookie;
use crate::error::SessionError;
use crate::id::SessionId;
use crate::manager::Sessions;
use crate::session::Session;

/// The form field the token goes in, by convention.
pub const CSRF_FIELD: &str = "csrf_token";
/// The request header a script sends the token in.
pub const CSRF_HEADER: &str = "x-csrf-token";
/// The session key of a session-bound token.
pub(crate) const SESSION_KEY: &str = "_csrf";

/// A token to put in a form (field [`CSRF_FIELD`]) or send in the
/// [`CSRF_HEADER`] header, with the `Set-Cookie` to send along when it is a
/// new double-submit token.
#[derive(Debug, Clone)]
pub struct CsrfToken {
    token: String,
    set_cookie: Option<HeaderValue>,
}

impl CsrfToken {
    /// The token text (base64url, no characters that need escaping in HTML).
    pub fn as_str(&self) -> &str {
        &self.token
    }

    /// The `Set-Cookie` the response must carry (a new double-submit
    /// token), if any.
    pub fn set_cookie(&self) -> Option<&HeaderValue> {
        self.set_cookie.as_ref()
    }
}

/// A request failed the CSRF check: answer 403 and change nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CsrfError {
    /// The request carried no token.
    #[error("the request carries no CSRF token; forms must include the `csrf_token` field (scripts the `X-CSRF-Token` header)")]
    Missing,
    /// The token is not this visitor's.
    #[error(
        "the request's CSRF token does not match this visitor's; reload the page and try again"
    )]
    Mismatch,
}

/// The double-submit cookie's name, `__Host-` prefixed like the session
/// cookie's when that one is.
fn cookie_config(config: &SessionConfig) -> SessionConfig {
    let name = if config.cookie_name().starts_with("__Host-") {
        "__Host-csrf"
    } else {
        "csrf"
    };
    config.with_cookie_name(name).with_max_age(0)
}

/// Equal contents, compared in time that does not depend on where they
/// differ.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// A fresh token: 256 random bits, base64url.
fn fresh() -> Result<SessionId, SessionError> {
    SessionId::generate().map_err(|e| SessionError::Random(e.to_string()))
}

fn text(id: &SessionId) -> String {
    let mut out = String::new();
    id.encode_into(&mut out);
    out
}

impl Sessions {
    /// The CSRF token of this request's visitor, for its forms: bound to
    /// the session when one is stored, else a signed double-submit token
    /// (see the [module docs](crate::csrf)); send
    /// [`CsrfToken::set_cookie`] with the response when it is `Some`.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use hyper_session::{SessionConfig, Sessions};
    ///
    /// let sessions = Sessions::in_memory()?;
    /// let config = SessionConfig::DEFAULT;
    /// let headers = http::HeaderMap::new();
    /// let mut session = sessions.load(&config, &headers).await?;
    /// let token = sessions.csrf_token(&config, &mut session, &headers)?;
    /// assert!(token.set_cookie().is_some()); // a visitor without a session: a cookie
    /// assert!(session.is_empty());           // and no session
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Errors
    ///
    /// [`SessionError::Random`] if the OS random generator fails;
    /// [`SessionError::TooLarge`] if a session-bound token does not fit.
    pub fn csrf_token(
        &self,
        config: &SessionConfig,
        session: &mut Session,
        headers: &HeaderMap,
    ) -> Result<CsrfToken, SessionError> {
        if !session.is_new() {
            if let Ok(Some(token)) = session.get::<String>(SESSION_KEY) {
                return Ok(CsrfToken {
                    token,
                    set_cookie: None,
                });
            }
            let token = text(&fresh()?);
            session.insert(SESSION_KEY, &token)?;
            return Ok(CsrfToken {
                token,
                set_cookie: None,
            });
        }
        let config = cookie_config(config);
        let presented = cookie::read(headers, &config, self.keys(), Self::DEFAULT_MAX_COOKIE_LEN);
        if let Some((id, _)) = presented.valid().next() {
            return Ok(CsrfToken {
                token: text(id),
                set_cookie: None,
            });
        }
        let id = fresh()?;
        Ok(CsrfToken {
            token: text(&id),
            set_cookie: Some(cookie::issue(&config, &id, self.keys())),
        })
    }

    /// Checks the token a state-changing request `presented` (its form
    /// field [`CSRF_FIELD`], or [`csrf_header`]) against this visitor's,
    /// in constant time: the session's token when the session is stored
    /// and has one, else the signed double-submit cookie's.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use hyper_session::{CsrfError, SessionConfig, Sessions};
    ///
    /// let sessions = Sessions::in_memory()?;
    /// let config = SessionConfig::DEFAULT;
    /// let session = sessions.load(&config, &http::HeaderMap::new()).await?;
    /// let refused = sessions.verify_csrf(&config, &session, &http::HeaderMap::new(), None);
    /// assert_eq!(refused, Err(CsrfError::Missing));
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Errors
    ///
    /// [`CsrfError`]: answer 403 and change nothing.
    pub fn verify_csrf(
        &self,
        config: &SessionConfig,
        session: &Session,
        headers: &HeaderMap,
        presented: Option<&str>,
    ) -> Result<(), CsrfError> {
        let presented = presented
            .filter(|p| !p.is_empty())
            .ok_or(CsrfError::Missing)?;
        if !session.is_new() {
            if let Ok(Some(token)) = session.get::<String>(SESSION_KEY) {
                return constant_time_eq(token.as_bytes(), presented.as_bytes())
                    .then_some(())
                    .ok_or(CsrfError::Mismatch);
            }
        }
        let config = cookie_config(config);
        let cookie = cookie::read(headers, &config, self.keys(), Self::DEFAULT_MAX_COOKIE_LEN);
        // Each genuine value is checked, in constant time, whatever matched.
        let matched = cookie.valid().fold(false, |any, (id, _)| {
            any | constant_time_eq(text(id).as_bytes(), presented.as_bytes())
        });
        matched.then_some(()).ok_or(CsrfError::Mismatch)
    }
}

/// The token of the [`CSRF_HEADER`] header, if any.
pub fn csrf_header(headers: &HeaderMap) -> Option<&str> {
    headers.get(CSRF_HEADER)?.to_str().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::__bench::cookie_header;

    const CONFIG: SessionConfig = SessionConfig::DEFAULT;

    fn sessions() -> Sessions {
        Sessions::builder()
            .secret("csrf test secret, at least 32 bytes long")
            .build()
            .expect("manager")
    }

    #[tokio::test]
    async fn an_anonymous_visitor_gets_a_signed_double_submit_token() {
        let sessions = sessions();
        let none = HeaderMap::new();
        let mut session = sessions.load(&CONFIG, &none).await.expect("load");
        let token = sessions
            .csrf_token(&CONFIG, &mut session, &none)
            .expect("token");
        let set = token.set_cookie().expect("a cookie").clone();
        assert!(set.to_str().expect("ascii").starts_with("csrf="));
        assert!(session.is_empty(), "no session is created for the token");
        let cookie = cookie_header(&set);
        assert_eq!(
            sessions.verify_csrf(&CONFIG, &session, &cookie, Some(token.as_str())),
            Ok(())
        );
        // The same cookie gives the same token, and no new cookie.
        let again = sessions
            .csrf_token(&CONFIG, &mut session, &cookie)
            .expect("token");
        assert_eq!(again.as_str(), token.as_str());
        assert!(again.set_cookie().is_none());
        for (headers, presented, error) in [
            (&cookie, None, CsrfError::Missing),
            (&cookie, Some(""), CsrfError::Missing),
            (&cookie, Some("wrong"), CsrfError::Mismatch),
            (&none, Some(token.as_str()), CsrfError::Mismatch),
        ] {
            assert_eq!(
                sessions.verify_csrf(&CONFIG, &session, headers, presented),
                Err(error)
            );
        }
        // A cookie signed with another key fails.
        let other = Sessions::builder()
            .secret("another secret, also at least 32 bytes")
            .build()
            .expect("manager");
        let mut s = other.load(&CONFIG, &none).await.expect("load");
        let theirs = other.csrf_token(&CONFIG, &mut s, &none).expect("token");
        let planted = cookie_header(theirs.set_cookie().expect("cookie"));
        assert_eq!(
            sessions.verify_csrf(&CONFIG, &session, &planted, Some(theirs.as_str())),
            Err(CsrfError::Mismatch)
        );
    }

    #[tokio::test]
    async fn a_stored_session_binds_the_token_and_login_replaces_it() {
        let sessions = sessions();
        let none = HeaderMap::new();
        let mut s = sessions.load(&CONFIG, &none).await.expect("load");
        s.insert("user", "ada").expect("insert");
        let cookie = cookie_header(
            &sessions
                .commit(&CONFIG, s)
                .await
                .expect("commit")
                .expect("set"),
        );
        let mut s = sessions.load(&CONFIG, &cookie).await.expect("load");
        let token = sessions
            .csrf_token(&CONFIG, &mut s, &cookie)
            .expect("token");
        assert!(token.set_cookie().is_none(), "bound to the session");
        assert_eq!(
            sessions.verify_csrf(&CONFIG, &s, &cookie, Some(token.as_str())),
            Ok(())
        );
        assert_eq!(
            sessions.verify_csrf(&CONFIG, &s, &cookie, Some("x")),
            Err(CsrfError::Mismatch)
        );
        let again = sessions
            .csrf_token(&CONFIG, &mut s, &cookie)
            .expect("token");
        assert_eq!(again.as_str(), token.as_str(), "stable within the session");
        // A script sends it in the header instead.
        let mut with_header = cookie.clone();
        with_header.insert(
            CSRF_HEADER,
            HeaderValue::from_str(token.as_str()).expect("ascii"),
        );
        let presented = csrf_header(&with_header);
        assert_eq!(
            sessions.verify_csrf(&CONFIG, &s, &with_header, presented),
            Ok(())
        );
        // Automatic renewal (a new id) keeps it: open forms keep working.
        let renewing = CONFIG.with_renew_after(1);
        let set = sessions.commit(&CONFIG, s).await.expect("commit");
        let cookie = set.map_or(cookie, |v| cookie_header(&v));
        tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
        let s = sessions.load(&renewing, &cookie).await.expect("load");
        let renewed = sessions.commit(&renewing, s).await.expect("commit");
        let cookie = cookie_header(&renewed.expect("a renewal sets a new cookie"));
        let mut s = sessions.load(&CONFIG, &cookie).await.expect("load");
        assert_eq!(
            sessions.verify_csrf(&CONFIG, &s, &cookie, Some(token.as_str())),
            Ok(()),
            "renewal keeps the token"
        );
        // Login (cycle_id) replaces it.
        s.cycle_id();
        let fresh = sessions
            .csrf_token(&CONFIG, &mut s, &cookie)
            .expect("token");
        assert_ne!(
            fresh.as_str(),
            token.as_str(),
            "login (cycle_id) replaces it"
        );
    }
}
