//! What the SQL stores share: the table's name and row layout, and how a
//! session's data is written in its `data` column.
//!
//! # Row layout
//!
//! One row per session, keyed by the 32-byte [`StoreKey`]. `data` is a
//! JSON object that maps each session key to a JSON *string* holding the
//! value's JSON text: `{"user":"\"ada\"","n":"7"}`. Wrapping every value in
//! a string is what keeps it exact, whatever the database does with JSON:
//!
//! - PostgreSQL's `jsonb` normalizes numbers, spaces and key order, and
//!   rejects `\u0000`; a string holding `"\u0000"` contains a backslash and
//!   five characters, which it keeps as they are;
//! - the merge functions (`jsonb ||`, SQLite's `json_patch`) recurse into
//!   nested objects; a string is never merged into, only replaced.
//!
//! An update is sent as a *patch* in the same form, where `null` removes a
//! key: `{"theme":"\"dark\"","cart":null}`. Both databases apply it in the
//! `UPDATE` itself, so a commit is one statement and never reads first.

use std::fmt;

use crate::error::StoreError;
use crate::id::StoreKey;
use crate::owner::{Handle, Owner, SessionInfo};
use crate::store::{Record, Revoke, SessionData, Update};

/// Rows deleted by one sweep statement, at most: a sweep of a million
/// expired sessions is a thousand short statements, none of which holds
/// locks (or, on SQLite, the write lock) for long.
pub const SWEEP_BATCH: u64 = 1_000;

/// A table name that is safe to write into SQL text.
///
/// Identifiers cannot be bound as parameters, so the name is checked once,
/// when the store is configured: 1 to 48 characters, lowercase ASCII
/// letters, digits and `_`, not starting with a digit. It is also always
/// quoted, so a reserved word (`user`, `order`) works too. 48 leaves room
/// for the index names derived from it within PostgreSQL's 63 bytes.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct TableName(String);

/// The name given for a session table is not one the SQL stores accept.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid session table name {shown:?}: use 1 to 48 lowercase ASCII letters, digits and `_`, not starting with a digit (to use another schema, set the connection's search_path)")]
pub struct InvalidTableName {
    /// The name given, cut to 64 characters.
    shown: String,
}

impl TableName {
    pub(crate) const DEFAULT: &'static str = "hyper_sessions";

    pub(crate) fn new(name: &str) -> Result<Self, InvalidTableName> {
        let valid = (1..=48).contains(&name.len())
            && !name.starts_with(|c: char| c.is_ascii_digit())
            && name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
        if valid {
            Ok(Self(name.to_owned()))
        } else {
            Err(InvalidTableName {
                shown: name.chars().take(64).collect(),
            })
        }
    }

    pub(crate) fn default_table() -> Self {
        Self(Self::DEFAULT.to_owned())
    }

    /// The bare name.
    pub(crate) fn as_str(&self) -> &str {
        &self.0
    }

    /// The quoted table name, for SQL text.
    pub(crate) fn quoted(&self) -> String {
        format!("\"{}\"", self.0)
    }

    /// The quoted name of one of the table's indexes.
    pub(crate) fn index(&self, what: &str) -> String {
        format!("\"{}_{what}\"", self.0)
    }

    /// A 64-bit number naming this table, for PostgreSQL advisory locks:
    /// FNV-1a of a fixed prefix and the name, stable across processes and
    /// builds (unlike `std`'s hasher).
    #[cfg(feature = "postgres")]
    pub(crate) fn lock_id(&self, purpose: &str) -> i64 {
        let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
        for b in "hyper-session "
            .bytes()
            .chain(purpose.bytes())
            .chain(" ".bytes())
            .chain(self.0.bytes())
        {
            hash ^= u64::from(b);
            hash = hash.wrapping_mul(0x0100_0000_01b3);
        }
        i64::from_ne_bytes(hash.to_ne_bytes())
    }
}

impl fmt::Debug for TableName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)
    }
}

/// The `data` column for a new session's record.
pub(crate) fn encode_data(data: &SessionData) -> String {
    // A map of strings to strings serializes to exactly the layout above;
    // serde_json cannot fail on it.
    serde_json::to_string(data).unwrap_or_else(|_| "{}".to_owned())
}

/// The patch an update applies to `data`, or `None` when it changes no key
/// (a commit that only moves the expiry then leaves `data` untouched).
pub(crate) fn encode_patch(update: &Update<'_>) -> Option<String> {
    if update.set.is_empty() && update.remove.is_empty() {
        return None;
    }
    let mut patch = serde_json::Map::with_capacity(update.set.len() + update.remove.len());
    // As `Update::apply_to`: removals first, so a key both removed and set
    // ends up set.
    for key in &update.remove {
        patch.insert((*key).to_owned(), serde_json::Value::Null);
    }
    for (key, value) in &update.set {
        patch.insert(
            (*key).to_owned(),
            serde_json::Value::String((*value).to_owned()),
        );
    }
    Some(serde_json::Value::Object(patch).to_string())
}

/// A row as the stores read it, before it is checked.
pub(crate) struct Row {
    pub(crate) data: String,
    pub(crate) created_at: i64,
    pub(crate) renewed_at: i64,
    pub(crate) expires_at: i64,
    /// NULL in rows written before the column existed.
    pub(crate) seen_at: Option<i64>,
    pub(crate) owner: Option<String>,
    pub(crate) handle: Option<String>,
    pub(crate) label: Option<String>,
}

/// The owner columns (`owner`, `handle`, `label`) of a record.
pub(crate) fn owner_columns(owner: Option<&Owner>) -> [Option<&str>; 3] {
    match owner {
        Some(o) => [
            Some(o.user.as_str()),
            Some(o.handle.as_str()),
            o.label.as_deref(),
        ],
        None => [None; 3],
    }
}

/// The handles a revocation selects, as two nullable parameters: the only
/// handle to end, and the one handle to keep.
pub(crate) fn revoke_params<'a>(which: &Revoke<'a>) -> (Option<&'a str>, Option<&'a str>) {
    match which {
        Revoke::One(h) => (Some(h.as_str()), None),
        Revoke::AllBut(h) => (None, Some(h.as_str())),
        _ => (None, None),
    }
}

/// A row of the listing statement: `handle, created_at, seen_at,
/// expires_at, label`.
pub(crate) type ListedRow = (String, i64, i64, i64, Option<String>);

/// The listing statement's rows as [`SessionInfo`]s; a handle that is not
/// ours is corrupt.
pub(crate) fn listing(rows: Vec<ListedRow>) -> Result<Vec<SessionInfo>, StoreError> {
    rows.into_iter()
        .map(|(h, c, s, e, l)| listed(h, c, s, e, l))
        .collect()
}

fn listed(
    handle: String,
    created_at: i64,
    seen_at: i64,
    expires_at: i64,
    label: Option<String>,
) -> Result<SessionInfo, StoreError> {
    let handle = Handle::parse(&handle).ok_or_else(|| {
        StoreError::Corrupt(
            "a session's `handle` column is not a handle; another program wrote it".into(),
        )
    })?;
    let ms = |v: i64| u64::try_from(v).unwrap_or(0);
    Ok(SessionInfo::new(
        handle,
        ms(created_at),
        ms(seen_at),
        ms(expires_at),
        label,
    ))
}

impl Row {
    /// The record the row holds, or [`StoreError::Corrupt`] naming the
    /// session by its fingerprint (never its data): `data` that is not our
    /// JSON layout, or a negative timestamp.
    pub(crate) fn into_record(self, key: &StoreKey) -> Result<Record, StoreError> {
        let data: SessionData = serde_json::from_str(&self.data).map_err(|_| {
            corrupt(
                key,
                "column `data` is not a JSON object of strings; another program wrote it",
            )
        })?;
        let owner = match (self.owner, self.handle) {
            (Some(user), Some(handle)) => {
                let handle = Handle::parse(&handle).ok_or_else(|| {
                    corrupt(
                        key,
                        "column `handle` is not a handle; another program wrote it",
                    )
                })?;
                Some(Owner::new(user, handle, self.label))
            }
            _ => None,
        };
        let renewed_at = millis(key, "renewed_at", self.renewed_at)?;
        let seen_at = match self.seen_at {
            Some(ms) => millis(key, "seen_at", ms)?,
            None => renewed_at,
        };
        Ok(Record::new(
            data,
            millis(key, "created_at", self.created_at)?,
            renewed_at,
            millis(key, "expires_at", self.expires_at)?,
        )
        .with_seen_at(seen_at)
        .with_owner(owner))
    }
}

fn millis(key: &StoreKey, column: &str, value: i64) -> Result<u64, StoreError> {
    u64::try_from(value).map_err(|_| {
        corrupt(
            key,
            &format!("column `{column}` is negative, not a time in ms since the Unix epoch"),
        )
    })
}

/// [`StoreError::Corrupt`] about the row of session `key`.
pub(crate) fn corrupt(key: &StoreKey, what: &str) -> StoreError {
    StoreError::Corrupt(format!("session {}: {what}", key.fingerprint()))
}

/// A time in ms for a `BIGINT` column: past `i64::MAX` (year 292 million)
/// is as good as never.
pub(crate) fn to_sql_ms(ms: u64) -> i64 {
    i64::try_from(ms).unwrap_or(i64::MAX)
}

/// Now, in ms since the Unix epoch, for a `BIGINT` column.
pub(crate) fn now_sql_ms() -> i64 {
    to_sql_ms(crate::expiry::now_ms())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_names_are_checked() {
        for good in ["hyper_sessions", "s", "_x", "app2_sessions", "user"] {
            assert!(TableName::new(good).is_ok(), "{good}");
        }
        for bad in [
            "",
            "2fast",
            "Sessions",
            "a-b",
            "a.b",
            "x\"; DROP TABLE users; --",
            "s p",
            &"x".repeat(49),
        ] {
            let err = TableName::new(bad).expect_err(bad);
            assert!(err.to_string().contains("invalid session table name"));
        }
        let t = TableName::new("order").expect("valid");
        assert_eq!(t.quoted(), "\"order\"");
        assert_eq!(t.index("expires_at"), "\"order_expires_at\"");
        #[cfg(feature = "postgres")]
        {
            assert_ne!(t.lock_id("sweep"), t.lock_id("migrate"));
            let again = TableName::new("order").expect("valid");
            assert_eq!(t.lock_id("sweep"), again.lock_id("sweep"));
        }
    }

    #[test]
    fn data_round_trips_exactly() {
        let nested = r#"{"a":{"b":1,"c":[1,2]},"s":"nul \u0000 and \"quotes\""}"#;
        let data = SessionData::from_iter([
            ("n".to_owned(), nested.to_owned()),
            ("num".to_owned(), "1.50".to_owned()),
            ("k.with\"odd$chars".to_owned(), "true".to_owned()),
        ]);
        let row = Row {
            data: encode_data(&data),
            created_at: 1,
            renewed_at: 2,
            expires_at: 3,
            seen_at: None,
            owner: None,
            handle: None,
            label: None,
        };
        let key = StoreKey::from_bytes([1; 32]);
        assert_eq!(row.into_record(&key).expect("valid").data, data);
    }

    #[test]
    fn a_patch_sets_values_as_strings_and_removes_with_null() {
        let update = Update::new(5).set("a", "{\"x\":1}").remove("b").remove("a");
        let patch: serde_json::Value =
            serde_json::from_str(&encode_patch(&update).expect("a patch")).expect("json");
        assert_eq!(patch, serde_json::json!({ "a": "{\"x\":1}", "b": null }));
        assert_eq!(encode_patch(&Update::new(5)), None);
    }

    #[test]
    fn bad_rows_are_corrupt_and_name_the_fingerprint_only() {
        let key = StoreKey::from_bytes([0xab; 32]);
        for (data, expires_at) in [("not json", 5), ("[1,2]", 5), ("{\"a\":1}", 5), ("{}", -1)] {
            let row = Row {
                data: data.to_owned(),
                created_at: 1,
                renewed_at: 1,
                expires_at,
                seen_at: None,
                owner: None,
                handle: None,
                label: None,
            };
            match row.into_record(&key) {
                Err(StoreError::Corrupt(text)) => {
                    assert!(text.contains("abababab"), "{text}");
                    assert!(!text.contains(data) || data == "{}", "{text}");
                }
                other => panic!("{data}: {other:?}"),
            }
        }
    }
}
