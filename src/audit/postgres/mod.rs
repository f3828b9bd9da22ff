//! The audit trail in PostgreSQL (`[audit] postgres_url`): a second sink
//! beside the JSONL file, for a fleet's one queryable trail.
//!
//! [`super::Auditor::record`] hands every record to this sink's task through
//! a queue bounded in records and bytes, as it does to the file writer:
//! requests never wait on the database, and a slow one holds bounded memory. The task inserts in batches (`ON CONFLICT (id) DO NOTHING`,
//! so inserting a record twice is harmless), runs the migrations on every
//! (re)connect and deletes rows past `retention_days` hourly.
//!
//! The JSONL file is the spool. When PostgreSQL is unreachable the task
//! remembers the oldest timestamp it could not insert (in memory and in
//! `<audit file>.pg-pending`, so a restart during an outage still knows)
//! and drops the batch: the file writer has the same records. While the
//! process runs, that file otherwise holds its start time and is removed by
//! a clean shutdown, so after a crash (records still queued for the
//! database) the next start backfills the crashed run too. Once the
//! database is back it re-reads the audit files (rotated ones too) and
//! inserts every record from that timestamp on; the idempotent insert turns
//! the overlap into no-ops. Nothing lost, nothing duplicated — unless the
//! outage outlasts the rotated files that `keep_files` keeps.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;
use tokio_postgres::tls::MakeTlsConnect;
use tokio_postgres::{Client, NoTls, Socket};

use super::queue::{self, Receiver};
use super::record::Record;
use super::rotate;
use super::writer::PACE;
use crate::config::{redact_url, PostgresSettings};
use crate::metrics::Metrics;

mod read;
mod tls;

pub use read::{query, summarize, Filter, Query};

/// Records waiting for the database before the sink spools them instead.
const QUEUE: usize = 16_384;
/// Memory those records may hold ([`Record::queue_cost`]); beyond it they
/// are spooled too. Records shared with the file queue are counted in both.
const QUEUE_BYTES: usize = 64 * 1024 * 1024;
/// Rows per INSERT.
const BATCH: usize = 500;
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
const STATEMENT_TIMEOUT: Duration = Duration::from_secs(30);
/// How often an unreachable database is tried again.
const RETRY_EVERY: Duration = Duration::from_secs(1);
const RETENTION_EVERY: Duration = Duration::from_secs(3600);
/// How long shutdown may spend on the last records (the rest stay spooled).
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// Serialises concurrent migrations from replicas starting together.
const MIGRATION_LOCK: i64 = 0x5357_4954_4348_5944; // "SWITCHYD"

/// Schema versions, applied in order, each once.
const MIGRATIONS: [(i32, &str); 1] = [(
    1,
    "CREATE TABLE audit_records (
        seq bigint GENERATED ALWAYS AS IDENTITY,
        id text PRIMARY KEY,
        ts timestamptz NOT NULL,
        kind text NOT NULL,
        status integer,
        provider text,
        model text,
        credential text,
        client text,
        record jsonb NOT NULL
    );
    CREATE UNIQUE INDEX audit_records_seq ON audit_records (seq);
    CREATE INDEX audit_records_ts ON audit_records (ts);
    CREATE INDEX audit_records_status ON audit_records (status);
    CREATE INDEX audit_records_provider ON audit_records (provider, ts);
    CREATE INDEX audit_records_model ON audit_records (model, ts);",
)];

const INSERT: &str = "INSERT INTO audit_records (id, ts, kind, status, provider, model, credential, client, record)
    SELECT id, ts::timestamptz, kind, status, provider, model, credential, client, record::jsonb
    FROM UNNEST($1::text[], $2::text[], $3::text[], $4::int4[], $5::text[], $6::text[], $7::text[], $8::text[], $9::text[])
      AS u(id, ts, kind, status, provider, model, credential, client, record)
    ON CONFLICT (id) DO NOTHING";

const CONNECTING: u8 = 0;
const CONNECTED: u8 = 1;
const SPOOLING: u8 = 2;

/// `status`'s view of the sink.
#[derive(Debug, Clone, serde::Serialize)]
pub struct PostgresStatus {
    /// The URL without credentials.
    pub url: String,
    /// `connected`, `spooling` (unreachable: records wait in the audit file)
    /// or `connecting`.
    pub state: &'static str,
    /// The oldest record not known to be in the database, while spooling.
    pub pending_since: Option<String>,
    /// Rows inserted since start (backfill included; duplicates not).
    pub inserted: u64,
    /// Whether connections use TLS (`sslmode=require` in the URL, which
    /// `url` leaves out).
    pub tls: bool,
}

/// What the auditor and the sink task share.
struct Shared {
    shown: String,
    tls: bool,
    state: AtomicU8,
    inserted: AtomicU64,
    /// The oldest `ts` not confirmed in the database.
    pending: Mutex<Option<String>>,
    mark_file: PathBuf,
    /// When this process started: the mark while nothing is pending.
    run_started: String,
    metrics: Arc<Metrics>,
}

impl Shared {
    /// Records from `ts` on must be backfilled.
    fn pend(&self, ts: &str) {
        let Ok(mut pending) = self.pending.lock() else {
            return;
        };
        if pending.as_deref().is_some_and(|p| p <= ts) {
            return;
        }
        *pending = Some(ts.to_owned());
        self.metrics.set_postgres_pending(true);
        self.write_mark(ts);
    }

    fn write_mark(&self, ts: &str) {
        if let Err(e) = std::fs::write(&self.mark_file, ts) {
            tracing::error!(error = %e, path = %self.mark_file.display(), "cannot write the PostgreSQL backfill mark");
        }
    }

    /// A clean stop: with nothing pending, the next start has nothing to
    /// backfill.
    fn stopped(&self) {
        if self.pending().is_none() {
            let _ = std::fs::remove_file(&self.mark_file);
        }
    }

    fn pending(&self) -> Option<String> {
        self.pending.lock().ok().and_then(|p| p.clone())
    }

    /// Backfilled up to now: clears the mark unless a newer failure moved it.
    fn clear(&self, was: &str) {
        let Ok(mut pending) = self.pending.lock() else {
            return;
        };
        if pending.as_deref() == Some(was) {
            *pending = None;
            self.metrics.set_postgres_pending(false);
            self.write_mark(&self.run_started);
        }
    }

    /// `error`: why the database is unreachable, for the one warning that
    /// says so (a TLS or password problem must not hide at debug level).
    fn set_state(&self, state: u8, error: &str) {
        let before = self.state.swap(state, Ordering::AcqRel);
        if before == state {
            return;
        }
        match state {
            CONNECTED if before == SPOOLING => {
                tracing::info!(postgres = %self.shown, "PostgreSQL reachable again: backfilling the audit records it missed")
            }
            CONNECTED => tracing::info!(postgres = %self.shown, "auditing to PostgreSQL"),
            _ => {
                tracing::warn!(postgres = %self.shown, error, "PostgreSQL unreachable: audit records are spooled in the audit file and backfilled when it is back")
            }
        }
    }
}

/// The auditor's handle on the sink task.
pub struct Sink {
    queue: queue::Sender,
    shared: Arc<Shared>,
    stop: queue::Stopper,
}

impl Sink {
    /// Starts the task. `audit_path` is the JSONL file (the spool).
    pub fn start(settings: &PostgresSettings, audit_path: &Path, metrics: Arc<Metrics>) -> Sink {
        let mark_file = {
            let mut name = audit_path.as_os_str().to_owned();
            name.push(".pg-pending");
            PathBuf::from(name)
        };
        // A mark left by a run that stopped during an outage or crashed.
        let pending = std::fs::read_to_string(&mark_file)
            .ok()
            .map(|s| s.trim().to_owned())
            .filter(|s| !s.is_empty());
        metrics.set_postgres_pending(pending.is_some());
        let run_started = super::record::now_rfc3339();
        let shared = Arc::new(Shared {
            shown: redact_url(settings.url.expose()),
            tls: settings.tls.is_some(),
            state: AtomicU8::new(CONNECTING),
            inserted: AtomicU64::new(0),
            mark_file,
            run_started,
            metrics,
            pending: Mutex::new(None),
        });
        match pending {
            Some(ts) => shared.pend(&ts),
            None => shared.write_mark(&shared.run_started),
        }
        let (queue, rx) = queue::bounded(QUEUE, QUEUE_BYTES);
        let (stop, stop_rx) = queue::stopper();
        let task = Task {
            url: settings.url.expose().to_owned(),
            transport: Transport::new(settings),
            retention_days: settings.retention_days,
            audit_path: audit_path.to_path_buf(),
            shared: shared.clone(),
            client: None,
        };
        tokio::spawn(task.run(rx, stop_rx));
        Sink {
            queue,
            shared,
            stop,
        }
    }

    /// Queues a record without waiting; a full queue spools it (the file
    /// has it) instead of dropping it.
    pub fn offer(&self, record: Arc<Record>) {
        if self.queue.offer(record.clone()).is_err() {
            self.shared.pend(&record.ts);
        }
    }

    pub fn status(&self) -> PostgresStatus {
        PostgresStatus {
            url: self.shared.shown.clone(),
            state: match self.shared.state.load(Ordering::Acquire) {
                CONNECTED => "connected",
                SPOOLING => "spooling",
                _ => "connecting",
            },
            pending_since: self.shared.pending(),
            inserted: self.shared.inserted.load(Ordering::Relaxed),
            tls: self.shared.tls,
        }
    }

    /// Inserts what is queued (for a bounded time; the rest stays spooled
    /// for the next start) and stops the task.
    pub async fn shutdown(&self) {
        self.stop.stop().await;
    }
}

#[derive(Debug, thiserror::Error)]
enum DbError {
    #[error(transparent)]
    Postgres(#[from] tokio_postgres::Error),
    #[error("timed out")]
    Timeout,
}

async fn timed<T, F>(f: F, limit: Duration) -> Result<T, DbError>
where
    F: std::future::Future<Output = Result<T, tokio_postgres::Error>>,
{
    match tokio::time::timeout(limit, f).await {
        Ok(r) => Ok(r?),
        Err(_) => Err(DbError::Timeout),
    }
}

/// How connections reach the database: plain, or TLS verified as
/// [`crate::config::PostgresTls`] says. Built once, so that retries during
/// an outage do not read the trust store again.
#[derive(Clone)]
pub enum Transport {
    Plain,
    Tls(tls::MakeRustls),
    /// TLS was asked for but its CA could not be read: every attempt fails
    /// with this reason, and the records stay spooled.
    Unusable(String),
}

impl Transport {
    pub fn new(settings: &PostgresSettings) -> Transport {
        match &settings.tls {
            None => Transport::Plain,
            Some(tls) => match tls::MakeRustls::new(tls) {
                Ok(make) => Transport::Tls(make),
                Err(e) => Transport::Unusable(format!("audit.postgres_ca: {e}")),
            },
        }
    }
}

/// Connects (spawning the connection's driver task) and runs the migrations.
pub async fn connect(url: &str, transport: &Transport) -> Result<Client, String> {
    let client = match transport {
        Transport::Plain => open(url, NoTls).await?,
        Transport::Tls(make) => open(url, make.clone()).await?,
        Transport::Unusable(why) => return Err(why.clone()),
    };
    migrate(&client)
        .await
        .map_err(|e| format!("migrations failed: {e}"))?;
    Ok(client)
}

async fn open<T>(url: &str, tls: T) -> Result<Client, String>
where
    T: MakeTlsConnect<Socket>,
    T::Stream: Send + 'static,
{
    let mut config: tokio_postgres::Config = url.parse().map_err(|e| crate::errors::chain(&e))?;
    // Names the connection in pg_stat_activity, unless the URL does.
    if config.get_application_name().is_none() {
        config.application_name("switchyard");
    }
    let (client, connection) =
        match tokio::time::timeout(CONNECT_TIMEOUT, config.connect(tls)).await {
            Ok(Ok(pair)) => pair,
            Ok(Err(e)) => return Err(crate::errors::chain(&e)),
            Err(_) => return Err("connection timed out".into()),
        };
    tokio::spawn(async move {
        if let Err(e) = connection.await {
            tracing::debug!(error = %e, "PostgreSQL connection ended");
        }
    });
    Ok(client)
}

/// Applies the migrations not applied yet, under an advisory lock so that
/// replicas starting together do not race.
async fn migrate(client: &Client) -> Result<(), DbError> {
    let mut sql = format!(
        "BEGIN;
        SELECT pg_advisory_xact_lock({MIGRATION_LOCK});
        CREATE TABLE IF NOT EXISTS switchyard_schema (
            version integer PRIMARY KEY,
            applied_at timestamptz NOT NULL DEFAULT now()
        );"
    );
    for (version, body) in MIGRATIONS {
        sql.push_str(&format!(
            "DO $migration$ BEGIN
                IF NOT EXISTS (SELECT 1 FROM switchyard_schema WHERE version = {version}) THEN
                    {body}
                    INSERT INTO switchyard_schema (version) VALUES ({version});
                END IF;
            END $migration$;"
        ));
    }
    sql.push_str("COMMIT;");
    timed(client.batch_execute(&sql), STATEMENT_TIMEOUT).await
}

/// One row, taken from a record's JSON (live or read back from the file).
struct Row {
    id: String,
    ts: String,
    kind: String,
    status: Option<i32>,
    provider: Option<String>,
    model: Option<String>,
    credential: Option<String>,
    client: Option<String>,
    record: String,
}

impl Row {
    fn from_json(v: &Value) -> Option<Row> {
        let mut v = v.clone();
        sanitize(&mut v);
        let v = &v;
        let text = |k: &str| v.get(k).and_then(Value::as_str).map(str::to_owned);
        Some(Row {
            id: text("id")?,
            ts: text("ts")?,
            kind: text("kind").unwrap_or_default(),
            status: v
                .get("status")
                .and_then(Value::as_i64)
                .and_then(|s| i32::try_from(s).ok()),
            provider: text("provider"),
            model: text("model"),
            credential: text("credential"),
            client: text("client_name").or_else(|| text("client")),
            record: v.to_string(),
        })
    }
}

/// PostgreSQL text and jsonb cannot hold NUL, which a captured body may:
/// such characters become U+FFFD rather than making the row unstorable.
fn sanitize(v: &mut Value) {
    match v {
        Value::String(s) if s.contains('\0') => *s = s.replace('\0', "\u{fffd}"),
        Value::Array(items) => items.iter_mut().for_each(sanitize),
        Value::Object(map) => map.values_mut().for_each(sanitize),
        _ => {}
    }
}

/// Inserts rows; when the server refuses the batch for its data (not the
/// connection), row by row, logging and skipping any row it refuses, so one
/// bad record cannot hold up the spool forever.
async fn insert_all(client: &Client, rows: &[Row]) -> Result<u64, DbError> {
    match insert(client, rows).await {
        Err(DbError::Postgres(e)) if e.as_db_error().is_some() && rows.len() > 1 => {
            tracing::warn!(error = %e, "PostgreSQL refused a batch; inserting its records one by one");
            let mut n = 0;
            for row in rows {
                match insert(client, std::slice::from_ref(row)).await {
                    Ok(k) => n += k,
                    Err(DbError::Postgres(e)) if e.as_db_error().is_some() => {
                        tracing::error!(error = %e, id = %row.id, "PostgreSQL refused an audit record; it stays in the audit file only")
                    }
                    Err(e) => return Err(e),
                }
            }
            Ok(n)
        }
        Err(DbError::Postgres(e)) if e.as_db_error().is_some() => {
            tracing::error!(error = %e, "PostgreSQL refused an audit record; it stays in the audit file only");
            Ok(0)
        }
        other => other,
    }
}

/// Inserts rows (idempotently); the count of new ones.
async fn insert(client: &Client, rows: &[Row]) -> Result<u64, DbError> {
    let col = |f: fn(&Row) -> Option<String>| rows.iter().map(f).collect::<Vec<_>>();
    let ids = col(|r| Some(r.id.clone()));
    let ts = col(|r| Some(r.ts.clone()));
    let kinds = col(|r| Some(r.kind.clone()));
    let statuses: Vec<Option<i32>> = rows.iter().map(|r| r.status).collect();
    let providers = col(|r| r.provider.clone());
    let models = col(|r| r.model.clone());
    let credentials = col(|r| r.credential.clone());
    let clients = col(|r| r.client.clone());
    let records = col(|r| Some(r.record.clone()));
    timed(
        client.execute(
            INSERT,
            &[
                &ids,
                &ts,
                &kinds,
                &statuses,
                &providers,
                &models,
                &credentials,
                &clients,
                &records,
            ],
        ),
        STATEMENT_TIMEOUT,
    )
    .await
}

/// The sink task's state.
struct Task {
    url: String,
    transport: Transport,
    retention_days: Option<u32>,
    audit_path: PathBuf,
    shared: Arc<Shared>,
    client: Option<Client>,
}

/// The batch that `first` starts: what is queued [`PACE`] later, or at once
/// when [`BATCH`] records are. As with the file, the insert then does not
/// land under the next request of the client whose request just ended, and
/// a steady trickle shares one round trip per 10 ms instead of one per row.
async fn batch(first: Arc<Record>, rx: &mut Receiver) -> Vec<Arc<Record>> {
    let mut batch = vec![first];
    take_queued(&mut batch, rx);
    if batch.len() < BATCH {
        tokio::time::sleep(PACE).await;
        take_queued(&mut batch, rx);
    }
    batch
}

fn take_queued(batch: &mut Vec<Arc<Record>>, rx: &mut Receiver) {
    while batch.len() < BATCH {
        let Some(r) = rx.try_recv() else { break };
        batch.push(r);
    }
}

impl Task {
    async fn run(mut self, mut rx: Receiver, mut stop: queue::StopRequest) {
        let mut retry = tokio::time::interval(RETRY_EVERY);
        retry.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut retention = tokio::time::interval(RETENTION_EVERY);
        retention.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                biased;
                done = &mut stop => {
                    rx.close();
                    let mut rest = Vec::new();
                    while let Some(r) = rx.try_recv() {
                        rest.push(r);
                    }
                    let _ = tokio::time::timeout(SHUTDOWN_GRACE, self.deliver(rest)).await;
                    self.shared.stopped();
                    if let Ok(done) = done {
                        let _ = done.send(());
                    }
                    return;
                }
                first = rx.recv() => {
                    let Some(first) = first else { return };
                    self.deliver(batch(first, &mut rx).await).await;
                }
                _ = retry.tick() => {
                    if self.client.is_none() || self.shared.pending().is_some() {
                        self.reconnect_and_backfill().await;
                    }
                }
                _ = retention.tick() => self.retention().await,
            }
        }
    }

    /// A usable client, connecting if needed. None: unreachable (spooling).
    async fn client(&mut self) -> Option<&Client> {
        if self.client.as_ref().is_some_and(Client::is_closed) {
            self.client = None;
        }
        if self.client.is_none() {
            match connect(&self.url, &self.transport).await {
                Ok(c) => {
                    self.client = Some(c);
                    self.shared.set_state(CONNECTED, "");
                }
                Err(e) => {
                    tracing::debug!(error = %e, "cannot reach PostgreSQL");
                    self.shared.set_state(SPOOLING, &e);
                    return None;
                }
            }
        }
        self.client.as_ref()
    }

    /// Inserts a batch; on failure, spools it (marks its oldest record).
    async fn deliver(&mut self, batch: Vec<Arc<Record>>) {
        if batch.is_empty() {
            return;
        }
        let oldest = batch
            .iter()
            .map(|r| r.ts.as_str())
            .min()
            .unwrap_or_default()
            .to_owned();
        // While spooling, do not hammer the database per batch: the retry
        // tick reconnects and backfills everything at once.
        if self.shared.state.load(Ordering::Acquire) == SPOOLING && self.client.is_none() {
            self.shared.pend(&oldest);
            return;
        }
        let rows: Vec<Row> = batch
            .iter()
            .filter_map(|r| serde_json::to_value(&**r).ok())
            .filter_map(|v| Row::from_json(&v))
            .collect();
        let Some(client) = self.client().await else {
            self.shared.pend(&oldest);
            return;
        };
        match insert_all(client, &rows).await {
            Ok(n) => {
                self.shared.inserted.fetch_add(n, Ordering::Relaxed);
            }
            Err(e) => {
                tracing::debug!(error = %e, "PostgreSQL insert failed");
                self.client = None;
                self.shared.set_state(SPOOLING, &e.to_string());
                self.shared.pend(&oldest);
            }
        }
    }

    async fn reconnect_and_backfill(&mut self) {
        if self.client().await.is_none() {
            return;
        }
        let Some(since) = self.shared.pending() else {
            return;
        };
        match self.backfill(&since).await {
            Ok(n) => {
                tracing::info!(since = %since, inserted = n, "audit records backfilled into PostgreSQL");
                self.shared.clear(&since);
            }
            Err(e) => {
                tracing::warn!(error = %e, "backfilling PostgreSQL failed; retrying");
                self.client = None;
                self.shared.set_state(SPOOLING, &e);
            }
        }
        if self.retention_days.is_some() {
            self.retention().await;
        }
    }

    /// Inserts every record of the audit files from `since` on.
    async fn backfill(&mut self, since: &str) -> Result<u64, String> {
        let files = rotate::files_oldest_first(&self.audit_path);
        let mut inserted = 0;
        for file in files {
            let text = match tokio::fs::read_to_string(&file).await {
                Ok(t) => t,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => return Err(format!("cannot read {}: {e}", file.display())),
            };
            let mut rows = Vec::new();
            for line in text.lines() {
                let Ok(v) = serde_json::from_str::<Value>(line) else {
                    continue;
                };
                if v.get("ts")
                    .and_then(Value::as_str)
                    .is_some_and(|ts| ts >= since)
                {
                    if let Some(row) = Row::from_json(&v) {
                        rows.push(row);
                    }
                }
            }
            for chunk in rows.chunks(BATCH) {
                let client = self.client.as_ref().ok_or("connection lost")?;
                inserted += insert_all(client, chunk).await.map_err(|e| e.to_string())?;
            }
        }
        self.shared.inserted.fetch_add(inserted, Ordering::Relaxed);
        Ok(inserted)
    }

    async fn retention(&mut self) {
        let Some(days) = self.retention_days else {
            return;
        };
        let Some(client) = self.client().await else {
            return;
        };
        let days = i32::try_from(days).unwrap_or(i32::MAX);
        let sql = "DELETE FROM audit_records WHERE ts < now() - ($1::int * interval '1 day')";
        match timed(client.execute(sql, &[&days]), STATEMENT_TIMEOUT).await {
            Ok(n) if n > 0 => tracing::info!(
                deleted = n,
                days,
                "audit retention: old rows deleted from PostgreSQL"
            ),
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "audit retention in PostgreSQL failed"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::record::Kind;

    fn record() -> Arc<Record> {
        Arc::new(Record::new(Kind::Gateway, "127.0.0.1:9".into()))
    }

    #[tokio::test(start_paused = true)]
    async fn a_batch_takes_what_comes_within_a_pace_unless_it_is_full() {
        let (tx, mut rx) = queue::bounded(2 * BATCH, usize::MAX);
        let tx = Arc::new(tx);
        tx.offer(record()).unwrap();
        let later = tx.clone();
        tokio::spawn(async move {
            tokio::time::sleep(PACE / 2).await;
            later.offer(record()).unwrap();
        });
        let first = rx.recv().await.unwrap();
        let started = tokio::time::Instant::now();
        assert_eq!(batch(first, &mut rx).await.len(), 2, "one insert for both");
        assert_eq!(started.elapsed(), PACE);

        for _ in 0..BATCH + 1 {
            tx.offer(record()).unwrap();
        }
        let first = rx.recv().await.unwrap();
        let started = tokio::time::Instant::now();
        assert_eq!(batch(first, &mut rx).await.len(), BATCH);
        assert_eq!(
            started.elapsed(),
            Duration::ZERO,
            "a full batch goes at once"
        );
        assert_eq!(
            rx.try_recv().map(|_| ()),
            Some(()),
            "the rest waits its turn"
        );
    }

    #[test]
    fn rows_come_from_the_record_json() {
        let mut r = Record::new(Kind::Gateway, "127.0.0.1:9".into());
        r.status = Some(429);
        r.model = Some("m".into());
        let v = serde_json::to_value(&r).unwrap();
        let row = Row::from_json(&v).unwrap();
        assert_eq!((row.id.as_str(), row.status), (r.id.as_str(), Some(429)));
        assert_eq!(row.kind, "gateway");
        assert_eq!(row.client.as_deref(), Some("127.0.0.1:9"));
        assert!(
            Row::from_json(&serde_json::json!({"ts": "x"})).is_none(),
            "no id, no row"
        );
    }

    #[test]
    fn the_backfill_mark_keeps_the_oldest_and_survives_restarts() {
        let dir = tempfile::tempdir().unwrap();
        let shared = Shared {
            shown: String::new(),
            tls: false,
            state: AtomicU8::new(CONNECTING),
            inserted: AtomicU64::new(0),
            pending: Mutex::new(None),
            mark_file: dir.path().join("audit.jsonl.pg-pending"),
            run_started: "2026-01-01T00:00:00.500Z".into(),
            metrics: Arc::new(Metrics::new()),
        };
        shared.pend("2026-01-01T00:00:02.000Z");
        shared.pend("2026-01-01T00:00:01.000Z");
        shared.pend("2026-01-01T00:00:03.000Z");
        assert_eq!(
            shared.pending().as_deref(),
            Some("2026-01-01T00:00:01.000Z")
        );
        assert_eq!(
            std::fs::read_to_string(&shared.mark_file).unwrap(),
            "2026-01-01T00:00:01.000Z"
        );
        shared.clear("2026-01-01T00:00:09.000Z");
        assert!(shared.pending().is_some(), "a newer mark is not cleared");
        shared.clear("2026-01-01T00:00:01.000Z");
        assert!(shared.pending().is_none());
        assert_eq!(
            std::fs::read_to_string(&shared.mark_file).unwrap(),
            "2026-01-01T00:00:00.500Z",
            "a crash from here on backfills this run"
        );
        shared.stopped();
        assert!(!shared.mark_file.exists(), "a clean stop leaves nothing");
    }

    #[tokio::test]
    async fn records_past_the_byte_bound_are_spooled_not_held() {
        let dir = tempfile::tempdir().unwrap();
        let settings = PostgresSettings {
            url: crate::secret::Secret::new("postgres://sy@127.0.0.1:1/sy"),
            retention_days: None,
            tls: None,
        };
        let sink = Sink::start(
            &settings,
            &dir.path().join("audit.jsonl"),
            Arc::new(Metrics::new()),
        );
        let with_body = |ts: &str| {
            let mut r = Record::new(Kind::Gateway, "127.0.0.1:9".into());
            r.ts = ts.into();
            // 1,024 for the record: each costs a quarter of the budget.
            r.response_body = Some("x".repeat(QUEUE_BYTES / 4 - 1024));
            Arc::new(r)
        };
        // No await: the task has taken nothing yet, so four quarters fill
        // the budget and the fifth record is spooled.
        for _ in 0..4 {
            sink.offer(with_body("2026-01-01T00:00:02.000Z"));
        }
        assert!(sink.status().pending_since.is_none());
        sink.offer(with_body("2026-01-01T00:00:01.000Z"));
        assert_eq!(
            sink.status().pending_since.as_deref(),
            Some("2026-01-01T00:00:01.000Z")
        );
    }

    #[tokio::test]
    async fn a_ca_gone_since_the_config_was_read_fails_each_attempt_by_name() {
        let settings = PostgresSettings {
            url: crate::secret::Secret::new("postgres://sy@127.0.0.1:1/sy?sslmode=require"),
            retention_days: None,
            tls: Some(crate::config::PostgresTls {
                ca: Some("/nonexistent/pg-ca.pem".into()),
                client: None,
            }),
        };
        let transport = Transport::new(&settings);
        assert!(matches!(transport, Transport::Unusable(_)));
        let err = connect(settings.url.expose(), &transport)
            .await
            .unwrap_err();
        assert!(
            err.contains("audit.postgres_ca") && err.contains("/nonexistent/pg-ca.pem"),
            "{err}"
        );
    }
}
