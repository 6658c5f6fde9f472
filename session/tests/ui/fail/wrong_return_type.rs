use hyper::{Request, Response};
use hyper_session::{with_session, Session};

#[with_session]
async fn handler(_req: Request<String>, session: &mut Session) -> String {
    let _ = session;
    String::new()
}

fn main() {}
