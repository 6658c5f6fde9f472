use hyper::{Request, Response};
use hyper_session::{with_session, Session};

#[with_session(cookie = "__Host-sid", path = "/app")]
async fn path(_req: Request<String>, session: &mut Session) -> Response<String> {
    let _ = session;
    Response::new(String::new())
}

#[with_session(cookie = "__Host-sid", domain = "example.com")]
async fn domain(_req: Request<String>, session: &mut Session) -> Response<String> {
    let _ = session;
    Response::new(String::new())
}

#[with_session(cookie = "__Host-sid", secure = false)]
async fn insecure(_req: Request<String>, session: &mut Session) -> Response<String> {
    let _ = session;
    Response::new(String::new())
}

fn main() {}
