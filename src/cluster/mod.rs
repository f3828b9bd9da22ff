//! Limits shared by a fleet of replicas through Redis (`[cluster]`).
//!
//! Every replica keeps its own pools ([`crate::pool`]); with a cluster they
//! ask Redis instead, one atomic script per decision ([`scripts`]), and keep
//! counting locally as well, so that the local state is ready the moment
//! Redis goes away. Redis unreachable or slower than `timeout_ms`: the
//! replica decides alone, with every credential's limits divided by
//! `replicas`, and never fails a request because of it. The switch is
//! logged once each way, counted in the metrics and shown in `status`; a
//! health task pings Redis every second to notice both directions even
//! without traffic.
//!
//! Coming back, a replica first hands Redis the counts it lacks, then shares
//! again: the requests it passed alone (or, when Redis restarted empty —
//! its `run_id` changed — everything in its windows), so the fleet does not
//! get a fresh minute because Redis forgot one. Counting a request twice
//! errs toward the provider's limit; forgetting one would not.

pub mod scripts;

use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use redis::aio::{ConnectionManager, ConnectionManagerConfig};

use crate::config::{redact_url, ClusterSettings};
use crate::metrics::Metrics;
use crate::secret::Secret;

/// How often the health task pings Redis.
const HEALTH_EVERY: Duration = Duration::from_secs(1);
/// Consecutive answers within `timeout_ms` before sharing again.
const RECOVER_AFTER: u32 = 3;

#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    #[error("cluster.redis_url: {0}")]
    Url(String),
    #[error("{key}: cannot read {path}: {source}")]
    TlsFile {
        key: &'static str,
        path: String,
        source: std::io::Error,
    },
}

const CONNECTING: u8 = 0;
const SHARED: u8 = 1;
const LOCAL: u8 = 2;

/// The Redis connection and whether limits are shared right now.
pub struct Cluster {
    conn: ConnectionManager,
    timeout: Duration,
    replicas: Option<u32>,
    prefix: String,
    /// The URL without credentials, for logs and `status`.
    shown: String,
    mode: AtomicU8,
    fallbacks: AtomicU64,
    metrics: Arc<Metrics>,
    first_contact: tokio::sync::Notify,
    /// Every pool sharing through this cluster (all generations), for
    /// seeding Redis on recovery.
    pools: Mutex<Vec<Weak<crate::pool::ProviderPool>>>,
    /// When Redis was lost (local decisions since then are not in Redis).
    lost_at: Mutex<Option<Instant>>,
    /// The Redis server's `run_id` when last reached: a new one means it
    /// restarted and lost every window.
    run_id: Mutex<Option<String>>,
}

impl std::fmt::Debug for Cluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cluster")
            .field("redis", &self.shown)
            .finish_non_exhaustive()
    }
}

/// `status`'s view of the cluster.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ClusterStatus {
    /// The Redis URL without credentials.
    pub redis: String,
    /// `shared` (through Redis), `local` (Redis unreachable: this replica
    /// decides alone) or `connecting` (not reached yet since start).
    pub limits: &'static str,
    /// The configured replica count; local limits are 1/N of each credential's.
    pub replicas: Option<u32>,
    /// How many times Redis was lost since start.
    pub fallbacks: u64,
}

/// What Redis granted.
#[derive(Debug, Clone, Copy)]
pub struct Grant {
    pub index: usize,
    /// The Unix second the request was counted in (for settling tokens).
    pub bucket: u64,
    /// This request is the breaker's half-open probe.
    pub probe: bool,
}

/// How a provider's credentials are asked about.
pub struct AcquireArgs<'a> {
    pub breaker_key: &'a str,
    pub credentials: &'a [SharedCredential],
    pub probe_lease: Duration,
    pub estimate: u64,
    pub start: usize,
    pub skip: &'a [usize],
}

/// A credential as Redis knows it: by key prefix, never by its API key.
#[derive(Debug, Clone)]
pub struct SharedCredential {
    pub key: String,
    pub rpm: Option<u32>,
    pub tpm: Option<u64>,
}

/// The Redis client: plain, or TLS (`rediss://`) verified against the
/// system's roots or, with `redis_ca`, that CA alone, showing the
/// `redis_client_cert` when Redis asks for one.
fn client(settings: &ClusterSettings) -> Result<redis::Client, ClusterError> {
    let url = settings.redis_url.expose();
    let url_error = |e: redis::RedisError| ClusterError::Url(e.to_string());
    // The redis crate builds its TLS config on rustls's process default:
    // make it aws-lc-rs, the one provider in this build, whatever features
    // other crates turn on.
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    if settings.redis_ca.is_none() && settings.redis_client.is_none() {
        return redis::Client::open(url).map_err(url_error);
    }
    let client_tls = match &settings.redis_client {
        Some(id) => Some(redis::ClientTlsConfig {
            client_cert: read("cluster.redis_client_cert", &id.cert)?,
            client_key: read("cluster.redis_client_key", &id.key)?,
        }),
        None => None,
    };
    let root_cert = match &settings.redis_ca {
        Some(ca) => Some(read("cluster.redis_ca", ca)?),
        None => None,
    };
    let certs = redis::TlsCertificates {
        client_tls,
        root_cert,
    };
    redis::Client::build_with_tls(url, certs).map_err(url_error)
}

fn read(key: &'static str, path: &std::path::Path) -> Result<Vec<u8>, ClusterError> {
    std::fs::read(path).map_err(|source| ClusterError::TlsFile {
        key,
        path: path.display().to_string(),
        source,
    })
}

impl Cluster {
    /// Creates the (lazily connecting, self-reconnecting) connection and
    /// starts the health task. Must run inside a tokio runtime.
    pub fn start(
        settings: &ClusterSettings,
        metrics: Arc<Metrics>,
    ) -> Result<Arc<Cluster>, ClusterError> {
        let client = client(settings)?;
        // Reconnect attempts are bounded and short: the health task retries
        // forever anyway, and a request must never wait on a reconnect.
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(settings.timeout.max(Duration::from_millis(500))))
            .set_response_timeout(Some(settings.timeout))
            .set_number_of_retries(1)
            .set_max_delay(Duration::from_secs(1));
        let conn = ConnectionManager::new_lazy_with_config(client, config)
            .map_err(|e| ClusterError::Url(e.to_string()))?;
        let cluster = Arc::new(Cluster {
            conn,
            timeout: settings.timeout,
            replicas: settings.replicas,
            prefix: settings.key_prefix.clone(),
            shown: redact_url(settings.redis_url.expose()),
            mode: AtomicU8::new(CONNECTING),
            fallbacks: AtomicU64::new(0),
            metrics,
            first_contact: tokio::sync::Notify::new(),
            pools: Mutex::new(Vec::new()),
            lost_at: Mutex::new(None),
            run_id: Mutex::new(None),
        });
        tokio::spawn(health(Arc::downgrade(&cluster)));
        Ok(cluster)
    }

    /// Waits (a bounded time) for the first answer or failure from Redis,
    /// so that a replica that starts together with Redis shares limits
    /// from its first request.
    pub async fn first_contact(&self) {
        let wait = self.first_contact.notified();
        if self.mode.load(Ordering::Acquire) != CONNECTING {
            return;
        }
        let _ = tokio::time::timeout(self.timeout + Duration::from_secs(2), wait).await;
    }

    /// Adds a pool to those seeded into Redis on recovery.
    pub fn register(&self, pool: &Arc<crate::pool::ProviderPool>) {
        if let Ok(mut pools) = self.pools.lock() {
            pools.retain(|p| p.strong_count() > 0);
            pools.push(Arc::downgrade(pool));
        }
    }

    /// Whether decisions go to Redis now.
    pub fn is_shared(&self) -> bool {
        self.mode.load(Ordering::Acquire) == SHARED
    }

    /// What local limits are divided by while Redis is unreachable.
    pub fn local_divisor(&self) -> u32 {
        self.replicas.unwrap_or(1).max(1)
    }

    pub fn status(&self) -> ClusterStatus {
        ClusterStatus {
            redis: self.shown.clone(),
            limits: match self.mode.load(Ordering::Acquire) {
                SHARED => "shared",
                LOCAL => "local",
                _ => "connecting",
            },
            replicas: self.replicas,
            fallbacks: self.fallbacks.load(Ordering::Relaxed),
        }
    }

    /// The Redis key prefix of one credential: provider and credential
    /// names plus a short hash of the API key (so a rotated key starts a
    /// fresh window and two names for one key share it). Never the key.
    pub fn credential_key(&self, provider: &str, name: &str, key: Option<&Secret>) -> String {
        let hash = key
            .map(|k| {
                let digest =
                    aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, k.expose().as_bytes());
                digest.as_ref()[..8]
                    .iter()
                    .map(|b| format!("{b:02x}"))
                    .collect::<String>()
            })
            .unwrap_or_else(|| "client".into());
        format!("{}:cred:{provider}:{name}:{hash}", self.prefix)
    }

    pub fn breaker_key(&self, provider: &str) -> String {
        format!("{}:breaker:{provider}", self.prefix)
    }

    /// Breaker admission and credential choice, in one script. Ok(Err(wait)):
    /// nothing free for `wait`. Err: Redis failed; the caller decides locally.
    pub async fn acquire(&self, a: AcquireArgs<'_>) -> Result<Result<Grant, Duration>, ()> {
        let mut inv = scripts::ACQUIRE.prepare_invoke();
        inv.key(a.breaker_key);
        for c in a.credentials {
            inv.key(format!("{}:req", c.key))
                .key(format!("{}:tok", c.key))
                .key(format!("{}:cool", c.key));
        }
        inv.arg(a.probe_lease.as_millis() as u64)
            .arg(a.estimate)
            .arg(a.start % a.credentials.len().max(1))
            .arg(a.credentials.len());
        for (i, c) in a.credentials.iter().enumerate() {
            inv.arg(c.rpm.unwrap_or(0))
                .arg(c.tpm.unwrap_or(0))
                .arg(if a.skip.contains(&i) { 1 } else { 0 });
        }
        let mut conn = self.conn.clone();
        let reply: Vec<i64> =
            match tokio::time::timeout(self.timeout, inv.invoke_async(&mut conn)).await {
                Ok(Ok(reply)) => reply,
                Ok(Err(e)) => {
                    self.lost(&e.to_string());
                    return Err(());
                }
                Err(_) => {
                    self.lost(&format!("no answer within {} ms", self.timeout.as_millis()));
                    return Err(());
                }
            };
        let [index, wait, bucket, probe] = reply[..] else {
            self.lost("unexpected reply from the acquire script");
            return Err(());
        };
        Ok(if index >= 0 {
            Ok(Grant {
                index: index as usize,
                bucket: bucket.max(0) as u64,
                probe: probe == 1,
            })
        } else {
            Err(Duration::from_millis(wait.max(1) as u64))
        })
    }

    /// Reports an outcome; the future ends when Redis has it (or the
    /// timeout passed). Failures are awaited so that a cooldown or an open
    /// circuit holds for every replica before this request moves on.
    pub fn report(
        self: &Arc<Self>,
        breaker_key: String,
        credential_key: String,
        outcome: crate::pool::Outcome,
        breaker: crate::pool::breaker::BreakerSpec,
    ) -> impl std::future::Future<Output = ()> + Send + 'static {
        use crate::pool::Outcome;
        let (code, retry_after) = match outcome {
            Outcome::Success => ("s", -1),
            Outcome::RateLimited { retry_after } => {
                ("r", retry_after.map(|d| d.as_millis() as i64).unwrap_or(-1))
            }
            Outcome::ServerError => ("e", -1),
            Outcome::Unreachable => ("u", -1),
        };
        let jitter = crate::pool::jitter_permille();
        let cluster = self.clone();
        async move {
            let mut inv = scripts::REPORT.prepare_invoke();
            inv.key(&breaker_key)
                .key(format!("{credential_key}:cool"))
                .key(format!("{credential_key}:strikes"))
                .arg(code)
                .arg(retry_after)
                .arg(breaker.failures)
                .arg(breaker.cooldown.as_millis() as u64)
                .arg(jitter);
            cluster.run(inv).await;
        }
    }

    /// Settles a token estimate in the background.
    pub fn spawn_settle(self: &Arc<Self>, credential_key: String, bucket: u64, delta: i64) {
        let cluster = self.clone();
        spawn(async move {
            let mut inv = scripts::SETTLE.prepare_invoke();
            inv.key(format!("{credential_key}:tok"))
                .arg(bucket)
                .arg(delta);
            cluster.run(inv).await;
        });
    }

    /// A probe that ended without a verdict frees the half-open slot.
    pub fn spawn_probe_abandoned(self: &Arc<Self>, breaker_key: String) {
        let cluster = self.clone();
        spawn(async move {
            let mut conn = cluster.conn.clone();
            let cmd = redis::cmd("HDEL")
                .arg(&breaker_key)
                .arg("probe_until")
                .clone();
            let r = tokio::time::timeout(cluster.timeout, cmd.query_async::<i64>(&mut conn)).await;
            if let Ok(Err(e)) = r {
                cluster.lost(&e.to_string());
            }
        });
    }

    async fn run(&self, inv: redis::ScriptInvocation<'_>) {
        let mut conn = self.conn.clone();
        match tokio::time::timeout(self.timeout, inv.invoke_async::<i64>(&mut conn)).await {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => self.lost(&e.to_string()),
            Err(_) => self.lost(&format!("no answer within {} ms", self.timeout.as_millis())),
        }
    }

    /// Redis failed: decide locally from now on (logged once).
    fn lost(&self, why: &str) {
        let before = self.mode.swap(LOCAL, Ordering::AcqRel);
        if before == LOCAL {
            return;
        }
        if before == SHARED {
            self.fallbacks.fetch_add(1, Ordering::Relaxed);
            self.metrics.cluster_fallback();
            if let Ok(mut lost_at) = self.lost_at.lock() {
                *lost_at = Some(Instant::now());
            }
        }
        self.metrics.set_cluster_shared(false);
        self.first_contact.notify_waiters();
        tracing::warn!(
            redis = %self.shown,
            error = %why,
            divisor = self.local_divisor(),
            "Redis unreachable: limits are local to this replica (each credential's divided by the replica count) until it is back"
        );
    }

    /// Redis answered a ping: share again (logged once).
    fn reached(&self) {
        let before = self.mode.swap(SHARED, Ordering::AcqRel);
        if before == SHARED {
            return;
        }
        self.metrics.set_cluster_shared(true);
        self.first_contact.notify_waiters();
        if before == LOCAL {
            tracing::info!(redis = %self.shown, "Redis reachable again: limits are shared across the fleet");
        } else {
            tracing::info!(redis = %self.shown, "limits are shared across the fleet through Redis");
        }
    }
}

fn spawn<F: std::future::Future<Output = ()> + Send + 'static>(f: F) {
    // Leases may be dropped outside the runtime (tests, shutdown): then the
    // shared state simply expires on its own.
    if let Ok(handle) = tokio::runtime::Handle::try_current() {
        handle.spawn(f);
    }
}

/// Pings Redis every second, in both modes, to notice a loss without
/// traffic and a recovery at all.
async fn health(cluster: Weak<Cluster>) {
    // After an outage, sharing resumes only after a few consecutive answers
    // within `timeout_ms`: a Redis that is merely slow would otherwise flip
    // the replica back and forth (and time out requests) every second.
    let mut fast_in_a_row = 0u32;
    loop {
        let Some(c) = cluster.upgrade() else {
            return;
        };
        let limit = c.timeout.max(Duration::from_millis(500));
        let mut conn = c.conn.clone();
        let ping = redis::cmd("PING").clone();
        let sent = Instant::now();
        match tokio::time::timeout(limit, ping.query_async::<String>(&mut conn)).await {
            Ok(Ok(_)) => {
                if sent.elapsed() <= c.timeout {
                    fast_in_a_row += 1;
                } else {
                    fast_in_a_row = 0;
                }
                let mode = c.mode.load(Ordering::Acquire);
                let ready = match mode {
                    SHARED => false,
                    CONNECTING => true,
                    _ => fast_in_a_row >= RECOVER_AFTER,
                };
                if ready {
                    match c.catch_up().await {
                        Ok(()) => c.reached(),
                        Err(e) => c.lost(&e),
                    }
                }
            }
            Ok(Err(e)) => {
                fast_in_a_row = 0;
                c.lost(&e.to_string());
            }
            Err(_) => {
                fast_in_a_row = 0;
                c.lost("ping timed out");
            }
        }
        drop(c);
        tokio::time::sleep(HEALTH_EVERY).await;
    }
}

impl Cluster {
    /// Before sharing again: seeds Redis with the counts it lacks.
    async fn catch_up(&self) -> Result<(), String> {
        let mut conn = self.conn.clone();
        let info = redis::cmd("INFO").arg("server").clone();
        let info: String =
            match tokio::time::timeout(self.timeout, info.query_async(&mut conn)).await {
                Ok(Ok(info)) => info,
                Ok(Err(e)) => return Err(e.to_string()),
                Err(_) => return Err("INFO timed out".into()),
            };
        let run_id = info
            .lines()
            .find_map(|l| l.strip_prefix("run_id:"))
            .map(|s| s.trim().to_owned());
        let same_server = {
            let known = self.run_id.lock().map(|r| r.clone()).unwrap_or_default();
            known.is_some() && known == run_id
        };
        // Same server: it kept what it had; add the decisions made alone.
        // New (or first) server: it has nothing of ours; add everything.
        let since = if same_server {
            self.lost_at.lock().ok().and_then(|l| *l)
        } else {
            None
        };
        let pools: Vec<_> = self
            .pools
            .lock()
            .map(|p| p.iter().filter_map(Weak::upgrade).collect())
            .unwrap_or_default();
        // Two live generations' pools for one credential (a reload changed
        // its limits) hold different requests: both are seeded.
        for pool in pools {
            for (key, entries) in pool.unshared_counts(since) {
                let mut inv = scripts::SEED.prepare_invoke();
                inv.key(&key);
                for (age, weight) in entries {
                    inv.arg(age.as_millis() as u64).arg(weight);
                }
                match tokio::time::timeout(self.timeout, inv.invoke_async::<i64>(&mut conn)).await {
                    Ok(Ok(_)) => {}
                    Ok(Err(e)) => return Err(e.to_string()),
                    Err(_) => return Err("seeding timed out".into()),
                }
            }
        }
        if let Ok(mut known) = self.run_id.lock() {
            *known = run_id;
        }
        Ok(())
    }
}
