use hyper::{Request, Response};
use hyper_session::{with_session, Session};

#[with_session]
async fn handler(_req: Request<String>, _session: Session) -> Response<String> {
    Response::new(String::new())
}

fn main() {}
