//! The Redis store against a managed-style Redis: `rediss://` verified
//! against a private CA, ACL users, and errors that never show a password.
//!
//! Each test starts its own `redis-server` (it must be on `PATH` and built
//! with TLS) on free loopback ports, with certificates the test makes, so
//! the shared Redis at `REDIS_URL` is never touched; like the other Redis
//! tests, they run when `REDIS_URL` is set (CI) and are skipped otherwise.
#![cfg(feature = "redis")]

mod common;

use common::browser;
use common::counter_server::{assert_503_fast, n, serve_counter};
use common::logs::Logs;
use common::redis_cluster::Cluster;
use common::redis_env::{free_port, redis_url, Throwaway};

use std::future::Future;
use std::path::PathBuf;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use hyper_session::{RedisStore, StoreError};
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};

/// The ACL user's password; no error or log line may contain it.
const PASSWORD: &str = "s3cret-pass";

/// Runs `test` serially (see `counter_server::serially`), if Redis tests run.
fn serially_if_redis(test: impl Future<Output = ()>) {
    if redis_url().is_some() {
        common::counter_server::serially(2, test);
    }
}

/// A directory of PEM files, removed on drop: a CA, a server certificate
/// it signed for 127.0.0.1 and localhost, one for another host name, and
/// an unrelated CA.
struct Pki {
    dir: PathBuf,
}

impl Pki {
    fn new() -> Self {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .expect("clock after 1970")
            .as_nanos();
        let dir =
            std::env::temp_dir().join(format!("hyper-session-tls-{}-{nanos}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("a temp dir");
        let pki = Self { dir };

        let ca = pki.ca("ca", "hyper-session test CA");
        pki.leaf("server", &["127.0.0.1", "localhost"], &ca);
        pki.leaf("elsewhere", &["redis.invalid"], &ca);
        pki.ca("other-ca", "an unrelated CA");
        pki
    }

    /// A self-signed CA, written as `{name}.pem` and `{name}.key`.
    fn ca(&self, name: &str, common_name: &str) -> Issuer<'static, KeyPair> {
        let mut params = CertificateParams::new(Vec::new()).expect("no names");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(DnType::CommonName, common_name);
        let key = KeyPair::generate().expect("a key");
        let cert = params.self_signed(&key).expect("a CA certificate");
        self.write(name, &cert.pem(), &key.serialize_pem());
        Issuer::new(params, key)
    }

    /// A server certificate for `names`, signed by `ca`.
    fn leaf(&self, name: &str, names: &[&str], ca: &Issuer<'static, KeyPair>) {
        let names: Vec<String> = names.iter().map(|n| (*n).to_owned()).collect();
        let mut params = CertificateParams::new(names).expect("valid names");
        params.distinguished_name.push(DnType::CommonName, name);
        let key = KeyPair::generate().expect("a key");
        let cert = params.signed_by(&key, ca).expect("a server certificate");
        self.write(name, &cert.pem(), &key.serialize_pem());
    }

    fn write(&self, name: &str, cert: &str, key: &str) {
        std::fs::write(self.cert(name), cert).expect("write a certificate");
        std::fs::write(self.dir.join(format!("{name}.key")), key).expect("write a key");
    }

    fn cert(&self, name: &str) -> PathBuf {
        self.dir.join(format!("{name}.pem"))
    }

    /// The files `Throwaway::start_tls` wants for server certificate `name`.
    fn server_files(&self, name: &str) -> [PathBuf; 3] {
        [
            self.cert(name),
            self.dir.join(format!("{name}.key")),
            self.cert("ca"),
        ]
    }
}

impl Drop for Pki {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn start_tls(tls_port: u16, port: u16, files: &[PathBuf; 3], extra: &[&str]) -> Throwaway {
    let [cert, key, ca] = files;
    Throwaway::start_tls(tls_port, port, [cert, key, ca].map(PathBuf::as_path), extra)
}

/// Two requests of one browser count 1, 2: sessions are written and read.
async fn round_trip(store: RedisStore) {
    let url = serve_counter(store).await;
    let client = browser();
    assert_eq!(n(client.get(&url).send().await.expect("request")).await, 1);
    assert_eq!(n(client.get(&url).send().await.expect("request")).await, 2);
}

/// The start-up error of `connect`, which must come fast; its Display.
async fn refused(connect: impl Future<Output = Result<RedisStore, StoreError>>) -> String {
    let started = Instant::now();
    let error = connect.await.expect_err("connect must fail");
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "a bad start-up must fail fast"
    );
    let (display, debug) = (error.to_string(), format!("{error:?}"));
    for text in [&display, &debug] {
        assert!(
            !text.contains("s3cret") && !text.contains(PASSWORD),
            "an error shows the password: {text}"
        );
    }
    println!("{display}");
    display
}

#[test]
fn rediss_with_a_private_ca_serves_sessions() {
    serially_if_redis(async {
        let pki = Pki::new();
        let port = free_port();
        let _redis = start_tls(port, 0, &pki.server_files("server"), &[]);

        let url = format!("rediss://127.0.0.1:{port}");
        let store = RedisStore::builder(&url)
            .ca_file(pki.cert("ca"))
            .connect()
            .await
            .expect("connect over TLS with the CA file");
        round_trip(store.with_prefix("tls:")).await;

        // The same CA given as PEM text, a host name the certificate
        // lists, a database number, and Valkey's scheme.
        let pem = std::fs::read(pki.cert("ca")).expect("the CA");
        for url in [
            format!("rediss://localhost:{port}/3"),
            format!("valkeys://127.0.0.1:{port}"),
        ] {
            let store = RedisStore::builder(&url)
                .ca_pem(pem.clone())
                .connect()
                .await
                .expect("connect over TLS with the CA text");
            round_trip(store.with_prefix("tls:")).await;
        }
    });
}

#[test]
fn rediss_cluster_with_a_private_ca_serves_sessions() {
    serially_if_redis(async {
        let pki = Pki::new();
        let [cert, key, ca] = pki.server_files("server");
        let cluster = Cluster::start_tls(3, 0, [&cert, &key, &ca]);
        let url = cluster.url();
        assert!(url.starts_with("rediss+cluster://"), "{url}");
        let store = RedisStore::builder(&url)
            .ca_file(pki.cert("ca"))
            .connect()
            .await
            .expect("connect to the TLS cluster with the CA file");
        assert!(store.is_cluster());
        round_trip(store.with_prefix("tls-cluster:")).await;

        // Without the CA, the cluster's certificates are refused at start-up.
        // (The cluster client passes the TLS error on as text: the message
        // names it, less plainly than for a single node.)
        let error = refused(RedisStore::connect(&url)).await;
        assert!(
            error.contains("cannot connect to Redis") && error.contains("certificate"),
            "{error}"
        );
    });
}

#[test]
fn a_server_certificate_that_does_not_match_fails_at_start_up() {
    serially_if_redis(async {
        let pki = Pki::new();
        let port = free_port();
        let _redis = start_tls(port, 0, &pki.server_files("server"), &[]);
        let url = format!("rediss://127.0.0.1:{port}");

        // Signed by a CA we were not told to trust: another one, or none
        // (the system's roots).
        let other = refused(
            RedisStore::builder(&url)
                .ca_file(pki.cert("other-ca"))
                .connect(),
        )
        .await;
        let system = refused(RedisStore::connect(&url)).await;
        for error in [other, system] {
            assert!(
                error.contains("not signed by a trusted certificate authority")
                    && error.contains("ca_file")
                    && error.contains(&url),
                "{error}"
            );
        }

        // Signed by our CA, but for another host.
        let elsewhere_port = free_port();
        let _elsewhere = start_tls(elsewhere_port, 0, &pki.server_files("elsewhere"), &[]);
        let error = refused(
            RedisStore::builder(format!("rediss://127.0.0.1:{elsewhere_port}"))
                .ca_file(pki.cert("ca"))
                .connect(),
        )
        .await;
        assert!(
            error.contains("not valid for that host") && error.contains("redis.invalid"),
            "{error}"
        );

        // TLS to a plain port, and a CA with a URL that has no TLS.
        let plain_port = free_port();
        let _plain = Throwaway::start(plain_port);
        let error = refused(
            RedisStore::builder(format!("rediss://127.0.0.1:{plain_port}"))
                .ca_file(pki.cert("ca"))
                .connect(),
        )
        .await;
        assert!(error.contains("TLS port"), "{error}");
        let error = refused(RedisStore::connect(&format!("redis://127.0.0.1:{port}"))).await;
        assert!(error.contains("use a rediss:// URL"), "{error}");
        let error = refused(
            RedisStore::builder(format!("redis://127.0.0.1:{plain_port}"))
                .ca_file(pki.cert("ca"))
                .connect(),
        )
        .await;
        assert!(error.contains("use a rediss:// URL"), "{error}");

        // A CA file that is missing, or holds no certificate.
        let missing = pki.dir.join("missing.pem");
        let error = refused(RedisStore::builder(&url).ca_file(&missing).connect()).await;
        assert!(error.contains("cannot read the Redis CA file"), "{error}");
        let error = refused(
            RedisStore::builder(&url)
                .ca_file(pki.dir.join("ca.key"))
                .connect(),
        )
        .await;
        assert!(error.contains("holds no certificate"), "{error}");
    });
}

#[test]
fn acl_users_work_and_a_refused_login_names_the_problem_never_the_password() {
    serially_if_redis(async {
        let logs = Logs::capture().0;
        let pki = Pki::new();
        let (tls_port, port) = (free_port(), free_port());
        let password = format!(">{PASSWORD}");
        let _redis = start_tls(
            tls_port,
            port,
            &pki.server_files("server"),
            &[
                // No anonymous access; `app` may do anything, `narrow`
                // only what the store needs, on its own keys (not PING).
                "--user",
                "default",
                "off",
                "--user",
                "app",
                "on",
                &password,
                "~*",
                "+@all",
                "--user",
                "narrow",
                "on",
                &password,
                "~acl:*",
                "+@hash",
                "+@keyspace",
            ],
        );
        let ca = pki.cert("ca");

        // Over TLS and over plain TCP, with the password percent-encoded
        // or not.
        for url in [
            format!("rediss://app:{PASSWORD}@127.0.0.1:{tls_port}/0"),
            format!("redis://app:s3cret%2Dpass@127.0.0.1:{port}"),
            format!("rediss://narrow:{PASSWORD}@localhost:{tls_port}"),
        ] {
            let mut config = RedisStore::builder(url.as_str());
            if url.starts_with("rediss") {
                config = config.ca_file(&ca);
            }
            let store = config.connect().await.expect("the ACL user logs in");
            round_trip(store.with_prefix("acl:")).await;
        }

        // A wrong password, or a user Redis does not know.
        for (user, pass) in [("app", "wrong-s3cret"), ("nobody", PASSWORD)] {
            let tls = format!("rediss://{user}:{pass}@127.0.0.1:{tls_port}");
            let plain = format!("redis://{user}:{pass}@127.0.0.1:{port}/1");
            for error in [
                refused(RedisStore::builder(tls).ca_file(&ca).connect()).await,
                refused(RedisStore::connect(&plain)).await,
            ] {
                assert!(
                    error.contains("refused the user name or password (WRONGPASS)")
                        && error.contains("check the ACL user and password in the URL"),
                    "{error}"
                );
                assert!(
                    !error.contains("nobody") && !error.contains(&format!("{user}:")),
                    "an error shows the user: {error}"
                );
            }
        }

        // No credentials, where Redis wants some.
        let error = refused(RedisStore::connect(&format!("redis://127.0.0.1:{port}"))).await;
        assert!(
            error.contains("requires a password (NOAUTH)") && error.contains("user and password"),
            "{error}"
        );

        let text = logs.all_text();
        assert!(
            text.contains(&format!("rediss://127.0.0.1:{tls_port}/0")),
            "the connections were logged: {text}"
        );
        assert!(
            !text.contains("s3cret"),
            "a log line shows a password: {text}"
        );
    });
}

#[test]
fn while_a_tls_redis_is_down_requests_get_503_and_work_again_once_it_is_back() {
    serially_if_redis(async {
        let pki = Pki::new();
        let port = free_port();
        let files = pki.server_files("server");
        let user = ["--user", "default", "off", "--user", "app", "on"];
        let password = format!(">{PASSWORD}");
        let acl = [&user[..], &[password.as_str(), "~*", "+@all"]].concat();
        let mut redis = start_tls(port, 0, &files, &acl);
        let store = RedisStore::builder(format!("rediss://app:{PASSWORD}@127.0.0.1:{port}"))
            .ca_file(pki.cert("ca"))
            .connect()
            .await
            .expect("connect");
        let url = serve_counter(store).await;
        let client = browser();
        assert_eq!(n(client.get(&url).send().await.expect("request")).await, 1);
        assert_eq!(n(client.get(&url).send().await.expect("request")).await, 2);

        redis.kill();
        assert_503_fast(&url, &client).await;

        // Back on the same port, empty: the hyper server was not restarted,
        // and the store reconnects over TLS and logs in again by itself.
        let _redis = start_tls(port, 0, &files, &acl);
        assert_eq!(n(client.get(&url).send().await.expect("request")).await, 1);
        assert_eq!(n(client.get(&url).send().await.expect("request")).await, 2);
    });
}
