//! Sending requests upstream: building them (conversion, model rewrite,
//! auth, headers) and, for API calls, failing over between credentials and
//! providers while nothing of the response has reached the client.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::header::{HeaderMap, HeaderValue, CONTENT_LENGTH, HOST};
use http::{Method, Request, Response, StatusCode};
use serde_json::Value;

use super::deliver::{self, Conversion};
use super::plan::{PassTarget, Plan};
use super::{ApiCall, Ctx};
use crate::audit::capture::Capture;
use crate::audit::usage::AnswerUsage;
use crate::boxed::boxed_in_place;
use crate::convert;
use crate::headers::{strip_hop_by_hop, X_REQUEST_ID};
use crate::pool::{parse_retry_after, Lease, Outcome};
use crate::protocol::Protocol;
use crate::providers::ProviderSpec;
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

impl Outbound {
    pub fn new(method: Method, url: String, headers: HeaderMap, body: Body) -> Outbound {
        Outbound {
            method,
            url,
            headers,
            body,
            request_capture: None,
        }
    }
}

/// Why an attempt did not produce a response to deliver.
enum Failed {
    /// The provider answered with a status worth failing over on.
    Answer(Box<(Response<Body>, Option<Conversion>, Lease)>),
    /// No answer at all.
    Error(StatusCode, String),
}

/// Sends an API call to the first available provider of the plan, moving on
/// after 429, 5xx, timeouts and connection failures.
pub async fn with_failover(mut ctx: Ctx, mut call: ApiCall, plan: Plan) -> Response<Body> {
    ctx.record.route = plan.route.clone();
    if let Some(origin) = &plan.origin {
        let target = PassTarget::Origin(origin.clone());
        let url = target.url(&call.path_and_query);
        let out = Outbound::new(
            call.method.clone(),
            url,
            std::mem::take(&mut call.headers),
            crate::body::full(call.bytes.clone()),
        );
        // Boxed, as is give_up: rarer paths that would otherwise set the
        // size of this future, which is copied whole on every request.
        return boxed_in_place(|| passthrough(ctx, target, out)).await;
    }
    let estimate = call.estimate;
    let may_retry = plan.may_retry();
    let mut tried: Vec<(String, usize)> = Vec::new();
    let mut last: Option<Failed> = None;
    loop {
        let (provider, mut lease) = match pick(&ctx, &plan, &tried, estimate).await {
            Ok(picked) => picked,
            Err(wait) => return boxed_in_place(|| give_up(ctx, call.protocol, last, wait)).await,
        };
        let credential = lease.credential();
        // hyper takes the request it sends: an attempt that may be followed
        // by another works on a copy of the client's headers, the only
        // possible one (the usual plan: one provider, one key) on them.
        let headers = if may_retry {
            call.headers.clone()
        } else {
            std::mem::take(&mut call.headers)
        };
        let attempt = attempt(&mut ctx, &call, headers, &plan, &provider, &lease).await;
        // Only a failed attempt is noted: built then, not on every request.
        let note = |what: &str, lease: &Lease| {
            format!(
                "{}/{}: {what}",
                provider.name,
                credential_name(&provider, lease)
            )
        };
        match attempt {
            // The outcome is taken first: a borrow of the (non-Sync) body held
            // across the awaits below would make this future non-Send.
            Ok((resp, conversion)) => match failover_outcome(&resp) {
                None => match complete_json(read_limits(&ctx), resp).await {
                    Ok((resp, answer)) => {
                        ctx.answer = answer;
                        lease.report(Outcome::Success).await;
                        let protocol = Some(call.protocol);
                        return deliver::deliver(ctx, protocol, resp, conversion, Some(lease))
                            .await;
                    }
                    Err(message) => {
                        lease.report(Outcome::ServerError).await;
                        ctx.record.failover.push(note(&message, &lease));
                        last = Some(Failed::Error(StatusCode::BAD_GATEWAY, message));
                    }
                },
                Some(outcome) => {
                    lease.report(outcome).await;
                    ctx.record
                        .failover
                        .push(note(resp.status().as_str(), &lease));
                    last = Some(Failed::Answer(Box::new((resp, conversion, lease))));
                }
            },
            Err((status, message)) => {
                lease.report(Outcome::Unreachable).await;
                ctx.record.failover.push(note(&message, &lease));
                last = Some(Failed::Error(status, message));
            }
        }
        // Noted only once an attempt failed: most requests succeed first
        // time, and then the list (and its copy of the name) is never needed.
        tried.push((provider.name.clone(), credential));
    }
}

fn credential_name(provider: &ProviderSpec, lease: &Lease) -> String {
    provider
        .credentials
        .get(lease.credential())
        .map(|c| c.name.clone())
        .unwrap_or_default()
}

/// (size limit, time limit) for reading a non-streamed answer whole.
fn read_limits(ctx: &Ctx) -> (usize, Duration) {
    let limit = ctx
        .app
        .settings
        .limits
        .max_request_body_bytes
        .max(32 * 1024 * 1024);
    (limit, ctx.app.settings.timeouts.request)
}

/// A non-streamed answer is read whole before anything reaches the client,
/// so a body that breaks off or is not JSON can still fail over (and is
/// never passed on as a 200).
async fn complete_json(
    (limit, timeout): (usize, Duration),
    resp: Response<Body>,
) -> Result<(Response<Body>, Option<AnswerUsage>), String> {
    // Only owned values may live across the await: the body is not Sync,
    // so a borrow of the response there would make the future non-Send.
    let (mut parts, body) = resp.into_parts();
    let json = parts
        .headers
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.contains("json"));
    // What counts is what came back: a JSON answer to a streaming request
    // is checked too.
    if !parts.status.is_success() || !json {
        return Ok((Response::from_parts(parts, body), None));
    }
    let read = crate::body::collect_limited(body, limit);
    let bytes = match tokio::time::timeout(timeout, read).await {
        Ok(Ok(bytes)) => bytes,
        Ok(Err(e)) => return Err(format!("the provider's response broke off: {e}")),
        Err(_) => return Err("the provider's response body stalled".to_owned()),
    };
    // Reading the usage checks the JSON too; only a valid answer that is
    // not an object (no API answers so) needs the plain check.
    let answer = match AnswerUsage::read(&bytes) {
        Ok(usage) => Some(usage),
        Err(e) => {
            if let Err(e) = serde_json::from_slice::<serde::de::IgnoredAny>(&bytes) {
                return Err(format!("the provider answered 200 with invalid JSON: {e}"));
            }
            tracing::debug!(error = %e, "a JSON answer that is not an object");
            None
        }
    };
    parts.headers.remove(CONTENT_LENGTH);
    Ok((
        Response::from_parts(parts, crate::body::full(bytes)),
        answer,
    ))
}

/// 429 and 5xx move the request on; anything else is the answer.
fn failover_outcome(resp: &Response<Body>) -> Option<Outcome> {
    let status = resp.status();
    if status == StatusCode::TOO_MANY_REQUESTS {
        let retry_after = resp
            .headers()
            .get(http::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(parse_retry_after);
        return Some(Outcome::RateLimited { retry_after });
    }
    (status.is_server_error() && status != StatusCode::NOT_IMPLEMENTED)
        .then_some(Outcome::ServerError)
}

/// The next provider and credential: primaries in order, then fallbacks
/// round-robin. Err: how long until something may be free. Awaits only when
/// a fleet shares its limits through Redis.
async fn pick(
    ctx: &Ctx,
    plan: &Plan,
    tried: &[(String, usize)],
    estimate: u64,
) -> Result<(Arc<ProviderSpec>, Lease), Duration> {
    let mut soonest = Duration::MAX;
    for p in &plan.primaries {
        match try_provider(ctx, p, tried, estimate).await {
            Some(Ok(lease)) => return Ok((p.clone(), lease)),
            Some(Err(wait)) => soonest = soonest.min(wait),
            None => {}
        }
    }
    let n = plan.fallbacks.len();
    let start = ctx.app.next_fallback();
    for k in 0..n {
        let p = &plan.fallbacks[(start + k) % n];
        match try_provider(ctx, p, tried, estimate).await {
            Some(Ok(lease)) => return Ok((p.clone(), lease)),
            Some(Err(wait)) => soonest = soonest.min(wait),
            None => {}
        }
    }
    Err(if soonest == Duration::MAX {
        Duration::from_secs(1)
    } else {
        soonest
    })
}

/// A lease from `p`'s pool, skipping the credentials this request tried;
/// None when the provider has no pool.
async fn try_provider(
    ctx: &Ctx,
    p: &ProviderSpec,
    tried: &[(String, usize)],
    estimate: u64,
) -> Option<Result<Lease, Duration>> {
    let pool = ctx.app.pools().get(&p.name)?;
    let skip: Vec<usize> = tried
        .iter()
        .filter(|(n, _)| *n == p.name)
        .map(|(_, i)| *i)
        .collect();
    Some(pool.acquire_shared(estimate, &skip).await)
}

/// Nothing left to try: the last provider answer if there was one, else 503.
async fn give_up(
    ctx: Ctx,
    protocol: Protocol,
    last: Option<Failed>,
    wait: Duration,
) -> Response<Body> {
    match last {
        Some(Failed::Answer(answer)) => {
            let (resp, conversion, lease) = *answer;
            deliver::deliver(ctx, Some(protocol), resp, conversion, Some(lease)).await
        }
        Some(Failed::Error(status, message)) => ctx.reject(Some(protocol), status, &message),
        None => {
            let secs = wait.as_secs_f64().ceil().max(1.0) as u64;
            let message = format!("every provider for this request is rate-limited, cooling down or open-circuited; retry in {secs}s");
            let mut resp = ctx.reject(Some(protocol), StatusCode::SERVICE_UNAVAILABLE, &message);
            if let Ok(v) = HeaderValue::from_str(&secs.to_string()) {
                resp.headers_mut().insert(http::header::RETRY_AFTER, v);
            }
            resp
        }
    }
}

/// One try against one provider and credential.
async fn attempt(
    ctx: &mut Ctx,
    call: &ApiCall,
    mut headers: HeaderMap,
    plan: &Plan,
    provider: &ProviderSpec,
    lease: &Lease,
) -> Result<(Response<Body>, Option<Conversion>), (StatusCode, String)> {
    let target = provider.target_protocol(call.protocol);
    let (body, conversion) = upstream_body(ctx, call, plan, target)?;
    let url = provider.endpoint_url(target, call.query.as_deref());
    // Compressed responses could not be read for usage; ask for identity.
    headers.remove(http::header::ACCEPT_ENCODING);
    headers.remove(CONTENT_LENGTH);
    let out = Outbound::new(call.method.clone(), url, headers, crate::body::full(body));
    ctx.record.provider = Some(provider.name.clone());
    ctx.record.credential = provider
        .credentials
        .get(lease.credential())
        .map(|c| c.name.clone());
    let request = build(ctx, Some((provider, lease.credential())), out)?;
    send(ctx, request).await.map(|resp| (resp, conversion))
}

/// The body the provider gets: converted when it speaks another protocol,
/// with the route's model rewrite; the client's bytes untouched otherwise.
fn upstream_body(
    ctx: &mut Ctx,
    call: &ApiCall,
    plan: &Plan,
    target: Protocol,
) -> Result<(Bytes, Option<Conversion>), (StatusCode, String)> {
    ctx.record.upstream_model = plan.upstream_model.clone();
    if target == call.protocol && plan.upstream_model.is_none() {
        return Ok((call.bytes.clone(), None));
    }
    // Built here, not on arrival: pass-through never needs the tree.
    let json: Value = serde_json::from_slice(&call.bytes).map_err(|e| {
        (
            StatusCode::BAD_REQUEST,
            format!("request body is not valid JSON: {e}"),
        )
    })?;
    let conversion = (target != call.protocol).then(|| Conversion {
        upstream: target,
        client: call.protocol,
        context: convert::StreamContext::from_request(call.protocol, &json),
    });
    let mut body = if conversion.is_none() {
        json
    } else {
        let converted = convert::convert_request(call.protocol, target, json).map_err(|e| {
            (
                StatusCode::BAD_REQUEST,
                format!("cannot convert this request for the provider: {e}"),
            )
        })?;
        for name in converted.lossy {
            if !ctx.record.lossy.contains(&name) {
                ctx.record.lossy.push(name);
            }
        }
        converted.body
    };
    if let (Some(model), Some(obj)) = (&plan.upstream_model, body.as_object_mut()) {
        obj.insert("model".into(), Value::String(model.clone()));
    }
    let bytes = serde_json::to_vec(&body)
        .map_err(|e| (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
    Ok((Bytes::from(bytes), conversion))
}

/// Sends a passthrough request to its target and delivers the answer as is.
pub async fn passthrough(mut ctx: Ctx, target: PassTarget, out: Outbound) -> Response<Body> {
    let request_capture = out.request_capture.clone();
    let provider = match &target {
        PassTarget::Provider(p) => {
            let credential = ctx
                .app
                .pools()
                .get(&p.name)
                .and_then(|pool| pool.acquire(0, &[]).ok())
                .map(|l| l.credential())
                .unwrap_or(0);
            ctx.record.provider = Some(p.name.clone());
            ctx.record.credential = p.credentials.get(credential).map(|c| c.name.clone());
            Some((p.as_ref(), credential))
        }
        PassTarget::Origin(_) => None,
    };
    let request = match build(&mut ctx, provider, out) {
        Ok(r) => r,
        Err((status, msg)) => return ctx.reject(None, status, &msg),
    };
    match send(&mut ctx, request).await {
        Ok(resp) => deliver::deliver_with_capture(ctx, None, resp, request_capture).await,
        Err((status, msg)) => ctx.reject(None, status, &msg),
    }
}

/// Turns an [`Outbound`] into the request hyper sends: hop-by-hop headers
/// gone, provider auth injected, `[headers]` and `x-request-id` added.
pub fn build(
    ctx: &mut Ctx,
    provider: Option<(&ProviderSpec, usize)>,
    out: Outbound,
) -> Result<Request<Body>, (StatusCode, String)> {
    let mut headers = out.headers;
    strip_hop_by_hop(&mut headers);
    headers.remove(HOST);
    if let Some((provider, credential)) = provider {
        let key = provider
            .credentials
            .get(credential)
            .and_then(|c| c.key.as_ref());
        provider.kind.inject_auth(&mut headers, key);
    }
    for (name, value) in &ctx.app.settings.headers {
        headers.insert(name.clone(), value.clone());
    }
    let request_id = match headers.get(X_REQUEST_ID).and_then(|v| v.to_str().ok()) {
        Some(id) => id.to_owned(),
        None => {
            let id = ctx.record.id.clone();
            if let Ok(v) = HeaderValue::from_str(&id) {
                headers.insert(X_REQUEST_ID, v);
            }
            id
        }
    };
    ctx.record.request_id = Some(request_id);
    // From the owned string: its buffer becomes the URI's, where parsing a
    // `&str` copies the authority and the path out of it.
    let uri = http::Uri::try_from(out.url).map_err(|e| {
        (
            StatusCode::BAD_REQUEST,
            format!("cannot build an upstream URL: {e}"),
        )
    })?;
    let mut request = Request::builder()
        .method(out.method)
        .uri(uri)
        .body(out.body)
        .map_err(|e| {
            (
                StatusCode::BAD_REQUEST,
                format!("cannot build the upstream request: {e}"),
            )
        })?;
    *request.headers_mut() = headers;
    Ok(request)
}

/// Sends with the request timeout (until the response headers arrive).
pub async fn send(
    ctx: &mut Ctx,
    request: Request<Body>,
) -> Result<Response<Body>, (StatusCode, String)> {
    let timeout = ctx.app.settings.timeouts.request;
    let result = tokio::time::timeout(timeout, ctx.app.client().request(request)).await;
    ctx.record.ttfb_ms = Some(ctx.started.elapsed().as_millis() as u64);
    match result {
        Ok(Ok(resp)) => Ok(resp.map(crate::body::boxed)),
        Ok(Err(e)) => Err((
            StatusCode::BAD_GATEWAY,
            format!("upstream request failed: {}", crate::errors::chain(&e)),
        )),
        Err(_) => Err((
            StatusCode::GATEWAY_TIMEOUT,
            format!("upstream did not answer within {}s", timeout.as_secs()),
        )),
    }
}
