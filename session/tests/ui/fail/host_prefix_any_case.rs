use hyper::{body::Incoming, Request, Response};
use hyper_session::{with_session, Session};

// Browsers treat `__host-` like `__Host-`: the same rules apply.
#[with_session(cookie = "__host-sid", secure = false)]
async fn lower(_req: Request<Incoming>, _s: &mut Session) -> Response<String> {
    Response::new(String::new())
}

fn main() {}
