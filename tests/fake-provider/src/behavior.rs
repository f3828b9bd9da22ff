//! What the fake provider does with a request: the public [`Behavior`] enum,
//! its modifiers, and their resolution into one flat [`Script`] the handler
//! executes.
//!
//! Content behaviours (`Text`, `ToolCalls`, `Thinking`, `Reply`, `MaxTokens`)
//! are protocol-neutral; the path of the request decides which wire format
//! renders them, and the request's `"stream": true` decides JSON versus SSE.
//! Modifiers (`Drip`, `Slow`, `WithUsage`, `WithHeaders`, `WithFault`) wrap
//! any behaviour, so scenarios compose: `Behavior::tool_calls(..).drip(gap)`.

use std::time::Duration;

use bytes::Bytes;
use serde_json::Value;

/// The text answered when nothing else was asked for.
pub const DEFAULT_TEXT: &str = "Hello from the fake provider.";

/// Token counts reported by a response, each written verbatim into the
/// protocol's own field: `input` → Anthropic `input_tokens`, Chat
/// `prompt_tokens`, Responses `input_tokens`; `output` → `output_tokens` /
/// `completion_tokens`; `cache_read` → `cache_read_input_tokens` /
/// `cached_tokens`; `cache_write` → `cache_creation_input_tokens` /
/// `cache_write_tokens`; `reasoning` → `reasoning_tokens` (OpenAI only).
/// Totals are `input + output`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Usage {
    pub input: u64,
    pub output: u64,
    pub cache_read: u64,
    pub cache_write: u64,
    pub reasoning: u64,
}

impl Usage {
    /// What every response reports unless told otherwise.
    pub const DEFAULT: Usage = Usage {
        input: 25,
        output: 12,
        cache_read: 0,
        cache_write: 0,
        reasoning: 0,
    };

    /// The default for thinking replies: some of the output is reasoning.
    pub const THINKING: Usage = Usage {
        input: 25,
        output: 40,
        cache_read: 0,
        cache_write: 0,
        reasoning: 28,
    };

    pub fn total(&self) -> u64 {
        self.input + self.output
    }
}

impl Default for Usage {
    fn default() -> Self {
        Usage::DEFAULT
    }
}

/// How a started stream goes wrong. Every fault cuts the stream after about
/// half of its content deltas, so the client has seen some text.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StreamFault {
    /// The protocol's own error event (Anthropic `event: error`; Chat a
    /// `data: {"error":…}` chunk; Responses `error` then `response.failed`),
    /// then a clean end. Non-streaming requests get a 500 in the protocol's
    /// error shape instead.
    MidStreamError,
    /// A clean end of the body without the terminal event. Non-streaming
    /// requests get half of the announced `content-length`, then a clean close.
    Truncated,
    /// The connection is dropped without ending the body. Non-streaming
    /// requests get half of the announced `content-length`, then a TCP reset.
    ResetMidStream,
}

/// One scripted answer. Push it with `FakeProvider::push` (FIFO, one request
/// each) or make it the fallback with `FakeProvider::set_default`.
#[derive(Clone, Debug)]
pub enum Behavior {
    /// Answer with this text (the default is [`DEFAULT_TEXT`]).
    Text(String),
    /// One or several (parallel) tool calls: `(name, arguments)`.
    ToolCalls(Vec<(String, Value)>),
    /// A thinking block (Anthropic), `reasoning_content` (Chat) or a
    /// `reasoning` item (Responses), followed by text.
    Thinking {
        thinking: String,
        signature: String,
        text: String,
    },
    /// Any mix of thinking, text and tool calls, in that order.
    Reply(Reply),
    /// Text cut off by the token limit: Anthropic `max_tokens`, Chat
    /// `length`, Responses `incomplete` (`max_output_tokens`).
    MaxTokens(String),
    /// An HTTP error before anything else. `body: None` renders the path's
    /// protocol error shape; `retry_after` sets the `retry-after` header.
    Error {
        status: u16,
        body: Option<String>,
        retry_after: Option<String>,
    },
    /// [`DEFAULT_TEXT`] with [`StreamFault::MidStreamError`].
    MidStreamError,
    /// Read the request, then never answer (until shutdown or client close).
    Hang,
    /// Read the request, then reset the TCP connection without a response.
    Reset,
    /// [`DEFAULT_TEXT`] with [`StreamFault::ResetMidStream`].
    ResetMidStream,
    /// [`DEFAULT_TEXT`] with [`StreamFault::Truncated`].
    Truncated,
    /// 200, `content-type: application/json`, a body that is not JSON.
    InvalidJson,
    /// Exactly this response (no protocol headers are added).
    Custom {
        status: u16,
        headers: Vec<(String, String)>,
        body: Bytes,
    },
    /// 200 `text/event-stream` with these frames written one by one (each
    /// string is sent as is, so include the trailing blank line).
    RawSse(Vec<String>),
    /// Wait `gap` between SSE events (and raw frames).
    Drip { gap: Duration, then: Box<Behavior> },
    /// Wait this long before sending the response headers.
    Slow(Duration, Box<Behavior>),
    /// Report these token counts.
    WithUsage(Usage, Box<Behavior>),
    /// Add these headers to the response.
    WithHeaders(Vec<(String, String)>, Box<Behavior>),
    /// Break the stream of a content behaviour.
    WithFault(StreamFault, Box<Behavior>),
}

/// Protocol-neutral content of an answer, rendered in order: thinking, text,
/// tool calls.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Reply {
    /// `(thinking, signature)`.
    pub thinking: Option<(String, String)>,
    pub text: Option<String>,
    /// `(name, arguments)`.
    pub tool_calls: Vec<(String, Value)>,
    /// The model ran out of tokens (see [`Behavior::MaxTokens`]).
    pub max_tokens: bool,
}

impl Default for Behavior {
    fn default() -> Self {
        Behavior::Text(DEFAULT_TEXT.to_string())
    }
}

impl Behavior {
    pub fn text(text: impl Into<String>) -> Behavior {
        Behavior::Text(text.into())
    }

    pub fn tool_call(name: impl Into<String>, arguments: Value) -> Behavior {
        Behavior::ToolCalls(vec![(name.into(), arguments)])
    }

    pub fn error(status: u16) -> Behavior {
        Behavior::Error {
            status,
            body: None,
            retry_after: None,
        }
    }

    /// 429 with `retry-after: SECS`.
    pub fn rate_limited(retry_after_secs: u64) -> Behavior {
        Behavior::Error {
            status: 429,
            body: None,
            retry_after: Some(retry_after_secs.to_string()),
        }
    }

    pub fn drip(self, gap: Duration) -> Behavior {
        Behavior::Drip {
            gap,
            then: Box::new(self),
        }
    }

    pub fn slow(self, delay: Duration) -> Behavior {
        Behavior::Slow(delay, Box::new(self))
    }

    pub fn with_usage(self, usage: Usage) -> Behavior {
        Behavior::WithUsage(usage, Box::new(self))
    }

    pub fn with_headers<K: Into<String>, V: Into<String>>(
        self,
        headers: impl IntoIterator<Item = (K, V)>,
    ) -> Behavior {
        let headers = headers
            .into_iter()
            .map(|(k, v)| (k.into(), v.into()))
            .collect();
        Behavior::WithHeaders(headers, Box::new(self))
    }

    pub fn with_fault(self, fault: StreamFault) -> Behavior {
        Behavior::WithFault(fault, Box::new(self))
    }
}

/// What to send, stripped of modifiers.
#[derive(Clone, Debug)]
pub(crate) enum Core {
    Content(Reply),
    Error {
        status: u16,
        body: Option<String>,
        retry_after: Option<String>,
    },
    Hang,
    Reset,
    InvalidJson,
    Custom {
        status: u16,
        headers: Vec<(String, String)>,
        body: Bytes,
    },
    RawSse(Vec<String>),
}

/// A behaviour flattened for execution.
#[derive(Clone, Debug)]
pub(crate) struct Script {
    pub core: Core,
    /// `None`: the content's own default ([`Usage::DEFAULT`] or [`Usage::THINKING`]).
    pub usage: Option<Usage>,
    pub gap: Duration,
    pub delay: Duration,
    pub headers: Vec<(String, String)>,
    pub fault: Option<StreamFault>,
}

impl Script {
    /// The usage this script reports.
    pub fn usage(&self) -> Usage {
        if let Some(usage) = self.usage {
            return usage;
        }
        match &self.core {
            Core::Content(reply) if reply.thinking.is_some() => Usage::THINKING,
            _ => Usage::DEFAULT,
        }
    }
}

impl Behavior {
    /// Peel the modifiers off (outermost wins when one is given twice).
    pub(crate) fn resolve(self) -> Script {
        let mut script = Script {
            core: Core::Hang,
            usage: None,
            gap: Duration::ZERO,
            delay: Duration::ZERO,
            headers: Vec::new(),
            fault: None,
        };
        let mut gap = None;
        let mut delay = None;
        let mut current = self;
        loop {
            current = match current {
                Behavior::Drip { gap: g, then } => {
                    gap.get_or_insert(g);
                    *then
                }
                Behavior::Slow(d, inner) => {
                    delay.get_or_insert(d);
                    *inner
                }
                Behavior::WithUsage(u, inner) => {
                    script.usage.get_or_insert(u);
                    *inner
                }
                Behavior::WithHeaders(h, inner) => {
                    script.headers.extend(h);
                    *inner
                }
                Behavior::WithFault(f, inner) => {
                    script.fault.get_or_insert(f);
                    *inner
                }
                leaf => {
                    script.core = leaf.into_core(&mut script.fault);
                    break;
                }
            }
        }
        script.gap = gap.unwrap_or_default();
        script.delay = delay.unwrap_or_default();
        script
    }

    fn into_core(self, fault: &mut Option<StreamFault>) -> Core {
        let default_text = || {
            Core::Content(Reply {
                text: Some(DEFAULT_TEXT.to_string()),
                ..Reply::default()
            })
        };
        match self {
            Behavior::Text(text) => Core::Content(Reply {
                text: Some(text),
                ..Reply::default()
            }),
            Behavior::ToolCalls(tool_calls) => Core::Content(Reply {
                tool_calls,
                ..Reply::default()
            }),
            Behavior::Thinking {
                thinking,
                signature,
                text,
            } => Core::Content(Reply {
                thinking: Some((thinking, signature)),
                text: Some(text),
                ..Reply::default()
            }),
            Behavior::Reply(reply) => Core::Content(reply),
            Behavior::MaxTokens(text) => Core::Content(Reply {
                text: Some(text),
                max_tokens: true,
                ..Reply::default()
            }),
            Behavior::Error {
                status,
                body,
                retry_after,
            } => Core::Error {
                status,
                body,
                retry_after,
            },
            Behavior::MidStreamError => {
                fault.get_or_insert(StreamFault::MidStreamError);
                default_text()
            }
            Behavior::Truncated => {
                fault.get_or_insert(StreamFault::Truncated);
                default_text()
            }
            Behavior::ResetMidStream => {
                fault.get_or_insert(StreamFault::ResetMidStream);
                default_text()
            }
            Behavior::Hang => Core::Hang,
            Behavior::Reset => Core::Reset,
            Behavior::InvalidJson => Core::InvalidJson,
            Behavior::Custom {
                status,
                headers,
                body,
            } => Core::Custom {
                status,
                headers,
                body,
            },
            Behavior::RawSse(frames) => Core::RawSse(frames),
            // Modifiers are peeled off by `resolve` before we get here.
            Behavior::Drip { then: inner, .. }
            | Behavior::Slow(_, inner)
            | Behavior::WithUsage(_, inner)
            | Behavior::WithHeaders(_, inner)
            | Behavior::WithFault(_, inner) => inner.into_core(fault),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modifiers_compose_in_any_order() {
        let script = Behavior::tool_call("f", serde_json::json!({}))
            .drip(Duration::from_millis(5))
            .with_usage(Usage {
                input: 1,
                ..Usage::DEFAULT
            })
            .slow(Duration::from_millis(7))
            .with_fault(StreamFault::Truncated)
            .with_headers([("x-a", "1")])
            .resolve();
        assert_eq!(script.gap, Duration::from_millis(5));
        assert_eq!(script.delay, Duration::from_millis(7));
        assert_eq!(script.usage().input, 1);
        assert_eq!(script.fault, Some(StreamFault::Truncated));
        assert_eq!(script.headers, vec![("x-a".into(), "1".into())]);
        assert!(matches!(script.core, Core::Content(ref r) if r.tool_calls.len() == 1));
    }

    #[test]
    fn fault_variants_stream_the_default_text() {
        let script = Behavior::ResetMidStream.resolve();
        assert_eq!(script.fault, Some(StreamFault::ResetMidStream));
        assert!(
            matches!(script.core, Core::Content(ref r) if r.text.as_deref() == Some(DEFAULT_TEXT))
        );
    }

    #[test]
    fn thinking_defaults_to_reasoning_usage() {
        let script = Behavior::Thinking {
            thinking: "t".into(),
            signature: "s".into(),
            text: "x".into(),
        }
        .resolve();
        assert_eq!(script.usage(), Usage::THINKING);
    }
}
