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
        Ok(load_twins::counter_json(1))
    }))
    .await;
}
