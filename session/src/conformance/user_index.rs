//! The per-user index cases of the conformance suite, run by
//! [`run`](super::run) for every store that offers
//! [`UserIndex`](crate::store::UserIndex): through a manager, with the
//! store's atomic move and with the manager's create/delete path.

use std::sync::Arc;
use std::time::Duration;

use http::HeaderMap;

use super::{commit, manager, signed_cookie, Probe, CONFIG};
use crate::__bench::cookie_header;
use crate::expiry::now_ms;
use crate::id::SessionId;
use crate::owner::Owner;
use crate::store::SessionData;
use crate::store::{Record, SessionStore};
use crate::{Handle, Session, Sessions};

/// Every index case, on `store` seen through a [`Probe`].
pub(super) async fn run<S: SessionStore>(store: Arc<S>, with_move: bool) {
    let how = super::how(with_move);
    let probe = Arc::new(Probe::new(store, with_move));
    let sessions = manager(probe.clone());
    listing_follows_the_session(&sessions, &probe, how).await;
    expired_sessions_are_not_listed(&sessions, &probe, how).await;
    revocation(&sessions, how).await;
    revocation_races_commits(&sessions, &probe, how).await;
    a_renewal_racing_the_sign_in(&sessions, &probe, how).await;
    failures_are_errors(&sessions, &probe, how).await;
}

/// A user name no other run uses, so that the suite can share a backend.
fn fresh_user(what: &str) -> String {
    let key = SessionId::generate().expect("OS random").store_key();
    format!("conformance {what} {{{}}}", key.fingerprint())
}

/// Signs a new session in as `user` (with `label`, if any); returns its
/// cookie and handle.
async fn sign_in(sessions: &Sessions, user: &str, label: Option<&str>) -> (HeaderMap, Handle) {
    let mut s = sessions
        .load(&CONFIG, &HeaderMap::new())
        .await
        .expect("load");
    s.insert("user", user).expect("insert");
    s.set_user(user).expect("a valid user id");
    if let Some(label) = label {
        s.set_label(label).expect("a short label");
    }
    let handle = s
        .handle()
        .cloned()
        .expect("a signed-in session has a handle");
    let cookie = commit(sessions, s)
        .await
        .expect("a new session sets a cookie");
    (cookie_header(&cookie), handle)
}

async fn handles(sessions: &Sessions, user: &str) -> Vec<Handle> {
    let mut handles: Vec<Handle> = sessions
        .user_sessions(user)
        .await
        .expect("listing")
        .into_iter()
        .map(|s| s.handle)
        .collect();
    handles.sort();
    handles
}

fn sorted(mut handles: Vec<Handle>) -> Vec<Handle> {
    handles.sort();
    handles
}

async fn load(sessions: &Sessions, cookie: &HeaderMap) -> Session {
    sessions.load(&CONFIG, cookie).await.expect("load")
}

/// Sign-in, a second device with a label, `cycle_id`, renewal, destroy:
/// the listing shows each live session once, under a handle that does not
/// change.
async fn listing_follows_the_session<S: SessionStore>(
    sessions: &Sessions,
    probe: &Probe<S>,
    how: &str,
) {
    let user = fresh_user("listing");
    assert!(
        sessions
            .user_sessions(&user)
            .await
            .expect("listing")
            .is_empty(),
        "a user who never signed in has no sessions"
    );
    let before = now_ms();
    let (a, handle_a) = sign_in(sessions, &user, None).await;
    let (b, handle_b) = sign_in(sessions, &user, Some("Firefox on Linux")).await;
    let listed = sessions.user_sessions(&user).await.expect("listing");
    assert_eq!(listed.len(), 2, "two sign-ins list two sessions ({how})");
    assert_ne!(
        handle_a, handle_b,
        "handles are unique among a user's sessions"
    );
    for info in &listed {
        assert!(info.created_at >= before && info.created_at <= now_ms());
        assert!(info.last_seen >= info.created_at);
        assert!(info.expires_at > now_ms(), "a listed session is live");
        let expected = (info.handle == handle_b).then(|| "Firefox on Linux".to_owned());
        assert_eq!(info.label, expected, "the label is listed with its session");
    }

    // cycle_id: a new id, the same handle, still listed once.
    let mut s = load(sessions, &a).await;
    assert_eq!(
        s.handle(),
        Some(&handle_a),
        "a loaded session knows its handle"
    );
    assert_eq!(s.user(), Some(user.as_str()));
    s.cycle_id();
    let a2 = cookie_header(&commit(sessions, s).await.expect("a cycle_id sets a cookie"));
    assert!(load(sessions, &a).await.is_new(), "the old id is dead");
    assert_eq!(
        handles(sessions, &user).await,
        sorted(vec![handle_a.clone(), handle_b.clone()]),
        "after cycle_id the session is listed once, under the same handle ({how})"
    );

    // An automatic renewal: the same. (The session is stored directly, as
    // issued two minutes ago, under the handle of `a`, which ends first.)
    let mut s = load(sessions, &a2).await;
    s.destroy();
    commit(sessions, s).await;
    let id = SessionId::generate().expect("OS random");
    let now = now_ms();
    let owner = Owner::new(user.clone(), handle_a.clone(), None);
    let old = Record::new(
        SessionData::default(),
        now - 120_000,
        now - 120_000,
        now + 60_000,
    )
    .with_owner(Some(owner));
    assert!(probe.create(&id.store_key(), &old).await.expect("create"));
    let (renewed_handle, renewing) = (handle_a.clone(), CONFIG.with_renew_after(60));
    let s = sessions
        .load(&renewing, &signed_cookie(sessions, &id))
        .await
        .expect("load");
    assert!(!s.is_new(), "a stored signed-in session loads");
    let renewed = sessions.commit(&renewing, s).await.expect("commit");
    assert!(renewed.is_some(), "a renewal sets a new cookie ({how})");
    let listed = sessions.user_sessions(&user).await.expect("listing");
    assert_eq!(
        sorted(listed.iter().map(|s| s.handle.clone()).collect()),
        sorted(vec![renewed_handle.clone(), handle_b.clone()]),
        "after a renewal the session is listed once, under the same handle ({how})"
    );
    let info = listed
        .iter()
        .find(|s| s.handle == renewed_handle)
        .expect("listed");
    assert!(
        info.last_seen >= now,
        "a renewal is a write: last_seen moves"
    );
    // A plain write (no login, no renewal) moves it too.
    tokio::time::sleep(Duration::from_millis(5)).await;
    let before_write = now_ms();
    let renewed = cookie_header(&renewed.expect("checked above"));
    let mut s = load(sessions, &renewed).await;
    s.insert("cart", 1).expect("fits");
    assert!(commit(sessions, s).await.is_none(), "no new cookie ({how})");
    let listed = sessions.user_sessions(&user).await.expect("listing");
    let info = listed
        .iter()
        .find(|s| s.handle == renewed_handle)
        .expect("listed");
    assert!(
        info.last_seen >= before_write,
        "a plain write moves last_seen ({how})"
    );

    // Destroy: gone from the listing.
    let mut s = load(sessions, &b).await;
    s.destroy();
    commit(sessions, s).await;
    assert_eq!(
        handles(sessions, &user).await,
        vec![renewed_handle],
        "a destroyed session is not listed ({how})"
    );
    assert_eq!(sessions.revoke_all(&user).await.expect("revoke"), 1);
}

/// An expired session is not listed, and not counted as revoked.
async fn expired_sessions_are_not_listed<S: SessionStore>(
    sessions: &Sessions,
    probe: &Probe<S>,
    how: &str,
) {
    let user = fresh_user("expiry");
    let handle = Handle::generate().expect("OS random");
    let now = now_ms();
    let record = Record::new(SessionData::default(), now, now, now + 300)
        .with_owner(Some(Owner::new(user.clone(), handle.clone(), None)));
    let key = SessionId::generate().expect("OS random").store_key();
    assert!(probe.create(&key, &record).await.expect("create"));
    assert_eq!(handles(sessions, &user).await, vec![handle.clone()]);
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert!(
        sessions
            .user_sessions(&user)
            .await
            .expect("listing")
            .is_empty(),
        "an expired session is not listed ({how})"
    );
    assert!(
        !sessions.revoke(&user, &handle).await.expect("revoke"),
        "revoking an expired session reports that nothing was revoked"
    );
}

/// Revoke one, all but one, all; a handle of another user reaches nothing.
async fn revocation(sessions: &Sessions, how: &str) {
    let (user, other) = (fresh_user("revoke"), fresh_user("other"));
    let (c, handle_c) = sign_in(sessions, &user, None).await;
    let (d, handle_d) = sign_in(sessions, &user, None).await;
    let (e, _) = sign_in(sessions, &user, None).await;
    let (theirs, their_handle) = sign_in(sessions, &other, None).await;

    assert!(
        !sessions.revoke(&other, &handle_c).await.expect("revoke"),
        "a handle of another user revokes nothing"
    );
    assert!(
        !sessions.revoke(&user, &their_handle).await.expect("revoke"),
        "a user cannot revoke another user's session by its handle"
    );
    assert!(!load(sessions, &theirs).await.is_new());
    assert!(sessions.revoke(&user, &handle_c).await.expect("revoke"));
    assert!(
        load(sessions, &c).await.is_new(),
        "a revoked session's next request is a fresh visitor ({how})"
    );
    assert!(
        !sessions.revoke(&user, &handle_c).await.expect("revoke"),
        "a second revocation finds nothing"
    );

    assert_eq!(
        sessions
            .revoke_others(&user, &handle_d)
            .await
            .expect("revoke"),
        1,
        "all but the current one: one other session was live"
    );
    assert!(load(sessions, &e).await.is_new());
    assert!(!load(sessions, &d).await.is_new(), "the kept session lives");
    assert_eq!(handles(sessions, &user).await, vec![handle_d]);

    assert_eq!(sessions.revoke_all(&user).await.expect("revoke"), 1);
    assert!(load(sessions, &d).await.is_new());
    assert!(sessions
        .user_sessions(&user)
        .await
        .expect("listing")
        .is_empty());
    assert_eq!(handles(sessions, &other).await, vec![their_handle]);
    assert_eq!(sessions.revoke_all(&other).await.expect("revoke"), 1);
}

/// A revocation racing commits of the revoked session: an update and a
/// `cycle_id` in flight commit nothing; run concurrently many times, no
/// key the store was asked to write holds a live session of the user.
async fn revocation_races_commits<S: SessionStore>(
    sessions: &Sessions,
    probe: &Probe<S>,
    how: &str,
) {
    let user = fresh_user("race");
    let (cookie, handle) = sign_in(sessions, &user, None).await;
    let mut update = load(sessions, &cookie).await;
    let mut moving = load(sessions, &cookie).await;
    assert!(sessions.revoke(&user, &handle).await.expect("revoke"));
    update.insert("late", 1).expect("insert");
    assert_eq!(
        commit(sessions, update).await,
        None,
        "a request in flight when its session is revoked commits nothing ({how})"
    );
    moving.cycle_id();
    assert_eq!(
        commit(sessions, moving).await,
        None,
        "a cycle_id in flight when its session is revoked does not move it ({how})"
    );
    assert!(load(sessions, &cookie).await.is_new());

    for _ in 0..20 {
        let (cookie, _) = sign_in(sessions, &user, None).await;
        let mut moving = load(sessions, &cookie).await;
        moving.cycle_id();
        let mover = sessions.clone();
        let moved = tokio::spawn(async move { mover.commit(&CONFIG, moving).await });
        let revoker = sessions.clone();
        let who = user.clone();
        let revoked = tokio::spawn(async move { revoker.revoke_all(&who).await });
        let moved = moved.await.expect("task").expect("commit");
        revoked.await.expect("task").expect("revoke");
        if let Some(cookie) = moved {
            // The move won: the revocation must have found it under its
            // new id, or it must be revoked now.
            sessions.revoke_all(&user).await.expect("revoke");
            assert!(load(sessions, &cookie_header(&cookie)).await.is_new());
        }
    }
    assert_none_signed_in(
        probe,
        &user,
        &format!("a session revoked while it moved to a new id is alive ({how})"),
    )
    .await;
    assert!(sessions
        .user_sessions(&user)
        .await
        .expect("listing")
        .is_empty());
}

/// A request loaded before the session signed in (in another request)
/// renews it afterwards: the signed-in session must stay revocable.
async fn a_renewal_racing_the_sign_in<S: SessionStore>(
    sessions: &Sessions,
    probe: &Probe<S>,
    how: &str,
) {
    let user = fresh_user("stale");
    let id = SessionId::generate().expect("OS random");
    let now = now_ms();
    let old = Record::new(
        SessionData::default(),
        now - 120_000,
        now - 120_000,
        now + 60_000,
    );
    assert!(probe.create(&id.store_key(), &old).await.expect("create"));
    let cookie = signed_cookie(sessions, &id);
    let renewing = CONFIG.with_renew_after(60);
    let stale = sessions.load(&renewing, &cookie).await.expect("load");
    let mut login = load(sessions, &cookie).await;
    login.set_user(&user).expect("a valid user id");
    login.insert("user", &user).expect("insert");
    commit(sessions, login).await;
    let renewed = sessions.commit(&renewing, stale).await.expect("commit");

    sessions.revoke_all(&user).await.expect("revoke");
    assert_none_signed_in(
        probe,
        &user,
        &format!("a session renewed by a request that did not see its sign-in escaped revoke_all ({how})"),
    )
    .await;
    if let Some(cookie) = renewed {
        let s = load(sessions, &cookie_header(&cookie)).await;
        assert!(
            s.get::<String>("user").expect("type").is_none(),
            "after revoke_all no live session holds the signed-in data ({how})"
        );
    }
}

/// Panics with `what` if any key the store was asked to write holds a
/// live session signed in as `user`.
async fn assert_none_signed_in<S: SessionStore>(probe: &Probe<S>, user: &str, what: &str) {
    for key in probe.written() {
        let live = probe.inner.load(&key).await.expect("load");
        assert!(
            !live.and_then(|r| r.owner).is_some_and(|o| o.user == user),
            "{what}"
        );
    }
}

/// Listing and revoking while the store fails are errors, never an empty
/// list or a reported success.
async fn failures_are_errors<S: SessionStore>(sessions: &Sessions, probe: &Probe<S>, how: &str) {
    let user = fresh_user("down");
    let (cookie, handle) = sign_in(sessions, &user, None).await;
    probe.fail_next("list");
    assert!(
        sessions.user_sessions(&user).await.is_err(),
        "a failed listing is an error ({how})"
    );
    probe.fail_next("revoke");
    assert!(
        sessions.revoke(&user, &handle).await.is_err(),
        "a failed revocation is an error ({how})"
    );
    assert!(!load(sessions, &cookie).await.is_new());
    assert_eq!(sessions.revoke_all(&user).await.expect("revoke"), 1);
}
