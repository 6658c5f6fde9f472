//! Property test of the request path (load, then commit) under 100,000+
//! generated `Cookie` headers: nothing panics, and no forged or altered
//! value is ever accepted as a session.
//!
//! `PROPTEST_CASES=2000000 cargo test -p hyper-session --release --test fuzz_cookies`
//! runs it longer.

use std::sync::OnceLock;

use http::header::{HeaderMap, HeaderValue, COOKIE};
use hyper_session::{SessionConfig, Sessions};
use proptest::prelude::*;

const CONFIG: SessionConfig = SessionConfig::DEFAULT;
/// Cases per property (three properties: 150,000 headers), or `PROPTEST_CASES`.
fn cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(if cfg!(debug_assertions) {
            10_000
        } else {
            50_000
        })
}

struct Fixture {
    runtime: tokio::runtime::Runtime,
    sessions: Sessions,
    /// A genuine cookie value, `id.tag`, of a stored session.
    genuine: String,
}

fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .expect("runtime");
        let sessions = Sessions::builder()
            .secret("fuzzing secret, thirty-two bytes or more")
            .build()
            .expect("manager");
        let genuine = runtime.block_on(async {
            let mut s = sessions
                .load(&CONFIG, &HeaderMap::new())
                .await
                .expect("load");
            s.insert("user", "ada").expect("fits");
            let set = sessions
                .commit(&CONFIG, s)
                .await
                .expect("commit")
                .expect("cookie");
            let cookie = hyper_session::__bench::cookie_header(&set);
            let pair = cookie[COOKIE].to_str().expect("ascii");
            pair.strip_prefix("sid=").expect("our cookie").to_owned()
        });
        Fixture {
            runtime,
            sessions,
            genuine,
        }
    })
}

/// Runs the whole path for `header`; returns whether a stored session was
/// accepted. Never panics unless the library does.
fn accepted(header: &[u8]) -> bool {
    let value = HeaderValue::from_bytes(header).expect("the generators make valid header values");
    let f = fixture();
    let mut headers = HeaderMap::new();
    headers.append(COOKIE, value);
    f.runtime.block_on(async {
        let session = f
            .sessions
            .load(&CONFIG, &headers)
            .await
            .expect("the memory store does not fail");
        let accepted = !session.is_new();
        if !accepted {
            assert!(session.is_empty(), "a fresh session starts empty");
        }
        // Commit a read-only visit: writes nothing for a fresh session.
        let _ = session.contains("user");
        let cookie = f.sessions.commit(&CONFIG, session).await.expect("commit");
        assert!(cookie.is_none(), "a read-only visit sets no cookie");
        accepted
    })
}

#[derive(Debug, Clone)]
enum Mutation {
    Replace(usize, u8),
    Delete(usize),
    Insert(usize, u8),
    Truncate(usize),
    Append(Vec<u8>),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    let byte = header_byte();
    prop_oneof![
        (0..87usize, byte.clone()).prop_map(|(i, b)| Mutation::Replace(i, b)),
        (0..87usize).prop_map(Mutation::Delete),
        (0..88usize, byte.clone()).prop_map(|(i, b)| Mutation::Insert(i, b)),
        (0..87usize).prop_map(Mutation::Truncate),
        proptest::collection::vec(byte, 1..8).prop_map(Mutation::Append),
    ]
}

/// A byte `HeaderValue` accepts (visible ASCII, space, tab, obs-text), so
/// that every generated header reaches the library.
fn header_byte() -> impl Strategy<Value = u8> + Clone {
    prop_oneof![
        8 => proptest::sample::select(
            b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.=+/ ;\"".to_vec()
        ),
        1 => 0x20u8..0x7f,
        1 => 0x80u8..=0xff,
        1 => Just(b'\t'),
    ]
}

/// A `Cookie` header of 1 to 6 pairs, most of them named like ours (in
/// several spellings), with values of header-valid bytes: what an
/// attacker can send, and all of it reaches the cookie parser.
fn cookie_header() -> impl Strategy<Value = Vec<u8>> {
    let name = prop_oneof![
        4 => Just(b"sid".to_vec()),
        1 => Just(b" sid ".to_vec()),
        1 => Just(b"SID".to_vec()),
        1 => proptest::collection::vec(header_byte(), 0..6),
    ];
    let value = prop_oneof![
        // Genuine-length values: the parser gets as far as base64 and the tag.
        2 => proptest::collection::vec(header_byte(), 87..=87),
        2 => proptest::collection::vec(header_byte(), 0..100),
        1 => proptest::collection::vec(header_byte(), 200..400),
    ];
    let pair = (name, value).prop_map(|(n, v)| [n, b"=".to_vec(), v].concat());
    proptest::collection::vec(pair, 1..6).prop_map(|pairs| pairs.join(&b"; "[..]))
}

/// `altered` with a change the cookie parser cannot ignore: if the
/// mutation only touched what RFC 6265 drops (after `;`, surrounding
/// whitespace), flip the first character as well.
fn real_alteration(genuine: &str, mut altered: Vec<u8>) -> Vec<u8> {
    let effective = altered
        .split(|b| *b == b';')
        .next()
        .unwrap_or_default()
        .trim_ascii();
    if effective == genuine.as_bytes() {
        let first = altered
            .iter()
            .position(|b| !b.is_ascii_whitespace())
            .unwrap_or(0);
        altered[first] = if altered[first] == b'A' { b'B' } else { b'A' };
    }
    altered
}

fn apply(value: &str, m: &Mutation) -> Vec<u8> {
    let mut v = value.as_bytes().to_vec();
    match m {
        Mutation::Replace(i, b) => v[*i] = *b,
        Mutation::Delete(i) => {
            v.remove(*i);
        }
        Mutation::Insert(i, b) => v.insert(*i, *b),
        Mutation::Truncate(n) => v.truncate(*n),
        Mutation::Append(extra) => v.extend_from_slice(extra),
    }
    v
}

#[test]
fn the_genuine_cookie_is_accepted() {
    let f = fixture();
    assert!(accepted(format!("sid={}", f.genuine).as_bytes()));
    assert!(accepted(format!("a=1; sid={}; b=2", f.genuine).as_bytes()));
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: cases(),
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    /// Any cookie header a client can send: no panic, and nothing accepted
    /// unless it carries the genuine value verbatim (which generated bytes
    /// never do).
    #[test]
    fn arbitrary_headers_never_panic(header in cookie_header()) {
        let genuine = &fixture().genuine;
        let carries = header.windows(genuine.len()).any(|w| w == genuine.as_bytes());
        prop_assert!(!accepted(&header) || carries);
    }

    /// Every alteration of a genuine value is refused.
    #[test]
    fn altered_values_are_never_accepted(m in mutation(), prefix in "[a-z]{0,3}(=[a-z0-9]{0,4}; )?") {
        let genuine = &fixture().genuine;
        // RFC 6265 ends a value at `;` and ignores whitespace around it:
        // a change there leaves the same cookie, so make it a real one.
        let altered = real_alteration(genuine, apply(genuine, &m));
        let mut header = format!("{prefix}sid=").into_bytes();
        header.extend_from_slice(&altered);
        prop_assert!(!accepted(&header), "accepted an altered value: {:?}", String::from_utf8_lossy(&altered));
    }

    /// The genuine value under another cookie name is refused.
    #[test]
    fn moved_values_are_never_accepted(name in "[a-zA-Z_]{1,8}") {
        prop_assume!(name != "sid");
        let header = format!("{name}={}", fixture().genuine);
        prop_assert!(!accepted(header.as_bytes()));
    }
}
