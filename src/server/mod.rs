//! The listener: accepts connections, hands each to a worker thread
//! ([`workers`]), serves HTTP/1.1 (with CONNECT upgrades) and h2c on them,
//! and drains everything on shutdown.

pub mod busy_poll;
pub mod guard;
pub mod workers;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use tokio::net::TcpListener;

use crate::app::{App, Hub, StartError};
use crate::config::Settings;
use crate::upstream::Body;

/// Largest request head accepted (larger gets 431).
pub const MAX_HEAD_BYTES: usize = 64 * 1024;

/// A bound, not yet serving, switchyard.
pub struct Server {
    hub: Arc<Hub>,
    listener: TcpListener,
    addr: SocketAddr,
}

impl Server {
    /// Loads the CA, opens the audit file and binds the listener; serves on
    /// the runtime that calls [`Server::run`] alone.
    pub async fn bind(settings: Settings) -> Result<Server, StartError> {
        Server::bind_with_workers(settings, 1).await
    }

    /// [`Server::bind`], serving on `workers` threads: the one that calls
    /// [`Server::run`] (on a single-threaded runtime, in the CLI) and
    /// `workers - 1` more, each with a runtime of its own (see [`workers`]).
    pub async fn bind_with_workers(
        settings: Settings,
        workers: usize,
    ) -> Result<Server, StartError> {
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
        let app = App::with_workers(settings, workers.max(1))?;
        if let Some(cluster) = &app.cluster {
            // Share limits from the first request when Redis is there.
            cluster.first_contact().await;
        }
        let hub = Arc::new(Hub::new(app));
        let pools = crate::status::HubPools(Arc::downgrade(&hub));
        hub.current()
            .auditor
            .metrics()
            .set_pool_status(Arc::new(pools));
        Ok(Server {
            hub,
            listener,
            addr,
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// The configuration generation currently serving.
    pub fn app(&self) -> Arc<App> {
        self.hub.current()
    }

    pub fn hub(&self) -> &Arc<Hub> {
        &self.hub
    }

    /// Serves until `shutdown` resolves, then stops accepting, lets in-flight
    /// requests and streams finish (up to the configured deadline) and
    /// flushes the audit file.
    pub async fn run(self, shutdown: impl Future<Output = ()>) {
        let hub = self.hub;
        // Tasks, the shutdown token and the auditor are shared by every
        // generation, so any snapshot gives access to them.
        let app = hub.current();
        let window = app.settings.busy_poll;
        busy_poll::start(window, app.shutdown.clone());
        let token = app.shutdown.clone();
        let workers = workers::Workers::start(
            app.workers(),
            move || busy_poll::start(window, token.clone()),
            app.tasks.clone(),
        );
        if !window.is_zero() {
            tracing::info!(
                window_us = window.as_micros() as u64,
                workers = workers.count(),
                "busy polling on"
            );
        }
        let slots = Arc::new(tokio::sync::Semaphore::new(
            app.settings.limits.max_connections,
        ));
        tokio::pin!(shutdown);
        loop {
            tokio::select! {
                accepted = self.listener.accept() => match accepted {
                    Ok((tcp, peer)) => {
                        // Over the connection limit: close at once rather
                        // than queue, so a flood cannot starve the rest.
                        let Ok(slot) = slots.clone().try_acquire_owned() else {
                            tracing::warn!(%peer, limit = app.settings.limits.max_connections, "connection limit reached; closing");
                            drop(tcp);
                            continue;
                        };
                        crate::tcp::tune(&tcp);
                        hand_over(&workers, &hub, tcp, peer, slot);
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
        let workers = workers.close();
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
        // Connections cut now file their records: before the final flush.
        workers.halt(WORKER_STOP).await;
        // A file that takes no writes (a stalled FIFO reader, a hung network
        // disk) must not keep the process alive forever.
        if tokio::time::timeout(deadline, app.auditor.shutdown())
            .await
            .is_err()
        {
            tracing::error!(
                deadline_secs = deadline.as_secs(),
                "the audit file took no writes before the deadline; queued records are lost"
            );
        }
    }
}

/// How long a worker's runtime may take to stop once told to.
const WORKER_STOP: std::time::Duration = std::time::Duration::from_secs(2);

/// Gives an accepted connection to the least busy worker. A worker's
/// runtime must register the socket itself, so it crosses as a std socket;
/// worker 0's connections take the same path (two `epoll_ctl` calls per
/// connection, not per request) so that there is only one.
fn hand_over(
    workers: &workers::Workers,
    hub: &Arc<Hub>,
    tcp: tokio::net::TcpStream,
    peer: SocketAddr,
    slot: tokio::sync::OwnedSemaphorePermit,
) {
    let tcp = match tcp.into_std() {
        Ok(tcp) => tcp,
        Err(e) => {
            tracing::warn!(%peer, error = %e, "cannot hand over a connection");
            return;
        }
    };
    let hub = hub.clone();
    workers.dispatch(move |load| {
        let tcp = match tokio::net::TcpStream::from_std(tcp) {
            Ok(tcp) => tcp,
            Err(e) => {
                tracing::warn!(%peer, error = %e, "cannot serve a handed-over connection");
                return;
            }
        };
        let tasks = hub.current().tasks.clone();
        tasks.spawn(async move {
            serve_client(hub, tcp, peer).await;
            drop((slot, load));
        });
    });
}

async fn serve_client(hub: Arc<Hub>, tcp: tokio::net::TcpStream, peer: SocketAddr) {
    let (io, smuggling) = guard::Guarded::new(tcp);
    let app = hub.current();
    let service = service_fn(move |req: hyper::Request<Incoming>| {
        let hub = hub.clone();
        let smuggling = smuggling.clone();
        async move {
            if smuggling.raised() {
                return Ok(refuse_smuggling(&hub.current(), peer));
            }
            // Boxed: see proxy::intercept::serve.
            let handled = crate::boxed::boxed_in_place(|| crate::proxy::handle(hub, peer, req));
            Ok::<_, std::convert::Infallible>(handled.await)
        }
    });
    serve_connection(&app, TokioIo::new(io), service).await;
}

/// The answer to a request carrying both Content-Length and
/// Transfer-Encoding; the connection closes after it.
pub fn refuse_smuggling(app: &App, peer: SocketAddr) -> hyper::Response<Body> {
    let message = "request has both Content-Length and Transfer-Encoding";
    let mut record = crate::audit::Record::new(
        crate::audit::Kind::Rejected,
        crate::audit::client_address(peer),
    );
    record.status = Some(400);
    record.error = Some(message.to_owned());
    app.file(record);
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
    let limits = &app.settings.limits;
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        // Also bounds how long an idle keep-alive connection is kept.
        .header_read_timeout(limits.header_read_timeout)
        .max_headers(limits.max_header_count)
        .max_buf_size(MAX_HEAD_BYTES);
    builder
        .http2()
        .timer(TokioTimer::new())
        .max_concurrent_streams(limits.max_h2_streams)
        .max_header_list_size(MAX_HEAD_BYTES as u32)
        .keep_alive_interval(Some(std::time::Duration::from_secs(30)));
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
