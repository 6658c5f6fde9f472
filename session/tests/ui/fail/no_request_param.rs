use hyper::{Request, Response};
use hyper_session::{with_session, Session};

#[with_session]
async fn handler(session: &mut Session) -> Response<String> {
    let _ = session;
    Response::new(String::new())
}

fn main() {}
