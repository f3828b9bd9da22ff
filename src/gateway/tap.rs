//! The response body on its way to the client: every frame is forwarded the
//! moment it arrives, while usage and a truncated copy are taken for the
//! audit record, which is filed when the body ends, fails, or is dropped
//! because the client went away (dropping it also drops the upstream body,
//! which cancels the upstream request).
//!
//! It also enforces the stream-idle timeout (shorter once a tool call's
//! arguments have begun), and ends a failed SSE stream with the client
//! protocol's error event rather than a cut connection.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body::{Body as HttpBody, Frame, SizeHint};
use tokio::time::Sleep;

use crate::app::App;
use crate::audit::capture::Capture;
use crate::audit::usage::UsageTap;
use crate::audit::Record;
use crate::pool::Lease;
use crate::protocol::Protocol;
use crate::upstream::{Body, BoxError};

/// What is needed to file the record once the body is done.
pub struct Finisher {
    pub app: Arc<App>,
    pub record: Box<Record>,
    pub started: Instant,
    pub capture: Capture,
    pub usage: UsageTap,
    /// Credential values of this request, to redact from bodies.
    pub secrets: Vec<String>,
    /// Shared with a streamed request body, when the request was not buffered.
    pub request: Option<Arc<Mutex<Capture>>>,
    /// The credential used: its token window learns the real usage.
    pub lease: Option<Lease>,
    /// Fields a stream conversion dropped, known only at the end.
    pub stream_lossy: Option<Arc<Mutex<Vec<&'static str>>>>,
}

impl Finisher {
    fn observe(&mut self, chunk: &[u8]) {
        self.capture.push(chunk);
        self.usage.observe(chunk);
    }

    /// Completes and files the record.
    pub fn finish(mut self, error: Option<String>) {
        let secrets: Vec<&str> = self
            .secrets
            .iter()
            .chain(self.app.secrets())
            .map(String::as_str)
            .collect();
        let r = &mut self.record;
        r.duration_ms = self.started.elapsed().as_millis() as u64;
        r.response_bytes = self.capture.total();
        r.response_body = std::mem::replace(&mut self.capture, Capture::new(0)).into_text(&secrets);
        if let Some(request) = self.request.as_ref().and_then(|c| c.lock().ok()) {
            r.request_bytes = request.total();
            r.request_body = request.text(&secrets);
        }
        if let Some(lossy) = self.stream_lossy.as_ref().and_then(|l| l.lock().ok()) {
            for name in lossy.iter() {
                if !r.lossy.contains(name) {
                    r.lossy.push(name);
                }
            }
        }
        r.stream = r.stream || self.usage.is_stream();
        r.error = r
            .error
            .take()
            .or(error)
            .map(|e| crate::audit::redact::redact_owned(e, &secrets));
        r.usage = self.usage.finish();
        if let (Some(lease), Some(u)) = (&self.lease, &r.usage) {
            lease.settle_tokens(
                u.input_tokens + u.output_tokens + u.cache_read_tokens + u.cache_write_tokens,
            );
        }
        self.app.file(*self.record);
    }
}

/// A response body that taps frames for the audit and enforces timeouts.
pub struct TapBody {
    inner: Body,
    finisher: Option<Finisher>,
    /// (any gap, gap once a tool call has begun)
    idle: (Duration, Duration),
    /// Armed when the body first waits: a whole JSON answer never does,
    /// and then no timer is allocated or registered at all.
    timer: Option<Pin<Box<Sleep>>>,
    sse: bool,
    /// The protocol whose error event ends a failed SSE stream.
    error_protocol: Option<Protocol>,
    ended: bool,
}

impl TapBody {
    pub fn new(
        inner: Body,
        finisher: Finisher,
        idle: (Duration, Duration),
        sse: bool,
        error_protocol: Option<Protocol>,
    ) -> TapBody {
        TapBody {
            inner,
            finisher: Some(finisher),
            idle,
            timer: None,
            sse,
            error_protocol,
            ended: false,
        }
    }

    fn finish(&mut self, error: Option<String>) {
        if let Some(f) = self.finisher.take() {
            f.finish(error);
        }
    }

    fn current_idle(&self) -> Duration {
        let tool_call = self
            .finisher
            .as_ref()
            .is_some_and(|f| f.usage.tool_call_started());
        if tool_call {
            self.idle.0.min(self.idle.1)
        } else {
            self.idle.0
        }
    }

    /// Ends the body after a failure: an SSE stream of a known protocol gets
    /// its error event and a clean end; anything else an error.
    fn fail(&mut self, message: String) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        self.ended = true;
        let event = (self.sse && self.error_protocol.is_some())
            .then(|| crate::errors::stream_error_event(self.error_protocol, &message));
        if let (Some(event), Some(f)) = (&event, self.finisher.as_mut()) {
            f.observe(&event.to_bytes());
        }
        self.finish(Some(message.clone()));
        match event {
            Some(event) => Poll::Ready(Some(Ok(Frame::data(Bytes::from(event.to_bytes()))))),
            None => Poll::Ready(Some(Err(message.into()))),
        }
    }
}

impl HttpBody for TapBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = &mut *self;
        if this.ended {
            return Poll::Ready(None);
        }
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => {
                if let (Some(data), Some(f)) = (frame.data_ref(), this.finisher.as_mut()) {
                    f.observe(data);
                }
                let idle = this.current_idle();
                if let Some(timer) = this.timer.as_mut() {
                    timer.as_mut().reset(tokio::time::Instant::now() + idle);
                }
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Ready(Some(Err(e))) => this.fail(format!("upstream body: {e}")),
            Poll::Ready(None) => {
                let cut_short = this.sse
                    && this.error_protocol.is_some()
                    && this.finisher.as_ref().is_some_and(|f| !f.usage.completed());
                if cut_short {
                    // Without its terminal event a client cannot tell a cut
                    // stream from a finished one: say so in its protocol.
                    return this
                        .fail("the provider's stream ended before its final event".to_owned());
                }
                this.ended = true;
                this.finish(None);
                Poll::Ready(None)
            }
            Poll::Pending => {
                let idle = this.current_idle();
                let timer = this
                    .timer
                    .get_or_insert_with(|| Box::pin(tokio::time::sleep(idle)));
                match timer.as_mut().poll(cx) {
                    Poll::Ready(()) => {
                        this.fail(format!("upstream stream idle for {}s", idle.as_secs_f64()))
                    }
                    Poll::Pending => Poll::Pending,
                }
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.ended || self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

impl Drop for TapBody {
    fn drop(&mut self) {
        // Still holding the finisher means the body never ended: the client
        // went away mid-response, and dropping `inner` cancels upstream.
        let error = (!self.inner.is_end_stream())
            .then(|| "client disconnected before the response ended".to_owned());
        self.finish(error);
    }
}

/// A request body streamed to the upstream while being counted and captured.
pub struct CountingBody {
    inner: Body,
    capture: Arc<Mutex<Capture>>,
}

impl CountingBody {
    pub fn new(inner: Body, capture: Arc<Mutex<Capture>>) -> CountingBody {
        CountingBody { inner, capture }
    }
}

impl HttpBody for CountingBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let polled = Pin::new(&mut self.inner).poll_frame(cx);
        if let Poll::Ready(Some(Ok(frame))) = &polled {
            if let (Some(data), Ok(mut c)) = (frame.data_ref(), self.capture.lock()) {
                c.push(data);
            }
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
