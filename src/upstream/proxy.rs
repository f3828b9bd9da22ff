//! The corporate upstream proxy: its URL, its no-proxy list, and the CONNECT
//! handshake that opens a tunnel through it.

use std::path::PathBuf;

use base64::Engine;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use crate::secret::Secret;

/// An HTTP(S) proxy every outbound connection is chained through.
#[derive(Debug, Clone)]
pub struct UpstreamProxy {
    pub tls: bool,
    pub host: String,
    pub port: u16,
    pub username: Option<String>,
    pub password: Option<Secret>,
    /// Extra CA to trust for an https:// proxy (and for origins it re-signs).
    pub ca: Option<PathBuf>,
    /// Hosts that bypass the proxy: exact names, globs (`*.corp`), `.suffix`,
    /// or `*` for everything.
    pub no_proxy: Vec<String>,
}

impl UpstreamProxy {
    /// Parses `http(s)://[user:pass@]host[:port]`.
    pub fn parse(url: &str) -> Result<UpstreamProxy, String> {
        let (tls, rest) = if let Some(r) = url.strip_prefix("http://") {
            (false, r)
        } else if let Some(r) = url.strip_prefix("https://") {
            (true, r)
        } else {
            return Err("the upstream proxy URL must start with http:// or https://".into());
        };
        let authority = rest.split('/').next().unwrap_or(rest);
        let (userinfo, hostport) = match authority.rsplit_once('@') {
            Some((u, h)) => (Some(u), h),
            None => (None, authority),
        };
        let parsed: http::uri::Authority = hostport
            .parse()
            .map_err(|_| "the upstream proxy URL has no valid host:port".to_owned())?;
        let host = bare_host(parsed.host());
        if host.is_empty() {
            return Err("the upstream proxy URL has no host".into());
        }
        let (username, password) = match userinfo {
            Some(info) => {
                let (u, p) = info.split_once(':').unwrap_or((info, ""));
                (
                    Some(percent_decode(u)),
                    Some(Secret::new(percent_decode(p))),
                )
            }
            None => (None, None),
        };
        Ok(UpstreamProxy {
            tls,
            host: host.to_owned(),
            port: parsed.port_u16().unwrap_or(if tls { 443 } else { 3128 }),
            username,
            password,
            ca: None,
            no_proxy: Vec::new(),
        })
    }

    /// Whether connections to `host` skip the proxy.
    pub fn bypasses(&self, host: &str) -> bool {
        let host = bare_host(host).to_ascii_lowercase();
        self.no_proxy.iter().any(|pattern| {
            let pattern = pattern.trim().to_ascii_lowercase();
            if pattern == "*" || pattern == host {
                return true;
            }
            if let Some(suffix) = pattern.strip_prefix('.') {
                return host.ends_with(&format!(".{suffix}")) || host == suffix;
            }
            wildmatch::WildMatch::new(&pattern).matches(&host)
        })
    }

    fn proxy_authorization(&self) -> Option<String> {
        let user = self.username.as_deref()?;
        let pass = self.password.as_ref().map(Secret::expose).unwrap_or("");
        let token = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{pass}"));
        Some(format!("Basic {token}"))
    }

    /// Sends `CONNECT host:port` on an open connection to the proxy and reads
    /// its answer. Only a 2xx opens the tunnel.
    pub async fn handshake<S>(
        &self,
        stream: &mut S,
        host: &str,
        port: u16,
    ) -> Result<(), ProxyError>
    where
        S: AsyncRead + AsyncWrite + Unpin,
    {
        let target = authority(host, port);
        let mut request = format!("CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n");
        if let Some(auth) = self.proxy_authorization() {
            request.push_str(&format!("Proxy-Authorization: {auth}\r\n"));
        }
        request.push_str("\r\n");
        stream
            .write_all(request.as_bytes())
            .await
            .map_err(ProxyError::Io)?;
        let head = read_head(stream).await?;
        let status_line = head.lines().next().unwrap_or_default();
        let status = status_line
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse::<u16>().ok());
        match status {
            Some(code) if (200..300).contains(&code) => Ok(()),
            Some(code) => Err(ProxyError::Refused { status: code }),
            None => Err(ProxyError::Malformed),
        }
    }
}

/// A host without the brackets an IPv6 literal wears in a URL or authority,
/// as name resolution, certificates and host comparisons want it.
pub fn bare_host(host: &str) -> &str {
    host.trim_start_matches('[').trim_end_matches(']')
}

/// `host:port`, bracketing IPv6 literals.
pub fn authority(host: &str, port: u16) -> String {
    if host.contains(':') && !host.starts_with('[') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ProxyError {
    #[error("upstream proxy I/O: {0}")]
    Io(std::io::Error),
    #[error("upstream proxy refused the tunnel with status {status}")]
    Refused { status: u16 },
    #[error("upstream proxy sent a malformed answer")]
    Malformed,
}

/// Reads a response head byte by byte so that no tunnel bytes after it are
/// consumed. Heads are tiny; this runs once per connection.
async fn read_head<S: AsyncRead + Unpin>(stream: &mut S) -> Result<String, ProxyError> {
    let mut head = Vec::with_capacity(256);
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if head.len() > 16 * 1024 {
            return Err(ProxyError::Malformed);
        }
        let n = stream.read(&mut byte).await.map_err(ProxyError::Io)?;
        if n == 0 {
            return Err(ProxyError::Malformed);
        }
        head.push(byte[0]);
    }
    Ok(String::from_utf8_lossy(&head).into_owned())
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok());
        match (bytes[i], hex.and_then(|h| u8::from_str_radix(h, 16).ok())) {
            (b'%', Some(v)) => {
                out.push(v);
                i += 3;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_credentials_and_default_ports() {
        let p = UpstreamProxy::parse("http://us%40er:p%3Ass@proxy.corp:8080").unwrap();
        assert_eq!(
            (p.host.as_str(), p.port, p.tls),
            ("proxy.corp", 8080, false)
        );
        assert_eq!(p.username.as_deref(), Some("us@er"));
        assert_eq!(p.password.as_ref().map(Secret::expose), Some("p:ss"));
        assert_eq!(UpstreamProxy::parse("https://proxy").unwrap().port, 443);
        assert!(UpstreamProxy::parse("socks5://x:1").is_err());
        assert!(!format!("{p:?}").contains("p:ss"));
    }

    #[test]
    fn no_proxy_patterns() {
        let mut p = UpstreamProxy::parse("http://proxy:3128").unwrap();
        p.no_proxy = vec![
            "localhost".into(),
            "*.corp".into(),
            ".internal".into(),
            "127.0.0.1".into(),
            "::1".into(),
        ];
        for host in [
            "localhost",
            "git.corp",
            "a.b.internal",
            "internal",
            "127.0.0.1",
            "LOCALHOST",
            "[::1]",
        ] {
            assert!(p.bypasses(host), "{host}");
        }
        for host in ["api.openai.com", "corp.example", "127.0.0.2"] {
            assert!(!p.bypasses(host), "{host}");
        }
    }

    #[test]
    fn bare_host_unbrackets_ipv6_literals_only() {
        assert_eq!(bare_host("[::1]"), "::1");
        assert_eq!(bare_host("::1"), "::1");
        assert_eq!(bare_host("api.openai.com"), "api.openai.com");
        assert_eq!(authority(bare_host("[::1]"), 443), "[::1]:443");
    }

    #[tokio::test]
    async fn handshake_sends_auth_and_accepts_2xx_only() {
        let p = UpstreamProxy::parse("http://u:pw@proxy:3128").unwrap();
        let (mut client, mut server) = tokio::io::duplex(4096);
        let serve = tokio::spawn(async move {
            let mut buf = vec![0u8; 1024];
            let n = server.read(&mut buf).await.unwrap();
            server
                .write_all(b"HTTP/1.1 407 Proxy Authentication Required\r\n\r\n")
                .await
                .unwrap();
            String::from_utf8_lossy(&buf[..n]).into_owned()
        });
        let err = p
            .handshake(&mut client, "example.com", 443)
            .await
            .unwrap_err();
        assert!(matches!(err, ProxyError::Refused { status: 407 }));
        let sent = serve.await.unwrap();
        assert!(sent.starts_with("CONNECT example.com:443 HTTP/1.1\r\n"));
        assert!(sent.contains("Proxy-Authorization: Basic dTpwdw==\r\n"));
    }
}
