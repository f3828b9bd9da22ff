//! The TOML file as written by users: every key CONTRACT.md defines, and
//! nothing else (unknown keys are errors, so typos never pass silently).

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::Deserialize;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    pub listen: Option<String>,
    pub proxy_auth: Option<String>,
    #[serde(default)]
    pub clients: Vec<ClientEntry>,
    #[serde(default)]
    pub ca: CaSection,
    #[serde(default)]
    pub intercept: InterceptSection,
    pub upstream_proxy: Option<UpstreamProxySection>,
    #[serde(default)]
    pub tunnel: TunnelSection,
    pub bridge: Option<BridgeSection>,
    #[serde(default)]
    pub providers: BTreeMap<String, ProviderEntry>,
    #[serde(default)]
    pub routes: Vec<RouteEntry>,
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    #[serde(default)]
    pub audit: AuditSection,
    #[serde(default)]
    pub errors: ErrorsSection,
    #[serde(default)]
    pub timeouts: TimeoutsSection,
    #[serde(default)]
    pub limits: LimitsSection,
    #[serde(default)]
    pub runtime: RuntimeSection,
    /// A fleet's shared limits (README "Running a fleet").
    pub cluster: Option<ClusterSection>,
    /// USD per million tokens, by model name or glob.
    #[serde(default)]
    pub prices: BTreeMap<String, crate::pricing::Price>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClientEntry {
    pub name: String,
    pub token_env: Option<String>,
    pub token_sha256: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CaSection {
    pub cert: Option<PathBuf>,
    pub key: Option<PathBuf>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InterceptSection {
    pub hosts: Option<Vec<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpstreamProxySection {
    pub url: Option<String>,
    pub ca: Option<PathBuf>,
    #[serde(default)]
    pub no_proxy: Vec<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TunnelSection {
    pub restrict: Option<String>,
    pub allowed_ports: Option<Vec<u16>>,
    #[serde(default)]
    pub allow_cidrs: Vec<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BridgeSection {
    pub url: Option<String>,
    pub mode: Option<String>,
    pub token_env: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProviderEntry {
    pub kind: Option<String>,
    pub base_url: Option<String>,
    #[serde(default)]
    pub hosts: Vec<String>,
    pub api_key_env: Option<String>,
    pub api_key: Option<String>,
    pub rpm: Option<u32>,
    pub tpm: Option<u64>,
    #[serde(default)]
    pub fallback: bool,
    /// Protocols to use with this provider (default: all its kind speaks).
    pub protocols: Option<Vec<String>>,
    /// Consecutive failures that open the provider's circuit breaker.
    pub circuit_failures: Option<u32>,
    /// Seconds the circuit stays open before a probe.
    pub circuit_cooldown_secs: Option<u64>,
    #[serde(default)]
    pub credentials: Vec<CredentialEntry>,
    /// `[providers.<name>.prices."<model>"]`: this provider's prices, used
    /// before `[prices]` for the calls it serves.
    #[serde(default)]
    pub prices: BTreeMap<String, crate::pricing::Price>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CredentialEntry {
    pub name: Option<String>,
    pub api_key_env: Option<String>,
    pub api_key: Option<String>,
    pub rpm: Option<u32>,
    pub tpm: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouteEntry {
    #[serde(alias = "request_protocol")]
    pub protocol: Option<String>,
    #[serde(alias = "model_pattern")]
    pub model: Option<String>,
    #[serde(alias = "match_kind", rename = "match")]
    pub match_kind: Option<String>,
    pub provider: Option<String>,
    pub providers: Option<Vec<String>>,
    pub upstream_model: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditSection {
    pub path: Option<PathBuf>,
    pub max_body_bytes: Option<usize>,
    /// Size at which the live file is rotated (0: never).
    pub max_file_bytes: Option<u64>,
    /// How many rotated files to keep.
    pub keep_files: Option<usize>,
    /// A second sink: the same records in PostgreSQL.
    pub postgres_url: Option<String>,
    /// Rows older than this are deleted from PostgreSQL (none when unset).
    pub retention_days: Option<u32>,
    /// PEM CA bundle trusted for `sslmode=require` instead of the system's.
    pub postgres_ca: Option<PathBuf>,
    /// PEM client certificate (chain) and key, for a server that asks.
    pub postgres_client_cert: Option<PathBuf>,
    pub postgres_client_key: Option<PathBuf>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClusterSection {
    pub redis_url: Option<String>,
    /// Replicas behind the load balancer: local limits are 1/N of each
    /// credential's while Redis is unreachable.
    pub replicas: Option<u32>,
    /// How long a Redis call may take before this replica falls back.
    pub timeout_ms: Option<u64>,
    /// Prefix of every Redis key (several fleets sharing one Redis).
    pub key_prefix: Option<String>,
    /// PEM CA bundle trusted for a `rediss://` URL instead of the system's.
    pub redis_ca: Option<PathBuf>,
    /// PEM client certificate (chain) and key (`tls-auth-clients yes`).
    pub redis_client_cert: Option<PathBuf>,
    pub redis_client_key: Option<PathBuf>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ErrorsSection {
    pub format: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TimeoutsSection {
    pub connect_secs: Option<u64>,
    pub request_secs: Option<u64>,
    pub stream_idle_secs: Option<u64>,
    pub tool_call_secs: Option<u64>,
    /// How long a kept upstream connection may sit idle before it is closed.
    pub upstream_idle_secs: Option<u64>,
    /// How long SIGINT/SIGTERM wait for in-flight requests and streams.
    pub shutdown_secs: Option<u64>,
}

/// `[runtime]`: how the process runs, not what it does (restart to change).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuntimeSection {
    /// Keep polling for I/O this long after a read instead of sleeping.
    pub busy_poll_us: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitsSection {
    pub max_request_body_bytes: Option<usize>,
    pub max_connections: Option<usize>,
    pub max_header_count: Option<usize>,
    pub max_h2_streams: Option<u32>,
    pub header_read_timeout_secs: Option<u64>,
}
