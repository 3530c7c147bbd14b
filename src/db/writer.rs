//! SQLite's writer: one connection for every write transaction of the process, with group
//! commit.
//!
//! A write transaction ([`super::Tx`]) on SQLite is a *unit* of the writer's open transaction.
//! Units queue for the writer connection in FIFO order (a fair mutex). The first unit of a
//! group opens the SQLite transaction (`BEGIN IMMEDIATE`); each unit runs inside a savepoint
//! (`SAVEPOINT unit`), so that a unit that fails or is dropped is rolled back alone
//! (`ROLLBACK TO unit`) while the units before it in the group stay. A unit that commits
//! releases its savepoint and, when other units are queued behind it, leaves the transaction
//! open for them: a committer queued after them (a spawned task, which no cancelled request
//! can stop) commits the whole group with one `COMMIT`, and every unit of the group gets that
//! `COMMIT`'s outcome. So `commit()` returns only once the unit's writes are committed (in the
//! WAL, which `kill -9` cannot take back), as before; under load several units share one
//! commit (the pages they share written once, one hand-over of the write lock), and with
//! nobody queued a unit commits at once, as a plain transaction would.
//!
//! Invariant: while a group has units waiting for its outcome, one of their committers is
//! queued for the writer, so a group never stays open with nobody to close it.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;

use sqlx::{AnyConnection, Executor};
use tokio::sync::{watch, Mutex, OwnedMutexGuard};

/// The most units committed together: a bound on how long the first unit of a group waits.
const MAX_GROUP: usize = 32;

pub(crate) struct Writer {
    state: Arc<Mutex<State>>,
    /// Units, committers and cleaners queued for `state` (a unit that commits leaves the group
    /// open when this is not zero).
    waiting: AtomicUsize,
    /// Units committed, and the `COMMIT`s that committed them.
    stats: Arc<Stats>,
}

#[derive(Default)]
struct Stats {
    units: AtomicU64,
    commits: AtomicU64,
}

struct State {
    conn: AnyConnection,
    stats: Arc<Stats>,
    /// The open SQLite transaction, if any, and the units released into it.
    group: Option<Arc<Group>>,
    members: usize,
    /// A unit was dropped without commit or rollback: its savepoint is still to roll back.
    dirty: bool,
}

/// One `COMMIT` and the units waiting for its outcome.
struct Group {
    outcome: watch::Sender<Option<Result<(), String>>>,
}

/// Counts a waiter for the writer while it is queued (also when its future is dropped).
struct Queued<'a>(&'a AtomicUsize);

impl<'a> Queued<'a> {
    fn new(w: &'a AtomicUsize) -> Self {
        w.fetch_add(1, Ordering::SeqCst);
        Queued(w)
    }
}

impl Drop for Queued<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

impl Writer {
    pub(crate) fn new(conn: AnyConnection) -> Arc<Writer> {
        let stats = Arc::new(Stats::default());
        Arc::new(Writer {
            state: Arc::new(Mutex::new(State { conn, stats: stats.clone(), group: None, members: 0, dirty: false })),
            waiting: AtomicUsize::new(0),
            stats,
        })
    }

    async fn lock(&self) -> OwnedMutexGuard<State> {
        let mut g = {
            let _q = Queued::new(&self.waiting);
            self.state.clone().lock_owned().await
        };
        if g.dirty {
            g.dirty = false;
            rollback_savepoint(&mut g).await;
        }
        g
    }

    /// Starts a unit: waits for the writer, opens the group's transaction if none is open,
    /// and the unit's savepoint.
    pub(crate) async fn begin(self: &Arc<Writer>) -> Result<Unit, sqlx::Error> {
        let g = self.lock().await;
        // From here a drop (an error, a cancelled request) is cleaned up by `Unit`'s Drop.
        let mut unit = Unit { writer: self.clone(), guard: g, done: false };
        if unit.guard.group.is_none() {
            let conn = &mut unit.guard.conn;
            if let Err(e) = conn.execute("BEGIN IMMEDIATE").await {
                // A transaction left open by a cancelled statement: end it and start again.
                if !e.to_string().contains("within a transaction") {
                    unit.done = true;
                    return Err(e);
                }
                conn.execute("ROLLBACK").await?;
                conn.execute("BEGIN IMMEDIATE").await?;
            }
            unit.guard.group = Some(Arc::new(Group { outcome: watch::channel(None).0 }));
            unit.guard.members = 0;
        }
        unit.guard.conn.execute("SAVEPOINT unit").await?;
        Ok(unit)
    }

    /// After a unit ended without joining the group (rolled back): with nobody queued, the
    /// group (if open) is closed now, else it is left to those queued.
    async fn idle(&self, state: &mut State) {
        if self.waiting.load(Ordering::SeqCst) == 0 {
            close(state, None).await;
        }
    }

    /// (units committed, `COMMIT`s that committed them) since the start.
    pub(crate) fn stats(&self) -> (u64, u64) {
        (self.stats.units.load(Ordering::Relaxed), self.stats.commits.load(Ordering::Relaxed))
    }

    /// Closes the writer: waits for the units at work and ends an open group.
    pub(crate) async fn shut(&self) {
        let mut g = self.lock().await;
        close(&mut g, None).await;
    }
}

/// Ends the open group: `COMMIT` when it has units (else `ROLLBACK`), or `ROLLBACK` with
/// `failed`; every unit waiting for it gets the outcome.
async fn close(state: &mut State, failed: Option<String>) {
    let Some(group) = state.group.take() else { return };
    let members = std::mem::take(&mut state.members);
    let outcome = match failed {
        Some(e) => {
            let _ = state.conn.execute("ROLLBACK").await;
            Err(e)
        }
        None => match state.conn.execute(if members > 0 { "COMMIT" } else { "ROLLBACK" }).await {
            Ok(_) => {
                if members > 0 {
                    state.stats.units.fetch_add(members as u64, Ordering::Relaxed);
                    state.stats.commits.fetch_add(1, Ordering::Relaxed);
                }
                Ok(())
            }
            Err(e) => {
                let _ = state.conn.execute("ROLLBACK").await;
                Err(e.to_string())
            }
        },
    };
    group.outcome.send_replace(Some(outcome));
}

/// `ROLLBACK TO unit` and `RELEASE unit`; when that fails (other than for a savepoint never
/// opened), the whole group is rolled back and its units told.
async fn rollback_savepoint(state: &mut State) {
    let res = async {
        state.conn.execute("ROLLBACK TO unit").await?;
        state.conn.execute("RELEASE unit").await?;
        Ok::<(), sqlx::Error>(())
    }
    .await;
    if let Err(e) = res {
        let e = e.to_string();
        if !e.contains("no such savepoint") {
            tracing::error!(error = %e, "rolling back a write unit failed: its group is rolled back");
            close(state, Some(e)).await;
        }
    }
}

/// One write transaction on SQLite: a savepoint in the writer's group (see the module).
pub struct Unit {
    writer: Arc<Writer>,
    guard: OwnedMutexGuard<State>,
    /// Committed or rolled back (else its Drop rolls it back).
    done: bool,
}

impl Unit {
    pub(crate) fn conn(&mut self) -> &mut AnyConnection {
        &mut self.guard.conn
    }

    pub(crate) fn conn_ref(&self) -> &AnyConnection {
        &self.guard.conn
    }

    /// Releases the savepoint and waits for the `COMMIT` of its group.
    pub(crate) async fn commit(mut self) -> Result<(), sqlx::Error> {
        if let Err(e) = self.guard.conn.execute("RELEASE unit").await {
            self.rollback().await?;
            return Err(e);
        }
        let writer = self.writer.clone();
        let Some(group) = self.guard.group.clone() else {
            self.done = true;
            return Err(sqlx::Error::WorkerCrashed);
        };
        let mut outcome = group.outcome.subscribe();
        self.guard.members += 1;
        if writer.waiting.load(Ordering::SeqCst) > 0 && self.guard.members < MAX_GROUP {
            // Units are queued: they join this transaction; a committer queued behind them
            // closes it (unless it was closed meanwhile).
            writer.waiting.fetch_add(1, Ordering::SeqCst);
            let w = writer.clone();
            tokio::spawn(async move {
                let mut g = w.state.clone().lock_owned().await;
                w.waiting.fetch_sub(1, Ordering::SeqCst);
                if g.dirty {
                    g.dirty = false;
                    rollback_savepoint(&mut g).await;
                }
                if g.group.as_ref().is_some_and(|open| Arc::ptr_eq(open, &group)) {
                    close(&mut g, None).await;
                }
            });
        } else {
            close(&mut self.guard, None).await;
        }
        self.done = true;
        drop(self);
        let done = outcome.wait_for(|o| o.is_some()).await.map_err(|_| sqlx::Error::WorkerCrashed)?;
        match &*done {
            Some(Ok(())) => Ok(()),
            Some(Err(e)) => Err(sqlx::Error::Io(std::io::Error::other(format!("group commit failed: {e}")))),
            None => Err(sqlx::Error::WorkerCrashed),
        }
    }

    /// Rolls the unit back alone (its savepoint), leaving the group's other units. When the
    /// group has units committed before this one, returns once the group's `COMMIT` is done:
    /// a caller that rolls back on seeing their writes (a unique key taken) may then read
    /// them from any connection.
    pub(crate) async fn rollback(mut self) -> Result<(), sqlx::Error> {
        rollback_savepoint(&mut self.guard).await;
        let writer = self.writer.clone();
        let pending = self.guard.group.clone().filter(|_| self.guard.members > 0);
        if pending.is_none() {
            writer.idle(&mut self.guard).await;
        }
        self.done = true;
        drop(self);
        if let Some(group) = pending {
            // Their committer is queued (see the module's invariant).
            let mut outcome = group.outcome.subscribe();
            let _ = outcome.wait_for(|o| o.is_some()).await;
        }
        Ok(())
    }
}

impl Drop for Unit {
    fn drop(&mut self) {
        if self.done {
            return;
        }
        // Left to the next holder of the writer, and to a cleaner if nobody else comes.
        self.guard.dirty = true;
        if let Ok(rt) = tokio::runtime::Handle::try_current() {
            let w = self.writer.clone();
            w.waiting.fetch_add(1, Ordering::SeqCst);
            rt.spawn(async move {
                let mut g = w.state.clone().lock_owned().await;
                w.waiting.fetch_sub(1, Ordering::SeqCst);
                if g.dirty {
                    g.dirty = false;
                    rollback_savepoint(&mut g).await;
                }
                w.idle(&mut g).await;
            });
        }
    }
}
