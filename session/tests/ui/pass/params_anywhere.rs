//! The session parameter is found by type, under any name and position;
//! other parameters stay; `?`, early `return` and `.await` keep working.
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::Full;
use hyper::{Request, Response};
use hyper_session::{with_session, Session, SessionError, Sessions};

struct State {
    sessions: Sessions,
    greeting: &'static str,
}

#[with_session(secure = false, manager = state.sessions)]
async fn handler<B>(
    mut s: &mut hyper_session::Session,
    state: Arc<State>,
    _: Request<B>,
) -> Result<Response<Full<Bytes>>, SessionError> {
    let visits: u32 = s.get("visits")?.unwrap_or(0);
    if visits > 10 {
        return Ok(Response::new(Full::from("enough")));
    }
    tokio::task::yield_now().await;
    s.insert("visits", visits + 1)?;
    let _ = &mut s;
    Ok(Response::new(Full::from(state.greeting)))
}

#[with_session]
async fn response_only(req: Request<String>, session: &mut Session) -> Response<String> {
    let _ = session.is_new();
    Response::new(req.into_body())
}

fn main() {
    let state = Arc::new(State {
        sessions: Sessions::in_memory().unwrap(),
        greeting: "hi",
    });
    let _service = hyper::service::service_fn(move |req: Request<String>| handler(state.clone(), req));
    let _other = hyper::service::service_fn(response_only);
}
