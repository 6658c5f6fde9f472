use hyper::{Request, Response};
use hyper_session::{with_session, Session};

use hyper_session::{SameSite, SessionConfig};

const CROSS_SITE: SessionConfig = SessionConfig::DEFAULT.with_same_site(SameSite::None);

// The combination is only known once the shared config is applied: the
// check runs when the configuration static is evaluated.
#[with_session(config = CROSS_SITE, secure = false)]
async fn handler(_req: Request<String>, session: &mut Session) -> Response<String> {
    let _ = session;
    Response::new(String::new())
}

fn main() {}
