use std::convert::Infallible;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::{Request, Response};
use hyper_session::{with_session, Session};

#[with_session(cookie = "sid", http_only, secure = false, max_age = 0)]
async fn session_test(
    _req: Request<Incoming>,
    session: &mut Session,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let n = session.get::<u64>("n").ok().flatten().unwrap_or(0) + 1;
    let _ = session.insert("n", n);
    Ok(Response::new(Full::from(n.to_string())))
}

fn main() {
    let _service = hyper::service::service_fn(session_test);
}
