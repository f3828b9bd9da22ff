//! The forward-proxy front door: every request on the listener is dispatched
//! here to CONNECT handling, plain `http://` forwarding, the admin endpoints
//! or the gateway.

pub mod connect;
pub mod intercept;
pub mod tunnel;

use std::net::SocketAddr;
use std::sync::Arc;

use http::{Method, Request, Response};
use hyper::body::Incoming;

use crate::app::App;
use crate::gateway::{self, Door};
use crate::upstream::Body;

/// Handles one request received on the listener.
pub async fn handle(app: Arc<App>, peer: SocketAddr, req: Request<Incoming>) -> Response<Body> {
    if req.method() == Method::CONNECT {
        return connect::handle(app, peer, req).await;
    }
    if req.uri().scheme().is_some() {
        return gateway::handle(app, Door::Plain, peer, req).await;
    }
    if req.uri().path().starts_with(crate::admin::PREFIX) {
        return crate::admin::handle(&app, peer, &req);
    }
    gateway::handle(app, Door::Gateway, peer, req).await
}
