//! The memory store's per-user index: for each user, the handles and keys
//! of its signed-in sessions.
//!
//! Lock order: the index, then a shard. Nothing takes the index while
//! holding a shard; eviction, which can run while the index is held (a move
//! that needs room), only queues what it removed in [`UserIndex::ended`], a
//! lock under which nothing else is taken.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};

use crate::id::StoreKey;
use crate::owner::{Handle, Owner};

/// Handles and keys of each user's signed-in sessions.
pub(super) type Map = HashMap<Box<str>, Vec<(Handle, StoreKey)>>;

#[derive(Default)]
pub(super) struct UserIndex {
    map: Mutex<Map>,
    /// Signed-in sessions evicted or swept since the map was last tidied:
    /// (user, key).
    ended: Mutex<Vec<(Box<str>, StoreKey)>>,
}

/// A poisoned lock only means another thread panicked between plain
/// updates of plain data; keep serving.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl UserIndex {
    /// The map, with the queue of ended sessions applied.
    pub(super) fn lock(&self) -> MutexGuard<'_, Map> {
        let mut map = lock(&self.map);
        let ended = std::mem::take(&mut *lock(&self.ended));
        for (user, key) in ended {
            remove_key(&mut map, &user, &key);
        }
        map
    }

    /// Queues a removed session's entry for removal; never blocks on the map.
    pub(super) fn ended(&self, owner: &Owner, key: StoreKey) {
        lock(&self.ended).push((owner.user.as_str().into(), key));
    }
}

/// Files `key` under `owner`, replacing an entry with the same handle.
pub(super) fn add(map: &mut Map, owner: &Owner, key: StoreKey) {
    let entries = map.entry(owner.user.as_str().into()).or_default();
    match entries.iter_mut().find(|(h, _)| *h == owner.handle) {
        Some(entry) => entry.1 = key,
        None => entries.push((owner.handle.clone(), key)),
    }
}

/// Drops the entry of `key` under `user`, if any.
pub(super) fn remove_key(map: &mut Map, user: &str, key: &StoreKey) {
    if let Some(entries) = map.get_mut(user) {
        entries.retain(|(_, k)| k != key);
        if entries.is_empty() {
            map.remove(user);
        }
    }
}
