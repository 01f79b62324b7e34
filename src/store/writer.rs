//! The group-commit writer: one thread owns every write transaction of this process.
//!
//! Callers queue closures; the thread takes all that are waiting (up to a batch limit), runs
//! them in one transaction, commits once (one fsync), then answers each caller. Under load many
//! sends share one fsync; alone, a request pays exactly one commit as before. A closure that
//! panics spoils only its batch: the transaction is dropped (nothing of it is kept), every caller
//! of the batch gets an error, and the thread goes on.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::mpsc::{self, Receiver, Sender, SyncSender};
use std::sync::{Arc, Mutex};

use redb::Database;

use super::Tx;
use crate::error::{Error, Result};

/// The most closures one commit carries; bounds the work lost to one failed commit.
const MAX_BATCH: usize = 256;

/// Called with the outcome of the commit its closure ran in.
type Completion = Box<dyn FnOnce(Result<()>) + Send>;
type Job = Box<dyn FnOnce(&Tx<'_>) -> Completion + Send>;

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
        let job: Job = Box::new(move |tx| {
            let outcome = work(tx);
            Box::new(move |commit: Result<()>| {
                let _ = answer.send(commit.and(outcome));
            })
        });
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
    while let Ok(first) = queue.recv() {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match queue.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        n_changes += batch.len() as u64;
        n_commits += 1;
        commit_batch(db, batch);
    }
    // How well group commit worked over this process's life (the benchmark reads this line).
    if n_commits > 0 {
        tracing::info!("database writer: {n_changes} changes in {n_commits} commits");
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
            .map(|job| job(&tx))
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
