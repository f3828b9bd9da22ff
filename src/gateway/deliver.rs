//! Shaping the provider's answer for the client: converted back into the
//! client's protocol when the provider spoke another one, then tapped for
//! the audit record on its way out.

use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use bytes::Bytes;
use http::header::{HeaderValue, CONTENT_LENGTH, CONTENT_TYPE};
use http::{Response, StatusCode};
use http_body::{Body as HttpBody, Frame};

use super::tap::{Finisher, TapBody};
use super::Ctx;
use crate::audit::capture::Capture;
use crate::audit::usage::UsageTap;
use crate::convert::{self, StreamContext, StreamConverter};
use crate::headers::strip_hop_by_hop;
use crate::pool::Lease;
use crate::protocol::Protocol;
use crate::sse::SseParser;
use crate::upstream::{Body, BoxError};

/// Largest non-streamed upstream body converted in memory.
const MAX_CONVERTED_BODY: usize = 32 * 1024 * 1024;

/// The response must be converted from `upstream` to `client`.
pub struct Conversion {
    pub upstream: Protocol,
    pub client: Protocol,
    pub context: StreamContext,
}

pub async fn deliver(
    ctx: Ctx,
    protocol: Option<Protocol>,
    resp: Response<Body>,
    conversion: Option<Conversion>,
    lease: Option<Lease>,
) -> Response<Body> {
    shape(ctx, protocol, resp, conversion, lease, None).await
}

/// For passthrough: the request body streamed, so its capture is shared.
pub async fn deliver_with_capture(
    ctx: Ctx,
    protocol: Option<Protocol>,
    resp: Response<Body>,
    request: Option<Arc<Mutex<Capture>>>,
) -> Response<Body> {
    shape(ctx, protocol, resp, None, None, request).await
}

fn is_sse(headers: &http::HeaderMap) -> bool {
    headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| {
            const SSE: &str = "text/event-stream";
            ct.trim_start()
                .get(..SSE.len())
                .is_some_and(|head| head.eq_ignore_ascii_case(SSE))
        })
}

async fn shape(
    mut ctx: Ctx,
    protocol: Option<Protocol>,
    resp: Response<Body>,
    conversion: Option<Conversion>,
    lease: Option<Lease>,
    request: Option<Arc<Mutex<Capture>>>,
) -> Response<Body> {
    let (mut parts, body) = resp.into_parts();
    strip_hop_by_hop(&mut parts.headers);
    let sse = is_sse(&parts.headers);
    if let (true, Some(live)) = (sse, &ctx.record.inflight) {
        live.mark_stream();
    }
    let mut stream_lossy = None;
    let converted = conversion.is_some();
    let body: Body = match conversion {
        None => body,
        Some(conv) => {
            parts.headers.remove(CONTENT_LENGTH);
            if !parts.status.is_success() {
                let bytes = collect(body, 1024 * 1024).await.unwrap_or_default();
                let json = convert::convert_error(
                    conv.upstream,
                    conv.client,
                    parts.status.as_u16(),
                    &bytes,
                );
                parts
                    .headers
                    .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
                crate::body::full(json.to_string())
            } else if sse {
                let lossy = Arc::new(Mutex::new(Vec::new()));
                stream_lossy = Some(lossy.clone());
                let converter = convert::stream_converter(conv.upstream, conv.client, conv.context);
                crate::body::boxed(ConvertSse::new(body, converter, lossy))
            } else {
                match convert_json(body, &conv).await {
                    Ok((bytes, lossy)) => {
                        merge_lossy(&mut ctx.record.lossy, &lossy);
                        parts
                            .headers
                            .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
                        crate::body::full(bytes)
                    }
                    Err(msg) => return ctx.reject(protocol, StatusCode::BAD_GATEWAY, &msg),
                }
            }
        }
    };
    if !ctx.record.lossy.is_empty() {
        if let Ok(v) = HeaderValue::from_str(&ctx.record.lossy.join(",")) {
            parts.headers.insert("x-switchyard-lossy", v);
        }
    }
    ctx.record.status = Some(parts.status.as_u16());
    let content_type = parts
        .headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok());
    let mut usage = UsageTap::new(content_type);
    // Read from the provider's answer: right for the client only when that
    // answer reaches it unconverted; a converted one is tapped as it goes.
    if let (Some(answer), false) = (ctx.answer.take(), converted) {
        usage.read_already(answer);
    }
    let finisher = Finisher {
        usage,
        capture: Capture::new(ctx.app.settings.audit.max_body_bytes),
        app: ctx.app.clone(),
        started: ctx.started,
        secrets: ctx.secrets,
        request,
        record: ctx.record,
        lease,
        stream_lossy,
    };
    let timeouts = &finisher.app.settings.timeouts;
    let idle = (timeouts.stream_idle, timeouts.tool_call);
    let error_protocol = if sse { protocol } else { None };
    let body = crate::body::boxed(TapBody::new(body, finisher, idle, sse, error_protocol));
    Response::from_parts(parts, body)
}

fn merge_lossy(into: &mut Vec<&'static str>, names: &[&'static str]) {
    for name in names {
        if !into.contains(name) {
            into.push(name);
        }
    }
}

async fn collect(body: Body, limit: usize) -> Result<Bytes, String> {
    crate::body::collect_limited(body, limit)
        .await
        .map_err(|e| format!("cannot read the upstream response: {e}"))
}

async fn convert_json(body: Body, conv: &Conversion) -> Result<(Bytes, Vec<&'static str>), String> {
    let bytes = collect(body, MAX_CONVERTED_BODY).await?;
    let json: serde_json::Value = serde_json::from_slice(&bytes)
        .map_err(|e| format!("the provider's response is not valid JSON: {e}"))?;
    let converted = convert::convert_response_for(conv.upstream, conv.client, json, &conv.context)
        .map_err(|e| format!("cannot convert the provider's response: {e}"))?;
    Ok((Bytes::from(converted.body.to_string()), converted.lossy))
}

/// An SSE body converted event by event: each upstream chunk's complete
/// events are converted and sent on at once.
struct ConvertSse {
    inner: Body,
    parser: SseParser,
    converter: Box<dyn StreamConverter>,
    lossy: Arc<Mutex<Vec<&'static str>>>,
    done: bool,
}

impl ConvertSse {
    fn new(
        inner: Body,
        converter: Box<dyn StreamConverter>,
        lossy: Arc<Mutex<Vec<&'static str>>>,
    ) -> ConvertSse {
        ConvertSse {
            inner,
            parser: SseParser::new(),
            converter,
            lossy,
            done: false,
        }
    }

    fn end(&mut self, events: Vec<crate::sse::SseEvent>) -> Option<Bytes> {
        self.done = true;
        if let Ok(mut lossy) = self.lossy.lock() {
            merge_lossy(&mut lossy, self.converter.lossy());
        }
        encode(events)
    }
}

fn encode(events: Vec<crate::sse::SseEvent>) -> Option<Bytes> {
    let bytes: Vec<u8> = events.iter().flat_map(|e| e.to_bytes()).collect();
    (!bytes.is_empty()).then(|| Bytes::from(bytes))
}

impl HttpBody for ConvertSse {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = &mut *self;
        loop {
            if this.done {
                return Poll::Ready(None);
            }
            match std::pin::Pin::new(&mut this.inner).poll_frame(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Some(Ok(frame))) => {
                    let Some(data) = frame.data_ref() else {
                        continue;
                    };
                    let events: Vec<_> = this
                        .parser
                        .push(data)
                        .iter()
                        .flat_map(|e| this.converter.push(e))
                        .collect();
                    if let Some(bytes) = encode(events) {
                        return Poll::Ready(Some(Ok(Frame::data(bytes))));
                    }
                }
                Poll::Ready(Some(Err(e))) => {
                    let events = this.converter.fail(&format!("upstream stream failed: {e}"));
                    return Poll::Ready(this.end(events).map(|b| Ok(Frame::data(b))));
                }
                Poll::Ready(None) => {
                    let events = this.converter.finish();
                    return Poll::Ready(this.end(events).map(|b| Ok(Frame::data(b))));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sse_is_recognised_in_any_case_with_parameters() {
        let with = |ct: &str| {
            let mut h = http::HeaderMap::new();
            h.insert(CONTENT_TYPE, http::HeaderValue::from_str(ct).unwrap());
            is_sse(&h)
        };
        assert!(with("text/event-stream"));
        assert!(with(" Text/Event-Stream; charset=utf-8"));
        assert!(!with("application/json"));
        assert!(!with("text/event"));
        assert!(!with("text/event-strea"));
        assert!(!is_sse(&http::HeaderMap::new()));
    }
}
