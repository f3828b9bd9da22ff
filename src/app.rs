//! The state requests share: the settings generation they run under
//! ([`App`]: config, routes, pools) on top of what lives as long as the
//! process (CA, outbound client, audit writer, task tracker), and the
//! [`Hub`] that swaps generations on reload.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::audit::Auditor;
use crate::ca::leaf::LeafCache;
use crate::ca::Authority;
use crate::config::Settings;
use crate::pool::Pools;
use crate::providers::ProviderSpec;
use crate::routing::Router;
use crate::upstream::{self, Dialer, HttpClient};

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Ca(#[from] crate::ca::CaError),
    #[error(transparent)]
    Trust(#[from] crate::tls::TrustError),
    #[error(transparent)]
    Audit(#[from] crate::audit::AuditError),
    #[error(transparent)]
    Cluster(#[from] crate::cluster::ClusterError),
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
}

/// One generation of configuration, plus handles to the process-wide parts.
/// A request holds the generation it started under until it ends, so a
/// reload never changes the rules under an in-flight request.
pub struct App {
    pub settings: Settings,
    pub leaves: Arc<LeafCache>,
    pub auditor: Arc<Auditor>,
    /// One outbound client per worker ([`crate::server::workers`]): each
    /// keeps its own pool, so an upstream connection is only ever used on
    /// the thread that opened it.
    clients: Arc<[HttpClient]>,
    pub dialer: Arc<Dialer>,
    /// The outbound rustls config (system roots + upstream proxy CA), for
    /// connections made outside the pooled client (WebSocket upstreams).
    pub outbound_tls: Arc<rustls::ClientConfig>,
    pub started: Instant,
    /// Cancelled when shutdown begins: stop taking new requests, drain.
    pub shutdown: CancellationToken,
    /// Every connection and tunnel task, so shutdown can wait for them.
    pub tasks: TaskTracker,
    /// The fleet's shared limits (`[cluster]`), process-wide: a reload keeps
    /// the connection (changing `[cluster]` needs a restart).
    pub cluster: Option<Arc<crate::cluster::Cluster>>,
    intercept: Vec<wildmatch::WildMatch>,
    router: Router,
    pools: Pools,
    fallback_turn: std::sync::atomic::AtomicUsize,
    /// Configured provider keys, redacted wherever they might appear.
    config_secrets: Vec<String>,
}

impl App {
    /// Loads the CA, opens the audit file and builds the outbound client.
    /// Must run inside a tokio runtime (the audit writer is a task).
    pub fn new(settings: Settings) -> Result<App, StartError> {
        App::with_workers(settings, 1)
    }

    /// [`App::new`] for a server on `workers` threads: one outbound client
    /// (and connection pool) each.
    pub fn with_workers(settings: Settings, workers: usize) -> Result<App, StartError> {
        let ca = Authority::load_or_create(&settings.ca)?;
        let tls = upstream::outbound_tls(settings.upstream_proxy.as_ref())?;
        let dialer = Arc::new(Dialer::new(
            settings.upstream_proxy.clone(),
            Arc::new(tls.clone()),
            settings.timeouts.connect,
        ));
        let outbound_tls = Arc::new(tls.clone());
        let clients = (0..workers.max(1))
            .map(|_| HttpClient::new(dialer.clone(), tls.clone(), settings.timeouts.upstream_idle))
            .collect();
        let auditor = Auditor::start(&settings.audit)?;
        let cluster = match &settings.cluster {
            Some(c) => Some(crate::cluster::Cluster::start(
                c,
                auditor.metrics().clone(),
            )?),
            None => None,
        };
        Ok(App {
            leaves: Arc::new(LeafCache::new(Arc::new(ca))),
            auditor: Arc::new(auditor),
            clients,
            dialer,
            outbound_tls,
            started: Instant::now(),
            shutdown: CancellationToken::new(),
            tasks: TaskTracker::new(),
            intercept: intercept_matchers(&settings),
            router: Router::new(settings.routes.clone()),
            pools: Pools::with_cluster(
                &settings.providers,
                cluster.as_ref(),
                settings.timeouts.request,
            ),
            cluster,
            fallback_turn: Default::default(),
            config_secrets: secrets_of(&settings),
            settings,
        })
    }

    /// The next generation: new routes, providers, credentials, intercept
    /// hosts and headers; the same CA, listener, outbound client and audit
    /// writer. Pool state (windows, cooldowns, breakers) carries over for
    /// providers whose definition did not change.
    pub fn reconfigure(&self, settings: Settings) -> App {
        App {
            leaves: self.leaves.clone(),
            auditor: self.auditor.clone(),
            clients: self.clients.clone(),
            outbound_tls: self.outbound_tls.clone(),
            dialer: self.dialer.clone(),
            started: self.started,
            shutdown: self.shutdown.clone(),
            tasks: self.tasks.clone(),
            intercept: intercept_matchers(&settings),
            router: Router::new(settings.routes.clone()),
            pools: Pools::carry_over(
                &self.pools,
                &self.settings.providers,
                &settings.providers,
                self.cluster.as_ref(),
                settings.timeouts.request,
            ),
            cluster: self.cluster.clone(),
            fallback_turn: Default::default(),
            config_secrets: secrets_of(&settings),
            settings,
        }
    }

    /// The outbound client of the worker this runs on.
    pub fn client(&self) -> &HttpClient {
        let worker = crate::server::workers::current();
        &self.clients[worker % self.clients.len()]
    }

    /// How many workers serve connections: one outbound client each.
    pub fn workers(&self) -> usize {
        self.clients.len()
    }

    /// Whether CONNECTs to `host` are TLS-intercepted (case-insensitive globs).
    pub fn is_intercepted(&self, host: &str) -> bool {
        let host = host.to_ascii_lowercase();
        self.intercept.iter().any(|p| p.matches(&host))
    }

    pub fn provider(&self, name: &str) -> Option<Arc<ProviderSpec>> {
        self.settings.provider(name)
    }

    pub fn provider_for_host(&self, host: &str) -> Option<Arc<ProviderSpec>> {
        self.settings.provider_for_host(host)
    }

    pub fn router(&self) -> &Router {
        &self.router
    }

    pub fn pools(&self) -> &Pools {
        &self.pools
    }

    /// Where the next round-robin pass over fallback providers starts.
    pub fn next_fallback(&self) -> usize {
        self.fallback_turn
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    }

    /// Strings that must never reach the audit file or the log.
    pub fn secrets(&self) -> &[String] {
        &self.config_secrets
    }

    /// Files a record with its cost at this generation's `[prices]`.
    pub fn file(&self, mut record: crate::audit::record::Record) {
        record.cost_usd = self.settings.prices.cost(&record);
        self.auditor.record(record);
    }
}

fn intercept_matchers(settings: &Settings) -> Vec<wildmatch::WildMatch> {
    settings
        .intercept
        .iter()
        .map(|p| wildmatch::WildMatch::new(p))
        .collect()
}

/// Configured keys, the bridge token and the proxy password: redacted
/// wherever they might appear.
fn secrets_of(settings: &Settings) -> Vec<String> {
    let keys = settings
        .providers
        .iter()
        .flat_map(|p| p.credentials.iter())
        .filter_map(|c| c.key.as_ref());
    let bridge = settings.bridge.as_ref().and_then(|b| b.token.as_ref());
    let proxy = settings
        .upstream_proxy
        .as_ref()
        .and_then(|p| p.password.as_ref());
    // Database URLs may carry passwords.
    let redis = settings.cluster.as_ref().map(|c| &c.redis_url);
    let postgres = settings.audit.postgres.as_ref().map(|p| &p.url);
    keys.chain(bridge)
        .chain(proxy)
        .chain(redis)
        .chain(postgres)
        .map(|s| s.expose().to_owned())
        .collect()
}

/// Holds the current [`App`] generation and swaps it atomically on reload.
pub struct Hub {
    current: std::sync::RwLock<Arc<App>>,
    pub reloads_ok: std::sync::atomic::AtomicU64,
    pub reloads_failed: std::sync::atomic::AtomicU64,
}

impl Hub {
    pub fn new(app: App) -> Hub {
        Hub {
            current: std::sync::RwLock::new(Arc::new(app)),
            reloads_ok: Default::default(),
            reloads_failed: Default::default(),
        }
    }

    /// The generation new requests run under.
    pub fn current(&self) -> Arc<App> {
        match self.current.read() {
            Ok(app) => app.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// Installs a new generation built from `settings`.
    pub fn swap(&self, settings: Settings) {
        let next = Arc::new(self.current().reconfigure(settings));
        match self.current.write() {
            Ok(mut slot) => *slot = next,
            Err(poisoned) => *poisoned.into_inner() = next,
        }
    }
}
