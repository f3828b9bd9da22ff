//! The load client: keep-alive HTTP/1.1 connections, plain, over TLS, or
//! through an intercepting proxy (CONNECT, then TLS with the proxy's leaf).
//!
//! One task per connection sends requests back to back and times each one
//! from the first byte written to the last byte of the body read; for SSE it
//! also times the first event and the gaps between event bursts.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper::Request;
use hyper_util::rt::TokioIo;
use rustls::ClientConfig;
use rustls_pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, watch, Semaphore};

use crate::stats::micros;

/// How the client reaches the server at `addr`.
#[derive(Clone, Debug)]
pub enum Via {
    /// Plain HTTP to `addr` (direct, or a gateway's base URL).
    Plain,
    /// TLS to `addr` itself (a TLS-terminating reverse proxy).
    Tls,
    /// `CONNECT host:port` to the proxy at `addr`, then TLS to `host`.
    Connect { port: u16 },
}

/// Where requests go.
#[derive(Clone)]
pub struct Target {
    pub addr: SocketAddr,
    pub via: Via,
    /// TLS settings for [`Via::Tls`] and [`Via::Connect`].
    pub tls: Option<Arc<ClientConfig>>,
}

/// A byte stream of any of the three kinds.
pub trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

/// Opens one connection to `target`, naming `host` (SNI and CONNECT).
pub async fn open(target: &Target, host: &str) -> Result<Box<dyn Io>, String> {
    let tcp = TcpStream::connect(target.addr)
        .await
        .map_err(|e| format!("connect {}: {e}", target.addr))?;
    let _ = tcp.set_nodelay(true);
    match target.via {
        Via::Plain => Ok(Box::new(tcp)),
        Via::Tls => tls(target, host, tcp).await,
        Via::Connect { port } => {
            let tcp = connect_tunnel(tcp, host, port).await?;
            tls(target, host, tcp).await
        }
    }
}

async fn tls(target: &Target, host: &str, tcp: TcpStream) -> Result<Box<dyn Io>, String> {
    let config = target.tls.clone().ok_or("TLS target without a CA (--ca)")?;
    let name = ServerName::try_from(host.to_owned()).map_err(|e| format!("{host}: {e}"))?;
    let stream = tokio_rustls::TlsConnector::from(config)
        .connect(name, tcp)
        .await
        .map_err(|e| format!("TLS handshake with {host}: {e}"))?;
    Ok(Box::new(stream))
}

/// Sends `CONNECT host:port` and reads the proxy's answer head. Nothing
/// follows the head before the client speaks, so reading in chunks cannot
/// swallow TLS bytes.
async fn connect_tunnel(mut tcp: TcpStream, host: &str, port: u16) -> Result<TcpStream, String> {
    let head = format!("CONNECT {host}:{port} HTTP/1.1\r\nHost: {host}:{port}\r\n\r\n");
    tcp.write_all(head.as_bytes())
        .await
        .map_err(|e| format!("CONNECT: {e}"))?;
    let mut buf = Vec::with_capacity(256);
    let mut chunk = [0u8; 512];
    while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
        if buf.len() > 16 * 1024 {
            return Err("CONNECT answer head too long".into());
        }
        let n = tcp
            .read(&mut chunk)
            .await
            .map_err(|e| format!("CONNECT: {e}"))?;
        if n == 0 {
            return Err("proxy closed the connection after CONNECT".into());
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    let status_line = String::from_utf8_lossy(&buf);
    let status_line = status_line.lines().next().unwrap_or("");
    if status_line.split_whitespace().nth(1) != Some("200") {
        return Err(format!("CONNECT refused: {status_line}"));
    }
    Ok(tcp)
}

/// An HTTP/1.1 client connection over `io`; its driver runs in a task.
pub async fn http1(io: Box<dyn Io>) -> Result<SendRequest<Full<Bytes>>, String> {
    let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(io))
        .await
        .map_err(|e| format!("HTTP/1.1 handshake: {e}"))?;
    tokio::spawn(conn);
    Ok(sender)
}

/// One request to repeat.
#[derive(Clone)]
pub struct RequestSpec {
    /// Host header, SNI and CONNECT target.
    pub host: String,
    pub path: String,
    pub body: Bytes,
    pub headers: Vec<(String, String)>,
    /// What a correct answer looks like, checked on each worker's first
    /// measured answer (a peer that answers 200 with an error body must not
    /// count).
    pub expect: Option<Expect>,
}

/// The shape of a correct answer.
#[derive(Clone, Copy, Debug)]
pub struct Expect {
    /// A top-level key of a JSON answer (`content`, `choices`).
    pub json_key: &'static str,
    /// Text that ends a correct SSE stream (`message_stop`, `[DONE]`).
    pub sse_end: &'static str,
}

impl Expect {
    fn check(&self, stream: bool, body: &[u8]) -> Result<(), String> {
        let shown = || String::from_utf8_lossy(&body[..body.len().min(300)]).into_owned();
        if stream {
            let end = self.sse_end.as_bytes();
            if body.windows(end.len()).any(|w| w == end) {
                return Ok(());
            }
            return Err(format!("stream without {:?}: {}", self.sse_end, shown()));
        }
        match serde_json::from_slice::<serde_json::Value>(body) {
            // A Responses object carries `"error": null` when all went well.
            Ok(v)
                if v.get("error").is_none_or(serde_json::Value::is_null)
                    && v.get(self.json_key).is_some() =>
            {
                Ok(())
            }
            _ => Err(format!(
                "unexpected answer (no {:?}): {}",
                self.json_key,
                shown()
            )),
        }
    }
}

impl RequestSpec {
    fn build(&self) -> Result<Request<Full<Bytes>>, String> {
        let mut b = Request::post(&self.path)
            .header("host", &self.host)
            .header("content-type", "application/json");
        for (k, v) in &self.headers {
            b = b.header(k, v);
        }
        b.body(Full::new(self.body.clone()))
            .map_err(|e| e.to_string())
    }
}

/// How SSE answers are timed.
#[derive(Clone, Copy, Debug)]
pub struct SseSpec {
    /// Event frames arriving closer together than this count as one burst
    /// (one upstream event split or joined by a proxy), not as a gap.
    pub burst_window: Duration,
}

/// What one worker saw inside the measured window.
#[derive(Default, Debug)]
pub struct Outcome {
    pub requests: u64,
    pub errors: u64,
    pub first_error: Option<String>,
    pub response_bytes: u64,
    /// Request latency (µs): write of the request to the end of the body.
    pub latency: Vec<u32>,
    /// SSE: time to the first event (µs).
    pub ttfe: Vec<u32>,
    /// SSE: gaps between event bursts (µs).
    pub gaps: Vec<u32>,
    pub streams: u64,
    pub events: u64,
    pub bursts: u64,
}

impl Outcome {
    fn merge(&mut self, other: Outcome) {
        self.requests += other.requests;
        self.errors += other.errors;
        if self.first_error.is_none() {
            self.first_error = other.first_error;
        }
        self.response_bytes += other.response_bytes;
        self.latency.extend(other.latency);
        self.ttfe.extend(other.ttfe);
        self.gaps.extend(other.gaps);
        self.streams += other.streams;
        self.events += other.events;
        self.bursts += other.bursts;
    }

    fn error(&mut self, counted: bool, e: String) {
        if counted {
            self.errors += 1;
        }
        if self.first_error.is_none() {
            self.first_error = Some(e);
        }
    }
}

/// A load run.
#[derive(Clone)]
pub struct Load {
    pub target: Target,
    pub request: RequestSpec,
    pub concurrency: usize,
    pub warmup: Duration,
    pub duration: Duration,
    pub sse: Option<SseSpec>,
    /// Stop once this many measured requests were started (a fixed amount
    /// of work, for instruction counting under callgrind); the duration
    /// still bounds the run.
    pub max_requests: Option<u64>,
}

/// Runs `load` and returns what the workers saw in the measured window,
/// and the window's real length (from the end of warm-up until the last
/// worker finished its last request).
pub async fn run(load: Load, at_window_start: impl FnOnce()) -> (Outcome, Duration) {
    let start = Instant::now();
    let measure_from = start + load.warmup;
    let deadline = measure_from + load.duration;
    let load = Arc::new(load);
    let budget = Arc::new(AtomicU64::new(load.max_requests.unwrap_or(u64::MAX)));
    let workers: Vec<_> = (0..load.concurrency.max(1))
        .map(|_| tokio::spawn(worker(load.clone(), budget.clone(), measure_from, deadline)))
        .collect();
    tokio::time::sleep_until(measure_from.into()).await;
    at_window_start();
    let mut total = Outcome::default();
    for w in workers {
        match w.await {
            Ok(o) => total.merge(o),
            Err(e) => total.error(true, format!("worker panicked: {e}")),
        }
    }
    (
        total,
        Instant::now().saturating_duration_since(measure_from),
    )
}

async fn worker(
    load: Arc<Load>,
    budget: Arc<AtomicU64>,
    measure_from: Instant,
    deadline: Instant,
) -> Outcome {
    let mut out = Outcome::default();
    let mut conn: Option<SendRequest<Full<Bytes>>> = None;
    let mut checked = false;
    while Instant::now() < deadline {
        let counted = Instant::now() >= measure_from;
        let sender = match conn.as_mut() {
            Some(s) if !s.is_closed() => s,
            _ => match open(&load.target, &load.request.host).await {
                Ok(io) => match http1(io).await {
                    Ok(s) => conn.insert(s),
                    Err(e) => {
                        out.error(counted, e);
                        tokio::time::sleep(Duration::from_millis(10)).await;
                        continue;
                    }
                },
                Err(e) => {
                    out.error(counted, e);
                    // A refused or broken path must not spin a core.
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                }
            },
        };
        if sender.ready().await.is_err() {
            conn = None;
            continue;
        }
        let req = match load.request.build() {
            Ok(r) => r,
            Err(e) => {
                out.error(true, e);
                return out;
            }
        };
        let t0 = Instant::now();
        let counted = t0 >= measure_from;
        if counted && !take_one(&budget) {
            break;
        }
        // Checked on a measured request, so that a wrong answer counts as
        // an error of the run instead of vanishing into the warm-up.
        let check = if checked || !counted {
            None
        } else {
            load.request.expect
        };
        checked |= counted;
        match exchange(sender, req, load.sse, check, t0).await {
            Ok(seen) => {
                if !counted {
                    continue;
                }
                out.requests += 1;
                out.response_bytes += seen.bytes;
                out.latency.push(micros(seen.done - t0));
                if let Some(ttfe) = seen.first_event {
                    out.streams += 1;
                    out.ttfe.push(micros(ttfe - t0));
                    out.events += seen.events;
                    out.bursts += seen.bursts;
                    out.gaps.extend(seen.gaps);
                } else if load.sse.is_some() {
                    out.error(true, "stream answer without any SSE event".into());
                }
            }
            Err(e) => {
                out.error(counted, e);
                conn = None;
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        }
    }
    out
}

/// Takes one request from the budget; false once it is spent.
fn take_one(budget: &AtomicU64) -> bool {
    budget
        .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1))
        .is_ok()
}

/// What one exchange returned.
struct Seen {
    done: Instant,
    bytes: u64,
    first_event: Option<Instant>,
    events: u64,
    bursts: u64,
    gaps: Vec<u32>,
}

async fn exchange(
    sender: &mut SendRequest<Full<Bytes>>,
    req: Request<Full<Bytes>>,
    sse: Option<SseSpec>,
    check: Option<Expect>,
    t0: Instant,
) -> Result<Seen, String> {
    let resp = sender.send_request(req).await.map_err(|e| e.to_string())?;
    let status = resp.status();
    let mut body = resp.into_body();
    let mut seen = Seen {
        done: t0,
        bytes: 0,
        first_event: None,
        events: 0,
        bursts: 0,
        gaps: Vec::new(),
    };
    let mut last_byte = 0u8;
    let mut kept = Vec::new();
    let mut last_burst: Option<Instant> = None;
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| format!("reading the body: {e}"))?;
        let Ok(data) = frame.into_data() else {
            continue;
        };
        seen.bytes += data.len() as u64;
        if check.is_some() {
            kept.extend_from_slice(&data);
        }
        let Some(sse) = sse else {
            continue;
        };
        let n = count_event_ends(last_byte, &data);
        last_byte = data.last().copied().unwrap_or(last_byte);
        if n == 0 {
            continue;
        }
        let now = Instant::now();
        seen.events += n;
        match last_burst {
            None => {
                seen.first_event = Some(now);
                seen.bursts = 1;
                last_burst = Some(now);
            }
            Some(prev) if now - prev >= sse.burst_window => {
                seen.gaps.push(micros(now - prev));
                seen.bursts += 1;
                last_burst = Some(now);
            }
            Some(_) => {}
        }
    }
    seen.done = Instant::now();
    if !status.is_success() {
        return Err(format!("status {status}"));
    }
    if let Some(expect) = check {
        expect.check(sse.is_some(), &kept)?;
    }
    Ok(seen)
}

/// Event terminators (`\n\n`) in `data`, counting one split across the
/// previous frame's last byte.
fn count_event_ends(prev_last: u8, data: &[u8]) -> u64 {
    let mut n = 0;
    let mut prev = prev_last;
    for &b in data {
        if b == b'\n' && prev == b'\n' {
            n += 1;
            prev = 0;
        } else {
            prev = b;
        }
    }
    n
}

/// Timings of one fresh connection to a host.
#[derive(Debug, Clone, Copy)]
pub struct Handshake {
    /// TCP connect, CONNECT and TLS handshake (µs).
    pub tls_ready: u32,
    /// …plus one request and its answer (µs).
    pub first_response: u32,
}

/// Opens one fresh connection per host in `hosts`, in order, and times it.
pub async fn handshakes(
    target: &Target,
    hosts: &[String],
    request: &RequestSpec,
) -> Result<Vec<Handshake>, String> {
    let mut out = Vec::with_capacity(hosts.len());
    for host in hosts {
        let t0 = Instant::now();
        let io = open(target, host).await?;
        let tls_ready = micros(t0.elapsed());
        let mut sender = http1(io).await?;
        let mut spec = request.clone();
        spec.host = host.clone();
        exchange(&mut sender, spec.build()?, None, None, Instant::now()).await?;
        out.push(Handshake {
            tls_ready,
            first_response: micros(t0.elapsed()),
        });
    }
    Ok(out)
}

/// The result of holding many streams open.
#[derive(Debug, Default)]
pub struct Held {
    pub opened: usize,
    pub failed: usize,
    pub first_error: Option<String>,
    pub open_time: Duration,
}

/// Opens `n` streaming requests (at most `parallel` connecting at once),
/// waits until each has received its first event (or `timeout`), calls
/// `measure` while all are open, then drops them.
pub async fn hold<T>(
    target: &Target,
    request: &RequestSpec,
    n: usize,
    parallel: usize,
    timeout: Duration,
    measure: impl FnOnce() -> T,
) -> (Held, T) {
    let start = Instant::now();
    let (ready_tx, mut ready_rx) = mpsc::channel::<Result<(), String>>(n.max(1));
    let (stop_tx, stop_rx) = watch::channel(false);
    let gate = Arc::new(Semaphore::new(parallel.max(1)));
    for _ in 0..n {
        let target = target.clone();
        let request = request.clone();
        let ready = ready_tx.clone();
        let mut stop = stop_rx.clone();
        let gate = gate.clone();
        tokio::spawn(async move {
            let permit = gate.acquire_owned().await;
            let opened = async {
                let mut sender = http1(open(&target, &request.host).await?).await?;
                let resp = sender
                    .send_request(request.build()?)
                    .await
                    .map_err(|e| e.to_string())?;
                if !resp.status().is_success() {
                    return Err(format!("status {}", resp.status()));
                }
                let mut body = resp.into_body();
                // The first data frame is the first event.
                loop {
                    match body.frame().await {
                        Some(Ok(f)) if f.is_data() => break,
                        Some(Ok(_)) => {}
                        Some(Err(e)) => return Err(e.to_string()),
                        None => return Err("stream ended before its first event".into()),
                    }
                }
                Ok((sender, body))
            }
            .await;
            drop(permit);
            match opened {
                Ok((_sender, mut body)) => {
                    let _ = ready.send(Ok(())).await;
                    // Keep reading so flow control never stalls the stream.
                    loop {
                        tokio::select! {
                            f = body.frame() => if f.is_none() { break },
                            _ = stop.wait_for(|s| *s) => break,
                        }
                    }
                }
                Err(e) => {
                    let _ = ready.send(Err(e)).await;
                }
            }
        });
    }
    drop(ready_tx);
    let mut held = Held::default();
    let deadline = tokio::time::Instant::now() + timeout;
    while held.opened + held.failed < n {
        match tokio::time::timeout_at(deadline, ready_rx.recv()).await {
            Ok(Some(Ok(()))) => held.opened += 1,
            Ok(Some(Err(e))) => {
                held.failed += 1;
                held.first_error.get_or_insert(e);
            }
            Ok(None) => break,
            Err(_) => {
                held.first_error
                    .get_or_insert("timed out opening streams".into());
                break;
            }
        }
    }
    held.open_time = start.elapsed();
    // Let allocations settle (buffers grown by the first events) before
    // reading memory.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let measured = measure();
    stop_tx.send_replace(true);
    (held, measured)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_ends_across_frames() {
        assert_eq!(count_event_ends(0, b"data: a\n\ndata: b\n\n"), 2);
        assert_eq!(count_event_ends(b'\n', b"\ndata: c"), 1);
        assert_eq!(count_event_ends(0, b"\n\n\n\n"), 2);
        assert_eq!(count_event_ends(0, b"data: x\n"), 0);
    }

    /// The bench upstream answers `/v1/responses` in Messages shape, which
    /// has no `output`: every worker's check must fail and be counted, even
    /// with a warm-up long enough to hold each worker's first request.
    #[tokio::test]
    async fn a_wrong_answer_is_an_error_of_the_run() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(crate::upstream::serve(listener, Default::default()));
        let load = |path: &str| Load {
            target: Target {
                addr,
                via: Via::Plain,
                tls: None,
            },
            request: RequestSpec {
                host: "bench".into(),
                path: path.into(),
                body: Bytes::from_static(br#"{"model":"m","stream":false}"#),
                headers: Vec::new(),
                expect: Some(Expect {
                    json_key: "output",
                    sse_end: "response.completed",
                }),
            },
            concurrency: 2,
            warmup: Duration::from_millis(200),
            duration: Duration::from_millis(200),
            sse: None,
            max_requests: None,
        };
        let (wrong, _) = run(load("/v1/responses"), || ()).await;
        assert_eq!(wrong.errors, 2, "{:?}", wrong.first_error);
        assert!(wrong.first_error.unwrap().contains("no \"output\""));
        let mut right = load("/v1/messages");
        right.request.expect = Some(Expect {
            json_key: "content",
            sse_end: "message_stop",
        });
        let (right, _) = run(right, || ()).await;
        assert_eq!(right.errors, 0, "{:?}", right.first_error);
        assert!(right.requests > 0);
    }

    #[test]
    fn answers_are_checked_for_shape() {
        let chat = Expect {
            json_key: "choices",
            sse_end: "[DONE]",
        };
        assert!(chat.check(false, br#"{"choices":[]}"#).is_ok());
        assert!(chat.check(false, br#"{"choices":[],"error":{}}"#).is_err());
        let responses = Expect {
            json_key: "output",
            sse_end: "response.completed",
        };
        assert!(responses
            .check(false, br#"{"output":[],"error":null}"#)
            .is_ok());
        assert!(responses
            .check(false, br#"{"output":[],"error":{"code":"server_error"}}"#)
            .is_err());
        assert!(responses.check(false, br#"{"choices":[]}"#).is_err());
        assert!(chat.check(false, br#"{"content":[]}"#).is_err());
        assert!(chat.check(true, b"data: {}\n\ndata: [DONE]\n\n").is_ok());
        assert!(chat.check(true, b"event: message_start\n\n").is_err());
    }
}
