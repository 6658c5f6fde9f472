//! SHA-256 driven block by block through `sha2`'s compression function,
//! for the short messages of a request: a store key (one block) and a
//! cookie's HMAC (two). The `Digest` and `Mac` interfaces around the same
//! compressions spent more on buffering, cloning and finalizing than the
//! rest of a tag, and that cost moved by a hundred instructions with the
//! compiler's inlining elsewhere (`benches/instructions.rs`).

use sha2::compress256;

/// A SHA-256 chaining state.
pub(crate) type State = [u32; 8];

/// The initial state (FIPS 180-4 §5.3.3).
pub(crate) const INITIAL: State = [
    0x6a09_e667,
    0xbb67_ae85,
    0x3c6e_f372,
    0xa54f_f53a,
    0x510e_527f,
    0x9b05_688c,
    0x1f83_d9ab,
    0x5be0_cd19,
];

/// Size of a block, in bytes.
pub(crate) const BLOCK: usize = 64;

/// Room for the message in its last block: the length takes the rest.
pub(crate) const LAST: usize = BLOCK - 8;

/// `state` after one whole block.
pub(crate) fn compress(mut state: State, block: &[u8; BLOCK]) -> State {
    compress256(&mut state, &[(*block).into()]);
    state
}

/// The digest of a message whose first `before` bytes (whole blocks) are
/// already in `state`, and whose rest is `parts`, one after the other:
/// the remaining blocks, then the padding of FIPS 180-4 §5.1.1 (a 1 bit,
/// zeros, the message's length in bits).
pub(crate) fn finish(mut state: State, before: u64, parts: &[&[u8]]) -> [u8; 32] {
    let mut block = [0u8; BLOCK];
    let mut fill = 0;
    let mut len = before;
    for part in parts {
        len += part.len() as u64;
        let mut rest = *part;
        while !rest.is_empty() {
            let n = rest.len().min(BLOCK - fill);
            block[fill..fill + n].copy_from_slice(&rest[..n]);
            (fill, rest) = (fill + n, &rest[n..]);
            if fill == BLOCK {
                state = compress(state, &block);
                fill = 0;
            }
        }
    }
    block[fill..].fill(0);
    if fill < LAST {
        return last_block(state, len - fill as u64, block, fill);
    }
    // No room left for the length: the 1 bit ends this block, and the
    // length is a block of its own.
    block[fill] = 0x80;
    state = compress(state, &block);
    let mut length = [0u8; BLOCK];
    length[LAST..].copy_from_slice(&len.wrapping_mul(8).to_be_bytes());
    to_bytes(compress(state, &length))
}

/// The digest of a message whose first `before` bytes (whole blocks) are
/// already in `state`, and whose last `len` bytes (fewer than [`LAST`])
/// open `block`, zeros after them: the padding is written in place, and
/// the block compressed once. The short messages of a request (an id, a
/// tag's inner and outer message) are built this way, without `finish`'s
/// general walk.
pub(crate) fn last_block(
    state: State,
    before: u64,
    mut block: [u8; BLOCK],
    len: usize,
) -> [u8; 32] {
    block[len] = 0x80;
    block[LAST..].copy_from_slice(&((before + len as u64) * 8).to_be_bytes());
    to_bytes(compress(state, &block))
}

/// A final state as the digest's bytes.
pub(crate) fn to_bytes(state: State) -> [u8; 32] {
    let mut digest = [0u8; 32];
    for (bytes, word) in digest.chunks_exact_mut(4).zip(state) {
        bytes.copy_from_slice(&word.to_be_bytes());
    }
    digest
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use sha2::{Digest, Sha256};

    #[test]
    fn fips_vectors() {
        // FIPS 180-4 examples: "abc", and the two-block message of 448 bits.
        let hex = |d: [u8; 32]| d.iter().map(|b| format!("{b:02x}")).collect::<String>();
        assert_eq!(
            hex(finish(INITIAL, 0, &[b"abc"])),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(
            hex(finish(
                INITIAL,
                0,
                &[
                    b"abcdbcdecdefdefgefghfghighij",
                    b"hijkijkljklmklmnlmnomnopnopq"
                ]
            )),
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"
        );
    }

    proptest! {
        /// Any message, cut into any parts, after any number of whole
        /// blocks: the same digest as `sha2`'s own interface.
        #[test]
        fn matches_sha2(
            prefix in proptest::collection::vec(any::<[u8; BLOCK]>(), 0..3),
            parts in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..150), 0..4),
        ) {
            let mut state = INITIAL;
            for block in &prefix {
                state = compress(state, block);
            }
            let slices: Vec<&[u8]> = parts.iter().map(Vec::as_slice).collect();
            let ours = finish(state, (prefix.len() * BLOCK) as u64, &slices);
            let mut reference = Sha256::new();
            for block in &prefix {
                reference.update(block);
            }
            for part in &parts {
                reference.update(part);
            }
            prop_assert_eq!(ours, <[u8; 32]>::from(reference.finalize()));
        }
    }
}
