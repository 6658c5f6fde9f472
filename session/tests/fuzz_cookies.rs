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
        .unwrap_or(50_000)
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
            let pair = set
                .to_str()
                .expect("ascii")
                .split(';')
                .next()
                .expect("pair")
                .to_owned();
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
    let Ok(value) = HeaderValue::from_bytes(header) else {
        return false; // hyper would not deliver it either
    };
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
    let byte = prop_oneof![
        proptest::sample::select(
            b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.=+/ ;".to_vec()
        ),
        any::<u8>(),
    ];
    prop_oneof![
        (0..87usize, byte.clone()).prop_map(|(i, b)| Mutation::Replace(i, b)),
        (0..87usize).prop_map(Mutation::Delete),
        (0..88usize, byte.clone()).prop_map(|(i, b)| Mutation::Insert(i, b)),
        (0..87usize).prop_map(Mutation::Truncate),
        proptest::collection::vec(byte, 1..8).prop_map(Mutation::Append),
    ]
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

    /// Any header at all: no panic, and nothing accepted unless it carries
    /// the genuine value verbatim (which random bytes never do).
    #[test]
    fn arbitrary_headers_never_panic(header in proptest::collection::vec(any::<u8>(), 0..300)) {
        let genuine = &fixture().genuine;
        let carries = header.windows(genuine.len()).any(|w| w == genuine.as_bytes());
        prop_assert!(!accepted(&header) || carries);
    }

    /// Every alteration of a genuine value is refused.
    #[test]
    fn altered_values_are_never_accepted(m in mutation(), prefix in "[a-z]{0,3}(=[a-z0-9]{0,4}; )?") {
        let genuine = &fixture().genuine;
        let altered = apply(genuine, &m);
        // RFC 6265 ends a value at `;` and ignores whitespace around it:
        // such a change leaves the same cookie, not an altered one.
        let effective = altered.split(|b| *b == b';').next().unwrap_or_default().trim_ascii();
        prop_assume!(effective != genuine.as_bytes());
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
