//! Checks on the options, with the most precise span for each problem.
//!
//! With `config = PATH` the base values are unknown here, so checks that
//! combine options are left to the runtime's `SessionConfig::validated`,
//! which runs in a `static` initializer: still a compile error.

use crate::args::{Args, Errors, SameSite};

pub(crate) fn check(args: &Args, errors: &mut Errors) {
    if let Some(cookie) = &args.cookie {
        let name = cookie.value();
        if name.is_empty() || !name.bytes().all(is_token_byte) {
            errors.at(
                cookie.span(),
                "cookie name must be an RFC 6265 token: letters, digits and !#$%&'*+-.^_`|~ only, not empty",
            );
        }
    }
    if let Some(path) = &args.path {
        let value = path.value();
        if !value.starts_with('/') || !value.bytes().all(is_attribute_byte) {
            errors.at(
                path.span(),
                "cookie path must start with `/` and hold no `;` or control characters",
            );
        }
    }
    if let Some(domain) = &args.domain {
        let value = domain.value();
        if value.is_empty() || !value.bytes().all(is_attribute_byte) {
            errors.at(
                domain.span(),
                "cookie domain must be non-empty and hold no `;` or control characters",
            );
        }
    }
    for header in args.skip.iter().flat_map(|s| &s.value) {
        let name = header.name.value();
        if name.is_empty() || !name.bytes().all(is_token_byte) {
            errors.at(header.name.span(), "not a valid HTTP header name");
        }
        if let Some(value) = &header.value {
            if !value
                .value()
                .bytes()
                .all(|b| b == b'\t' || (b' '..0x7f).contains(&b))
            {
                errors.at(value.span(), "header values must be visible ASCII");
            }
        }
    }
    if args.config.is_none() {
        check_combinations(args, errors);
    }
}

/// Checks that need every option's final value; unset ones take the defaults.
fn check_combinations(args: &Args, errors: &mut Errors) {
    let secure = args.secure.as_ref().map_or(true, |s| s.value);
    if let Some(same_site) = &args.same_site {
        if same_site.value == SameSite::None && !secure {
            errors.at(
                same_site.span,
                "`same_site = \"none\"` needs `secure`: browsers drop SameSite=None cookies that are not Secure",
            );
        }
    }
    if let Some(cookie) = &args.cookie {
        let name = cookie.value();
        // Browsers match the prefixes in any letter case (RFC 6265bis).
        let lower = name.to_ascii_lowercase();
        if lower.starts_with("__host-") {
            let path_is_root = args.path.as_ref().map_or(true, |p| p.value() == "/");
            if !secure || !path_is_root || args.domain.is_some() {
                errors.at(
                    cookie.span(),
                    "a `__Host-` cookie needs `secure`, `path = \"/\"` and no `domain`",
                );
            }
        } else if lower.starts_with("__secure-") && !secure {
            errors.at(cookie.span(), "a `__Secure-` cookie needs `secure`");
        }
    }
    for timeout in [&args.idle_timeout, &args.absolute_timeout]
        .into_iter()
        .flatten()
    {
        if timeout.value == 0 {
            errors.at(timeout.span, "timeouts must be at least 1 second");
        }
    }
    let idle = args.idle_timeout.as_ref().map_or(DEFAULT_IDLE, |t| t.value);
    let absolute = args
        .absolute_timeout
        .as_ref()
        .map_or(DEFAULT_ABSOLUTE, |t| t.value);
    if idle > absolute {
        let span = args
            .idle_timeout
            .as_ref()
            .or(args.absolute_timeout.as_ref())
            .map(|t| t.span);
        if let Some(span) = span {
            errors.at(
                span,
                format!(
                    "`idle_timeout` ({idle} s) must not exceed `absolute_timeout` ({absolute} s)"
                ),
            );
        }
    }
}

/// Mirror `hyper_session::DEFAULT_IDLE_TIMEOUT` and `DEFAULT_ABSOLUTE_TIMEOUT`.
const DEFAULT_IDLE: u64 = 24 * 60 * 60;
const DEFAULT_ABSOLUTE: u64 = 7 * 24 * 60 * 60;

fn is_token_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

fn is_attribute_byte(b: u8) -> bool {
    (b' '..0x7f).contains(&b) && b != b';'
}
