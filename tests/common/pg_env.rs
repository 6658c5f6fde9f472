//! Where the PostgreSQL tests find their PostgreSQL, and how they keep
//! apart: each test works in a scratch schema of its own, dropped when the
//! test ends (passed or failed). Shared with `session/tests` by `#[path]`.

#![allow(dead_code)]

use std::str::FromStr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use hyper_session::sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use hyper_session::sqlx::Executor as _;

/// The PostgreSQL to test against (env `POSTGRES_URL`), or `None` (the
/// test is skipped, and says so) when it is unset, unless
/// `HYPER_SESSION_REQUIRE_POSTGRES` demands it (CI sets both, so CI never
/// skips).
pub fn postgres_url() -> Option<String> {
    match std::env::var("POSTGRES_URL") {
        Ok(url) if !url.is_empty() => Some(url),
        _ if std::env::var_os("HYPER_SESSION_REQUIRE_POSTGRES").is_some() => panic!(
            "POSTGRES_URL is not set, and HYPER_SESSION_REQUIRE_POSTGRES says PostgreSQL tests must run"
        ),
        _ => {
            println!("skipped: POSTGRES_URL not set");
            None
        }
    }
}

/// A schema that only one test uses, dropped with everything in it when
/// the value is dropped.
pub struct Scratch {
    pub url: String,
    pub schema: String,
}

impl Scratch {
    /// Creates a fresh schema, or `None` when PostgreSQL tests are skipped.
    /// Panics if `POSTGRES_URL` is set but PostgreSQL does not answer.
    pub async fn new(test: &str) -> Option<Self> {
        static SEQ: AtomicUsize = AtomicUsize::new(0);
        let url = postgres_url()?;
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .expect("clock after 1970")
            .subsec_nanos();
        let schema = format!(
            "hs_test_{test}_{}_{}_{nanos}",
            std::process::id(),
            SEQ.fetch_add(1, Ordering::Relaxed)
        );
        let admin = PgPool::connect(&url)
            .await
            .unwrap_or_else(|e| panic!("PostgreSQL at POSTGRES_URL does not answer: {e}"));
        admin
            .execute(format!("CREATE SCHEMA \"{schema}\"").as_str())
            .await
            .expect("CREATE SCHEMA");
        admin.close().await;
        Some(Self { url, schema })
    }

    /// Connection options that work in the scratch schema.
    pub fn options(&self) -> PgConnectOptions {
        PgConnectOptions::from_str(&self.url)
            .expect("a valid POSTGRES_URL")
            .options([("search_path", self.schema.as_str())])
    }

    /// `POSTGRES_URL` with the scratch schema as its search path, for
    /// `PgStore::connect` and `SESSION_STORE`.
    pub fn url(&self) -> String {
        self.url_via(None)
    }

    /// The same URL, with its host and port replaced by `addr` (a proxy).
    pub fn url_via(&self, addr: Option<std::net::SocketAddr>) -> String {
        let (base, query) = match self.url.split_once('?') {
            Some((base, query)) => (base.to_owned(), format!("{query}&")),
            None => (self.url.clone(), String::new()),
        };
        let base = match addr {
            None => base,
            Some(addr) => {
                let (scheme, rest) = base.split_once("://").expect("a URL");
                let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
                let user = authority
                    .rsplit_once('@')
                    .map_or(String::new(), |(u, _)| format!("{u}@"));
                format!("{scheme}://{user}{addr}/{path}")
            }
        };
        format!("{base}?{query}options=-csearch_path%3D{}", self.schema)
    }

    /// A pool in the scratch schema, as an application would make it.
    pub async fn pool(&self, max: u32) -> PgPool {
        PgPoolOptions::new()
            .max_connections(max)
            .acquire_timeout(std::time::Duration::from_secs(30))
            .test_before_acquire(false)
            .connect_with(self.options())
            .await
            .expect("connect to the scratch schema")
    }

    /// `host:port` of PostgreSQL, for a proxy in front of it.
    pub fn upstream(&self) -> std::net::SocketAddr {
        let options = PgConnectOptions::from_str(&self.url).expect("a valid POSTGRES_URL");
        let host = options.get_host();
        std::net::ToSocketAddrs::to_socket_addrs(&(host, options.get_port()))
            .expect("a resolvable PostgreSQL host")
            .next()
            .expect("an address")
    }
}

impl Drop for Scratch {
    /// Drops the schema on a thread and runtime of its own, so that it
    /// runs whether the test ended well, panicked, or runs on a runtime
    /// that is shutting down.
    fn drop(&mut self) {
        let (url, schema) = (self.url.clone(), self.schema.clone());
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a runtime");
            runtime.block_on(async {
                let admin = PgPool::connect(&url).await?;
                admin
                    .execute(format!("DROP SCHEMA IF EXISTS \"{schema}\" CASCADE").as_str())
                    .await?;
                admin.close().await;
                Ok::<_, hyper_session::sqlx::Error>(())
            })
        })
        .join();
        if !matches!(dropped, Ok(Ok(()))) {
            eprintln!("could not drop the scratch schema {}", self.schema);
        }
    }
}
