//! The pooled HTTP client for provider and bridge calls. Each worker has its
//! own ([`crate::app::App::client`]); it keeps connections per scheme, host
//! and port, speaks h2 when the provider offers it by ALPN and HTTP/1.1
//! otherwise, and opens every connection through the [`Dialer`], so the
//! upstream proxy applies.
//!
//! Why not hyper-util's legacy client: on every request it boxed a 3.3 KB
//! future, cloned and hashed its pool key, built a connect future it seldom
//! used and spawned a task to hand the HTTP/1.1 connection back once idle.
//! Here a connection goes back when its response body ends ([`PooledBody`])
//! and is taken again only once hyper says it is ready. A sweeper task
//! closes connections left idle longer than `[timeouts] upstream_idle_secs`,
//! including those to destinations never used again.

use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, Weak};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::header::HOST;
use http::{HeaderValue, Request, Response, Uri};
use http_body::{Body as HttpBody, Frame, SizeHint};
use hyper::body::Incoming;
use hyper::client::conn::{http1, http2, TrySendError};
use hyper_util::rt::{TokioExecutor, TokioIo};
use rustls_pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_rustls::TlsConnector;

use super::{authority, bare_host, Body, DialError, Dialer};

/// How often the sweeper looks for idle connections, at most.
const MIN_SWEEP_INTERVAL: Duration = Duration::from_millis(100);
/// Idle HTTP/1.1 connections kept per destination.
const MAX_IDLE_PER_HOST: usize = 64;
/// Destinations with a pool; beyond this, connections to new ones are not kept.
const MAX_DESTINATIONS: usize = 1024;
/// How often a request that a reused connection refused before sending
/// (the provider closed it meanwhile) is tried again.
const MAX_RESENDS: usize = 3;

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("cannot send to {0}: not an absolute http or https URL")]
    Scheme(String),
    #[error(transparent)]
    Dial(#[from] DialError),
    #[error("{0} is not a valid TLS server name")]
    ServerName(String),
    #[error("TLS to {target}")]
    Tls {
        target: String,
        #[source]
        source: std::io::Error,
    },
    #[error("HTTP handshake with {target}")]
    Handshake {
        target: String,
        #[source]
        source: hyper::Error,
    },
    #[error("the request to {target} failed")]
    Send {
        target: String,
        #[source]
        source: hyper::Error,
    },
}

/// One worker's outbound client. Cheap to share: the pool is behind an
/// `Arc`, its lock held only to take or return a connection.
pub struct HttpClient {
    pool: Arc<Pool>,
}

struct Pool {
    dialer: Arc<Dialer>,
    tls: TlsConnector,
    /// How long a connection may wait in the pool before it is closed.
    idle_timeout: Duration,
    destinations: Mutex<Vec<Destination>>,
}

/// The connections to one scheme, host and port.
struct Destination {
    https: bool,
    host: Box<str>,
    port: u16,
    /// HTTP/1.1 connections without a request, the latest returned last.
    idle: Vec<Idle>,
    /// The one h2 connection, shared by every request.
    h2: Option<SharedH2>,
}

struct SharedH2 {
    sender: http2::SendRequest<Body>,
    /// When a request last took it: idle since then, as far as the pool knows.
    used: Instant,
}

struct Idle {
    sender: http1::SendRequest<Body>,
    since: Instant,
}

enum Sender {
    H1(http1::SendRequest<Body>),
    H2(http2::SendRequest<Body>),
}

/// Where a request goes, read from its absolute URL.
struct Target<'a> {
    https: bool,
    host: &'a str,
    port: u16,
}

impl<'a> Target<'a> {
    fn of(uri: &'a Uri) -> Result<Target<'a>, ClientError> {
        let https = match uri.scheme_str() {
            Some("https") => true,
            Some("http") => false,
            _ => return Err(ClientError::Scheme(uri.to_string())),
        };
        let host = uri
            .host()
            .ok_or_else(|| ClientError::Scheme(uri.to_string()))?;
        let default_port = if https { 443 } else { 80 };
        let port = uri.port_u16().unwrap_or(default_port);
        Ok(Target { https, host, port })
    }

    fn name(&self) -> String {
        authority(self.host, self.port)
    }

    /// The Host header: the port only when it is not the scheme's default.
    fn host_header(&self, uri: &Uri) -> Option<HeaderValue> {
        match uri.port_u16() {
            Some(443) if self.https => HeaderValue::from_str(self.host).ok(),
            Some(80) if !self.https => HeaderValue::from_str(self.host).ok(),
            Some(_) => uri
                .authority()
                .and_then(|a| HeaderValue::from_str(a.as_str()).ok()),
            None => HeaderValue::from_str(self.host).ok(),
        }
    }
}

impl Destination {
    fn is(&self, to: &Target<'_>) -> bool {
        self.https == to.https && self.port == to.port && *self.host == *to.host
    }

    /// Lets go of HTTP/1.1 connections closed or idle for `timeout`.
    fn drop_idle(&mut self, now: Instant, timeout: Duration) {
        self.idle
            .retain(|c| !c.sender.is_closed() && now.duration_since(c.since) < timeout);
    }

    /// [`Destination::drop_idle`], and the shared h2 connection too when no
    /// request took it for `timeout`. Letting go of it is graceful: hyper
    /// keeps the connection until the streams still running on it end.
    fn sweep(&mut self, now: Instant, timeout: Duration) {
        self.drop_idle(now, timeout);
        if let Some(h2) = &self.h2 {
            if h2.sender.is_closed() || now.duration_since(h2.used) >= timeout {
                self.h2 = None;
            }
        }
    }
}

/// Closes idle connections in every destination of the pool, every half
/// idle timeout, until the pool is gone. Destinations stay (their index
/// is what a connection in use returns to), emptied.
async fn sweep(pool: Weak<Pool>) {
    let every = match pool.upgrade() {
        Some(pool) => (pool.idle_timeout / 2).max(MIN_SWEEP_INTERVAL),
        None => return,
    };
    let mut ticks = tokio::time::interval(every);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        let Some(pool) = pool.upgrade() else { return };
        let now = Instant::now();
        let timeout = pool.idle_timeout;
        for dest in pool.destinations().iter_mut() {
            dest.sweep(now, timeout);
        }
    }
}

impl HttpClient {
    /// `tls` verifies providers; h2 and HTTP/1.1 are offered by ALPN.
    /// Connections idle for `idle_timeout` are closed, by a sweeper task on
    /// the current tokio runtime (none outside one: then only at checkout).
    pub fn new(
        dialer: Arc<Dialer>,
        mut tls: rustls::ClientConfig,
        idle_timeout: Duration,
    ) -> HttpClient {
        tls.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        let pool = Arc::new(Pool {
            dialer,
            tls: TlsConnector::from(Arc::new(tls)),
            idle_timeout,
            destinations: Mutex::new(Vec::new()),
        });
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(sweep(Arc::downgrade(&pool)));
        }
        HttpClient { pool }
    }

    /// Sends `request` (absolute URL, no Host header needed) on a pooled
    /// connection or a new one. Cancel by dropping the future.
    pub async fn request(
        &self,
        mut request: Request<Body>,
    ) -> Result<Response<PooledBody>, ClientError> {
        let uri = request.uri().clone();
        let to = Target::of(&uri)?;
        let mut resends = 0;
        loop {
            let (sender, slot, reused) = match self.pool.checkout(&to) {
                Some((sender, slot)) => (sender, Some(slot), true),
                None => {
                    let (sender, slot) = self.pool.connect(&to).await?;
                    (sender, slot, false)
                }
            };
            let mut failed = match self.send_on(sender, slot, request, &uri, &to).await {
                Ok(response) => return Ok(response),
                Err(failed) => failed,
            };
            match failed.take_message() {
                Some(unsent) if reused && resends < MAX_RESENDS => {
                    resends += 1;
                    tracing::debug!(target = %to.name(), "a kept connection closed before the request went out; sending again");
                    request = unsent;
                }
                _ => {
                    return Err(ClientError::Send {
                        target: to.name(),
                        source: failed.into_error(),
                    })
                }
            }
        }
    }

    /// One attempt on one connection. An HTTP/1.1 connection rides along
    /// with the answer's body, to go back to `slot` at its end.
    async fn send_on(
        &self,
        sender: Sender,
        slot: Option<usize>,
        mut request: Request<Body>,
        uri: &Uri,
        to: &Target<'_>,
    ) -> Result<Response<PooledBody>, TrySendError<Request<Body>>> {
        match sender {
            Sender::H1(mut sender) => {
                prepare_h1(&mut request, uri, to);
                let response = sender.try_send_request(request).await?;
                let back = slot.map(|slot| Back {
                    pool: self.pool.clone(),
                    slot,
                    sender,
                });
                Ok(response.map(|body| PooledBody::new(body, back)))
            }
            Sender::H2(mut sender) => {
                // h2 carries the scheme and authority itself: the absolute URL.
                *request.uri_mut() = uri.clone();
                let response = sender.try_send_request(request).await?;
                Ok(response.map(|body| PooledBody::new(body, None)))
            }
        }
    }
}

/// HTTP/1.1 wants the path alone on the request line, and a Host header.
fn prepare_h1(request: &mut Request<Body>, uri: &Uri, to: &Target<'_>) {
    if !request.headers().contains_key(HOST) {
        if let Some(host) = to.host_header(uri) {
            request.headers_mut().insert(HOST, host);
        }
    }
    let path = uri
        .path_and_query()
        .filter(|p| !p.as_str().is_empty())
        .map(|p| Uri::from(p.clone()))
        .unwrap_or_else(|| Uri::from_static("/"));
    *request.uri_mut() = path;
}

impl Pool {
    fn destinations(&self) -> MutexGuard<'_, Vec<Destination>> {
        // The lock guards plain data that every holder leaves consistent.
        self.destinations
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// A live connection to `to`, and its destination's index, if the pool has one ready.
    fn checkout(&self, to: &Target<'_>) -> Option<(Sender, usize)> {
        let mut destinations = self.destinations();
        let (slot, dest) = destinations
            .iter_mut()
            .enumerate()
            .find(|(_, d)| d.is(to))?;
        let now = Instant::now();
        if let Some(h2) = &mut dest.h2 {
            if !h2.sender.is_closed() {
                h2.used = now;
                return Some((Sender::H2(h2.sender.clone()), slot));
            }
            dest.h2 = None;
        }
        dest.drop_idle(now, self.idle_timeout);
        let ready = dest.idle.iter().rposition(|c| c.sender.is_ready())?;
        Some((Sender::H1(dest.idle.remove(ready).sender), slot))
    }

    /// A new connection to `to`; the index of its destination if it is pooled.
    async fn connect(&self, to: &Target<'_>) -> Result<(Sender, Option<usize>), ClientError> {
        let stream = self.dialer.dial(to.host, to.port).await?;
        let sender = if to.https {
            let name = ServerName::try_from(bare_host(to.host).to_owned())
                .map_err(|_| ClientError::ServerName(to.host.to_owned()))?;
            let tls = self
                .tls
                .connect(name, stream)
                .await
                .map_err(|source| ClientError::Tls {
                    target: to.name(),
                    source,
                })?;
            let h2 = tls.get_ref().1.alpn_protocol() == Some(b"h2".as_slice());
            handshake(tls, h2).await
        } else {
            handshake(stream, false).await
        }
        .map_err(|source| ClientError::Handshake {
            target: to.name(),
            source,
        })?;
        let slot = self.register(to, &sender);
        Ok((sender, slot))
    }

    /// The index of `to`'s destination, made if new; an h2 connection
    /// becomes the one its requests share.
    fn register(&self, to: &Target<'_>, sender: &Sender) -> Option<usize> {
        let mut destinations = self.destinations();
        let slot = match destinations.iter().position(|d| d.is(to)) {
            Some(slot) => slot,
            None if destinations.len() < MAX_DESTINATIONS => {
                destinations.push(Destination {
                    https: to.https,
                    host: to.host.into(),
                    port: to.port,
                    idle: Vec::new(),
                    h2: None,
                });
                destinations.len() - 1
            }
            None => return None,
        };
        if let Sender::H2(h2) = sender {
            destinations[slot].h2 = Some(SharedH2 {
                sender: h2.clone(),
                used: Instant::now(),
            });
        }
        Some(slot)
    }

    /// Returns an HTTP/1.1 connection whose response has ended.
    fn put_back(&self, slot: usize, sender: http1::SendRequest<Body>) {
        if sender.is_closed() {
            return;
        }
        let mut destinations = self.destinations();
        if let Some(dest) = destinations.get_mut(slot) {
            if dest.idle.len() < MAX_IDLE_PER_HOST {
                dest.idle.push(Idle {
                    sender,
                    since: Instant::now(),
                });
            }
        }
    }
}

/// Opens HTTP on a connected stream and runs the connection on this worker.
async fn handshake<T>(io: T, h2: bool) -> Result<Sender, hyper::Error>
where
    T: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let io = TokioIo::new(io);
    if h2 {
        let (sender, conn) = http2::handshake(TokioExecutor::new(), io).await?;
        tokio::spawn(async move {
            if let Err(e) = conn.await {
                tracing::debug!(error = %e, "upstream h2 connection ended");
            }
        });
        Ok(Sender::H2(sender))
    } else {
        let (sender, conn) = http1::handshake(io).await?;
        tokio::spawn(async move {
            if let Err(e) = conn.await {
                tracing::debug!(error = %e, "upstream connection ended");
            }
        });
        Ok(Sender::H1(sender))
    }
}

/// Where an HTTP/1.1 connection goes back once its response has ended.
struct Back {
    pool: Arc<Pool>,
    slot: usize,
    sender: http1::SendRequest<Body>,
}

/// An upstream response body that returns its connection to the pool at
/// its end. Dropped before the end, it drops the connection with it: hyper
/// closes one whose response was not read through.
pub struct PooledBody {
    inner: Incoming,
    back: Option<Back>,
}

impl PooledBody {
    fn new(inner: Incoming, back: Option<Back>) -> PooledBody {
        let mut body = PooledBody { inner, back };
        if body.inner.is_end_stream() {
            body.release();
        }
        body
    }

    fn release(&mut self) {
        if let Some(back) = self.back.take() {
            back.pool.put_back(back.slot, back.sender);
        }
    }
}

impl HttpBody for PooledBody {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.inner).poll_frame(cx);
        match &polled {
            Poll::Ready(None) => this.release(),
            Poll::Ready(Some(Ok(_))) if this.inner.is_end_stream() => this.release(),
            Poll::Ready(Some(Err(_))) => this.back = None,
            _ => {}
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
