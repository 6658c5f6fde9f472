//! Captures `tracing` events so tests can check what the library logs.
//!
//! One process-wide subscriber collects every event: a thread-local one
//! would miss events from callsites that another thread hit first (tracing
//! caches a callsite's interest globally). A capture sees the events logged
//! since it started, by any test of the binary, which is harmless for what
//! the tests check: that some event says X, and that no event holds a
//! secret of their own.

use std::fmt::Write as _;
use std::sync::{Mutex, Once};

use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::layer::{Context, Layer, SubscriberExt as _};

/// One event: its level and every field rendered as `name=value`.
#[derive(Debug, Clone)]
pub struct Captured {
    pub level: Level,
    pub text: String,
}

static EVENTS: Mutex<Vec<Captured>> = Mutex::new(Vec::new());

/// The events logged since [`Logs::capture`].
pub struct Logs {
    from: usize,
}

/// Kept for the call sites' shape; the subscriber is process-wide.
pub struct Guard;

impl Logs {
    pub fn capture() -> (Self, Guard) {
        static INSTALL: Once = Once::new();
        INSTALL.call_once(|| {
            let subscriber = tracing_subscriber::registry().with(Collector);
            tracing::subscriber::set_global_default(subscriber)
                .expect("no other global subscriber");
        });
        let from = EVENTS.lock().expect("logs lock").len();
        (Self { from }, Guard)
    }

    pub fn events(&self) -> Vec<Captured> {
        EVENTS.lock().expect("logs lock")[self.from..].to_vec()
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

struct Collector;

impl<S: Subscriber> Layer<S> for Collector {
    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        let mut text = String::new();
        event.record(&mut Fields(&mut text));
        EVENTS.lock().expect("logs lock").push(Captured {
            level: *event.metadata().level(),
            text,
        });
    }
}
