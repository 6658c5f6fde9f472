//! What sqlx ran, from its own log (`sqlx::query` events): each statement
//! with its summary, the rows it changed and how long it took. Shared by
//! the SQLite tests (which statements a call sends) and the sweep bench
//! (how long each sweep statement took).

use std::sync::{Mutex, Once};
use std::time::Duration;

/// One statement sqlx ran.
#[derive(Debug, Clone, Default)]
pub struct Statement {
    /// Its text.
    pub sql: String,
    /// sqlx's summary (the statement's first words).
    pub summary: String,
    pub rows: u64,
    pub took: Duration,
}

static LOG: Mutex<Vec<Statement>> = Mutex::new(Vec::new());

struct Log;

impl tracing::field::Visit for Statement {
    fn record_str(&mut self, field: &tracing::field::Field, value: &str) {
        match field.name() {
            "db.statement" => value.trim().clone_into(&mut self.sql),
            "summary" => value.clone_into(&mut self.summary),
            _ => {}
        }
    }
    fn record_u64(&mut self, field: &tracing::field::Field, value: u64) {
        if field.name() == "rows_affected" {
            self.rows = value;
        }
    }
    fn record_f64(&mut self, field: &tracing::field::Field, value: f64) {
        if field.name() == "elapsed_secs" {
            self.took = Duration::from_secs_f64(value);
        }
    }
    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        let text = || format!("{value:?}").trim_matches('"').to_owned();
        match field.name() {
            "db.statement" => self.sql = format!("{value:?}"),
            "summary" => self.summary = text(),
            _ => {}
        }
    }
}

impl tracing::Subscriber for Log {
    fn enabled(&self, metadata: &tracing::Metadata<'_>) -> bool {
        metadata.target() == "sqlx::query"
    }
    fn new_span(&self, _: &tracing::span::Attributes<'_>) -> tracing::span::Id {
        tracing::span::Id::from_u64(1)
    }
    fn record(&self, _: &tracing::span::Id, _: &tracing::span::Record<'_>) {}
    fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}
    fn event(&self, event: &tracing::Event<'_>) {
        let mut statement = Statement::default();
        event.record(&mut statement);
        LOG.lock().expect("lock").push(statement);
    }
    fn enter(&self, _: &tracing::span::Id) {}
    fn exit(&self, _: &tracing::span::Id) {}
}

/// The statements logged since the last call (the first call starts the
/// log: this process's only `tracing` subscriber).
pub fn take() -> Vec<Statement> {
    static INSTALL: Once = Once::new();
    INSTALL.call_once(|| {
        tracing::subscriber::set_global_default(Log).expect("no other subscriber");
    });
    std::mem::take(&mut *LOG.lock().expect("lock"))
}
