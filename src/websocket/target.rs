//! Where a WebSocket upgrade goes and how the upstream half is opened: the
//! same provider an HTTP request on that host would reach, dialled through
//! the [`crate::upstream::Dialer`], TLS with the outbound rustls config, then
//! the client handshake carrying the client's headers and the provider's key.

use std::sync::Arc;

use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::{StatusCode, Uri};
use rustls_pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_rustls::TlsConnector;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::handshake::client::Response as HandshakeResponse;
use tokio_tungstenite::tungstenite::Error as WsError;
use tokio_tungstenite::WebSocketStream;

use crate::app::App;
use crate::audit::Record;
use crate::gateway::Door;
use crate::headers::strip_hop_by_hop;
use crate::providers::{CredentialSpec, ProviderSpec};

/// Any byte stream the upstream WebSocket can run on (plain or TLS).
pub trait Io: AsyncRead + AsyncWrite + Send + Unpin {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin> Io for T {}

pub type UpstreamStream = WebSocketStream<Box<dyn Io>>;

/// The upstream of one upgrade.
#[derive(Debug)]
pub struct Target {
    pub provider: Option<Arc<ProviderSpec>>,
    pub credential: Option<CredentialSpec>,
    /// `ws://` or `wss://`.
    pub url: Uri,
    pub tls: bool,
    pub host: String,
    pub port: u16,
}

/// An open upstream WebSocket and the response that opened it.
pub struct Upstream {
    pub stream: UpstreamStream,
    pub response: HandshakeResponse,
}

pub enum ConnectError {
    /// The upstream answered the upgrade with something other than `101`.
    Refused(http::Response<Option<Vec<u8>>>),
    /// switchyard could not reach or talk to the upstream.
    Failed(StatusCode, String),
}

/// Picks the upstream, as the HTTP pipeline would: the host's provider on an
/// intercepted host (its `base_url` with `http`→`ws`, `https`→`wss`, the path
/// joined like any passthrough path), else the host itself.
pub fn resolve(app: &App, door: &Door, uri: &Uri) -> Result<Target, String> {
    let path = uri.path_and_query().map(|p| p.as_str()).unwrap_or("/");
    let provider = if let Some(name) = &app.settings.single_provider {
        Some(
            app.provider(name)
                .ok_or_else(|| format!("provider {name:?} is not configured"))?,
        )
    } else {
        match door {
            Door::Intercept { host, .. } => app.provider_for_host(host),
            // The only WebSocket API a base-URL client can mean here is the
            // OpenAI Responses one.
            Door::Gateway => Some(
                app.provider("openai")
                    .ok_or_else(|| "no provider named \"openai\"".to_owned())?,
            ),
            Door::Plain => None,
        }
    };
    let http_url = match (&provider, door) {
        (Some(p), _) => p.passthrough_url(path),
        (None, Door::Intercept { host, port }) => {
            format!("https://{}{path}", crate::upstream::authority(host, *port))
        }
        (None, _) => match (uri.scheme_str(), uri.authority()) {
            (Some("http"), Some(authority)) => format!("http://{authority}{path}"),
            _ => return Err("only http:// URLs can be proxied without CONNECT".to_owned()),
        },
    };
    let (tls, rest) = if let Some(rest) = http_url.strip_prefix("https://") {
        (true, rest)
    } else if let Some(rest) = http_url.strip_prefix("http://") {
        (false, rest)
    } else {
        return Err(format!("cannot build a WebSocket URL from {http_url:?}"));
    };
    let scheme = if tls { "wss" } else { "ws" };
    let url: Uri = format!("{scheme}://{rest}")
        .parse()
        .map_err(|_| format!("cannot build a WebSocket URL from {http_url:?}"))?;
    let host = url
        .host()
        .map(|h| crate::upstream::bare_host(h).to_owned())
        .ok_or_else(|| format!("the WebSocket URL {url} has no host"))?;
    let port = url.port_u16().unwrap_or(if tls { 443 } else { 80 });
    // A session takes its credential round-robin from the provider's pool
    // (counted as one request); if every credential is limited it still
    // gets one: refusing a long-lived session for a per-minute window would
    // only make Codex fall back to HTTPS and count again.
    let credential = provider.as_ref().and_then(|p| {
        let index = app
            .pools()
            .get(&p.name)
            .and_then(|pool| pool.acquire(0, &[]).ok())
            .map(|lease| lease.credential())
            .unwrap_or(0);
        p.credentials.get(index).cloned()
    });
    Ok(Target {
        provider,
        credential,
        url,
        tls,
        host,
        port,
    })
}

/// Dials and handshakes the upstream within the request timeout.
pub async fn connect(
    app: &App,
    target: &Target,
    client_headers: &HeaderMap,
    record: &mut Record,
) -> Result<Upstream, ConnectError> {
    let headers = upstream_headers(app, target, client_headers, record);
    let timeout = app.settings.timeouts.request;
    match tokio::time::timeout(timeout, open(app, target, headers)).await {
        Ok(result) => result,
        Err(_) => Err(ConnectError::Failed(
            StatusCode::GATEWAY_TIMEOUT,
            format!(
                "upstream WebSocket {} did not answer within {}s",
                target.url,
                timeout.as_secs()
            ),
        )),
    }
}

async fn open(app: &App, target: &Target, headers: HeaderMap) -> Result<Upstream, ConnectError> {
    let failed = |msg: String| ConnectError::Failed(StatusCode::BAD_GATEWAY, msg);
    let tcp = app
        .dialer
        .dial(&target.host, target.port)
        .await
        .map_err(|e| failed(format!("upstream WebSocket: {e}")))?;
    let io: Box<dyn Io> = if target.tls {
        // The outbound config has no ALPN (the provider client adds its own); a
        // WebSocket handshake is HTTP/1.1 only, so say so.
        let mut config = (*app.outbound_tls).clone();
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        let name = ServerName::try_from(target.host.clone())
            .map_err(|e| failed(format!("upstream WebSocket host {:?}: {e}", target.host)))?;
        let tls = TlsConnector::from(Arc::new(config))
            .connect(name, tcp)
            .await
            .map_err(|e| {
                failed(format!(
                    "TLS to the upstream WebSocket {}: {e}",
                    target.host
                ))
            })?;
        Box::new(tls)
    } else {
        Box::new(tcp)
    };
    let mut request = target
        .url
        .clone()
        .into_client_request()
        .map_err(|e| failed(format!("cannot build the upstream WebSocket request: {e}")))?;
    request.headers_mut().extend(headers);
    match tokio_tungstenite::client_async_with_config(request, io, None).await {
        Ok((stream, response)) => Ok(Upstream { stream, response }),
        Err(WsError::Http(response)) => Err(ConnectError::Refused(*response)),
        Err(e) => Err(failed(format!("upstream WebSocket handshake: {e}"))),
    }
}

/// Headers owned by the WebSocket handshake of one hop; never copied across.
pub fn is_handshake_header(name: &HeaderName) -> bool {
    name == header::HOST || name.as_str().starts_with("sec-websocket-")
}

/// The client's headers, minus hop-by-hop and handshake headers (tungstenite
/// writes its own), with the provider's key and the configured extra headers.
/// The client's subprotocol offer is kept: the upstream chooses.
fn upstream_headers(
    app: &App,
    target: &Target,
    client: &HeaderMap,
    record: &mut Record,
) -> HeaderMap {
    let mut headers = client.clone();
    strip_hop_by_hop(&mut headers);
    let protocols: Vec<HeaderValue> = headers
        .get_all(header::SEC_WEBSOCKET_PROTOCOL)
        .iter()
        .cloned()
        .collect();
    let drop: Vec<HeaderName> = headers
        .keys()
        .filter(|n| is_handshake_header(n))
        .cloned()
        .collect();
    for name in drop {
        headers.remove(name);
    }
    for protocol in protocols {
        headers.append(header::SEC_WEBSOCKET_PROTOCOL, protocol);
    }
    if let Some(provider) = &target.provider {
        let key = target.credential.as_ref().and_then(|c| c.key.as_ref());
        provider.kind.inject_auth(&mut headers, key);
    }
    for (name, value) in &app.settings.headers {
        headers.insert(name.clone(), value.clone());
    }
    let request_id = match headers.get("x-request-id").and_then(|v| v.to_str().ok()) {
        Some(id) => id.to_owned(),
        None => {
            if let Ok(v) = HeaderValue::from_str(&record.id) {
                headers.insert("x-request-id", v);
            }
            record.id.clone()
        }
    };
    record.request_id = Some(request_id);
    headers
}
