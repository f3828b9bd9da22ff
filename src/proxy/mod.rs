//! The forward-proxy front door: every request on the listener is
//! authenticated (when clients are configured) and dispatched here to
//! CONNECT handling, plain `http://` forwarding, the admin endpoints or the
//! gateway.

pub mod connect;
pub mod intercept;
pub mod tunnel;

use std::net::SocketAddr;
use std::sync::Arc;

use http::header::{HeaderValue, PROXY_AUTHENTICATE, WWW_AUTHENTICATE};
use http::{Method, Request, Response, StatusCode};
use hyper::body::Incoming;

use crate::access::ClientName;
use crate::app::{App, Hub};
use crate::audit::{Kind, Record};
use crate::gateway::{self, Door};
use crate::protocol::Protocol;
use crate::upstream::Body;

/// Handles one request received on the listener. Each request runs under
/// the configuration generation current when it arrives.
pub async fn handle(hub: Arc<Hub>, peer: SocketAddr, mut req: Request<Incoming>) -> Response<Body> {
    let app = hub.current();
    let proxy_request = req.method() == Method::CONNECT || req.uri().scheme().is_some();
    if let Err(refusal) = authenticate(&app, peer, proxy_request, &mut req) {
        return *refusal;
    }
    if req.method() == Method::CONNECT {
        return connect::handle(hub, app, peer, req).await;
    }
    if proxy_request {
        return gateway::handle(app, Door::Plain, peer, req).await;
    }
    if req.uri().path().starts_with(crate::admin::PREFIX) {
        return crate::admin::handle(&app, peer, &req);
    }
    gateway::handle(app, Door::Gateway, peer, req).await
}

/// Once clients are configured, every request must say who it is: proxy
/// requests with `Proxy-Authorization`, gateway requests with a bearer token
/// or `x-api-key`. Admin endpoints are open to loopback clients only. The
/// presented token is removed; the client's name rides in the extensions.
fn authenticate(
    app: &App,
    peer: SocketAddr,
    proxy_request: bool,
    req: &mut Request<Incoming>,
) -> Result<(), Box<Response<Body>>> {
    let clients = &app.settings.clients;
    let admin = !proxy_request && req.uri().path().starts_with(crate::admin::PREFIX);
    if !clients.is_enabled() {
        // Without clients, admin::handle keeps the private endpoints to loopback.
        return Ok(());
    }
    if admin && peer.ip().is_loopback() {
        return Ok(());
    }
    let name = if proxy_request {
        clients.take_proxy_auth(req.headers_mut())
    } else {
        clients.take_gateway_auth(req.headers_mut())
    };
    match name {
        Some(name) => {
            req.extensions_mut().insert(ClientName(name));
            Ok(())
        }
        None if proxy_request => Err(Box::new(refuse(
            app,
            peer,
            req,
            StatusCode::PROXY_AUTHENTICATION_REQUIRED,
            "proxy authentication required",
        ))),
        None => Err(Box::new(refuse(
            app,
            peer,
            req,
            StatusCode::UNAUTHORIZED,
            "missing or invalid switchyard client token",
        ))),
    }
}

/// Answers and audits a refused request.
fn refuse(
    app: &App,
    peer: SocketAddr,
    req: &Request<Incoming>,
    status: StatusCode,
    message: &str,
) -> Response<Body> {
    let mut record = Record::new(Kind::Rejected, crate::audit::client_address(peer));
    record.method = Some(req.method().to_string());
    record.host = req.uri().host().map(str::to_owned);
    record.path = req
        .uri()
        .path_and_query()
        .map(|p| crate::audit::redact::redact(p.as_str(), &[]));
    record.status = Some(status.as_u16());
    record.error = Some(message.to_owned());
    app.file(record);
    let protocol = (req.method() == Method::POST)
        .then(|| Protocol::from_path(req.uri().path()))
        .flatten();
    let mut resp = match status {
        StatusCode::PROXY_AUTHENTICATION_REQUIRED => crate::errors::text(status, message),
        _ => crate::errors::response(app.settings.errors, protocol, status, message),
    };
    let (name, value) = match status {
        StatusCode::PROXY_AUTHENTICATION_REQUIRED => {
            (PROXY_AUTHENTICATE, "Basic realm=\"switchyard\"")
        }
        _ => (WWW_AUTHENTICATE, "Bearer realm=\"switchyard\""),
    };
    resp.headers_mut()
        .insert(name, HeaderValue::from_static(value));
    resp
}
