//! Where the Redis tests find their Redis, and how they keep apart.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// The Redis to test against, or `None` (the test is skipped) when
/// `REDIS_URL` is unset, unless `HYPER_SESSION_REQUIRE_REDIS` demands it
/// (CI sets both, so CI never skips).
pub fn redis_url() -> Option<String> {
    match std::env::var("REDIS_URL") {
        Ok(url) if !url.is_empty() => Some(url),
        _ if std::env::var_os("HYPER_SESSION_REQUIRE_REDIS").is_some() => {
            panic!(
                "REDIS_URL is not set, and HYPER_SESSION_REQUIRE_REDIS says Redis tests must run"
            )
        }
        _ => {
            println!("skipped: REDIS_URL not set");
            None
        }
    }
}

/// A key prefix no other test (or run) uses.
pub fn unique_prefix(test: &str) -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_nanos();
    format!("hyper-session-test:{test}:{}:{nanos}:", std::process::id())
}

/// A `redis-server` a test owns, on a loopback port of its own: no
/// persistence, killed (and reaped) on drop. It must be on `PATH`.
pub struct Throwaway {
    child: Child,
}

impl Throwaway {
    /// A plain server on `port`.
    pub fn start(port: u16) -> Self {
        Self::start_with(port, &[])
    }

    /// A plain server on `port`, with more `redis-server` arguments (users,
    /// say: `["--user", "app", "on", ">secret", "~*", "+@all"]`).
    pub fn start_with(port: u16, extra: &[&str]) -> Self {
        let port_arg = port.to_string();
        let mut args = vec!["--port", &port_arg];
        args.extend_from_slice(extra);
        Self::spawn(&args, || pong(port))
    }

    /// A server that speaks TLS on `tls_port` (its certificate and key are
    /// the PEM files `cert` and `key`, issued by `ca`) and, unless `port` is
    /// 0, plain TCP on `port`; clients need no certificate.
    pub fn start_tls(
        tls_port: u16,
        port: u16,
        [cert, key, ca]: [&Path; 3],
        extra: &[&str],
    ) -> Self {
        let (tls_port_arg, port_arg) = (tls_port.to_string(), port.to_string());
        let mut args = vec!["--port", &port_arg, "--tls-port", &tls_port_arg];
        for (option, file) in [
            ("--tls-cert-file", cert),
            ("--tls-key-file", key),
            ("--tls-ca-cert-file", ca),
        ] {
            args.push(option);
            args.push(file.to_str().expect("a UTF-8 temp path"));
        }
        args.extend_from_slice(&["--tls-auth-clients", "no"]);
        args.extend_from_slice(extra);
        // The TLS port accepting connections is as far as a plain probe
        // can see; Redis opens its listeners once it is ready.
        Self::spawn(&args, || {
            TcpStream::connect(("127.0.0.1", tls_port)).is_ok()
        })
    }

    fn spawn(args: &[&str], ready: impl Fn() -> bool) -> Self {
        let child = Command::new("redis-server")
            .args(args)
            .args(["--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server must be on PATH for the Redis tests that start their own");
        let mut server = Self { child };
        let deadline = Instant::now() + Duration::from_secs(10);
        while !ready() {
            if let Ok(Some(status)) = server.child.try_wait() {
                panic!("redis-server {args:?} exited ({status}); TLS needs one built with TLS");
            }
            assert!(
                Instant::now() < deadline,
                "redis-server {args:?} did not start"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        server
    }

    /// Stops (`SIGSTOP`) or resumes (`SIGCONT`) the server: a hung Redis,
    /// whose port still accepts connections but answers nothing.
    pub fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .args([signal, &self.child.id().to_string()])
            .status()
            .expect("kill(1)");
        assert!(status.success(), "kill {signal}");
    }

    /// Kills the server (SIGKILL: no goodbye to its clients) and reaps it.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Throwaway {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Whether a Redis answers PING on the loopback `port` (plain TCP).
pub fn pong(port: u16) -> bool {
    let Ok(mut stream) = TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(1)));
    let mut reply = [0; 7];
    stream.write_all(b"PING\r\n").is_ok()
        && stream.read_exact(&mut reply).is_ok()
        && &reply == b"+PONG\r\n"
}

/// A loopback port nothing listens on right now.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port()
}
