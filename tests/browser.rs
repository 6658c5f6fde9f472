//! examples/web.rs in a real browser: headless Chromium (Debian's), driven
//! over WebDriver. What only a browser shows: the cookie hidden from
//! scripts, redirects and the back button after a logout, a form posted
//! from another page, two devices of one user.

mod common;

// The example brings its own copy of `support`, as `common` does.
#[allow(dead_code, clippy::duplicate_mod)]
#[path = "../examples/web.rs"]
mod web;

use std::time::Duration;

use common::chromium::Chromium;
use common::spawn;
use fantoccini::{Client, Locator};

/// The web example on a port of its own.
async fn site() -> String {
    spawn(web::route).await
}

/// The page's text, once a page is there (a click may still be loading
/// the next one).
async fn text(window: &Client) -> String {
    let started = std::time::Instant::now();
    loop {
        settle(window).await;
        match window.find(Locator::Css("body")).await {
            Ok(body) => return body.text().await.expect("text"),
            Err(e) if started.elapsed() > Duration::from_secs(10) => panic!("no page: {e}"),
            Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    }
}

/// Waits until the current document has loaded.
async fn settle(window: &Client) {
    let started = std::time::Instant::now();
    while started.elapsed() < Duration::from_secs(10) {
        let state = window.execute("return document.readyState", vec![]).await;
        if matches!(state, Ok(ref s) if s == "complete") {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn path(window: &Client) -> String {
    settle(window).await;
    window.current_url().await.expect("url").path().to_owned()
}

/// Signs in through the form on `/` as `user`: lands on `/account`.
async fn sign_in(window: &Client, base: &str, user: &str) {
    window.goto(&format!("{base}/")).await.expect("goto");
    let field = window
        .find(Locator::Css("input[name=user]"))
        .await
        .expect("the user field");
    field.send_keys(user).await.expect("type");
    click(window, "button[type=submit]").await;
    assert_eq!(
        path(window).await,
        "/account",
        "sign-in lands on the account page"
    );
}

/// Clicks what submits a form, and waits for the page the browser lands on:
/// a mark left on the old document tells the new one apart.
async fn click(window: &Client, css: &str) {
    window
        .execute("window.beforeClick = true", vec![])
        .await
        .expect("mark the page");
    window
        .find(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("{css}: {e}"))
        .click()
        .await
        .expect("click");
    let started = std::time::Instant::now();
    loop {
        let old = window
            .execute("return window.beforeClick === true", vec![])
            .await;
        if matches!(old, Ok(ref v) if v == false) {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "{css}: no new page"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    settle(window).await;
}

async fn sid(window: &Client) -> Option<String> {
    window
        .get_named_cookie("sid")
        .await
        .ok()
        .map(|c| c.value().to_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signing_in_keeps_the_user_signed_in_and_the_cookie_out_of_scripts() {
    let Some(chromium) = Chromium::start() else {
        return;
    };
    let base = site().await;
    let window = chromium.window().await;

    // The sign-in page creates no session: only the CSRF cookie.
    window.goto(&format!("{base}/")).await.expect("goto");
    assert_eq!(
        sid(&window).await,
        None,
        "the sign-in form creates no session"
    );
    // A session id planted before sign-in (fixation) is replaced.
    let planted = {
        let other = chromium.window().await;
        sign_in(&other, &base, "mallory").await;
        let value = sid(&other).await.expect("a session cookie");
        other.close().await.expect("close");
        value
    };
    window
        .execute(
            "document.cookie = 'sid=' + arguments[0] + '; path=/'",
            vec![planted.clone().into()],
        )
        .await
        .expect("plant");
    assert_eq!(sid(&window).await.as_deref(), Some(planted.as_str()));

    sign_in(&window, &base, "ada").await;
    let page = text(&window).await;
    assert!(page.contains("Signed in as ada"), "{page}");
    let after = sid(&window).await.expect("a session cookie");
    assert_ne!(after, planted, "the cookie value changes at sign-in");
    assert_eq!(
        page.matches("Signed in as ada").count(),
        2,
        "the header and the flash: {page}"
    );

    // A reload: still signed in, the flash gone.
    window.refresh().await.expect("reload");
    let page = text(&window).await;
    assert!(page.contains("Signed in as ada"));
    assert_eq!(
        page.matches("Signed in as ada").count(),
        1,
        "the flash shows once: {page}"
    );
    // Navigating away and back.
    window.goto(&format!("{base}/")).await.expect("goto");
    window.goto(&format!("{base}/account")).await.expect("goto");
    assert_eq!(path(&window).await, "/account");
    assert_eq!(sid(&window).await, Some(after), "the same session");

    // HttpOnly: scripts do not see the session cookie.
    let cookies = window
        .execute("return document.cookie", vec![])
        .await
        .expect("script");
    let cookies = cookies.as_str().unwrap_or_default();
    assert!(
        !cookies.contains("sid="),
        "document.cookie shows the session: {cookies}"
    );

    window.close().await.expect("close");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_user_name_with_markup_is_shown_as_text() {
    let Some(chromium) = Chromium::start() else {
        return;
    };
    let base = site().await;
    let window = chromium.window().await;
    let name = "<script>alert(1)</script>";
    sign_in(&window, &base, name).await;
    let shown = window
        .find(Locator::Css("#who strong"))
        .await
        .expect("the name")
        .text()
        .await
        .expect("text");
    assert_eq!(shown, name, "the name is text, not markup");
    let scripts = window
        .execute(
            "return Array.from(document.scripts).filter(s => s.textContent.includes('alert')).length",
            vec![],
        )
        .await
        .expect("script");
    assert_eq!(scripts, 0, "no script element made it into the page");
    window.close().await.expect("close");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_devices_revoke_and_sign_out_everywhere_else() {
    let Some(chromium) = Chromium::start() else {
        return;
    };
    let base = site().await;
    let (laptop, phone) = (chromium.window().await, chromium.window().await);
    sign_in(&laptop, &base, "grace").await;
    sign_in(&phone, &base, "grace").await;
    // The account page (the flash, two devices), for the README.
    let png = phone.screenshot().await.expect("screenshot");
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("browser");
    std::fs::create_dir_all(&dir).expect("dir");
    std::fs::write(dir.join("account.png"), &png).expect("save the screenshot");
    assert!(png.starts_with(b"\x89PNG"), "a PNG");
    laptop.refresh().await.expect("reload");
    let devices = laptop
        .find_all(Locator::Css("li.device"))
        .await
        .expect("devices");
    assert_eq!(devices.len(), 2, "the account page lists both devices");
    assert!(text(&laptop).await.contains("(this device)"));

    // The laptop revokes the phone; the phone's next navigation is signed out.
    click(&laptop, "li.device form button").await;
    assert_eq!(path(&laptop).await, "/account");
    assert!(text(&laptop).await.contains("Signed out one device"));
    assert_eq!(
        laptop
            .find_all(Locator::Css("li.device"))
            .await
            .expect("devices")
            .len(),
        1
    );
    phone.goto(&format!("{base}/account")).await.expect("goto");
    assert_eq!(
        path(&phone).await,
        "/",
        "a revoked device is sent to sign in"
    );

    // Signed in again, the phone signs out everywhere else: the laptop too.
    sign_in(&phone, &base, "grace").await;
    click(&phone, "#others button").await;
    assert!(text(&phone).await.contains("Signed out 1 other device(s)"));
    laptop.goto(&format!("{base}/account")).await.expect("goto");
    assert_eq!(path(&laptop).await, "/");
    phone.refresh().await.expect("reload");
    assert_eq!(
        path(&phone).await,
        "/account",
        "the phone itself stays signed in"
    );
    laptop.close().await.expect("close");
    phone.close().await.expect("close");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_logout_the_back_button_and_a_reload_show_the_signed_out_page() {
    let Some(chromium) = Chromium::start() else {
        return;
    };
    let base = site().await;
    let window = chromium.window().await;
    sign_in(&window, &base, "barbara").await;
    click(&window, "#logout button").await;
    assert_eq!(path(&window).await, "/");
    assert_eq!(sid(&window).await, None, "the removal cookie removed it");
    window.back().await.expect("back");
    // Not from a cache: the account page is asked for again, and sends a
    // signed-out visitor to sign in.
    let started = std::time::Instant::now();
    while path(&window).await != "/" && started.elapsed() < Duration::from_secs(5) {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(path(&window).await, "/");
    let page = text(&window).await;
    assert!(
        !page.contains("Signed in as"),
        "the back button shows session data: {page}"
    );
    window.refresh().await.expect("reload");
    let page = text(&window).await;
    assert!(!page.contains("Signed in as"), "{page}");
    assert!(window.find(Locator::Css("input[name=user]")).await.is_ok());
    window.close().await.expect("close");
}

/// A page on another port of 127.0.0.1 (the same site, so `SameSite`
/// sends the session cookie along) with a form that posts to the web
/// example without a token.
async fn hostile_page(target: &str) -> String {
    let html = format!(
        "<!doctype html><title>elsewhere</title>\
         <form method=post action=\"{target}/logout\"><button id=go>Win a prize</button></form>"
    );
    spawn(move |_req| {
        let html = html.clone();
        async move {
            let mut response = hyper::Response::new(http_body_util::Full::from(html));
            response.headers_mut().insert(
                hyper::header::CONTENT_TYPE,
                hyper::header::HeaderValue::from_static("text/html"),
            );
            Ok::<_, std::convert::Infallible>(response)
        }
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_form_posted_from_another_page_without_the_token_is_refused() {
    let Some(chromium) = Chromium::start() else {
        return;
    };
    let base = site().await;
    let window = chromium.window().await;
    sign_in(&window, &base, "edsger").await;
    let session = sid(&window).await;

    let elsewhere = hostile_page(&base).await;
    window.goto(&elsewhere).await.expect("goto");
    click(&window, "#go").await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let page = text(&window).await;
    assert!(
        page.contains("Forbidden"),
        "a post without the token is refused: {page}"
    );
    assert_eq!(sid(&window).await, session, "and changed nothing");
    window.goto(&format!("{base}/account")).await.expect("goto");
    assert_eq!(path(&window).await, "/account", "still signed in");
    window.close().await.expect("close");
}
