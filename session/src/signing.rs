//! Secrets, and the HMAC-SHA256 tags that bind a session id to a cookie name.

use std::fmt;

use hmac::{Hmac, Mac};
use rand::rngs::OsRng;
use rand::TryRngCore as _;
use sha2::Sha256;
use subtle::ConstantTimeEq as _;

use crate::error::BuildError;
use crate::id::{SessionId, ID_LEN};

type HmacSha256 = Hmac<Sha256>;

/// Shortest secret accepted, in bytes (256 bits, the HMAC-SHA256 block-size class).
pub(crate) const MIN_SECRET_LEN: usize = 32;

/// Length of a tag in bytes.
pub(crate) const TAG_LEN: usize = 32;

/// A signing secret of at least [`MIN_SECRET_LEN`] bytes; its `Debug`
/// output never shows the bytes.
#[derive(Clone)]
pub(crate) struct Secret(Vec<u8>);

impl Secret {
    /// Wraps `bytes`, refusing fewer than [`MIN_SECRET_LEN`].
    ///
    /// # Errors
    ///
    /// [`BuildError::SecretTooShort`] when the secret is too short to sign with.
    pub(crate) fn new(bytes: impl AsRef<[u8]>) -> Result<Self, BuildError> {
        let bytes = bytes.as_ref();
        if bytes.len() < MIN_SECRET_LEN {
            return Err(BuildError::SecretTooShort { len: bytes.len() });
        }
        Ok(Self(bytes.to_vec()))
    }

    /// Draws a random secret from the OS, for stores that die with the process.
    ///
    /// # Errors
    ///
    /// [`BuildError::Random`] if the OS random generator fails.
    pub(crate) fn random() -> Result<Self, BuildError> {
        let mut bytes = vec![0u8; 32];
        OsRng
            .try_fill_bytes(&mut bytes)
            .map_err(|e| BuildError::Random(e.to_string()))?;
        Ok(Self(bytes))
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(..)")
    }
}

/// The signing keys: the newest signs, all of them verify.
///
/// Each key is turned into an HMAC state once, at start-up; a request clones
/// that state (a memcpy) instead of re-running the key schedule.
#[derive(Clone)]
pub(crate) struct Keys {
    macs: Vec<HmacSha256>,
}

/// Which key accepted a tag.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verified {
    /// The current key: nothing to do.
    Current,
    /// An older key: the cookie should be re-issued under the current one.
    Rotated,
}

impl Keys {
    /// `current` signs; `older` (newest first) are only accepted.
    pub(crate) fn new(current: &Secret, older: &[Secret]) -> Self {
        let macs = std::iter::once(current)
            .chain(older)
            .map(|s| {
                // `new_from_slice` accepts keys of any length for HMAC.
                HmacSha256::new_from_slice(&s.0).unwrap_or_else(|_| unreachable!())
            })
            .collect();
        Self { macs }
    }

    pub(crate) fn sign(&self, cookie_name: &str, id: &SessionId) -> [u8; TAG_LEN] {
        tag(&self.macs[0], cookie_name, id.as_bytes())
            .finalize()
            .into_bytes()
            .into()
    }

    /// Checks `tag` in constant time against every key, newest first.
    pub(crate) fn verify(
        &self,
        cookie_name: &str,
        id: &[u8; ID_LEN],
        tag_bytes: &[u8; TAG_LEN],
    ) -> Option<Verified> {
        self.macs.iter().enumerate().find_map(|(i, mac)| {
            let expected: [u8; TAG_LEN] = tag(mac, cookie_name, id).finalize().into_bytes().into();
            bool::from(words(&expected).ct_eq(&words(tag_bytes))).then_some(if i == 0 {
                Verified::Current
            } else {
                Verified::Rotated
            })
        })
    }
}

/// A tag as four words: `subtle` compares them in constant time as it does
/// bytes, in a quarter of the steps (it spent more on 32 single bytes than
/// the rest of the check, `benches/instructions.rs`).
fn words(tag: &[u8; TAG_LEN]) -> [u64; TAG_LEN / 8] {
    let mut words = [0u64; TAG_LEN / 8];
    for (word, bytes) in words.iter_mut().zip(tag.chunks_exact(8)) {
        let mut eight = [0u8; 8];
        eight.copy_from_slice(bytes);
        *word = u64::from_ne_bytes(eight);
    }
    words
}

/// HMAC over `len(name) || name || id`: the length prefix keeps the message
/// unambiguous, so a tag for one cookie name never verifies under another.
fn tag(keyed: &HmacSha256, cookie_name: &str, id: &[u8; ID_LEN]) -> HmacSha256 {
    let mut mac = keyed.clone();
    mac.update(&(cookie_name.len() as u64).to_be_bytes());
    mac.update(cookie_name.as_bytes());
    mac.update(id);
    mac
}

impl fmt::Debug for Keys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Keys({} keys)", self.macs.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secret(byte: u8) -> Secret {
        Secret::new([byte; 32]).expect("32 bytes")
    }

    #[test]
    fn short_secrets_are_refused() {
        let err = Secret::new([1u8; 31]).expect_err("31 bytes is too short");
        assert!(err.to_string().contains("at least 32 bytes"), "{err}");
    }

    #[test]
    fn a_tag_verifies_only_for_its_id_name_and_key() {
        let keys = Keys::new(&secret(1), &[]);
        let id = SessionId::from_bytes([9; 32]);
        let tag = keys.sign("sid", &id);
        assert_eq!(
            keys.verify("sid", id.as_bytes(), &tag),
            Some(Verified::Current)
        );
        assert_eq!(keys.verify("other", id.as_bytes(), &tag), None);
        assert_eq!(keys.verify("sid", &[8; 32], &tag), None);
        assert_eq!(
            Keys::new(&secret(2), &[]).verify("sid", id.as_bytes(), &tag),
            None
        );
        let mut flipped = tag;
        flipped[31] ^= 1;
        assert_eq!(keys.verify("sid", id.as_bytes(), &flipped), None);
    }

    #[test]
    fn older_keys_verify_and_ask_for_rotation() {
        let old = Keys::new(&secret(1), &[]);
        let rotated = Keys::new(&secret(2), &[secret(1)]);
        let id = SessionId::from_bytes([3; 32]);
        let tag = old.sign("sid", &id);
        assert_eq!(
            rotated.verify("sid", id.as_bytes(), &tag),
            Some(Verified::Rotated)
        );
        let fresh = rotated.sign("sid", &id);
        assert_eq!(
            rotated.verify("sid", id.as_bytes(), &fresh),
            Some(Verified::Current)
        );
        assert_ne!(fresh, tag);
    }
}
