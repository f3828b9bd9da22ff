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

/// Scheduler rounds the writer waits for more records before it writes.
const GATHER_ROUNDS: usize = 8;
/// A batch stops growing here, so a long queue is written in pieces.
const BATCH_BYTES: usize = 256 * 1024;
/// Under load a batch goes to the file at most this often. Each write is a
/// hop to the blocking pool and back: a timer, two thread switches and
/// their futexes, ~15 µs of CPU whatever the batch holds. At 1 ms those hops
/// were ~6 % of the proxy's CPU per intercepted request (perf, pinned, c=16;
/// 0.18 context switches per request); at 10 ms a batch fills to
/// [`BATCH_BYTES`] first at bench rates, and an interleaved A/B measured
/// 1.07× the req/s at 0.94× the CPU (0.04 switches per request). A record
/// filed after a quiet spell is still written at once; under load one waits
/// at most this, and a graceful stop writes everything queued.
const PACE: Duration = Duration::from_millis(10);

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
    let mut last_write = None;
    loop {
        tokio::select! {
            biased;
            record = rx.recv() => {
                let Some(record) = record else { return };
                lines.push(&record);
                gather(&mut lines, &mut rx).await;
                if let Some(at) = paced_until(last_write, Instant::now()).filter(|_| !lines.full()) {
                    tokio::time::sleep_until(at).await;
                    take_queued(&mut lines, &mut rx);
                }
                last_write = Some(Instant::now());
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

/// Takes in the records that arrive while one is being written, so that
/// under load many share one write(2) (measured: one write per record was
/// ~6 % of the proxy's CPU at 20k req/s). Each round yields once to the
/// tasks that file records; it stops at the first round that brings none,
/// after [`GATHER_ROUNDS`], or when the batch is full, so an idle proxy
/// writes a record at once and a busy one within a few scheduler rounds.
async fn gather(lines: &mut Lines, rx: &mut Receiver) {
    for _ in 0..GATHER_ROUNDS {
        take_queued(lines, rx);
        if lines.full() {
            return;
        }
        tokio::task::yield_now().await;
        if rx.is_empty() {
            return;
        }
    }
    take_queued(lines, rx);
}

/// Adds the records queued now to the batch, until it is full.
fn take_queued(lines: &mut Lines, rx: &mut Receiver) {
    while !lines.full() {
        let Some(more) = rx.try_recv() else { break };
        lines.push(&more);
    }
}

/// When the next write may start, if the last one began under [`PACE`] ago.
fn paced_until(last_write: Option<Instant>, now: Instant) -> Option<Instant> {
    let next = last_write? + PACE;
    (now < next).then_some(next)
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
    use super::*;

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

    #[test]
    fn writes_are_paced_only_while_records_keep_coming() {
        let start = Instant::now();
        assert_eq!(
            paced_until(None, start),
            None,
            "the first record goes at once"
        );
        let soon = start + PACE / 4;
        assert_eq!(paced_until(Some(start), soon), Some(start + PACE));
        assert_eq!(paced_until(Some(start), start + PACE), None);
        assert_eq!(paced_until(Some(start), start + PACE * 50), None);
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
