//! What happens to a record after [`Auditor::record`](super::Auditor::record)
//! files it: the writer task turns records into lines (JSON plus the hash
//! chain) and gathers them into batches; each batch goes to the file from
//! tokio's blocking pool, which also rotates the file between two lines.
//!
//! The file is never written from a runtime worker because `write(2)` can
//! block for as long as the disk likes (dirty-page throttling, a network home
//! directory, a FIFO whose reader stalls). On a worker that would stall every
//! connection queued behind it, and with one worker (a 1-CPU container) the
//! whole proxy. Off the workers, a stalled file only fills the record queue,
//! whose overflow is counted and logged like any other.

use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

use tokio::time::Instant;

use super::queue::Receiver;
use super::{chain, rotate, Record};

/// A batch stops growing here, so a long queue is written in pieces.
const BATCH_BYTES: usize = 256 * 1024;
/// A batch goes to the file this long after its first record was filed
/// (at once if it fills first), so a line reaches the file at most this
/// late. Each write is a hop to the blocking pool and back: a timer, two
/// thread switches and their futexes, ~15 µs of CPU whatever the batch
/// holds. Under load, at 1 ms those hops were ~6 % of the proxy's CPU per
/// intercepted request (perf, pinned, c=16; 0.18 context switches per
/// request); at 10 ms a batch fills to [`BATCH_BYTES`] first at bench
/// rates, and an interleaved A/B measured 1.07× the req/s at 0.94× the CPU
/// (0.04 switches per request). After a quiet spell the wait matters for
/// latency instead: the request that filed the record has just ended and
/// its client's next one is likely on its way, and a write at once would
/// wake a blocking thread (and on a small machine an idle CPU) under it.
/// Waiting took ~0.1 ms off the first SSE event of streams 5 ms apart
/// (unpinned, 2 CPUs). A graceful stop writes everything queued.
pub(super) const PACE: Duration = Duration::from_millis(10);

/// Lines ready for the file, each ending in `\n`.
#[derive(Default)]
pub(super) struct Batch {
    bytes: Vec<u8>,
    /// Where each line ends in `bytes`.
    ends: Vec<usize>,
}

impl Batch {
    fn clear(&mut self) {
        self.bytes.clear();
        self.ends.clear();
    }

    fn lines(&self) -> impl Iterator<Item = (usize, usize)> + '_ {
        let starts = std::iter::once(0).chain(self.ends.iter().copied());
        starts.zip(self.ends.iter().copied())
    }
}

/// The task's half: serialises records and links each line to the last.
pub(super) struct Lines {
    /// The hash of the last line: the next line's `prev_hash`.
    prev_hash: Option<String>,
    batch: Batch,
}

impl Lines {
    pub(super) fn new(prev_hash: Option<String>) -> Lines {
        Lines {
            prev_hash,
            batch: Batch::default(),
        }
    }

    /// Writes the record's line straight into the batch (a line is ~2 KB
    /// with its bodies; building it elsewhere cost a copy per record).
    fn push(&mut self, record: &Record) {
        let bytes = &mut self.batch.bytes;
        let start = bytes.len();
        super::line::write(record, bytes);
        // The chain link is the writer's, not the record's: records are
        // shared (live page, PostgreSQL) before their place in the file is known.
        self.prev_hash = Some(chain::link(bytes, start, self.prev_hash.as_deref()));
        bytes.push(b'\n');
        self.batch.ends.push(bytes.len());
    }

    fn full(&self) -> bool {
        self.batch.bytes.len() >= BATCH_BYTES
    }
}

/// The blocking half: the live file and how big it is.
pub(super) struct AuditFile {
    pub(super) path: PathBuf,
    pub(super) file: std::fs::File,
    pub(super) size: u64,
    pub(super) max_file_bytes: u64,
    pub(super) keep_files: usize,
    /// False for a FIFO or a device, which are never rotated.
    pub(super) regular: bool,
}

impl AuditFile {
    /// Appends a batch, rotating before any line that would take the live
    /// file past its limit, so no line is split across files.
    fn write(&mut self, batch: &Batch) {
        let mut chunk_start = 0;
        for (start, end) in batch.lines() {
            let pending = (start - chunk_start) as u64;
            let len = (end - start) as u64;
            let before = self.size + pending;
            if self.regular
                && self.max_file_bytes > 0
                && before > 0
                && before + len > self.max_file_bytes
            {
                self.append(&batch.bytes[chunk_start..start]);
                self.rotate();
                chunk_start = start;
            }
        }
        self.append(&batch.bytes[chunk_start..]);
    }

    fn append(&mut self, bytes: &[u8]) {
        if bytes.is_empty() {
            return;
        }
        match self.file.write_all(bytes) {
            Ok(()) => self.size += bytes.len() as u64,
            Err(e) => {
                tracing::error!(error = %e, bytes = bytes.len(), "cannot write audit records")
            }
        }
    }

    /// Moves the live file aside and starts a new one. On failure the old
    /// file stays live: records keep being appended, never lost.
    fn rotate(&mut self) {
        if let Err(e) = rotate::shift(&self.path, self.keep_files) {
            tracing::error!(error = %e, path = %self.path.display(), "cannot rotate the audit file");
            return;
        }
        match rotate::open(&self.path) {
            Ok(file) => {
                self.file = file;
                self.size = 0;
                tracing::info!(path = %self.path.display(), "audit file rotated");
            }
            Err(e) => {
                tracing::error!(error = %e, path = %self.path.display(), "cannot open a new audit file")
            }
        }
    }
}

/// The writer task. Returns when every sender is gone, or after writing
/// what was queued when `stop` fired.
pub(super) async fn run(
    mut lines: Lines,
    mut file: AuditFile,
    mut rx: Receiver,
    mut stop: super::queue::StopRequest,
) {
    loop {
        tokio::select! {
            biased;
            record = rx.recv() => {
                let Some(record) = record else { return };
                let due = Instant::now() + PACE;
                lines.push(&record);
                take_queued(&mut lines, &mut rx);
                if !lines.full() {
                    tokio::time::sleep_until(due).await;
                    take_queued(&mut lines, &mut rx);
                }
                let Some(back) = write_out(file, &mut lines).await else { return };
                file = back;
            }
            done = &mut stop => {
                rx.close();
                while let Some(more) = rx.recv().await {
                    lines.push(&more);
                    if lines.full() {
                        let Some(back) = write_out(file, &mut lines).await else { return };
                        file = back;
                    }
                }
                let _ = write_out(file, &mut lines).await;
                if let Ok(done) = done {
                    let _ = done.send(());
                }
                return;
            }
        }
    }
}

/// Adds the records queued now to the batch, until it is full.
fn take_queued(lines: &mut Lines, rx: &mut Receiver) {
    while !lines.full() {
        let Some(more) = rx.try_recv() else { break };
        lines.push(&more);
    }
}

/// Writes the batch on the blocking pool and hands the file back; `None`
/// when the write panicked, after which the writer stops (and the records
/// that follow are counted as dropped).
async fn write_out(mut file: AuditFile, lines: &mut Lines) -> Option<AuditFile> {
    if lines.batch.bytes.is_empty() {
        return Some(file);
    }
    let batch = std::mem::take(&mut lines.batch);
    let done = tokio::task::spawn_blocking(move || {
        file.write(&batch);
        (file, batch)
    })
    .await;
    match done {
        Ok((file, mut batch)) => {
            batch.clear();
            lines.batch = batch;
            Some(file)
        }
        Err(e) => {
            tracing::error!(error = %e, "the audit writer failed; records from now on are dropped");
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::audit::record::Kind;

    fn batch(lines: &[&str]) -> Batch {
        let mut b = Batch::default();
        for l in lines {
            b.bytes.extend_from_slice(l.as_bytes());
            b.bytes.push(b'\n');
            b.ends.push(b.bytes.len());
        }
        b
    }

    fn file(path: &std::path::Path, regular: bool) -> AuditFile {
        AuditFile {
            path: path.to_path_buf(),
            file: rotate::open(path).unwrap(),
            size: 0,
            max_file_bytes: 8,
            keep_files: 10,
            regular,
        }
    }

    fn line_count(path: &std::path::Path) -> usize {
        std::fs::read_to_string(path)
            .unwrap_or_default()
            .lines()
            .count()
    }

    /// The write runs on the blocking pool, in real time; waits for it.
    async fn until_written(path: &std::path::Path, lines: usize) -> usize {
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while line_count(path) < lines && std::time::Instant::now() < deadline {
            tokio::task::yield_now().await;
            std::thread::sleep(Duration::from_millis(5));
        }
        line_count(path)
    }

    #[tokio::test(start_paused = true)]
    async fn a_batch_is_written_a_pace_after_its_first_record_even_after_a_quiet_spell() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.jsonl");
        let file = AuditFile {
            max_file_bytes: 0,
            ..file(&path, true)
        };
        let (tx, rx) = super::super::queue::bounded(100, usize::MAX);
        let (_stop, stop_rx) = super::super::queue::stopper();
        tokio::spawn(run(Lines::new(None), file, rx, stop_rx));
        let record = || Arc::new(Record::new(Kind::Gateway, "127.0.0.1:1".into()));

        tx.offer(record()).unwrap();
        tokio::time::sleep(PACE / 2).await;
        assert_eq!(
            line_count(&path),
            0,
            "written while its request's client may still wait"
        );
        tx.offer(record()).unwrap();
        tokio::time::sleep(PACE).await;
        assert_eq!(
            until_written(&path, 2).await,
            2,
            "both records, in one batch"
        );

        // Long after the last write, a record still waits its pace.
        tokio::time::sleep(PACE * 100).await;
        tx.offer(record()).unwrap();
        tokio::time::sleep(PACE / 2).await;
        assert_eq!(line_count(&path), 2);
        tokio::time::sleep(PACE).await;
        assert_eq!(until_written(&path, 3).await, 3);
    }

    #[test]
    fn a_batch_rotates_between_lines_never_inside_one() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.jsonl");
        let mut f = file(&path, true);
        f.write(&batch(&["aaa", "bbb", "cccccccccc", "d"]));
        let texts: Vec<String> = rotate::files_oldest_first(&path)
            .iter()
            .map(|p| std::fs::read_to_string(p).unwrap())
            .collect();
        assert_eq!(texts, ["aaa\nbbb\n", "cccccccccc\n", "d\n"]);
        assert_eq!(f.size, 2);
    }

    #[test]
    fn a_file_that_is_not_regular_is_never_rotated() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.jsonl");
        let mut f = file(&path, false);
        f.write(&batch(&["aaa", "bbb", "cccccccccc"]));
        assert_eq!(
            rotate::files_oldest_first(&path),
            std::slice::from_ref(&path)
        );
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            "aaa\nbbb\ncccccccccc\n"
        );
    }
}
