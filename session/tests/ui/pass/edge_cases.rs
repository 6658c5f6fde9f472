//! Boundaries the macro and the runtime must agree on, inner attributes,
//! and attributes on the session parameter.
use hyper::{Request, Response};
use hyper_session::{with_session, Session};

// 400 days is the longest duration; an idle timeout equal to the default
// absolute timeout (7 days) is allowed.
#[with_session(max_age = 34560000, idle_timeout = 604800, absolute_timeout = 604800)]
async fn edges(_req: Request<String>, #[allow(unused_mut)] mut session: &mut Session) -> Response<String> {
    #![allow(clippy::needless_return)]
    let _ = session.len();
    return Response::new(String::new());
}

#[with_session(idle_timeout = 604800)]
async fn idle_at_default_absolute(_req: Request<String>, session: &mut Session) -> Response<String> {
    let _ = session;
    Response::new(String::new())
}

fn main() {
    let _a = hyper::service::service_fn(edges);
    let _b = hyper::service::service_fn(idle_at_default_absolute);
}
