//! "Signed-in devices" (examples/app.rs) over real HTTP: in one server on
//! the memory store, and in two app processes sharing Redis or PostgreSQL;
//! listing and revoking while the store is down is an error, never a
//! reported success.

mod common;

// The example brings its own copy of `support`, as `common` does.
#[allow(dead_code, clippy::duplicate_mod)]
#[path = "../examples/app.rs"]
mod app;

use common::devices::{call, device, login, three_devices_of_one_user};
use common::spawn;

app_main_in_a_child_process!();

#[tokio::test]
async fn three_devices_on_one_server() {
    let a = spawn(app::route).await;
    let b = spawn(app::route).await;
    three_devices_of_one_user(&a, &b).await;
}

#[cfg(feature = "redis")]
mod redis {
    use super::*;
    use common::app_process::AppProcess;
    use common::redis_env::{free_port, redis_url, Throwaway};

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn two_app_processes_share_devices_through_redis() {
        // Redis tests run where REDIS_URL says they can; this one brings
        // its own server, so that the app's default key prefix is safe.
        if redis_url().is_none() {
            return;
        }
        let port = free_port();
        let _redis = Throwaway::start(port);
        let store = format!("redis://127.0.0.1:{port}");
        let (a, b) = (
            AppProcess::start_anywhere(&store),
            AppProcess::start_anywhere(&store),
        );
        three_devices_of_one_user(&a.base, &b.base).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn listing_and_revoking_while_redis_is_down_are_errors() {
        if redis_url().is_none() {
            return;
        }
        let port = free_port();
        let redis = Throwaway::start(port);
        let app = AppProcess::start_anywhere(&format!("redis://127.0.0.1:{port}"));
        let base = &app.base;
        let ada = device("device 1");
        login(&ada, base, "ada").await;
        let (_, _, listed) = call(ada.get(format!("{base}/sessions"))).await;
        let handle = listed["sessions"][0]["handle"]
            .as_str()
            .expect("handle")
            .to_owned();
        drop(redis);
        for request in [
            ada.get(format!("{base}/sessions")),
            ada.post(format!("{base}/sessions/revoke?handle={handle}")),
            ada.post(format!("{base}/logout/others")),
        ] {
            let (status, _, _) = call(request).await;
            assert_eq!(
                status, 503,
                "a store that is down is an error, never a success"
            );
        }
        // The process lives on and recovers (the throwaway Redis kept
        // nothing: the session is gone, so the visitor is not signed in).
        let _redis = Throwaway::start(port);
        let mut status = 0;
        for _ in 0..50 {
            status = call(ada.get(format!("{base}/sessions"))).await.0;
            if status != 503 {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        assert_eq!(status, 401);
    }
}

#[cfg(feature = "postgres")]
mod postgres {
    use super::*;
    use common::app_process::AppProcess;
    use common::pg_env::Scratch;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn two_app_processes_share_devices_through_postgres() {
        let Some(scratch) = Scratch::new("devices").await else {
            return;
        };
        let store = scratch.url();
        let (a, b) = (
            AppProcess::start_anywhere(&store),
            AppProcess::start_anywhere(&store),
        );
        three_devices_of_one_user(&a.base, &b.base).await;
    }
}
