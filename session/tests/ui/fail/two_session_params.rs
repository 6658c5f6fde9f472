use hyper::{Request, Response};
use hyper_session::{with_session, Session};

#[with_session]
async fn handler(_req: Request<String>, a: &mut Session, b: &mut Session) -> Response<String> {
    let _ = (a, b);
    Response::new(String::new())
}

fn main() {}
