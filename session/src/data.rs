//! The map a session's data lives in, from the store to the handler and
//! back: keys and their values as JSON text.

use std::collections::HashMap;
use std::fmt;
use std::hash::BuildHasher;

/// A session's keys and their values serialized as JSON text, as the
/// store holds them and [`Record::data`](crate::store::Record::data)
/// carries them.
///
/// A `HashMap` with a faster hasher than the standard one: a request
/// hashes the same short keys several times (load, get, insert, commit),
/// and SipHash spent more on them than the rest of the map's work
/// (`benches/instructions.rs`). Its seeds are random per process and per
/// map, so that keys cannot be chosen to collide.
///
/// ```
/// use hyper_session::store::SessionData;
///
/// let data = SessionData::from_iter([("user".to_owned(), "\"ada\"".to_owned())]);
/// assert_eq!(data.get("user").map(String::as_str), Some("\"ada\""));
/// ```
pub type SessionData = HashMap<String, String, DataHasher>;

/// The hasher of [`SessionData`]: foldhash, randomly seeded.
#[derive(Clone, Default)]
pub struct DataHasher(foldhash::fast::RandomState);

impl BuildHasher for DataHasher {
    type Hasher = foldhash::fast::FoldHasher<'static>;

    fn build_hasher(&self) -> Self::Hasher {
        self.0.build_hasher()
    }
}

impl fmt::Debug for DataHasher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("DataHasher")
    }
}
