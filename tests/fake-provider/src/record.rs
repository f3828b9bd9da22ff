//! The request log: every request the fake provider receives, kept whole
//! (method, path and query, every header including duplicates, body) so tests
//! can assert what the proxy sent upstream.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use bytes::Bytes;
use hyper::http::{HeaderMap, Method, Version};
use serde_json::Value;
use tokio::sync::watch;

/// One received request.
#[derive(Clone, Debug)]
pub struct Recorded {
    pub method: Method,
    /// Path and query, exactly as received (e.g. `/v1/messages?beta=true`).
    pub path: String,
    /// `host` header, or the URI authority (HTTP/2).
    pub authority: Option<String>,
    pub version: Version,
    /// All headers; `get_all` returns duplicates in arrival order.
    pub headers: HeaderMap,
    pub body: Bytes,
    /// The body parsed as JSON, when it is JSON.
    pub json: Option<Value>,
    /// The client's address; equal ports mean a reused connection.
    pub peer: SocketAddr,
    pub received_at: Instant,
}

impl Recorded {
    /// The first value of a header, if present and valid UTF-8.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// Every value of a header, in arrival order.
    pub fn header_all(&self, name: &str) -> Vec<&str> {
        self.headers
            .get_all(name)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .collect()
    }

    /// All headers as `(lowercase name, value)` pairs, duplicates preserved.
    pub fn header_pairs(&self) -> Vec<(String, String)> {
        self.headers
            .iter()
            .map(|(k, v)| {
                (
                    k.as_str().to_string(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect()
    }

    /// The path without the query.
    pub fn path_only(&self) -> &str {
        self.path.split('?').next().unwrap_or(&self.path)
    }

    /// The body's `model`.
    pub fn model(&self) -> Option<&str> {
        self.json.as_ref()?.get("model")?.as_str()
    }

    /// Whether the body asked for a stream.
    pub fn is_stream(&self) -> bool {
        self.json
            .as_ref()
            .and_then(|j| j.get("stream"))
            .and_then(Value::as_bool)
            .unwrap_or(false)
    }

    /// The body as (lossy) UTF-8.
    pub fn body_text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// `FakeProvider::wait_for_requests` ran out of time.
#[derive(Debug)]
pub struct WaitTimeout {
    pub wanted: usize,
    pub timeout: Duration,
    /// What had arrived by then.
    pub got: Vec<Recorded>,
}

impl std::fmt::Display for WaitTimeout {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let paths: Vec<String> = self
            .got
            .iter()
            .map(|r| format!("{} {}", r.method, r.path))
            .collect();
        write!(
            f,
            "expected {} request(s) within {:?}, got {}: {:?}",
            self.wanted,
            self.timeout,
            self.got.len(),
            paths
        )
    }
}

impl std::error::Error for WaitTimeout {}

/// Shared log; `count` wakes waiters whenever a request lands.
pub(crate) struct Recorder {
    log: Mutex<Vec<Recorded>>,
    enabled: AtomicBool,
    count: watch::Sender<usize>,
}

impl Recorder {
    pub fn new() -> Recorder {
        Recorder {
            log: Mutex::new(Vec::new()),
            enabled: AtomicBool::new(true),
            count: watch::channel(0).0,
        }
    }

    pub fn push(&self, recorded: Recorded) {
        if self.enabled.load(Ordering::Relaxed) {
            self.log
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push(recorded);
        }
        self.count.send_modify(|n| *n += 1);
    }

    pub fn all(&self) -> Vec<Recorded> {
        self.log
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    pub fn clear(&self) {
        self.log
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clear();
        self.count.send_replace(0);
    }

    pub fn set_enabled(&self, enabled: bool) {
        self.enabled.store(enabled, Ordering::Relaxed);
    }

    /// Requests received so far (counted even when recording is off).
    pub fn count(&self) -> usize {
        *self.count.borrow()
    }

    pub async fn wait_for(
        &self,
        n: usize,
        timeout: Duration,
    ) -> Result<Vec<Recorded>, WaitTimeout> {
        let mut rx = self.count.subscribe();
        let reached = tokio::time::timeout(timeout, rx.wait_for(|count| *count >= n)).await;
        match reached {
            Ok(Ok(_)) => Ok(self.all()),
            _ => Err(WaitTimeout {
                wanted: n,
                timeout,
                got: self.all(),
            }),
        }
    }
}
