//! A bare hyper client for the fake provider's tests: one fresh connection
//! per request, no pooling or retries, and every body frame timestamped on
//! arrival so tests can see pacing and cut-offs exactly as sent.
#![allow(dead_code)] // each test binary uses a different subset

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::Bytes;
use fake_provider::http::{HeaderMap, Method, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_util::rt::{TokioExecutor, TokioIo};
use serde_json::Value;
use tokio::net::TcpStream;

/// What came back.
pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    /// Body frames with their arrival times.
    pub frames: Vec<(Instant, Bytes)>,
    /// Set when the body failed before it ended properly.
    pub body_error: Option<String>,
    pub sent_at: Instant,
    pub headers_at: Instant,
}

impl Reply {
    pub fn body(&self) -> Bytes {
        let mut all = Vec::new();
        for (_, frame) in &self.frames {
            all.extend_from_slice(frame);
        }
        all.into()
    }

    pub fn text(&self) -> String {
        String::from_utf8(self.body().to_vec()).unwrap()
    }

    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body())
            .unwrap_or_else(|e| panic!("body is not JSON ({e}): {}", self.text()))
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(|v| v.to_str().unwrap())
    }

    /// `(event line, data)` per SSE event.
    pub fn sse(&self) -> Vec<(Option<String>, String)> {
        parse_sse(&self.text())
    }

    /// The data of every SSE event, parsed as JSON (skipping `[DONE]`).
    pub fn sse_json(&self) -> Vec<Value> {
        self.sse()
            .into_iter()
            .filter(|(_, data)| data != "[DONE]")
            .map(|(_, data)| serde_json::from_str(&data).unwrap())
            .collect()
    }
}

pub fn parse_sse(text: &str) -> Vec<(Option<String>, String)> {
    text.split("\n\n")
        .filter(|block| !block.trim().is_empty())
        .map(|block| {
            let mut name = None;
            let mut data = Vec::new();
            for line in block.lines() {
                if let Some(n) = line.strip_prefix("event: ") {
                    name = Some(n.to_string());
                } else if let Some(d) = line.strip_prefix("data: ") {
                    data.push(d);
                }
            }
            (name, data.join("\n"))
        })
        .collect()
}

/// Sends one request over a new HTTP/1.1 connection. `Err` when no response
/// head arrived (connection reset or closed).
pub async fn send(
    addr: SocketAddr,
    method: Method,
    path: &str,
    headers: &[(&str, &str)],
    body: impl Into<Bytes>,
) -> Result<Reply, String> {
    let stream = TcpStream::connect(addr).await.map_err(|e| e.to_string())?;
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| e.to_string())?;
    tokio::spawn(conn);
    let request = build(method, path, headers, body.into(), addr);
    exchange(|req| sender.send_request(req), request).await
}

/// Like [`send`], over h2c (HTTP/2 prior knowledge).
pub async fn send_h2(
    addr: SocketAddr,
    path: &str,
    body: impl Into<Bytes>,
) -> Result<Reply, String> {
    let stream = TcpStream::connect(addr).await.map_err(|e| e.to_string())?;
    let (mut sender, conn) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(stream))
            .await
            .map_err(|e| e.to_string())?;
    tokio::spawn(conn);
    let request = build(Method::POST, path, &[], body.into(), addr);
    exchange(|req| sender.send_request(req), request).await
}

fn build(
    method: Method,
    path: &str,
    headers: &[(&str, &str)],
    body: Bytes,
    addr: SocketAddr,
) -> Request<Full<Bytes>> {
    let mut builder = Request::builder()
        .method(method)
        .uri(format!("http://{addr}{path}"));
    let has_content_type = headers
        .iter()
        .any(|(k, _)| k.eq_ignore_ascii_case("content-type"));
    if !has_content_type {
        builder = builder.header("content-type", "application/json");
    }
    for (k, v) in headers {
        builder = builder.header(*k, *v);
    }
    builder.body(Full::new(body)).unwrap()
}

async fn exchange<F, Fut>(send: F, request: Request<Full<Bytes>>) -> Result<Reply, String>
where
    F: FnOnce(Request<Full<Bytes>>) -> Fut,
    Fut: std::future::Future<Output = Result<hyper::Response<hyper::body::Incoming>, hyper::Error>>,
{
    let sent_at = Instant::now();
    let response = send(request).await.map_err(|e| format!("{e:?}"))?;
    let headers_at = Instant::now();
    let (parts, mut body) = response.into_parts();
    let mut frames = Vec::new();
    let mut body_error = None;
    while let Some(frame) = body.frame().await {
        match frame {
            Ok(frame) => {
                if let Ok(data) = frame.into_data() {
                    frames.push((Instant::now(), data));
                }
            }
            Err(e) => {
                body_error = Some(format!("{e:?}"));
                break;
            }
        }
    }
    Ok(Reply {
        status: parts.status,
        headers: parts.headers,
        frames,
        body_error,
        sent_at,
        headers_at,
    })
}

/// POSTs a JSON body; panics if no response arrives.
pub async fn post(addr: SocketAddr, path: &str, body: Value) -> Reply {
    post_with(addr, path, &[], body).await
}

pub async fn post_with(
    addr: SocketAddr,
    path: &str,
    headers: &[(&str, &str)],
    body: Value,
) -> Reply {
    send(addr, Method::POST, path, headers, body.to_string())
        .await
        .unwrap_or_else(|e| panic!("POST {path}: no response: {e}"))
}

pub async fn get(addr: SocketAddr, path: &str, headers: &[(&str, &str)]) -> Reply {
    send(addr, Method::GET, path, headers, Bytes::new())
        .await
        .unwrap_or_else(|e| panic!("GET {path}: no response: {e}"))
}

/// Fails the test if `fut` does not finish within `limit`.
pub async fn within<T>(limit: Duration, fut: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(limit, fut)
        .await
        .unwrap_or_else(|_| panic!("did not finish within {limit:?}"))
}

/// The body of a Messages request.
pub fn anthropic_body(stream: bool) -> Value {
    serde_json::json!({
        "model": "claude-test-model",
        "max_tokens": 64,
        "stream": stream,
        "messages": [{"role": "user", "content": "Hi"}]
    })
}

/// The body of a Chat Completions request.
pub fn chat_body(stream: bool) -> Value {
    serde_json::json!({
        "model": "gpt-test-model",
        "stream": stream,
        "messages": [{"role": "user", "content": "Hi"}]
    })
}

/// The body of a Responses request.
pub fn responses_body(stream: bool) -> Value {
    serde_json::json!({"model": "gpt-test-model", "stream": stream, "input": "Hi"})
}
