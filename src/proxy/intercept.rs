//! TLS interception: terminate the client's TLS inside a CONNECT with a leaf
//! minted for the CONNECT host, then serve the decrypted HTTP/1.1 or HTTP/2
//! requests (ALPN decides) through the gateway pipeline.

use std::net::SocketAddr;
use std::sync::Arc;

use hyper::service::service_fn;
use hyper::upgrade::Upgraded;
use hyper_util::rt::TokioIo;
use tokio_rustls::LazyConfigAcceptor;

use crate::app::{App, Hub};
use crate::gateway::{self, Door};

pub async fn serve(
    hub: Arc<Hub>,
    app: Arc<App>,
    peer: SocketAddr,
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
    if sni.as_deref().is_some_and(|sni| sni != host) {
        tracing::warn!(%host, sni = ?sni, "TLS SNI differs from the CONNECT host; serving the CONNECT host");
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
    let door = Door::Intercept { host, port };
    let (io, smuggling) = crate::server::guard::Guarded::new(tls);
    let service = service_fn(move |req| {
        let app = hub.current();
        let door = door.clone();
        let smuggling = smuggling.clone();
        async move {
            if smuggling.raised() {
                return Ok(crate::server::refuse_smuggling(&app, peer));
            }
            Ok::<_, std::convert::Infallible>(gateway::handle(app, door, peer, req).await)
        }
    });
    crate::server::serve_connection(&app, TokioIo::new(io), service).await;
}
