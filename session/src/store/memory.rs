//! The in-memory store: the zero-configuration default.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::Duration;

use crate::error::StoreError;
use crate::expiry::now_ms;
use crate::id::StoreKey;
use crate::store::{AtomicMove, BoxFuture, Capabilities, Record, SessionStore, Sweep, Update};

const DEFAULT_CAPACITY: usize = 1_000_000;
const SHARDS: usize = 64;
const SWEEP_EVERY: Duration = Duration::from_secs(1);
/// Entries looked at to choose one to evict when a shard is full.
const EVICTION_SAMPLE: usize = 8;

/// Sessions in this process's memory: fast, bounded, and gone at exit.
///
/// - **Sharded**: 64 independently locked maps, so requests rarely wait on
///   each other; no lock is held across an `.await`.
/// - **Bounded**: at most `capacity` sessions, so a flood of visitors cannot
///   exhaust memory. A full shard evicts, among a sample of 8 of its
///   entries, the one closest to expiry (an approximation of "evict the
///   idlest", as Redis's `volatile-ttl` does): bounded work on the request
///   that needs the room, never a scan of the shard.
/// - **Reclaimed**: a background thread drops expired entries once a second,
///   one shard at a time, so requests never stall behind a full sweep. The
///   thread ends when the store is dropped. Expired entries are also never
///   returned, whether or not they were swept yet.
///
/// Sessions do not survive a restart and are not seen by other processes:
/// use a shared store (e.g. Redis) for that.
///
/// # Example
///
/// ```
/// use hyper_session::{MemoryStore, Sessions};
///
/// let sessions = Sessions::builder()
///     .store(MemoryStore::with_capacity(10_000))
///     .build()
///     .unwrap(); // no secret needed: a memory store gets a random key
/// # let _ = sessions;
/// ```
#[derive(Clone)]
pub struct MemoryStore {
    shared: Arc<Shards>,
}

struct Shards {
    shards: Box<[Mutex<Shard>]>,
    per_shard: usize,
}

type Shard = HashMap<StoreKey, Entry, BuildHasherDefault<KeyHasher>>;

/// A compact record: sessions hold few keys, so a boxed slice beats a map.
struct Entry {
    data: Box<[(Box<str>, Box<str>)]>,
    created_at: u64,
    renewed_at: u64,
    expires_at: u64,
}

impl Default for MemoryStore {
    fn default() -> Self {
        Self::new()
    }
}

impl MemoryStore {
    /// How many sessions [`MemoryStore::new`] holds before it evicts.
    pub const DEFAULT_CAPACITY: usize = DEFAULT_CAPACITY;

    /// A store for up to [`DEFAULT_CAPACITY`](Self::DEFAULT_CAPACITY) sessions.
    pub fn new() -> Self {
        Self::with_capacity(DEFAULT_CAPACITY)
    }

    /// A store for up to `capacity` sessions (at least 64, one per shard).
    pub fn with_capacity(capacity: usize) -> Self {
        let per_shard = capacity.div_ceil(SHARDS).max(1);
        let shards = (0..SHARDS).map(|_| Mutex::new(Shard::default())).collect();
        let shared = Arc::new(Shards { shards, per_shard });
        spawn_sweeper(Arc::downgrade(&shared));
        Self { shared }
    }

    /// Number of entries held, expired ones not yet swept included.
    pub fn len(&self) -> usize {
        self.shared.shards.iter().map(|s| lock(s).len()).sum()
    }

    /// Whether the store holds no entry.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Drops every expired entry now; returns how many.
    pub fn purge_expired(&self) -> usize {
        self.shared.sweep(now_ms())
    }

    fn shard(&self, key: &StoreKey) -> MutexGuard<'_, Shard> {
        // The key is a SHA-256 output: any of its bytes are uniform. Bytes
        // 0..8 feed the map's hasher, byte 8 picks the shard.
        lock(&self.shared.shards[usize::from(key.as_bytes()[8]) % SHARDS])
    }
}

impl Shards {
    fn sweep(&self, now: u64) -> usize {
        self.shards
            .iter()
            .map(|shard| {
                let mut shard = lock(shard);
                let before = shard.len();
                shard.retain(|_, e| e.expires_at > now);
                before - shard.len()
            })
            .sum()
    }
}

/// A poisoned shard only means another thread panicked mid-operation on
/// plain data that is never left half-written; keep serving.
fn lock(shard: &Mutex<Shard>) -> MutexGuard<'_, Shard> {
    shard
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn spawn_sweeper(shards: Weak<Shards>) {
    let spawned = std::thread::Builder::new()
        .name("hyper-session-sweep".into())
        .spawn(move || loop {
            std::thread::sleep(SWEEP_EVERY);
            let Some(shards) = shards.upgrade() else {
                return;
            };
            let swept = shards.sweep(now_ms());
            if swept > 0 {
                tracing::debug!(swept, "memory store reclaimed expired sessions");
            }
        });
    if let Err(e) = spawned {
        // Expired entries are still never served and are dropped when a
        // shard needs room; only the background reclaiming is lost.
        tracing::warn!(error = %e, "memory store could not start its sweeper thread");
    }
}

impl Entry {
    fn from_record(record: &Record) -> Self {
        Self {
            data: record
                .data
                .iter()
                .map(|(k, v)| (Box::from(k.as_str()), Box::from(v.as_str())))
                .collect(),
            created_at: record.created_at,
            renewed_at: record.renewed_at,
            expires_at: record.expires_at,
        }
    }

    fn to_record(&self) -> Record {
        Record {
            data: self
                .data
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            created_at: self.created_at,
            renewed_at: self.renewed_at,
            expires_at: self.expires_at,
        }
    }

    fn merge(&mut self, update: &Update<'_>) {
        self.expires_at = update.expires_at;
        // The common commit replaces values of keys the session has: that
        // happens in place; only added or removed keys rebuild the slice.
        let mut added = Vec::new();
        for (key, value) in &update.set {
            match self.data.iter_mut().find(|(have, _)| **have == **key) {
                Some(slot) => slot.1 = Box::from(*value),
                None => added.push((Box::from(*key), Box::from(*value))),
            }
        }
        if added.is_empty() && update.remove.is_empty() {
            return;
        }
        let mut data = std::mem::take(&mut self.data).into_vec();
        data.retain(|(k, _)| !update.remove.contains(&&**k));
        data.extend(added);
        self.data = data.into_boxed_slice();
    }
}

/// Makes room in a full shard: evicts, among a small sample, the entry
/// closest to expiry (an expired one, if the sample holds any). Bounded
/// work: a flood that keeps the store full never pays for a full scan;
/// expired entries in general are the sweeper's job.
fn make_room(shard: &mut Shard, per_shard: usize) {
    if shard.len() < per_shard {
        return;
    }
    let victim = shard
        .iter()
        .take(EVICTION_SAMPLE)
        .min_by_key(|(_, e)| e.expires_at)
        .map(|(k, _)| *k);
    if let Some(victim) = victim {
        shard.remove(&victim);
        tracing::debug!(session = %victim.fingerprint(), "memory store full: evicted a session");
    }
}

impl SessionStore for MemoryStore {
    async fn load(&self, key: &StoreKey) -> Result<Option<Record>, StoreError> {
        let now = now_ms();
        let shard = self.shard(key);
        Ok(shard
            .get(key)
            .filter(|e| e.expires_at > now)
            .map(Entry::to_record))
    }

    async fn create(&self, key: &StoreKey, record: &Record) -> Result<bool, StoreError> {
        use std::collections::hash_map::Entry as Slot;
        let now = now_ms();
        let entry = Entry::from_record(record);
        let mut shard = self.shard(key);
        make_room(&mut shard, self.shared.per_shard);
        // One lookup: on a large store each probe is a cache miss.
        match shard.entry(*key) {
            Slot::Occupied(slot) if slot.get().expires_at > now => Ok(false),
            Slot::Occupied(mut slot) => {
                slot.insert(entry);
                Ok(true)
            }
            Slot::Vacant(slot) => {
                slot.insert(entry);
                Ok(true)
            }
        }
    }

    async fn update(&self, key: &StoreKey, update: &Update<'_>) -> Result<bool, StoreError> {
        let now = now_ms();
        let mut shard = self.shard(key);
        match shard.get_mut(key) {
            Some(entry) if entry.expires_at > now => {
                entry.merge(update);
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    async fn delete(&self, key: &StoreKey) -> Result<bool, StoreError> {
        let now = now_ms();
        Ok(self
            .shard(key)
            .remove(key)
            .is_some_and(|e| e.expires_at > now))
    }

    fn is_shared(&self) -> bool {
        false
    }

    fn may_block(&self) -> bool {
        false
    }

    fn capabilities(&self) -> Capabilities<'_> {
        Capabilities::none().with_sweep(self).with_atomic_move(self)
    }
}

impl Sweep for MemoryStore {
    fn sweep(&self) -> BoxFuture<'_, Result<u64, StoreError>> {
        let swept = self.purge_expired() as u64;
        Box::pin(std::future::ready(Ok(swept)))
    }
}

impl AtomicMove for MemoryStore {
    fn move_to<'a>(
        &'a self,
        from: &'a StoreKey,
        to: &'a StoreKey,
        update: &'a Update<'a>,
    ) -> BoxFuture<'a, Result<bool, StoreError>> {
        // Taking the entry out of its shard is the atomic step: from then on
        // no request finds it under `from`, and only this call holds it.
        // Nobody knows `to` yet, so inserting it a moment later is unseen.
        let now = now_ms();
        let taken = self.shard(from).remove(from).filter(|e| e.expires_at > now);
        let moved = match taken {
            Some(mut entry) => {
                entry.merge(update);
                if let Some(renewed_at) = update.renewed_at {
                    entry.renewed_at = renewed_at;
                }
                let mut shard = self.shard(to);
                make_room(&mut shard, self.shared.per_shard);
                shard.insert(*to, entry);
                true
            }
            None => false,
        };
        Box::pin(std::future::ready(Ok(moved)))
    }
}

impl std::fmt::Debug for MemoryStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryStore")
            .field("capacity", &(self.shared.per_shard * SHARDS))
            .finish_non_exhaustive()
    }
}

/// Keys are SHA-256 outputs, uniform and not chosen by clients (they hash
/// server-drawn ids), so the first eight bytes are already a good hash:
/// SipHash over them would be wasted work.
#[derive(Default)]
struct KeyHasher(u64);

impl Hasher for KeyHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut word = [0u8; 8];
            word[..chunk.len()].copy_from_slice(chunk);
            self.0 = self.0.rotate_left(5) ^ u64::from_le_bytes(word);
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(n: u8) -> StoreKey {
        let mut bytes = [0u8; 32];
        bytes[0] = n;
        bytes[8] = n;
        StoreKey::from_bytes(bytes)
    }

    fn record(expires_at: u64) -> Record {
        Record {
            data: HashMap::from([("k".to_owned(), "1".to_owned())]),
            created_at: 0,
            renewed_at: 0,
            expires_at,
        }
    }

    #[tokio::test]
    async fn a_full_store_evicts_the_entry_closest_to_expiry() {
        let store = MemoryStore::with_capacity(1); // one entry per shard
        let far = now_ms() + 100_000;
        // Same shard (byte 8 equal mod 64), different keys.
        let a = key(1);
        let b = StoreKey::from_bytes({
            let mut k = *key(1).as_bytes();
            k[0] = 2;
            k
        });
        assert!(store.create(&a, &record(far)).await.expect("memory"));
        assert!(store.create(&b, &record(far + 1)).await.expect("memory"));
        assert_eq!(store.load(&a).await.expect("memory"), None);
        assert!(store.load(&b).await.expect("memory").is_some());
    }

    #[tokio::test]
    async fn the_background_sweeper_reclaims_expired_entries() {
        let store = MemoryStore::new();
        assert!(store
            .create(&key(4), &record(now_ms() + 100))
            .await
            .expect("memory"));
        assert!(store
            .create(&key(5), &record(now_ms() + 60_000))
            .await
            .expect("memory"));
        assert_eq!(store.len(), 2);
        // The sweeper runs once a second; give it two chances.
        for _ in 0..25 {
            if store.len() == 1 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert_eq!(
            store.len(),
            1,
            "the expired entry was swept without any request"
        );
        assert!(store.load(&key(5)).await.expect("memory").is_some());
    }

    #[tokio::test]
    async fn expired_entries_are_not_served_and_are_purged() {
        let store = MemoryStore::new();
        assert!(store
            .create(&key(3), &record(now_ms() - 1))
            .await
            .expect("memory"));
        assert_eq!(store.load(&key(3)).await.expect("memory"), None);
        assert_eq!(store.purge_expired(), 1);
        assert!(store.is_empty());
    }
}
