//! The state every connection shares: settings, CA, outbound client, audit.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::audit::Auditor;
use crate::ca::leaf::LeafCache;
use crate::ca::Authority;
use crate::config::Settings;
use crate::providers::ProviderSpec;
use crate::upstream::{self, Dialer, HttpClient};

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Ca(#[from] crate::ca::CaError),
    #[error(transparent)]
    Trust(#[from] crate::tls::TrustError),
    #[error(transparent)]
    Audit(#[from] crate::audit::AuditError),
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
}

pub struct App {
    pub settings: Settings,
    pub leaves: LeafCache,
    pub auditor: Auditor,
    pub client: HttpClient,
    pub dialer: Arc<Dialer>,
    /// The outbound rustls config (system roots + upstream proxy CA), for
    /// connections made outside the pooled client (WebSocket upstreams).
    pub outbound_tls: Arc<rustls::ClientConfig>,
    pub started: Instant,
    /// Cancelled when shutdown begins: stop taking new requests, drain.
    pub shutdown: CancellationToken,
    /// Every connection and tunnel task, so shutdown can wait for them.
    pub tasks: TaskTracker,
    intercept: Vec<wildmatch::WildMatch>,
    /// Configured provider keys, redacted wherever they might appear.
    config_secrets: Vec<String>,
}

impl App {
    /// Loads the CA, opens the audit file and builds the outbound client.
    /// Must run inside a tokio runtime (the audit writer is a task).
    pub fn new(settings: Settings) -> Result<App, StartError> {
        let ca = Authority::load_or_create(&settings.ca)?;
        let tls = upstream::outbound_tls(settings.upstream_proxy.as_ref())?;
        let dialer = Arc::new(Dialer::new(
            settings.upstream_proxy.clone(),
            Arc::new(tls.clone()),
            settings.timeouts.connect,
        ));
        let outbound_tls = Arc::new(tls.clone());
        let client = upstream::http_client(dialer.clone(), tls);
        let auditor = Auditor::start(&settings.audit.path)?;
        let intercept = settings
            .intercept
            .iter()
            .map(|p| wildmatch::WildMatch::new(p))
            .collect();
        let config_secrets = settings
            .providers
            .iter()
            .flat_map(|p| p.credentials.iter())
            .filter_map(|c| c.key.as_ref().map(|k| k.expose().to_owned()))
            .chain(
                settings
                    .upstream_proxy
                    .as_ref()
                    .and_then(|p| p.password.as_ref())
                    .map(|p| p.expose().to_owned()),
            )
            .collect();
        Ok(App {
            leaves: LeafCache::new(Arc::new(ca)),
            auditor,
            client,
            dialer,
            outbound_tls,
            started: Instant::now(),
            shutdown: CancellationToken::new(),
            tasks: TaskTracker::new(),
            intercept,
            config_secrets,
            settings,
        })
    }

    /// Whether CONNECTs to `host` are TLS-intercepted (case-insensitive globs).
    pub fn is_intercepted(&self, host: &str) -> bool {
        let host = host.to_ascii_lowercase();
        self.intercept.iter().any(|p| p.matches(&host))
    }

    pub fn provider(&self, name: &str) -> Option<Arc<ProviderSpec>> {
        self.settings
            .providers
            .iter()
            .find(|p| p.name == name)
            .cloned()
    }

    /// The provider serving an intercepted host: one that lists it in
    /// `hosts` (globs allowed), configured providers before implicit ones.
    pub fn provider_for_host(&self, host: &str) -> Option<Arc<ProviderSpec>> {
        let host = host.to_ascii_lowercase();
        let matches = |p: &&Arc<ProviderSpec>| {
            p.hosts
                .iter()
                .any(|h| wildmatch::WildMatch::new(&h.to_ascii_lowercase()).matches(&host))
        };
        let providers = &self.settings.providers;
        providers
            .iter()
            .filter(|p| !p.implicit)
            .find(matches)
            .or_else(|| providers.iter().find(matches))
            .cloned()
    }

    /// Strings that must never reach the audit file or the log.
    pub fn secrets(&self) -> &[String] {
        &self.config_secrets
    }
}
