//! The `#[with_session]` attribute of [hyper-session]. Depend on
//! `hyper-session`, which re-exports it; its page for the attribute
//! (`hyper_session::with_session`) lists every option, its type, default
//! and plain-Rust twin, with runnable examples.
//!
//! Stages, each in its own module: `args` parses the options, `handler`
//! finds the session and request parameters, `valid` checks the options
//! (all errors at once), `expand` writes the new function.
//!
//! [hyper-session]: https://docs.rs/hyper-session

mod args;
mod expand;
mod handler;
mod valid;

use proc_macro::TokenStream;

/// Turns an async handler that takes `&mut Session` into a plain hyper
/// handler. Use it through `hyper_session::with_session`, whose page lists
/// every option with examples.
#[proc_macro_attribute]
pub fn with_session(args: TokenStream, item: TokenStream) -> TokenStream {
    expand::with_session(args.into(), item.into()).into()
}
