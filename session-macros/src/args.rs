//! Parsing the attribute's options, keeping every literal's span.

use proc_macro2::Span;
use syn::meta::ParseNestedMeta;
use syn::spanned::Spanned as _;
use syn::{Expr, ExprLit, Lit, LitBool, LitStr};

/// Every option, in the order the docs list them.
pub(crate) const KNOWN: &[&str] = &[
    "cookie",
    "path",
    "domain",
    "secure",
    "http_only",
    "same_site",
    "max_age",
    "idle_timeout",
    "absolute_timeout",
    "renew_after",
    "skip_session_header",
    "config",
    "manager",
    "on_error",
    "crate",
];

/// Longest accepted duration: 400 days, the cap browsers put on cookies.
/// Mirrors `hyper_session::MAX_DURATION`.
pub(crate) const MAX_DURATION: u64 = 400 * 24 * 60 * 60;

/// A value and where the user wrote it.
#[derive(Clone)]
pub(crate) struct Spanned<T> {
    pub(crate) value: T,
    pub(crate) span: Span,
}

#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum SameSite {
    Strict,
    Lax,
    None,
}

pub(crate) struct SkipHeader {
    pub(crate) name: LitStr,
    pub(crate) value: Option<LitStr>,
}

#[derive(Default)]
pub(crate) struct Args {
    pub(crate) cookie: Option<LitStr>,
    pub(crate) path: Option<LitStr>,
    pub(crate) domain: Option<LitStr>,
    pub(crate) secure: Option<Spanned<bool>>,
    pub(crate) http_only: Option<Spanned<bool>>,
    pub(crate) same_site: Option<Spanned<SameSite>>,
    pub(crate) max_age: Option<Spanned<u64>>,
    pub(crate) idle_timeout: Option<Spanned<u64>>,
    pub(crate) absolute_timeout: Option<Spanned<u64>>,
    pub(crate) renew_after: Option<Spanned<u64>>,
    pub(crate) skip: Option<Spanned<Vec<SkipHeader>>>,
    pub(crate) config: Option<syn::Path>,
    pub(crate) manager: Option<Expr>,
    pub(crate) on_error: Option<syn::Path>,
    pub(crate) krate: Option<syn::Path>,
}

/// Collects every problem instead of stopping at the first.
#[derive(Default)]
pub(crate) struct Errors(Option<syn::Error>);

impl Errors {
    pub(crate) fn push(&mut self, error: syn::Error) {
        match &mut self.0 {
            Some(all) => all.combine(error),
            None => self.0 = Some(error),
        }
    }

    pub(crate) fn at(&mut self, span: Span, message: impl std::fmt::Display) {
        self.push(syn::Error::new(span, message));
    }

    /// An error covering all of `tokens`, not only their first token.
    pub(crate) fn on(&mut self, tokens: impl quote::ToTokens, message: impl std::fmt::Display) {
        self.push(syn::Error::new_spanned(tokens, message));
    }

    pub(crate) fn finish(self) -> Result<(), syn::Error> {
        self.0.map_or(Ok(()), Err)
    }
}

impl Args {
    /// Handles one `name` or `name = value` option.
    pub(crate) fn parse_one(
        &mut self,
        meta: &ParseNestedMeta<'_>,
        errors: &mut Errors,
    ) -> syn::Result<()> {
        let Some(ident) = meta.path.get_ident() else {
            errors.at(meta.path.span(), unknown_message("this"));
            return skip_value(meta);
        };
        let name = ident.to_string();
        let span = ident.span();
        // A bare flag (`http_only`) means `= true`, only for booleans.
        let has_value = meta.input.peek(syn::Token![=]);
        let value: Option<Expr> = if has_value {
            Some(meta.value()?.parse()?)
        } else {
            None
        };
        let Some(value) = value else {
            match name.as_str() {
                "secure" => set_once(
                    &mut self.secure,
                    Spanned { value: true, span },
                    &name,
                    errors,
                ),
                "http_only" => set_once(
                    &mut self.http_only,
                    Spanned { value: true, span },
                    &name,
                    errors,
                ),
                _ if KNOWN.contains(&name.as_str()) => {
                    errors.at(span, format!("`{name}` needs a value: `{name} = ...`"))
                }
                _ => errors.at(span, unknown_message(&name)),
            }
            return Ok(());
        };
        match name.as_str() {
            "cookie" => str_option(&mut self.cookie, &value, &name, errors),
            "path" => str_option(&mut self.path, &value, &name, errors),
            "domain" => str_option(&mut self.domain, &value, &name, errors),
            "secure" => bool_option(&mut self.secure, &value, &name, errors),
            "http_only" => bool_option(&mut self.http_only, &value, &name, errors),
            "same_site" => {
                if let Some(lit) = lit_str(&value, &name, errors) {
                    let parsed = match lit.value().to_ascii_lowercase().as_str() {
                        "strict" => Some(SameSite::Strict),
                        "lax" => Some(SameSite::Lax),
                        "none" => Some(SameSite::None),
                        _ => None,
                    };
                    match parsed {
                        Some(v) => set_once(
                            &mut self.same_site,
                            Spanned {
                                value: v,
                                span: lit.span(),
                            },
                            &name,
                            errors,
                        ),
                        None => errors.at(
                            lit.span(),
                            "`same_site` must be \"strict\", \"lax\" or \"none\"",
                        ),
                    }
                }
            }
            "max_age" => duration_option(&mut self.max_age, &value, &name, errors),
            "idle_timeout" => duration_option(&mut self.idle_timeout, &value, &name, errors),
            "absolute_timeout" => {
                duration_option(&mut self.absolute_timeout, &value, &name, errors)
            }
            "renew_after" => duration_option(&mut self.renew_after, &value, &name, errors),
            "skip_session_header" => {
                if let Some(list) = skip_headers(&value, errors) {
                    set_once(
                        &mut self.skip,
                        Spanned {
                            value: list,
                            span: value.span(),
                        },
                        &name,
                        errors,
                    );
                }
            }
            "config" => path_option(&mut self.config, &value, &name, errors),
            "on_error" => path_option(&mut self.on_error, &value, &name, errors),
            "manager" => set_once(&mut self.manager, value, &name, errors),
            "crate" => {
                if let Some(lit) = lit_str(&value, &name, errors) {
                    match lit.parse::<syn::Path>() {
                        Ok(path) => set_once(&mut self.krate, path, &name, errors),
                        Err(_) => errors.at(
                            lit.span(),
                            "`crate` must be a path, e.g. `crate = \"::hyper_session\"`",
                        ),
                    }
                }
            }
            _ => errors.at(span, unknown_message(&name)),
        }
        Ok(())
    }
}

fn unknown_message(name: &str) -> String {
    format!(
        "unknown option `{name}`; the options are: {}",
        KNOWN.join(", ")
    )
}

fn skip_value(meta: &ParseNestedMeta<'_>) -> syn::Result<()> {
    if meta.input.peek(syn::Token![=]) {
        meta.value()?.parse::<Expr>()?;
    }
    Ok(())
}

/// The one duplicate check every option goes through.
fn set_once<T>(slot: &mut Option<T>, value: T, name: &str, errors: &mut Errors)
where
    T: SpanOf,
{
    if slot.is_some() {
        errors.at(
            value.span_of(),
            format!("`{name}` is given twice; keep one"),
        );
    } else {
        *slot = Some(value);
    }
}

trait SpanOf {
    fn span_of(&self) -> Span;
}
impl<T> SpanOf for Spanned<T> {
    fn span_of(&self) -> Span {
        self.span
    }
}
impl SpanOf for LitStr {
    fn span_of(&self) -> Span {
        self.span()
    }
}
impl SpanOf for syn::Path {
    fn span_of(&self) -> Span {
        self.span()
    }
}
impl SpanOf for Expr {
    fn span_of(&self) -> Span {
        self.span()
    }
}

fn lit_str(value: &Expr, name: &str, errors: &mut Errors) -> Option<LitStr> {
    match value {
        Expr::Lit(ExprLit {
            lit: Lit::Str(s), ..
        }) => Some(s.clone()),
        other => {
            errors.on(
                other,
                format!("`{name}` expects a string literal, e.g. `{name} = \"...\"`"),
            );
            None
        }
    }
}

fn str_option(slot: &mut Option<LitStr>, value: &Expr, name: &str, errors: &mut Errors) {
    if let Some(lit) = lit_str(value, name, errors) {
        set_once(slot, lit, name, errors);
    }
}

fn bool_option(slot: &mut Option<Spanned<bool>>, value: &Expr, name: &str, errors: &mut Errors) {
    match value {
        Expr::Lit(ExprLit {
            lit: Lit::Bool(LitBool { value, span }),
            ..
        }) => {
            set_once(
                slot,
                Spanned {
                    value: *value,
                    span: *span,
                },
                name,
                errors,
            );
        }
        other => errors.on(
            other,
            format!("`{name}` expects `true` or `false` (or the bare flag `{name}`)"),
        ),
    }
}

fn path_option(slot: &mut Option<syn::Path>, value: &Expr, name: &str, errors: &mut Errors) {
    match value {
        Expr::Path(p) if p.qself.is_none() => set_once(slot, p.path.clone(), name, errors),
        other => errors.on(
            other,
            format!("`{name}` expects a path, e.g. `{name} = crate::path::to::item`"),
        ),
    }
}

fn duration_option(slot: &mut Option<Spanned<u64>>, value: &Expr, name: &str, errors: &mut Errors) {
    let message =
        format!("`{name}` expects a whole number of seconds, from 0 to {MAX_DURATION} (400 days)");
    match value {
        Expr::Lit(ExprLit {
            lit: Lit::Int(int), ..
        }) => match int.base10_parse::<u64>() {
            Ok(seconds) if seconds <= MAX_DURATION => {
                set_once(
                    slot,
                    Spanned {
                        value: seconds,
                        span: int.span(),
                    },
                    name,
                    errors,
                );
            }
            _ => errors.at(int.span(), message),
        },
        other => errors.on(other, message),
    }
}

/// `"name"`, `("name", "value")`, or a list `["a", ("b", "v")]`.
fn skip_headers(value: &Expr, errors: &mut Errors) -> Option<Vec<SkipHeader>> {
    fn one(expr: &Expr, errors: &mut Errors) -> Option<SkipHeader> {
        let strings = |e: &Expr| match e {
            Expr::Lit(ExprLit {
                lit: Lit::Str(s), ..
            }) => Some(s.clone()),
            _ => None,
        };
        match expr {
            Expr::Tuple(t) if t.elems.len() == 2 => {
                match (strings(&t.elems[0]), strings(&t.elems[1])) {
                    (Some(name), Some(value)) => Some(SkipHeader {
                        name,
                        value: Some(value),
                    }),
                    _ => {
                        errors.on(t, SKIP_SHAPE);
                        None
                    }
                }
            }
            other => match strings(other) {
                Some(name) => Some(SkipHeader { name, value: None }),
                None => {
                    errors.on(other, SKIP_SHAPE);
                    None
                }
            },
        }
    }
    match value {
        // Keep the well-formed entries so their own checks still run.
        Expr::Array(list) => Some(list.elems.iter().filter_map(|e| one(e, errors)).collect()),
        single => one(single, errors).map(|h| vec![h]),
    }
}

const SKIP_SHAPE: &str = "`skip_session_header` expects a header name `\"x-name\"`, a name and exact value `(\"x-name\", \"value\")`, or a list of these in `[...]`";
