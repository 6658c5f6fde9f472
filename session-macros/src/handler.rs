//! The annotated function: its signature, analysed; its body, untouched.

use proc_macro2::{Span, TokenStream};
use syn::parse::{Parse, ParseStream};
use syn::{Attribute, FnArg, Pat, PatType, ReturnType, Signature, Type, Visibility};

use crate::args::Errors;

/// A function whose body stays an opaque token stream: it is never
/// re-parsed or re-spanned, and a body that does not parse still expands
/// (so IDEs keep working while the user types).
pub(crate) struct HandlerFn {
    pub(crate) attrs: Vec<Attribute>,
    pub(crate) vis: Visibility,
    pub(crate) sig: Signature,
    /// `#![...]` at the top of the body; they must stay first.
    pub(crate) inner_attrs: Vec<Attribute>,
    pub(crate) body: TokenStream,
}

impl Parse for HandlerFn {
    fn parse(input: ParseStream<'_>) -> syn::Result<Self> {
        let attrs = input.call(Attribute::parse_outer)?;
        let vis = input.parse()?;
        let sig = input.parse()?;
        let content;
        syn::braced!(content in input);
        let inner_attrs = content.call(Attribute::parse_inner)?;
        let body = content.parse()?;
        Ok(Self {
            attrs,
            vis,
            sig,
            inner_attrs,
            body,
        })
    }
}

/// What the expansion needs to know about the signature.
pub(crate) struct Analysis {
    /// Position of the `&mut Session` parameter in `sig.inputs`.
    pub(crate) session_index: usize,
    /// Position of the `Request<B>` parameter in `sig.inputs`.
    pub(crate) request_index: usize,
    /// The declared return type.
    pub(crate) output: Type,
}

/// Finds the session and request parameters by type, whatever their names
/// and positions, and checks the function can become a hyper handler.
pub(crate) fn analyse(sig: &Signature, errors: &mut Errors) -> Option<Analysis> {
    if sig.asyncness.is_none() {
        errors.at(
            sig.fn_token.span,
            "#[with_session] needs an `async fn`: the session is loaded and saved with `.await`",
        );
    }
    let mut sessions = Vec::new();
    let mut requests = Vec::new();
    for (i, arg) in sig.inputs.iter().enumerate() {
        if let FnArg::Typed(PatType { ty, .. }) = arg {
            if is_session_ref(ty) {
                sessions.push((i, ty));
            } else if is_request(ty) {
                requests.push(i);
            }
        }
    }
    let session_index = match sessions.as_slice() {
        [] => {
            errors.at(
                sig.ident.span(),
                "#[with_session] handler has no `&mut Session` parameter; add one, e.g. `session: &mut Session`",
            );
            None
        }
        [(i, _)] => Some(*i),
        [_, rest @ ..] => {
            for (_, ty) in rest {
                errors.on(
                    ty,
                    "only one `&mut Session` parameter is allowed; remove this one",
                );
            }
            None
        }
    };
    let request_index = match requests.first() {
        Some(i) => Some(*i),
        None => {
            errors.at(
                sig.paren_token.span.join(),
                "#[with_session] handler needs a `Request<B>` parameter (the session cookie is read from it)",
            );
            None
        }
    };
    let output = match &sig.output {
        ReturnType::Type(_, ty) => Some((**ty).clone()),
        ReturnType::Default => {
            errors.at(
                sig.ident.span(),
                "#[with_session] handler must return `Response<B>` or `Result<Response<B>, E>`",
            );
            None
        }
    };
    Some(Analysis {
        session_index: session_index?,
        request_index: request_index?,
        output: output?,
    })
}

/// `&mut Session` or `&mut path::to::Session`, with any lifetime.
fn is_session_ref(ty: &Type) -> bool {
    match ty {
        Type::Reference(r) if r.mutability.is_some() => last_segment_is(&r.elem, "Session"),
        Type::Paren(p) => is_session_ref(&p.elem),
        _ => false,
    }
}

fn is_request(ty: &Type) -> bool {
    last_segment_is(ty, "Request")
}

fn last_segment_is(ty: &Type, name: &str) -> bool {
    match ty {
        Type::Path(p) => {
            p.qself.is_none() && p.path.segments.last().is_some_and(|s| s.ident == name)
        }
        Type::Paren(p) => last_segment_is(&p.elem, name),
        Type::Group(g) => last_segment_is(&g.elem, name),
        _ => false,
    }
}

/// The request parameter's binding: its name, or a generated one for `_`
/// and destructuring patterns (rebound to the user's pattern afterwards).
pub(crate) fn request_binding(pat: &Pat) -> Option<&syn::Ident> {
    match pat {
        Pat::Ident(p) if p.subpat.is_none() => Some(&p.ident),
        _ => None,
    }
}

pub(crate) fn generated(name: &str) -> syn::Ident {
    syn::Ident::new(name, Span::mixed_site())
}
