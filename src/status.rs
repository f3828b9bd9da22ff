//! What `GET /_switchyard/status` and `switchyard status` report, and the
//! seam through which the credential pool and circuit breaker report their
//! state ([`PoolStatus`]).
//!
//! The JSON shape is part of the user-facing surface (`status --json` prints
//! it unchanged): extend it, never rename fields.

use serde::Serialize;

use crate::app::App;
use crate::metrics::RequestCounts;

/// A provider's circuit breaker.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CircuitState {
    /// Requests flow.
    Closed,
    /// Failing: requests skip the provider until the cool-down ends.
    Open,
    /// Cool-down over: a probe request is allowed through.
    HalfOpen,
}

impl CircuitState {
    pub const ALL: [CircuitState; 3] = [
        CircuitState::Closed,
        CircuitState::Open,
        CircuitState::HalfOpen,
    ];

    pub fn name(self) -> &'static str {
        match self {
            CircuitState::Closed => "closed",
            CircuitState::Open => "open",
            CircuitState::HalfOpen => "half_open",
        }
    }
}

/// One credential of a provider.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CredentialState {
    /// Can take a request now.
    Available,
    /// Its `rpm`/`tpm` window is full.
    Limited,
    /// Resting after a 429 or 5xx.
    CoolingDown,
}

impl CredentialState {
    pub const ALL: [CredentialState; 3] = [
        CredentialState::Available,
        CredentialState::Limited,
        CredentialState::CoolingDown,
    ];

    pub fn name(self) -> &'static str {
        match self {
            CredentialState::Available => "available",
            CredentialState::Limited => "limited",
            CredentialState::CoolingDown => "cooling_down",
        }
    }
}

/// A credential by *name* (never its key) and its state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CredentialStatus {
    pub name: String,
    pub state: CredentialState,
}

/// One provider's health.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ProviderStatus {
    pub name: String,
    pub kind: String,
    pub fallback: bool,
    pub circuit: CircuitState,
    pub credentials: Vec<CredentialStatus>,
}

/// Implemented by whatever tracks credential and circuit state (the
/// credential pool with its breaker) and registered with
/// `Metrics::set_pool_status`. Both `status` and the `credential_state` /
/// `circuit_state` metrics read it at request time, so there is one source
/// of truth and nothing to push.
pub trait PoolStatus: Send + Sync {
    fn providers(&self) -> Vec<ProviderStatus>;
}

/// The providers' state, read from the generation's credential pools and
/// circuit breakers.
pub fn providers(app: &App) -> Vec<ProviderStatus> {
    app.settings
        .providers
        .iter()
        .map(|p| {
            let pool = app.pools().get(&p.name);
            let circuit = match pool.map(|pool| pool.breaker_state()) {
                Some("open") => CircuitState::Open,
                Some("half_open") => CircuitState::HalfOpen,
                _ => CircuitState::Closed,
            };
            let credentials = match pool {
                Some(pool) => pool
                    .credentials_status()
                    .into_iter()
                    .map(|c| CredentialStatus {
                        name: c.name,
                        state: match c.state {
                            "limited" => CredentialState::Limited,
                            "cooling_down" => CredentialState::CoolingDown,
                            _ => CredentialState::Available,
                        },
                    })
                    .collect(),
                None => Vec::new(),
            };
            ProviderStatus {
                name: p.name.clone(),
                kind: p.kind.name().to_owned(),
                fallback: p.fallback,
                circuit,
                credentials,
            }
        })
        .collect()
}

/// Lets the process-wide metrics read the pools of whichever generation is
/// current.
pub struct HubPools(pub std::sync::Weak<crate::app::Hub>);

impl PoolStatus for HubPools {
    fn providers(&self) -> Vec<ProviderStatus> {
        self.0
            .upgrade()
            .map(|hub| providers(&hub.current()))
            .unwrap_or_default()
    }
}

/// The whole `status` document.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub version: &'static str,
    pub pid: u32,
    /// The address clients use (`listen`, with the real port when it was 0).
    pub address: String,
    pub started_at: String,
    pub uptime_secs: u64,
    /// Threads serving connections, one runtime each (`server::workers`).
    pub workers: usize,
    /// `gateway` (embedded) or `bridge`.
    pub mode: &'static str,
    /// Present in bridge mode.
    pub bridge: Option<BridgeStatus>,
    pub config_file: Option<String>,
    pub providers: Vec<ProviderStatus>,
    /// Requests (and tunnels) by status class since start.
    pub requests: RequestCounts,
    pub open: Open,
    /// Requests per client family, by user agent.
    pub clients: Vec<ClientCount>,
    pub audit: AuditStatus,
    pub cert_cache: CertCache,
    pub config_reloads: Reloads,
    pub intercept: Vec<String>,
    /// Present with `[cluster]`: how limits are shared across the fleet.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cluster: Option<crate::cluster::ClusterStatus>,
}

#[derive(Debug, Clone, Serialize)]
pub struct BridgeStatus {
    pub url: String,
    /// `soft` or `strict`.
    pub mode: String,
}

#[derive(Debug, Clone, Copy, Serialize)]
pub struct Open {
    /// Requests whose record is not filed yet (streams included).
    pub requests: i64,
    pub streams: i64,
    pub tunnels: i64,
}

#[derive(Debug, Clone, Serialize)]
pub struct ClientCount {
    pub client: &'static str,
    pub requests: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct AuditStatus {
    pub path: String,
    /// Records lost to overflow; anything but 0 is a problem.
    pub dropped: u64,
    /// Present with `[audit] postgres_url`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub postgres: Option<crate::audit::postgres::PostgresStatus>,
}

#[derive(Debug, Clone, Copy, Serialize)]
pub struct CertCache {
    pub entries: u64,
    pub hits: u64,
    pub misses: u64,
}

#[derive(Debug, Clone, Copy, Serialize)]
pub struct Reloads {
    pub success: u64,
    pub failure: u64,
}

/// Builds the report. `address` is the bound address (the settings may say
/// port 0).
pub fn report(app: &App, address: std::net::SocketAddr) -> Report {
    let metrics = app.auditor.metrics();
    let (entries, hits, misses) = app.leaves.stats();
    let (success, failure) = metrics.reloads();
    let bridge = app.settings.bridge.as_ref().map(|b| BridgeStatus {
        url: b.url.clone(),
        mode: b.mode.name().to_owned(),
    });
    let uptime = app.started.elapsed();
    let started_at = std::time::SystemTime::now()
        .checked_sub(uptime)
        .map(crate::audit::record::rfc3339)
        .unwrap_or_default();
    Report {
        version: env!("CARGO_PKG_VERSION"),
        pid: std::process::id(),
        address: address.to_string(),
        started_at,
        uptime_secs: uptime.as_secs(),
        workers: app.workers(),
        mode: if bridge.is_some() {
            "bridge"
        } else {
            "gateway"
        },
        bridge,
        config_file: app
            .settings
            .config_file
            .as_ref()
            .map(|p| p.display().to_string()),
        providers: providers(app),
        requests: metrics.request_counts(),
        open: Open {
            requests: metrics.inflight_requests(),
            streams: metrics.open_streams(),
            tunnels: metrics.open_tunnels(),
        },
        clients: metrics
            .clients()
            .into_iter()
            .map(|(client, requests)| ClientCount { client, requests })
            .collect(),
        audit: AuditStatus {
            path: app.auditor.path().display().to_string(),
            dropped: app.auditor.dropped(),
            postgres: app.auditor.postgres_status(),
        },
        cert_cache: CertCache {
            entries,
            hits,
            misses,
        },
        config_reloads: Reloads { success, failure },
        intercept: app.settings.intercept.clone(),
        cluster: app.cluster.as_ref().map(|c| c.status()),
    }
}

/// The client family a user agent belongs to, for "clients seen".
pub fn client_family(user_agent: Option<&str>) -> Option<&'static str> {
    let ua = user_agent?.to_ascii_lowercase();
    let family = if ua.starts_with("claude-cli") || ua.contains("claude-code") {
        "Claude Code"
    } else if ua.starts_with("codex") || ua.contains("codex_cli") {
        "Codex CLI"
    } else if ua.starts_with("anthropic/") {
        "Anthropic SDK"
    } else if ua.starts_with("openai/") || ua.starts_with("asyncopenai/") {
        "OpenAI SDK"
    } else if ua.starts_with("curl/") {
        "curl"
    } else if ua.contains("mozilla/") {
        "browser"
    } else {
        "other"
    };
    Some(family)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_agents_map_to_families() {
        assert_eq!(
            client_family(Some("claude-cli/2.0.1 (external, cli)")),
            Some("Claude Code")
        );
        assert_eq!(
            client_family(Some("codex_cli_rs/0.5 (Linux)")),
            Some("Codex CLI")
        );
        assert_eq!(
            client_family(Some("Anthropic/Python 0.40.0")),
            Some("Anthropic SDK")
        );
        assert_eq!(client_family(Some("curl/8.0")), Some("curl"));
        assert_eq!(client_family(None), None);
    }

    #[test]
    fn states_serialise_in_snake_case() {
        assert_eq!(
            serde_json::to_string(&CredentialState::CoolingDown).unwrap(),
            "\"cooling_down\""
        );
        assert_eq!(
            serde_json::to_string(&CircuitState::HalfOpen).unwrap(),
            "\"half_open\""
        );
    }
}
