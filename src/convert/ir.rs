//! The neutral intermediate representation every protocol decodes into and
//! encodes from, so six conversion pairs need only three decoders and three
//! encoders.
//!
//! Conventions that every module relies on:
//! - System prompts live in [`Request::system`], never in `messages`.
//! - Tool results are parts of a `User` message (Anthropic's model); Chat's
//!   `tool` messages and Responses' `function_call_output` items map there.
//! - Tool-call arguments are kept as JSON *text*, as both OpenAI shapes carry
//!   them; Anthropic's `input` object is serialised on the way in.
//! - [`Usage::input`] excludes cached tokens (Anthropic's meaning); OpenAI's
//!   `prompt_tokens` is `input + cache_read + cache_write`.

use serde_json::Value;

/// Collects the names of fields a conversion could not carry, once each.
#[derive(Debug, Default, Clone)]
pub struct Loss(Vec<&'static str>);

impl Loss {
    pub fn add(&mut self, what: &'static str) {
        if !self.0.contains(&what) {
            self.0.push(what);
        }
    }

    pub fn as_slice(&self) -> &[&'static str] {
        &self.0
    }

    pub fn into_vec(self) -> Vec<&'static str> {
        self.0
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum Image {
    Base64 { media_type: String, data: String },
    Url(String),
}

impl Image {
    /// Parses `data:<type>;base64,<data>` URLs so base64 images stay base64
    /// for targets (Anthropic) that distinguish the two.
    pub fn from_url(url: &str) -> Image {
        let parsed = url.strip_prefix("data:").and_then(|rest| {
            let (meta, data) = rest.split_once(',')?;
            let media_type = meta.strip_suffix(";base64")?;
            Some(Image::Base64 {
                media_type: media_type.to_owned(),
                data: data.to_owned(),
            })
        });
        parsed.unwrap_or_else(|| Image::Url(url.to_owned()))
    }

    pub fn to_url(&self) -> String {
        match self {
            Image::Base64 { media_type, data } => format!("data:{media_type};base64,{data}"),
            Image::Url(url) => url.clone(),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum Part {
    Text(String),
    Image(Image),
    ToolCall {
        id: String,
        name: String,
        arguments: String,
    },
    ToolResult {
        call_id: String,
        content: Vec<Part>,
        is_error: bool,
    },
    /// Visible reasoning. `signature` is Anthropic's signature or, from the
    /// Responses API, the reasoning item's `encrypted_content`: both are opaque
    /// tokens the originating provider needs back to continue the chain.
    Thinking {
        text: String,
        signature: Option<String>,
    },
    /// Opaque reasoning: Anthropic `redacted_thinking.data`, or a Responses
    /// reasoning item that has `encrypted_content` but no summary.
    RedactedThinking(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    User,
    Assistant,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Message {
    pub role: Role,
    pub content: Vec<Part>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Tool {
    pub name: String,
    pub description: Option<String>,
    pub parameters: Value,
    /// Strict schema adherence, as the client asked (`None`: not said). The
    /// default differs: Chat and Anthropic are non-strict, Responses strict.
    pub strict: Option<bool>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum ToolChoice {
    Auto,
    Required,
    None,
    Named(String),
}

/// Reasoning was asked for. Anthropic speaks budgets, OpenAI efforts; each
/// side fills what it has and encoders derive the other.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Reasoning {
    pub effort: Option<String>,
    pub budget_tokens: Option<u64>,
}

impl Reasoning {
    pub fn effort(&self) -> String {
        if let Some(effort) = &self.effort {
            return effort.clone();
        }
        match self.budget_tokens.unwrap_or(8192) {
            0..=2048 => "low",
            2049..=16384 => "medium",
            _ => "high",
        }
        .to_owned()
    }

    /// `None` means the effort asks for no thinking at all.
    pub fn budget(&self) -> Option<u64> {
        if let Some(budget) = self.budget_tokens {
            return Some(budget);
        }
        match self.effort.as_deref() {
            Some("none") | Some("minimal") => None,
            Some("low") => Some(2048),
            Some("high") => Some(24576),
            Some("xhigh") => Some(32000),
            _ => Some(8192),
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Request {
    pub model: Option<String>,
    pub system: Vec<String>,
    pub messages: Vec<Message>,
    pub tools: Vec<Tool>,
    pub tool_choice: Option<ToolChoice>,
    pub parallel_tool_calls: Option<bool>,
    pub max_tokens: Option<u64>,
    pub temperature: Option<f64>,
    pub top_p: Option<f64>,
    pub stop: Vec<String>,
    pub stream: bool,
    pub user: Option<String>,
    /// OpenAI-style free-form metadata (Anthropic only has `user_id`).
    pub metadata: Option<Value>,
    pub reasoning: Option<Reasoning>,
    /// In Chat's `response_format` shape; Responses maps it to `text.format`.
    pub response_format: Option<Value>,
}

impl Request {
    /// Appends a part, merging into the previous message when the role
    /// matches, so sources with one item per part form proper turns.
    pub fn push_part(&mut self, role: Role, part: Part) {
        match self.messages.last_mut() {
            Some(last) if last.role == role => last.content.push(part),
            _ => self.messages.push(Message {
                role,
                content: vec![part],
            }),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopReason {
    EndTurn,
    MaxTokens,
    StopSequence,
    ToolUse,
    PauseTurn,
    Refusal,
    ContentFilter,
}

/// Token counts; `None` means "not reported", which matters when merging
/// partial reports from a stream.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Usage {
    pub input: Option<u64>,
    pub output: Option<u64>,
    pub cache_read: Option<u64>,
    pub cache_write: Option<u64>,
    pub reasoning: Option<u64>,
}

impl Usage {
    /// Later reports win field by field.
    pub fn merge(&mut self, later: &Usage) {
        self.input = later.input.or(self.input);
        self.output = later.output.or(self.output);
        self.cache_read = later.cache_read.or(self.cache_read);
        self.cache_write = later.cache_write.or(self.cache_write);
        self.reasoning = later.reasoning.or(self.reasoning);
    }

    /// All prompt tokens, cached or not (OpenAI's `prompt_tokens`).
    pub fn total_input(&self) -> u64 {
        self.input
            .unwrap_or(0)
            .saturating_add(self.cache_read.unwrap_or(0))
            .saturating_add(self.cache_write.unwrap_or(0))
    }

    pub fn is_empty(&self) -> bool {
        *self == Usage::default()
    }
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Response {
    pub id: Option<String>,
    pub model: Option<String>,
    pub content: Vec<Part>,
    pub stop: Option<StopReason>,
    pub stop_sequence: Option<String>,
    pub usage: Usage,
}

impl Response {
    pub fn has_tool_calls(&self) -> bool {
        self.content
            .iter()
            .any(|p| matches!(p, Part::ToolCall { .. }))
    }

    /// The stop reason, with `ToolUse` forced when tool calls are present:
    /// several OpenAI-compatible servers report `stop` alongside tool calls,
    /// and agents only run tools on `tool_use`/`tool_calls`.
    pub fn effective_stop(&self) -> StopReason {
        match self.stop {
            Some(StopReason::EndTurn) | None if self.has_tool_calls() => StopReason::ToolUse,
            Some(stop) => stop,
            None => StopReason::EndTurn,
        }
    }
}

/// Parses tool arguments into the object Anthropic's `input` requires.
/// Empty or malformed arguments become `{}` (reported by the caller).
pub fn arguments_object(arguments: &str) -> Option<Value> {
    if arguments.trim().is_empty() {
        return Some(Value::Object(Default::default()));
    }
    match serde_json::from_str::<Value>(arguments) {
        Ok(v @ Value::Object(_)) => Some(v),
        _ => None,
    }
}

/// Joins the text parts of a content list (for targets that need a string).
pub fn joined_text(parts: &[Part]) -> String {
    parts
        .iter()
        .filter_map(|p| match p {
            Part::Text(t) => Some(t.as_str()),
            _ => None,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// OpenAI shapes have no error flag on tool results; the error is carried as
/// a text prefix so the model still sees it (see `convert` module docs).
pub const TOOL_ERROR_PREFIX: &str = "[tool error] ";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_urls_become_base64() {
        let img = Image::from_url("data:image/png;base64,AAAA");
        assert_eq!(
            img,
            Image::Base64 {
                media_type: "image/png".into(),
                data: "AAAA".into()
            }
        );
        assert_eq!(img.to_url(), "data:image/png;base64,AAAA");
        assert_eq!(
            Image::from_url("https://x/y.png"),
            Image::Url("https://x/y.png".into())
        );
        assert_eq!(
            Image::from_url("data:nonsense"),
            Image::Url("data:nonsense".into())
        );
    }

    #[test]
    fn effort_and_budget_derive_each_other() {
        let r = Reasoning {
            effort: None,
            budget_tokens: Some(1024),
        };
        assert_eq!(r.effort(), "low");
        let r = Reasoning {
            effort: Some("high".into()),
            budget_tokens: None,
        };
        assert_eq!(r.budget(), Some(24576));
        let r = Reasoning {
            effort: Some("minimal".into()),
            budget_tokens: None,
        };
        assert_eq!(r.budget(), None);
    }

    #[test]
    fn usage_merges_field_by_field() {
        let mut u = Usage {
            input: Some(10),
            output: Some(1),
            ..Usage::default()
        };
        u.merge(&Usage {
            output: Some(20),
            ..Usage::default()
        });
        assert_eq!(u.input, Some(10));
        assert_eq!(u.output, Some(20));
    }

    #[test]
    fn tool_calls_force_tool_use_stop() {
        let mut r = Response {
            stop: Some(StopReason::EndTurn),
            ..Response::default()
        };
        assert_eq!(r.effective_stop(), StopReason::EndTurn);
        r.content.push(Part::ToolCall {
            id: "a".into(),
            name: "f".into(),
            arguments: "{}".into(),
        });
        assert_eq!(r.effective_stop(), StopReason::ToolUse);
    }

    #[test]
    fn arguments_parse_to_objects_only() {
        assert!(arguments_object("").is_some());
        assert!(arguments_object("{\"a\":1}").is_some());
        assert!(arguments_object("[1]").is_none());
        assert!(arguments_object("{").is_none());
    }
}
