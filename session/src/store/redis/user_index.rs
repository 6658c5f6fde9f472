//! The Redis store's per-user index.
//!
//! # Layout
//!
//! One hash per user, at `{prefix}u:{digest}` (cluster mode:
//! `{prefix}{u:{digest}}`, its own slot), where the digest is a SHA-256 of
//! the user id: no byte of the id shapes the key or picks the slot. A field
//! per signed-in session, named by its handle, whose value is
//! `newest key,previous key,touched ms`: the store keys (hex) the session
//! lives under or is moving between, and when the entry was last written.
//! The hash expires a minute after the latest expiry of its sessions
//! ([`GRACE_MS`]), so it goes away by itself after the user's last session.
//!
//! # Order of writes
//!
//! The index entry is written *before* the session under a new key (a
//! create, a sign-in, a move), and keeps the previous key too, so that a
//! revocation that reads the entry at any moment reaches both. A
//! revocation ends every key the entry names, then removes the entry only
//! if it is unchanged ([`CAS_DEL`]); if a move re-pointed it meanwhile, it
//! goes again. A listing reads the entry (one command), then the sessions
//! (one pipeline), and removes entries whose sessions all ended, unless
//! written in the last [`GRACE_MS`] (the session may be on its way). No
//! script ever spans the index and a session: in a cluster they live in
//! different slots.

use std::collections::HashMap;
use std::sync::LazyLock;

use redis::Script;

use super::{Conn, RedisStore, Times, HANDLE, LABEL, OLD_EXPIRES, OWNER, SEEN, TIMES};
use crate::error::StoreError;
use crate::expiry::now_ms;
use crate::id::StoreKey;
use crate::owner::{user_digest, Handle, Owner, SessionInfo};
use crate::store::{BoxFuture, Revoke, UserIndex};

/// How long an index entry outlives what it last pointed to, and how long
/// the index hash outlives its sessions' latest expiry: room for a write
/// in flight (bounded by the store timeout, seconds) and for a request that
/// extended a session without knowing it was signed in.
const GRACE_MS: u64 = 60_000;

/// How often a revocation follows an entry that keeps being re-pointed by
/// moves before it gives up with an error.
const REVOKE_PASSES: usize = 8;

/// Writes an entry (when ARGV[2], the handle, is not empty) pointing at
/// ARGV[3] and keeping the key it pointed at before, and makes the hash
/// live at least until ARGV[1]. ARGV[4]: now.
static TOUCH: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
if ARGV[2] ~= '' then
  local prev = redis.call('HGET', KEYS[1], ARGV[2])
  local first, second
  if prev then first, second = string.match(prev, '^([^,]*),([^,]*),') end
  first = first or ''
  second = second or ''
  if first ~= ARGV[3] then second = first end
  redis.call('HSET', KEYS[1], ARGV[2], ARGV[3] .. ',' .. second .. ',' .. ARGV[4])
end
local at = tonumber(ARGV[1])
local t = redis.call('PEXPIRETIME', KEYS[1])
if t == -1 or (t >= 0 and t < at) then redis.call('PEXPIREAT', KEYS[1], at) end
return 1
",
    )
});

/// Removes entry ARGV[1] if its value is still ARGV[2].
static CAS_DEL: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
if redis.call('HGET', KEYS[1], ARGV[1]) == ARGV[2] then
  return redis.call('HDEL', KEYS[1], ARGV[1])
end
return 0
",
    )
});

/// Removes entry ARGV[1] if it points at key ARGV[2] first (a logout).
static FORGET: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local v = redis.call('HGET', KEYS[1], ARGV[1])
if v and string.sub(v, 1, string.len(ARGV[2]) + 1) == ARGV[2] .. ',' then
  return redis.call('HDEL', KEYS[1], ARGV[1])
end
return 0
",
    )
});

/// One field of a user's index hash.
struct Entry {
    handle: Handle,
    value: String,
}

impl Entry {
    /// The store keys (hex) the entry names.
    fn keys(&self) -> Vec<&str> {
        keys_of(&self.value)
    }

    /// When the entry was last written (0 if unreadable: prune it).
    fn touched(&self) -> u64 {
        self.value
            .rsplit(',')
            .next()
            .and_then(|ms| ms.parse().ok())
            .unwrap_or(0)
    }
}

fn keys_of(value: &str) -> Vec<&str> {
    value
        .split(',')
        .take(2)
        .filter(|k| k.len() == 64 && k.bytes().all(|b| b.is_ascii_hexdigit()))
        .collect()
}

/// What a listing reads of one session: `HMGET` of [`META`].
struct Meta(Vec<Option<String>>);

/// `m:e` for the hashes of earlier releases, which kept the end apart.
const META: [&str; 6] = [TIMES, OLD_EXPIRES, SEEN, OWNER, HANDLE, LABEL];

impl Meta {
    fn ms(&self, i: usize) -> Option<u64> {
        super::parse_ms(self.0.get(i)?.as_deref()?)
    }

    fn text(&self, i: usize) -> Option<&str> {
        self.0.get(i)?.as_deref()
    }

    fn times(&self) -> Option<Times> {
        Times::parse(self.text(0)?)
    }

    fn expires(&self) -> Option<u64> {
        self.times()?.expires.or_else(|| self.ms(1))
    }

    /// Whether the hash is a live session (has `m:c`, not past its end).
    fn alive(&self, now: u64) -> bool {
        self.text(0).is_some() && self.expires().is_some_and(|e| e > now)
    }

    /// Whether it is the live session of `user` with `handle`.
    fn ours(&self, user: &str, handle: &Handle, now: u64) -> bool {
        self.alive(now) && self.text(3) == Some(user) && self.text(4) == Some(handle.as_str())
    }

    fn info(&self, handle: Handle) -> SessionInfo {
        let created = self.times().map_or(0, |t| t.created);
        SessionInfo::new(
            handle,
            created,
            self.ms(2).unwrap_or(created),
            self.expires().unwrap_or(0),
            self.text(5).map(str::to_owned),
        )
    }
}

impl RedisStore {
    /// The key of `user`'s index hash (see the [module docs](self)).
    fn index_key(&self, user: &str) -> String {
        let digest = user_digest(user);
        match self.connection {
            Conn::Single(_) => format!("{}u:{digest}", self.prefix),
            Conn::Cluster(_) => format!("{}{{u:{digest}}}", self.prefix),
        }
    }

    /// Makes `owner`'s index live until `expires_at` (and a grace), and
    /// with `key`, points the session's entry at it first: one command.
    pub(super) async fn index_touch(
        &self,
        owner: &Owner,
        key: Option<&StoreKey>,
        expires_at: u64,
    ) -> Result<(), StoreError> {
        let index = self.index_key(&owner.user);
        let (handle, hex) = match key {
            Some(key) => (owner.handle.as_str(), key.to_hex()),
            None => ("", String::new()),
        };
        let (index, hex) = (index.as_str(), hex.as_str());
        let at = expires_at.saturating_add(GRACE_MS);
        let now = now_ms();
        self.retry(
            "Redis session index write failed",
            move |mut conn| async move {
                TOUCH
                    .key(index)
                    .arg(at)
                    .arg(handle)
                    .arg(hex)
                    .arg(now)
                    .invoke_async::<i64>(&mut conn)
                    .await
            },
        )
        .await?;
        Ok(())
    }

    /// The entries of `user`'s index: one `HGETALL`.
    async fn index_entries(&self, index: &str) -> Result<Vec<Entry>, StoreError> {
        let fields: HashMap<String, String> = self
            .retry(
                "Redis session index read failed",
                move |mut conn| async move {
                    redis::cmd("HGETALL")
                        .arg(index)
                        .query_async(&mut conn)
                        .await
                },
            )
            .await?;
        Ok(fields
            .into_iter()
            .filter_map(|(handle, value)| {
                Some(Entry {
                    handle: Handle::parse(&handle)?,
                    value,
                })
            })
            .collect())
    }

    /// What each session in `keys` (hex) holds of [`META`]: one pipeline
    /// on a single Redis; in a cluster, where the sessions live in other
    /// slots, one command each.
    async fn metas(&self, keys: &[&str]) -> Result<Vec<Meta>, StoreError> {
        let names: Vec<String> = keys.iter().map(|k| self.key_of_hex(k)).collect();
        let what = "Redis session index lookup failed";
        match self.connection {
            Conn::Single(_) => {
                let names = &names;
                let rows: Vec<Vec<Option<String>>> = self
                    .retry(what, move |mut conn| async move {
                        let mut pipe = redis::pipe();
                        for name in names {
                            pipe.cmd("HMGET").arg(name).arg(&META);
                        }
                        pipe.query_async(&mut conn).await
                    })
                    .await?;
                Ok(rows.into_iter().map(Meta).collect())
            }
            Conn::Cluster(_) => {
                let mut metas = Vec::with_capacity(names.len());
                for name in &names {
                    let name = name.as_str();
                    let row: Vec<Option<String>> = self
                        .retry(what, move |mut conn| async move {
                            redis::cmd("HMGET")
                                .arg(name)
                                .arg(&META)
                                .query_async(&mut conn)
                                .await
                        })
                        .await?;
                    metas.push(Meta(row));
                }
                Ok(metas)
            }
        }
    }

    /// Runs one of the index scripts on `index` with `args`.
    async fn index_script(
        &self,
        script: &Script,
        index: &str,
        args: [&str; 2],
    ) -> Result<bool, StoreError> {
        let done: i64 = self
            .retry(
                "Redis session index write failed",
                move |mut conn| async move {
                    script
                        .key(index)
                        .arg(args[0])
                        .arg(args[1])
                        .invoke_async(&mut conn)
                        .await
                },
            )
            .await?;
        Ok(done == 1)
    }

    async fn list_user(&self, user: &str) -> Result<Vec<SessionInfo>, StoreError> {
        let now = now_ms();
        let index = self.index_key(user);
        let entries = self.index_entries(&index).await?;
        let keys: Vec<&str> = entries.iter().flat_map(Entry::keys).collect();
        let mut metas = self.metas(&keys).await?.into_iter();
        let mut listed = Vec::with_capacity(entries.len());
        for entry in &entries {
            let mine: Vec<Meta> = metas.by_ref().take(entry.keys().len()).collect();
            match mine.iter().find(|m| m.ours(user, &entry.handle, now)) {
                Some(meta) => listed.push(meta.info(entry.handle.clone())),
                // Every key it names has ended: repair, unless the entry
                // is fresh (its session may be on its way).
                None if entry.touched().saturating_add(GRACE_MS) < now => {
                    self.index_script(&CAS_DEL, &index, [entry.handle.as_str(), &entry.value])
                        .await?;
                }
                None => {}
            }
        }
        Ok(listed)
    }

    async fn revoke_user(&self, user: &str, which: Revoke<'_>) -> Result<u64, StoreError> {
        let index = self.index_key(user);
        let mut revoked = 0;
        for entry in self.index_entries(&index).await? {
            if !which.selects(&entry.handle) {
                continue;
            }
            if self.revoke_entry(&index, user, entry).await? {
                revoked += 1;
            }
        }
        Ok(revoked)
    }

    /// Ends every key `entry` names (but one that is now another user's
    /// session), then removes the entry if no move re-pointed it meanwhile;
    /// otherwise goes again. Returns whether a live session was ended.
    async fn revoke_entry(
        &self,
        index: &str,
        user: &str,
        entry: Entry,
    ) -> Result<bool, StoreError> {
        let Entry { handle, mut value } = entry;
        let mut ended = false;
        for _ in 0..REVOKE_PASSES {
            let now = now_ms();
            let keys = keys_of(&value);
            let metas = self.metas(&keys).await?;
            // The older key first: a move renames it to the newer one, so
            // once it is ended no move can follow, and a move that came
            // before leaves the session under the newer key, ended next.
            // Newer first, a move landing between the two would leave the
            // session alive under a key this pass had found empty.
            for (hex, meta) in keys.iter().zip(&metas).rev() {
                if meta.alive(now) && !meta.ours(user, &handle, now) {
                    continue;
                }
                ended |= self.end(&self.key_of_hex(hex)).await?;
            }
            if self
                .index_script(&CAS_DEL, index, [handle.as_str(), &value])
                .await?
            {
                return Ok(ended);
            }
            let field = handle.as_str();
            let current: Option<String> = self
                .retry(
                    "Redis session index read failed",
                    move |mut conn| async move {
                        redis::cmd("HGET")
                            .arg(index)
                            .arg(field)
                            .query_async(&mut conn)
                            .await
                    },
                )
                .await?;
            match current {
                Some(current) => value = current,
                None => return Ok(ended),
            }
        }
        Err(StoreError::backend(
            "a revoked session kept moving to new ids while it was being revoked; try again",
        ))
    }
}

impl UserIndex for RedisStore {
    fn list<'a>(&'a self, user: &'a str) -> BoxFuture<'a, Result<Vec<SessionInfo>, StoreError>> {
        Box::pin(self.list_user(user))
    }

    fn revoke<'a>(
        &'a self,
        user: &'a str,
        which: Revoke<'a>,
    ) -> BoxFuture<'a, Result<u64, StoreError>> {
        Box::pin(self.revoke_user(user, which))
    }

    fn forget<'a>(
        &'a self,
        owner: &'a Owner,
        key: &'a StoreKey,
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(async move {
            let index = self.index_key(&owner.user);
            self.index_script(&FORGET, &index, [owner.handle.as_str(), &key.to_hex()])
                .await?;
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_name_at_most_two_keys_and_when_they_were_written() {
        let (a, b) = ("a".repeat(64), "b".repeat(64));
        let entry = Entry {
            handle: Handle::parse(&"0".repeat(32)).expect("handle"),
            value: format!("{a},{b},1234"),
        };
        assert_eq!(entry.keys(), [a.as_str(), b.as_str()]);
        assert_eq!(entry.touched(), 1234);
        let fresh = Entry {
            handle: entry.handle.clone(),
            value: format!("{a},,99"),
        };
        assert_eq!(fresh.keys(), [a.as_str()]);
        let garbage = Entry {
            handle: entry.handle.clone(),
            value: "garbage".into(),
        };
        assert!(garbage.keys().is_empty());
        assert_eq!(garbage.touched(), 0);
    }

    /// A listing reads a signed-in session of this release (times in
    /// `m:c`) and of an earlier one (`m:c` the creation alone, `m:e` the
    /// end) alike.
    #[test]
    fn a_listing_reads_the_times_of_either_layout() {
        let handle = Handle::parse(&"7".repeat(32)).expect("handle");
        let text = |v: &str| Some(v.to_owned());
        let signed_in = |times: &str, old_expires: Option<String>| {
            Meta(vec![
                text(times),
                old_expires,
                text("1500ms"),
                text("ada"),
                text(handle.as_str()),
                text("Firefox"),
            ])
        };
        for meta in [
            signed_in("1000,5000", None),
            signed_in("1000ms", text("5000ms")),
        ] {
            assert!(meta.alive(4_999));
            assert!(!meta.alive(5_000), "ended at its end");
            assert!(meta.ours("ada", &handle, 4_999));
            assert!(!meta.ours("bob", &handle, 4_999));
            let info = meta.info(handle.clone());
            assert_eq!(
                (info.created_at, info.last_seen, info.expires_at),
                (1000, 1500, 5000)
            );
            assert_eq!(info.label.as_deref(), Some("Firefox"));
        }
        let no_end = signed_in("1000ms", None);
        assert!(
            !no_end.alive(0),
            "an earlier release's hash without m:e is no live session"
        );
    }
}
