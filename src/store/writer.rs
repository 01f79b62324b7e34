//! The group-commit writer: one thread owns every write transaction of this process.
//!
//! Callers queue closures; the thread takes all that are waiting (up to a batch limit), waits
//! briefly for callers it expects back (see [`gather`]), runs them in one transaction, commits
//! once, then answers each caller. Under load many sends share one commit and its flushes;
//! alone, a request pays exactly one commit as before. A closure that
//! panics spoils only its batch: the transaction is dropped (nothing of it is kept), every caller
//! of the batch gets an error, and the thread goes on.

use std::collections::HashSet;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::mpsc::{self, Receiver, Sender, SyncSender};
use std::sync::{Arc, Mutex};
use std::thread::ThreadId;
use std::time::{Duration, Instant};

use redb::Database;

use super::Tx;
use crate::error::{Error, Result};

/// The most closures one commit carries; bounds the work lost to one failed commit.
const MAX_BATCH: usize = 256;

/// The longest a commit waits for the callers the last ones suggest are coming (see [`gather`]).
/// Short beside one commit (about a millisecond here), so no caller waits long for it.
const GATHER_WAIT: Duration = Duration::from_micros(500);

/// Called with the outcome of the commit its closure ran in.
type Completion = Box<dyn FnOnce(Result<()>) + Send>;
type Work = Box<dyn FnOnce(&Tx<'_>) -> Completion + Send>;

/// A queued change and the thread that waits for it. A caller has at most one change queued
/// (submitting blocks), so distinct threads count the callers taking part in the load.
struct Job {
    work: Work,
    caller: ThreadId,
}

pub(super) struct Writer {
    jobs: Mutex<Option<Sender<Job>>>,
    thread: Mutex<Option<std::thread::JoinHandle<()>>>,
}

impl Writer {
    pub(super) fn start(db: Arc<Database>) -> Self {
        let (jobs, queue) = mpsc::channel::<Job>();
        let thread = std::thread::Builder::new()
            .name("db-writer".into())
            .spawn(move || run(&db, &queue))
            .expect("spawning the database writer thread");
        Writer {
            jobs: Mutex::new(Some(jobs)),
            thread: Mutex::new(Some(thread)),
        }
    }

    pub(super) fn submit<R, F>(&self, work: F) -> Result<R>
    where
        R: Send + 'static,
        F: FnOnce(&Tx<'_>) -> Result<R> + Send + 'static,
    {
        let (answer, answered): (SyncSender<Result<R>>, _) = mpsc::sync_channel(1);
        let job = Job {
            work: Box::new(move |tx| {
                let outcome = work(tx);
                Box::new(move |commit: Result<()>| {
                    let _ = answer.send(commit.and(outcome));
                })
            }),
            caller: std::thread::current().id(),
        };
        let sender = self
            .jobs
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
            .ok_or_else(|| Error::Storage("the database writer has stopped".into()))?;
        sender
            .send(job)
            .map_err(|_| Error::Storage("the database writer has stopped".into()))?;
        answered
            .recv()
            .map_err(|_| Error::Storage("the database writer failed during this change".into()))?
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

fn run(db: &Database, queue: &Receiver<Job>) {
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
        commit_batch(db, batch);
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

fn commit_batch(db: &Database, batch: Vec<Job>) {
    let txn = match db.begin_write() {
        Ok(txn) => txn,
        Err(e) => {
            let message = format!("cannot begin a write transaction: {e}");
            // The closures never ran, so their callers only learn that the commit failed.
            for job in batch {
                drop(job);
            }
            tracing::error!("{message}");
            return;
        }
    };
    let ran = catch_unwind(AssertUnwindSafe(|| {
        let tx = Tx { txn: &txn };
        batch
            .into_iter()
            .map(|job| (job.work)(&tx))
            .collect::<Vec<Completion>>()
    }));
    match ran {
        Ok(completions) => {
            let committed: Result<()> = txn.commit().map_err(Error::from);
            for complete in completions {
                let outcome = match &committed {
                    Ok(()) => Ok(()),
                    Err(e) => Err(Error::Storage(e.to_string())),
                };
                complete(outcome);
            }
        }
        Err(_) => {
            // A closure panicked: nothing of this batch is kept. Dropping the completions that
            // were already made (inside the unwound closure) closes their answer channels, so
            // every caller of the batch receives an error rather than waiting forever.
            drop(txn);
            tracing::error!("a database change panicked; its batch was rolled back");
        }
    }
}
