//! Reading our cookie from a request and writing `Set-Cookie`.

use http::header::{HeaderMap, HeaderValue, COOKIE};

use crate::base64url::{decode_32, encode_32_ascii};
use crate::config::{SameSite, SessionConfig};
use crate::id::{SessionId, ID_B64_LEN, ID_LEN};
use crate::signing::{Keys, Verified, TAG_LEN};

/// How many values of our cookie name a request may have checked: an
/// attacker who can plant cookies for the host (cookie tossing) adds one
/// value, a browser sends one; more only costs HMAC work.
pub(crate) const MAX_PRESENTED: usize = 4;

/// What the request's cookies said about the session: the genuine ids among
/// the first [`MAX_PRESENTED`] values of our cookie, in the order sent.
#[derive(Debug, Default)]
pub(crate) struct Presented {
    valid: [Option<(SessionId, Verified)>; MAX_PRESENTED],
    /// Values of our cookie that did not verify: forged, altered, garbage, too long.
    pub(crate) invalid: usize,
}

/// The genuine ids of a [`Presented`], in order.
pub(crate) type Valid<'a> = std::iter::Flatten<std::slice::Iter<'a, Option<(SessionId, Verified)>>>;

impl Presented {
    /// The genuine ids, in the order the request sent them.
    pub(crate) fn valid(&self) -> Valid<'_> {
        self.valid.iter().flatten()
    }

    /// Whether the request carried any value of our cookie.
    pub(crate) fn any(&self) -> bool {
        self.invalid > 0 || self.valid[0].is_some()
    }
}

/// Length of `id.tag`.
const VALUE_LEN: usize = ID_B64_LEN + 1 + ID_B64_LEN;

/// Finds our cookie in every `Cookie` header (HTTP/2 sends one per cookie)
/// and checks the tags of its first [`MAX_PRESENTED`] values; later values
/// are ignored unchecked. Values longer than `max_len` are rejected before
/// any decoding.
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
    let mut presented = Presented::default();
    let mut seen = 0;
    let mut valid = 0;
    for header in headers.get_all(COOKIE) {
        for pair in pairs(header.as_bytes()) {
            let Some(eq) = pair.iter().position(|b| *b == b'=') else {
                continue;
            };
            if pair[..eq].trim_ascii() != name {
                continue;
            }
            if seen == MAX_PRESENTED {
                return presented;
            }
            seen += 1;
            let value = pair[eq + 1..].trim_ascii();
            match (value.len() <= max_len)
                .then(|| verify(value, config.cookie_name(), keys))
                .flatten()
            {
                Some((id, verified)) => {
                    presented.valid[valid] = Some((SessionId::from_bytes(id), verified));
                    valid += 1;
                }
                None => presented.invalid += 1,
            }
        }
    }
    presented
}

/// The `;`-separated pairs of a `Cookie` header, found with `memchr`: a
/// browser's header often carries hundreds of bytes of other cookies, and
/// a byte-at-a-time split was the largest cost of parsing
/// (`benches/instructions.rs`).
fn pairs(header: &[u8]) -> impl Iterator<Item = &[u8]> {
    let mut rest = Some(header);
    std::iter::from_fn(move || {
        let bytes = rest?;
        match memchr::memchr(b';', bytes) {
            Some(at) => {
                rest = Some(&bytes[at + 1..]);
                Some(&bytes[..at])
            }
            None => {
                rest = None;
                Some(bytes)
            }
        }
    })
}

fn verify(value: &[u8], name: &str, keys: &Keys) -> Option<([u8; ID_LEN], Verified)> {
    if value.len() != VALUE_LEN || value[ID_B64_LEN] != b'.' {
        return None;
    }
    let id = decode_32(&value[..ID_B64_LEN])?;
    let tag = decode_32(&value[ID_B64_LEN + 1..])?;
    keys.verify(name, &id, &tag).map(|v| (id, v))
}

/// The cookie value for `id`: `base64url(id) "." base64url(tag)`.
pub(crate) fn value(id: &SessionId, config: &SessionConfig, keys: &Keys) -> String {
    String::from_utf8(value_bytes(id, config, keys).to_vec()).unwrap_or_default()
}

fn value_bytes(id: &SessionId, config: &SessionConfig, keys: &Keys) -> [u8; VALUE_LEN] {
    let tag: [u8; TAG_LEN] = keys.sign(config.cookie_name(), id);
    let mut value = [b'.'; VALUE_LEN];
    value[..ID_B64_LEN].copy_from_slice(&encode_32_ascii(id.as_bytes()));
    value[ID_B64_LEN + 1..].copy_from_slice(&encode_32_ascii(&tag));
    value
}

/// The `Set-Cookie` that hands the browser `id`, signed with the newest key.
pub(crate) fn issue(config: &SessionConfig, id: &SessionId, keys: &Keys) -> HeaderValue {
    set_cookie_bytes(config, &value_bytes(id, config, keys), false)
}

/// The `Set-Cookie` that removes our cookie from the browser (`Max-Age=0`).
///
/// A removal repeats Path, Domain, Secure, HttpOnly and SameSite: browsers
/// ignore a removal whose path or domain differ from the cookie's.
pub(crate) fn removal(config: &SessionConfig) -> HeaderValue {
    set_cookie(config, "", true)
}

/// A `Set-Cookie` of our cookie with this `value`.
pub(crate) fn set_cookie(config: &SessionConfig, value: &str, remove: bool) -> HeaderValue {
    set_cookie_bytes(config, value.as_bytes(), remove)
}

/// Room on the stack for a whole `Set-Cookie`; a longer one (a long path
/// or domain) is written into a `Vec` instead.
const SET_COOKIE_ROOM: usize = 256;

/// Written into a buffer on the stack, which the header then copies once
/// at its exact length: a `Vec` with room to spare cost a shrinking
/// reallocation when it became the header's `Bytes`.
fn set_cookie_bytes(config: &SessionConfig, value: &[u8], remove: bool) -> HeaderValue {
    let mut buffer = [0u8; SET_COOKIE_ROOM];
    let mut rest: &mut [u8] = &mut buffer;
    let header = if write_set_cookie(&mut rest, config, value, remove).is_ok() {
        let len = SET_COOKIE_ROOM - rest.len();
        HeaderValue::from_bytes(&buffer[..len])
    } else {
        let mut out = Vec::new();
        let _ = write_set_cookie(&mut out, config, value, remove);
        HeaderValue::try_from(out)
    };
    // Only a config built without `validated()` could hold a forbidden
    // byte; such a cookie is dropped rather than sent malformed.
    header.unwrap_or_else(|_| HeaderValue::from_static(""))
}

/// Written by hand: every part was checked when the config was built (a
/// token name, path and domain without `;` or controls) and the value is
/// base64url, so there is nothing to escape, and the cookie crate's builder
/// cost four times as much (`benches/request_path.rs`, `set_cookie`).
/// Fails only when `out` is full.
fn write_set_cookie(
    out: &mut impl std::io::Write,
    config: &SessionConfig,
    value: &[u8],
    remove: bool,
) -> std::io::Result<()> {
    out.write_all(config.cookie_name().as_bytes())?;
    out.write_all(b"=")?;
    out.write_all(value)?;
    if config.http_only() {
        out.write_all(b"; HttpOnly")?;
    }
    out.write_all(match config.same_site() {
        SameSite::Strict => b"; SameSite=Strict",
        SameSite::Lax => b"; SameSite=Lax",
        SameSite::None => b"; SameSite=None",
    })?;
    if config.secure() {
        out.write_all(b"; Secure")?;
    }
    out.write_all(b"; Path=")?;
    out.write_all(config.path().as_bytes())?;
    if let Some(domain) = config.domain() {
        out.write_all(b"; Domain=")?;
        out.write_all(domain.as_bytes())?;
    }
    if remove {
        out.write_all(b"; Max-Age=0")?;
    } else if config.max_age() > 0 {
        write!(out, "; Max-Age={}", config.max_age())?;
    }
    Ok(())
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
        let presented = read(&h, &config, &keys(), 256);
        let valid: Vec<_> = presented.valid().collect();
        assert_eq!(valid.len(), 1);
        assert_eq!(valid[0].0, id);
        assert_eq!(valid[0].1, Verified::Current);
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
            let presented = read(&h, &config, &keys(), 256);
            assert_eq!(presented.valid().count(), 0, "{bad:.40}");
            assert_eq!(presented.invalid, 1, "{bad:.40}");
        }
        assert!(!read(&headers(&["other=1"]), &config, &keys(), 256).any());
        // A value signed for another cookie name does not transfer.
        let other = SessionConfig::DEFAULT.with_cookie_name("other");
        let h = headers(&[&format!("other={good}")]);
        assert_eq!(read(&h, &other, &keys(), 256).valid().count(), 0);
    }

    #[test]
    fn at_most_four_values_are_checked_in_order() {
        let config = SessionConfig::DEFAULT;
        let ids: Vec<_> = (1..=6).map(|b| SessionId::from_bytes([b; 32])).collect();
        let values: Vec<_> = ids.iter().map(|id| value(id, &config, &keys())).collect();
        let header = format!(
            "sid=forged; sid={}; sid={}; sid={}; sid={}",
            values[0], values[1], values[2], values[3]
        );
        let presented = read(&headers(&[&header]), &config, &keys(), 256);
        assert_eq!(presented.invalid, 1);
        let valid: Vec<_> = presented.valid().map(|(id, _)| id.clone()).collect();
        assert_eq!(valid, ids[..3], "the fifth value is not even looked at");
    }

    #[test]
    fn set_cookie_carries_every_attribute() {
        let config = SessionConfig::DEFAULT
            .with_domain("example.com")
            .with_path("/app")
            .with_max_age(60);
        let set = set_cookie(&config, "v", false)
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
        let removal = removal(&config).to_str().expect("ascii").to_owned();
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
        let session_cookie = set_cookie(&SessionConfig::DEFAULT, "v", false);
        assert!(!session_cookie.to_str().expect("ascii").contains("Max-Age"));
    }

    #[test]
    fn a_set_cookie_longer_than_the_stack_buffer_is_whole() {
        let path: &'static str = format!("/{}", "p".repeat(SET_COOKIE_ROOM)).leak();
        let config = SessionConfig::DEFAULT.with_path(path).with_max_age(60);
        let id = SessionId::from_bytes([3; 32]);
        let set = issue(&config, &id, &keys());
        let text = set.to_str().expect("ascii");
        assert!(text.len() > SET_COOKIE_ROOM, "{}", text.len());
        assert!(text.starts_with(&format!("sid={}", value(&id, &config, &keys()))));
        assert!(text.contains(&format!("; Path={path}")));
        assert!(text.ends_with("; Max-Age=60"), "{text}");
    }
}
