//! Headless Chromium for the browser tests: Debian's `chromium`, driven
//! over WebDriver by `chromedriver` (package `chromium-driver`), which a
//! test starts on a free loopback port and stops at the end.
//!
//! Where `chromedriver` is missing the tests say that they skipped, unless
//! `HYPER_SESSION_REQUIRE_BROWSER` is set (`.ci/run` installs both and sets
//! it, so CI never skips).

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder};
use hyper_util::client::legacy::connect::HttpConnector;

const DRIVER: &str = "/usr/bin/chromedriver";
const BROWSER: &str = "/usr/bin/chromium";

/// A running `chromedriver`; each [`window`](Self::window) is a browser of
/// its own (its own profile: its own cookies), as two devices are.
pub struct Chromium {
    driver: Child,
    url: String,
}

impl Chromium {
    /// Starts `chromedriver`, or `None` (the test is skipped) when it is
    /// not installed and the browser tests are not required.
    pub fn start() -> Option<Self> {
        if !std::path::Path::new(DRIVER).exists() {
            assert!(
                std::env::var_os("HYPER_SESSION_REQUIRE_BROWSER").is_none(),
                "{DRIVER} is missing, and HYPER_SESSION_REQUIRE_BROWSER says browser tests must run \
                 (apt-get install chromium chromium-driver)"
            );
            println!("skipped: {DRIVER} not installed (apt-get install chromium chromium-driver)");
            return None;
        }
        let port = super::redis_env::free_port();
        let driver = Command::new(DRIVER)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start chromedriver");
        let started = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "chromedriver did not start"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        Some(Self {
            driver,
            url: format!("http://127.0.0.1:{port}"),
        })
    }

    /// A new headless browser window with a profile of its own.
    pub async fn window(&self) -> Client {
        let options = serde_json::json!({
            "binary": BROWSER,
            "args": [
                "--headless=new",
                "--no-sandbox",
                "--disable-dev-shm-usage",
                "--disable-gpu",
                "--window-size=900,700",
            ],
        });
        let mut capabilities = serde_json::Map::new();
        capabilities.insert("browserName".into(), "chrome".into());
        capabilities.insert("goog:chromeOptions".into(), options);
        ClientBuilder::new(HttpConnector::new())
            .capabilities(capabilities)
            .connect(&self.url)
            .await
            .expect("a Chromium session")
    }
}

impl Drop for Chromium {
    fn drop(&mut self) {
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}
