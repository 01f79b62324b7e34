//! The group-commit writer: one thread owns every write transaction of this process.
//!
//! Callers queue closures; the thread takes all that are waiting (up to a batch limit), waits
//! briefly for callers it expects back (see [`gather`]), runs them in one transaction, commits
//! once, then answers each caller. Under load many sends share one commit and its flushes;
//! alone, a request pays exactly one commit as before.
//!
//! A change is all or nothing inside its batch. Changes run in order; when one returns `Err`
//! or panics, the transaction is rolled back, that change is answered with its own error, and
//! the batch runs again without it (the changes are `Fn` so they can). The changes before it
//! therefore run twice, but only when one fails, so the common path costs nothing extra. A
//! storage fault that heals (a full disk, an I/O error) is different: it fails the whole batch
//! with that error, the handle is reopened (redb refuses a handle after a failed commit), and
//! the next batch tries again, which is how storage heals without a restart.

use std::collections::HashSet;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::mpsc::{self, Receiver, Sender, SyncSender};
use std::sync::{Arc, Mutex};
use std::thread::ThreadId;
use std::time::{Duration, Instant};

use super::handle::{Handle, Health};
use super::{Tx, TxInner, pg};
use crate::error::{Error, Fault, Result, StorageError};

/// A store's write transactions as the writer drives them.
pub(super) trait Backend: Send + 'static {
    type Txn;
    fn begin(&self) -> std::result::Result<Self::Txn, StorageError>;
    fn tx(txn: &Self::Txn) -> Tx<'_>;
    fn commit(&self, txn: Self::Txn) -> std::result::Result<(), StorageError>;
    fn abort(&self, txn: Self::Txn);
    fn health(&self) -> &Health;
    /// Makes the store usable again after a fault that heals (redb: reopen the file).
    fn recover(&self);
}

/// The embedded store's writer: redb transactions on the process's one handle.
pub(super) struct RedbWriter(pub(super) Arc<Handle>);

impl Backend for RedbWriter {
    type Txn = redb::WriteTransaction;
    fn begin(&self) -> std::result::Result<Self::Txn, StorageError> {
        Ok(self.0.db()?.begin_write()?)
    }
    fn tx(txn: &Self::Txn) -> Tx<'_> {
        Tx {
            inner: TxInner::Redb(txn),
        }
    }
    fn commit(&self, txn: Self::Txn) -> std::result::Result<(), StorageError> {
        Ok(txn.commit()?)
    }
    fn abort(&self, txn: Self::Txn) {
        if let Err(e) = txn.abort() {
            tracing::error!("rolling back a batch failed: {e}");
        }
    }
    fn health(&self) -> &Health {
        self.0.health_ref()
    }
    fn recover(&self) {
        // The handle is reopened before anyone is answered: a caller told to come back may
        // read at once, and must not meet the handle a failed commit spoiled.
        if let Err(e) = self.0.reopen() {
            tracing::error!("reopening the database failed: {e}");
        }
    }
}

/// The PostgreSQL writer: `SERIALIZABLE` transactions on a connection of the pool (a broken
/// one is dropped by the pool, so the next batch connects again).
pub(super) struct PgWriter {
    pub(super) pool: Arc<pg::Pool>,
    pub(super) health: Arc<Health>,
}

impl Backend for PgWriter {
    type Txn = pg::Session;
    fn begin(&self) -> std::result::Result<Self::Txn, StorageError> {
        self.pool.begin(pg::TxMode::Write)
    }
    fn tx(txn: &Self::Txn) -> Tx<'_> {
        Tx {
            inner: TxInner::Pg(txn),
        }
    }
    fn commit(&self, txn: Self::Txn) -> std::result::Result<(), StorageError> {
        txn.commit()
    }
    fn abort(&self, txn: Self::Txn) {
        if let Err(e) = txn.rollback() {
            tracing::warn!("rolling back a batch failed: {e}");
        }
    }
    fn health(&self) -> &Health {
        &self.health
    }
    fn recover(&self) {}
}

/// How often a batch that lost a serialization conflict to another server is run again before
/// its callers are told to come back.
const CONFLICT_RETRIES: u32 = 30;

/// The most closures one commit carries; bounds the work lost to one failed commit.
const MAX_BATCH: usize = 256;

/// The longest a commit waits for the callers the last ones suggest are coming (see [`gather`]).
/// Short beside one commit (about a millisecond here), so no caller waits long for it.
const GATHER_WAIT: Duration = Duration::from_micros(500);

/// A change as the writer sees it: something to run (again, if its batch is retried), and a
/// caller to answer once its fate is known.
trait Change: Send {
    /// Runs the change in `tx`, keeping its outcome; `false` if it failed (nothing of it may
    /// be kept).
    fn run(&mut self, tx: &Tx<'_>) -> bool;
    /// Records that the change panicked.
    fn panicked(&mut self);
    /// The change's own error, if it failed: whether it is a storage fault, and its text.
    fn fault(&self) -> Option<&Error>;
    /// Answers the caller: with the commit's error if there is one, else with the outcome.
    fn answer(self: Box<Self>, commit: Result<()>);
}

struct Pending<R, F> {
    work: F,
    outcome: Option<Result<R>>,
    answer: SyncSender<Result<R>>,
}

impl<R, F> Change for Pending<R, F>
where
    R: Send,
    F: Fn(&Tx<'_>) -> Result<R> + Send,
{
    fn run(&mut self, tx: &Tx<'_>) -> bool {
        let outcome = (self.work)(tx);
        let ok = outcome.is_ok();
        self.outcome = Some(outcome);
        ok
    }

    fn panicked(&mut self) {
        self.outcome = Some(Err(Error::Internal("a database change panicked".into())));
    }

    fn fault(&self) -> Option<&Error> {
        match &self.outcome {
            Some(Err(e)) => Some(e),
            _ => None,
        }
    }

    fn answer(self: Box<Self>, commit: Result<()>) {
        let outcome = match (commit, self.outcome) {
            // A change that failed on its own is answered with its own error whatever the
            // commit of the others did: nothing of it was in that commit.
            (_, Some(Err(own))) => Err(own),
            (Err(commit), _) => Err(commit),
            (Ok(()), Some(Ok(value))) => Ok(value),
            (Ok(()), None) => Err(Error::Internal("a database change never ran".into())),
        };
        let _ = self.answer.send(outcome);
    }
}

/// A queued change and the thread that waits for it. A caller has at most one change queued
/// (submitting blocks), so distinct threads count the callers taking part in the load.
struct Job {
    change: Box<dyn Change>,
    caller: ThreadId,
}

impl Job {
    /// A job for `work` and the receiver its caller waits on.
    fn new<R, F>(work: F) -> (Job, Receiver<Result<R>>)
    where
        R: Send + 'static,
        F: Fn(&Tx<'_>) -> Result<R> + Send + 'static,
    {
        let (answer, answered): (SyncSender<Result<R>>, _) = mpsc::sync_channel(1);
        let job = Job {
            change: Box::new(Pending {
                work,
                outcome: None,
                answer,
            }),
            caller: std::thread::current().id(),
        };
        (job, answered)
    }
}

pub(super) struct Writer {
    jobs: Mutex<Option<Sender<Job>>>,
    thread: Mutex<Option<std::thread::JoinHandle<()>>>,
}

impl Writer {
    pub(super) fn start(backend: impl Backend) -> Self {
        let (jobs, queue) = mpsc::channel::<Job>();
        let thread = std::thread::Builder::new()
            .name("db-writer".into())
            .spawn(move || run(&backend, &queue))
            .expect("spawning the database writer thread");
        Writer {
            jobs: Mutex::new(Some(jobs)),
            thread: Mutex::new(Some(thread)),
        }
    }

    pub(super) fn submit<R, F>(&self, work: F) -> Result<R>
    where
        R: Send + 'static,
        F: Fn(&Tx<'_>) -> Result<R> + Send + 'static,
    {
        let (job, answered) = Job::new(work);
        let sender = self
            .jobs
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
            .ok_or_else(|| Error::storage("the database writer has stopped"))?;
        sender
            .send(job)
            .map_err(|_| Error::storage("the database writer has stopped"))?;
        answered
            .recv()
            .map_err(|_| Error::storage("the database writer failed during this change"))?
    }
}

impl Drop for Writer {
    fn drop(&mut self) {
        // Closing the queue lets the thread finish what is queued and end; joining it drops
        // its handle of the database, so the file is closed cleanly before the process exits.
        self.jobs.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(thread) = self.thread.lock().unwrap_or_else(|p| p.into_inner()).take() {
            let _ = thread.join();
        }
    }
}

fn run(backend: &impl Backend, queue: &Receiver<Job>) {
    let (mut n_changes, mut n_commits) = (0u64, 0u64);
    // How many callers take part in the current load: those of the last batch and those that
    // queued while it committed. Under steady load from N callers this settles at N.
    let mut expected = 1usize;
    let mut next: Vec<Job> = Vec::new();
    loop {
        let mut batch = std::mem::take(&mut next);
        if batch.is_empty() {
            match queue.recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        drain(queue, &mut batch);
        gather(queue, &mut batch, expected);
        n_changes += batch.len() as u64;
        n_commits += 1;
        let mut callers: HashSet<ThreadId> = batch.iter().map(|job| job.caller).collect();
        commit_batch(backend, batch);
        drain(queue, &mut next);
        // A caller answered by this commit may already be back: count it once.
        callers.extend(next.iter().map(|job| job.caller));
        expected = callers.len().clamp(1, MAX_BATCH);
    }
    // How well group commit worked over this process's life (the benchmark reads this line).
    if n_commits > 0 {
        tracing::info!("database writer: {n_changes} changes in {n_commits} commits");
    }
}

/// Moves every job already queued into `batch`, up to the batch limit.
fn drain(queue: &Receiver<Job>, batch: &mut Vec<Job>) {
    while batch.len() < MAX_BATCH {
        match queue.try_recv() {
            Ok(job) => batch.push(job),
            Err(_) => break,
        }
    }
}

/// Waits up to [`GATHER_WAIT`] for the batch to reach the `expected` number of callers.
///
/// Without the wait, N steady callers split into two half-size batches that alternate: one
/// commits while the other queues, and every commit pays its fixed cost (two flushes) for N/2
/// changes. A caller answered by the last commit comes back within a request's round trip, so a
/// short wait lets one commit carry all N. A lone caller (expected 1) never waits, and when fewer
/// callers come back than expected the wait ends at its bound and `expected` falls with them.
fn gather(queue: &Receiver<Job>, batch: &mut Vec<Job>, expected: usize) {
    let deadline = Instant::now() + GATHER_WAIT;
    while batch.len() < expected.min(MAX_BATCH) {
        let left = deadline.saturating_duration_since(Instant::now());
        match queue.recv_timeout(left) {
            Ok(job) => batch.push(job),
            Err(_) => break,
        }
    }
}

fn commit_batch<B: Backend>(backend: &B, mut batch: Vec<Job>) {
    let mut conflicts = 0;
    loop {
        let txn = match backend.begin() {
            Ok(txn) => txn,
            Err(e) => return fail_batch(backend, batch, &e),
        };
        let failed_at = {
            let tx = B::tx(&txn);
            batch.iter_mut().position(|job| {
                match catch_unwind(AssertUnwindSafe(|| job.change.run(&tx))) {
                    Ok(kept) => !kept,
                    Err(_) => {
                        tracing::error!("a database change panicked; it was rolled back");
                        job.change.panicked();
                        true
                    }
                }
            })
        };
        let Some(failed_at) = failed_at else {
            match backend.commit(txn) {
                Ok(()) => {
                    backend.health().succeeded();
                    for job in batch {
                        job.change.answer(Ok(()));
                    }
                    return;
                }
                Err(e) if e.fault() == Fault::Conflict && conflicts < CONFLICT_RETRIES => {
                    conflicts += 1;
                    back_off(conflicts);
                    continue;
                }
                Err(e) => return fail_batch(backend, batch, &e),
            }
        };
        // Roll back everything the batch wrote; the changes before the failed one run again.
        backend.abort(txn);
        if let Some(Error::Store(e)) = batch[failed_at].change.fault() {
            // Another server changed what this batch read: the whole batch runs again.
            if e.fault() == Fault::Conflict && conflicts < CONFLICT_RETRIES {
                conflicts += 1;
                back_off(conflicts);
                continue;
            }
            if e.fault().heals() {
                let error = e.clone();
                return fail_batch(backend, batch, &error);
            }
        }
        let failed = batch.remove(failed_at);
        failed.change.answer(Ok(()));
        if batch.is_empty() {
            return;
        }
    }
}

/// A short wait before running a batch that lost a conflict again, longer after each loss
/// and jittered, so two servers that collide do not collide again in step.
fn back_off(attempt: u32) {
    let jitter = crate::crypto::random_u128().map_or(0, |r| (r % 1000) as u64);
    let micros = 200 * u64::from(attempt.min(20)) + jitter;
    std::thread::sleep(Duration::from_micros(micros));
}

/// Answers every caller of a batch that could not be stored. A storage fault also marks the
/// store as failing and lets the backend recover (redb reopens its handle), so reads work
/// again at once and the next batch does not meet what this failure spoiled.
fn fail_batch(backend: &impl Backend, batch: Vec<Job>, error: &StorageError) {
    if error.fault().heals() {
        backend.health().failed(error);
        backend.recover();
    } else {
        tracing::error!("a commit failed: {error}");
    }
    for job in batch {
        job.change.answer(Err(Error::Store(error.clone())));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::meta;

    fn counter(handle: &Handle, key: &'static str) -> Option<u64> {
        let db = handle.db().unwrap();
        let rx = crate::store::redb_rx(redb::ReadableDatabase::begin_read(db.as_ref()).unwrap());
        meta::get_bytes(&rx, key)
            .unwrap()
            .map(|b| u64::from_le_bytes(b.try_into().unwrap()))
    }

    /// The batch of one commit: two changes that write and succeed, one that writes and then
    /// fails, one that writes and then panics. The two that failed leave nothing; the others
    /// are committed and answered, each caller with its own outcome.
    #[test]
    fn a_change_that_fails_leaves_nothing_and_its_batch_still_commits() {
        let dir = tempfile::tempdir().unwrap();
        let handle = Arc::new(Handle::open(&dir.path().join("t.redb")).unwrap());
        crate::store::migrate_redb(handle.db().unwrap().as_ref(), handle.path()).unwrap();
        let (first, first_answer) = Job::new(|tx| meta::set_u64(tx, "first", 1).map(|()| 1));
        let (refused, refused_answer) = Job::new(|tx| {
            meta::set_u64(tx, "refused", 2)?;
            Err::<u32, _>(Error::NotFound)
        });
        let (last, last_answer) = Job::new(|tx| meta::set_u64(tx, "last", 3).map(|()| 3));
        let (panics, panics_answer) = Job::new(|tx| -> Result<u32> {
            meta::set_u64(tx, "panics", 4)?;
            panic!("a bug in a change");
        });
        commit_batch(
            &RedbWriter(handle.clone()),
            vec![first, refused, panics, last],
        );
        assert_eq!(first_answer.recv().unwrap().unwrap(), 1);
        assert!(matches!(
            refused_answer.recv().unwrap(),
            Err(Error::NotFound)
        ));
        assert!(matches!(
            panics_answer.recv().unwrap(),
            Err(Error::Internal(_))
        ));
        assert_eq!(last_answer.recv().unwrap().unwrap(), 3);
        assert_eq!(counter(&handle, "first"), Some(1));
        assert_eq!(counter(&handle, "last"), Some(3));
        assert_eq!(counter(&handle, "refused"), None);
        assert_eq!(counter(&handle, "panics"), None);
    }
}
