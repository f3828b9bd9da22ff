//! The request pipeline both doors share — requests decrypted on an
//! intercepted host and requests sent to the listener with a base URL:
//!
//! classify → route ([`plan`]) → convert → forward with failover
//! ([`forward`]) → convert back ([`deliver`]) → audit ([`tap`]).
//!
//! API calls (the three protocols) are read whole, because routing needs the
//! model; everything else streams through as passthrough. Responses always
//! stream, frame by frame.

mod bridge;
mod deliver;
mod forward;
mod models;
mod plan;
pub mod tap;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use http::{HeaderMap, Method, Request, Response, StatusCode};
use hyper::body::Incoming;

use crate::app::App;
use crate::audit::capture::Capture;
use crate::audit::usage::AnswerUsage;
use crate::audit::{Kind, Record};
use crate::body::ReadError;
use crate::boxed::boxed_in_place;
use crate::errors;
use crate::headers::credential_values;
use crate::protocol::Protocol;
use crate::upstream::Body;

/// How a request reached switchyard.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Door {
    /// Origin-form request to the listener (a client given a base URL, or a
    /// workstation switchyard in bridge mode).
    Gateway,
    /// Decrypted from a CONNECT to an intercepted host.
    Intercept { host: String, port: u16 },
    /// An absolute-form `http://` request to the forward proxy.
    Plain,
}

/// Per-request facts gathered before forwarding.
pub struct Ctx {
    pub app: Arc<App>,
    pub door: Door,
    pub started: Instant,
    /// Boxed: the context is moved several times per request, the record
    /// is most of its size.
    pub record: Box<Record>,
    /// Credential values the client sent, for redaction.
    pub secrets: Vec<String>,
    /// For bridged traffic: the host the workstation intercepted.
    pub bridged_host: Option<String>,
    /// The usage of a whole JSON answer, read while it was checked, for
    /// the audit tap (so that it is not parsed twice).
    pub answer: Option<AnswerUsage>,
}

/// A parsed API call.
pub struct ApiCall {
    pub protocol: Protocol,
    pub method: Method,
    pub query: Option<String>,
    pub path_and_query: String,
    pub headers: HeaderMap,
    pub bytes: Bytes,
    /// Input tokens the body is expected to cost (charged before upstream
    /// reports usage).
    pub estimate: u64,
    pub model: String,
    pub stream: bool,
}

/// Entry point for every proxied request.
pub async fn handle(
    app: Arc<App>,
    door: Door,
    peer: SocketAddr,
    mut req: Request<Incoming>,
) -> Response<Body> {
    // The paths are boxed: a future is as large as its largest await, and
    // this one is moved (copied whole) on every request.
    if crate::websocket::is_upgrade(&req) {
        return boxed_in_place(|| crate::websocket::handle(app, door, peer, req)).await;
    }
    let protocol = (req.method() == Method::POST)
        .then(|| Protocol::from_path(req.uri().path()))
        .flatten();
    let bridged_host = take_bridge_marker(&door, req.headers_mut());
    let ctx = Ctx::new(app, door, peer, &req, protocol, bridged_host);
    match protocol {
        Some(protocol) => boxed_in_place(|| api_call(ctx, protocol, req)).await,
        None if is_models_listing(&ctx, &req) => models::list(ctx, &req),
        None => boxed_in_place(|| passthrough(ctx, req)).await,
    }
}

/// Bridged requests carry the original host in a header, and the bridge's
/// own token in `Authorization`: both stop here.
fn take_bridge_marker(door: &Door, headers: &mut HeaderMap) -> Option<String> {
    if *door != Door::Gateway {
        return None;
    }
    let host = headers.remove(crate::bridge::HOST_HEADER)?;
    headers.remove(http::header::AUTHORIZATION);
    host.to_str().ok().map(str::to_ascii_lowercase)
}

fn is_models_listing(ctx: &Ctx, req: &Request<Incoming>) -> bool {
    let path = req.uri().path().trim_end_matches('/');
    req.method() == Method::GET
        && matches!(path, "/v1/models" | "/models")
        && ctx.door == Door::Gateway
        && !ctx.app.settings.routes.is_empty()
}

impl Ctx {
    fn new(
        app: Arc<App>,
        door: Door,
        peer: SocketAddr,
        req: &Request<Incoming>,
        protocol: Option<Protocol>,
        bridged_host: Option<String>,
    ) -> Ctx {
        let kind = match (&door, protocol) {
            (Door::Intercept { .. }, Some(_)) => Kind::Intercept,
            (Door::Gateway, Some(_)) => Kind::Gateway,
            _ => Kind::Passthrough,
        };
        let header = |name| {
            req.headers()
                .get(name)
                .and_then(|v: &http::HeaderValue| v.to_str().ok())
                .map(str::to_owned)
        };
        let mut record = Box::new(Record::new(kind, crate::audit::client_address(peer)));
        record.inflight = Some(Arc::new(app.auditor.metrics().inflight()));
        record.method = Some(req.method().as_str().to_owned());
        let path = req
            .uri()
            .path_and_query()
            .map(|p| p.as_str())
            .unwrap_or("/");
        record.path = Some(crate::audit::redact::redact(path, &[]));
        record.host = match &door {
            Door::Intercept { host, .. } => Some(host.clone()),
            Door::Plain => req.uri().host().map(str::to_owned),
            Door::Gateway => bridged_host.clone().or_else(|| header(http::header::HOST)),
        };
        record.user_agent = header(http::header::USER_AGENT);
        record.request_id = header(crate::headers::X_REQUEST_ID);
        record.client_name = req
            .extensions()
            .get::<crate::access::ClientName>()
            .map(|c| c.0.clone());
        record.protocol = protocol.map(Protocol::name);
        Ctx {
            secrets: credential_values(req.headers()),
            app,
            door,
            started: Instant::now(),
            record,
            bridged_host,
            answer: None,
        }
    }

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
        self.app.file(*self.record);
        errors::response(self.app.settings.errors, protocol, status, message)
    }

    /// Secrets to redact: this request's credentials and configured keys.
    pub fn all_secrets(&self) -> Vec<&str> {
        self.secrets
            .iter()
            .chain(self.app.secrets())
            .map(String::as_str)
            .collect()
    }

    /// The host whose provider serves unrouted traffic, if any.
    fn host(&self) -> Option<&str> {
        match &self.door {
            Door::Intercept { host, .. } => Some(host),
            _ => self.bridged_host.as_deref(),
        }
    }
}

/// A call in one of the three API protocols.
async fn api_call(mut ctx: Ctx, protocol: Protocol, req: Request<Incoming>) -> Response<Body> {
    let (parts, body) = req.into_parts();
    let bytes = match read_body(body, ctx.app.settings.limits.max_request_body_bytes).await {
        Ok(b) => b,
        Err((status, msg)) => return ctx.reject(Some(protocol), status, &msg),
    };
    // The tree is built later, and only if the body must change.
    let peek = match crate::convert::peek::peek(&bytes) {
        Ok(p) => p,
        Err(e) => return ctx.reject(Some(protocol), StatusCode::BAD_REQUEST, &e.to_string()),
    };
    let Some(model) = peek.model else {
        return ctx.reject(
            Some(protocol),
            StatusCode::BAD_REQUEST,
            "request body has no \"model\" string",
        );
    };
    ctx.record.model = Some(model.clone());
    let stream = peek.stream;
    ctx.record.stream = stream;
    let mut capture = Capture::new(ctx.app.settings.audit.max_body_bytes);
    capture.push(&bytes);
    ctx.record.request_body = capture.into_text(&ctx.all_secrets());
    ctx.record.request_bytes = bytes.len() as u64;
    let call = ApiCall {
        protocol,
        method: parts.method,
        query: parts.uri.query().map(str::to_owned),
        path_and_query: parts
            .uri
            .path_and_query()
            .map(|p| p.as_str().to_owned())
            .unwrap_or_default(),
        headers: parts.headers,
        bytes,
        estimate: peek.estimate,
        model,
        stream,
    };
    if let Some(bridge) = ctx
        .app
        .settings
        .bridge
        .clone()
        .filter(|_| matches!(ctx.door, Door::Intercept { .. }))
    {
        let outbound = bridge::Outbound::from_call(&call);
        match bridge::send(&mut ctx, &bridge, outbound).await {
            bridge::Result::Answered(resp) => {
                return deliver::deliver(ctx, Some(protocol), resp, None, None).await
            }
            bridge::Result::Refused(msg) => {
                return ctx.reject(Some(protocol), StatusCode::BAD_GATEWAY, &msg)
            }
            bridge::Result::GoDirect => {}
        }
    }
    let plan = match plan::plan(&ctx, protocol, &call.model) {
        Ok(p) => p,
        Err(msg) => return ctx.reject(Some(protocol), StatusCode::BAD_GATEWAY, &msg),
    };
    forward::with_failover(ctx, call, plan).await
}

/// Anything else: forwarded unchanged, body streamed.
async fn passthrough(mut ctx: Ctx, req: Request<Incoming>) -> Response<Body> {
    let (parts, body) = req.into_parts();
    if ctx.door == Door::Plain {
        if let Err(msg) = shared_proxy_allows(&ctx, &parts.uri).await {
            return ctx.reject(None, StatusCode::FORBIDDEN, &msg);
        }
    }
    let path = parts
        .uri
        .path_and_query()
        .map(|p| p.as_str())
        .unwrap_or("/")
        .to_owned();
    ctx.record.model = model_in_path(&path).map(str::to_owned);
    let max_body = ctx.app.settings.audit.max_body_bytes;
    if let Some(bridge) = ctx
        .app
        .settings
        .bridge
        .clone()
        .filter(|_| matches!(ctx.door, Door::Intercept { .. }))
    {
        // Soft mode may have to send the body twice, so it is read first.
        let bytes = match read_body(body, ctx.app.settings.limits.max_request_body_bytes).await {
            Ok(b) => b,
            Err((status, msg)) => return ctx.reject(None, status, &msg),
        };
        ctx.record.request_bytes = bytes.len() as u64;
        let outbound = bridge::Outbound {
            method: parts.method.clone(),
            path_and_query: path.clone(),
            headers: parts.headers.clone(),
            body: bytes.clone(),
        };
        match bridge::send(&mut ctx, &bridge, outbound).await {
            bridge::Result::Answered(resp) => {
                return deliver::deliver(ctx, None, resp, None, None).await
            }
            bridge::Result::Refused(msg) => return ctx.reject(None, StatusCode::BAD_GATEWAY, &msg),
            bridge::Result::GoDirect => {}
        }
        let target = match plan::passthrough_target(&ctx, &parts.uri) {
            Ok(t) => t,
            Err(msg) => return ctx.reject(None, StatusCode::BAD_GATEWAY, &msg),
        };
        let out = forward::Outbound::new(
            parts.method,
            target.url(&path),
            parts.headers,
            crate::body::full(bytes),
        );
        return forward::passthrough(ctx, target, out).await;
    }
    let target = match plan::passthrough_target(&ctx, &parts.uri) {
        Ok(t) => t,
        Err(msg) => return ctx.reject(None, StatusCode::BAD_GATEWAY, &msg),
    };
    let capture = Arc::new(std::sync::Mutex::new(Capture::new(max_body)));
    let body = crate::body::boxed(tap::CountingBody::new(
        crate::body::boxed(body),
        capture.clone(),
    ));
    let mut out = forward::Outbound::new(parts.method, target.url(&path), parts.headers, body);
    out.request_capture = Some(capture);
    forward::passthrough(ctx, target, out).await
}

/// The model a Google-style path names, `…/models/{model}:{method}`, as
/// Gemini (`/v1beta/models/gemini-2.5-flash:generateContent`) and Vertex AI
/// call it: the only place such a call says which model it wants.
fn model_in_path(path_and_query: &str) -> Option<&str> {
    let path = path_and_query.split('?').next()?;
    let (_, rest) = path.rsplit_once("/models/")?;
    let (model, _method) = rest.split_once(':')?;
    (!model.is_empty() && !model.contains('/')).then_some(model)
}

/// A shared proxy forwards plain http:// only to allowed ports and
/// non-internal addresses, like its tunnels.
async fn shared_proxy_allows(ctx: &Ctx, uri: &http::Uri) -> Result<(), String> {
    let policy = &ctx.app.settings.tunnel;
    if !policy.shared {
        return Ok(());
    }
    let host = crate::upstream::bare_host(uri.host().unwrap_or_default());
    let port = uri.port_u16().unwrap_or(80);
    if !policy.port_allowed(port) {
        return Err(format!(
            "requests to port {port} are not allowed (tunnel.allowed_ports)"
        ));
    }
    let resolved = tokio::net::lookup_host((host, port))
        .await
        .map_err(|e| format!("cannot resolve {host}: {e}"))?;
    for addr in resolved {
        if !policy.address_allowed(addr.ip()) {
            return Err(format!(
                "{host} resolves to an internal address ({})",
                addr.ip()
            ));
        }
    }
    Ok(())
}

async fn read_body(body: Incoming, limit: usize) -> Result<Bytes, (StatusCode, String)> {
    crate::body::read_whole(body, limit)
        .await
        .map_err(|e| match e {
            ReadError::TooLarge => (
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("request body exceeds {limit} bytes (limits.max_request_body_bytes)"),
            ),
            ReadError::Body(e) => (
                StatusCode::BAD_REQUEST,
                format!("cannot read request body: {e}"),
            ),
        })
}

#[cfg(test)]
mod tests {
    use super::model_in_path;

    #[test]
    fn google_paths_name_their_model() {
        for (path, model) in [
            ("/v1beta/models/gemini-2.5-flash:generateContent", Some("gemini-2.5-flash")),
            (
                "/v1beta/models/gemini-3-pro:streamGenerateContent?alt=sse&key=AIza",
                Some("gemini-3-pro"),
            ),
            (
                "/v1/projects/p/locations/us-central1/publishers/google/models/gemini-2.0-flash:streamRawPredict",
                Some("gemini-2.0-flash"),
            ),
            ("/v1beta/models/gemini-2.5-flash", None),
            ("/v1beta/models/:generateContent", None),
            ("/v1/models", None),
            ("/v1/chat/completions?x=/models/a:b", None),
            ("/v1beta/models/a/b:generateContent", None),
        ] {
            assert_eq!(model_in_path(path), model, "{path}");
        }
    }
}
