use hyper::{Request, Response};
use hyper_session::{with_session, Session};

#[with_session(max_age = -1, idle_timeout = 99999999999, renew_after = 1.5)]
async fn handler(_req: Request<String>, session: &mut Session) -> Response<String> {
    let _ = session;
    Response::new(String::new())
}

fn main() {}
