//! Sending a request upstream and shaping what comes back.

use std::sync::Arc;

use http::header::{HeaderMap, HeaderValue, HOST};
use http::{Method, Request, Response, StatusCode};

use super::tap::{Finisher, TapBody};
use super::{Ctx, Target};
use crate::audit::capture::Capture;
use crate::audit::usage::UsageTap;
use crate::headers::strip_hop_by_hop;
use crate::protocol::Protocol;
use crate::upstream::Body;

/// A request ready to leave.
pub struct Outbound {
    pub method: Method,
    pub url: String,
    pub headers: HeaderMap,
    pub body: Body,
    /// Set when the request body streams (passthrough) instead of being buffered.
    pub request_capture: Option<Arc<std::sync::Mutex<Capture>>>,
}

/// Sends `out` to `target`, returning the client's response. The audit
/// record is filed when the response body ends.
pub async fn send(
    mut ctx: Ctx,
    protocol: Option<Protocol>,
    target: &Target,
    out: Outbound,
) -> Response<Body> {
    let request_capture = out.request_capture.clone();
    let request = match build(&mut ctx, target, out) {
        Ok(r) => r,
        Err(msg) => return ctx.reject(protocol, StatusCode::BAD_REQUEST, &msg),
    };
    let timeout = ctx.app.settings.timeouts.request;
    let response = match tokio::time::timeout(timeout, ctx.app.client.request(request)).await {
        Ok(Ok(r)) => r,
        Ok(Err(e)) => {
            let msg = format!("upstream request failed: {}", error_chain(&e));
            return ctx.reject(protocol, StatusCode::BAD_GATEWAY, &msg);
        }
        Err(_) => {
            let msg = format!("upstream did not answer within {}s", timeout.as_secs());
            return ctx.reject(protocol, StatusCode::GATEWAY_TIMEOUT, &msg);
        }
    };
    ctx.record.ttfb_ms = Some(ctx.started.elapsed().as_millis() as u64);
    ctx.record.status = Some(response.status().as_u16());
    let (mut parts, body) = response.into_parts();
    strip_hop_by_hop(&mut parts.headers);
    let content_type = parts
        .headers
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok());
    if let (Some(live), Some(ct)) = (&ctx.record.inflight, content_type) {
        if ct.starts_with("text/event-stream") {
            live.mark_stream();
        }
    }
    let finisher = Finisher {
        usage: UsageTap::new(content_type),
        capture: Capture::new(ctx.app.settings.audit.max_body_bytes),
        app: ctx.app.clone(),
        started: ctx.started,
        secrets: ctx.secrets,
        request: request_capture,
        record: ctx.record,
    };
    let idle = ctx.app.settings.timeouts.stream_idle;
    let body = crate::body::boxed(TapBody::new(crate::body::boxed(body), finisher, idle));
    Response::from_parts(parts, body)
}

fn build(ctx: &mut Ctx, target: &Target, out: Outbound) -> Result<Request<Body>, String> {
    let mut headers = out.headers;
    strip_hop_by_hop(&mut headers);
    headers.remove(HOST);
    if let Target::Provider(provider, credential) = target {
        let credential = provider.credentials.get(*credential);
        ctx.record.provider = Some(provider.name.clone());
        ctx.record.credential = credential.map(|c| c.name.clone());
        provider
            .kind
            .inject_auth(&mut headers, credential.and_then(|c| c.key.as_ref()));
    }
    for (name, value) in &ctx.app.settings.headers {
        headers.insert(name.clone(), value.clone());
    }
    let request_id = match headers.get("x-request-id").and_then(|v| v.to_str().ok()) {
        Some(id) => id.to_owned(),
        None => {
            let id = ctx.record.id.clone();
            if let Ok(v) = HeaderValue::from_str(&id) {
                headers.insert("x-request-id", v);
            }
            id
        }
    };
    ctx.record.request_id = Some(request_id);
    let uri: http::Uri = out
        .url
        .parse()
        .map_err(|_| format!("cannot build an upstream URL from {:?}", out.url))?;
    let mut request = Request::builder()
        .method(out.method)
        .uri(uri)
        .body(out.body)
        .map_err(|e| format!("cannot build the upstream request: {e}"))?;
    *request.headers_mut() = headers;
    Ok(request)
}

/// The error and its causes on one line (hyper's top-level message alone
/// says little, e.g. "client error (Connect)").
pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
}
