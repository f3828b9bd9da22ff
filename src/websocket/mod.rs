//! WebSocket upgrades on intercepted hosts (and on the gateway door): the
//! OpenAI Responses WebSocket that Codex CLI opens first, or any other
//! `Upgrade: websocket` request.
//!
//! switchyard terminates the WebSocket on both sides instead of splicing
//! bytes, so that it can read the messages for the audit record (model from
//! the client's `response.create`, usage from `response.completed`) while
//! relaying every message the moment it arrives:
//!
//! 1. [`target`] picks the upstream (the host's provider, as for any other
//!    path), dials it through [`crate::upstream::Dialer`] (so the corporate
//!    proxy is honoured), speaks TLS with the outbound rustls config, and runs
//!    the client handshake with the client's headers and the provider's key.
//! 2. Only when the upstream accepted does the client get its `101`; a refusal
//!    (401, 404, 426 …) reaches the client with the upstream's status and body,
//!    which is what makes Codex fall back to HTTPS.
//! 3. [`relay`] copies messages both ways and keeps the tallies; one audit
//!    line is written when the session ends.
//!
//! Extensions (permessage-deflate) are negotiated per hop and switchyard
//! negotiates none, so every message it relays is plain. Pings are answered
//! per hop (tungstenite does it) rather than forwarded. HTTP/2 extended
//! CONNECT (RFC 8441) is not supported; clients that want a WebSocket speak
//! HTTP/1.1 (Codex does).
//!
//! Why tokio-tungstenite: it is the standard WebSocket codec for tokio (Codex
//! itself uses it); with default features off it brings only the handshake and
//! framing, and dialing and TLS stay switchyard's own.

mod relay;
mod target;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use http::header::{self, HeaderMap, HeaderValue};
use http::{Request, Response, StatusCode};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::protocol::Role;
use tokio_tungstenite::WebSocketStream;

use crate::app::App;
use crate::audit::{Kind, Record};
use crate::gateway::Door;
use crate::headers::credential_values;
use crate::protocol::Protocol;
use crate::upstream::Body;

/// Whether `req` asks to become a WebSocket (HTTP/1.1 `Upgrade: websocket`
/// with `Connection: upgrade`).
pub fn is_upgrade<B>(req: &Request<B>) -> bool {
    let has_token = |name: header::HeaderName, token: &str| {
        req.headers()
            .get_all(name)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .any(|t| t.trim().eq_ignore_ascii_case(token))
    };
    req.method() == http::Method::GET
        && has_token(header::UPGRADE, "websocket")
        && has_token(header::CONNECTION, "upgrade")
}

/// Proxies one WebSocket upgrade. Returns the `101` (the relay then runs in
/// a tracked task) or the error the client should see.
pub async fn handle(
    app: Arc<App>,
    door: Door,
    peer: SocketAddr,
    mut req: Request<Incoming>,
) -> Response<Body> {
    let started = Instant::now();
    let mut record = new_record(&door, peer, &req);
    let secrets = credential_values(req.headers());
    let Some(key) = client_key(req.headers()) else {
        return reject(
            &app,
            record,
            started,
            StatusCode::BAD_REQUEST,
            "WebSocket upgrade without Sec-WebSocket-Key or with a version other than 13",
        );
    };
    let target = match target::resolve(&app, &door, req.uri()) {
        Ok(t) => t,
        Err(msg) => return reject(&app, record, started, StatusCode::BAD_GATEWAY, &msg),
    };
    record.provider = target.provider.as_ref().map(|p| p.name.clone());
    record.credential = target.credential.as_ref().map(|c| c.name.clone());
    let on_upgrade = hyper::upgrade::on(&mut req);
    let upstream = match target::connect(&app, &target, req.headers(), &mut record).await {
        Ok(u) => u,
        Err(target::ConnectError::Refused(response)) => {
            return refused(&app, record, started, &secrets, response)
        }
        Err(target::ConnectError::Failed(status, msg)) => {
            return reject(&app, record, started, status, &msg)
        }
    };
    record.ttfb_ms = Some(started.elapsed().as_millis() as u64);
    let response = switching_protocols(&key, upstream.response.headers());
    let task_app = app.clone();
    app.tasks.spawn(async move {
        let client = match on_upgrade.await {
            Ok(upgraded) => {
                WebSocketStream::from_raw_socket(TokioIo::new(upgraded), Role::Server, None).await
            }
            Err(e) => {
                record.status = Some(101);
                record.error = Some(format!("client upgrade failed: {e}"));
                record.duration_ms = started.elapsed().as_millis() as u64;
                task_app.file(record);
                return;
            }
        };
        relay::run(task_app, client, upstream.stream, record, started, secrets).await;
    });
    response
}

/// The record for a WebSocket session, identity filled in.
fn new_record(door: &Door, peer: SocketAddr, req: &Request<Incoming>) -> Record {
    let kind = match door {
        Door::Intercept { .. } => Kind::Intercept,
        Door::Gateway => Kind::Gateway,
        Door::Plain => Kind::Passthrough,
    };
    let mut record = Record::new(kind, crate::audit::client_address(peer));
    let path = req
        .uri()
        .path_and_query()
        .map(|p| p.as_str())
        .unwrap_or("/");
    record.method = Some(req.method().to_string());
    record.client_name = req
        .extensions()
        .get::<crate::access::ClientName>()
        .map(|c| c.0.clone());
    record.path = Some(crate::audit::redact::redact(path, &[]));
    record.host = match door {
        Door::Intercept { host, .. } => Some(host.clone()),
        Door::Plain => req.uri().host().map(str::to_owned),
        Door::Gateway => req
            .headers()
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .map(str::to_owned),
    };
    record.user_agent = req
        .headers()
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    record.protocol = Protocol::from_path(req.uri().path())
        .filter(|p| *p == Protocol::OpenAiResponses)
        .map(Protocol::name);
    record.stream = true;
    record
}

/// The client's `Sec-WebSocket-Key`, if the handshake is one we can accept.
fn client_key(headers: &HeaderMap) -> Option<String> {
    let version_ok = headers
        .get(header::SEC_WEBSOCKET_VERSION)
        .is_some_and(|v| v.as_bytes() == b"13");
    let key = headers.get(header::SEC_WEBSOCKET_KEY)?.to_str().ok()?;
    (version_ok && !key.is_empty()).then(|| key.to_owned())
}

/// The `101` for the client: our own accept key, the subprotocol the upstream
/// chose, and the upstream's other response headers (Codex reads some, e.g.
/// `x-codex-turn-state`, `openai-model`).
fn switching_protocols(key: &str, upstream: &HeaderMap) -> Response<Body> {
    let mut response = Response::new(crate::body::empty());
    *response.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    let headers = response.headers_mut();
    for (name, value) in upstream {
        if !target::is_handshake_header(name) && name != header::CONTENT_LENGTH {
            headers.append(name.clone(), value.clone());
        }
    }
    crate::headers::strip_hop_by_hop(headers);
    if let Some(protocol) = upstream.get(header::SEC_WEBSOCKET_PROTOCOL) {
        headers.insert(header::SEC_WEBSOCKET_PROTOCOL, protocol.clone());
    }
    headers.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
    headers.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
    if let Ok(accept) = HeaderValue::from_str(&derive_accept_key(key.as_bytes())) {
        headers.insert(header::SEC_WEBSOCKET_ACCEPT, accept);
    }
    response
}

/// switchyard's own refusal, audited.
fn reject(
    app: &App,
    mut record: Record,
    started: Instant,
    status: StatusCode,
    message: &str,
) -> Response<Body> {
    tracing::info!(path = ?record.path, %status, error = message, "WebSocket upgrade not proxied");
    record.status = Some(status.as_u16());
    record.error = Some(message.to_owned());
    if record.provider.is_none() {
        record.kind = Kind::Rejected;
    }
    record.duration_ms = started.elapsed().as_millis() as u64;
    app.file(record);
    // OpenAI-shaped: the only WebSocket API on the provider hosts is the
    // Responses one.
    let protocol = Some(Protocol::OpenAiResponses);
    crate::errors::response(app.settings.errors, protocol, status, message)
}

/// The upstream said no to the upgrade: its status, headers and body go to
/// the client unchanged (Codex falls back to HTTPS on that).
fn refused(
    app: &App,
    mut record: Record,
    started: Instant,
    secrets: &[String],
    upstream: http::Response<Option<Vec<u8>>>,
) -> Response<Body> {
    let (mut parts, body) = upstream.into_parts();
    let body = body.unwrap_or_default();
    crate::headers::strip_hop_by_hop(&mut parts.headers);
    parts.headers.remove(header::CONTENT_LENGTH);
    record.status = Some(parts.status.as_u16());
    record.response_bytes = body.len() as u64;
    record.error = Some(format!(
        "upstream refused the WebSocket upgrade with {}",
        parts.status
    ));
    let mut capture = crate::audit::capture::Capture::new(app.settings.audit.max_body_bytes);
    capture.push(&body);
    let all: Vec<&str> = secrets
        .iter()
        .chain(app.secrets())
        .map(String::as_str)
        .collect();
    record.response_body = capture.text(&all);
    record.duration_ms = started.elapsed().as_millis() as u64;
    app.file(record);
    Response::from_parts(parts, crate::body::full(body))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(headers: &[(&str, &str)]) -> Request<()> {
        let mut b = Request::builder().method("GET").uri("/v1/responses");
        for (k, v) in headers {
            b = b.header(*k, *v);
        }
        b.body(()).unwrap()
    }

    #[test]
    fn recognises_upgrades_case_insensitively() {
        assert!(is_upgrade(&req(&[
            ("upgrade", "WebSocket"),
            ("connection", "keep-alive, Upgrade")
        ])));
        assert!(!is_upgrade(&req(&[("upgrade", "websocket")])));
        assert!(!is_upgrade(&req(&[
            ("upgrade", "h2c"),
            ("connection", "upgrade")
        ])));
    }

    #[test]
    fn client_key_needs_version_13() {
        let mut h = HeaderMap::new();
        h.insert(
            header::SEC_WEBSOCKET_KEY,
            HeaderValue::from_static("dGhlIHNhbXBsZSBub25jZQ=="),
        );
        assert_eq!(client_key(&h), None);
        h.insert(
            header::SEC_WEBSOCKET_VERSION,
            HeaderValue::from_static("13"),
        );
        assert_eq!(client_key(&h).as_deref(), Some("dGhlIHNhbXBsZSBub25jZQ=="));
    }

    #[test]
    fn switching_protocols_answers_the_client_key() {
        let mut upstream = HeaderMap::new();
        upstream.insert("x-codex-turn-state", HeaderValue::from_static("t1"));
        upstream.insert(
            header::SEC_WEBSOCKET_ACCEPT,
            HeaderValue::from_static("upstream-accept"),
        );
        upstream.insert(
            header::SEC_WEBSOCKET_PROTOCOL,
            HeaderValue::from_static("p"),
        );
        let r = switching_protocols("dGhlIHNhbXBsZSBub25jZQ==", &upstream);
        assert_eq!(r.status(), StatusCode::SWITCHING_PROTOCOLS);
        // RFC 6455 §1.3's example key and answer.
        assert_eq!(
            r.headers()[header::SEC_WEBSOCKET_ACCEPT],
            "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
        );
        assert_eq!(r.headers()["x-codex-turn-state"], "t1");
        assert_eq!(r.headers()[header::SEC_WEBSOCKET_PROTOCOL], "p");
    }
}
