//! One named option set, reused with per-handler overrides; a method
//! handler whose manager lives on `self`.
use std::convert::Infallible;

use bytes::Bytes;
use http_body_util::Full;
use hyper::{Request, Response};
use hyper_session::{with_session, SameSite, Session, SessionConfig, Sessions};

const APP: SessionConfig = SessionConfig::DEFAULT
    .with_cookie_name("app")
    .with_same_site(SameSite::Strict)
    .with_idle_timeout(1800);

struct Server {
    sessions: Sessions,
}

impl Server {
    #[with_session(config = APP, max_age = 3600, manager = self.sessions)]
    async fn handle(&self, req: Request<String>, session: &mut Session) -> Result<Response<Full<Bytes>>, Infallible> {
        let _ = (req, session.len());
        Ok(Response::new(Full::default()))
    }
}

#[with_session(config = APP, skip_session_header = ["x-health", ("x-probe", "1")])]
async fn other(_req: Request<String>, session: &mut Session) -> Result<Response<String>, Infallible> {
    session.clear();
    Ok(Response::new(String::new()))
}

fn main() {
    let server = Server { sessions: Sessions::in_memory().unwrap() };
    let _ = server.handle(Request::new(String::new()));
    let _service = hyper::service::service_fn(other);
}
