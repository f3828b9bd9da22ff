//! Response bodies: whole buffers, and channel-backed bodies fed by a task
//! that writes one frame at a time with real sleeps in between, so pacing
//! (and any fault at the end) is what the client observes on the wire.

use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full};
use hyper::body::{Body, Frame, SizeHint};
use tokio::sync::mpsc;

use crate::server::{ConnCtl, Kill};

/// The body type of every response.
pub type RespBody = BoxBody<Bytes, Infallible>;

/// How long a frame taken by hyper is given to reach the socket before a
/// fault cuts the connection.
const FLUSH_GRACE: Duration = Duration::from_millis(50);

/// A whole body.
pub fn full(bytes: impl Into<Bytes>) -> RespBody {
    Full::new(bytes.into()).boxed()
}

/// How a paced body ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum End {
    /// The body ends normally (chunked terminator / END_STREAM).
    Clean,
    /// The connection is cut after the last frame instead.
    Kill(Kill),
}

/// A body whose frames arrive over a channel.
struct ChannelBody {
    rx: mpsc::Receiver<Bytes>,
    len: Option<u64>,
}

impl Body for ChannelBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        self.rx
            .poll_recv(cx)
            .map(|frame| frame.map(|bytes| Ok(Frame::data(bytes))))
    }

    fn size_hint(&self) -> SizeHint {
        self.len.map(SizeHint::with_exact).unwrap_or_default()
    }
}

/// A body that sends `frames` one by one, `gap` apart, then ends as `end`
/// says. `announced_len` makes hyper send a `content-length` (used to cut a
/// JSON body short).
pub fn paced(
    frames: Vec<Bytes>,
    gap: Duration,
    end: End,
    conn: ConnCtl,
    announced_len: Option<u64>,
) -> RespBody {
    // Capacity 1: a frame is only queued once hyper took the previous one.
    let (tx, rx) = mpsc::channel(1);
    tokio::spawn(feed(tx, frames, gap, end, conn));
    ChannelBody {
        rx,
        len: announced_len,
    }
    .boxed()
}

async fn feed(tx: mpsc::Sender<Bytes>, frames: Vec<Bytes>, gap: Duration, end: End, conn: ConnCtl) {
    for (i, frame) in frames.into_iter().enumerate() {
        if i > 0 && !gap.is_zero() {
            tokio::time::sleep(gap).await;
        }
        if tx.send(frame).await.is_err() {
            return; // the client went away
        }
    }
    let End::Kill(kill) = end else {
        return; // dropping `tx` ends the body cleanly
    };
    while tx.capacity() < tx.max_capacity() {
        if tx.is_closed() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    tokio::time::sleep(FLUSH_GRACE).await;
    conn.kill(kill);
    // Holding `tx` until the connection is gone keeps hyper from ending the
    // body properly in the meantime.
    tx.closed().await;
}
