//! Session ids and the store keys derived from them.

use std::fmt;

use rand::rngs::OsRng;
use rand::TryRngCore as _;

use crate::error::RequestError;
use crate::sha256;

/// Length of an id in bytes: 256 bits.
pub(crate) const ID_LEN: usize = 32;
/// Length of an id in base64url without padding.
pub(crate) const ID_B64_LEN: usize = crate::base64url::LEN_32;

/// A 256-bit session id drawn from the operating system's CSPRNG.
///
/// It is a bearer secret: it lives in the cookie and nowhere else. Stores see
/// only its [`StoreKey`], and logs only a [`StoreKey::fingerprint`].
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct SessionId([u8; ID_LEN]);

/// Ids drawn from the OS per refill: one `getrandom` call instead of 32.
const IDS_PER_REFILL: usize = 32;

/// A thread's block of OS random bytes, handed out 32 bytes at a time.
///
/// A `getrandom` system call costs about as much as the rest of a new
/// visitor's request path; reading 1 KiB at once makes it negligible. The
/// bytes are the OS CSPRNG's own, each handed out once and wiped. (A process
/// that forks copies its unused bytes into the child; stores refuse to
/// overwrite an existing id, and the manager then draws another, so a
/// repeat could never join two sessions.)
struct IdPool {
    bytes: [u8; ID_LEN * IDS_PER_REFILL],
    next: usize,
}

thread_local! {
    static POOL: std::cell::RefCell<IdPool> = const {
        std::cell::RefCell::new(IdPool { bytes: [0; ID_LEN * IDS_PER_REFILL], next: ID_LEN * IDS_PER_REFILL })
    };
}

impl SessionId {
    /// Draws a fresh id from the OS. Fails only if the OS has no entropy to give.
    pub(crate) fn generate() -> Result<Self, RequestError> {
        POOL.with(|pool| {
            let mut pool = pool.borrow_mut();
            let pool = &mut *pool;
            if pool.next == pool.bytes.len() {
                OsRng
                    .try_fill_bytes(&mut pool.bytes)
                    .map_err(|e| RequestError::Random(e.to_string()))?;
                pool.next = 0;
            }
            let slot = &mut pool.bytes[pool.next..pool.next + ID_LEN];
            let mut id = [0u8; ID_LEN];
            id.copy_from_slice(slot);
            slot.fill(0);
            pool.next += ID_LEN;
            Ok(Self(id))
        })
    }

    pub(crate) fn from_bytes(bytes: [u8; ID_LEN]) -> Self {
        Self(bytes)
    }

    pub(crate) fn as_bytes(&self) -> &[u8; ID_LEN] {
        &self.0
    }

    /// Base64url (no padding) text, as it stands in the cookie.
    pub(crate) fn encode_into(&self, out: &mut String) {
        crate::base64url::encode_32(&self.0, out);
    }

    /// The key the store files this session under: SHA-256 of the id.
    ///
    /// A 32-byte message is one block with its padding, built here and
    /// compressed once (see [`sha256`]).
    pub(crate) fn store_key(&self) -> StoreKey {
        let mut block = [0u8; sha256::BLOCK];
        block[..ID_LEN].copy_from_slice(&self.0);
        StoreKey(sha256::last_block(sha256::INITIAL, 0, block, ID_LEN))
    }
}

impl fmt::Debug for SessionId {
    // The id is a credential: never print it.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SessionId({})", self.store_key().fingerprint())
    }
}

/// The key a session is stored under: SHA-256 of its id.
///
/// Keying the store by a hash means that a dump of the store (a Redis
/// `KEYS *`, a backup) does not hand out live sessions: the cookie value
/// cannot be recovered from it.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct StoreKey([u8; 32]);

impl std::hash::Hash for StoreKey {
    // The bytes are a SHA-256 output, uniform already: eight of them are a
    // complete hash, and hashing all 32 would be wasted work.
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        let mut word = [0u8; 8];
        word.copy_from_slice(&self.0[..8]);
        state.write_u64(u64::from_le_bytes(word));
    }
}

impl StoreKey {
    /// The 32 raw bytes, for stores that key by bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// Builds a key from raw bytes, e.g. when a store lists its entries.
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    /// Lowercase hex of all 32 bytes, for stores that key by text.
    pub fn to_hex(&self) -> String {
        hex(&self.0)
    }

    /// [`to_hex`](Self::to_hex), appended to `out`.
    pub(crate) fn push_hex(&self, out: &mut String) {
        push_hex(out, &self.0);
    }

    /// A short, non-secret tag that tells sessions apart in logs.
    ///
    /// Eight hex digits of the store key: enough to follow one session
    /// through a log, useless to an attacker (it is a hash of a hash prefix).
    pub fn fingerprint(&self) -> Fingerprint {
        Fingerprint([self.0[0], self.0[1], self.0[2], self.0[3]])
    }
}

impl fmt::Debug for StoreKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "StoreKey({})", self.fingerprint())
    }
}

/// Eight hex digits naming a session in logs; see [`StoreKey::fingerprint`].
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Fingerprint([u8; 4]);

impl fmt::Display for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for b in self.0 {
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// Lowercase hex of `bytes`: store keys, handles and user digests.
pub(crate) fn hex(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(2 * bytes.len());
    push_hex(&mut s, bytes);
    s
}

/// [`hex`], appended to `out`. Each byte's two digits are looked up whole
/// into a buffer on the stack, appended 64 digits at a time: pushed one
/// `char` at a time, a store key's hex cost Redis's request path about
/// 1,000 instructions.
pub(crate) fn push_hex(out: &mut String, bytes: &[u8]) {
    for chunk in bytes.chunks(32) {
        let mut digits = [0u8; 64];
        for (pair, &b) in digits.chunks_exact_mut(2).zip(chunk) {
            pair.copy_from_slice(&HEX_PAIRS[usize::from(b)]);
        }
        // Hex digits are ASCII: the check cannot fail.
        if let Ok(text) = std::str::from_utf8(&digits[..2 * chunk.len()]) {
            out.push_str(text);
        }
    }
}

/// The two lowercase hex digits of every byte.
static HEX_PAIRS: [[u8; 2]; 256] = {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut pairs = [[0u8; 2]; 256];
    let mut b = 0;
    while b < 256 {
        pairs[b] = [DIGITS[b >> 4], DIGITS[b & 0xf]];
        b += 1;
    }
    pairs
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_256_bits_and_distinct() {
        let a = SessionId::generate().expect("os rng");
        let b = SessionId::generate().expect("os rng");
        assert_ne!(a, b);
        let mut text = String::new();
        a.encode_into(&mut text);
        assert_eq!(text.len(), ID_B64_LEN);
        assert!(text
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_'));
    }

    #[test]
    fn pooled_ids_never_repeat_across_refills() {
        let ids: std::collections::HashSet<[u8; 32]> = (0..IDS_PER_REFILL * 3 + 1)
            .map(|_| *SessionId::generate().expect("os rng").as_bytes())
            .collect();
        assert_eq!(ids.len(), IDS_PER_REFILL * 3 + 1);
        assert!(
            !ids.contains(&[0u8; 32]),
            "a wiped slot is never handed out"
        );
    }

    #[test]
    fn store_key_is_a_hash_not_the_id() {
        let id = SessionId::from_bytes([7; 32]);
        assert_ne!(id.store_key().as_bytes(), id.as_bytes());
        assert_eq!(id.store_key(), SessionId::from_bytes([7; 32]).store_key());
        assert_eq!(id.store_key().to_hex().len(), 64);
    }

    #[test]
    fn store_key_is_sha256_of_the_id() {
        // FIPS 180-4's SHA-256 of 32 zero bytes.
        assert_eq!(
            SessionId::from_bytes([0; 32]).store_key().to_hex(),
            "66687aadf862bd776c8fc18b8e9f8e20089714856ee233b3902a591d0d5f2925"
        );
    }

    proptest::proptest! {
        #[test]
        fn store_key_matches_the_sha2_digest(bytes: [u8; 32]) {
            use sha2::Digest as _;
            let expected: [u8; 32] = sha2::Sha256::digest(bytes).into();
            let key = SessionId::from_bytes(bytes).store_key();
            proptest::prop_assert_eq!(key.as_bytes(), &expected);
        }
    }

    #[test]
    fn debug_never_shows_the_id() {
        let id = SessionId::from_bytes([0xab; 32]);
        let mut text = String::new();
        id.encode_into(&mut text);
        let shown = format!("{id:?} {:?}", id.store_key());
        assert!(!shown.contains(&text));
        assert!(!shown.contains("abab"));
    }
}
