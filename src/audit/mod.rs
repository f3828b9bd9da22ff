//! The audit trail: one JSON line per request and per tunnel.
//!
//! Requests hand their finished [`Record`] to [`Auditor::record`], which never
//! waits: records go through a bounded channel to a writer task that owns the
//! file. An overflow is counted and logged, never silent; shutdown drains the
//! channel and flushes before returning.

pub mod capture;
pub mod record;
pub mod redact;
pub mod usage;

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::{mpsc, oneshot};

pub use record::{Kind, Record, Usage};

/// Records waiting for the disk before new ones are dropped (and counted).
const QUEUE: usize = 65_536;

#[derive(Debug, thiserror::Error)]
#[error("cannot open the audit file {path}: {source}")]
pub struct AuditError {
    path: PathBuf,
    source: std::io::Error,
}

/// Handle used by request tasks to file records.
pub struct Auditor {
    tx: mpsc::Sender<Record>,
    dropped: Arc<AtomicU64>,
    stop: Mutex<Option<oneshot::Sender<oneshot::Sender<()>>>>,
    path: PathBuf,
}

impl Auditor {
    /// Opens (appending, never truncating) the audit file and starts the writer.
    pub fn start(path: &Path) -> Result<Auditor, AuditError> {
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
        let file = std::fs::OpenOptions::new()
            .append(true)
            .create(true)
            .mode(0o600)
            .open(path)
            .map_err(err)?;
        let (tx, rx) = mpsc::channel(QUEUE);
        let (stop_tx, stop_rx) = oneshot::channel();
        tokio::spawn(write_loop(file, rx, stop_rx));
        Ok(Auditor {
            tx,
            dropped: Arc::new(AtomicU64::new(0)),
            stop: Mutex::new(Some(stop_tx)),
            path: path.to_path_buf(),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Files a record without waiting.
    pub fn record(&self, record: Record) {
        if let Err(e) = self.tx.try_send(record) {
            let n = self.dropped.fetch_add(1, Ordering::Relaxed) + 1;
            let reason = match e {
                mpsc::error::TrySendError::Full(_) => "queue full",
                mpsc::error::TrySendError::Closed(_) => "writer stopped",
            };
            tracing::error!(dropped_total = n, reason, "audit record dropped");
        }
    }

    /// Records lost to overflow since start.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    /// Writes everything queued so far, flushes, and stops the writer.
    pub async fn shutdown(&self) {
        let stop = self.stop.lock().ok().and_then(|mut s| s.take());
        if let Some(stop) = stop {
            let (done_tx, done_rx) = oneshot::channel();
            if stop.send(done_tx).is_ok() {
                let _ = done_rx.await;
            }
        }
    }
}

async fn write_loop(
    file: std::fs::File,
    mut rx: mpsc::Receiver<Record>,
    mut stop: oneshot::Receiver<oneshot::Sender<()>>,
) {
    let mut out = std::io::BufWriter::with_capacity(64 * 1024, file);
    loop {
        tokio::select! {
            biased;
            record = rx.recv() => match record {
                Some(record) => {
                    write_one(&mut out, &record);
                    while let Ok(more) = rx.try_recv() {
                        write_one(&mut out, &more);
                    }
                    flush(&mut out);
                }
                None => break,
            },
            done = &mut stop => {
                rx.close();
                while let Ok(more) = rx.try_recv() {
                    write_one(&mut out, &more);
                }
                flush(&mut out);
                if let Ok(done) = done {
                    let _ = done.send(());
                }
                return;
            }
        }
    }
    flush(&mut out);
}

fn write_one(out: &mut impl Write, record: &Record) {
    let written = serde_json::to_writer(&mut *out, record)
        .map_err(std::io::Error::from)
        .and_then(|_| out.write_all(b"\n"));
    if let Err(e) = written {
        tracing::error!(error = %e, id = %record.id, "cannot write audit record");
    }
}

fn flush(out: &mut impl Write) {
    if let Err(e) = out.flush() {
        tracing::error!(error = %e, "cannot flush the audit file");
    }
}

/// Shared handle type.
pub type SharedAuditor = Arc<Auditor>;

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn appends_one_line_per_record_and_flushes_on_shutdown() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("logs/audit.jsonl");
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, "{\"old\":1}\n").unwrap();
        let auditor = Auditor::start(&path).unwrap();
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
