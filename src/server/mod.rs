//! The listener: accepts connections, serves HTTP/1.1 (with CONNECT
//! upgrades) and h2c on them, and drains everything on shutdown.

pub mod guard;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use tokio::net::TcpListener;

use crate::app::{App, StartError};
use crate::config::Settings;
use crate::upstream::Body;

/// Largest request head accepted (larger gets 431).
pub const MAX_HEAD_BYTES: usize = 64 * 1024;
/// A client must finish sending a request head within this (slowloris).
const HEADER_READ_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

/// A bound, not yet serving, switchyard.
pub struct Server {
    app: Arc<App>,
    listener: TcpListener,
    addr: SocketAddr,
}

impl Server {
    /// Loads the CA, opens the audit file and binds the listener.
    pub async fn bind(settings: Settings) -> Result<Server, StartError> {
        let addr = settings.listen;
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|source| StartError::Bind { addr, source })?;
        let addr = listener
            .local_addr()
            .map_err(|source| StartError::Bind { addr, source })?;
        // With port 0 the real port is known only now; everything that
        // reports the address (status, the state file) reads it from here.
        let mut settings = settings;
        settings.listen = addr;
        let app = Arc::new(App::new(settings)?);
        Ok(Server {
            app,
            listener,
            addr,
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn app(&self) -> &Arc<App> {
        &self.app
    }

    /// Serves until `shutdown` resolves, then stops accepting, lets in-flight
    /// requests and streams finish (up to the configured deadline) and
    /// flushes the audit file.
    pub async fn run(self, shutdown: impl Future<Output = ()>) {
        let app = self.app;
        tokio::pin!(shutdown);
        loop {
            tokio::select! {
                accepted = self.listener.accept() => match accepted {
                    Ok((tcp, peer)) => {
                        let _ = tcp.set_nodelay(true);
                        let app2 = app.clone();
                        app.tasks.spawn(async move { serve_client(app2, tcp, peer).await });
                    }
                    Err(e) => {
                        // Usually EMFILE: back off instead of spinning.
                        tracing::warn!(error = %e, "accept failed");
                        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    }
                },
                _ = &mut shutdown => break,
            }
        }
        drop(self.listener);
        tracing::info!("shutting down: draining in-flight requests");
        app.shutdown.cancel();
        app.tasks.close();
        let deadline = app.settings.timeouts.shutdown;
        if tokio::time::timeout(deadline, app.tasks.wait())
            .await
            .is_err()
        {
            tracing::warn!(
                deadline_secs = deadline.as_secs(),
                "drain deadline passed; closing the rest"
            );
        }
        app.auditor.shutdown().await;
    }
}

async fn serve_client(app: Arc<App>, tcp: tokio::net::TcpStream, peer: SocketAddr) {
    let (io, smuggling) = guard::Guarded::new(tcp);
    let service_app = app.clone();
    let service = service_fn(move |req: hyper::Request<Incoming>| {
        let app = service_app.clone();
        let smuggling = smuggling.clone();
        async move {
            if smuggling.raised() {
                return Ok(refuse_smuggling(&app, peer));
            }
            Ok::<_, std::convert::Infallible>(crate::proxy::handle(app, peer, req).await)
        }
    });
    serve_connection(&app, TokioIo::new(io), service).await;
}

/// The answer to a request carrying both Content-Length and
/// Transfer-Encoding; the connection closes after it.
pub fn refuse_smuggling(app: &App, peer: SocketAddr) -> hyper::Response<Body> {
    let message = "request has both Content-Length and Transfer-Encoding";
    let mut record = crate::audit::Record::new(crate::audit::Kind::Rejected, peer.to_string());
    record.status = Some(400);
    record.error = Some(message.to_owned());
    app.auditor.record(record);
    let mut resp = crate::errors::text(http::StatusCode::BAD_REQUEST, message);
    resp.headers_mut().insert(
        http::header::CONNECTION,
        http::HeaderValue::from_static("close"),
    );
    resp
}

/// Serves HTTP on one connection (the listener's, or a decrypted one inside
/// a CONNECT), shutting it down gracefully when switchyard stops.
pub async fn serve_connection<I, S, F>(app: &App, io: I, service: S)
where
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
    S: hyper::service::Service<
            hyper::Request<Incoming>,
            Response = hyper::Response<Body>,
            Future = F,
        > + Send
        + 'static,
    S::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    F: Future<Output = Result<hyper::Response<Body>, S::Error>> + Send + 'static,
{
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_READ_TIMEOUT)
        .max_buf_size(MAX_HEAD_BYTES);
    builder.http2().timer(TokioTimer::new());
    let conn = builder.serve_connection_with_upgrades(io, service);
    tokio::pin!(conn);
    let result = tokio::select! {
        r = conn.as_mut() => r,
        _ = app.shutdown.cancelled() => {
            conn.as_mut().graceful_shutdown();
            conn.await
        }
    };
    if let Err(e) = result {
        tracing::debug!(error = %e, "connection ended with an error");
    }
}
