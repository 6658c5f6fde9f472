//! "Signed-in devices" over real HTTP, on the routes of examples/app.rs:
//! `/sessions`, `/sessions/revoke` and `/logout/others`, for one server or
//! for two processes that share a store.

use serde_json::{json, Value};

use super::{plain, set_cookies};

/// A browser (keeps cookies) that names itself `agent`.
pub fn device(agent: &str) -> reqwest::Client {
    reqwest::Client::builder()
        .cookie_store(true)
        .user_agent(agent)
        .build()
        .expect("client")
}

/// The status, the `Set-Cookie` values and the body (JSON, or `Null`).
pub async fn call(request: reqwest::RequestBuilder) -> (u16, Vec<String>, Value) {
    let response = request.send().await.expect("request");
    let status = response.status().as_u16();
    let cookies = set_cookies(&response);
    let text = response.text().await.expect("body");
    let body = serde_json::from_str(&text).unwrap_or(Value::Null);
    (status, cookies, body)
}

pub async fn login(client: &reqwest::Client, base: &str, user: &str) {
    let (status, _, body) = call(client.post(format!("{base}/login?user={user}"))).await;
    assert_eq!((status, body), (200, json!({ "user": user })));
}

/// `GET /sessions`, expecting 200: the listed sessions.
pub async fn listing(client: &reqwest::Client, base: &str, user: &str) -> Vec<Value> {
    let (status, cookies, body) = call(client.get(format!("{base}/sessions"))).await;
    assert_eq!(status, 200, "{body}");
    assert!(cookies.is_empty(), "a listing changes nothing: {cookies:?}");
    assert_eq!(body["user"], user);
    let sessions = body["sessions"].as_array().expect("sessions").clone();
    let current = sessions.iter().filter(|s| s["current"] == true).count();
    assert_eq!(current, 1, "exactly one session is the requester's: {body}");
    sessions
}

/// The handle of the requester's own session.
pub async fn own_handle(client: &reqwest::Client, base: &str, user: &str) -> String {
    let sessions = listing(client, base, user).await;
    let mine = sessions
        .iter()
        .find(|s| s["current"] == true)
        .expect("current");
    mine["handle"].as_str().expect("handle").to_owned()
}

pub async fn me(client: &reqwest::Client, base: &str) -> Value {
    call(client.get(format!("{base}/me"))).await.2["user"].clone()
}

async fn revoke(client: &reqwest::Client, base: &str, handle: &str) -> (u16, Vec<String>) {
    let (status, cookies, _) =
        call(client.post(format!("{base}/sessions/revoke?handle={handle}"))).await;
    (status, cookies)
}

/// The whole scenario; requests alternate between `a` and `b` (the same
/// server, or two processes sharing a store): three devices of ada, one
/// of bob; revoke one, log out the others, revoke your own; bob can
/// neither see nor end ada's sessions.
pub async fn three_devices_of_one_user(a: &str, b: &str) {
    let now = std::time::UNIX_EPOCH.elapsed().expect("clock").as_millis() as u64;
    let ada: Vec<_> = (1..=3).map(|i| device(&format!("device {i}"))).collect();
    for (i, client) in ada.iter().enumerate() {
        login(client, if i % 2 == 0 { a } else { b }, "ada").await;
    }
    let bob = device("bob's phone");
    login(&bob, b, "bob").await;

    let listed = listing(&ada[0], b, "ada").await;
    assert_eq!(listed.len(), 3, "three devices signed in: {listed:?}");
    let mut labels: Vec<&str> = listed
        .iter()
        .map(|s| s["label"].as_str().expect("label"))
        .collect();
    labels.sort_unstable();
    assert_eq!(labels, ["device 1", "device 2", "device 3"]);
    for s in &listed {
        let ms = |f: &str| s[f].as_u64().unwrap_or_else(|| panic!("{f} in ms: {s}"));
        assert!(ms("created_at") + 5_000 >= now && ms("created_at") <= ms("last_seen"));
        assert!(ms("expires_at") > ms("last_seen"));
        assert_eq!(s["handle"].as_str().expect("handle").len(), 32);
    }
    let handles: Vec<String> = {
        let mut h = Vec::new();
        for (i, client) in ada.iter().enumerate() {
            h.push(own_handle(client, if i % 2 == 0 { b } else { a }, "ada").await);
        }
        h
    };
    assert_eq!(
        listing(&bob, a, "bob").await.len(),
        1,
        "bob sees only his own"
    );

    // Bob cannot end ada's session by its handle.
    assert_eq!(revoke(&bob, a, &handles[1]).await.0, 404);
    assert_eq!(me(&ada[1], b).await, "ada", "still signed in");

    // Ada ends device 2 from device 1.
    let (status, cookies) = revoke(&ada[0], a, &handles[1]).await;
    assert_eq!(status, 204);
    assert!(
        cookies.is_empty(),
        "revoking another device leaves this one's cookie"
    );
    assert_eq!(
        me(&ada[1], b).await,
        Value::Null,
        "the revoked device is signed out"
    );
    let (status, cookies, _) = call(ada[1].get(format!("{b}/sessions"))).await;
    assert_eq!(
        (status, cookies.len()),
        (401, 0),
        "and no longer lists anything"
    );
    assert_eq!(listing(&ada[0], b, "ada").await.len(), 2);
    assert_eq!(revoke(&ada[0], b, &handles[1]).await.0, 404, "gone already");
    assert_eq!(revoke(&ada[0], b, "not-a-handle").await.0, 404);

    // "Log out other devices" from device 3 ends device 1.
    let (status, _, body) = call(ada[2].post(format!("{b}/logout/others"))).await;
    assert_eq!((status, body), (200, json!({ "revoked": 1 })));
    assert_eq!(me(&ada[0], a).await, Value::Null);
    let left = listing(&ada[2], a, "ada").await;
    assert_eq!(left.len(), 1);
    assert_eq!(left[0]["handle"], handles[2].as_str());
    assert_eq!(
        listing(&bob, b, "bob").await.len(),
        1,
        "bob's session is untouched"
    );

    // Revoking your own session is a logout: the removal cookie.
    let (status, cookies) = revoke(&ada[2], a, &handles[2]).await;
    assert_eq!(status, 204);
    assert!(
        cookies
            .iter()
            .any(|c| c.starts_with("sid=") && c.contains("Max-Age=0")),
        "{cookies:?}"
    );
    assert_eq!(me(&ada[2], b).await, Value::Null);

    // Not signed in: 401 and no cookie, on every route.
    for (method, path) in [
        ("GET", "/sessions"),
        (
            "POST",
            "/sessions/revoke?handle=00000000000000000000000000000000",
        ),
        ("POST", "/logout/others"),
    ] {
        let url = format!("{a}{path}");
        let request = match method {
            "GET" => plain().get(url),
            _ => plain().post(url),
        };
        let (status, cookies, _) = call(request).await;
        assert_eq!((status, cookies.len()), (401, 0), "{method} {path}");
    }

    // A logout removes the session from the listing.
    let bob2 = device("bob's laptop");
    login(&bob2, a, "bob").await;
    assert_eq!(listing(&bob2, b, "bob").await.len(), 2);
    let (status, _, _) = call(bob.post(format!("{a}/logout"))).await;
    assert_eq!(status, 200);
    let after = listing(&bob2, b, "bob").await;
    assert_eq!(after.len(), 1, "{after:?}");
    assert_eq!(after[0]["label"], "bob's laptop");
}
