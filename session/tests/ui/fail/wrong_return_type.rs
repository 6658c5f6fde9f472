use hyper::{Request, Response};
use hyper_session::{with_session, Session};

struct Page;

#[with_session]
async fn handler(_req: Request<String>, session: &mut Session) -> Page {
    let _ = session;
    Page
}

fn main() {}
