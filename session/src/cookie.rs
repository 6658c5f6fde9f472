//! Reading our cookie from a request and writing `Set-Cookie`.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use http::header::{HeaderMap, HeaderValue, COOKIE};

use crate::config::{SameSite, SessionConfig};
use crate::id::{SessionId, ID_B64_LEN, ID_LEN};
use crate::signing::{Keys, Verified, TAG_LEN};

/// What the request's cookies said about the session.
#[derive(Debug)]
pub(crate) enum Presented {
    /// No cookie of ours.
    Absent,
    /// A cookie of ours that did not verify: forged, altered, garbage, too long.
    Invalid,
    /// A genuine id, and which key vouched for it.
    Valid(SessionId, Verified),
}

/// Length of `id.tag`.
const VALUE_LEN: usize = ID_B64_LEN + 1 + ID_B64_LEN;

/// Finds our cookie in every `Cookie` header (HTTP/2 sends one per cookie)
/// and checks its tag. The first value that verifies wins; values longer
/// than `max_len` are rejected before any decoding.
///
/// Parsing is by hand, on bytes, without allocating: a request needs one
/// `name=value` pair out of the header, and a full cookie parser spent
/// more time than the HMAC check (measured in `benches/request_path.rs`).
/// As RFC 6265 says, pairs are split at `;` and whitespace around names and
/// values is ignored.
pub(crate) fn read(
    headers: &HeaderMap,
    config: &SessionConfig,
    keys: &Keys,
    max_len: usize,
) -> Presented {
    let name = config.cookie_name().as_bytes();
    let mut seen = false;
    for header in headers.get_all(COOKIE) {
        for pair in header.as_bytes().split(|b| *b == b';') {
            let Some(eq) = pair.iter().position(|b| *b == b'=') else {
                continue;
            };
            if pair[..eq].trim_ascii() != name {
                continue;
            }
            seen = true;
            let value = pair[eq + 1..].trim_ascii();
            if value.len() > max_len {
                continue;
            }
            if let Some((id, verified)) = verify(value, config.cookie_name(), keys) {
                return Presented::Valid(SessionId::from_bytes(id), verified);
            }
        }
    }
    if seen {
        Presented::Invalid
    } else {
        Presented::Absent
    }
}

fn verify(value: &[u8], name: &str, keys: &Keys) -> Option<([u8; ID_LEN], Verified)> {
    if value.len() != VALUE_LEN || value[ID_B64_LEN] != b'.' {
        return None;
    }
    let id = decode_32(&value[..ID_B64_LEN])?;
    let tag = decode_32(&value[ID_B64_LEN + 1..])?;
    keys.verify(name, &id, &tag).map(|v| (id, v))
}

/// Decodes 43 base64url characters into 32 bytes, on the stack.
/// The engine rejects non-canonical trailing bits, so each value has one spelling.
fn decode_32(text: &[u8]) -> Option<[u8; 32]> {
    // The engine's size estimate for 43 characters is 33 bytes.
    let mut buf = [0u8; 33];
    let n = URL_SAFE_NO_PAD.decode_slice(text, &mut buf).ok()?;
    (n == 32).then(|| {
        let mut out = [0u8; 32];
        out.copy_from_slice(&buf[..32]);
        out
    })
}

/// The cookie value for `id`: `base64url(id) "." base64url(tag)`.
pub(crate) fn value(id: &SessionId, config: &SessionConfig, keys: &Keys) -> String {
    let tag: [u8; TAG_LEN] = keys.sign(config.cookie_name(), id);
    let mut out = String::with_capacity(VALUE_LEN);
    id.encode_into(&mut out);
    out.push('.');
    URL_SAFE_NO_PAD.encode_string(tag, &mut out);
    out
}

/// `Set-Cookie` carrying `value`, or removing the cookie when `value` is `None`.
///
/// A removal repeats Path, Domain, Secure, HttpOnly and SameSite: browsers
/// ignore a removal whose path or domain differ from the cookie's.
///
/// Written by hand into one buffer: every part was checked when the config
/// was built (a token name, path and domain without `;` or controls) and the
/// value is base64url, so there is nothing to escape, and the cookie crate's
/// builder cost four times as much (`benches/request_path.rs`, `set_cookie`).
pub(crate) fn set_cookie(config: &SessionConfig, value: Option<&str>) -> HeaderValue {
    use std::fmt::Write as _;
    let name = config.cookie_name();
    let mut out = String::with_capacity(name.len() + VALUE_LEN + 96);
    out.push_str(name);
    out.push('=');
    out.push_str(value.unwrap_or(""));
    if config.http_only() {
        out.push_str("; HttpOnly");
    }
    out.push_str(match config.same_site() {
        SameSite::Strict => "; SameSite=Strict",
        SameSite::Lax => "; SameSite=Lax",
        SameSite::None => "; SameSite=None",
    });
    if config.secure() {
        out.push_str("; Secure");
    }
    out.push_str("; Path=");
    out.push_str(config.path());
    if let Some(domain) = config.domain() {
        out.push_str("; Domain=");
        out.push_str(domain);
    }
    match value {
        None => out.push_str("; Max-Age=0"),
        Some(_) if config.max_age() > 0 => {
            let _ = write!(out, "; Max-Age={}", config.max_age());
        }
        Some(_) => {}
    }
    // Only a config built without `validated()` could hold a forbidden
    // byte; such a cookie is dropped rather than sent malformed.
    HeaderValue::try_from(out).unwrap_or_else(|_| HeaderValue::from_static(""))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::signing::Secret;

    fn keys() -> Keys {
        Keys::new(&Secret::new([5u8; 32]).expect("32 bytes"), &[])
    }

    fn headers(cookies: &[&str]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for c in cookies {
            map.append(COOKIE, HeaderValue::from_str(c).expect("ascii"));
        }
        map
    }

    #[test]
    fn a_signed_value_round_trips_through_any_cookie_header() {
        let config = SessionConfig::DEFAULT;
        let id = SessionId::from_bytes([1; 32]);
        let value = value(&id, &config, &keys());
        assert_eq!(value.len(), VALUE_LEN);
        let h = headers(&["a=b", &format!("theme=dark; sid={value}")]);
        match read(&h, &config, &keys(), 256) {
            Presented::Valid(got, Verified::Current) => assert_eq!(got, id),
            other => panic!("expected a valid cookie, got {other:?}"),
        }
    }

    #[test]
    fn bad_values_are_invalid_and_missing_ones_absent() {
        let config = SessionConfig::DEFAULT;
        let good = value(&SessionId::from_bytes([1; 32]), &config, &keys());
        let mut altered = good.clone().into_bytes();
        altered[3] = if altered[3] == b'A' { b'B' } else { b'A' };
        let altered = String::from_utf8(altered).expect("ascii");
        for bad in [
            String::new(),
            "garbage".into(),
            altered,
            "x".repeat(10_000),
            format!("{good}A"),
        ] {
            let h = headers(&[&format!("sid={bad}")]);
            assert!(
                matches!(read(&h, &config, &keys(), 256), Presented::Invalid),
                "{bad:.40}"
            );
        }
        assert!(matches!(
            read(&headers(&["other=1"]), &config, &keys(), 256),
            Presented::Absent
        ));
        // A value signed for another cookie name does not transfer.
        let other = SessionConfig::DEFAULT.with_cookie_name("other");
        let h = headers(&[&format!("other={good}")]);
        assert!(matches!(read(&h, &other, &keys(), 256), Presented::Invalid));
    }

    #[test]
    fn set_cookie_carries_every_attribute() {
        let config = SessionConfig::DEFAULT
            .with_domain("example.com")
            .with_path("/app")
            .with_max_age(60);
        let set = set_cookie(&config, Some("v"))
            .to_str()
            .expect("ascii")
            .to_owned();
        for part in [
            "sid=v",
            "Path=/app",
            "Domain=example.com",
            "Secure",
            "HttpOnly",
            "SameSite=Lax",
            "Max-Age=60",
        ] {
            assert!(set.contains(part), "{set} lacks {part}");
        }
        let removal = set_cookie(&config, None)
            .to_str()
            .expect("ascii")
            .to_owned();
        for part in [
            "sid=",
            "Path=/app",
            "Domain=example.com",
            "Secure",
            "HttpOnly",
            "SameSite=Lax",
            "Max-Age=0",
        ] {
            assert!(removal.contains(part), "{removal} lacks {part}");
        }
        let session_cookie = set_cookie(&SessionConfig::DEFAULT, Some("v"));
        assert!(!session_cookie.to_str().expect("ascii").contains("Max-Age"));
    }
}
