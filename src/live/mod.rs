//! The live traffic page (`GET /_switchyard/`) and its Server-Sent Events
//! feed (`GET /_switchyard/events`).
//!
//! The page is one self-contained HTML file (inline CSS and JS, no external
//! assets) compiled into the binary. The feed sends the recent records,
//! then every record as the auditor files it: the same JSON as the audit
//! line, so bodies are already truncated and redacted. A feed ends when
//! switchyard shuts down, so it never holds up the drain.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::{header, HeaderValue, Response};
use http_body::Frame;
use tokio::sync::{broadcast, mpsc};

use crate::app::App;
use crate::audit::Record;
use crate::upstream::{Body, BoxError};

const PAGE: &str = include_str!("page.html");
/// Comment lines keep idle connections (and proxies between) from timing out.
const KEEPALIVE: Duration = Duration::from_secs(15);

pub fn page() -> Response<Body> {
    let mut resp = Response::new(crate::body::full(PAGE));
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    // Nothing on the page loads from elsewhere; say so to the browser too.
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'self'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src data:",
        ),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}

/// The SSE feed: `event: record` with the record's JSON as data.
pub fn events(app: &App) -> Response<Body> {
    // Subscribe before reading the history so nothing falls between; the
    // page drops duplicates by id.
    let live = app.auditor.subscribe();
    let recent = app.auditor.recent();
    let (tx, rx) = mpsc::channel(64);
    let shutdown = app.shutdown.clone();
    tokio::spawn(feed(recent, live, tx, shutdown));
    let mut resp = Response::new(crate::body::boxed(ChannelBody { rx }));
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/event-stream"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}

fn event(record: &Record) -> Option<Bytes> {
    let json = serde_json::to_string(record).ok()?;
    Some(Bytes::from(format!("event: record\ndata: {json}\n\n")))
}

async fn feed(
    recent: Vec<Arc<Record>>,
    mut live: broadcast::Receiver<Arc<Record>>,
    tx: mpsc::Sender<Bytes>,
    shutdown: tokio_util::sync::CancellationToken,
) {
    if tx
        .send(Bytes::from_static(
            b"retry: 2000\nevent: hello\ndata: {}\n\n",
        ))
        .await
        .is_err()
    {
        return;
    }
    for record in recent {
        if let Some(e) = event(&record) {
            if tx.send(e).await.is_err() {
                return;
            }
        }
    }
    loop {
        let frame = tokio::select! {
            r = live.recv() => match r {
                Ok(record) => match event(&record) {
                    Some(e) => e,
                    None => continue,
                },
                Err(broadcast::error::RecvError::Lagged(n)) => {
                    Bytes::from(format!("event: lagged\ndata: {n}\n\n"))
                }
                Err(broadcast::error::RecvError::Closed) => return,
            },
            _ = tokio::time::sleep(KEEPALIVE) => Bytes::from_static(b": keepalive\n\n"),
            _ = shutdown.cancelled() => return,
            _ = tx.closed() => return,
        };
        if tx.send(frame).await.is_err() {
            return;
        }
    }
}

/// A response body fed from a channel; it ends when the sender is dropped.
struct ChannelBody {
    rx: mpsc::Receiver<Bytes>,
}

impl http_body::Body for ChannelBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        self.rx.poll_recv(cx).map(|b| b.map(|b| Ok(Frame::data(b))))
    }
}
