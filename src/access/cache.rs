//! The authenticated principal, kept for a moment (issue 15): an authenticated request would
//! otherwise read its token or session, user, role, rights and units on every call, which
//! cost several times the rest of a small request.
//!
//! An entry is reused while all of these hold:
//! - no change of role, right, user, session, token, unit or setting was committed through
//!   this process's database handle since it was read ([`crate::db::Db::auth_changed`], called
//!   after each such commit): a change made here takes effect on the next request;
//! - it was read less than [`TTL`] ago, by the wall clock and by the application's clock:
//!   a change made by another process (another server, the command line) takes effect
//!   within [`TTL`]; a session's expiry and idle timeout are checked from the database at
//!   least that often.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

use super::Principal;
use crate::clock::Millis;

/// How long a principal is reused at most.
pub const TTL: Duration = Duration::from_secs(2);
/// Entries kept at most (beyond, the stale ones are dropped, then all).
const MAX_ENTRIES: usize = 10_000;

struct Entry {
    principal: Principal,
    epoch: u64,
    read: Instant,
    read_at: Millis,
}

/// Principals by credential (its digest: a secret is not kept as a key).
#[derive(Default)]
pub struct PrincipalCache {
    entries: Mutex<HashMap<[u8; 32], Entry>>,
}

/// The key of a credential: `kind` ("token", "session") and the secret.
pub fn key(kind: &str, secret: &str) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(kind.as_bytes());
    h.update([0u8]);
    h.update(secret.as_bytes());
    h.finalize().into()
}

impl PrincipalCache {
    /// The principal read for `key`, if still good at `epoch` (read before calling) and `now`.
    pub fn get(&self, key: &[u8; 32], epoch: u64, now: Millis) -> Option<Principal> {
        let map = self.entries.lock().ok()?;
        let e = map.get(key)?;
        let age = now - e.read_at;
        let fresh = e.epoch == epoch && e.read.elapsed() < TTL && (0..TTL.as_millis() as i64).contains(&age);
        fresh.then(|| e.principal.clone())
    }

    /// Keeps `principal`, read from the database after `epoch` was taken.
    pub fn put(&self, key: [u8; 32], principal: Principal, epoch: u64, now: Millis) {
        let Ok(mut map) = self.entries.lock() else { return };
        if map.len() >= MAX_ENTRIES {
            map.retain(|_, e| e.read.elapsed() < TTL);
            if map.len() >= MAX_ENTRIES {
                map.clear();
            }
        }
        map.insert(key, Entry { principal, epoch, read: Instant::now(), read_at: now });
    }
}
