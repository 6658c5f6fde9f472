//! Opening a store from a URL, as the examples read `SESSION_STORE`.

use std::path::PathBuf;
use std::time::Duration;

use crate::error::StoreUrlError;
use crate::store::DynStore;

/// Settings a URL cannot carry.
#[derive(Debug, Default, Clone)]
pub(crate) struct UrlOptions {
    /// A private CA to verify TLS servers against, instead of the system roots.
    pub(crate) tls_ca_file: Option<PathBuf>,
    /// How long a logout (or, with `durable_commits`, any commit) waits for
    /// a replica to confirm it; `None`: no waiting.
    pub(crate) replica_wait: Option<Duration>,
    /// Whether every commit waits for a replica, not only logouts.
    pub(crate) durable_commits: bool,
}

/// The store `url` names; see
/// [`SessionsBuilder::store_url`](crate::SessionsBuilder::store_url).
pub(crate) async fn open(
    url: &str,
    options: &UrlOptions,
) -> Result<Box<dyn DynStore>, StoreUrlError> {
    let url = url.trim();
    if url.is_empty() || url == "memory" {
        return Ok(Box::new(crate::MemoryStore::new()));
    }
    match scheme(url) {
        Some(
            "redis" | "rediss" | "valkey" | "valkeys" | "redis+cluster" | "rediss+cluster"
            | "valkey+cluster" | "valkeys+cluster",
        ) => redis(url, options).await,
        Some("postgres" | "postgresql") => postgres(url).await,
        Some("sqlite") => sqlite(url).await,
        Some(scheme) => Err(StoreUrlError::UnknownScheme {
            scheme: scheme.to_owned(),
        }),
        // Not even a scheme: say nothing of the text, which may be a secret.
        None => Err(StoreUrlError::UnknownScheme {
            scheme: "(none: not a URL)".to_owned(),
        }),
    }
}

/// The URL's scheme, if it has a plausible one (RFC 3986 letters), so
/// that an error can name it without repeating anything else.
fn scheme(url: &str) -> Option<&str> {
    let (scheme, _) = url.split_once("://")?;
    let plausible = (1..=32).contains(&scheme.len())
        && scheme.starts_with(|c: char| c.is_ascii_alphabetic())
        && scheme
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
    plausible.then_some(scheme)
}

#[cfg(feature = "redis")]
async fn redis(url: &str, options: &UrlOptions) -> Result<Box<dyn DynStore>, StoreUrlError> {
    let mut config = crate::RedisStore::builder(url);
    if let Some(ca) = &options.tls_ca_file {
        config = config.ca_file(ca);
    }
    if let Some(wait) = options.replica_wait {
        config = config.wait_for_replica(wait);
    }
    if options.durable_commits {
        config = config.durable_commits();
    }
    let store = config.connect().await.map_err(StoreUrlError::Connect)?;
    Ok(Box::new(store))
}

#[cfg(not(feature = "redis"))]
async fn redis(_url: &str, _: &UrlOptions) -> Result<Box<dyn DynStore>, StoreUrlError> {
    Err(StoreUrlError::FeatureDisabled {
        scheme: "redis",
        feature: "redis",
    })
}

/// A PostgreSQL store with its table created if missing, so that an
/// example runs against an empty database.
#[cfg(feature = "postgres")]
async fn postgres(url: &str) -> Result<Box<dyn DynStore>, StoreUrlError> {
    let store = crate::PgStore::connect(url)
        .await
        .map_err(StoreUrlError::Connect)?;
    store.migrate().await.map_err(StoreUrlError::Connect)?;
    Ok(Box::new(store))
}

#[cfg(not(feature = "postgres"))]
async fn postgres(_: &str) -> Result<Box<dyn DynStore>, StoreUrlError> {
    Err(StoreUrlError::FeatureDisabled {
        scheme: "postgres",
        feature: "postgres",
    })
}

/// A SQLite store on a file (created if missing), with its table.
#[cfg(feature = "sqlite")]
async fn sqlite(url: &str) -> Result<Box<dyn DynStore>, StoreUrlError> {
    let store = crate::SqliteStore::connect(url)
        .await
        .map_err(StoreUrlError::Connect)?;
    store.migrate().await.map_err(StoreUrlError::Connect)?;
    Ok(Box::new(store))
}

#[cfg(not(feature = "sqlite"))]
async fn sqlite(_: &str) -> Result<Box<dyn DynStore>, StoreUrlError> {
    Err(StoreUrlError::FeatureDisabled {
        scheme: "sqlite",
        feature: "sqlite",
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_plausible_scheme_is_named() {
        assert_eq!(scheme("redis://u:p@h:1/2"), Some("redis"));
        assert_eq!(scheme("redis+cluster://h:1"), Some("redis+cluster"));
        assert_eq!(scheme("u:hunter2@host"), None);
        assert_eq!(scheme("hunter2 secret://x"), None);
    }

    #[tokio::test]
    async fn unknown_schemes_are_refused_without_echoing_credentials() {
        for url in [
            "mongodb://admin:hunter2@db:27017",
            "admin:hunter2@db",
            "hunter2",
        ] {
            let Err(err) = open(url, &UrlOptions::default()).await else {
                panic!("a store for an unknown URL")
            };
            let text = format!("{err} {err:?}");
            assert!(!text.contains("hunter2"), "{text}");
            assert!(matches!(err, StoreUrlError::UnknownScheme { .. }));
        }
    }

    #[cfg(feature = "redis")]
    #[tokio::test]
    async fn a_cluster_url_with_a_database_is_refused_without_echoing_credentials() {
        for url in [
            "redis+cluster://app:hunter2@127.0.0.1:1,127.0.0.1:2/0",
            "rediss+cluster://app:hunter2@127.0.0.1:1/3",
        ] {
            let Err(err) = open(url, &UrlOptions::default()).await else {
                panic!("a cluster store with a database")
            };
            let text = format!("{err} {err:?}");
            assert!(
                !text.contains("hunter2") && !text.contains("app:"),
                "{text}"
            );
            assert!(text.contains("only database 0"), "{text}");
        }
    }
}
