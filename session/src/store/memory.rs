//! The in-memory store: the zero-configuration default.

use std::collections::hash_map::{Entry as Slot, HashMap, RandomState};
use std::hash::{BuildHasher, BuildHasherDefault, Hasher};
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::Duration;

use rand::rngs::OsRng;
use rand::TryRngCore as _;

use crate::error::StoreError;
use crate::expiry::now_ms;
use crate::id::StoreKey;
use crate::owner::{Owner, SessionInfo};
use crate::session::DEFAULT_MAX_SESSION_BYTES;
use crate::store::{
    AtomicMove, BoxFuture, Capabilities, Record, Revoke, SessionData, SessionStore, Sweep, Update,
    UserIndex,
};

mod user_index;

const DEFAULT_CAPACITY: usize = 1_000_000;
const DEFAULT_MAX_BYTES: usize = 256 * 1024 * 1024;
const SHARDS: usize = 64;
/// Sessions each shard has room for before it first grows.
const ROOM_PER_SHARD: usize = 128;
const SWEEP_EVERY: Duration = Duration::from_secs(1);
/// Entries of one shard looked at to choose one to evict.
const EVICTION_SAMPLE: usize = 8;
/// Entries looked at, at most, before a session that came back is evicted
/// (the samples of 4 shards, or of more when shards are nearly empty).
const SECOND_CHANCE_SAMPLE: usize = 4 * EVICTION_SAMPLE;
/// What an entry costs in the byte budget besides its data: its store key.
const KEY_BYTES: usize = 32;

/// Sessions in this process's memory: fast, bounded, and gone at exit.
///
/// - **Sharded**: 64 independently locked maps, so requests rarely wait on
///   each other; no lock is held across an `.await`.
/// - **Bounded**, three ways, each limit exactly as given:
///   - at most `capacity` sessions in all ([`DEFAULT_CAPACITY`](Self::DEFAULT_CAPACITY), a million,
///     unless [`with_capacity`](Self::with_capacity)): one store-wide count,
///     claimed before an entry goes in, so `with_capacity(10)` holds 10
///     sessions, not one per shard;
///   - at most `max_bytes` of session data ([`DEFAULT_MAX_BYTES`](Self::DEFAULT_MAX_BYTES), 256 MiB,
///     unless [`with_max_bytes`](Self::with_max_bytes)): each session counts
///     its keys and JSON values plus its 32-byte store key. The fixed
///     bookkeeping of an entry (about 300 bytes of process memory for a
///     small session) is bounded by the capacity;
///   - at most `max_session_bytes` of keys and values per session
///     ([`Sessions::DEFAULT_MAX_SESSION_BYTES`](crate::Sessions::DEFAULT_MAX_SESSION_BYTES), 64 KiB, the manager's default,
///     unless [`with_max_session_bytes`](Self::with_max_session_bytes)),
///     checked where concurrent commits merge: requests that each stay
///     under the manager's limit cannot together grow one session past it.
///     A `create` or `update` over it, or a session larger than the whole
///     byte budget, fails with [`StoreError::TooLarge`] and changes nothing.
///     (A store so small that concurrent requests hold all of its room
///     answers [`StoreError::Backend`] rather than exceed a limit.)
/// - **Flood-resistant eviction**: when a limit is reached, the request
///   that needs the room evicts. It looks at a random sample of 8 entries of
///   a shard and evicts an expired one first, then one that never came back
///   (created, never loaded or updated since: what a flood of cookie-less
///   requests leaves), the one closest to expiry. A session that came back
///   at least once is evicted only when about 32 entries sampled across
///   shards hold nothing else, and then the one closest to expiry: a flood
///   of one-request visitors cannot push out the users who return. Bounded
///   work, never a scan: an eviction looks at 40 entries at most, and a
///   request evicts only as many entries as the room it needs. (Visitors
///   that all come back, such as a client replaying every cookie it is
///   given, compete with real users as equals: rate-limit anonymous
///   session creation at the edge.)
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
/// let store = MemoryStore::with_capacity(10_000)
///     .with_max_bytes(64 * 1024 * 1024)
///     .with_max_session_bytes(16 * 1024);
/// let sessions = Sessions::builder()
///     .store(store)
///     .max_session_bytes(16 * 1024)
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
    /// Entries held plus entries being inserted: never above `capacity`.
    entries: AtomicUsize,
    /// Bytes charged (see [`Entry::charge`]) plus bytes being inserted:
    /// never above `max_bytes`.
    bytes: AtomicUsize,
    // Limits are atomics only so that the `with_*` methods can set them
    // after the sweeper thread holds its `Weak`; they are read, not
    // contended.
    capacity: AtomicUsize,
    max_bytes: AtomicUsize,
    max_session_bytes: AtomicUsize,
    /// Each user's signed-in sessions.
    users: user_index::UserIndex,
}

/// One shard: entries in a dense vector, so that a random index is a
/// random entry (a `HashMap` cannot be sampled), and a map from key to index.
struct Shard {
    index: HashMap<StoreKey, u32, BuildHasherDefault<KeyHasher>>,
    slots: Vec<Held>,
    /// xorshift64* state for the eviction sample; never 0.
    rng: u64,
}

struct Held {
    key: StoreKey,
    entry: Entry,
}

/// A compact record: sessions hold few keys, so a boxed slice beats a map.
struct Entry {
    data: Box<[(Box<str>, Box<str>)]>,
    created_at: u64,
    renewed_at: u64,
    expires_at: u64,
    seen_at: u64,
    /// Boxed: most sessions are not signed in, and the entry stays small.
    owner: Option<Box<Owner>>,
    /// Loaded or updated since it was created: its visitor came back.
    returned: bool,
}

/// Eviction order: lowest first.
type Rank = (Class, u64);

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Class {
    Expired,
    NeverReturned,
    Returned,
}

impl Default for MemoryStore {
    fn default() -> Self {
        Self::new()
    }
}

impl MemoryStore {
    /// How many sessions [`MemoryStore::new`] holds before it evicts.
    pub const DEFAULT_CAPACITY: usize = DEFAULT_CAPACITY;
    /// The byte budget unless [`with_max_bytes`](Self::with_max_bytes) says
    /// otherwise: 256 MiB of session data.
    pub const DEFAULT_MAX_BYTES: usize = DEFAULT_MAX_BYTES;

    /// A store for up to [`DEFAULT_CAPACITY`](Self::DEFAULT_CAPACITY)
    /// sessions and [`DEFAULT_MAX_BYTES`](Self::DEFAULT_MAX_BYTES) of session data.
    pub fn new() -> Self {
        Self::with_capacity(DEFAULT_CAPACITY)
    }

    /// A store for up to `capacity` sessions in all (at least 1, at most
    /// `u32::MAX`), and [`DEFAULT_MAX_BYTES`](Self::DEFAULT_MAX_BYTES) of session data.
    pub fn with_capacity(capacity: usize) -> Self {
        let capacity = capacity.clamp(1, u32::MAX as usize);
        let seed = random_seed();
        // Room for the first sessions of each shard from the start: no
        // shard grows (a reallocation and a copy under its lock) until the
        // store holds thousands, and a request costs the same whichever
        // shard its session falls in (`benches/instructions.rs`).
        let room = (capacity / SHARDS).clamp(1, ROOM_PER_SHARD);
        let shards = (0..SHARDS)
            .map(|i| {
                Mutex::new(Shard {
                    index: HashMap::with_capacity_and_hasher(room, Default::default()),
                    slots: Vec::with_capacity(room),
                    rng: splitmix64(seed ^ i as u64) | 1,
                })
            })
            .collect();
        let shared = Arc::new(Shards {
            shards,
            entries: AtomicUsize::new(0),
            bytes: AtomicUsize::new(0),
            capacity: AtomicUsize::new(capacity),
            max_bytes: AtomicUsize::new(DEFAULT_MAX_BYTES),
            max_session_bytes: AtomicUsize::new(DEFAULT_MAX_SESSION_BYTES),
            users: user_index::UserIndex::default(),
        });
        spawn_sweeper(Arc::downgrade(&shared));
        Self { shared }
    }

    /// Sets the byte budget: keys and JSON values of every session, plus
    /// 32 bytes of store key each. Over it, the store evicts as when full.
    ///
    /// Meant for construction: every clone shares the store and the limit.
    ///
    /// # Example
    ///
    /// ```
    /// use hyper_session::MemoryStore;
    ///
    /// let store = MemoryStore::new().with_max_bytes(32 * 1024 * 1024);
    /// # let _ = store;
    /// ```
    pub fn with_max_bytes(self, bytes: usize) -> Self {
        self.shared.max_bytes.store(bytes, Relaxed);
        self
    }

    /// Sets the largest session the store keeps, in bytes of keys and JSON
    /// values ([`Sessions::DEFAULT_MAX_SESSION_BYTES`](crate::Sessions::DEFAULT_MAX_SESSION_BYTES) by default). Keep it at least
    /// the manager's `max_session_bytes`, which stops a single request
    /// earlier and with a clearer error; this limit stops concurrent
    /// commits whose merge would exceed it.
    ///
    /// Meant for construction: every clone shares the store and the limit.
    ///
    /// # Example
    ///
    /// ```
    /// use hyper_session::MemoryStore;
    ///
    /// let store = MemoryStore::new().with_max_session_bytes(16 * 1024);
    /// # let _ = store;
    /// ```
    pub fn with_max_session_bytes(self, bytes: usize) -> Self {
        self.shared.max_session_bytes.store(bytes, Relaxed);
        self
    }

    /// Number of entries held, expired ones not yet swept included.
    pub fn len(&self) -> usize {
        self.shared.shards.iter().map(|s| lock(s).slots.len()).sum()
    }

    /// Whether the store holds no entry.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Bytes charged against the byte budget: keys and JSON values of every
    /// session held, plus 32 bytes of store key each.
    pub fn bytes(&self) -> usize {
        self.shared.bytes.load(Relaxed)
    }

    /// Drops every expired entry now; returns how many.
    pub fn purge_expired(&self) -> usize {
        self.shared.sweep(now_ms())
    }
}

/// A poisoned shard only means another thread panicked mid-operation on
/// plain data that is never left half-written; keep serving.
fn lock(shard: &Mutex<Shard>) -> MutexGuard<'_, Shard> {
    shard
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// The key is a SHA-256 output: any of its bytes are uniform. Bytes 0..8
/// feed the map's hasher, byte 8 picks the shard.
fn shard_of(key: &StoreKey) -> usize {
    usize::from(key.as_bytes()[8]) % SHARDS
}

/// Seeds the eviction samples from the OS, once per store. The sample only
/// needs to be beyond a client's influence, not secret; should the OS
/// generator fail, std's per-process random hash keys do.
fn random_seed() -> u64 {
    OsRng
        .try_next_u64()
        .unwrap_or_else(|_| RandomState::new().build_hasher().finish())
}

/// Spreads one seed into well-mixed per-shard seeds.
fn splitmix64(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Claims `n` more units of `counter` if the total stays within `limit`.
fn claim(counter: &AtomicUsize, n: usize, limit: usize) -> bool {
    n == 0
        || counter
            .fetch_update(Relaxed, Relaxed, |have| {
                have.checked_add(n).filter(|&total| total <= limit)
            })
            .is_ok()
}

fn full() -> StoreError {
    StoreError::backend(
        "the memory store is full and found nothing to evict (concurrent requests hold all of a \
         very small capacity or byte budget); raise `with_capacity` or `with_max_bytes`",
    )
}

impl Shards {
    fn shard(&self, i: usize) -> MutexGuard<'_, Shard> {
        lock(&self.shards[i])
    }

    fn release(&self, entries: usize, bytes: usize) {
        if entries > 0 {
            self.entries.fetch_sub(entries, Relaxed);
        }
        if bytes > 0 {
            self.bytes.fetch_sub(bytes, Relaxed);
        }
    }

    /// Claims room for `entries` more entries and `bytes` more bytes,
    /// evicting (never `spare`) until both fit. Holds no lock when called:
    /// eviction locks one shard at a time.
    fn reserve(
        &self,
        entries: usize,
        bytes: usize,
        start: usize,
        spare: Option<&StoreKey>,
    ) -> Result<(), StoreError> {
        let capacity = self.capacity.load(Relaxed);
        let max_bytes = self.max_bytes.load(Relaxed);
        // Each eviction frees an entry and at least KEY_BYTES: this many
        // suffice unless concurrent requests keep taking the room.
        let mut attempts = SHARDS + 2 * (entries + bytes / KEY_BYTES);
        let mut counted = false;
        loop {
            counted = counted || claim(&self.entries, entries, capacity);
            if counted && claim(&self.bytes, bytes, max_bytes) {
                return Ok(());
            }
            if attempts == 0 || !self.evict_one(start, spare) {
                if counted {
                    self.release(entries, 0);
                }
                return Err(full());
            }
            attempts -= 1;
        }
    }

    /// Evicts one entry, never `spare`, sampling shards from `start` on.
    /// Returns `false` when no shard holds anything to evict.
    fn evict_one(&self, start: usize, spare: Option<&StoreKey>) -> bool {
        let now = now_ms();
        let mut fallback: Option<(Rank, usize, StoreKey)> = None;
        let mut looked = 0;
        for s in (start..start + SHARDS).map(|i| i % SHARDS) {
            let mut shard = self.shard(s);
            looked += shard.slots.len().min(EVICTION_SAMPLE);
            let Some((slot, rank)) = shard.sample(spare, now) else {
                continue;
            };
            if rank.0 != Class::Returned {
                let held = shard.remove_at(slot);
                drop(shard);
                self.evicted(&held, rank.0);
                return true;
            }
            // A session that came back gets a second chance: look further.
            if fallback.as_ref().map_or(true, |(best, ..)| rank < *best) {
                fallback = Some((rank, s, shard.slots[slot].key));
            }
            if looked >= SECOND_CHANCE_SAMPLE {
                break;
            }
        }
        let Some((rank, s, key)) = fallback else {
            return false;
        };
        let removed = self.shard(s).remove(&key);
        if let Some(held) = removed {
            self.evicted(&held, rank.0);
        }
        // Gone already (deleted, or evicted by another request): that made
        // room too, and the caller claims again.
        true
    }

    fn evicted(&self, held: &Held, class: Class) {
        self.release(1, held.entry.charge());
        if let Some(owner) = &held.entry.owner {
            self.users.ended(owner, held.key);
        }
        if class != Class::Expired {
            tracing::debug!(session = %held.key.fingerprint(), returned = class == Class::Returned,
                "memory store full: evicted a session");
        }
    }

    fn sweep(&self, now: u64) -> usize {
        let mut swept = 0;
        for shard in self.shards.iter() {
            let mut shard = lock(shard);
            let (mut n, mut bytes) = (0, 0);
            let mut i = 0;
            while i < shard.slots.len() {
                if shard.slots[i].entry.expires_at > now {
                    i += 1;
                    continue;
                }
                let held = shard.remove_at(i);
                bytes += held.entry.charge();
                if let Some(owner) = &held.entry.owner {
                    self.users.ended(owner, held.key);
                }
                n += 1;
            }
            drop(shard);
            self.release(n, bytes);
            swept += n;
        }
        // Locking the user index applies the entries of the sessions just
        // swept (and evicted since): the sweeper prunes it too.
        drop(self.users.lock());
        swept
    }
}

impl Shard {
    /// The slot of the live entry under `key`.
    fn live(&self, key: &StoreKey, now: u64) -> Option<usize> {
        let slot = *self.index.get(key)? as usize;
        (self.slots[slot].entry.expires_at > now).then_some(slot)
    }

    /// Files `entry` under `key`, a key that holds nothing.
    fn insert(&mut self, key: StoreKey, entry: Entry) {
        // The capacity is at most u32::MAX: the index fits.
        self.index.insert(key, self.slots.len() as u32);
        self.slots.push(Held { key, entry });
    }

    fn remove(&mut self, key: &StoreKey) -> Option<Held> {
        let slot = self.index.remove(key)? as usize;
        Some(self.unlink(slot))
    }

    fn remove_at(&mut self, slot: usize) -> Held {
        self.index.remove(&self.slots[slot].key);
        self.unlink(slot)
    }

    /// Takes the entry out of the vector; the last one moves into its slot.
    fn unlink(&mut self, slot: usize) -> Held {
        let held = self.slots.swap_remove(slot);
        if let Some(moved) = self.slots.get(slot) {
            if let Some(at) = self.index.get_mut(&moved.key) {
                *at = slot as u32;
            }
        }
        held
    }

    /// The entry to evict among a random sample of this shard (all of it
    /// when it is small), never `spare`: the lowest [`Rank`].
    fn sample(&mut self, spare: Option<&StoreKey>, now: u64) -> Option<(usize, Rank)> {
        let n = self.slots.len();
        let mut best: Option<(usize, Rank)> = None;
        for k in 0..n.min(EVICTION_SAMPLE) {
            let slot = if n <= EVICTION_SAMPLE {
                k
            } else {
                self.random_below(n)
            };
            let held = &self.slots[slot];
            if Some(&held.key) == spare {
                continue;
            }
            let rank = held.entry.rank(now);
            if best.map_or(true, |(_, b)| rank < b) {
                best = Some((slot, rank));
            }
            if rank.0 == Class::Expired {
                break;
            }
        }
        best
    }

    /// A uniform index below `n` (xorshift64*, then a multiply-shift).
    fn random_below(&mut self, n: usize) -> usize {
        let mut x = self.rng;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.rng = x;
        let r = x.wrapping_mul(0x2545_f491_4f6c_dd1d);
        ((u128::from(r) * n as u128) >> 64) as usize
    }
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
        // Expired entries are still never served and are evicted first when
        // the store needs room; only the background reclaiming is lost.
        tracing::warn!(error = %e, "memory store could not start its sweeper thread");
    }
}

/// Bytes of keys and values, the measure the manager's limit uses too.
fn data_size<'a>(pairs: impl Iterator<Item = (&'a str, &'a str)>) -> usize {
    pairs.map(|(k, v)| k.len() + v.len()).sum()
}

impl Entry {
    fn from_record(record: &Record) -> Self {
        // Sized up front: collected, a one-key session took a list of four
        // and a reallocation to shrink it.
        let mut data = Vec::with_capacity(record.data.len());
        let pairs = record.data.iter();
        data.extend(pairs.map(|(k, v)| (Box::from(k.as_str()), Box::from(v.as_str()))));
        Self::with_data(data, record)
    }

    /// [`from_record`](Self::from_record) that moves the keys out of
    /// `record` rather than copying them: a session's own keys are
    /// allocated at their length, so they move into the store as they
    /// are. Values are copied: serde_json wrote them into 128 bytes, and
    /// shrinking that (a reallocation) cost more than the copy.
    fn taking(record: &mut Record) -> Self {
        let mut data = Vec::with_capacity(record.data.len());
        // Taken whole rather than drained: a drain also resets the table.
        let empty = SessionData::with_hasher(record.data.hasher().clone());
        let pairs = std::mem::replace(&mut record.data, empty).into_iter();
        data.extend(pairs.map(|(k, v)| (k.into_boxed_str(), Box::from(v.as_str()))));
        Self::with_data(data, record)
    }

    fn with_data(data: Vec<(Box<str>, Box<str>)>, record: &Record) -> Self {
        Self {
            data: data.into_boxed_slice(),
            created_at: record.created_at,
            renewed_at: record.renewed_at,
            expires_at: record.expires_at,
            seen_at: record.seen_at,
            owner: record.owner.clone().map(Box::new),
            // A session moved to a new id (`cycle_id`, renewal) was loaded
            // to get there: it keeps its standing.
            returned: record.created_at < record.renewed_at,
        }
    }

    /// The values of an entry made by [`taking`](Self::taking), given back.
    fn into_data(self) -> SessionData {
        let pairs = self.data.into_vec().into_iter();
        pairs
            .map(|(k, v)| (String::from(k), String::from(v)))
            .collect()
    }

    fn to_record(&self) -> Record {
        Record {
            data: {
                // Sized up front: collecting grew the table from empty.
                let mut data =
                    SessionData::with_capacity_and_hasher(self.data.len(), Default::default());
                for (k, v) in self.data.iter() {
                    data.insert(String::from(&**k), String::from(&**v));
                }
                data
            },
            created_at: self.created_at,
            renewed_at: self.renewed_at,
            expires_at: self.expires_at,
            seen_at: self.seen_at,
            owner: self.owner.as_deref().cloned(),
        }
    }

    /// Whether the entry is signed in as `user` with `handle`.
    fn owned_by(&self, user: &str, handle: &crate::Handle) -> bool {
        self.owner
            .as_deref()
            .is_some_and(|o| o.user == user && o.handle == *handle)
    }

    fn size(&self) -> usize {
        data_size(self.data.iter().map(|(k, v)| (&**k, &**v)))
    }

    /// What the entry costs in the byte budget.
    fn charge(&self) -> usize {
        KEY_BYTES + self.size()
    }

    fn rank(&self, now: u64) -> Rank {
        let class = if self.expires_at <= now {
            Class::Expired
        } else if self.returned {
            Class::Returned
        } else {
            Class::NeverReturned
        };
        (class, self.expires_at)
    }

    /// The size the entry would have after [`merge`](Self::merge), given
    /// its size now.
    fn size_after(&self, size: usize, update: &Update<'_>) -> usize {
        // The common commit, one value written, by difference.
        if let ([(key, value)], []) = (update.set.as_slice(), update.remove.as_slice()) {
            return self.size_with(size, key, value);
        }
        let in_set = |key: &str| update.set.iter().any(|(k, _)| *k == key);
        let kept = self
            .data
            .iter()
            .filter(|(k, _)| !in_set(k) && !update.remove.contains(&&**k))
            .map(|(k, v)| (&**k, &**v));
        // A key set twice keeps its last value.
        let set = update
            .set
            .iter()
            .enumerate()
            .filter(|(i, (k, _))| !update.set[i + 1..].iter().any(|(later, _)| later == k))
            .map(|(_, &(k, v))| (k, v));
        data_size(kept.chain(set))
    }

    /// The size after writing one value, given the size now.
    fn size_with(&self, size: usize, key: &str, value: &str) -> usize {
        match self.data.iter().find(|(have, _)| **have == *key) {
            Some((_, old)) => size - old.len() + value.len(),
            None => size + key.len() + value.len(),
        }
    }

    /// [`size_after`](Self::size_after) for either kind of [`Change`].
    fn size_after_change(&self, size: usize, change: &Change<'_>) -> usize {
        match change {
            Change::Update(update) => self.size_after(size, update),
            Change::One { key, value, .. } => self.size_with(size, key, value),
        }
    }

    /// Applies a [`Change`].
    fn apply(&mut self, change: &Change<'_>) {
        let (key, value, expires_at, seen_at) = match *change {
            Change::Update(update) => return self.merge(update),
            Change::One {
                key,
                value,
                expires_at,
                seen_at,
            } => (key, value, expires_at, seen_at),
        };
        self.expires_at = expires_at;
        self.seen_at = seen_at;
        match self.data.iter_mut().find(|(have, _)| **have == *key) {
            Some(slot) => slot.1 = Box::from(value),
            None => {
                let mut data = std::mem::take(&mut self.data).into_vec();
                data.reserve_exact(1);
                data.push((Box::from(key), Box::from(value)));
                self.data = data.into_boxed_slice();
            }
        }
    }

    /// Applies `update` as [`Update::apply_to`] does (removals, then
    /// writes: a key in both ends up written).
    fn merge(&mut self, update: &Update<'_>) {
        self.expires_at = update.expires_at;
        self.seen_at = update.seen_at;
        if update.owner_changed {
            self.owner = update.owner.cloned().map(Box::new);
        }
        // The common commit replaces values of keys the session has: that
        // happens in place; only added or removed keys rebuild the slice.
        let mut added: Vec<(&str, &str)> = Vec::new();
        for &(key, value) in &update.set {
            match self.data.iter_mut().find(|(have, _)| **have == *key) {
                Some(slot) => slot.1 = Box::from(value),
                None => match added.iter_mut().find(|(have, _)| *have == key) {
                    Some(slot) => slot.1 = value,
                    None => added.push((key, value)),
                },
            }
        }
        let removed =
            |k: &str| update.remove.contains(&k) && !update.set.iter().any(|(s, _)| *s == k);
        if added.is_empty() && !self.data.iter().any(|(k, _)| removed(k)) {
            return;
        }
        let mut data = std::mem::take(&mut self.data).into_vec();
        data.retain(|(k, _)| !removed(k));
        // Exactly: a list grown by doubling is shrunk again by a reallocation.
        data.reserve_exact(added.len());
        data.extend(added.into_iter().map(|(k, v)| (Box::from(k), Box::from(v))));
        self.data = data.into_boxed_slice();
    }
}

/// What a commit changes, as the memory store applies it: an [`Update`],
/// or the common commit, one value written, read from the session in place
/// (the manager builds no update and no list for it: that allocation and
/// its free were a tenth of a returning request's own instructions,
/// `benches/instructions.rs`).
#[derive(Clone, Copy)]
pub(crate) enum Change<'a> {
    Update(&'a Update<'a>),
    One {
        key: &'a str,
        value: &'a str,
        expires_at: u64,
        seen_at: u64,
    },
}

/// The store's calls at a given time: the manager's request path reads the
/// clock once per step and passes it (each read cost about 110
/// instructions, `benches/instructions.rs`).
impl MemoryStore {
    pub(crate) fn load_at(&self, key: &StoreKey, now: u64) -> Option<Record> {
        let mut shard = self.shared.shard(shard_of(key));
        let slot = shard.live(key, now)?;
        let entry = &mut shard.slots[slot].entry;
        entry.returned = true;
        Some(entry.to_record())
    }

    pub(crate) fn create_at(
        &self,
        key: &StoreKey,
        record: &Record,
        now: u64,
    ) -> Result<bool, StoreError> {
        let charge = self.charge(record)?;
        let entry = Entry::from_record(record);
        Ok(self
            .insert_new(key, entry, charge, record.owner.as_ref(), now)?
            .is_none())
    }

    /// [`create_at`](Self::create_at) for the manager's own record: its
    /// keys move into the store rather than being copied (its values are
    /// copied, see [`Entry::taking`]). If the key is taken, the data is
    /// given back to `record`; on an error it is dropped with the refused
    /// session.
    pub(crate) fn create_from(
        &self,
        key: &StoreKey,
        record: &mut Record,
        now: u64,
    ) -> Result<bool, StoreError> {
        let charge = self.charge(record)?;
        let entry = Entry::taking(record);
        match self.insert_new(key, entry, charge, record.owner.as_ref(), now)? {
            None => Ok(true),
            Some(refused) => {
                record.data = refused.into_data();
                Ok(false)
            }
        }
    }

    /// What storing `record` counts against the store's bytes, once it is
    /// known to fit.
    fn charge(&self, record: &Record) -> Result<usize, StoreError> {
        let shared = &*self.shared;
        let size = data_size(record.data.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        let limit = shared.max_session_bytes.load(Relaxed);
        if size > limit {
            return Err(StoreError::TooLarge { size, limit });
        }
        // Refused before anything is evicted for it: a session that cannot
        // fit must not empty the store trying.
        let charge = KEY_BYTES + size;
        let limit = shared.max_bytes.load(Relaxed);
        if charge > limit {
            return Err(StoreError::TooLarge {
                size: charge,
                limit,
            });
        }
        Ok(charge)
    }

    /// Stores `entry` under `key` unless a live session holds it; gives
    /// the entry back if one does. `owner`: who it is signed in as.
    fn insert_new(
        &self,
        key: &StoreKey,
        entry: Entry,
        charge: usize,
        owner: Option<&Owner>,
        now: u64,
    ) -> Result<Option<Entry>, StoreError> {
        let shared = &*self.shared;
        let s = shard_of(key);
        shared.reserve(1, charge, s, None)?;
        let mut guard = shared.shard(s);
        let shard = &mut *guard;
        // One lookup: on a large store each probe is a cache miss.
        match shard.index.entry(*key) {
            Slot::Occupied(at) => {
                let held = &mut shard.slots[*at.get() as usize];
                if held.entry.expires_at > now {
                    drop(guard);
                    shared.release(1, charge);
                    return Ok(Some(entry));
                }
                let old = std::mem::replace(&mut held.entry, entry);
                drop(guard);
                shared.release(1, old.charge());
            }
            Slot::Vacant(at) => {
                // The capacity is at most u32::MAX: the index fits.
                at.insert(shard.slots.len() as u32);
                shard.slots.push(Held { key: *key, entry });
                drop(guard);
            }
        }
        if let Some(owner) = owner {
            user_index::add(&mut shared.users.lock(), owner, *key);
        }
        Ok(None)
    }

    pub(crate) fn update_at(
        &self,
        key: &StoreKey,
        change: Change<'_>,
        now: u64,
    ) -> Result<bool, StoreError> {
        let new_owner = match change {
            Change::Update(update) => update.new_owner(),
            Change::One { .. } => None,
        };
        let shared = &*self.shared;
        let s = shard_of(key);
        let limit = shared.max_session_bytes.load(Relaxed);
        // Bytes claimed for this session's growth, before the shard is
        // locked again: room is made with no lock held.
        let mut claimed = 0;
        for _ in 0..3 {
            let mut shard = shared.shard(s);
            let Some(slot) = shard.live(key, now) else {
                drop(shard);
                shared.release(0, claimed);
                return Ok(false);
            };
            let entry = &mut shard.slots[slot].entry;
            let old = entry.size();
            let new = entry.size_after_change(old, &change);
            if new > limit {
                drop(shard);
                shared.release(0, claimed);
                return Err(StoreError::TooLarge { size: new, limit });
            }
            let growth = new.saturating_sub(old);
            if growth > claimed {
                let max_bytes = shared.max_bytes.load(Relaxed);
                if claim(&shared.bytes, growth - claimed, max_bytes) {
                    claimed = growth;
                } else {
                    // Evict others (never this session), then look again:
                    // the entry may change while the shard is unlocked.
                    drop(shard);
                    if let Err(e) = shared.reserve(0, growth - claimed, s, Some(key)) {
                        shared.release(0, claimed);
                        return Err(e);
                    }
                    claimed = growth;
                    continue;
                }
            }
            let signed_out = new_owner
                .and(entry.owner.as_deref())
                .map(|o| o.user.clone());
            entry.apply(&change);
            entry.returned = true;
            drop(shard);
            // Claimed `claimed` for a change of `new - old`.
            shared.release(0, claimed + old - new);
            if let Some(owner) = new_owner {
                let mut users = shared.users.lock();
                if let Some(user) = signed_out {
                    user_index::remove_key(&mut users, &user, key);
                }
                user_index::add(&mut users, owner, *key);
            }
            return Ok(true);
        }
        shared.release(0, claimed);
        Err(full())
    }
}

impl SessionStore for MemoryStore {
    async fn load(&self, key: &StoreKey) -> Result<Option<Record>, StoreError> {
        Ok(self.load_at(key, now_ms()))
    }

    async fn create(&self, key: &StoreKey, record: &Record) -> Result<bool, StoreError> {
        self.create_at(key, record, now_ms())
    }

    async fn update(&self, key: &StoreKey, update: &Update<'_>) -> Result<bool, StoreError> {
        self.update_at(key, Change::Update(update), now_ms())
    }

    async fn delete(&self, key: &StoreKey) -> Result<bool, StoreError> {
        let now = now_ms();
        let Some(held) = self.shared.shard(shard_of(key)).remove(key) else {
            return Ok(false);
        };
        self.shared.release(1, held.entry.charge());
        if let Some(owner) = &held.entry.owner {
            user_index::remove_key(&mut self.shared.users.lock(), &owner.user, key);
        }
        Ok(held.entry.expires_at > now)
    }

    fn is_shared(&self) -> bool {
        false
    }

    fn may_block(&self) -> bool {
        false
    }

    fn capabilities(&self) -> Capabilities<'_> {
        Capabilities::none()
            .with_sweep(self)
            .with_atomic_move(self)
            .with_user_index(self)
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
        Box::pin(std::future::ready(self.shared.relocate(from, to, update)))
    }
}

impl Shards {
    /// The atomic move: taking the entry out of its shard is the atomic
    /// step. From then on no request finds it under `from` and only this
    /// call holds it; nobody knows `to` yet, so inserting it a moment later
    /// is unseen. The entry keeps its place in the count and its standing
    /// (a session that came back still did).
    fn relocate(
        &self,
        from: &StoreKey,
        to: &StoreKey,
        update: &Update<'_>,
    ) -> Result<bool, StoreError> {
        let now = now_ms();
        // Held throughout, so that no listing or revocation sees the
        // session between its two keys (and misses it).
        let mut users = self.users.lock();
        let Some(held) = self.shard(shard_of(from)).remove(from) else {
            return Ok(false);
        };
        let old = held.entry.charge();
        if let Some(owner) = &held.entry.owner {
            user_index::remove_key(&mut users, &owner.user, from);
        }
        if held.entry.expires_at <= now {
            self.release(1, old);
            return Ok(false);
        }
        let mut entry = held.entry;
        let (size, limit) = (
            entry.size_after(entry.size(), update),
            self.max_session_bytes.load(Relaxed),
        );
        if size > limit {
            // Refused as an update would be: the session stays, unchanged.
            if let Some(owner) = &entry.owner {
                user_index::add(&mut users, owner, *from);
            }
            self.shard(shard_of(from)).insert(*from, entry);
            return Err(StoreError::TooLarge { size, limit });
        }
        entry.merge(update);
        if let Some(renewed_at) = update.renewed_at {
            entry.renewed_at = renewed_at;
        }
        let new = entry.charge();
        if new > old {
            // Room for the growth never costs this session: it is in no shard now.
            if let Err(e) = self.reserve(0, new - old, shard_of(to), None) {
                self.release(1, old);
                return Err(e);
            }
        } else {
            self.release(0, old - new);
        }
        if let Some(owner) = &entry.owner {
            user_index::add(&mut users, owner, *to);
        }
        self.shard(shard_of(to)).insert(*to, entry);
        Ok(true)
    }

    /// A listing of `user`'s live sessions; prunes entries of ended ones.
    fn list(&self, user: &str) -> Vec<SessionInfo> {
        let now = now_ms();
        let mut users = self.users.lock();
        let Some(entries) = users.get_mut(user) else {
            return Vec::new();
        };
        let mut listed = Vec::with_capacity(entries.len());
        entries.retain(|(handle, key)| {
            let shard = self.shard(shard_of(key));
            let Some(slot) = shard.live(key, now) else {
                return false;
            };
            let entry = &shard.slots[slot].entry;
            if !entry.owned_by(user, handle) {
                return false;
            }
            listed.push(SessionInfo::new(
                handle.clone(),
                entry.created_at,
                entry.seen_at,
                entry.expires_at,
                entry.owner.as_deref().and_then(|o| o.label.clone()),
            ));
            true
        });
        if entries.is_empty() {
            users.remove(user);
        }
        listed
    }

    /// Ends the sessions of `user` that `which` selects, under the index
    /// lock: a move in flight has either finished (and is found under its
    /// new key) or not started (and finds nothing to move).
    fn revoke(&self, user: &str, which: Revoke<'_>) -> u64 {
        let now = now_ms();
        let mut users = self.users.lock();
        let Some(entries) = users.get_mut(user) else {
            return 0;
        };
        let mut revoked = 0;
        entries.retain(|(handle, key)| {
            if !which.selects(handle) {
                return true;
            }
            let mut shard = self.shard(shard_of(key));
            let ours = shard
                .index
                .get(key)
                .is_some_and(|&slot| shard.slots[slot as usize].entry.owned_by(user, handle));
            if ours {
                if let Some(held) = shard.remove(key) {
                    drop(shard);
                    self.release(1, held.entry.charge());
                    revoked += u64::from(held.entry.expires_at > now);
                }
            }
            false
        });
        if entries.is_empty() {
            users.remove(user);
        }
        revoked
    }
}

impl UserIndex for MemoryStore {
    fn list<'a>(&'a self, user: &'a str) -> BoxFuture<'a, Result<Vec<SessionInfo>, StoreError>> {
        Box::pin(std::future::ready(Ok(self.shared.list(user))))
    }

    fn revoke<'a>(
        &'a self,
        user: &'a str,
        which: Revoke<'a>,
    ) -> BoxFuture<'a, Result<u64, StoreError>> {
        Box::pin(std::future::ready(Ok(self.shared.revoke(user, which))))
    }
}

impl std::fmt::Debug for MemoryStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let shared = &*self.shared;
        f.debug_struct("MemoryStore")
            .field("capacity", &shared.capacity.load(Relaxed))
            .field("max_bytes", &shared.max_bytes.load(Relaxed))
            .field("max_session_bytes", &shared.max_session_bytes.load(Relaxed))
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
    use sha2::{Digest, Sha256};

    use super::*;

    /// The shared suite, here rather than in `tests/` so that it runs
    /// without the `conformance` feature.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_memory_store_passes_the_conformance_suite() {
        crate::conformance::run(Arc::new(MemoryStore::new())).await;
    }

    #[tokio::test]
    async fn the_user_index_forgets_swept_and_evicted_sessions() {
        let store = MemoryStore::with_capacity(2);
        let owned = |user: &str, expires_at: u64| {
            let owner = Owner::new(user, crate::Handle::generate().expect("random"), None);
            record(expires_at).with_owner(Some(owner))
        };
        let soon = owned("ada", now_ms() + 20);
        assert!(store.create(&random_key(1), &soon).await.expect("create"));
        tokio::time::sleep(Duration::from_millis(40)).await;
        assert_eq!(store.purge_expired(), 1);
        assert!(
            store.shared.users.lock().get("ada").is_none(),
            "a swept session leaves the index"
        );
        for n in 2..5 {
            let later = owned("bob", far());
            assert!(store.create(&random_key(n), &later).await.expect("create"));
        }
        let indexed = store.shared.users.lock().get("bob").map_or(0, Vec::len);
        assert_eq!(indexed, 2, "an evicted session leaves the index");
        assert_eq!(store.shared.list("bob").len(), 2);
    }

    fn key(n: u8) -> StoreKey {
        let mut bytes = [0u8; 32];
        bytes[0] = n;
        bytes[8] = n;
        StoreKey::from_bytes(bytes)
    }

    /// Distinct keys that all land in shard 0 (byte 8 is the shard).
    fn same_shard(n: u8) -> StoreKey {
        let mut bytes = [0u8; 32];
        bytes[0] = n;
        StoreKey::from_bytes(bytes)
    }

    /// Uniform keys, as real ones are (SHA-256 outputs).
    fn random_key(n: u64) -> StoreKey {
        StoreKey::from_bytes(Sha256::digest(n.to_le_bytes()).into())
    }

    fn record(expires_at: u64) -> Record {
        Record::new(
            SessionData::from_iter([("k".to_owned(), "1".to_owned())]),
            0,
            0,
            expires_at,
        )
    }

    fn far() -> u64 {
        now_ms() + 100_000
    }

    /// Whether `key` is held, without counting as a return (a `load` would).
    fn holds(store: &MemoryStore, key: &StoreKey) -> bool {
        store.shared.shard(shard_of(key)).index.contains_key(key)
    }

    /// The counters agree with the entries actually held.
    fn assert_accounted(store: &MemoryStore) {
        let (mut entries, mut bytes) = (0, 0);
        for shard in store.shared.shards.iter() {
            let shard = lock(shard);
            assert_eq!(shard.index.len(), shard.slots.len());
            for (i, held) in shard.slots.iter().enumerate() {
                assert_eq!(shard.index.get(&held.key).copied(), Some(i as u32));
                entries += 1;
                bytes += held.entry.charge();
            }
        }
        assert_eq!(store.shared.entries.load(Relaxed), entries, "entry count");
        assert_eq!(store.bytes(), bytes, "byte count");
    }

    #[test]
    fn a_record_refused_for_a_taken_key_keeps_its_values() {
        let store = MemoryStore::with_capacity(8);
        let (key, other) = (random_key(1), random_key(2));
        let now = now_ms();
        assert!(store.create_at(&key, &record(far()), now).expect("memory"));
        let mut moved = record(far());
        moved.data.insert("second".to_owned(), "[2]".to_owned());
        let values = moved.data.clone();
        assert!(!store.create_from(&key, &mut moved, now).expect("memory"));
        assert_eq!(moved.data, values, "refused: the values stay in the record");
        assert_accounted(&store);
        assert!(store.create_from(&other, &mut moved, now).expect("memory"));
        assert!(moved.data.is_empty(), "stored: the values moved");
        let stored = store.load_at(&other, now).expect("stored");
        assert_eq!(stored.data, values);
        assert_accounted(&store);
    }

    #[tokio::test]
    async fn a_session_that_never_came_back_goes_first_the_closest_to_expiry() {
        let store = MemoryStore::with_capacity(3);
        let far = far();
        let (a, b, c, d, e) = (1..=5).map(same_shard).collect::<Vec<_>>()[..]
            .try_into()
            .map(|k: [StoreKey; 5]| (k[0], k[1], k[2], k[3], k[4]))
            .expect("five keys");
        assert!(store.create(&a, &record(far)).await.expect("memory"));
        assert!(
            store.load(&a).await.expect("memory").is_some(),
            "a came back"
        );
        assert!(store.create(&b, &record(far + 1)).await.expect("memory"));
        assert!(store.create(&c, &record(far + 2)).await.expect("memory"));
        // Full: a came back and expires first, yet b goes.
        assert!(store.create(&d, &record(far + 3)).await.expect("memory"));
        assert!(!holds(&store, &b) && holds(&store, &c) && holds(&store, &d));
        assert!(store.create(&e, &record(far + 4)).await.expect("memory"));
        assert!(!holds(&store, &c) && holds(&store, &d) && holds(&store, &e));
        assert!(holds(&store, &a));
        assert_eq!(store.len(), 3);
        assert_accounted(&store);
    }

    #[tokio::test]
    async fn expired_entries_go_first_of_all() {
        let store = MemoryStore::with_capacity(2);
        let (old, fresh, new) = (same_shard(1), same_shard(2), same_shard(3));
        assert!(store
            .create(&old, &record(now_ms() - 1))
            .await
            .expect("memory"));
        assert!(store.create(&fresh, &record(far())).await.expect("memory"));
        assert!(store.create(&new, &record(far())).await.expect("memory"));
        assert!(!holds(&store, &old) && holds(&store, &fresh) && holds(&store, &new));
        assert_accounted(&store);
    }

    #[tokio::test]
    async fn sessions_that_came_back_go_only_when_nothing_else_is_left() {
        // Keys in different shards: the eviction looks beyond one shard
        // before it takes a session that came back.
        let store = MemoryStore::with_capacity(2);
        let far = far();
        assert!(store.create(&key(1), &record(far)).await.expect("memory"));
        assert!(store
            .create(&key(2), &record(far + 1))
            .await
            .expect("memory"));
        let update = Update {
            expires_at: far + 2,
            ..Update::default()
        };
        assert!(store.load(&key(1)).await.expect("memory").is_some());
        assert!(store.update(&key(2), &update).await.expect("memory"));
        assert!(store
            .create(&key(3), &record(far + 3))
            .await
            .expect("memory"));
        assert!(!holds(&store, &key(1)), "the one closest to expiry went");
        assert!(holds(&store, &key(2)) && holds(&store, &key(3)));
        // key(3) never came back: it goes before key(2).
        assert!(store
            .create(&key(4), &record(far + 4))
            .await
            .expect("memory"));
        assert!(holds(&store, &key(2)) && !holds(&store, &key(3)));
    }

    #[tokio::test]
    async fn a_moved_session_keeps_its_standing() {
        let store = MemoryStore::with_capacity(2);
        let far = far();
        let moved = Record {
            created_at: 1,
            renewed_at: 2, // what `cycle_id` writes: created before
            ..record(far)
        };
        assert!(store.create(&same_shard(1), &moved).await.expect("memory"));
        assert!(store
            .create(&same_shard(2), &record(far + 1))
            .await
            .expect("memory"));
        assert!(store
            .create(&same_shard(3), &record(far + 2))
            .await
            .expect("memory"));
        assert!(holds(&store, &same_shard(1)) && !holds(&store, &same_shard(2)));
    }

    #[tokio::test]
    async fn the_capacity_given_is_the_capacity_held() {
        for capacity in [1, 10, 1_000] {
            let store = MemoryStore::with_capacity(capacity);
            for n in 0..5 * capacity as u64 {
                assert!(store
                    .create(&random_key(n), &record(far()))
                    .await
                    .expect("memory"));
                assert!(store.len() <= capacity, "{} > {capacity}", store.len());
            }
            assert_eq!(store.len(), capacity);
            assert_accounted(&store);
        }
    }

    #[tokio::test]
    async fn the_byte_budget_holds_and_returning_sessions_survive() {
        let value = format!("\"{}\"", "x".repeat(60));
        let sized = |n: u64| Record {
            data: SessionData::from_iter([("v".to_owned(), value.clone())]),
            expires_at: far() + n,
            ..Record::default()
        };
        let charge = KEY_BYTES + 1 + value.len();
        let store = MemoryStore::with_capacity(100_000).with_max_bytes(100 * charge);
        for n in 0..20 {
            assert!(store
                .create(&random_key(n), &sized(n))
                .await
                .expect("memory"));
            assert!(store.load(&random_key(n)).await.expect("memory").is_some());
        }
        for n in 20..2_000 {
            assert!(store
                .create(&random_key(n), &sized(n))
                .await
                .expect("memory"));
            assert!(store.bytes() <= 100 * charge);
        }
        assert_eq!(store.len(), 100);
        for n in 0..20 {
            assert!(
                holds(&store, &random_key(n)),
                "returning session {n} survived"
            );
        }
        assert_accounted(&store);
    }

    #[tokio::test]
    async fn a_session_larger_than_the_budget_is_refused_and_evicts_nothing() {
        let store = MemoryStore::with_capacity(100).with_max_bytes(200);
        for n in 0..3 {
            assert!(store
                .create(&random_key(n), &record(far()))
                .await
                .expect("memory"));
        }
        let before = store.bytes();
        let huge = Record {
            data: SessionData::from_iter([("v".to_owned(), "x".repeat(300))]),
            ..record(far())
        };
        let err = store
            .create(&random_key(9), &huge)
            .await
            .expect_err("too large");
        assert!(
            matches!(err, StoreError::TooLarge { limit: 200, .. }),
            "{err}"
        );
        assert!(
            !err.to_string().contains("xxx"),
            "no session data in: {err}"
        );
        assert_eq!((store.len(), store.bytes()), (3, before));
        assert!(!holds(&store, &random_key(9)));
    }

    #[tokio::test]
    async fn a_growing_update_evicts_others_never_itself() {
        let store = MemoryStore::with_capacity(100).with_max_bytes(10 * (KEY_BYTES + 2));
        let me = random_key(0);
        for n in 0..10 {
            assert!(store
                .create(&random_key(n), &record(far()))
                .await
                .expect("memory"));
        }
        let big = "y".repeat(3 * (KEY_BYTES + 2));
        let update = Update {
            set: vec![("k", &big)],
            expires_at: far(),
            ..Update::default()
        };
        assert!(store.update(&me, &update).await.expect("memory"));
        let loaded = store.load(&me).await.expect("memory").expect("kept");
        assert_eq!(loaded.data["k"], big);
        assert!(store.bytes() <= 10 * (KEY_BYTES + 2));
        assert_eq!(store.len(), 7, "three others made room");
        assert_accounted(&store);
    }

    #[tokio::test]
    async fn an_update_over_the_session_limit_changes_nothing() {
        let store = MemoryStore::new().with_max_session_bytes(100);
        let k = key(1);
        let original = Record {
            data: SessionData::from_iter([("a".to_owned(), "x".repeat(59))]), // 60 bytes
            ..record(far())
        };
        assert!(store.create(&k, &original).await.expect("memory"));
        let bytes = store.bytes();
        let secret = "s".repeat(49);
        let grow = Update {
            set: vec![("b", &secret)], // 60 + 50
            expires_at: far() + 1,
            ..Update::default()
        };
        let err = store.update(&k, &grow).await.expect_err("over the limit");
        assert!(
            matches!(
                err,
                StoreError::TooLarge {
                    size: 110,
                    limit: 100
                }
            ),
            "{err}"
        );
        assert!(
            !err.to_string().contains(&secret),
            "no session data in: {err}"
        );
        assert_eq!(store.load(&k).await.expect("memory"), Some(original));
        assert_eq!(store.bytes(), bytes);
        // Exactly at the limit is fine; a create over it is refused too.
        let fits = "s".repeat(39);
        let fit = Update {
            set: vec![("b", &fits)],
            ..grow.clone()
        };
        assert!(store.update(&k, &fit).await.expect("memory"));
        let too_big = Record {
            data: SessionData::from_iter([("a".to_owned(), "x".repeat(100))]),
            ..record(far())
        };
        assert!(matches!(
            store.create(&key(2), &too_big).await,
            Err(StoreError::TooLarge {
                size: 101,
                limit: 100
            })
        ));
        assert_accounted(&store);
    }

    #[test]
    fn the_size_check_predicts_the_merge() {
        let base = Record {
            data: SessionData::from_iter([
                ("a".to_owned(), "1".to_owned()),
                ("bb".to_owned(), "22".to_owned()),
            ]),
            ..record(0)
        };
        let updates = [
            Update {
                set: vec![("a", "111")],
                ..Update::default()
            },
            Update {
                set: vec![("new", "4444")],
                ..Update::default()
            },
            Update {
                set: vec![("c", "3"), ("c", "33333")],
                ..Update::default()
            },
            Update {
                set: vec![("a", "1"), ("a", "")],
                remove: vec!["bb"],
                ..Update::default()
            },
            Update {
                set: vec![("bb", "x")],
                remove: vec!["bb", "a", "zz"],
                ..Update::default()
            },
            Update {
                remove: vec!["a", "a"],
                ..Update::default()
            },
        ];
        for update in &updates {
            let mut entry = Entry::from_record(&base);
            let predicted = entry.size_after(entry.size(), update);
            entry.merge(update);
            assert_eq!(entry.size(), predicted, "{update:?}");
            let mut expected = base.clone();
            update.apply_to(&mut expected);
            assert_eq!(entry.to_record(), expected, "{update:?}");

            // The request path's one-value change: the same as an update
            // that writes that value.
            if let ([(key, value)], []) = (update.set.as_slice(), update.remove.as_slice()) {
                let mut entry = Entry::from_record(&base);
                let change = Change::One {
                    key,
                    value,
                    expires_at: update.expires_at,
                    seen_at: update.seen_at,
                };
                let predicted = entry.size_after_change(entry.size(), &change);
                entry.apply(&change);
                assert_eq!(entry.size(), predicted, "{update:?}");
                assert_eq!(entry.to_record(), expected, "{update:?}");
            }
        }
    }

    #[test]
    fn concurrent_requests_keep_the_counts_exact() {
        let store = MemoryStore::with_capacity(50).with_max_bytes(50 * 48);
        let threads: Vec<_> = (0..4u64)
            .map(|t| {
                let store = store.clone();
                std::thread::spawn(move || {
                    let rt = tokio::runtime::Builder::new_current_thread()
                        .build()
                        .expect("runtime");
                    rt.block_on(async {
                        for n in 0..2_000u64 {
                            let k = random_key(t * 10_000 + n % 300);
                            let value = "v".repeat((n % 13) as usize);
                            let update = Update {
                                set: vec![("k", &value)],
                                expires_at: far(),
                                ..Update::default()
                            };
                            // Errors are allowed (a tiny store under
                            // contention); wrong counts are not.
                            let _ = match n % 4 {
                                0 | 1 => store.create(&k, &record(far())).await,
                                2 => store.update(&k, &update).await,
                                _ => store.delete(&k).await,
                            };
                            assert!(store.shared.entries.load(Relaxed) <= 50);
                            assert!(store.bytes() <= 50 * 48);
                        }
                    });
                })
            })
            .collect();
        for t in threads {
            t.join().expect("no panic");
        }
        assert_accounted(&store);
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
        assert_accounted(&store);
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
        assert_accounted(&store);
    }
}
