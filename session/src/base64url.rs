//! Base64url without padding (RFC 4648 §5) for the two 32-byte halves of
//! our cookie value, by hand.
//!
//! Every request decodes two such values and every new cookie encodes two;
//! the `base64` crate's general engine spent about 500 instructions on each
//! decode (`benches/instructions.rs`), a fixed-size table walk spends a
//! fifth of that. Only canonical text decodes: 43 characters of the
//! alphabet whose last one leaves the two unused bits zero, so that each
//! value has exactly one spelling.

/// Characters of a 32-byte value.
pub(crate) const LEN_32: usize = 43;

const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/// A character's six bits already in place for the `at`-th character of a
/// four-character group (bits 23..18, 17..12, 11..6, 5..0), or bit 31 for a
/// character outside the alphabet: a group decodes with four lookups and
/// three ORs, and one more OR remembers whether any character was invalid.
const fn placed(at: u32) -> [u32; 256] {
    let mut table = [1 << 31; 256];
    let mut i = 0;
    while i < 64 {
        table[ALPHABET[i] as usize] = (i as u32) << (18 - 6 * at);
        i += 1;
    }
    table
}

const PLACED: [[u32; 256]; 4] = [placed(0), placed(1), placed(2), placed(3)];

/// Appends the 43 characters of `bytes` to `out`.
pub(crate) fn encode_32(bytes: &[u8; 32], out: &mut String) {
    // Every byte is from the ASCII alphabet, so this never falls back; one
    // copy, where pushing 43 chars one by one cost five times the encoding.
    out.push_str(std::str::from_utf8(&encode_32_ascii(bytes)).unwrap_or_default());
}

/// The two characters of each 12-bit value: a three-byte group encodes
/// with two lookups, where one lookup a character cost twice the
/// instructions (`benches/instructions.rs`, a new visitor's cookie).
const PAIRS: [[u8; 2]; 4096] = {
    let mut pairs = [[0; 2]; 4096];
    let mut n = 0;
    while n < 4096 {
        pairs[n] = [ALPHABET[n >> 6], ALPHABET[n & 63]];
        n += 1;
    }
    pairs
};

/// The 43 characters of `bytes`, as ASCII bytes: for a byte buffer (a
/// header being written), with no UTF-8 check to pay.
pub(crate) fn encode_32_ascii(bytes: &[u8; 32]) -> [u8; LEN_32] {
    let mut text = [0u8; LEN_32];
    // Six bytes (eight characters) a step, read as one big-endian word:
    // one load where byte by byte took six, and a third fewer instructions
    // a cookie (`benches/instructions.rs`, a new visitor's).
    for group in 0..5 {
        let (i, o) = (6 * group, 8 * group);
        let mut word = [0u8; 8];
        word.copy_from_slice(&bytes[i..i + 8]);
        // The top 48 bits are this group's; the last two bytes, the next.
        let n = u64::from_be_bytes(word) >> 16;
        for k in 0..4 {
            let at = o + 2 * k;
            [text[at], text[at + 1]] = PAIRS[(n >> (36 - 12 * k)) as usize & 0xFFF];
        }
    }
    // The last two bytes: 16 bits in three characters, two zero bits after.
    let n = usize::from(bytes[30]) << 10 | usize::from(bytes[31]) << 2;
    let [a, b] = PAIRS[n >> 6];
    text[40] = a;
    text[41] = b;
    text[42] = ALPHABET[n & 63];
    text
}

/// The 32 bytes of 43 canonical base64url characters, or `None`.
pub(crate) fn decode_32(text: &[u8]) -> Option<[u8; 32]> {
    let text: &[u8; LEN_32] = text.try_into().ok()?;
    let at = |i: usize, place: usize| PLACED[place][usize::from(text[i])];
    let mut out = [0u8; 32];
    let mut seen = 0u32;
    for group in 0..10 {
        let i = 4 * group;
        let n = at(i, 0) | at(i + 1, 1) | at(i + 2, 2) | at(i + 3, 3);
        seen |= n;
        out[3 * group] = (n >> 16) as u8;
        out[3 * group + 1] = (n >> 8) as u8;
        out[3 * group + 2] = n as u8;
    }
    // The last three characters: two bytes, then two bits that must be 0.
    let n = at(40, 0) | at(41, 1) | at(42, 2);
    seen |= n;
    out[30] = (n >> 16) as u8;
    out[31] = (n >> 8) as u8;
    (seen >> 31 == 0 && n & 0xFF == 0).then_some(out)
}

#[cfg(test)]
mod tests {
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use base64::Engine as _;
    use proptest::prelude::*;

    use super::*;

    proptest! {
        /// The same text as the reference implementation, and back.
        #[test]
        fn round_trips_as_the_base64_crate_does(bytes in proptest::array::uniform32(any::<u8>())) {
            let mut text = String::new();
            encode_32(&bytes, &mut text);
            prop_assert_eq!(&text, &URL_SAFE_NO_PAD.encode(bytes));
            prop_assert_eq!(decode_32(text.as_bytes()), Some(bytes));
        }

        /// Any 43 bytes: decoded exactly when the reference decodes them
        /// (it too refuses non-canonical trailing bits), to the same bytes.
        #[test]
        fn accepts_what_the_base64_crate_accepts(text in proptest::collection::vec(
            prop_oneof![Just(b'A'), Just(b'B'), Just(b'_'), Just(b'-'), Just(b'9'), Just(b'='), Just(b'+'), any::<u8>()],
            LEN_32,
        )) {
            let reference = URL_SAFE_NO_PAD.decode(&text).ok().and_then(|v| <[u8; 32]>::try_from(v).ok());
            prop_assert_eq!(decode_32(&text), reference);
        }
    }

    #[test]
    fn refuses_wrong_lengths_and_non_canonical_endings() {
        let mut text = String::new();
        encode_32(&[0xAB; 32], &mut text);
        assert!(decode_32(text.as_bytes()).is_some());
        assert!(decode_32(&text.as_bytes()[..42]).is_none());
        assert!(decode_32(format!("{text}A").as_bytes()).is_none());
        // The last character carries two unused bits; setting one makes a
        // second spelling of the same bytes, which is refused.
        let mut other = text.clone().into_bytes();
        let last = ALPHABET
            .iter()
            .position(|&c| c == other[42])
            .expect("in the alphabet");
        other[42] = ALPHABET[last | 1];
        assert!(decode_32(&other).is_none());
    }
}
