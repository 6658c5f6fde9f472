//! Captures `tracing` events so tests can check what the library logs.

use std::fmt::Write as _;
use std::sync::{Arc, Mutex};

use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::layer::{Context, Layer, SubscriberExt as _};

/// One event: its level and every field rendered as `name=value`.
#[derive(Debug, Clone)]
pub struct Captured {
    pub level: Level,
    pub text: String,
}

/// Collected events, shared with the subscriber.
#[derive(Clone, Default)]
pub struct Logs(Arc<Mutex<Vec<Captured>>>);

impl Logs {
    /// Installs a capturing subscriber for the current thread (use a
    /// current-thread runtime so the server's tasks log here too).
    pub fn capture() -> (Self, tracing::subscriber::DefaultGuard) {
        let logs = Self::default();
        let subscriber = tracing_subscriber::registry().with(logs.clone());
        let guard = tracing::subscriber::set_default(subscriber);
        (logs, guard)
    }

    pub fn events(&self) -> Vec<Captured> {
        self.0.lock().expect("logs lock").clone()
    }

    pub fn any(&self, level: Level, needle: &str) -> bool {
        self.events()
            .iter()
            .any(|e| e.level == level && e.text.contains(needle))
    }

    pub fn all_text(&self) -> String {
        self.events()
            .iter()
            .map(|e| format!("{} {}\n", e.level, e.text))
            .collect()
    }
}

struct Fields<'a>(&'a mut String);

impl Visit for Fields<'_> {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        let _ = write!(self.0, "{}={:?} ", field.name(), value);
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        let _ = write!(self.0, "{}={} ", field.name(), value);
    }
}

impl<S: Subscriber> Layer<S> for Logs {
    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        let mut text = String::new();
        event.record(&mut Fields(&mut text));
        self.0.lock().expect("logs lock").push(Captured {
            level: *event.metadata().level(),
            text,
        });
    }
}
