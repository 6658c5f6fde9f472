//! The shared store conformance suite against the memory store.
#![cfg(feature = "conformance")]

use std::sync::Arc;

use hyper_session::MemoryStore;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_store_conforms() {
    hyper_session::conformance::run(Arc::new(MemoryStore::new())).await;
}
