//! Configuration: the TOML file, the environment and the command-line flags,
//! resolved into one [`Settings`] value with the precedence
//! flags > environment > file > defaults.

pub mod env;
pub mod file;
pub mod locate;
pub mod suggest;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

pub use env::Env;
use file::FileConfig;

use crate::bridge::{BridgeMode, BridgeSpec};
use crate::ca::CaPaths;
use crate::pool::breaker::BreakerSpec;
use crate::providers::{CredentialSpec, ProviderKind, ProviderSpec};
use crate::routing::{Matcher, Route};
use crate::secret::Secret;
use crate::upstream::UpstreamProxy;

pub const DEFAULT_LISTEN: &str = "127.0.0.1:8787";
pub const DEFAULT_INTERCEPT: [&str; 2] = ["api.anthropic.com", "api.openai.com"];
/// Longest busy-polling window accepted (`[runtime] busy_poll_us`).
pub const MAX_BUSY_POLL_US: u64 = 1_000_000;

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{}{}: {message}", file.as_ref().map(|f| f.display().to_string()).unwrap_or_else(|| "config".into()), line.map(|l| format!(":{l}")).unwrap_or_default())]
    Parse {
        file: Option<PathBuf>,
        line: Option<usize>,
        message: String,
    },
    #[error("{}{}: `{key}`: {message}", file.as_ref().map(|f| f.display().to_string()).unwrap_or_else(|| "config".into()), line.map(|l| format!(":{l}")).unwrap_or_default())]
    Invalid {
        file: Option<PathBuf>,
        line: Option<usize>,
        key: String,
        message: String,
    },
}

/// Command-line flags that take part in configuration.
#[derive(Debug, Clone, Default)]
pub struct Flags {
    pub config: Option<PathBuf>,
    pub listen: Option<String>,
    pub log_level: Option<String>,
    pub provider: Option<String>,
}

/// How switchyard's own errors are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorFormat {
    Json,
    Text,
}

#[derive(Debug, Clone)]
pub struct Timeouts {
    pub connect: Duration,
    pub request: Duration,
    pub stream_idle: Duration,
    pub tool_call: Duration,
    /// How long a kept upstream connection may sit idle before it is closed.
    pub upstream_idle: Duration,
    pub shutdown: Duration,
}

/// Resource limits against abuse (`[limits]`).
#[derive(Debug, Clone)]
pub struct Limits {
    pub max_request_body_bytes: usize,
    pub max_connections: usize,
    pub max_header_count: usize,
    pub max_h2_streams: u32,
    pub header_read_timeout: Duration,
}

#[derive(Debug, Clone)]
pub struct AuditSettings {
    pub path: PathBuf,
    pub max_body_bytes: usize,
    /// Rotate the live file once it would grow past this (0: never).
    pub max_file_bytes: u64,
    /// Rotated files kept (`audit.jsonl.1` … `.N`).
    pub keep_files: usize,
    /// The PostgreSQL sink (`[audit] postgres_url`).
    pub postgres: Option<PostgresSettings>,
}

/// `[audit] postgres_url` and `retention_days`.
#[derive(Debug, Clone)]
pub struct PostgresSettings {
    /// May hold a password: never printed (see [`redact_url`]).
    pub url: Secret,
    pub retention_days: Option<u32>,
    /// Some when the URL asks for TLS (`sslmode=require`, `verify-ca` or
    /// `verify-full`); None: plain, as `disable` and `prefer` mean here.
    pub tls: Option<PostgresTls>,
}

/// How a TLS connection to PostgreSQL is verified: always the certificate
/// and the host name (libpq's `verify-full`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PostgresTls {
    /// `[audit] postgres_ca`, the only CA trusted; None: the system's roots.
    pub ca: Option<PathBuf>,
    /// The certificate shown when the server asks (`clientcert=verify-full`).
    pub client: Option<ClientIdentity>,
}

/// `[cluster]`: limits shared by a fleet of replicas through Redis.
#[derive(Debug, Clone)]
pub struct ClusterSettings {
    /// May hold a password: never printed (see [`redact_url`]).
    pub redis_url: Secret,
    pub replicas: Option<u32>,
    pub timeout: Duration,
    pub key_prefix: String,
    /// For `rediss://`: the only CA trusted for Redis; None: the system's.
    pub redis_ca: Option<PathBuf>,
    /// For `rediss://`: the certificate shown when Redis asks for one.
    pub redis_client: Option<ClientIdentity>,
}

/// A client certificate and its key, both PEM files, checked at load to
/// belong together (`*_client_cert` and `*_client_key`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientIdentity {
    pub cert: PathBuf,
    pub key: PathBuf,
}

/// libpq's `sslmode=verify-ca` and `verify-full`, which tokio-postgres does
/// not know, as `require`: switchyard verifies every TLS connection fully.
fn verify_as_require(url: &str) -> String {
    let mut out = url.to_owned();
    for sep in ['?', '&'] {
        for mode in ["verify-full", "verify-ca"] {
            out = out.replace(
                &format!("{sep}sslmode={mode}"),
                &format!("{sep}sslmode=require"),
            );
        }
    }
    out
}

/// A database URL fit for logs and `status`: scheme, host, port and path,
/// without user or password.
pub fn redact_url(url: &str) -> String {
    match url.split_once("://") {
        Some((scheme, rest)) => {
            let rest = rest.rsplit_once('@').map(|(_, host)| host).unwrap_or(rest);
            let rest = rest.split_once('?').map(|(h, _)| h).unwrap_or(rest);
            format!("{scheme}://{rest}")
        }
        None => "(unparsable url)".into(),
    }
}

/// Everything a running switchyard needs, fully resolved.
#[derive(Debug, Clone)]
pub struct Settings {
    pub config_file: Option<PathBuf>,
    pub listen: SocketAddr,
    pub state_dir: PathBuf,
    pub log_level: String,
    pub ca: CaPaths,
    /// Lower-case glob patterns of hosts whose CONNECTs are intercepted.
    pub intercept: Vec<String>,
    pub upstream_proxy: Option<UpstreamProxy>,
    pub providers: Vec<std::sync::Arc<ProviderSpec>>,
    pub headers: Vec<(http::HeaderName, http::HeaderValue)>,
    pub audit: AuditSettings,
    pub errors: ErrorFormat,
    pub timeouts: Timeouts,
    pub single_provider: Option<String>,
    pub routes: Vec<Route>,
    pub bridge: Option<BridgeSpec>,
    pub clients: crate::access::Clients,
    pub tunnel: crate::access::TunnelPolicy,
    pub limits: Limits,
    /// `[runtime] busy_poll_us`; zero: off (see `server::busy_poll`).
    pub busy_poll: Duration,
    pub cluster: Option<ClusterSettings>,
    /// `[prices]`: what each model's tokens cost (`cost_usd`).
    pub prices: crate::pricing::Prices,
    /// The parsed file, for the parts later stages resolve themselves.
    pub file: std::sync::Arc<FileConfig>,
    /// The file's text, to locate keys in error messages.
    pub file_text: std::sync::Arc<String>,
    /// `providers`' host globs, compiled once.
    provider_hosts: HostIndex,
}

/// The providers' host globs, lower-cased and compiled once, configured
/// providers' first: finding the provider of an intercepted host runs for
/// every request, and compiling the globs there was ~1.5 % of its CPU.
#[derive(Debug, Clone)]
struct HostIndex(Vec<(wildmatch::WildMatch, usize)>);

impl HostIndex {
    fn new(providers: &[std::sync::Arc<ProviderSpec>]) -> HostIndex {
        let configured = providers.iter().enumerate().filter(|(_, p)| !p.implicit);
        let implicit = providers.iter().enumerate().filter(|(_, p)| p.implicit);
        let globs = configured
            .chain(implicit)
            .flat_map(|(i, p)| {
                p.hosts
                    .iter()
                    .map(move |h| (wildmatch::WildMatch::new(&h.to_ascii_lowercase()), i))
            })
            .collect();
        HostIndex(globs)
    }

    /// The index of the first provider with a glob matching `host`.
    fn find(&self, host: &str) -> Option<usize> {
        let host = host.to_ascii_lowercase();
        self.0
            .iter()
            .find(|(g, _)| g.matches(&host))
            .map(|(_, i)| *i)
    }
}

/// Finds the config file: `--config`, `$SWITCHYARD_CONFIG`, `./switchyard.toml`,
/// then `$XDG_CONFIG_HOME/switchyard/config.toml`. An explicitly named file
/// must exist; the implicit ones are optional.
pub fn find_config_file(flags: &Flags, env: &Env) -> Result<Option<PathBuf>, ConfigError> {
    let explicit = flags
        .config
        .clone()
        .or_else(|| env.get("SWITCHYARD_CONFIG").map(PathBuf::from));
    if let Some(path) = explicit {
        if !path.exists() {
            return Err(ConfigError::Read {
                source: std::io::Error::new(std::io::ErrorKind::NotFound, "no such file"),
                path,
            });
        }
        return Ok(Some(path));
    }
    let local = PathBuf::from("switchyard.toml");
    if local.exists() {
        return Ok(Some(local));
    }
    let xdg = env
        .get("XDG_CONFIG_HOME")
        .map(PathBuf::from)
        .or_else(|| env.get("HOME").map(|h| Path::new(h).join(".config")));
    Ok(xdg
        .map(|d| d.join("switchyard").join("config.toml"))
        .filter(|p| p.exists()))
}

/// The state directory: `$SWITCHYARD_STATE_DIR`, else
/// `$XDG_STATE_HOME/switchyard`, else `~/.local/state/switchyard`.
pub fn state_dir(env: &Env) -> PathBuf {
    if let Some(dir) = env.get("SWITCHYARD_STATE_DIR") {
        return PathBuf::from(dir);
    }
    if let Some(dir) = env.get("XDG_STATE_HOME") {
        return Path::new(dir).join("switchyard");
    }
    let home = env.get("HOME").unwrap_or("/tmp");
    Path::new(home).join(".local/state/switchyard")
}

/// Parses TOML text, mapping errors to file:line.
pub fn parse_file(path: Option<&Path>, text: &str) -> Result<FileConfig, ConfigError> {
    toml::from_str(text).map_err(|e| {
        // Unknown keys get the full key path and a "did you mean".
        suggest::first_unknown_key(path.map(Path::to_path_buf).as_ref(), text).unwrap_or_else(
            || ConfigError::Parse {
                file: path.map(Path::to_path_buf),
                line: e.span().map(|s| line_at(text, s.start)),
                message: e.message().trim().to_owned(),
            },
        )
    })
}

fn line_at(text: &str, offset: usize) -> usize {
    text.get(..offset).unwrap_or(text).matches('\n').count() + 1
}

impl Settings {
    pub fn provider(&self, name: &str) -> Option<std::sync::Arc<ProviderSpec>> {
        self.providers.iter().find(|p| p.name == name).cloned()
    }

    /// The provider serving an intercepted host: one that lists it in
    /// `hosts` (globs allowed), configured providers before implicit ones.
    pub fn provider_for_host(&self, host: &str) -> Option<std::sync::Arc<ProviderSpec>> {
        let at = self.provider_hosts.find(host)?;
        self.providers.get(at).cloned()
    }

    /// Loads and resolves everything.
    pub fn load(flags: &Flags, env: &Env) -> Result<Settings, ConfigError> {
        let path = find_config_file(flags, env)?;
        let text = match &path {
            Some(p) => std::fs::read_to_string(p).map_err(|source| ConfigError::Read {
                path: p.clone(),
                source,
            })?,
            None => String::new(),
        };
        Settings::from_text(path.as_deref(), &text, flags, env)
    }

    /// Resolves settings from config text (no file system access beyond
    /// what the text names); `path` only labels errors and anchors
    /// relative paths.
    pub fn from_text(
        path: Option<&Path>,
        text: &str,
        flags: &Flags,
        env: &Env,
    ) -> Result<Settings, ConfigError> {
        let file = parse_file(path, text)?;
        Resolver { path, text, env }.resolve(flags, file)
    }
}

/// Turns a parsed file plus environment into settings, naming the key and
/// line of anything invalid.
struct Resolver<'a> {
    path: Option<&'a Path>,
    text: &'a str,
    env: &'a Env,
}

impl Resolver<'_> {
    fn invalid(&self, key: &str, message: impl Into<String>) -> ConfigError {
        ConfigError::Invalid {
            file: self.path.map(Path::to_path_buf),
            line: locate::line_of(self.text, key),
            key: key.to_owned(),
            message: message.into(),
        }
    }

    /// An error about a value that came from the environment, not the file.
    fn invalid_env(&self, var: &str, message: impl Into<String>) -> ConfigError {
        ConfigError::Invalid {
            file: None,
            line: None,
            key: var.to_owned(),
            message: message.into(),
        }
    }

    /// Paths in the file are relative to the file's directory.
    fn file_path(&self, p: &Path) -> PathBuf {
        match self.path.and_then(Path::parent) {
            Some(dir) if p.is_relative() => dir.join(p),
            _ => p.to_path_buf(),
        }
    }

    fn resolve(&self, flags: &Flags, file: FileConfig) -> Result<Settings, ConfigError> {
        let state_dir = state_dir(self.env);
        let listen = self.listen(flags, &file)?;
        let ca = self.ca_paths(&file, &state_dir);
        let providers = self.providers(&file)?;
        let intercept = self.intercept(&file, &providers);
        let upstream_proxy = self.upstream_proxy(&file)?;
        let headers = self.headers(&file)?;
        let audit = AuditSettings {
            path: file
                .audit
                .path
                .as_deref()
                .map(|p| self.file_path(p))
                .unwrap_or_else(|| state_dir.join("audit.jsonl")),
            max_body_bytes: file.audit.max_body_bytes.unwrap_or(4096),
            max_file_bytes: file
                .audit
                .max_file_bytes
                .unwrap_or(crate::audit::rotate::DEFAULT_MAX_FILE_BYTES),
            keep_files: file
                .audit
                .keep_files
                .unwrap_or(crate::audit::rotate::DEFAULT_KEEP_FILES),
            postgres: self.postgres(&file)?,
        };
        let cluster = self.cluster(&file)?;
        let prices = self.prices(&file)?;
        let errors = match file.errors.format.as_deref() {
            None | Some("json") => ErrorFormat::Json,
            Some("text") => ErrorFormat::Text,
            Some(other) => {
                return Err(self.invalid(
                    "errors.format",
                    format!("expected \"json\" or \"text\", got {other:?}"),
                ))
            }
        };
        let t = &file.timeouts;
        let secs = |v: Option<u64>, d: u64| Duration::from_secs(v.unwrap_or(d));
        let timeouts = Timeouts {
            connect: secs(t.connect_secs, 10),
            request: secs(t.request_secs, 600),
            stream_idle: secs(t.stream_idle_secs, 120),
            tool_call: secs(t.tool_call_secs, 60),
            upstream_idle: secs(t.upstream_idle_secs, 90),
            shutdown: secs(t.shutdown_secs, 30),
        };
        if timeouts.upstream_idle.is_zero() {
            return Err(self.invalid(
                "timeouts.upstream_idle_secs",
                "must be at least 1 (a kept connection needs some time to be reused)",
            ));
        }
        let routes = self.routes(&file, &providers)?;
        let bridge = self.bridge(&file)?;
        let clients = self.clients(&file)?;
        if !listen.ip().is_loopback() && !clients.is_enabled() {
            return Err(self.invalid(
                "listen",
                format!("{listen} is reachable beyond loopback: configure client credentials (proxy_auth or [[clients]]) first"),
            ));
        }
        let tunnel = self.tunnel(&file, listen)?;
        let l = &file.limits;
        let limits = Limits {
            max_request_body_bytes: l.max_request_body_bytes.unwrap_or(32 * 1024 * 1024),
            max_connections: l.max_connections.unwrap_or(4096).max(1),
            max_header_count: l.max_header_count.unwrap_or(100).max(8),
            max_h2_streams: l.max_h2_streams.unwrap_or(128).max(1),
            header_read_timeout: Duration::from_secs(
                l.header_read_timeout_secs.unwrap_or(30).max(1),
            ),
        };
        let busy_poll = self.busy_poll(&file)?;
        if let Some(name) = &flags.provider {
            if !providers.iter().any(|p| &p.name == name) {
                return Err(self.invalid_env("--provider", format!("no provider named {name:?}")));
            }
        }
        let provider_hosts = HostIndex::new(&providers);
        Ok(Settings {
            config_file: self.path.map(Path::to_path_buf),
            listen,
            log_level: flags.log_level.clone().unwrap_or_else(|| "info".into()),
            state_dir,
            ca,
            intercept,
            upstream_proxy,
            providers,
            headers,
            audit,
            errors,
            timeouts,
            single_provider: flags.provider.clone(),
            routes,
            bridge,
            clients,
            tunnel,
            limits,
            busy_poll,
            cluster,
            prices,
            file: std::sync::Arc::new(file),
            file_text: std::sync::Arc::new(self.text.to_owned()),
            provider_hosts,
        })
    }

    fn busy_poll(&self, file: &FileConfig) -> Result<Duration, ConfigError> {
        let us = file.runtime.busy_poll_us.unwrap_or(0);
        if us > MAX_BUSY_POLL_US {
            return Err(self.invalid(
                "runtime.busy_poll_us",
                format!("{us} is more than {MAX_BUSY_POLL_US} (one second); a few hundred microseconds cover a request's round trips"),
            ));
        }
        Ok(Duration::from_micros(us))
    }

    fn postgres(&self, file: &FileConfig) -> Result<Option<PostgresSettings>, ConfigError> {
        let a = &file.audit;
        let Some(url) = a.postgres_url.as_deref() else {
            if a.retention_days.is_some() {
                return Err(self.invalid(
                    "audit.retention_days",
                    "applies to the PostgreSQL sink: set audit.postgres_url too",
                ));
            }
            return Ok(None);
        };
        let url = verify_as_require(url);
        let parsed = match url.parse::<tokio_postgres::Config>() {
            Ok(parsed) if url.starts_with("postgres://") || url.starts_with("postgresql://") => {
                parsed
            }
            parsed => {
                // tokio-postgres's reason names an option, never a value.
                let why = parsed
                    .err()
                    .map(|e| format!(" ({})", crate::errors::chain(&e)))
                    .unwrap_or_default();
                return Err(self.invalid(
                    "audit.postgres_url",
                    format!("expected a URL like postgres://user:password@host:5432/database{why}"),
                ));
            }
        };
        let tls = parsed.get_ssl_mode() == tokio_postgres::config::SslMode::Require;
        let needs_tls = "only used with TLS: add ?sslmode=require to audit.postgres_url";
        let ca = self.ca_file(
            "audit.postgres_ca",
            a.postgres_ca.as_deref(),
            tls,
            needs_tls,
        )?;
        let client = self.client_identity(
            (
                "audit.postgres_client_cert",
                a.postgres_client_cert.as_deref(),
            ),
            (
                "audit.postgres_client_key",
                a.postgres_client_key.as_deref(),
            ),
            tls,
            needs_tls,
        )?;
        let tls = tls.then_some(PostgresTls { ca, client });
        Ok(Some(PostgresSettings {
            url: Secret::new(&url),
            retention_days: a.retention_days,
            tls,
        }))
    }

    /// `[prices]` and every `[providers.<name>.prices]`.
    fn prices(&self, file: &FileConfig) -> Result<crate::pricing::Prices, ConfigError> {
        let table =
            |at: &str, prices: &std::collections::BTreeMap<String, crate::pricing::Price>| {
                for (model, price) in prices {
                    let key = format!("{at}.{model:?}");
                    if model.is_empty() {
                        return Err(
                            self.invalid(&key, "a model name or glob, e.g. \"claude-sonnet-*\"")
                        );
                    }
                    price.check().map_err(|why| self.invalid(&key, why))?;
                }
                Ok(prices
                    .iter()
                    .map(|(m, p)| (m.clone(), *p))
                    .collect::<Vec<_>>())
            };
        let mut all = crate::pricing::Prices::new(table("prices", &file.prices)?);
        for (name, provider) in &file.providers {
            let own = table(&format!("providers.{name}.prices"), &provider.prices)?;
            all = all.with_provider(name, own);
        }
        Ok(all)
    }

    /// A CA bundle for a database connection: only with TLS, and it must
    /// hold a PEM certificate.
    fn ca_file(
        &self,
        key: &str,
        path: Option<&Path>,
        tls: bool,
        needs_tls: &str,
    ) -> Result<Option<PathBuf>, ConfigError> {
        let Some(path) = path.map(|p| self.file_path(p)) else {
            return Ok(None);
        };
        if !tls {
            return Err(self.invalid(key, needs_tls));
        }
        crate::tls::read_pem_certs(&path).map_err(|e| self.invalid(key, e.to_string()))?;
        Ok(Some(path))
    }

    /// A client certificate and key for a database connection: both or
    /// neither, only with TLS, and the key must be the certificate's.
    fn client_identity(
        &self,
        (cert_key, cert): (&str, Option<&Path>),
        (key_key, key): (&str, Option<&Path>),
        tls: bool,
        needs_tls: &str,
    ) -> Result<Option<ClientIdentity>, ConfigError> {
        let (cert, key) = match (cert, key) {
            (None, None) => return Ok(None),
            (Some(cert), Some(key)) => (self.file_path(cert), self.file_path(key)),
            (Some(_), None) => {
                return Err(self.invalid(key_key, format!("required with {cert_key}")))
            }
            (None, Some(_)) => {
                return Err(self.invalid(cert_key, format!("required with {key_key}")))
            }
        };
        if !tls {
            return Err(self.invalid(cert_key, needs_tls));
        }
        crate::tls::read_pem_certs(&cert).map_err(|e| self.invalid(cert_key, e.to_string()))?;
        crate::tls::Identity::read(&cert, &key)
            .map_err(|e| self.invalid(key_key, e.to_string()))?;
        Ok(Some(ClientIdentity { cert, key }))
    }

    fn cluster(&self, file: &FileConfig) -> Result<Option<ClusterSettings>, ConfigError> {
        let Some(c) = &file.cluster else {
            return Ok(None);
        };
        let Some(url) = c.redis_url.as_deref() else {
            return Err(self.invalid("cluster.redis_url", "required in [cluster]"));
        };
        let tls = url.starts_with("rediss://");
        if !(tls || url.starts_with("redis://") || url.starts_with("redis+unix://"))
            || redis::Client::open(url).is_err()
        {
            return Err(self.invalid(
                "cluster.redis_url",
                "expected a URL like redis://host:6379/0 (or rediss:// for TLS)",
            ));
        }
        let needs_tls = "only used with a rediss:// URL";
        let redis_ca = self.ca_file("cluster.redis_ca", c.redis_ca.as_deref(), tls, needs_tls)?;
        let redis_client = self.client_identity(
            ("cluster.redis_client_cert", c.redis_client_cert.as_deref()),
            ("cluster.redis_client_key", c.redis_client_key.as_deref()),
            tls,
            needs_tls,
        )?;
        if c.replicas == Some(0) {
            return Err(self.invalid("cluster.replicas", "must be at least 1"));
        }
        let timeout_ms = c.timeout_ms.unwrap_or(250);
        if !(1..=10_000).contains(&timeout_ms) {
            return Err(self.invalid("cluster.timeout_ms", "expected 1 to 10000"));
        }
        Ok(Some(ClusterSettings {
            redis_url: Secret::new(url),
            replicas: c.replicas,
            timeout: Duration::from_millis(timeout_ms),
            key_prefix: c.key_prefix.clone().unwrap_or_else(|| "switchyard".into()),
            redis_ca,
            redis_client,
        }))
    }

    fn routes(
        &self,
        file: &FileConfig,
        providers: &[std::sync::Arc<ProviderSpec>],
    ) -> Result<Vec<Route>, ConfigError> {
        let mut routes = Vec::new();
        for (i, entry) in file.routes.iter().enumerate() {
            let key = |field: &str| format!("routes.{i}.{field}");
            let protocol = match &entry.protocol {
                None => None,
                Some(name) => Some(crate::protocol::Protocol::from_name(name).ok_or_else(|| {
                    self.invalid(&key("protocol"), format!("unknown protocol {name:?}; one of anthropic_messages, openai_chat_completions, openai_responses"))
                })?),
            };
            let pattern = entry
                .model
                .clone()
                .ok_or_else(|| self.invalid(&key("model"), "missing"))?;
            let matcher = Matcher::new(entry.match_kind.as_deref().unwrap_or("glob"), &pattern)
                .map_err(|m| self.invalid(&key("match"), m))?;
            let names = match (&entry.provider, &entry.providers) {
                (Some(p), None) => vec![p.clone()],
                (None, Some(list)) if !list.is_empty() => list.clone(),
                (Some(_), Some(_)) => {
                    return Err(
                        self.invalid(&key("providers"), "set provider or providers, not both")
                    )
                }
                _ => {
                    return Err(self.invalid(
                        &key("provider"),
                        "missing: provider = \"name\" or providers = [...]",
                    ))
                }
            };
            for name in &names {
                if !providers.iter().any(|p| &p.name == name) {
                    let field = if entry.provider.is_some() {
                        "provider"
                    } else {
                        "providers"
                    };
                    return Err(self.invalid(&key(field), format!("no provider named {name:?}")));
                }
            }
            routes.push(Route {
                pattern,
                matcher,
                protocol,
                providers: names,
                upstream_model: entry.upstream_model.clone(),
            });
        }
        Ok(routes)
    }

    fn clients(&self, file: &FileConfig) -> Result<crate::access::Clients, ConfigError> {
        let mut clients = crate::access::Clients::default();
        if let Some(auth) = &file.proxy_auth {
            let (user, token) = auth
                .split_once(':')
                .filter(|(u, t)| !u.is_empty() && !t.is_empty())
                .ok_or_else(|| self.invalid("proxy_auth", "expected \"user:password\""))?;
            clients.add_token(user, token);
        }
        for (i, c) in file.clients.iter().enumerate() {
            let key = |field: &str| format!("clients.{i}.{field}");
            match (&c.token_env, &c.token_sha256) {
                (Some(var), None) => {
                    let token = self.env.get(var).ok_or_else(|| {
                        self.invalid(
                            &key("token_env"),
                            format!("environment variable {var} is not set"),
                        )
                    })?;
                    clients.add_token(&c.name, token);
                }
                (None, Some(hex)) => {
                    let digest =
                        crate::access::clients::parse_sha256_hex(hex).ok_or_else(|| {
                            self.invalid(
                                &key("token_sha256"),
                                "expected 64 hex digits (sha256 of the token)",
                            )
                        })?;
                    clients.add_digest(&c.name, digest);
                }
                _ => {
                    return Err(
                        self.invalid(&key("name"), "set exactly one of token_env or token_sha256")
                    )
                }
            }
        }
        Ok(clients)
    }

    fn tunnel(
        &self,
        file: &FileConfig,
        listen: SocketAddr,
    ) -> Result<crate::access::TunnelPolicy, ConfigError> {
        let t = &file.tunnel;
        let shared = match t.restrict.as_deref() {
            None | Some("auto") => !listen.ip().is_loopback(),
            Some("on") => true,
            Some("off") => false,
            Some(other) => {
                return Err(self.invalid(
                    "tunnel.restrict",
                    format!("expected auto, on or off, got {other:?}"),
                ))
            }
        };
        let allow = t
            .allow_cidrs
            .iter()
            .map(|c| {
                c.parse().map_err(|_| {
                    self.invalid(
                        "tunnel.allow_cidrs",
                        format!("{c:?} is not a CIDR like 10.20.0.0/16"),
                    )
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(crate::access::TunnelPolicy {
            shared,
            allowed_ports: t.allowed_ports.clone().unwrap_or_else(|| vec![443]),
            allow,
        })
    }

    fn bridge(&self, file: &FileConfig) -> Result<Option<BridgeSpec>, ConfigError> {
        let section = file.bridge.as_ref();
        let url = match self.env.get("SWITCHYARD_BRIDGE_URL") {
            Some(u) => u.to_owned(),
            None => match section.and_then(|b| b.url.clone()) {
                Some(u) => u,
                None => return Ok(None),
            },
        };
        check_base_url(&url).map_err(|m| match self.env.get("SWITCHYARD_BRIDGE_URL") {
            Some(_) => self.invalid_env("SWITCHYARD_BRIDGE_URL", m),
            None => self.invalid("bridge.url", m),
        })?;
        let mode = match self
            .env
            .get("SWITCHYARD_BRIDGE_MODE")
            .or(section.and_then(|b| b.mode.as_deref()))
        {
            None | Some("soft") => BridgeMode::Soft,
            Some("strict") => BridgeMode::Strict,
            Some(other) => {
                return Err(self.invalid(
                    "bridge.mode",
                    format!("expected \"soft\" or \"strict\", got {other:?}"),
                ))
            }
        };
        let token = match self.env.get("SWITCHYARD_BRIDGE_TOKEN") {
            Some(t) => Some(Secret::new(t)),
            None => match section.and_then(|b| b.token_env.as_deref()) {
                Some(var) => Some(Secret::new(self.env.get(var).ok_or_else(|| {
                    self.invalid(
                        "bridge.token_env",
                        format!("environment variable {var} is not set"),
                    )
                })?)),
                None => None,
            },
        };
        Ok(Some(BridgeSpec {
            url: url.trim_end_matches('/').to_owned(),
            mode,
            token,
        }))
    }

    fn listen(&self, flags: &Flags, file: &FileConfig) -> Result<SocketAddr, ConfigError> {
        let (value, source) = if let Some(v) = &flags.listen {
            (v.as_str(), "--listen")
        } else if let Some(v) = self.env.get("SWITCHYARD_LISTEN") {
            (v, "SWITCHYARD_LISTEN")
        } else if let Some(v) = &file.listen {
            (v.as_str(), "listen")
        } else {
            (DEFAULT_LISTEN, "listen")
        };
        let value = value.strip_prefix("http://").unwrap_or(value);
        value.parse().map_err(|_| {
            let message = format!("{value:?} is not an address like 127.0.0.1:8787");
            if source == "listen" {
                self.invalid("listen", message)
            } else {
                self.invalid_env(source, message)
            }
        })
    }

    fn ca_paths(&self, file: &FileConfig, state_dir: &Path) -> CaPaths {
        let default = crate::ca::default_paths(state_dir);
        let pick = |var: &str, from_file: &Option<PathBuf>, fallback: PathBuf| {
            self.env
                .get(var)
                .map(PathBuf::from)
                .or_else(|| from_file.as_deref().map(|p| self.file_path(p)))
                .unwrap_or(fallback)
        };
        CaPaths {
            cert: pick("SWITCHYARD_CA_CERT", &file.ca.cert, default.cert),
            key: pick("SWITCHYARD_CA_KEY", &file.ca.key, default.key),
        }
    }

    fn intercept(
        &self,
        file: &FileConfig,
        providers: &[std::sync::Arc<ProviderSpec>],
    ) -> Vec<String> {
        let mut hosts: Vec<String> = match &file.intercept.hosts {
            Some(list) => list.clone(),
            None => DEFAULT_INTERCEPT.iter().map(|s| s.to_string()).collect(),
        };
        // A provider's hosts are only useful intercepted, so they always are.
        hosts.extend(
            providers
                .iter()
                .filter(|p| !p.implicit)
                .flat_map(|p| p.hosts.clone()),
        );
        let mut hosts: Vec<String> = hosts.into_iter().map(|h| h.to_ascii_lowercase()).collect();
        hosts.sort();
        hosts.dedup();
        hosts
    }

    fn upstream_proxy(&self, file: &FileConfig) -> Result<Option<UpstreamProxy>, ConfigError> {
        let section = file.upstream_proxy.as_ref();
        let (url, from_env) = match self.env.get("SWITCHYARD_UPSTREAM_PROXY") {
            Some(u) => (Some(u.to_owned()), true),
            None => (section.and_then(|s| s.url.clone()), false),
        };
        let Some(url) = url else { return Ok(None) };
        let mut proxy = UpstreamProxy::parse(&url).map_err(|m| {
            if from_env {
                self.invalid_env("SWITCHYARD_UPSTREAM_PROXY", m)
            } else {
                self.invalid("upstream_proxy.url", m)
            }
        })?;
        proxy.ca = match self.env.get("SWITCHYARD_UPSTREAM_PROXY_CA") {
            Some(p) => Some(PathBuf::from(p)),
            None => section
                .and_then(|s| s.ca.as_deref())
                .map(|p| self.file_path(p)),
        };
        proxy.no_proxy = match self.env.get("SWITCHYARD_NO_PROXY") {
            Some(list) => list
                .split(',')
                .map(|s| s.trim().to_owned())
                .filter(|s| !s.is_empty())
                .collect(),
            None => section.map(|s| s.no_proxy.clone()).unwrap_or_default(),
        };
        Ok(Some(proxy))
    }

    fn headers(
        &self,
        file: &FileConfig,
    ) -> Result<Vec<(http::HeaderName, http::HeaderValue)>, ConfigError> {
        file.headers
            .iter()
            .map(|(name, value)| {
                let key = format!("headers.{name}");
                let n = http::HeaderName::from_bytes(name.as_bytes())
                    .map_err(|_| self.invalid(&key, "not a valid header name"))?;
                let v = http::HeaderValue::from_str(value)
                    .map_err(|_| self.invalid(&key, "not a valid header value"))?;
                Ok((n, v))
            })
            .collect()
    }

    fn providers(
        &self,
        file: &FileConfig,
    ) -> Result<Vec<std::sync::Arc<ProviderSpec>>, ConfigError> {
        let mut providers = Vec::new();
        for (name, entry) in &file.providers {
            providers.push(std::sync::Arc::new(self.provider(name, entry)?));
        }
        for name in ["anthropic", "openai"] {
            if !providers.iter().any(|p| p.name == name) {
                providers.extend(ProviderSpec::implicit(name).map(std::sync::Arc::new));
            }
        }
        Ok(providers)
    }

    fn provider(
        &self,
        name: &str,
        entry: &file::ProviderEntry,
    ) -> Result<ProviderSpec, ConfigError> {
        let key = |field: &str| format!("providers.{name}.{field}");
        let kind_name = match (&entry.kind, name) {
            (Some(k), _) => k.as_str(),
            (None, "anthropic" | "openai") => name,
            (None, _) => {
                return Err(self.invalid(
                    &key("kind"),
                    "missing; one of anthropic, openai, openai_chat, proxy",
                ))
            }
        };
        let kind = ProviderKind::parse(kind_name).ok_or_else(|| {
            self.invalid(
                &key("kind"),
                format!("unknown kind {kind_name:?}; one of anthropic, openai, openai_chat, proxy"),
            )
        })?;
        let base_url = match (&entry.base_url, ProviderSpec::implicit(name)) {
            (Some(url), _) => url.trim_end_matches('/').to_owned(),
            (None, Some(implicit)) if implicit.kind == kind => implicit.base_url,
            (None, _) => return Err(self.invalid(&key("base_url"), "missing")),
        };
        check_base_url(&base_url).map_err(|m| self.invalid(&key("base_url"), m))?;
        let mut hosts = entry.hosts.clone();
        if hosts.is_empty() {
            hosts.extend(
                ProviderSpec::implicit(name)
                    .map(|p| p.hosts)
                    .unwrap_or_default(),
            );
        }
        Ok(ProviderSpec {
            name: name.to_owned(),
            kind,
            base_url,
            hosts,
            credentials: self.credentials(name, entry)?,
            fallback: entry.fallback,
            breaker: self.breaker(name, entry)?,
            protocols: self.provider_protocols(name, kind, entry)?,
            implicit: false,
        })
    }

    fn provider_protocols(
        &self,
        name: &str,
        kind: ProviderKind,
        entry: &file::ProviderEntry,
    ) -> Result<Vec<crate::protocol::Protocol>, ConfigError> {
        let key = format!("providers.{name}.protocols");
        let mut out = Vec::new();
        for p in entry.protocols.iter().flatten() {
            let protocol = crate::protocol::Protocol::from_name(p)
                .ok_or_else(|| self.invalid(&key, format!("unknown protocol {p:?}")))?;
            if !kind.speaks(protocol) {
                return Err(self.invalid(
                    &key,
                    format!("a {} provider does not speak {p}", kind.name()),
                ));
            }
            out.push(protocol);
        }
        Ok(out)
    }

    fn breaker(&self, name: &str, entry: &file::ProviderEntry) -> Result<BreakerSpec, ConfigError> {
        let default = BreakerSpec::default();
        let failures = entry.circuit_failures.unwrap_or(default.failures);
        if failures == 0 {
            return Err(self.invalid(
                &format!("providers.{name}.circuit_failures"),
                "must be at least 1",
            ));
        }
        Ok(BreakerSpec {
            failures,
            cooldown: entry
                .circuit_cooldown_secs
                .map(Duration::from_secs)
                .unwrap_or(default.cooldown),
        })
    }

    fn credentials(
        &self,
        provider: &str,
        entry: &file::ProviderEntry,
    ) -> Result<Vec<CredentialSpec>, ConfigError> {
        let short_form = entry.api_key_env.is_some() || entry.api_key.is_some();
        if short_form && !entry.credentials.is_empty() {
            return Err(self.invalid(
                &format!("providers.{provider}.credentials"),
                "use either api_key_env/api_key on the provider or [[credentials]], not both",
            ));
        }
        if entry.credentials.is_empty() {
            let key = self.secret(
                &format!("providers.{provider}"),
                &entry.api_key_env,
                &entry.api_key,
            )?;
            return Ok(vec![CredentialSpec {
                name: if key.is_some() {
                    "default".into()
                } else {
                    "client".into()
                },
                key,
                rpm: entry.rpm,
                tpm: entry.tpm,
            }]);
        }
        entry
            .credentials
            .iter()
            .enumerate()
            .map(|(i, c)| {
                let path = format!("providers.{provider}.credentials.{i}");
                Ok(CredentialSpec {
                    name: c
                        .name
                        .clone()
                        .unwrap_or_else(|| format!("{provider}-{}", i + 1)),
                    key: self.secret(&path, &c.api_key_env, &c.api_key)?,
                    rpm: c.rpm.or(entry.rpm),
                    tpm: c.tpm.or(entry.tpm),
                })
            })
            .collect()
    }

    fn secret(
        &self,
        path: &str,
        env_name: &Option<String>,
        inline: &Option<String>,
    ) -> Result<Option<Secret>, ConfigError> {
        match (env_name, inline) {
            (Some(_), Some(_)) => Err(self.invalid(
                &format!("{path}.api_key"),
                "set api_key_env or api_key, not both",
            )),
            (Some(var), None) => match self.env.get(var) {
                Some(value) => Ok(Some(Secret::new(value))),
                None => Err(self.invalid(
                    &format!("{path}.api_key_env"),
                    format!("environment variable {var} is not set"),
                )),
            },
            (None, Some(value)) => Ok(Some(Secret::new(value.clone()))),
            (None, None) => Ok(None),
        }
    }
}

fn check_base_url(url: &str) -> Result<(), String> {
    let uri: http::Uri = url.parse().map_err(|_| format!("{url:?} is not a URL"))?;
    match uri.scheme_str() {
        Some("http" | "https") if uri.host().is_some() => Ok(()),
        _ => Err(format!("{url:?} must be an http:// or https:// URL")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(text: &str, env: &[(&str, &str)], flags: Flags) -> Result<Settings, ConfigError> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("switchyard.toml");
        std::fs::write(&path, text).unwrap();
        let mut env: Vec<(String, String)> = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        env.push((
            "SWITCHYARD_STATE_DIR".into(),
            dir.path().join("state").display().to_string(),
        ));
        let flags = Flags {
            config: Some(path),
            ..flags
        };
        Settings::load(&flags, &Env::from_pairs(env))
    }

    #[test]
    fn fleet_sections_resolve_and_are_checked() {
        let s = load("", &[], Flags::default()).unwrap();
        assert!(s.cluster.is_none() && s.audit.postgres.is_none());
        let text = "[cluster]\nredis_url = \"redis://:pw@10.0.0.5:6379/2\"\nreplicas = 3\n\
                    [audit]\npostgres_url = \"postgres://sy:pw@db/audit\"\nretention_days = 90\n";
        let s = load(text, &[], Flags::default()).unwrap();
        let c = s.cluster.unwrap();
        assert_eq!(
            (c.replicas, c.timeout),
            (Some(3), Duration::from_millis(250))
        );
        assert_eq!(c.key_prefix, "switchyard");
        assert_eq!(s.audit.postgres.unwrap().retention_days, Some(90));
        for (text, key) in [
            ("[cluster]\nreplicas = 2\n", "cluster.redis_url"),
            (
                "[cluster]\nredis_url = \"http://u:Zq9secretpass@x\"\n",
                "cluster.redis_url",
            ),
            (
                "[cluster]\nredis_url = \"redis://x\"\nreplicas = 0\n",
                "cluster.replicas",
            ),
            (
                "[cluster]\nredis_url = \"redis://x\"\ntimeout_ms = 0\n",
                "cluster.timeout_ms",
            ),
            (
                "[audit]\npostgres_url = \"mysql://u:Zq9secretpass@x\"\n",
                "audit.postgres_url",
            ),
            ("[audit]\nretention_days = 3\n", "audit.retention_days"),
        ] {
            let err = load(text, &[], Flags::default()).unwrap_err().to_string();
            assert!(err.contains(key), "{text}: {err}");
            // A distinctive secret: short ones like "pw" turn up in random temp paths.
            assert!(!err.contains("Zq9secretpass"), "{err}");
        }
    }

    #[test]
    fn rediss_takes_an_optional_ca_that_must_hold_a_certificate() {
        let s = load(
            "[cluster]\nredis_url = \"rediss://r:6380/0\"\n",
            &[],
            Flags::default(),
        );
        assert!(s.unwrap().cluster.unwrap().redis_ca.is_none());
        let dir = tempfile::tempdir().unwrap();
        let ca = dir.path().join("redis-ca.pem");
        let cert = rcgen::generate_simple_self_signed(vec!["r".to_owned()]).unwrap();
        std::fs::write(&ca, cert.cert.pem()).unwrap();
        let with_ca = |url: &str, ca: &Path| {
            let text = format!(
                "[cluster]\nredis_url = \"{url}\"\nredis_ca = \"{}\"\n",
                ca.display()
            );
            load(&text, &[], Flags::default())
        };
        let c = with_ca("rediss://r:6380/0", &ca).unwrap().cluster.unwrap();
        assert_eq!(c.redis_ca.as_deref(), Some(ca.as_path()));
        let not_pem = dir.path().join("not.pem");
        std::fs::write(&not_pem, "hello").unwrap();
        for (url, ca, says) in [
            (
                "redis://r:6379/0",
                ca.as_path(),
                "only used with a rediss://",
            ),
            ("rediss://r:6380/0", not_pem.as_path(), "no PEM certificate"),
            (
                "rediss://r:6380/0",
                dir.path().join("gone.pem").as_path(),
                "cannot read",
            ),
        ] {
            let err = with_ca(url, ca).unwrap_err().to_string();
            assert!(
                err.contains("`cluster.redis_ca`") && err.contains(says),
                "{err}"
            );
        }
    }

    #[test]
    fn postgres_tls_follows_sslmode_and_takes_an_optional_ca() {
        let dir = tempfile::tempdir().unwrap();
        let ca = dir.path().join("pg-ca.pem");
        let cert = rcgen::generate_simple_self_signed(vec!["db".to_owned()]).unwrap();
        std::fs::write(&ca, cert.cert.pem()).unwrap();
        let pg = |url: &str, ca: Option<&Path>| {
            let ca = ca.map(|p| format!("postgres_ca = \"{}\"\n", p.display()));
            let text = format!(
                "[audit]\npostgres_url = \"{url}\"\n{}",
                ca.unwrap_or_default()
            );
            load(&text, &[], Flags::default()).map(|s| s.audit.postgres.unwrap())
        };
        for plain in ["postgres://sy@db/a", "postgres://sy@db/a?sslmode=prefer"] {
            assert!(pg(plain, None).unwrap().tls.is_none(), "{plain}");
        }
        let s = pg("postgres://sy@db/a?sslmode=require", None).unwrap();
        assert!(s.tls.unwrap().ca.is_none());
        // libpq's names, which tokio-postgres refuses, are full verification.
        let url = "postgres://sy@db/a?connect_timeout=3&sslmode=verify-full";
        let s = pg(url, Some(&ca)).unwrap();
        assert_eq!(s.tls.unwrap().ca.as_deref(), Some(ca.as_path()));
        assert_eq!(
            s.url.expose(),
            "postgres://sy@db/a?connect_timeout=3&sslmode=require"
        );
        assert!(pg("postgres://sy@db/a?sslmode=verify-ca", None)
            .unwrap()
            .tls
            .is_some());

        let not_pem = dir.path().join("not.pem");
        std::fs::write(&not_pem, "hello").unwrap();
        let require = "postgres://sy:Zq9secretpass@db/a?sslmode=require";
        for (url, ca, key, says) in [
            (
                "postgres://sy:Zq9secretpass@db/a",
                Some(ca.as_path()),
                "audit.postgres_ca",
                "sslmode=require",
            ),
            (
                require,
                Some(not_pem.as_path()),
                "audit.postgres_ca",
                "no PEM certificate",
            ),
            (
                "postgres://sy:Zq9secretpass@db/a?sslrootcert=/x.pem",
                None,
                "audit.postgres_url",
                "sslrootcert",
            ),
        ] {
            let err = pg(url, ca).unwrap_err().to_string();
            assert!(err.contains(key) && err.contains(says), "{err}");
            assert!(!err.contains("Zq9secretpass"), "{err}");
        }
    }

    #[test]
    fn client_certificates_come_in_pairs_with_tls_and_matching_keys() {
        let dir = tempfile::tempdir().unwrap();
        let write = |name: &str, text: String| {
            let path = dir.path().join(name);
            std::fs::write(&path, text).unwrap();
            path
        };
        let mine = rcgen::generate_simple_self_signed(vec!["client".to_owned()]).unwrap();
        let other = rcgen::generate_simple_self_signed(vec!["other".to_owned()]).unwrap();
        let cert = write("client.pem", mine.cert.pem());
        let key = write("client.key", mine.signing_key.serialize_pem());
        let other_key = write("other.key", other.signing_key.serialize_pem());
        let not_pem = write("not.pem", "hello".into());
        let sections = [
            (
                "[cluster]\nredis_url",
                "rediss://r:6380/0",
                "redis://r:6379/0",
                "cluster.redis_client",
            ),
            (
                "[audit]\npostgres_url",
                "postgres://sy@db/a?sslmode=require",
                "postgres://sy@db/a",
                "audit.postgres_client",
            ),
        ];
        for (section, tls_url, plain_url, prefix) in sections {
            let (name_cert, name_key) = (format!("{prefix}_cert"), format!("{prefix}_key"));
            let field = |name: &str, path: Option<&Path>| {
                let key = name.rsplit('.').next().unwrap_or(name);
                path.map(|p| format!("{key} = \"{}\"\n", p.display()))
                    .unwrap_or_default()
            };
            let with = |url: &str, c: Option<&Path>, k: Option<&Path>| {
                let text = format!(
                    "{section} = \"{url}\"\n{}{}",
                    field(&name_cert, c),
                    field(&name_key, k)
                );
                load(&text, &[], Flags::default())
            };
            let s = with(tls_url, Some(&cert), Some(&key)).unwrap();
            let id = match prefix {
                "cluster.redis_client" => s.cluster.unwrap().redis_client,
                _ => s.audit.postgres.unwrap().tls.unwrap().client,
            };
            assert_eq!(
                id.map(|i| (i.cert, i.key)),
                Some((cert.clone(), key.clone()))
            );
            for (url, c, k, blamed, says) in [
                (tls_url, Some(&cert), None, &name_key, "required with"),
                (tls_url, None, Some(&key), &name_cert, "required with"),
                (
                    plain_url,
                    Some(&cert),
                    Some(&key),
                    &name_cert,
                    "only used with",
                ),
                (
                    tls_url,
                    Some(&not_pem),
                    Some(&key),
                    &name_cert,
                    "no PEM certificate",
                ),
                (
                    tls_url,
                    Some(&cert),
                    Some(&not_pem),
                    &name_key,
                    "no PEM private key",
                ),
                (tls_url, Some(&cert), Some(&other_key), &name_key, "match"),
            ] {
                let err = with(url, c.map(|p| p.as_path()), k.map(|p| p.as_path()));
                let err = err.unwrap_err().to_string();
                assert!(
                    err.contains(&format!("`{blamed}`")) && err.contains(says),
                    "{err}"
                );
            }
        }
    }

    #[test]
    fn prices_are_checked_and_found_by_model() {
        let text = "[prices.\"claude-sonnet-*\"]\ninput = 3\noutput = 15.0\ncache_read = 0.3\n";
        let s = load(text, &[], Flags::default()).unwrap();
        let price = s.prices.of(None, "claude-sonnet-4-5").copied();
        assert_eq!(
            price.map(|p| (p.input, p.cache_read)),
            Some((3.0, Some(0.3)))
        );
        assert!(load("", &[], Flags::default()).unwrap().prices.is_empty());
        for (text, says) in [
            ("[prices.m]\ninput = -1\noutput = 1\n", "not negative"),
            ("[prices.m]\ninput = 1\n", "output"),
            ("[prices.m]\ninput = 1\noutput = 1\ncached = 1\n", "cached"),
            (
                "[prices.\"\"]\ninput = 1\noutput = 1\n",
                "a model name or glob",
            ),
        ] {
            let err = load(text, &[], Flags::default()).unwrap_err().to_string();
            assert!(err.contains(says), "{text}: {err}");
        }
        let err = load(
            "[prices.m]\ninput = 1\noutput = -2\n",
            &[],
            Flags::default(),
        );
        let err = err.unwrap_err().to_string();
        assert!(err.contains("`prices.\"m\"`"), "{err}");
    }

    #[test]
    fn a_provider_may_price_models_its_own_way() {
        let provider =
            "[providers.reseller]\nkind = \"anthropic\"\nbase_url = \"http://127.0.0.1:9\"\n";
        let text = format!(
            "[prices.\"claude-*\"]\ninput = 3\noutput = 15\n\n{provider}\
             [providers.reseller.prices.\"claude-*\"]\ninput = 6\noutput = 30\n"
        );
        let s = load(&text, &[], Flags::default()).unwrap();
        let input = |provider, model| s.prices.of(provider, model).map(|p| p.input);
        assert_eq!(input(Some("reseller"), "claude-x"), Some(6.0));
        assert_eq!(input(Some("anthropic"), "claude-x"), Some(3.0));
        let bad = format!("{provider}[providers.reseller.prices.m]\ninput = 1\noutput = -1\n");
        let err = load(&bad, &[], Flags::default()).unwrap_err().to_string();
        assert!(err.contains("`providers.reseller.prices.\"m\"`"), "{err}");
    }

    #[test]
    fn busy_polling_is_off_unless_set_and_bounded() {
        assert_eq!(
            load("", &[], Flags::default()).unwrap().busy_poll,
            Duration::ZERO
        );
        let s = load("[runtime]\nbusy_poll_us = 250\n", &[], Flags::default()).unwrap();
        assert_eq!(s.busy_poll, Duration::from_micros(250));
        let err = load("[runtime]\nbusy_poll_us = 2000000\n", &[], Flags::default())
            .unwrap_err()
            .to_string();
        assert!(err.contains("runtime.busy_poll_us"), "{err}");
        let err = load("[runtime]\nbusy_poll = 5\n", &[], Flags::default())
            .unwrap_err()
            .to_string();
        assert!(err.contains("busy_poll"), "{err}");
    }

    #[test]
    fn database_urls_lose_their_credentials_when_shown() {
        assert_eq!(
            redact_url("postgres://sy:s3cret@db.internal:5432/audit?sslmode=disable"),
            "postgres://db.internal:5432/audit"
        );
        assert_eq!(redact_url("redis://:p@ss@r:6379/0"), "redis://r:6379/0");
        assert_eq!(redact_url("redis://r:6379"), "redis://r:6379");
        assert_eq!(redact_url("s3cret"), "(unparsable url)");
    }

    #[test]
    fn zero_config_defaults() {
        let s = load("", &[], Flags::default()).unwrap();
        assert_eq!(s.listen.to_string(), DEFAULT_LISTEN);
        assert_eq!(s.intercept, vec!["api.anthropic.com", "api.openai.com"]);
        let names: Vec<_> = s.providers.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(names, ["anthropic", "openai"]);
        assert!(s
            .providers
            .iter()
            .all(|p| p.implicit && p.credentials[0].key.is_none()));
        assert!(s.audit.path.ends_with("state/audit.jsonl"));
    }

    #[test]
    fn precedence_is_flag_then_env_then_file() {
        let text = "listen = \"127.0.0.1:1111\"\n";
        assert_eq!(
            load(text, &[], Flags::default()).unwrap().listen.port(),
            1111
        );
        let env = [("SWITCHYARD_LISTEN", "127.0.0.1:2222")];
        assert_eq!(
            load(text, &env, Flags::default()).unwrap().listen.port(),
            2222
        );
        let flags = Flags {
            listen: Some("127.0.0.1:3333".into()),
            ..Flags::default()
        };
        assert_eq!(load(text, &env, flags).unwrap().listen.port(), 3333);
    }

    #[test]
    fn upstream_idle_defaults_to_90_seconds_and_rejects_zero() {
        let default = load("", &[], Flags::default()).unwrap();
        assert_eq!(default.timeouts.upstream_idle, Duration::from_secs(90));
        let set = load(
            "[timeouts]\nupstream_idle_secs = 5\n",
            &[],
            Flags::default(),
        )
        .unwrap();
        assert_eq!(set.timeouts.upstream_idle, Duration::from_secs(5));
        let err = load(
            "[timeouts]\nupstream_idle_secs = 0\n",
            &[],
            Flags::default(),
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("`timeouts.upstream_idle_secs`"), "{err}");
        assert!(err.contains("at least 1"), "{err}");
    }

    #[test]
    fn errors_name_key_and_line() {
        let err = load("\n\nlisten = \"nope\"\n", &[], Flags::default()).unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains(":3:") && msg.contains("`listen`"), "{msg}");

        let err = load(
            "[providers.x]\nkind = \"openai_chat\"\nbase_url = \"ftp://x\"\n",
            &[],
            Flags::default(),
        )
        .unwrap_err();
        assert!(
            err.to_string().contains(":3: `providers.x.base_url`"),
            "{err}"
        );

        let err = load("[audit]\nmax_body = 3\n", &[], Flags::default()).unwrap_err();
        assert!(
            err.to_string().contains(":2:") && err.to_string().contains("max_body"),
            "{err}"
        );
    }

    #[test]
    fn keys_come_from_the_environment_and_missing_ones_are_errors() {
        let text = "[providers.openai]\nkind = \"openai\"\napi_key_env = \"MY_KEY\"\n";
        let s = load(text, &[("MY_KEY", "sk-test")], Flags::default()).unwrap();
        let openai = s.providers.iter().find(|p| p.name == "openai").unwrap();
        assert_eq!(
            openai.credentials[0].key.as_ref().map(|k| k.expose()),
            Some("sk-test")
        );
        assert_eq!(openai.base_url, "https://api.openai.com/v1");
        let err = load(text, &[], Flags::default()).unwrap_err();
        assert!(err.to_string().contains("MY_KEY is not set"), "{err}");
        assert!(!err.to_string().contains("sk-test"));
    }

    #[test]
    fn provider_hosts_are_intercepted() {
        let text = "[providers.gem]\nkind = \"proxy\"\nbase_url = \"http://127.0.0.1:9/v1\"\nhosts = [\"Generativelanguage.googleapis.com\"]\n";
        let s = load(text, &[], Flags::default()).unwrap();
        assert!(s
            .intercept
            .contains(&"generativelanguage.googleapis.com".to_string()));
    }

    #[test]
    fn hosts_find_configured_providers_before_implicit_ones() {
        let text = "[providers.corp]\nkind = \"openai\"\nbase_url = \"http://127.0.0.1:9/v1\"\nhosts = [\"API.openai.com\", \"*.Corp.test\"]\n";
        let s = load(text, &[], Flags::default()).unwrap();
        let name = |host: &str| s.provider_for_host(host).map(|p| p.name.clone());
        assert_eq!(name("api.OPENAI.com").as_deref(), Some("corp"));
        assert_eq!(name("llm.corp.test").as_deref(), Some("corp"));
        assert_eq!(name("api.anthropic.com").as_deref(), Some("anthropic"));
        assert_eq!(name("corp.test"), None);
        assert_eq!(name("example.com"), None);
    }

    #[test]
    fn the_contract_example_config_is_accepted() {
        let text = include_str!("../../tests/data/contract-example.toml");
        let env = [
            ("ANTHROPIC_API_KEY", "a"),
            ("OPENAI_API_KEY", "b"),
            ("GROQ_API_KEY", "c"),
            ("BRIDGE_TOKEN", "d"),
        ];
        let s = load(text, &env, Flags::default()).unwrap();
        assert!(s.upstream_proxy.is_some());
        assert_eq!(s.providers.len(), 4);
        assert_eq!(s.routes.len(), 1);
        assert_eq!(
            s.routes[0].upstream_model.as_deref(),
            Some("claude-sonnet-4-5")
        );
        let bridge = s.bridge.as_ref().unwrap();
        assert_eq!(bridge.mode, crate::bridge::BridgeMode::Soft);
        assert_eq!(bridge.token.as_ref().map(|t| t.expose()), Some("d"));
    }
}
