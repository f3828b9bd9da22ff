//! Bridge mode: an intercepted request is sent to the bridge (a central
//! switchyard) with the bridge's token and a header naming the original
//! host. In soft mode an unreachable bridge (connection failure, 502, 503,
//! 504) means "go direct"; in strict mode it means 502 and nothing direct.

use crate::upstream::Body;
use bytes::Bytes;
use http::header::{HeaderMap, HeaderValue, AUTHORIZATION};
use http::{Method, Response};

use super::forward;
use super::{ApiCall, Ctx, Door};
use crate::bridge::{BridgeMode, BridgeSpec, HOST_HEADER};

/// A request as the bridge gets it.
pub struct Outbound {
    pub method: Method,
    pub path_and_query: String,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Outbound {
    pub fn from_call(call: &ApiCall) -> Outbound {
        Outbound {
            method: call.method.clone(),
            path_and_query: call.path_and_query.clone(),
            headers: call.headers.clone(),
            body: call.bytes.clone(),
        }
    }
}

pub enum Result {
    /// The bridge answered: deliver it.
    Answered(Response<Body>),
    /// Strict mode and the bridge is down.
    Refused(String),
    /// Soft mode and the bridge is down: carry on with the embedded gateway.
    GoDirect,
}

pub async fn send(ctx: &mut Ctx, bridge: &BridgeSpec, out: Outbound) -> Result {
    let Door::Intercept { host, .. } = &ctx.door else {
        return Result::GoDirect;
    };
    let mut headers = out.headers;
    if let Some(token) = &bridge.token {
        for name in &crate::headers::CREDENTIAL_HEADERS {
            headers.remove(name);
        }
        if let Ok(mut v) = HeaderValue::from_str(&format!("Bearer {}", token.expose())) {
            v.set_sensitive(true);
            headers.insert(AUTHORIZATION, v);
        }
        ctx.secrets.push(token.expose().to_owned());
    }
    if let Ok(v) = HeaderValue::from_str(host) {
        headers.insert(HOST_HEADER, v);
    }
    let url = format!("{}{}", bridge.url, out.path_and_query);
    let outbound = forward::Outbound::new(out.method, url, headers, crate::body::full(out.body));
    let failure = match forward::build(ctx, None, outbound) {
        Err((_, msg)) => msg,
        Ok(request) => match forward::send(ctx, request).await {
            Ok(resp) if !matches!(resp.status().as_u16(), 502..=504) => {
                ctx.record.provider = Some("bridge".to_owned());
                return Result::Answered(resp);
            }
            Ok(resp) => format!("bridge answered {}", resp.status()),
            Err((_, msg)) => msg,
        },
    };
    ctx.record.failover.push(format!("bridge: {failure}"));
    ctx.record.ttfb_ms = None;
    match bridge.mode {
        BridgeMode::Soft => {
            tracing::info!(error = %failure, "bridge unreachable; going direct (soft mode)");
            Result::GoDirect
        }
        BridgeMode::Strict => Result::Refused(format!(
            "the bridge is unreachable and bridge mode is strict: {failure}"
        )),
    }
}
