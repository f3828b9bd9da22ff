//! Prometheus metrics (`GET /_switchyard/metrics`), built with
//! `prometheus-client` and served in its text exposition format.
//!
//! Request, tunnel and token metrics are *derived from audit records*:
//! [`Metrics::observe`] runs in `Auditor::record`, the one point every
//! request and tunnel passes, so the numbers always agree with the audit
//! file and the pipeline needs no metrics calls of its own. What records
//! cannot say is measured here directly:
//!
//! - requests in flight and open streams: an [`Inflight`] guard that lives on
//!   the record until it is filed (see `Record::inflight`);
//! - open tunnels: a [`Gauge`] guard held by the tunnel task;
//! - credential and circuit state: read at scrape time from the registered
//!   [`crate::status::PoolStatus`] (the credential pool and circuit breaker);
//! - config reloads: [`Metrics::config_reloaded`], called by the reloader;
//! - the leaf-certificate cache and dropped audit records: read at scrape time.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock};

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

use crate::audit::{Kind, Record};
use crate::status::{CircuitState, CredentialState, PoolStatus, ProviderStatus};

mod series;

/// `Content-Type` of [`Metrics::render`]'s output (OpenMetrics text, which
/// Prometheus scrapes natively).
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// The token counters' `direction` label, in `series::Series::tokens` order.
const TOKEN_DIRECTIONS: [&str; 4] = ["input", "output", "cache_read", "cache_write"];

/// Seconds: LLM calls range from tens of milliseconds to many minutes.
const LATENCY_BUCKETS: [f64; 14] = [
    0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0,
];

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    kind: &'static str,
    // Borrowed and numeric where the record allows: a label set is built
    // for every request, and each String in it is an allocation.
    protocol: &'static str,
    provider: String,
    status: Option<u16>,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct LatencyLabels {
    kind: &'static str,
    provider: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TokenLabels {
    direction: &'static str,
    provider: String,
    model: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ModelLabels {
    provider: String,
    model: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct DirectionLabels {
    direction: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CredentialLabels {
    provider: String,
    credential: String,
    state: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CircuitLabels {
    provider: String,
    state: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ResultLabels {
    result: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ModeLabels {
    mode: &'static str,
}

/// Requests by status class since start, for `status`.
#[derive(Debug, Default)]
struct ClassCounts {
    by_class: [AtomicU64; 6],
}

/// Counters `status` reports, kept alongside the Prometheus families so the
/// two never disagree.
#[derive(Debug, Default, Clone, Copy, serde::Serialize)]
pub struct RequestCounts {
    pub total: u64,
    #[serde(rename = "1xx")]
    pub c1xx: u64,
    #[serde(rename = "2xx")]
    pub c2xx: u64,
    #[serde(rename = "3xx")]
    pub c3xx: u64,
    #[serde(rename = "4xx")]
    pub c4xx: u64,
    #[serde(rename = "5xx")]
    pub c5xx: u64,
    /// Requests that ended without a status (e.g. a failed CONNECT upgrade).
    pub none: u64,
}

/// Every metric switchyard exports, plus the few live counts `status` shows.
pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    duration: Family<LatencyLabels, Histogram>,
    ttfb: Family<LatencyLabels, Histogram>,
    tokens: Family<TokenLabels, Counter>,
    /// `cost_usd` of priced records ([`crate::pricing`]).
    cost: Family<ModelLabels, Counter<f64, AtomicU64>>,
    inflight: Gauge,
    streams: Gauge,
    tunnels: Counter,
    open_tunnels: Gauge,
    tunnel_bytes: Family<DirectionLabels, Counter>,
    credential_state: Family<CredentialLabels, Gauge>,
    circuit_state: Family<CircuitLabels, Gauge>,
    reloads: Family<ResultLabels, Counter>,
    cert_cache_entries: Gauge,
    cert_cache_hits: Counter,
    cert_cache_misses: Counter,
    audit_dropped: Counter,
    cluster_limits: Family<ModeLabels, Gauge>,
    cluster_fallbacks: Counter,
    audit_postgres_pending: Gauge,
    start_time: Gauge<f64, std::sync::atomic::AtomicU64>,
    classes: ClassCounts,
    clients: std::sync::Mutex<std::collections::BTreeMap<&'static str, u64>>,
    pool: RwLock<Option<Arc<dyn PoolStatus>>>,
    /// Handles of `requests`, `duration`, `ttfb` and `tokens` series (which
    /// are therefore never cleared: a held handle would count on unseen).
    recent: Mutex<series::Recent>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

fn histogram() -> Histogram {
    Histogram::new(LATENCY_BUCKETS)
}

impl Metrics {
    pub fn new() -> Metrics {
        let mut registry = Registry::with_prefix("switchyard");
        let m = Metrics {
            requests: Family::default(),
            duration: Family::new_with_constructor(histogram as fn() -> Histogram),
            ttfb: Family::new_with_constructor(histogram as fn() -> Histogram),
            tokens: Family::default(),
            cost: Family::default(),
            inflight: Gauge::default(),
            streams: Gauge::default(),
            tunnels: Counter::default(),
            open_tunnels: Gauge::default(),
            tunnel_bytes: Family::default(),
            credential_state: Family::default(),
            circuit_state: Family::default(),
            reloads: Family::default(),
            cert_cache_entries: Gauge::default(),
            cert_cache_hits: Counter::default(),
            cert_cache_misses: Counter::default(),
            audit_dropped: Counter::default(),
            cluster_limits: Family::default(),
            cluster_fallbacks: Counter::default(),
            audit_postgres_pending: Gauge::default(),
            start_time: Gauge::default(),
            classes: ClassCounts::default(),
            clients: Default::default(),
            pool: RwLock::new(None),
            recent: Mutex::default(),
            registry: Registry::default(),
        };
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs_f64())
            .unwrap_or_default();
        m.start_time.set(now);
        registry.register(
            "requests",
            "Requests and tunnels handled, by kind, protocol, provider and status code",
            m.requests.clone(),
        );
        registry.register(
            "request_duration_seconds",
            "Time from request to the end of the response body",
            m.duration.clone(),
        );
        registry.register(
            "ttfb_seconds",
            "Time from request to the upstream's response headers",
            m.ttfb.clone(),
        );
        registry.register(
            "tokens",
            "Tokens read from responses, by direction (input, output, cache_read, cache_write)",
            m.tokens.clone(),
        );
        registry.register(
            "cost_usd",
            "What calls cost at the configured [prices], in USD",
            m.cost.clone(),
        );
        registry.register(
            "inflight_requests",
            "Requests whose audit record is not filed yet (includes open streams)",
            m.inflight.clone(),
        );
        registry.register(
            "open_streams",
            "Streamed (SSE) responses in progress",
            m.streams.clone(),
        );
        registry.register("tunnels", "Blind CONNECT tunnels closed", m.tunnels.clone());
        registry.register(
            "open_tunnels",
            "Blind CONNECT tunnels open now",
            m.open_tunnels.clone(),
        );
        registry.register(
            "tunnel_bytes",
            "Bytes copied through blind tunnels (up: client to target, down: target to client)",
            m.tunnel_bytes.clone(),
        );
        registry.register(
            "credential_state",
            "1 for each credential's current state (available, limited, cooling_down)",
            m.credential_state.clone(),
        );
        registry.register(
            "circuit_state",
            "1 for each provider's current circuit state (closed, open, half_open)",
            m.circuit_state.clone(),
        );
        registry.register(
            "config_reloads",
            "Configuration reloads, by result (success, failure)",
            m.reloads.clone(),
        );
        registry.register(
            "cert_cache_entries",
            "Leaf certificates in the cache",
            m.cert_cache_entries.clone(),
        );
        registry.register(
            "cert_cache_hits",
            "Leaf certificate cache hits",
            m.cert_cache_hits.clone(),
        );
        registry.register(
            "cert_cache_misses",
            "Leaf certificate cache misses (certificates minted)",
            m.cert_cache_misses.clone(),
        );
        registry.register(
            "audit_dropped",
            "Audit records lost because the writer could not keep up (must stay 0)",
            m.audit_dropped.clone(),
        );
        registry.register(
            "cluster_limits",
            "With [cluster]: 1 for how limits are decided now (shared through Redis, or local while Redis is unreachable)",
            m.cluster_limits.clone(),
        );
        registry.register(
            "cluster_fallbacks",
            "Times Redis was lost and this replica fell back to local limits",
            m.cluster_fallbacks.clone(),
        );
        registry.register(
            "audit_postgres_pending",
            "With [audit] postgres_url: 1 while records wait in the local file for PostgreSQL to come back",
            m.audit_postgres_pending.clone(),
        );
        registry.register(
            "start_time_seconds",
            "Start time of the process since the Unix epoch",
            m.start_time.clone(),
        );
        for result in ["success", "failure"] {
            // Present from the start, so `rate()` sees the first reload.
            m.reloads.get_or_create(&ResultLabels { result }).inc_by(0);
        }
        Metrics { registry, ..m }
    }

    /// Updates the request, tunnel and token metrics from a finished record.
    /// Called by `Auditor::record` for every record, filed or dropped.
    pub fn observe(&self, record: &Record) {
        let class = match record.status {
            Some(s @ 100..=599) => (s / 100) as usize,
            _ => 0,
        };
        self.classes.by_class[class].fetch_add(1, Ordering::Relaxed);
        if let Some(family) = crate::status::client_family(record.user_agent.as_deref()) {
            if let Ok(mut clients) = self.clients.lock() {
                *clients.entry(family).or_insert(0) += 1;
            }
        }
        if record.kind == Kind::Tunnel {
            self.observe_tunnel(record);
            return;
        }
        let key = series::Key {
            kind: record.kind.name(),
            protocol: record.protocol.unwrap_or_default(),
            provider: record.provider.as_deref().unwrap_or_default(),
            status: record.status,
            model: (record.upstream_model.as_deref())
                .or(record.model.as_deref())
                .unwrap_or_default(),
        };
        // A cache: a poisoned one is as good as any.
        let mut recent = self.recent.lock().unwrap_or_else(PoisonError::into_inner);
        let series = recent.get(&key, || self.series(&key));
        series.requests.inc();
        series.duration.observe(record.duration_ms as f64 / 1000.0);
        if let Some(ttfb) = record.ttfb_ms {
            series.ttfb.observe(ttfb as f64 / 1000.0);
        }
        if let Some(cost) = record.cost_usd.filter(|c| *c > 0.0) {
            let labels = ModelLabels {
                provider: series.provider.clone(),
                model: series.model.clone(),
            };
            self.cost.get_or_create(&labels).inc_by(cost);
        }
        let Some(usage) = &record.usage else { return };
        let counts = [
            usage.input_tokens,
            usage.output_tokens,
            usage.cache_read_tokens,
            usage.cache_write_tokens,
        ];
        for ((direction, n), slot) in TOKEN_DIRECTIONS
            .into_iter()
            .zip(counts)
            .zip(&mut series.tokens)
        {
            if n > 0 {
                let labels = || TokenLabels {
                    direction,
                    provider: series.provider.clone(),
                    model: series.model.clone(),
                };
                slot.get_or_insert_with(|| self.tokens.get_or_create_owned(&labels()))
                    .inc_by(n);
            }
        }
    }

    /// The families' series for a label combination not held in `recent`.
    fn series(&self, key: &series::Key) -> series::Series {
        let requests = RequestLabels {
            kind: key.kind,
            protocol: key.protocol,
            provider: key.provider.to_owned(),
            status: key.status,
        };
        let latency = LatencyLabels {
            kind: key.kind,
            provider: key.provider.to_owned(),
        };
        series::Series::new(
            key,
            self.requests.get_or_create_owned(&requests),
            self.duration.get_or_create_owned(&latency),
            self.ttfb.get_or_create_owned(&latency),
        )
    }

    fn observe_tunnel(&self, record: &Record) {
        let requests = RequestLabels {
            kind: record.kind.name(),
            protocol: record.protocol.unwrap_or_default(),
            provider: record.provider.clone().unwrap_or_default(),
            status: record.status,
        };
        self.requests.get_or_create(&requests).inc();
        self.tunnels.inc();
        for (direction, n) in [
            ("up", record.request_bytes),
            ("down", record.response_bytes),
        ] {
            self.tunnel_bytes
                .get_or_create(&DirectionLabels { direction })
                .inc_by(n);
        }
    }

    /// A guard counting one request in flight until it is dropped. The
    /// gateway puts it on the request's record (`Record::inflight`), so it
    /// lives exactly until the record is filed.
    pub fn inflight(self: &Arc<Self>) -> Inflight {
        self.inflight.inc();
        Inflight {
            metrics: self.clone(),
            stream: std::sync::atomic::AtomicBool::new(false),
        }
    }

    /// A guard counting one open blind tunnel until it is dropped.
    pub fn open_tunnel(&self) -> GaugeGuard {
        GaugeGuard::new(self.open_tunnels.clone())
    }

    /// Records a configuration reload (hot reload calls this once per try).
    pub fn config_reloaded(&self, success: bool) {
        let result = if success { "success" } else { "failure" };
        self.reloads.get_or_create(&ResultLabels { result }).inc();
    }

    /// Reloads so far: (success, failure).
    pub fn reloads(&self) -> (u64, u64) {
        let get = |result| self.reloads.get_or_create(&ResultLabels { result }).get();
        (get("success"), get("failure"))
    }

    /// Registers what reports credential and circuit state (the credential
    /// pool with its breaker). Replacing it (e.g. after a reload) is fine.
    pub fn set_pool_status(&self, pool: Arc<dyn PoolStatus>) {
        if let Ok(mut slot) = self.pool.write() {
            *slot = Some(pool);
        }
    }

    /// The registered pool status source, if any.
    pub fn pool_status(&self) -> Option<Arc<dyn PoolStatus>> {
        self.pool.read().ok().and_then(|p| p.clone())
    }

    pub fn inflight_requests(&self) -> i64 {
        self.inflight.get()
    }

    pub fn open_streams(&self) -> i64 {
        self.streams.get()
    }

    pub fn open_tunnels(&self) -> i64 {
        self.open_tunnels.get()
    }

    pub fn request_counts(&self) -> RequestCounts {
        let c = |i: usize| self.classes.by_class[i].load(Ordering::Relaxed);
        RequestCounts {
            total: (0..6).map(c).sum(),
            none: c(0),
            c1xx: c(1),
            c2xx: c(2),
            c3xx: c(3),
            c4xx: c(4),
            c5xx: c(5),
        }
    }

    /// Requests per client family (Claude Code, Codex CLI, …) since start.
    pub fn clients(&self) -> Vec<(&'static str, u64)> {
        self.clients
            .lock()
            .map(|c| c.iter().map(|(k, v)| (*k, *v)).collect())
            .unwrap_or_default()
    }

    /// The text exposition, with scrape-time values filled in first.
    pub fn render(&self, scrape: &Scrape) -> String {
        self.cert_cache_entries
            .set(scrape.cert_cache_entries as i64);
        catch_up(&self.cert_cache_hits, scrape.cert_cache_hits);
        catch_up(&self.cert_cache_misses, scrape.cert_cache_misses);
        catch_up(&self.audit_dropped, scrape.audit_dropped);
        self.credential_state.clear();
        self.circuit_state.clear();
        for p in &scrape.providers {
            for state in CircuitState::ALL {
                self.circuit_state
                    .get_or_create(&CircuitLabels {
                        provider: p.name.clone(),
                        state: state.name(),
                    })
                    .set(i64::from(p.circuit == state));
            }
            for c in &p.credentials {
                for state in CredentialState::ALL {
                    self.credential_state
                        .get_or_create(&CredentialLabels {
                            provider: p.name.clone(),
                            credential: c.name.clone(),
                            state: state.name(),
                        })
                        .set(i64::from(c.state == state));
                }
            }
        }
        let mut out = String::new();
        if let Err(e) = prometheus_client::encoding::text::encode(&mut out, &self.registry) {
            tracing::error!(error = %e, "cannot encode metrics");
        }
        out
    }

    /// Whether the fleet's limits are shared through Redis right now.
    pub fn set_cluster_shared(&self, shared: bool) {
        for (mode, on) in [("shared", shared), ("local", !shared)] {
            self.cluster_limits
                .get_or_create(&ModeLabels { mode })
                .set(i64::from(on));
        }
    }

    /// Redis was lost.
    pub fn cluster_fallback(&self) {
        self.cluster_fallbacks.inc();
    }

    /// Whether audit records wait for PostgreSQL (spooled in the file).
    pub fn set_postgres_pending(&self, pending: bool) {
        self.audit_postgres_pending.set(i64::from(pending));
    }

    fn mark_stream(&self, on: bool) {
        if on {
            self.streams.inc();
        } else {
            self.streams.dec();
        }
    }
}

/// Values read at scrape time from parts the metrics do not own.
#[derive(Debug, Default)]
pub struct Scrape {
    pub cert_cache_entries: u64,
    pub cert_cache_hits: u64,
    pub cert_cache_misses: u64,
    pub audit_dropped: u64,
    pub providers: Vec<ProviderStatus>,
}

/// Brings a counter up to an absolute value read elsewhere (they only grow).
fn catch_up(counter: &Counter, value: u64) {
    let current = counter.get();
    if value > current {
        counter.inc_by(value - current);
    }
}

/// One request in flight; see [`Metrics::inflight`].
#[derive(Debug)]
pub struct Inflight {
    metrics: Arc<Metrics>,
    stream: std::sync::atomic::AtomicBool,
}

impl Inflight {
    /// Counts this request as an open stream too (its response is SSE).
    pub fn mark_stream(&self) {
        if !self.stream.swap(true, Ordering::Relaxed) {
            self.metrics.mark_stream(true);
        }
    }
}

impl Drop for Inflight {
    fn drop(&mut self) {
        self.metrics.inflight.dec();
        if *self.stream.get_mut() {
            self.metrics.mark_stream(false);
        }
    }
}

/// Decrements a gauge when dropped.
#[derive(Debug)]
pub struct GaugeGuard(Gauge);

impl GaugeGuard {
    fn new(gauge: Gauge) -> GaugeGuard {
        gauge.inc();
        GaugeGuard(gauge)
    }
}

impl Drop for GaugeGuard {
    fn drop(&mut self) {
        self.0.dec();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::Usage;

    #[test]
    fn records_become_counters_histograms_and_tokens() {
        let m = Arc::new(Metrics::new());
        let mut r = Record::new(Kind::Gateway, "127.0.0.1:1".into());
        r.protocol = Some("anthropic_messages");
        r.provider = Some("anthropic".into());
        r.model = Some("claude-x".into());
        r.status = Some(200);
        r.duration_ms = 1500;
        r.ttfb_ms = Some(200);
        r.usage = Some(Usage {
            input_tokens: 10,
            output_tokens: 20,
            ..Usage::default()
        });
        r.cost_usd = Some(0.25);
        m.observe(&r);
        m.observe(&r);
        let mut t = Record::new(Kind::Tunnel, "127.0.0.1:1".into());
        t.status = Some(200);
        t.request_bytes = 5;
        t.response_bytes = 7;
        m.observe(&t);
        {
            let guard = m.inflight();
            guard.mark_stream();
            assert_eq!((m.inflight_requests(), m.open_streams()), (1, 1));
        }
        assert_eq!((m.inflight_requests(), m.open_streams()), (0, 0));
        m.config_reloaded(false);
        let text = m.render(&Scrape {
            cert_cache_hits: 3,
            ..Scrape::default()
        });
        for needle in [
            "switchyard_requests_total{kind=\"gateway\",protocol=\"anthropic_messages\",provider=\"anthropic\",status=\"200\"} 2",
            "switchyard_tokens_total{direction=\"output\",provider=\"anthropic\",model=\"claude-x\"} 40",
            "switchyard_tokens_total{direction=\"input\",provider=\"anthropic\",model=\"claude-x\"} 20",
            "switchyard_cost_usd_total{provider=\"anthropic\",model=\"claude-x\"} 0.5",
            "switchyard_request_duration_seconds_bucket{le=\"2.5\",kind=\"gateway\",provider=\"anthropic\"} 2",
            "switchyard_ttfb_seconds_count{kind=\"gateway\",provider=\"anthropic\"} 2",
            "switchyard_tunnel_bytes_total{direction=\"down\"} 7",
            "switchyard_tunnels_total 1",
            "switchyard_config_reloads_total{result=\"failure\"} 1",
            "switchyard_config_reloads_total{result=\"success\"} 0",
            "switchyard_cert_cache_hits_total 3",
            "switchyard_audit_dropped_total 0",
        ] {
            assert!(text.contains(needle), "missing {needle}:\n{text}");
        }
        assert_eq!(m.request_counts().c2xx, 3);
    }

    /// More label combinations than `recent` holds, each seen again after
    /// its handles were evicted: the families still count every request.
    #[test]
    fn counts_survive_the_recent_series_being_evicted() {
        let m = Metrics::new();
        let record = |provider: usize, output_tokens| {
            let mut r = Record::new(Kind::Intercept, "127.0.0.1:1".into());
            r.protocol = Some("openai_chat");
            r.provider = Some(format!("p{provider}"));
            r.model = Some("m".into());
            r.status = Some(200);
            r.usage = Some(Usage {
                output_tokens,
                ..Usage::default()
            });
            r
        };
        for round in 1..=3 {
            for p in 0..100 {
                m.observe(&record(p, round));
            }
        }
        let text = m.render(&Scrape::default());
        for p in [0, 57, 99] {
            for needle in [
                format!("switchyard_requests_total{{kind=\"intercept\",protocol=\"openai_chat\",provider=\"p{p}\",status=\"200\"}} 3"),
                format!("switchyard_request_duration_seconds_count{{kind=\"intercept\",provider=\"p{p}\"}} 3"),
                format!("switchyard_tokens_total{{direction=\"output\",provider=\"p{p}\",model=\"m\"}} 6"),
            ] {
                assert!(text.contains(&needle), "missing {needle}");
            }
        }
        assert!(
            !text.contains("direction=\"input\""),
            "no input tokens were counted"
        );
    }
}
