//! Outbound connections: every byte switchyard sends to a provider, a bridge
//! or a tunnel target leaves through the [`Dialer`] here, directly or chained
//! through the corporate upstream proxy, never through `HTTPS_PROXY` from
//! switchyard's own environment.

mod client;
mod proxy;
mod stream;

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::combinators::UnsyncBoxBody;
use rustls_pki_types::ServerName;
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

pub use client::{ClientError, HttpClient, PooledBody};
pub use proxy::{authority, bare_host, ProxyError, UpstreamProxy};
pub use stream::OutboundStream;

use crate::tls;

pub type BoxError = Box<dyn std::error::Error + Send + Sync>;
pub type Body = UnsyncBoxBody<Bytes, BoxError>;

#[derive(Debug, thiserror::Error)]
pub enum DialError {
    #[error("connecting to {target} timed out")]
    Timeout { target: String },
    #[error("cannot connect to {target}: {source}")]
    Connect {
        target: String,
        source: std::io::Error,
    },
    #[error("through the upstream proxy to {target}: {source}")]
    Proxy { target: String, source: ProxyError },
    #[error("TLS to the upstream proxy: {0}")]
    ProxyTls(std::io::Error),
    #[error("{target} is not an allowed tunnel destination: {reason}")]
    Forbidden { target: String, reason: String },
}

/// Opens TCP connections, directly or through the upstream proxy.
pub struct Dialer {
    proxy: Option<UpstreamProxy>,
    proxy_tls: Option<TlsConnector>,
    connect_timeout: Duration,
}

impl Dialer {
    pub fn new(
        proxy: Option<UpstreamProxy>,
        tls_config: Arc<rustls::ClientConfig>,
        connect_timeout: Duration,
    ) -> Dialer {
        let proxy_tls = proxy
            .as_ref()
            .filter(|p| p.tls)
            .map(|_| TlsConnector::from(tls_config));
        Dialer {
            proxy,
            proxy_tls,
            connect_timeout,
        }
    }

    /// Whether connections to `host` go through the upstream proxy.
    pub fn proxied(&self, host: &str) -> bool {
        self.proxy.as_ref().is_some_and(|p| !p.bypasses(host))
    }

    /// A byte stream to `host:port`.
    pub async fn dial(&self, host: &str, port: u16) -> Result<OutboundStream, DialError> {
        let target = authority(host, port);
        let work = async {
            match self.proxy.as_ref().filter(|p| !p.bypasses(host)) {
                None => Ok(OutboundStream::Tcp(tcp(host, port, &target).await?)),
                Some(proxy) => self.through(proxy, host, port, &target).await,
            }
        };
        tokio::time::timeout(self.connect_timeout, work)
            .await
            .map_err(|_| DialError::Timeout {
                target: target.clone(),
            })?
    }

    /// Like [`Dialer::dial`], under a shared proxy's tunnel policy: the name
    /// is resolved here and only allowed addresses are connected to, so a
    /// name that later resolves elsewhere (DNS rebinding) changes nothing.
    /// Through an upstream proxy the proxy resolves again; the check then
    /// covers what this machine resolves.
    pub async fn dial_restricted(
        &self,
        host: &str,
        port: u16,
        policy: &crate::access::TunnelPolicy,
    ) -> Result<OutboundStream, DialError> {
        if !policy.shared {
            return self.dial(host, port).await;
        }
        let target = authority(host, port);
        let bare = bare_host(host);
        let work = async {
            let resolved: Vec<std::net::SocketAddr> = tokio::net::lookup_host((bare, port))
                .await
                .map_err(|source| DialError::Connect {
                    target: target.clone(),
                    source,
                })?
                .collect();
            let allowed: Vec<_> = resolved
                .iter()
                .filter(|a| policy.address_allowed(a.ip()))
                .copied()
                .collect();
            if allowed.is_empty() {
                let ips: Vec<String> = resolved.iter().map(|a| a.ip().to_string()).collect();
                return Err(DialError::Forbidden {
                    target: target.clone(),
                    reason: format!(
                        "it resolves to {} (internal; see tunnel.allow_cidrs)",
                        ips.join(", ")
                    ),
                });
            }
            if let Some(proxy) = self.proxy.as_ref().filter(|p| !p.bypasses(host)) {
                return self.through(proxy, host, port, &target).await;
            }
            let mut last = None;
            for addr in allowed {
                match TcpStream::connect(addr).await {
                    Ok(stream) => {
                        crate::tcp::tune(&stream);
                        return Ok(OutboundStream::Tcp(stream));
                    }
                    Err(e) => last = Some(e),
                }
            }
            Err(DialError::Connect {
                target: target.clone(),
                source: last.unwrap_or_else(|| std::io::Error::other("no address")),
            })
        };
        tokio::time::timeout(self.connect_timeout, work)
            .await
            .map_err(|_| DialError::Timeout {
                target: target.clone(),
            })?
    }

    async fn through(
        &self,
        proxy: &UpstreamProxy,
        host: &str,
        port: u16,
        target: &str,
    ) -> Result<OutboundStream, DialError> {
        let proxy_target = authority(&proxy.host, proxy.port);
        let tcp = tcp(&proxy.host, proxy.port, &proxy_target).await?;
        let mut stream = match &self.proxy_tls {
            Some(connector) => {
                let name = ServerName::try_from(proxy.host.clone())
                    .map_err(|e| DialError::ProxyTls(std::io::Error::other(e)))?;
                let tls = connector
                    .connect(name, tcp)
                    .await
                    .map_err(DialError::ProxyTls)?;
                OutboundStream::Tls(Box::new(tls))
            }
            None => OutboundStream::Tcp(tcp),
        };
        proxy
            .handshake(&mut stream, host, port)
            .await
            .map_err(|source| DialError::Proxy {
                target: target.to_owned(),
                source,
            })?;
        Ok(stream)
    }
}

async fn tcp(host: &str, port: u16, target: &str) -> Result<TcpStream, DialError> {
    let host = bare_host(host);
    let stream = TcpStream::connect((host, port))
        .await
        .map_err(|source| DialError::Connect {
            target: target.to_owned(),
            source,
        })?;
    crate::tcp::tune(&stream);
    Ok(stream)
}

/// The outbound TLS config: system roots plus the upstream proxy's CA.
pub fn outbound_tls(
    proxy: Option<&UpstreamProxy>,
) -> Result<rustls::ClientConfig, tls::TrustError> {
    let extra = match proxy.and_then(|p| p.ca.as_deref()) {
        Some(path) => tls::read_pem_certs(path)?,
        None => Vec::new(),
    };
    tls::client_config(tls::root_store(&extra))
}
