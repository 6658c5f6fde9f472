//! Writing the new handler.

use proc_macro2::TokenStream;
use quote::{quote, quote_spanned, ToTokens};
use syn::spanned::Spanned;
use syn::{FnArg, Pat, PatIdent, PatType};

use crate::args::{Args, Errors, SameSite};
use crate::handler::{analyse, generated, request_binding, Analysis, HandlerFn};
use crate::valid;

pub(crate) fn with_session(args: TokenStream, item: TokenStream) -> TokenStream {
    let mut errors = Errors::default();
    let mut options = Args::default();
    let parser = syn::meta::parser(|meta| options.parse_one(&meta, &mut errors));
    if let Err(e) = syn::parse::Parser::parse2(parser, args) {
        errors.push(e);
    }
    let handler: HandlerFn = match syn::parse2(item.clone()) {
        Ok(handler) => handler,
        Err(e) => {
            errors.push(e);
            return emit_errors(errors, item);
        }
    };
    valid::check(&options, &mut errors);
    let analysis = analyse(&handler.sig, &mut errors);
    match (errors.finish(), analysis) {
        (Ok(()), Some(analysis)) => expand(&options, handler, &analysis),
        (Err(e), _) => with_original(e, item),
        // Unreachable: the analysis reports an error whenever it gives up.
        (Ok(()), None) => item,
    }
}

/// The errors, plus the function unchanged, so the rest of the file still
/// type-checks and only the real mistakes are reported.
fn with_original(error: syn::Error, item: TokenStream) -> TokenStream {
    let errors = error.to_compile_error();
    quote! { #errors #item }
}

fn emit_errors(errors: Errors, item: TokenStream) -> TokenStream {
    match errors.finish() {
        Err(e) => with_original(e, item),
        Ok(()) => item,
    }
}

fn expand(args: &Args, handler: HandlerFn, analysis: &Analysis) -> TokenStream {
    let HandlerFn {
        attrs,
        vis,
        mut sig,
        inner_attrs,
        body,
    } = handler;
    let krate = args
        .krate
        .as_ref()
        .map_or_else(|| quote!(::hyper_session), ToTokens::to_token_stream);
    let private = quote!(#krate::__private);
    let output = &analysis.output;

    // Take the session parameter out; its pattern and type are rebound
    // inside, so the body sees exactly the name the user chose.
    let mut inputs: Vec<FnArg> = sig.inputs.into_iter().collect();
    let request_rebind = bind_request(&mut inputs[analysis.request_index]);
    let request = match &inputs[analysis.request_index] {
        FnArg::Typed(PatType { pat, .. }) => match &**pat {
            Pat::Ident(p) => p.ident.clone(),
            _ => generated("__hyper_session_request"),
        },
        FnArg::Receiver(_) => generated("__hyper_session_request"),
    };
    let FnArg::Typed(session_param) = inputs.remove(analysis.session_index) else {
        unreachable!("the analysis found a typed parameter here")
    };
    sig.inputs = inputs.into_iter().collect();
    let session_attrs = &session_param.attrs;
    let session_pat = &session_param.pat;
    let session_ty = &session_param.ty;

    let config = generated("__HYPER_SESSION_CONFIG");
    let manager = generated("__hyper_session_manager");
    let session = generated("__hyper_session");
    let slot = generated("__hyper_session_slot");
    let loaded = generated("__hyper_session_loaded");
    let on_error = generated("__hyper_session_on_error");
    let out = generated("__hyper_session_output");
    let error = generated("__hyper_session_error");
    let fake_return = generated("__hyper_session_return");

    let config_expr = config_expr(args, &private);
    let on_error_fn = args.on_error.as_ref().map_or_else(
        || quote!(#private::service_unavailable),
        ToTokens::to_token_stream,
    );
    // The error response has the handler's own type; a return type that is
    // not a response is reported on the user's return type.
    let as_output = quote_spanned!(output.span()=> <#output as #private::HandlerOutput>);
    let manager_expr = match &args.manager {
        Some(expr) => quote!(#private::manager(&#expr)),
        None => quote! {
            match #private::default_manager() {
                ::core::result::Result::Ok(m) => m,
                ::core::result::Result::Err(#error) => {
                    return #as_output::from_response(#private::failed(&#error, #on_error));
                }
            }
        },
    };

    quote! {
        #(#attrs)*
        #vis #sig {
            #(#inner_attrs)*
            #[allow(non_upper_case_globals, clippy::all)]
            static #config: #private::SessionConfig = #config_expr;
            let #on_error: #private::OnError<#as_output::Body> = #on_error_fn;
            let #manager: #private::Sessions = #manager_expr;
            // A store that never waits (the memory store) is called without
            // a future, here and at the commit. The session stays in the
            // one slot the load fills, borrowed: each move of it (about 300
            // bytes) was a copy, and a match on the call's result kept the
            // result alive, in the future's state, across the other call.
            let mut #slot = #private::load_now(&#manager, &#config, #request.headers());
            let #loaded = match #slot {
                ::core::option::Option::Some(ref mut #loaded) => #loaded,
                ::core::option::Option::None => {
                    #slot.insert(#private::load(&#manager, &#config, #request.headers()).await)
                }
            };
            let #session: &mut #private::Session = match #loaded {
                ::core::result::Result::Ok(s) => s,
                ::core::result::Result::Err(#error) => {
                    return #as_output::from_response(#private::failed(#error, #on_error));
                }
            };
            #request_rebind
            let mut #out: #output = {
                #(#session_attrs)*
                let #session_pat: #session_ty = &mut *#session;
                async move {
                    // Pins the block's type to the handler's return type
                    // before the body is checked, so `?` and `return`
                    // infer exactly as in the original function.
                    #[allow(unreachable_code, clippy::diverging_sub_expression)]
                    if false {
                        let #fake_return: #output = loop {};
                        return #fake_return;
                    }
                    #body
                }
                .await
            };
            if !#private::commit_now(&#manager, &#config, #session, &mut #out, #on_error) {
                #private::commit(&#manager, &#config, #session, &mut #out, #on_error).await;
            }
            #out
        }
    }
}

/// Gives the request parameter a plain name the expansion can read headers
/// through. Returns the statement that rebinds the user's own pattern.
fn bind_request(arg: &mut FnArg) -> TokenStream {
    let FnArg::Typed(param) = arg else {
        return TokenStream::new();
    };
    if request_binding(&param.pat).is_some() {
        return TokenStream::new();
    }
    let name = generated("__hyper_session_request");
    let user_pat = std::mem::replace(
        &mut param.pat,
        Box::new(Pat::Ident(PatIdent {
            attrs: Vec::new(),
            by_ref: None,
            mutability: None,
            ident: name.clone(),
            subpat: None,
        })),
    );
    quote! {
        #[allow(unused_variables)]
        let #user_pat = #name;
    }
}

/// `SessionConfig::DEFAULT.with_...(...)...validated()`, each literal
/// keeping the user's span so a type error points at it.
fn config_expr(args: &Args, private: &TokenStream) -> TokenStream {
    let mut expr = match &args.config {
        Some(path) => path.to_token_stream(),
        None => quote!(#private::SessionConfig::DEFAULT),
    };
    let mut call = |method: &str, value: TokenStream| {
        let method = syn::Ident::new(method, proc_macro2::Span::call_site());
        expr = quote!(#expr.#method(#value));
    };
    if let Some(v) = &args.cookie {
        call("with_cookie_name", v.to_token_stream());
    }
    if let Some(v) = &args.path {
        call("with_path", v.to_token_stream());
    }
    if let Some(v) = &args.domain {
        call("with_domain", v.to_token_stream());
    }
    if let Some(v) = &args.secure {
        let b = syn::LitBool::new(v.value, v.span);
        call("with_secure", quote!(#b));
    }
    if let Some(v) = &args.http_only {
        let b = syn::LitBool::new(v.value, v.span);
        call("with_http_only", quote!(#b));
    }
    if let Some(v) = &args.same_site {
        let variant = match v.value {
            SameSite::Strict => quote!(Strict),
            SameSite::Lax => quote!(Lax),
            SameSite::None => quote!(None),
        };
        call("with_same_site", quote!(#private::SameSite::#variant));
    }
    for (method, value) in [
        ("with_max_age", &args.max_age),
        ("with_idle_timeout", &args.idle_timeout),
        ("with_absolute_timeout", &args.absolute_timeout),
        ("with_renew_after", &args.renew_after),
    ] {
        if let Some(v) = value {
            let lit = syn::LitInt::new(&format!("{}u64", v.value), v.span);
            call(method, quote!(#lit));
        }
    }
    if let Some(skip) = &args.skip {
        let headers = skip.value.iter().map(|h| {
            let name = syn::LitStr::new(&h.name.value().to_ascii_lowercase(), h.name.span());
            match &h.value {
                Some(value) => quote!(#private::SkipHeader::exact(#name, #value)),
                None => quote!(#private::SkipHeader::any(#name)),
            }
        });
        call("with_skip_headers", quote!(&[#(#headers),*]));
    }
    quote!(#expr.validated())
}
