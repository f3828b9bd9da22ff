//! TLS interception: terminate the client's TLS inside a CONNECT with a leaf
//! minted for the CONNECT host, then serve the decrypted HTTP/1.1 or HTTP/2
//! requests (ALPN decides) through the gateway pipeline.
//!
//! The TLS SNI and every request's Host must name the CONNECT host: a client
//! (or an attacker steering one) cannot use a tunnel authorised for one host
//! to reach another. A mismatch gets 421 Misdirected Request.

use std::net::SocketAddr;
use std::sync::Arc;

use http::{Request, Response, StatusCode};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper::upgrade::Upgraded;
use hyper_util::rt::TokioIo;
use tokio_rustls::LazyConfigAcceptor;

use crate::access::ClientName;
use crate::app::{App, Hub};
use crate::audit::{Kind, Record};
use crate::gateway::{self, Door};
use crate::upstream::Body;

/// Who opened the CONNECT.
pub struct Who {
    pub peer: SocketAddr,
    pub client: Option<ClientName>,
}

pub async fn serve(
    hub: Arc<Hub>,
    app: Arc<App>,
    who: Who,
    upgraded: Upgraded,
    host: String,
    port: u16,
) {
    let io = TokioIo::new(upgraded);
    let start = match LazyConfigAcceptor::new(rustls::server::Acceptor::default(), io).await {
        Ok(start) => start,
        Err(e) => {
            tracing::debug!(%host, error = %e, "no TLS ClientHello inside CONNECT");
            return;
        }
    };
    let sni = start
        .client_hello()
        .server_name()
        .map(str::to_ascii_lowercase);
    let sni_mismatch = sni.as_deref().is_some_and(|sni| sni != host);
    if sni_mismatch {
        tracing::warn!(%host, sni = ?sni, "TLS SNI differs from the CONNECT host; answering 421");
    }
    let config = match app.leaves.server_config(&host) {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(%host, error = %e, "cannot mint a leaf certificate");
            return;
        }
    };
    let tls = match start.into_stream(config).await {
        Ok(tls) => tls,
        Err(e) => {
            // Usually the client does not trust our CA: say so once, clearly.
            tracing::info!(%host, error = %e, "TLS handshake with client failed (does it trust the switchyard CA?)");
            return;
        }
    };
    let door = Door::Intercept {
        host: host.clone(),
        port,
    };
    let (io, smuggling) = crate::server::guard::Guarded::new(tls);
    let Who { peer, client } = who;
    let service = service_fn(move |mut req: Request<Incoming>| {
        let app = hub.current();
        let door = door.clone();
        let smuggling = smuggling.clone();
        let host = host.clone();
        if let Some(client) = &client {
            req.extensions_mut().insert(client.clone());
        }
        async move {
            if smuggling.raised() {
                return Ok(crate::server::refuse_smuggling(&app, peer));
            }
            if sni_mismatch || !same_host(&req, &host) {
                return Ok(misdirected(&app, peer, &req, &host));
            }
            // Boxed: the pipeline's future is large, and hyper moves the
            // service future into place (a memcpy of all of it per request).
            let handled = crate::boxed::boxed_in_place(|| gateway::handle(app, door, peer, req));
            Ok::<_, std::convert::Infallible>(handled.await)
        }
    });
    crate::server::serve_connection(&app, TokioIo::new(io), service).await;
}

/// Whether the request's authority (h2) or Host header (h1) names `host`.
fn same_host(req: &Request<Incoming>, host: &str) -> bool {
    let named = req.uri().host().map(str::to_owned).or_else(|| {
        let value = req.headers().get(http::header::HOST)?.to_str().ok()?;
        let authority: http::uri::Authority = value.parse().ok()?;
        Some(authority.host().to_owned())
    });
    match named {
        Some(named) => crate::upstream::bare_host(&named).eq_ignore_ascii_case(host),
        // HTTP/1.1 requires Host; a request without one cannot be checked.
        None => false,
    }
}

fn misdirected(app: &App, peer: SocketAddr, req: &Request<Incoming>, host: &str) -> Response<Body> {
    let message = format!("this connection is for {host}; the request names another host");
    let mut record = Record::new(Kind::Rejected, crate::audit::client_address(peer));
    record.host = Some(host.to_owned());
    record.method = Some(req.method().to_string());
    record.path = req.uri().path_and_query().map(|p| p.as_str().to_owned());
    record.client_name = req.extensions().get::<ClientName>().map(|c| c.0.clone());
    record.status = Some(421);
    record.error = Some(message.clone());
    app.file(record);
    crate::errors::text(StatusCode::MISDIRECTED_REQUEST, &message)
}
