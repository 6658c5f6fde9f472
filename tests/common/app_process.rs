//! The example app (`examples/app.rs`) in a child process: the test binary
//! runs itself again with [`CHILD`] set, and its `app_main_in_a_child_process`
//! test (which each binary using this declares) then runs the app's `main`
//! until it is killed. Several of them with one `SESSION_STORE` are
//! several app processes behind a load balancer.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Set in the child's environment: run the app, not the tests.
pub const CHILD: &str = "HYPER_SESSION_TEST_APP_CHILD";

/// Whether this process is such a child.
pub fn is_child() -> bool {
    std::env::var_os(CHILD).is_some()
}

/// The app in a child process, killed (and reaped) on drop.
pub struct AppProcess {
    child: Child,
    pub base: String,
}

impl AppProcess {
    /// Starts the app on `addr` with `SESSION_STORE=store` and a fixed
    /// secret shared by every such process; waits until it listens.
    pub fn start(store: &str, addr: &str) -> Self {
        let child = Command::new(std::env::current_exe().expect("the test binary"))
            .args(["--exact", "app_main_in_a_child_process", "--nocapture"])
            .env(CHILD, "1")
            .env("SESSION_STORE", store)
            .env(
                "SESSION_SECRET",
                "app process test secret, fixed, 32 bytes+",
            )
            .env("ADDR", addr)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .spawn()
            .expect("run the test binary again");
        let started = Instant::now();
        while std::net::TcpStream::connect(addr).is_err() {
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "the app did not start"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        Self {
            child,
            base: format!("http://{addr}"),
        }
    }

    /// [`start`](Self::start) on a free loopback port.
    pub fn start_anywhere(store: &str) -> Self {
        let addr = format!("127.0.0.1:{}", super::redis_env::free_port());
        Self::start(store, &addr)
    }
}

impl Drop for AppProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Declares the test `app_main_in_a_child_process` that [`AppProcess`]
/// runs: the example app's `main` in a child process, nothing elsewhere.
/// The binary must have `mod app` (examples/app.rs) and `mod common`.
#[macro_export]
macro_rules! app_main_in_a_child_process {
    () => {
        #[test]
        fn app_main_in_a_child_process() {
            if common::app_process::is_child() {
                let _ = app::main();
            }
        }
    };
}
