use hyper::{Request, Response};
use hyper_session::{with_session, Session};

// One second past the default absolute timeout (7 days).
#[with_session(idle_timeout = 604801)]
async fn handler(_req: Request<String>, session: &mut Session) -> Response<String> {
    let _ = session;
    Response::new(String::new())
}

fn main() {}
