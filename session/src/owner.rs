//! Who a session belongs to: the signed-in user, the session's public
//! handle and its label, and what a listing of a user's sessions shows.

use std::fmt;

use crate::error::SessionError;
use rand::rngs::OsRng;
use rand::TryRngCore as _;

/// Longest user id accepted by [`Session::set_user`](crate::Session::set_user), in bytes.
pub const MAX_USER_BYTES: usize = 256;
/// Longest label accepted by [`Session::set_label`](crate::Session::set_label), in bytes.
pub const MAX_LABEL_BYTES: usize = 256;

/// Hex digits of a handle: 128 random bits.
const HANDLE_HEX: usize = 32;

/// The public name of one signed-in session: what a "signed-in devices"
/// page shows and sends back to revoke it.
///
/// It is not a credential: 128 random bits drawn at sign-in, unrelated to
/// the session id (nothing derives one from the other), so a cookie made
/// of it is a fresh visitor. It stays the same across `cycle_id` and
/// renewal, and is unique among a user's sessions.
///
/// ```
/// use hyper_session::Handle;
///
/// let handle = Handle::parse("0123456789abcdef0123456789abcdef").expect("32 hex digits");
/// assert_eq!(handle.as_str(), "0123456789abcdef0123456789abcdef");
/// assert!(Handle::parse("not a handle").is_none());
/// ```
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Handle(Box<str>);

impl Handle {
    /// Draws a fresh handle from the OS random generator.
    pub(crate) fn generate() -> Result<Self, SessionError> {
        let mut bytes = [0u8; HANDLE_HEX / 2];
        OsRng
            .try_fill_bytes(&mut bytes)
            .map_err(|e| SessionError::Random(e.to_string()))?;
        Ok(Self(crate::id::hex(&bytes).into()))
    }

    /// A handle from its text (32 lowercase hex digits, as
    /// [`as_str`](Self::as_str) gives it), or `None`.
    pub fn parse(text: &str) -> Option<Self> {
        let valid = text.len() == HANDLE_HEX
            && text
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
        valid.then(|| Self(text.into()))
    }

    /// The handle as text: 32 lowercase hex digits.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Handle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for Handle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Handle({})", self.0)
    }
}

/// The user a stored session is signed in as, with its handle and label:
/// part of a [`Record`](crate::store::Record).
///
/// Non-exhaustive so that fields can be added without breaking stores.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Owner {
    /// The application's user id.
    pub user: String,
    /// The session's public handle.
    pub handle: Handle,
    /// The application's label for the session (a device, a browser).
    pub label: Option<String>,
}

impl Owner {
    /// An owner, as a store rebuilds it from what it stored.
    ///
    /// ```
    /// use hyper_session::store::Owner;
    /// use hyper_session::Handle;
    ///
    /// let handle = Handle::parse("0123456789abcdef0123456789abcdef").unwrap();
    /// let owner = Owner::new("ada", handle, Some("Firefox on Linux".into()));
    /// assert_eq!(owner.user, "ada");
    /// ```
    pub fn new(user: impl Into<String>, handle: Handle, label: Option<String>) -> Self {
        Self {
            user: user.into(),
            handle,
            label,
        }
    }

    /// A new owner for `user`, with a fresh handle.
    pub(crate) fn sign_in(user: &str) -> Result<Self, SessionError> {
        check_len("user id", user, MAX_USER_BYTES)?;
        if user.is_empty() {
            return Err(SessionError::Invalid {
                what: "user id",
                problem: "it is empty",
            });
        }
        Ok(Self::new(user, Handle::generate()?, None))
    }
}

/// Refuses `text` longer than `limit` bytes.
pub(crate) fn check_len(what: &'static str, text: &str, limit: usize) -> Result<(), SessionError> {
    if text.len() > limit {
        return Err(SessionError::TooLong {
            what,
            len: text.len(),
            limit,
        });
    }
    Ok(())
}

/// One of a user's live sessions, as a listing shows it.
///
/// Times are ms since the Unix epoch. `last_seen` is when a request last
/// wrote the session: a request that changes nothing and does not move the
/// expiry writes nothing, so it may lag by up to the expiry refresh step.
///
/// Non-exhaustive so that fields can be added without breaking stores.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct SessionInfo {
    /// The session's public handle: pass it to
    /// [`Sessions::revoke`](crate::Sessions::revoke).
    pub handle: Handle,
    /// When the session was created.
    pub created_at: u64,
    /// When a request last wrote it (see above).
    pub last_seen: u64,
    /// When it ends if left idle.
    pub expires_at: u64,
    /// The application's label, if it set one.
    pub label: Option<String>,
}

impl SessionInfo {
    /// A listing entry, as a store builds it.
    ///
    /// ```
    /// use hyper_session::store::SessionInfo;
    /// use hyper_session::Handle;
    ///
    /// let handle = Handle::parse("0123456789abcdef0123456789abcdef").unwrap();
    /// let info = SessionInfo::new(handle, 1_000, 2_000, 61_000, None);
    /// assert_eq!(info.last_seen, 2_000);
    /// ```
    pub fn new(
        handle: Handle,
        created_at: u64,
        last_seen: u64,
        expires_at: u64,
        label: Option<String>,
    ) -> Self {
        Self {
            handle,
            created_at,
            last_seen,
            expires_at,
            label,
        }
    }
}

/// A SHA-256 of the user id, domain-separated, in hex: what the Redis
/// store names a user's index key by, so that no byte of the id (braces,
/// spaces, newlines) shapes a key or picks its cluster slot.
#[cfg(feature = "redis")]
pub(crate) fn user_digest(user: &str) -> String {
    use sha2::{Digest, Sha256};

    let digest = Sha256::new()
        .chain_update(b"hyper-session user index\0")
        .chain_update(user.as_bytes())
        .finalize();
    crate::id::hex(&digest)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn handles_are_128_random_bits_in_hex() {
        let a = Handle::generate().expect("OS random");
        let b = Handle::generate().expect("OS random");
        assert_ne!(a, b);
        assert_eq!(a.as_str().len(), 32);
        assert_eq!(Handle::parse(a.as_str()), Some(a));
        for bad in [
            "",
            "ABCDEF0123456789abcdef0123456789",
            "0123",
            &"g".repeat(32),
        ] {
            assert!(Handle::parse(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn user_ids_and_labels_are_bounded() {
        assert!(Owner::sign_in("ada").is_ok());
        assert!(Owner::sign_in("").is_err());
        assert!(Owner::sign_in(&"x".repeat(MAX_USER_BYTES)).is_ok());
        let err = Owner::sign_in(&"x".repeat(MAX_USER_BYTES + 1)).expect_err("too long");
        assert!(err.to_string().contains("257 bytes"), "{err}");
        assert!(check_len("label", &"l".repeat(257), MAX_LABEL_BYTES).is_err());
    }

    #[cfg(feature = "redis")]
    #[test]
    fn user_digests_hide_the_id_and_its_braces() {
        let d = user_digest("{ada}");
        assert_eq!(d.len(), 64);
        assert!(d.bytes().all(|b| b.is_ascii_hexdigit()));
        assert_ne!(d, user_digest("ada"));
    }
}
