//! Compile-time behaviour of `#[with_session]`: what expands, and what is
//! refused with which message. Regenerate `.stderr` files with
//! `TRYBUILD=overwrite cargo test -p hyper-session --test ui`, then review.

#[test]
fn ui() {
    let t = trybuild::TestCases::new();
    t.pass("tests/ui/pass/*.rs");
    t.compile_fail("tests/ui/fail/*.rs");
}
