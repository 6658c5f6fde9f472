//! The per-handler options: cookie attributes, timeouts and the skip header.
//!
//! `#[with_session(...)]` builds a [`SessionConfig`] in a `static`; everything
//! it does can be written by hand with the `with_*` methods, all `const fn`,
//! so a shared set of options is one `const` that many handlers name with
//! `config = PATH`.

/// The cookie's `SameSite` attribute.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SameSite {
    /// Sent only on same-site requests.
    Strict,
    /// Sent on same-site requests and top-level navigations (the default).
    Lax,
    /// Sent everywhere; browsers demand `Secure` with it.
    None,
}

/// A request header whose presence turns session handling off for that request.
///
/// The seed's `skip_session_header`: health checks and internal probes carry
/// it, and their handler gets a detached session that loads, saves and sets
/// nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SkipHeader {
    name: &'static str,
    value: Option<&'static str>,
}

impl SkipHeader {
    /// Skip when the header `name` is present, whatever its value.
    pub const fn any(name: &'static str) -> Self {
        Self { name, value: None }
    }

    /// Skip when the header `name` carries exactly `value`.
    pub const fn exact(name: &'static str, value: &'static str) -> Self {
        Self {
            name,
            value: Some(value),
        }
    }

    pub(crate) fn matches(&self, headers: &http::HeaderMap) -> bool {
        let mut values = headers.get_all(self.name).iter();
        match self.value {
            None => values.next().is_some(),
            Some(wanted) => values.any(|v| v.as_bytes() == wanted.as_bytes()),
        }
    }
}

/// Default inactivity limit: 24 hours.
pub(crate) const DEFAULT_IDLE_TIMEOUT: u64 = 24 * 60 * 60;
/// Default lifetime limit since creation: 7 days.
pub(crate) const DEFAULT_ABSOLUTE_TIMEOUT: u64 = 7 * 24 * 60 * 60;
/// Longest duration any option accepts: 400 days, the cap browsers put on cookies.
pub(crate) const MAX_DURATION: u64 = 400 * 24 * 60 * 60;

/// Session options for one handler, fixed at compile time.
///
/// # Example
///
/// The same options as
/// `#[with_session(cookie = "app", secure = false, max_age = 3600)]`:
///
/// ```
/// use hyper_session::{SameSite, SessionConfig};
///
/// const APP: SessionConfig = SessionConfig::DEFAULT
///     .with_cookie_name("app")
///     .with_secure(false)
///     .with_max_age(3600)
///     .validated();
///
/// assert_eq!(APP.cookie_name(), "app");
/// assert_eq!(APP.same_site(), SameSite::Lax);
/// ```
///
/// A bad combination is a compile error when the value is a `const`:
///
/// ```compile_fail
/// use hyper_session::{SameSite, SessionConfig};
/// const BAD: SessionConfig = SessionConfig::DEFAULT
///     .with_same_site(SameSite::None)
///     .with_secure(false)
///     .validated();
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionConfig {
    cookie_name: &'static str,
    path: &'static str,
    domain: Option<&'static str>,
    secure: bool,
    http_only: bool,
    same_site: SameSite,
    max_age: u64,
    idle_timeout: u64,
    absolute_timeout: u64,
    renew_after: u64,
    skip: &'static [SkipHeader],
}

impl Default for SessionConfig {
    fn default() -> Self {
        Self::DEFAULT
    }
}

impl SessionConfig {
    /// Default idle timeout: 24 hours, in seconds.
    pub const DEFAULT_IDLE_TIMEOUT: u64 = DEFAULT_IDLE_TIMEOUT;
    /// Default absolute timeout: 7 days, in seconds.
    pub const DEFAULT_ABSOLUTE_TIMEOUT: u64 = DEFAULT_ABSOLUTE_TIMEOUT;
    /// Longest duration any option accepts: 400 days, in seconds (the
    /// longest cookie lifetime browsers keep).
    pub const MAX_DURATION: u64 = MAX_DURATION;

    /// The seed's defaults: cookie `sid`, path `/`, no domain, `Secure`,
    /// `HttpOnly`, `SameSite=Lax`, a browser-session cookie (`max_age = 0`),
    /// 24 h idle and 7 days absolute timeouts, no id renewal, no skip header.
    pub const DEFAULT: Self = Self {
        cookie_name: "sid",
        path: "/",
        domain: None,
        secure: true,
        http_only: true,
        same_site: SameSite::Lax,
        max_age: 0,
        idle_timeout: DEFAULT_IDLE_TIMEOUT,
        absolute_timeout: DEFAULT_ABSOLUTE_TIMEOUT,
        renew_after: 0,
        skip: &[],
    };

    /// Sets the cookie name (`cookie = "..."`).
    pub const fn with_cookie_name(mut self, name: &'static str) -> Self {
        self.cookie_name = name;
        self
    }
    /// Sets the cookie `Path` (`path = "..."`).
    pub const fn with_path(mut self, path: &'static str) -> Self {
        self.path = path;
        self
    }
    /// Sets the cookie `Domain` (`domain = "..."`).
    pub const fn with_domain(mut self, domain: &'static str) -> Self {
        self.domain = Some(domain);
        self
    }
    /// Sets `Secure` (`secure = bool`).
    pub const fn with_secure(mut self, secure: bool) -> Self {
        self.secure = secure;
        self
    }
    /// Sets `HttpOnly` (`http_only = bool`).
    pub const fn with_http_only(mut self, http_only: bool) -> Self {
        self.http_only = http_only;
        self
    }
    /// Sets `SameSite` (`same_site = "lax" | "strict" | "none"`).
    pub const fn with_same_site(mut self, same_site: SameSite) -> Self {
        self.same_site = same_site;
        self
    }
    /// Sets the cookie's `Max-Age` in seconds; 0 means a browser-session cookie
    /// (`max_age = N`). A non-zero value also bounds the session on the server.
    pub const fn with_max_age(mut self, seconds: u64) -> Self {
        self.max_age = seconds;
        self
    }
    /// Ends a session after this many seconds without a request (`idle_timeout = N`).
    pub const fn with_idle_timeout(mut self, seconds: u64) -> Self {
        self.idle_timeout = seconds;
        self
    }
    /// Ends a session this many seconds after it was created, active or not
    /// (`absolute_timeout = N`).
    pub const fn with_absolute_timeout(mut self, seconds: u64) -> Self {
        self.absolute_timeout = seconds;
        self
    }
    /// Gives a session a new id, data kept, once its id is this many seconds
    /// old; 0 turns renewal off (`renew_after = N`).
    pub const fn with_renew_after(mut self, seconds: u64) -> Self {
        self.renew_after = seconds;
        self
    }
    /// Requests carrying any of these headers skip sessions
    /// (`skip_session_header = ...`).
    pub const fn with_skip_headers(mut self, skip: &'static [SkipHeader]) -> Self {
        self.skip = skip;
        self
    }

    /// The cookie name.
    pub const fn cookie_name(&self) -> &'static str {
        self.cookie_name
    }
    /// The cookie `Path`.
    pub const fn path(&self) -> &'static str {
        self.path
    }
    /// The cookie `Domain`, if any.
    pub const fn domain(&self) -> Option<&'static str> {
        self.domain
    }
    /// Whether the cookie is `Secure`.
    pub const fn secure(&self) -> bool {
        self.secure
    }
    /// Whether the cookie is `HttpOnly`.
    pub const fn http_only(&self) -> bool {
        self.http_only
    }
    /// The cookie's `SameSite`.
    pub const fn same_site(&self) -> SameSite {
        self.same_site
    }
    /// The cookie's `Max-Age` in seconds, 0 for a browser-session cookie.
    pub const fn max_age(&self) -> u64 {
        self.max_age
    }
    /// The inactivity limit in seconds.
    pub const fn idle_timeout(&self) -> u64 {
        self.idle_timeout
    }
    /// The lifetime limit in seconds.
    pub const fn absolute_timeout(&self) -> u64 {
        self.absolute_timeout
    }
    /// The id renewal age in seconds, 0 when off.
    pub const fn renew_after(&self) -> u64 {
        self.renew_after
    }
    /// The skip headers.
    pub const fn skip_headers(&self) -> &'static [SkipHeader] {
        self.skip
    }

    /// Checks the options; see [`InvalidConfig`] for what is refused.
    ///
    /// # Errors
    ///
    /// The first problem found.
    pub const fn check(&self) -> Result<(), InvalidConfig> {
        let name = self.cookie_name.as_bytes();
        if name.is_empty() || !is_token(name) {
            return Err(InvalidConfig::CookieNameNotToken);
        }
        if matches!(self.same_site, SameSite::None) && !self.secure {
            return Err(InvalidConfig::SameSiteNoneNeedsSecure);
        }
        if starts_with_ignore_case(name, b"__host-")
            && (!self.secure || self.domain.is_some() || !eq(self.path.as_bytes(), b"/"))
        {
            return Err(InvalidConfig::HostPrefix);
        }
        if starts_with_ignore_case(name, b"__secure-") && !self.secure {
            return Err(InvalidConfig::SecurePrefix);
        }
        if !is_cookie_attribute(self.path.as_bytes()) || !starts_with(self.path.as_bytes(), b"/") {
            return Err(InvalidConfig::BadPath);
        }
        if let Some(domain) = self.domain {
            if domain.is_empty() || !is_cookie_attribute(domain.as_bytes()) {
                return Err(InvalidConfig::BadDomain);
            }
        }
        if self.max_age > MAX_DURATION
            || self.idle_timeout > MAX_DURATION
            || self.absolute_timeout > MAX_DURATION
            || self.renew_after > MAX_DURATION
        {
            return Err(InvalidConfig::DurationTooLong);
        }
        if self.idle_timeout == 0 || self.absolute_timeout == 0 {
            return Err(InvalidConfig::ZeroTimeout);
        }
        if self.idle_timeout > self.absolute_timeout {
            return Err(InvalidConfig::IdleAboveAbsolute);
        }
        let mut i = 0;
        while i < self.skip.len() {
            let header = &self.skip[i];
            if header.name.is_empty() || !is_token(header.name.as_bytes()) {
                return Err(InvalidConfig::BadSkipHeader);
            }
            if let Some(value) = header.value {
                if !is_header_value(value.as_bytes()) {
                    return Err(InvalidConfig::BadSkipHeader);
                }
            }
            i += 1;
        }
        Ok(())
    }

    /// Returns `self` if [`check`](Self::check) passes, else panics with the
    /// problem; in a `const` or `static` that panic is a compile error.
    ///
    /// # Panics
    ///
    /// When the options are inconsistent.
    pub const fn validated(self) -> Self {
        match self.check() {
            Ok(()) => self,
            Err(problem) => panic!("{}", problem.message()),
        }
    }
}

/// Why a [`SessionConfig`] was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum InvalidConfig {
    /// The cookie name is empty or not an RFC 6265 token.
    CookieNameNotToken,
    /// `SameSite=None` without `Secure`: browsers drop such cookies.
    SameSiteNoneNeedsSecure,
    /// A `__Host-` cookie needs `Secure`, `Path=/` and no `Domain`.
    HostPrefix,
    /// A `__Secure-` cookie needs `Secure`.
    SecurePrefix,
    /// The path does not start with `/` or holds `;` or control characters.
    BadPath,
    /// The domain is empty or holds `;` or control characters.
    BadDomain,
    /// A duration is above [`SessionConfig::MAX_DURATION`].
    DurationTooLong,
    /// `idle_timeout` or `absolute_timeout` is zero.
    ZeroTimeout,
    /// `idle_timeout` is larger than `absolute_timeout`.
    IdleAboveAbsolute,
    /// A skip header name is not an HTTP token, or its value is not visible ASCII.
    BadSkipHeader,
}

impl InvalidConfig {
    /// What is wrong and how to fix it.
    pub const fn message(self) -> &'static str {
        match self {
            Self::CookieNameNotToken => "the cookie name must be a non-empty RFC 6265 token: letters, digits and !#$%&'*+-.^_`|~ only",
            Self::SameSiteNoneNeedsSecure => "`same_site = \"none\"` needs `secure`: browsers drop SameSite=None cookies that are not Secure",
            Self::HostPrefix => "a `__Host-` cookie needs `secure`, `path = \"/\"` and no `domain`",
            Self::SecurePrefix => "a `__Secure-` cookie needs `secure`",
            Self::BadPath => "the cookie path must start with `/` and hold no `;` or control characters",
            Self::BadDomain => "the cookie domain must be non-empty and hold no `;` or control characters",
            Self::DurationTooLong => "durations are limited to 400 days (34560000 seconds), the longest cookie lifetime browsers keep",
            Self::ZeroTimeout => "`idle_timeout` and `absolute_timeout` must be at least 1 second",
            Self::IdleAboveAbsolute => "`idle_timeout` must not exceed `absolute_timeout`",
            Self::BadSkipHeader => {
                "a skip header name must be an HTTP token and its value visible ASCII"
            }
        }
    }
}

impl std::fmt::Display for InvalidConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.message())
    }
}

impl std::error::Error for InvalidConfig {}

/// RFC 6265 `token`: visible ASCII except separators.
const fn is_token(bytes: &[u8]) -> bool {
    let mut i = 0;
    while i < bytes.len() {
        let c = bytes[i];
        let separator = matches!(
            c,
            b'(' | b')'
                | b'<'
                | b'>'
                | b'@'
                | b','
                | b';'
                | b':'
                | b'\\'
                | b'"'
                | b'/'
                | b'['
                | b']'
                | b'?'
                | b'='
                | b'{'
                | b'}'
        );
        if c <= b' ' || c >= 0x7f || separator {
            return false;
        }
        i += 1;
    }
    true
}

/// A header value: visible ASCII, spaces and tabs.
const fn is_header_value(bytes: &[u8]) -> bool {
    let mut i = 0;
    while i < bytes.len() {
        let c = bytes[i];
        if (c < b' ' && c != b'\t') || c >= 0x7f {
            return false;
        }
        i += 1;
    }
    true
}

/// An attribute value may hold anything visible but `;`.
const fn is_cookie_attribute(bytes: &[u8]) -> bool {
    let mut i = 0;
    while i < bytes.len() {
        let c = bytes[i];
        if c < b' ' || c >= 0x7f || c == b';' {
            return false;
        }
        i += 1;
    }
    true
}

/// Whether `bytes` starts with the lower-case ASCII `prefix`, in any case:
/// browsers treat `__HOST-` like `__Host-`.
const fn starts_with_ignore_case(bytes: &[u8], prefix: &[u8]) -> bool {
    if bytes.len() < prefix.len() {
        return false;
    }
    let mut i = 0;
    while i < prefix.len() {
        if bytes[i].to_ascii_lowercase() != prefix[i] {
            return false;
        }
        i += 1;
    }
    true
}

const fn starts_with(bytes: &[u8], prefix: &[u8]) -> bool {
    if bytes.len() < prefix.len() {
        return false;
    }
    let mut i = 0;
    while i < prefix.len() {
        if bytes[i] != prefix[i] {
            return false;
        }
        i += 1;
    }
    true
}

const fn eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && starts_with(a, b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_the_seeds() {
        let c = SessionConfig::DEFAULT;
        assert_eq!(c.cookie_name(), "sid");
        assert!(c.secure() && c.http_only());
        assert_eq!(c.max_age(), 0);
        assert_eq!(c.check(), Ok(()));
    }

    #[test]
    fn bad_combinations_are_refused() {
        const BAD_NAME: &[SkipHeader] = &[SkipHeader::any("x probe")];
        const BAD_VALUE: &[SkipHeader] = &[SkipHeader::exact("x-probe", "a\nb")];
        let d = SessionConfig::DEFAULT;
        let cases = [
            (d.with_cookie_name("a b"), InvalidConfig::CookieNameNotToken),
            (d.with_cookie_name(""), InvalidConfig::CookieNameNotToken),
            (d.with_cookie_name("a=b"), InvalidConfig::CookieNameNotToken),
            (
                d.with_same_site(SameSite::None).with_secure(false),
                InvalidConfig::SameSiteNoneNeedsSecure,
            ),
            (
                d.with_cookie_name("__Host-x").with_path("/a"),
                InvalidConfig::HostPrefix,
            ),
            (
                d.with_cookie_name("__HOST-x").with_secure(false),
                InvalidConfig::HostPrefix,
            ),
            (
                d.with_cookie_name("__Host-x").with_domain("a.b"),
                InvalidConfig::HostPrefix,
            ),
            (
                d.with_cookie_name("__Secure-x").with_secure(false),
                InvalidConfig::SecurePrefix,
            ),
            (d.with_path("a"), InvalidConfig::BadPath),
            (d.with_path("/;x"), InvalidConfig::BadPath),
            (d.with_domain(""), InvalidConfig::BadDomain),
            (
                d.with_max_age(MAX_DURATION + 1),
                InvalidConfig::DurationTooLong,
            ),
            (d.with_idle_timeout(0), InvalidConfig::ZeroTimeout),
            (
                d.with_idle_timeout(100).with_absolute_timeout(50),
                InvalidConfig::IdleAboveAbsolute,
            ),
            (d.with_skip_headers(BAD_NAME), InvalidConfig::BadSkipHeader),
            (d.with_skip_headers(BAD_VALUE), InvalidConfig::BadSkipHeader),
        ];
        for (config, problem) in cases {
            assert_eq!(config.check(), Err(problem), "{config:?}");
        }
        assert_eq!(d.with_cookie_name("__Host-x").check(), Ok(()));
    }

    #[test]
    fn skip_headers_match_name_or_exact_value() {
        let mut headers = http::HeaderMap::new();
        headers.insert("x-probe", http::HeaderValue::from_static("yes"));
        assert!(SkipHeader::any("x-probe").matches(&headers));
        assert!(SkipHeader::exact("x-probe", "yes").matches(&headers));
        assert!(!SkipHeader::exact("x-probe", "no").matches(&headers));
        assert!(!SkipHeader::any("x-other").matches(&headers));
    }
}
