//! The request pipeline both doors share — requests decrypted on an
//! intercepted host and requests sent to the listener with a base URL:
//!
//! classify → route → convert → forward → convert back → audit.
//!
//! API calls (the three protocols) are read whole, because routing needs the
//! model; everything else streams through as passthrough. Responses always
//! stream, frame by frame.

mod forward;
pub mod tap;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use serde_json::Value;

use crate::app::App;
use crate::audit::capture::Capture;
use crate::audit::{Kind, Record};
use crate::errors;
use crate::headers::credential_values;
use crate::protocol::Protocol;
use crate::providers::ProviderSpec;
use crate::upstream::Body;

/// Largest API request body read into memory.
pub const MAX_REQUEST_BODY: usize = 32 * 1024 * 1024;

/// How a request reached switchyard.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Door {
    /// Origin-form request to the listener (a client given a base URL).
    Gateway,
    /// Decrypted from a CONNECT to an intercepted host.
    Intercept { host: String, port: u16 },
    /// An absolute-form `http://` request to the forward proxy.
    Plain,
}

/// Where a request is sent.
#[derive(Debug, Clone)]
pub enum Target {
    /// A provider, with the credential chosen for it.
    Provider(Arc<ProviderSpec>, usize),
    /// The original host itself (intercepted host without a provider, or a
    /// plain http:// request).
    Origin(String),
}

/// Per-request facts gathered before forwarding.
pub struct Ctx {
    pub app: Arc<App>,
    pub door: Door,
    pub started: Instant,
    pub record: Record,
    /// Credential values the client sent, for redaction.
    pub secrets: Vec<String>,
}

/// Entry point for every proxied request.
pub async fn handle(
    app: Arc<App>,
    door: Door,
    peer: SocketAddr,
    req: Request<Incoming>,
) -> Response<Body> {
    if crate::websocket::is_upgrade(&req) {
        return crate::websocket::handle(app, door, peer, req).await;
    }
    let protocol = (req.method() == Method::POST)
        .then(|| Protocol::from_path(req.uri().path()))
        .flatten();
    let kind = match (&door, protocol) {
        (Door::Intercept { .. }, Some(_)) => Kind::Intercept,
        (Door::Gateway, Some(_)) => Kind::Gateway,
        _ => Kind::Passthrough,
    };
    let mut record = Record::new(kind, peer.to_string());
    record.method = Some(req.method().to_string());
    record.path = Some(crate::audit::redact::redact(
        req.uri()
            .path_and_query()
            .map(|p| p.as_str())
            .unwrap_or("/"),
        &[],
    ));
    record.host = match &door {
        Door::Intercept { host, .. } => Some(host.clone()),
        Door::Plain => req.uri().host().map(str::to_owned),
        Door::Gateway => req
            .headers()
            .get(http::header::HOST)
            .and_then(|h| h.to_str().ok())
            .map(str::to_owned),
    };
    record.user_agent = req
        .headers()
        .get(http::header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    record.protocol = protocol.map(Protocol::name);
    let ctx = Ctx {
        secrets: credential_values(req.headers()),
        app,
        door,
        started: Instant::now(),
        record,
    };
    match protocol {
        Some(protocol) => api_call(ctx, protocol, req).await,
        None => passthrough(ctx, req).await,
    }
}

impl Ctx {
    /// Answers with switchyard's own error and files the record.
    pub fn reject(
        mut self,
        protocol: Option<Protocol>,
        status: StatusCode,
        message: &str,
    ) -> Response<Body> {
        self.record.status = Some(status.as_u16());
        self.record.error = Some(message.to_owned());
        if self.record.provider.is_none() {
            self.record.kind = Kind::Rejected;
        }
        self.record.duration_ms = self.started.elapsed().as_millis() as u64;
        self.app.auditor.record(self.record);
        errors::response(self.app.settings.errors, protocol, status, message)
    }
}

/// A call in one of the three API protocols.
async fn api_call(mut ctx: Ctx, protocol: Protocol, req: Request<Incoming>) -> Response<Body> {
    let (parts, body) = req.into_parts();
    let bytes = match read_body(body).await {
        Ok(b) => b,
        Err(BodyError::TooLarge) => {
            let msg = format!("request body exceeds {MAX_REQUEST_BODY} bytes");
            return ctx.reject(Some(protocol), StatusCode::PAYLOAD_TOO_LARGE, &msg);
        }
        Err(BodyError::Read(e)) => {
            return ctx.reject(
                Some(protocol),
                StatusCode::BAD_REQUEST,
                &format!("cannot read request body: {e}"),
            )
        }
    };
    let json: Value = match serde_json::from_slice(&bytes) {
        Ok(v @ Value::Object(_)) => v,
        Ok(_) => {
            return ctx.reject(
                Some(protocol),
                StatusCode::BAD_REQUEST,
                "request body must be a JSON object",
            )
        }
        Err(e) => {
            return ctx.reject(
                Some(protocol),
                StatusCode::BAD_REQUEST,
                &format!("request body is not valid JSON: {e}"),
            )
        }
    };
    let Some(model) = json.get("model").and_then(Value::as_str).map(str::to_owned) else {
        return ctx.reject(
            Some(protocol),
            StatusCode::BAD_REQUEST,
            "request body has no \"model\" string",
        );
    };
    ctx.record.model = Some(model.clone());
    ctx.record.stream = json.get("stream").and_then(Value::as_bool).unwrap_or(false);
    let mut capture = Capture::new(ctx.app.settings.audit.max_body_bytes);
    capture.push(&bytes);
    let secrets: Vec<&str> = ctx
        .secrets
        .iter()
        .chain(ctx.app.secrets())
        .map(String::as_str)
        .collect();
    ctx.record.request_body = capture.text(&secrets);
    ctx.record.request_bytes = bytes.len() as u64;

    let target = match select_target(&ctx, Some(protocol), &parts.uri) {
        Ok(t) => t,
        Err(msg) => return ctx.reject(Some(protocol), StatusCode::BAD_GATEWAY, &msg),
    };
    let url = match &target {
        Target::Provider(p, _) => p.endpoint_url(protocol, parts.uri.query()),
        Target::Origin(base) => format!(
            "{base}{}",
            parts
                .uri
                .path_and_query()
                .map(|p| p.as_str())
                .unwrap_or("/")
        ),
    };
    let mut headers = parts.headers;
    // Compressed responses could not be read for usage; ask for identity.
    headers.remove(http::header::ACCEPT_ENCODING);
    let outbound = forward::Outbound {
        method: parts.method,
        url,
        headers,
        body: crate::body::full(bytes),
        request_capture: None,
    };
    forward::send(ctx, Some(protocol), &target, outbound).await
}

/// Anything else: forwarded unchanged, body streamed.
async fn passthrough(ctx: Ctx, req: Request<Incoming>) -> Response<Body> {
    let (parts, body) = req.into_parts();
    let target = match select_target(&ctx, None, &parts.uri) {
        Ok(t) => t,
        Err(msg) => return ctx.reject(None, StatusCode::BAD_GATEWAY, &msg),
    };
    let path = parts
        .uri
        .path_and_query()
        .map(|p| p.as_str())
        .unwrap_or("/");
    let url = match &target {
        Target::Provider(p, _) => p.passthrough_url(path),
        Target::Origin(base) => format!("{base}{path}"),
    };
    let capture = Arc::new(std::sync::Mutex::new(Capture::new(
        ctx.app.settings.audit.max_body_bytes,
    )));
    let body = crate::body::boxed(tap::CountingBody::new(
        crate::body::boxed(body),
        capture.clone(),
    ));
    let outbound = forward::Outbound {
        method: parts.method,
        url,
        headers: parts.headers,
        body,
        request_capture: Some(capture),
    };
    forward::send(ctx, None, &target, outbound).await
}

/// Picks the upstream for a request (the routing seam: model routes,
/// credential pools and failover plug in here).
fn select_target(ctx: &Ctx, protocol: Option<Protocol>, uri: &http::Uri) -> Result<Target, String> {
    let app = &ctx.app;
    if let Some(name) = &app.settings.single_provider {
        let p = app
            .provider(name)
            .ok_or_else(|| format!("provider {name:?} is not configured"))?;
        return Ok(Target::Provider(p, 0));
    }
    match &ctx.door {
        Door::Intercept { host, port } => Ok(match app.provider_for_host(host) {
            Some(p) => Target::Provider(p, 0),
            None => Target::Origin(format!(
                "https://{}",
                crate::upstream::authority(host, *port)
            )),
        }),
        Door::Plain => match (uri.scheme_str(), uri.authority()) {
            (Some("http"), Some(authority)) => Ok(Target::Origin(format!("http://{authority}"))),
            _ => Err("only http:// URLs can be proxied without CONNECT".to_owned()),
        },
        Door::Gateway => {
            let name = match protocol {
                Some(Protocol::AnthropicMessages) => "anthropic",
                Some(_) => "openai",
                None => native_guess(ctx),
            };
            app.provider(name)
                .map(|p| Target::Provider(p, 0))
                .ok_or_else(|| format!("no provider named {name:?}"))
        }
    }
}

/// For non-API gateway paths: Anthropic clients send `anthropic-version`
/// and use `/v1/messages/…` paths (count_tokens); everything else is OpenAI.
fn native_guess(ctx: &Ctx) -> &'static str {
    let path = ctx.record.path.as_deref().unwrap_or_default();
    if path.starts_with("/v1/messages")
        || path.starts_with("/messages")
        || ctx
            .record
            .user_agent
            .as_deref()
            .is_some_and(|ua| ua.contains("claude"))
    {
        "anthropic"
    } else {
        "openai"
    }
}

#[derive(Debug)]
enum BodyError {
    TooLarge,
    Read(String),
}

async fn read_body(body: Incoming) -> Result<Bytes, BodyError> {
    match Limited::new(body, MAX_REQUEST_BODY).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(e) if e.is::<http_body_util::LengthLimitError>() => Err(BodyError::TooLarge),
        Err(e) => Err(BodyError::Read(e.to_string())),
    }
}
