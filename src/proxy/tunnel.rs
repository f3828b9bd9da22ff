//! Blind tunnels: bytes copied both ways, never inspected, counted for the
//! audit record filed when the tunnel closes.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use std::pin::Pin;
use std::task::{Context, Poll};

use hyper::upgrade::OnUpgrade;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use crate::app::App;
use crate::audit::{Kind, Record};
use crate::upstream::OutboundStream;

/// Where a tunnel goes, and for whom.
pub struct Target {
    pub host: String,
    pub port: u16,
    pub client: Option<crate::access::ClientName>,
}

/// A tunnel record with its identity filled in.
pub fn record(
    peer: SocketAddr,
    host: &str,
    port: u16,
    client: Option<crate::access::ClientName>,
) -> Record {
    let mut record = Record::new(Kind::Tunnel, crate::audit::client_address(peer));
    record.client_name = client.map(|c| c.0);
    record.method = Some("CONNECT".into());
    record.host = Some(host.to_owned());
    record.port = Some(port);
    record
}

pub async fn run(
    app: Arc<App>,
    peer: SocketAddr,
    upgrade: OnUpgrade,
    stream: OutboundStream,
    target: Target,
    started: Instant,
) {
    let _open = app.auditor.metrics().open_tunnel();
    let mut record = record(peer, &target.host, target.port, target.client);
    record.status = Some(200);
    match upgrade.await {
        Ok(upgraded) => {
            let mut client = Counted::new(TokioIo::new(upgraded));
            let mut target = Counted::new(stream);
            let copied = tokio::select! {
                r = tokio::io::copy_bidirectional(&mut client, &mut target) => r.map(|_| ()),
                // At shutdown, open tunnels get until the drain deadline.
                _ = wait_past_deadline(&app) => Err(std::io::Error::other("closed at shutdown")),
            };
            // Counted as read, so a tunnel that ends in an error (a reset,
            // a client giving up on TLS) still reports what crossed it.
            record.request_bytes = client.read;
            record.response_bytes = target.read;
            if let Err(e) = copied {
                record.error = Some(format!("tunnel closed: {e}"));
            }
        }
        Err(e) => record.error = Some(format!("CONNECT upgrade failed: {e}")),
    }
    record.duration_ms = started.elapsed().as_millis() as u64;
    app.file(record);
}

async fn wait_past_deadline(app: &App) {
    app.shutdown.cancelled().await;
    tokio::time::sleep(app.settings.timeouts.shutdown).await;
}

/// Counts the bytes read from a stream.
struct Counted<T> {
    inner: T,
    read: u64,
}

impl<T> Counted<T> {
    fn new(inner: T) -> Counted<T> {
        Counted { inner, read: 0 }
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for Counted<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        if let Poll::Ready(Ok(())) = polled {
            self.read += (buf.filled().len() - before) as u64;
        }
        polled
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Counted<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}
