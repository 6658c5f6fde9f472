use hyper::{Request, Response};
use hyper_session::{with_session, Session};

#[with_session(cookie = "__Secure-sid", secure = false)]
async fn handler(_req: Request<String>, session: &mut Session) -> Response<String> {
    let _ = session;
    Response::new(String::new())
}

fn main() {}
