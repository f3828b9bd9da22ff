//! The hand-off from request tasks to an audit sink's task (the file
//! writer, the PostgreSQL sink): a channel bounded in records and in the
//! bytes those records hold ([`Record::queue_cost`]).
//!
//! Filing never waits. A record that does not fit is refused and the caller
//! decides what that means: the file writer drops and counts it, PostgreSQL
//! leaves it to the file and backfills later. The byte bound is what keeps a
//! sink that stalls (a FIFO nobody reads, a database that takes 30 s per
//! insert) from holding gigabytes when `max_body_bytes` is large.
//!
//! [`stopper`] is the other hand-off: shutdown asking the task to finish
//! what is queued, and waiting until it has.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::{mpsc, oneshot};

use super::Record;

/// What a sink's task receives when asked to stop: it answers on the
/// sender once everything queued is written.
pub(super) type StopRequest = oneshot::Receiver<oneshot::Sender<()>>;

/// The asking side of a [`StopRequest`]; asks once.
pub(super) struct Stopper(Mutex<Option<oneshot::Sender<oneshot::Sender<()>>>>);

pub(super) fn stopper() -> (Stopper, StopRequest) {
    let (tx, rx) = oneshot::channel();
    (Stopper(Mutex::new(Some(tx))), rx)
}

impl Stopper {
    /// Asks the task to stop and waits for its answer (at once if the task
    /// is gone or was asked before).
    pub(super) async fn stop(&self) {
        let stop = self.0.lock().ok().and_then(|mut s| s.take());
        if let Some(stop) = stop {
            let (done_tx, done_rx) = oneshot::channel();
            if stop.send(done_tx).is_ok() {
                let _ = done_rx.await;
            }
        }
    }
}

/// A queue for at most `records` records holding at most `bytes` bytes.
pub(super) fn bounded(records: usize, bytes: usize) -> (Sender, Receiver) {
    let (tx, rx) = mpsc::channel(records);
    let budget = Budget {
        used: Arc::new(AtomicUsize::new(0)),
        limit: bytes,
    };
    (
        Sender {
            tx,
            budget: budget.clone(),
        },
        Receiver { rx, budget },
    )
}

/// Why a record was not queued.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub(super) enum Refused {
    #[error("queue full")]
    Full,
    #[error("writer stopped")]
    Closed,
}

/// Bytes held by queued records. Counted in when a record is queued and
/// out when the sink takes it.
#[derive(Clone)]
struct Budget {
    used: Arc<AtomicUsize>,
    limit: usize,
}

impl Budget {
    /// False when `bytes` do not fit. An empty queue takes any record, so
    /// one bigger than the whole budget is still delivered.
    fn take(&self, bytes: usize) -> bool {
        let before = self.used.fetch_add(bytes, Ordering::Relaxed);
        if before > 0 && before + bytes > self.limit {
            self.give(bytes);
            return false;
        }
        true
    }

    fn give(&self, bytes: usize) {
        self.used.fetch_sub(bytes, Ordering::Relaxed);
    }
}

/// The request tasks' half.
pub(super) struct Sender {
    tx: mpsc::Sender<Arc<Record>>,
    budget: Budget,
}

impl Sender {
    pub(super) fn offer(&self, record: Arc<Record>) -> Result<(), Refused> {
        let cost = record.queue_cost();
        if !self.budget.take(cost) {
            return Err(Refused::Full);
        }
        self.tx.try_send(record).map_err(|e| {
            self.budget.give(cost);
            match e {
                mpsc::error::TrySendError::Full(_) => Refused::Full,
                mpsc::error::TrySendError::Closed(_) => Refused::Closed,
            }
        })
    }

    #[cfg(test)]
    pub(super) fn bytes_queued(&self) -> usize {
        self.budget.used.load(Ordering::Relaxed)
    }
}

/// The sink task's half. A record taken out no longer counts against the
/// budget: the sink holds what it is working on (a bounded batch).
pub(super) struct Receiver {
    rx: mpsc::Receiver<Arc<Record>>,
    budget: Budget,
}

impl Receiver {
    /// The next record; `None` once every sender is gone (or after
    /// [`close`](Self::close), once the queue is empty).
    pub(super) async fn recv(&mut self) -> Option<Arc<Record>> {
        let record = self.rx.recv().await?;
        Some(self.taken(record))
    }

    /// The next record if one is queued now.
    pub(super) fn try_recv(&mut self) -> Option<Arc<Record>> {
        let record = self.rx.try_recv().ok()?;
        Some(self.taken(record))
    }

    /// Refuses new records; those already queued can still be taken.
    pub(super) fn close(&mut self) {
        self.rx.close();
    }

    fn taken(&self, record: Arc<Record>) -> Arc<Record> {
        self.budget.give(record.queue_cost());
        record
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::Kind;

    fn with_body(n: usize) -> Arc<Record> {
        let mut r = Record::new(Kind::Gateway, "127.0.0.1:1".into());
        r.request_body = Some("x".repeat(n));
        Arc::new(r)
    }

    #[tokio::test]
    async fn the_queue_is_bounded_in_bytes_and_gives_them_back_as_records_are_taken() {
        // 2,024 bytes each (1,024 for the record, 1,000 of body).
        let (tx, mut rx) = bounded(100, 5000);
        assert_eq!(tx.offer(with_body(1000)), Ok(()));
        assert_eq!(tx.offer(with_body(1000)), Ok(()));
        assert_eq!(tx.offer(with_body(1000)), Err(Refused::Full));
        assert_eq!(tx.bytes_queued(), 4048);
        assert!(rx.recv().await.is_some());
        assert_eq!(tx.bytes_queued(), 2024);
        assert!(rx.try_recv().is_some());
        assert_eq!(tx.bytes_queued(), 0);
        assert_eq!(
            tx.offer(with_body(10_000)),
            Ok(()),
            "an empty queue takes any record"
        );
        assert_eq!(tx.offer(with_body(1)), Err(Refused::Full));
    }

    #[tokio::test]
    async fn the_queue_is_bounded_in_records_and_refuses_once_closed() {
        let (tx, mut rx) = bounded(2, usize::MAX);
        assert_eq!(tx.offer(with_body(0)), Ok(()));
        assert_eq!(tx.offer(with_body(0)), Ok(()));
        assert_eq!(tx.offer(with_body(0)), Err(Refused::Full));
        assert_eq!(tx.bytes_queued(), 2048, "a refused record is not counted");
        rx.close();
        assert_eq!(tx.offer(with_body(0)), Err(Refused::Closed));
        assert!(rx.recv().await.is_some());
        assert!(rx.recv().await.is_some());
        assert!(rx.recv().await.is_none());
        assert_eq!(tx.bytes_queued(), 0);
    }
}
