//! The response body on its way to the client: every frame is forwarded the
//! moment it arrives, while usage and a truncated copy are taken for the
//! audit record, which is filed when the body ends, fails, or is dropped
//! because the client went away (dropping it also drops the upstream body,
//! which cancels the upstream request).

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body::{Body as HttpBody, Frame, SizeHint};
use tokio::time::Sleep;

use crate::app::App;
use crate::audit::capture::Capture;
use crate::audit::usage::UsageTap;
use crate::audit::Record;
use crate::upstream::{Body, BoxError};

/// What is needed to file the record once the body is done.
pub struct Finisher {
    pub app: Arc<App>,
    pub record: Record,
    pub started: Instant,
    pub capture: Capture,
    pub usage: UsageTap,
    /// Credential values of this request, to redact from bodies.
    pub secrets: Vec<String>,
    /// Shared with a streamed request body, when the request was not buffered.
    pub request: Option<Arc<std::sync::Mutex<Capture>>>,
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
            .map(String::as_str)
            .chain(self.app.secrets().iter().map(String::as_str))
            .collect();
        let r = &mut self.record;
        r.duration_ms = self.started.elapsed().as_millis() as u64;
        r.response_bytes = self.capture.total();
        r.response_body = self.capture.text(&secrets);
        if let Some(request) = self.request.as_ref().and_then(|c| c.lock().ok()) {
            r.request_bytes = request.total();
            r.request_body = request.text(&secrets);
        }
        r.stream = r.stream || self.usage.is_stream();
        r.error = r
            .error
            .take()
            .or(error)
            .map(|e| crate::audit::redact::redact(&e, &secrets));
        r.usage = self.usage.finish();
        self.app.auditor.record(self.record);
    }
}

/// A response body that taps frames for the audit and enforces the
/// stream-idle timeout.
pub struct TapBody {
    inner: Body,
    finisher: Option<Finisher>,
    idle: Duration,
    timer: Pin<Box<Sleep>>,
}

impl TapBody {
    pub fn new(inner: Body, finisher: Finisher, idle: Duration) -> TapBody {
        TapBody {
            inner,
            finisher: Some(finisher),
            idle,
            timer: Box::pin(tokio::time::sleep(idle)),
        }
    }

    fn finish(&mut self, error: Option<String>) {
        if let Some(f) = self.finisher.take() {
            f.finish(error);
        }
    }
}

#[derive(Debug, thiserror::Error)]
#[error("upstream stream idle for {0:?}")]
pub struct IdleTimeout(Duration);

impl HttpBody for TapBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = &mut *self;
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => {
                if let (Some(data), Some(f)) = (frame.data_ref(), this.finisher.as_mut()) {
                    f.observe(data);
                }
                let deadline = tokio::time::Instant::now() + this.idle;
                this.timer.as_mut().reset(deadline);
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Ready(Some(Err(e))) => {
                this.finish(Some(format!("upstream body: {e}")));
                Poll::Ready(Some(Err(e)))
            }
            Poll::Ready(None) => {
                this.finish(None);
                Poll::Ready(None)
            }
            Poll::Pending => match this.timer.as_mut().poll(cx) {
                Poll::Ready(()) => {
                    let err = IdleTimeout(this.idle);
                    this.finish(Some(err.to_string()));
                    Poll::Ready(Some(Err(Box::new(err))))
                }
                Poll::Pending => Poll::Pending,
            },
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
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
    capture: Arc<std::sync::Mutex<Capture>>,
}

impl CountingBody {
    pub fn new(inner: Body, capture: Arc<std::sync::Mutex<Capture>>) -> CountingBody {
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
