//! The audit trail: one JSON line per request and per tunnel.
//!
//! Requests hand their finished [`Record`] to [`Auditor::record`], which never
//! waits: records go through a bounded channel to the [`writer`], which owns
//! the file and never writes it from a runtime worker. An overflow is counted
//! and logged, never silent; shutdown drains the channel and writes it out
//! before returning.
//!
//! Every record also passes [`crate::metrics::Metrics::observe`] and, for
//! the live page, a broadcast ([`Auditor::subscribe`]) plus a short history
//! of recent records ([`Auditor::recent`]). The writer rotates the file by
//! size ([`rotate`]). With `[audit] postgres_url` the same records also go
//! to PostgreSQL ([`postgres`]), through their own queue and task.

pub mod capture;
pub mod chain;
mod line;
pub mod postgres;
mod queue;
pub mod record;
pub mod redact;
pub mod rotate;
pub mod summary;
pub mod usage;
mod writer;

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::broadcast;

use crate::config::AuditSettings;
use crate::metrics::Metrics;
pub use record::{client_address, Kind, Record, Usage};

/// Records waiting for the disk before new ones are dropped (and counted).
const QUEUE: usize = 65_536;
/// Memory those records may hold ([`Record::queue_cost`]): ~28,000 records
/// with two full 4 KB bodies, a second of this proxy's peak rate.
const QUEUE_BYTES: usize = 256 * 1024 * 1024;
/// Records a slow live-page subscriber may lag behind before it skips some.
const LIVE_QUEUE: usize = 1024;
/// Records the live page shows on connect.
const RECENT: usize = 200;

#[derive(Debug, thiserror::Error)]
#[error("cannot open the audit file {path}: {source}")]
pub struct AuditError {
    path: PathBuf,
    source: std::io::Error,
}

/// Handle used by request tasks to file records.
pub struct Auditor {
    queue: queue::Sender,
    dropped: Arc<AtomicU64>,
    stop: queue::Stopper,
    path: PathBuf,
    metrics: Arc<Metrics>,
    live: broadcast::Sender<Arc<Record>>,
    recent: Mutex<VecDeque<Arc<Record>>>,
    postgres: Option<postgres::Sink>,
}

impl Auditor {
    /// Opens (appending, never truncating) the audit file and starts the writer.
    pub fn start(settings: &AuditSettings) -> Result<Auditor, AuditError> {
        Auditor::start_with_budget(settings, QUEUE_BYTES)
    }

    fn start_with_budget(settings: &AuditSettings, bytes: usize) -> Result<Auditor, AuditError> {
        let path = settings.path.as_path();
        let err = |source| AuditError {
            path: path.to_path_buf(),
            source,
        };
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::DirBuilder::new()
                .recursive(true)
                .create(dir)
                .map_err(err)?;
        }
        let prev_hash = chain::head(&rotate::files_oldest_first(path));
        let file = rotate::open(path).map_err(err)?;
        let (size, regular) = file
            .metadata()
            .map(|m| (m.len(), m.is_file()))
            .unwrap_or((0, true));
        let (queue, rx) = queue::bounded(QUEUE, bytes);
        let (stop, stop_rx) = queue::stopper();
        let file = writer::AuditFile {
            path: path.to_path_buf(),
            file,
            size,
            max_file_bytes: settings.max_file_bytes,
            keep_files: settings.keep_files,
            regular,
        };
        tokio::spawn(writer::run(
            writer::Lines::new(prev_hash),
            file,
            rx,
            stop_rx,
        ));
        let metrics = Arc::new(Metrics::new());
        let postgres = settings
            .postgres
            .as_ref()
            .map(|pg| postgres::Sink::start(pg, path, metrics.clone()));
        Ok(Auditor {
            queue,
            dropped: Arc::new(AtomicU64::new(0)),
            stop,
            path: path.to_path_buf(),
            metrics,
            postgres,
            live: broadcast::channel(LIVE_QUEUE).0,
            recent: Mutex::new(VecDeque::with_capacity(RECENT)),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The metrics derived from records (and the other gauges; see
    /// [`crate::metrics`]).
    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.metrics
    }

    /// Every record filed from now on, for the live page. A subscriber that
    /// lags more than [`LIVE_QUEUE`] records skips ahead (it is told so).
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<Record>> {
        self.live.subscribe()
    }

    /// The most recent records, oldest first.
    pub fn recent(&self) -> Vec<Arc<Record>> {
        self.recent
            .lock()
            .map(|r| r.iter().cloned().collect())
            .unwrap_or_default()
    }

    /// Files a record without waiting.
    pub fn record(&self, mut record: Record) {
        // Filed: no longer in flight.
        record.inflight = None;
        self.metrics.observe(&record);
        let shared = Arc::new(record);
        if let Ok(mut recent) = self.recent.lock() {
            if recent.len() == RECENT {
                recent.pop_front();
            }
            recent.push_back(shared.clone());
        }
        if let Some(pg) = &self.postgres {
            pg.offer(shared.clone());
        }
        // No subscriber is the normal case, not an error.
        if self.live.receiver_count() > 0 {
            let _ = self.live.send(shared.clone());
        }
        if let Err(reason) = self.queue.offer(shared) {
            let n = self.dropped.fetch_add(1, Ordering::Relaxed) + 1;
            tracing::error!(dropped_total = n, %reason, "audit record dropped");
        }
    }

    /// The PostgreSQL sink's state, when there is one.
    pub fn postgres_status(&self) -> Option<postgres::PostgresStatus> {
        self.postgres.as_ref().map(postgres::Sink::status)
    }

    /// Records lost to overflow since start.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    /// Writes everything queued so far, flushes, and stops the writer.
    pub async fn shutdown(&self) {
        self.stop.stop().await;
        if let Some(pg) = &self.postgres {
            pg.shutdown().await;
        }
    }
}

/// Shared handle type.
pub type SharedAuditor = Arc<Auditor>;

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(path: &Path, max_file_bytes: u64, keep_files: usize) -> AuditSettings {
        AuditSettings {
            path: path.to_path_buf(),
            max_body_bytes: 0,
            max_file_bytes,
            keep_files,
            postgres: None,
        }
    }

    #[tokio::test]
    async fn rotates_by_size_keeping_every_line_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.jsonl");
        let auditor = Auditor::start(&settings(&path, 2000, 100)).unwrap();
        let mut rx = auditor.subscribe();
        for i in 0..60 {
            let mut r = Record::new(Kind::Gateway, "127.0.0.1:1".into());
            r.model = Some(format!("m{i}"));
            auditor.record(r);
        }
        auditor.shutdown().await;
        let files = rotate::files_oldest_first(&path);
        assert!(files.len() > 3, "{files:?}");
        let mut models = Vec::new();
        for f in &files {
            let text = std::fs::read_to_string(f).unwrap();
            assert!(text.len() <= 2000, "{f:?} is {} bytes", text.len());
            for line in text.lines() {
                let v: serde_json::Value = serde_json::from_str(line).unwrap();
                models.push(v["model"].as_str().unwrap().to_owned());
            }
        }
        let want: Vec<String> = (0..60).map(|i| format!("m{i}")).collect();
        assert_eq!(models, want);
        assert_eq!(rx.recv().await.unwrap().model.as_deref(), Some("m0"));
        assert_eq!(auditor.recent().len(), 60);
        assert_eq!(auditor.metrics().request_counts().total, 60);
    }

    #[tokio::test]
    async fn the_queue_holds_a_bounded_number_of_bytes_given_back_as_records_are_written() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.jsonl");
        let auditor = Auditor::start_with_budget(&settings(&path, 0, 0), 5000).unwrap();
        let with_body = |n: usize| {
            let mut r = Record::new(Kind::Gateway, "127.0.0.1:1".into());
            r.request_body = Some("x".repeat(n));
            r
        };
        // The writer runs at the first await: 2,024 bytes each, so the
        // third does not fit.
        for _ in 0..3 {
            auditor.record(with_body(1000));
        }
        assert_eq!(auditor.dropped(), 1);
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while auditor.queue.bytes_queued() > 0 {
            assert!(
                std::time::Instant::now() < deadline,
                "budget never given back"
            );
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        auditor.record(with_body(10_000));
        assert_eq!(auditor.dropped(), 1, "an empty queue takes any record");
        auditor.record(with_body(1000));
        assert_eq!(auditor.dropped(), 2);
        auditor.shutdown().await;
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(text.lines().count(), 3);
    }

    #[tokio::test]
    async fn appends_one_line_per_record_and_flushes_on_shutdown() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("logs/audit.jsonl");
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, "{\"old\":1}\n").unwrap();
        let auditor = Auditor::start(&settings(&path, 0, 0)).unwrap();
        for _ in 0..100 {
            auditor.record(Record::new(Kind::Gateway, "127.0.0.1:1".into()));
        }
        auditor.shutdown().await;
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(text.lines().count(), 101, "appended, never rewritten");
        assert!(text.starts_with("{\"old\":1}\n"));
        assert_eq!(auditor.dropped(), 0);
        auditor.record(Record::new(Kind::Gateway, "x".into()));
        assert_eq!(
            auditor.dropped(),
            1,
            "records after shutdown are counted as dropped"
        );
    }
}
