//! The fast fake upstream: a minimal HTTP/1.1 keep-alive server that answers
//! every generation request from pre-rendered bytes, so that it costs far
//! less than any proxy in front of it.
//!
//! - `POST …/chat/completions`: an OpenAI Chat Completions answer;
//! - `POST …/messages` (and anything else): an Anthropic Messages answer;
//! - JSON (about 1 KB), or SSE when the body says `"stream": true`: N text
//!   deltas framed by the protocol's opening and closing events, one event
//!   per body frame, `gap` apart (the first one leaves at once);
//! - `x-bench-events` / `x-bench-gap-ms` request headers override N and the
//!   gap per request (the 1,000-open-streams run asks for slow, long
//!   streams this way);
//! - `GET` anything: `200 ok`, for readiness checks.
//!
//! The fake-provider crate speaks the APIs more completely but parses and
//! renders JSON per request; here nothing is parsed beyond a byte search.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Either, Full};
use hyper::body::{Body, Frame, Incoming};
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::time::Sleep;

/// What the upstream answers.
#[derive(Debug, Clone)]
pub struct Config {
    /// Text deltas per SSE stream.
    pub events: usize,
    /// Pause between two SSE events.
    pub gap: Duration,
    /// Approximate size of a JSON answer.
    pub json_bytes: usize,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            events: 20,
            gap: Duration::from_millis(5),
            json_bytes: 1024,
        }
    }
}

/// The pre-rendered answers.
struct Canned {
    config: Config,
    chat_json: Bytes,
    messages_json: Bytes,
    chat_sse: Arc<[Bytes]>,
    messages_sse: Arc<[Bytes]>,
}

/// Accepts connections on `listener` forever.
pub async fn serve(listener: TcpListener, config: Config) {
    let canned = Arc::new(Canned {
        chat_json: chat_json(config.json_bytes),
        messages_json: messages_json(config.json_bytes),
        chat_sse: chat_sse(config.events).into(),
        messages_sse: messages_sse(config.events).into(),
        config,
    });
    loop {
        let (stream, _peer): (_, SocketAddr) = match listener.accept().await {
            Ok(accepted) => accepted,
            // Out of fds and the like: back off instead of spinning.
            Err(_) => {
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            }
        };
        // SSE frames are tiny and must leave when written.
        let _ = stream.set_nodelay(true);
        let canned = canned.clone();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |req| handle(canned.clone(), req));
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

type Answer = Response<Either<Full<Bytes>, SseBody>>;

async fn handle(canned: Arc<Canned>, req: Request<Incoming>) -> Result<Answer, Infallible> {
    let header = |name: &str| {
        req.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok())
    };
    let events = header("x-bench-events").map(|n| n as usize);
    let gap = header("x-bench-gap-ms").map(Duration::from_millis);
    let chat = req.uri().path().ends_with("/chat/completions");
    if req.method() == hyper::Method::GET {
        return Ok(plain(
            "application/json",
            Bytes::from_static(b"{\"ok\":true}"),
        ));
    }
    let body = match req.into_body().collect().await {
        Ok(b) => b.to_bytes(),
        Err(_) => Bytes::new(),
    };
    if !wants_stream(&body) {
        let json = if chat {
            canned.chat_json.clone()
        } else {
            canned.messages_json.clone()
        };
        return Ok(plain("application/json", json));
    }
    let frames: Arc<[Bytes]> = match (events, chat) {
        (None, true) => canned.chat_sse.clone(),
        (None, false) => canned.messages_sse.clone(),
        (Some(n), true) => chat_sse(n).into(),
        (Some(n), false) => messages_sse(n).into(),
    };
    let body = SseBody {
        frames,
        next: 0,
        gap: gap.unwrap_or(canned.config.gap),
        sleep: None,
    };
    let mut resp = Response::new(Either::Right(body));
    let h = resp.headers_mut();
    h.insert("content-type", "text/event-stream".parse().unwrap());
    h.insert("cache-control", "no-cache".parse().unwrap());
    Ok(resp)
}

fn plain(content_type: &'static str, body: Bytes) -> Answer {
    let mut resp = Response::new(Either::Left(Full::new(body)));
    resp.headers_mut()
        .insert("content-type", content_type.parse().unwrap());
    resp
}

/// `"stream": true` anywhere in the body, with or without the space.
pub fn wants_stream(body: &[u8]) -> bool {
    let find = |needle: &[u8]| body.windows(needle.len()).any(|w| w == needle);
    find(b"\"stream\":true") || find(b"\"stream\": true")
}

/// Pre-rendered SSE frames, one per body frame, `gap` apart.
pub struct SseBody {
    frames: Arc<[Bytes]>,
    next: usize,
    gap: Duration,
    sleep: Option<Pin<Box<Sleep>>>,
}

impl Body for SseBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        let this = &mut *self;
        if this.next >= this.frames.len() {
            return Poll::Ready(None);
        }
        if this.next > 0 && !this.gap.is_zero() {
            let gap = this.gap;
            let sleep = this
                .sleep
                .get_or_insert_with(|| Box::pin(tokio::time::sleep(gap)));
            if sleep.as_mut().poll(cx).is_pending() {
                return Poll::Pending;
            }
            this.sleep = None;
        }
        let frame = this.frames[this.next].clone();
        this.next += 1;
        Poll::Ready(Some(Ok(Frame::data(frame))))
    }

    fn is_end_stream(&self) -> bool {
        self.next >= self.frames.len()
    }
}

/// Filler text of `n` bytes: words, so converters see realistic deltas.
fn filler(n: usize) -> String {
    let mut s = String::with_capacity(n + 8);
    while s.len() < n {
        s.push_str("lorem ipsum ");
    }
    s.truncate(n);
    s
}

/// An Anthropic Messages answer of about `size` bytes.
pub fn messages_json(size: usize) -> Bytes {
    let render = |text: &str| {
        format!(
            "{{\"id\":\"msg_bench\",\"type\":\"message\",\"role\":\"assistant\",\"model\":\"claude-bench\",\
             \"content\":[{{\"type\":\"text\",\"text\":\"{text}\"}}],\"stop_reason\":\"end_turn\",\
             \"stop_sequence\":null,\"usage\":{{\"input_tokens\":25,\"output_tokens\":12}}}}"
        )
    };
    let overhead = render("").len();
    Bytes::from(render(&filler(size.saturating_sub(overhead))))
}

/// An OpenAI Chat Completions answer of about `size` bytes.
pub fn chat_json(size: usize) -> Bytes {
    let render = |text: &str| {
        format!(
            "{{\"id\":\"chatcmpl-bench\",\"object\":\"chat.completion\",\"created\":1700000000,\
             \"model\":\"gpt-bench\",\"choices\":[{{\"index\":0,\"message\":{{\"role\":\"assistant\",\
             \"content\":\"{text}\"}},\"finish_reason\":\"stop\"}}],\
             \"usage\":{{\"prompt_tokens\":25,\"completion_tokens\":12,\"total_tokens\":37}}}}"
        )
    };
    let overhead = render("").len();
    Bytes::from(render(&filler(size.saturating_sub(overhead))))
}

/// An Anthropic Messages stream: `message_start`, one text block with
/// `deltas` deltas, `message_delta`, `message_stop`.
pub fn messages_sse(deltas: usize) -> Vec<Bytes> {
    let ev = |name: &str, data: String| Bytes::from(format!("event: {name}\ndata: {data}\n\n"));
    let mut out = vec![
        ev(
            "message_start",
            "{\"type\":\"message_start\",\"message\":{\"id\":\"msg_bench\",\"type\":\"message\",\
             \"role\":\"assistant\",\"model\":\"claude-bench\",\"content\":[],\"stop_reason\":null,\
             \"stop_sequence\":null,\"usage\":{\"input_tokens\":25,\"output_tokens\":1}}}"
                .to_owned(),
        ),
        ev(
            "content_block_start",
            "{\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}"
                .to_owned(),
        ),
    ];
    for i in 0..deltas {
        out.push(ev(
            "content_block_delta",
            format!(
                "{{\"type\":\"content_block_delta\",\"index\":0,\"delta\":{{\"type\":\"text_delta\",\"text\":\"word{i} \"}}}}"
            ),
        ));
    }
    out.push(ev(
        "content_block_stop",
        "{\"type\":\"content_block_stop\",\"index\":0}".to_owned(),
    ));
    out.push(ev(
        "message_delta",
        format!(
            "{{\"type\":\"message_delta\",\"delta\":{{\"stop_reason\":\"end_turn\",\"stop_sequence\":null}},\
             \"usage\":{{\"output_tokens\":{deltas}}}}}"
        ),
    ));
    out.push(ev("message_stop", "{\"type\":\"message_stop\"}".to_owned()));
    out
}

/// An OpenAI Chat Completions stream: a role chunk, `deltas` content
/// chunks, the finish chunk, the usage chunk and `[DONE]`.
pub fn chat_sse(deltas: usize) -> Vec<Bytes> {
    let chunk = |choices: String, extra: &str| {
        Bytes::from(format!(
            "data: {{\"id\":\"chatcmpl-bench\",\"object\":\"chat.completion.chunk\",\"created\":1700000000,\
             \"model\":\"gpt-bench\",\"choices\":{choices}{extra}}}\n\n"
        ))
    };
    let choice = |delta: String, finish: &str| {
        format!("[{{\"index\":0,\"delta\":{delta},\"finish_reason\":{finish}}}]")
    };
    let mut out = vec![chunk(
        choice(
            "{\"role\":\"assistant\",\"content\":\"\"}".to_owned(),
            "null",
        ),
        "",
    )];
    for i in 0..deltas {
        out.push(chunk(
            choice(format!("{{\"content\":\"word{i} \"}}"), "null"),
            "",
        ));
    }
    out.push(chunk(choice("{}".to_owned(), "\"stop\""), ""));
    out.push(chunk(
        "[]".to_owned(),
        &format!(
            ",\"usage\":{{\"prompt_tokens\":25,\"completion_tokens\":{deltas},\"total_tokens\":{}}}",
            25 + deltas
        ),
    ));
    out.push(Bytes::from_static(b"data: [DONE]\n\n"));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_are_json_of_the_asked_size() {
        for body in [chat_json(1024), messages_json(1024)] {
            assert_eq!(body.len(), 1024);
            serde_json::from_slice::<serde_json::Value>(&body).unwrap();
        }
    }

    #[test]
    fn streams_are_valid_sse_json() {
        for frames in [chat_sse(3), messages_sse(3)] {
            for f in &frames {
                let text = std::str::from_utf8(f).unwrap();
                assert!(text.ends_with("\n\n"));
                let data = text.lines().find_map(|l| l.strip_prefix("data: ")).unwrap();
                if data != "[DONE]" {
                    serde_json::from_str::<serde_json::Value>(data).unwrap();
                }
            }
        }
        assert_eq!(messages_sse(3).len(), 3 + 5);
        assert_eq!(chat_sse(3).len(), 3 + 4);
    }

    #[test]
    fn stream_flag_is_found_with_or_without_space() {
        assert!(wants_stream(br#"{"model":"m","stream": true}"#));
        assert!(wants_stream(br#"{"stream":true,"model":"m"}"#));
        assert!(!wants_stream(br#"{"stream":false}"#));
    }
}
