//! Secrets, and the HMAC-SHA256 tags that bind a session id to a cookie name.

use std::fmt;

use rand::rngs::OsRng;
use rand::TryRngCore as _;
use sha2::{Digest as _, Sha256};
use subtle::ConstantTimeEq as _;

use crate::error::BuildError;
use crate::id::{SessionId, ID_LEN};
use crate::sha256::{self, State};

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
#[derive(Clone)]
pub(crate) struct Keys {
    macs: Vec<HmacKey>,
}

/// One HMAC-SHA256 key (RFC 2104), its two padded key blocks compressed
/// once, at start-up: a tag then costs exactly its two compressions and
/// the blocks around them (see [`sha256`]).
#[derive(Clone)]
struct HmacKey {
    /// The state after `key ^ ipad`, and after `key ^ opad`.
    inner: State,
    outer: State,
}

impl HmacKey {
    fn new(key: &[u8]) -> Self {
        // A key longer than a block is hashed first (RFC 2104 §2).
        let mut block = [0u8; sha256::BLOCK];
        if key.len() > sha256::BLOCK {
            block[..32].copy_from_slice(&Sha256::digest(key));
        } else {
            block[..key.len()].copy_from_slice(key);
        }
        let padded = |pad: u8| sha256::compress(sha256::INITIAL, &block.map(|b| b ^ pad));
        Self {
            inner: padded(0x36),
            outer: padded(0x5c),
        }
    }

    /// The HMAC of `parts`, one after the other.
    #[cfg(test)]
    fn mac(&self, parts: &[&[u8]]) -> [u8; TAG_LEN] {
        let block = sha256::BLOCK as u64;
        self.outer_of(sha256::finish(self.inner, block, parts))
    }

    /// The outer hash over the inner digest: one block of fixed layout.
    fn outer_of(&self, inner: [u8; 32]) -> [u8; TAG_LEN] {
        let mut block = [0u8; sha256::BLOCK];
        block[..32].copy_from_slice(&inner);
        sha256::last_block(self.outer, sha256::BLOCK as u64, block, 32)
    }
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
            .map(|s| HmacKey::new(&s.0))
            .collect();
        Self { macs }
    }

    pub(crate) fn sign(&self, cookie_name: &str, id: &SessionId) -> [u8; TAG_LEN] {
        tag(&self.macs[0], cookie_name, id.as_bytes())
    }

    /// Checks `tag` in constant time against every key, newest first.
    pub(crate) fn verify(
        &self,
        cookie_name: &str,
        id: &[u8; ID_LEN],
        tag_bytes: &[u8; TAG_LEN],
    ) -> Option<Verified> {
        self.macs.iter().enumerate().find_map(|(i, mac)| {
            let expected = tag(mac, cookie_name, id);
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
///
/// With a name of up to 15 bytes (`sid`, `id`, `session`...) the message and
/// its padding fill one block, built here in place; a longer name takes the
/// general path.
fn tag(key: &HmacKey, cookie_name: &str, id: &[u8; ID_LEN]) -> [u8; TAG_LEN] {
    let name = cookie_name.as_bytes();
    let len = (name.len() as u64).to_be_bytes();
    let message = len.len() + name.len() + ID_LEN;
    let inner = if message < sha256::LAST {
        let mut block = [0u8; sha256::BLOCK];
        block[..8].copy_from_slice(&len);
        block[8..8 + name.len()].copy_from_slice(name);
        block[8 + name.len()..message].copy_from_slice(id);
        sha256::last_block(key.inner, sha256::BLOCK as u64, block, message)
    } else {
        sha256::finish(key.inner, sha256::BLOCK as u64, &[&len, name, id])
    };
    key.outer_of(inner)
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

    /// RFC 4231 test cases 1, 2 and 6 (a key longer than a block).
    #[test]
    fn rfc_4231_vectors() {
        let hex = |d: [u8; 32]| d.iter().map(|b| format!("{b:02x}")).collect::<String>();
        assert_eq!(
            hex(HmacKey::new(&[0x0b; 20]).mac(&[b"Hi There"])),
            "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"
        );
        assert_eq!(
            hex(HmacKey::new(b"Jefe").mac(&[b"what do ya want ", b"for nothing?"])),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        assert_eq!(
            hex(HmacKey::new(&[0xaa; 131])
                .mac(&[b"Test Using Larger Than Block-Size Key - Hash Key First"])),
            "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"
        );
    }

    proptest::proptest! {
        /// Any key and cookie name: the tag `hmac`'s own `Hmac<Sha256>`
        /// computes for the same message, so cookies signed before this
        /// implementation still verify.
        #[test]
        fn tags_match_the_hmac_crate(
            key in proptest::collection::vec(proptest::prelude::any::<u8>(), 32..200),
            name in "[a-zA-Z0-9_-]{1,80}",
            id in proptest::prelude::any::<[u8; ID_LEN]>(),
        ) {
            use hmac::Mac as _;
            let mut reference = hmac::Hmac::<Sha256>::new_from_slice(&key).expect("any length");
            reference.update(&(name.len() as u64).to_be_bytes());
            reference.update(name.as_bytes());
            reference.update(&id);
            let expected: [u8; TAG_LEN] = reference.finalize().into_bytes().into();
            proptest::prop_assert_eq!(tag(&HmacKey::new(&key), &name, &id), expected);
        }
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
