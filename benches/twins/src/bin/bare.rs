//! examples/counter.rs without sessions: the same endpoint and body shape.

use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper::Request;

#[tokio::main]
async fn main() {
    load_twins::serve(service_fn(|req: Request<Incoming>| async move {
        if req.uri().path() != "/session_test" {
            return load_twins::not_found();
        }
        let mut r = load_twins::counter_json(1);
        if std::env::var_os("FAKE_COOKIE").is_some() {
            r.headers_mut().append("set-cookie", "sid=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA; HttpOnly; SameSite=Lax; Path=/".parse().unwrap());
        }
        Ok(r)
    }))
    .await;
}
