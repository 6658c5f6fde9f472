//! The seed's counter over a real server and real clients: counting,
//! isolation, bad cookies, cookie attributes, what is (not) stored.

mod common;

use std::convert::Infallible;
use std::sync::Arc;

use bytes::Bytes;
use common::{browser, cookie_value, get_json, plain, set_cookies, spawn};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};
use hyper_session::{with_session, MemoryStore, Session, Sessions};

struct App {
    sessions: Sessions,
    store: MemoryStore,
}

impl App {
    fn new(secret: &str) -> Arc<Self> {
        let store = MemoryStore::new();
        let sessions = Sessions::builder()
            .secret(secret)
            .store(store.clone())
            .build()
            .expect("valid manager");
        Arc::new(Self { sessions, store })
    }
}

const SECRET: &str = "counter-test secret, 32 bytes or more";

#[with_session(cookie = "sid", http_only, secure = false, max_age = 0, manager = app.sessions)]
async fn counter(
    _req: Request<Incoming>,
    session: &mut Session,
    app: Arc<App>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let n = session
        .get::<u64>("test_counter")
        .expect("a number")
        .unwrap_or(0)
        + 1;
    session.insert("test_counter", n).expect("fits");
    Ok(Response::new(Full::from(format!(
        "{{\"test_counter\":{n}}}"
    ))))
}

#[with_session(secure = false, manager = app.sessions)]
async fn untouched(
    _req: Request<Incoming>,
    session: &mut Session,
    app: Arc<App>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let _ = session.contains("anything");
    let mut response = Response::new(Full::from("ok"));
    response
        .headers_mut()
        .insert("x-handler", "kept".parse().expect("header"));
    Ok(response)
}

#[with_session(cookie = "sid", secure = false, manager = app.sessions)]
async fn failing(
    _req: Request<Incoming>,
    session: &mut Session,
    app: Arc<App>,
) -> Result<Response<Full<Bytes>>, std::io::Error> {
    session.insert("test_counter", 1000).expect("fits");
    Err(std::io::Error::other("the handler failed"))
}

#[with_session(cookie = "sid", secure = false, manager = app.sessions)]
async fn secret_data(
    _req: Request<Incoming>,
    session: &mut Session,
    app: Arc<App>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    session.insert("card", "4111-1111-1111-1111").expect("fits");
    Ok(Response::new(Full::from("stored")))
}

#[with_session(cookie = "app", path = "/", domain = "example.test", secure, http_only = false, same_site = "strict", max_age = 60, manager = app.sessions)]
async fn attributes(
    _req: Request<Incoming>,
    session: &mut Session,
    app: Arc<App>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    session.insert("k", 1).expect("fits");
    let mut response = Response::new(Full::from("ok"));
    response
        .headers_mut()
        .insert("set-cookie", "theme=dark; Path=/".parse().expect("header"));
    Ok(response)
}

async fn start(app: Arc<App>) -> String {
    spawn(move |req: Request<Incoming>| {
        let app = app.clone();
        async move {
            match req.uri().path() {
                "/session_test" => counter(req, app).await.map_err(|e| match e {}),
                "/untouched" => untouched(req, app).await.map_err(|e| match e {}),
                "/fail" => failing(req, app).await,
                "/secret" => secret_data(req, app).await.map_err(|e| match e {}),
                "/attributes" => attributes(req, app).await.map_err(|e| match e {}),
                _ => {
                    let mut r = Response::new(Full::default());
                    *r.status_mut() = StatusCode::NOT_FOUND;
                    Ok(r)
                }
            }
        }
    })
    .await
}

#[tokio::test]
async fn counts_one_two_three_per_client_and_clients_are_independent() {
    let url = format!("{}/session_test", start(App::new(SECRET)).await);
    let (alice, bob) = (browser(), browser());
    for n in 1..=3 {
        assert_eq!(get_json(&alice, &url).await["test_counter"], n);
    }
    assert_eq!(get_json(&bob, &url).await["test_counter"], 1);
    assert_eq!(get_json(&alice, &url).await["test_counter"], 4);
    assert_eq!(get_json(&bob, &url).await["test_counter"], 2);
}

#[tokio::test]
async fn only_the_first_response_sets_the_cookie() {
    let url = format!("{}/session_test", start(App::new(SECRET)).await);
    let client = browser();
    let first = client.get(&url).send().await.expect("request");
    assert_eq!(set_cookies(&first).len(), 1);
    let second = client.get(&url).send().await.expect("request");
    assert!(
        set_cookies(&second).is_empty(),
        "an unchanged id is not re-sent"
    );
}

/// Each bad cookie gets status 200, a fresh session (count 1) and a new id.
#[tokio::test]
async fn bad_cookies_give_a_fresh_session_with_a_new_id() {
    let app = App::new(SECRET);
    let base = start(app.clone()).await;
    let url = format!("{base}/session_test");
    let first = plain().get(&url).send().await.expect("request");
    let good = cookie_value(&first, "sid").expect("a cookie");
    let (id, tag) = good.split_once('.').expect("id.tag");
    let flip = |s: &str| {
        let mut b = s.as_bytes().to_vec();
        b[5] = if b[5] == b'A' { b'B' } else { b'A' };
        String::from_utf8(b).expect("ascii")
    };
    // Validly signed for this server's secret, but from another server's
    // store: the id is unknown here.
    let other = start(App::new(SECRET)).await;
    let foreign = plain()
        .get(format!("{other}/session_test"))
        .send()
        .await
        .expect("request");
    let unknown = cookie_value(&foreign, "sid").expect("a cookie");

    let cases = [
        ("tampered tag", format!("{id}.{}", flip(tag))),
        ("tampered id", format!("{}.{tag}", flip(id))),
        ("garbage", "%%%not-a-cookie!!".to_owned()),
        ("empty", String::new()),
        ("10 KB", "A".repeat(10 * 1024)),
        ("unknown id", unknown),
    ];
    for (what, value) in cases {
        let response = plain()
            .get(&url)
            .header("cookie", format!("sid={value}"))
            .send()
            .await
            .expect("request");
        assert_eq!(response.status(), 200, "{what}");
        let new_id =
            cookie_value(&response, "sid").unwrap_or_else(|| panic!("{what}: a new cookie"));
        assert_ne!(new_id, value, "{what}: the client's value is never adopted");
        assert_ne!(
            new_id.split('.').next(),
            value.split('.').next(),
            "{what}: a new id"
        );
        assert_eq!(new_id.len(), 87, "{what}");
        let body: serde_json::Value = response.json().await.expect("json");
        assert_eq!(body["test_counter"], 1, "{what}: a fresh session");
    }
    // The genuine cookie still works and was not disturbed.
    let response = plain()
        .get(&url)
        .header("cookie", format!("sid={good}"))
        .send()
        .await
        .expect("request");
    let body: serde_json::Value = response.json().await.expect("json");
    assert_eq!(body["test_counter"], 2);
}

#[tokio::test]
async fn set_cookie_attributes_match_the_options_and_handler_headers_stay() {
    let base = start(App::new(SECRET)).await;
    let response = plain()
        .get(format!("{base}/attributes"))
        .send()
        .await
        .expect("request");
    let cookies = set_cookies(&response);
    assert_eq!(cookies.len(), 2, "{cookies:?}");
    assert!(
        cookies.iter().any(|c| c.starts_with("theme=dark")),
        "the handler's cookie stays"
    );
    let ours = cookies
        .iter()
        .find(|c| c.starts_with("app="))
        .expect("our cookie");
    for part in [
        "Path=/",
        "Domain=example.test",
        "Secure",
        "SameSite=Strict",
        "Max-Age=60",
    ] {
        assert!(ours.contains(part), "{ours} lacks {part}");
    }
    assert!(!ours.contains("HttpOnly"), "{ours}");

    let seed = plain()
        .get(format!("{base}/session_test"))
        .send()
        .await
        .expect("request");
    let seed = set_cookies(&seed).pop().expect("a cookie");
    assert!(seed.contains("HttpOnly") && seed.contains("SameSite=Lax") && seed.contains("Path=/"));
    assert!(
        !seed.contains("Secure") && !seed.contains("Max-Age"),
        "secure = false, max_age = 0: {seed}"
    );
}

#[tokio::test]
async fn a_handler_that_does_not_write_creates_nothing() {
    let app = App::new(SECRET);
    let base = start(app.clone()).await;
    let response = browser()
        .get(format!("{base}/untouched"))
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["x-handler"], "kept");
    assert!(set_cookies(&response).is_empty());
    assert!(app.store.is_empty());
}

#[tokio::test]
async fn a_handler_returning_err_saves_nothing() {
    let app = App::new(SECRET);
    let base = start(app.clone()).await;
    let client = browser();
    assert!(
        client.get(format!("{base}/fail")).send().await.is_err(),
        "hyper drops the connection on Err"
    );
    assert!(
        app.store.is_empty(),
        "a new visitor's failed request stores nothing"
    );
    assert_eq!(
        get_json(&client, &format!("{base}/session_test")).await["test_counter"],
        1
    );
    assert!(client.get(format!("{base}/fail")).send().await.is_err());
    assert_eq!(
        get_json(&client, &format!("{base}/session_test")).await["test_counter"],
        2,
        "the failed request's write of 1000 was not committed"
    );
}

#[tokio::test]
async fn the_cookie_holds_only_the_signed_id() {
    let base = start(App::new(SECRET)).await;
    let response = plain()
        .get(format!("{base}/secret"))
        .send()
        .await
        .expect("request");
    let value = cookie_value(&response, "sid").expect("a cookie");
    assert_eq!(
        value.len(),
        87,
        "43 id characters, a dot, 43 tag characters"
    );
    assert!(!value.contains("4111"));
    let decoded: Vec<Vec<u8>> = value
        .split('.')
        .map(|part| {
            use base64::Engine as _;
            base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(part)
                .expect("base64url")
        })
        .collect();
    assert_eq!(
        decoded.iter().map(Vec::len).collect::<Vec<_>>(),
        vec![32, 32]
    );
    assert!(decoded.iter().all(|d| !d.windows(4).any(|w| w == b"4111")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thirty_two_concurrent_clients_each_count_to_five() {
    let app = App::new(SECRET);
    let url = format!("{}/session_test", start(app.clone()).await);
    let clients = (0..32).map(|_| {
        let url = url.clone();
        tokio::spawn(async move {
            let client = browser();
            let mut seen = Vec::new();
            for _ in 0..5 {
                seen.push(
                    get_json(&client, &url).await["test_counter"]
                        .as_u64()
                        .expect("number"),
                );
            }
            seen
        })
    });
    for client in clients {
        assert_eq!(client.await.expect("client task"), vec![1, 2, 3, 4, 5]);
    }
    assert_eq!(app.store.len(), 32);
}
