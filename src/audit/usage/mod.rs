//! Reads token usage out of responses as they pass: SSE events one by one,
//! JSON bodies once complete. Nothing is delayed for it.
//!
//! Usage is normalised to Anthropic's meaning: `input_tokens` excludes cached
//! input, which is reported separately as `cache_read_tokens`, and
//! `output_tokens` includes reasoning. Besides the three API protocols,
//! Gemini's `usageMetadata` is read (calls to Google pass through).

use serde::Deserialize;
use serde_json::Value;

use super::Usage;
use crate::sse::{SseEvent, SseParser};
use fields::{Fields, MaybeFields};

mod fields;

/// Largest JSON body kept for usage extraction; bigger ones report none.
const MAX_JSON: usize = 8 * 1024 * 1024;

/// Observes a response body.
#[derive(Debug)]
pub struct UsageTap {
    mode: Mode,
    usage: Option<Usage>,
    /// Set once the stream's terminal signal was seen.
    completed: bool,
    /// Set once a streamed tool call has begun.
    tool_call: bool,
}

#[derive(Debug)]
enum Mode {
    Sse(SseParser),
    Json(Vec<u8>),
    Off,
}

impl UsageTap {
    /// `content_type` of the response decides how the body is read.
    pub fn new(content_type: Option<&str>) -> UsageTap {
        // Compared in place: lower-casing a copy was an allocation per answer.
        let ct = content_type.unwrap_or_default().as_bytes();
        const SSE: &[u8] = b"text/event-stream";
        let mode = if ct
            .get(..SSE.len())
            .is_some_and(|h| h.eq_ignore_ascii_case(SSE))
        {
            Mode::Sse(SseParser::new())
        } else if ct.windows(4).any(|w| w.eq_ignore_ascii_case(b"json")) {
            Mode::Json(Vec::new())
        } else {
            Mode::Off
        };
        UsageTap {
            mode,
            usage: None,
            completed: false,
            tool_call: false,
        }
    }

    pub fn is_stream(&self) -> bool {
        matches!(self.mode, Mode::Sse(_))
    }

    pub fn observe(&mut self, chunk: &[u8]) {
        match &mut self.mode {
            Mode::Sse(parser) => {
                for event in parser.push(chunk) {
                    self.observe_event(&event);
                }
            }
            Mode::Json(buf) if buf.len() + chunk.len() <= MAX_JSON => buf.extend_from_slice(chunk),
            Mode::Json(_) => self.mode = Mode::Off,
            Mode::Off => {}
        }
    }

    /// For already-parsed events (the WebSocket relay and converters).
    pub fn observe_event(&mut self, event: &SseEvent) {
        if event.data == "[DONE]" {
            self.completed = true;
            return;
        }
        if !may_matter(&event.data) {
            return;
        }
        if let Ok(value) = serde_json::from_str::<Value>(&event.data) {
            self.observe_value(&value);
        }
    }

    pub fn observe_value(&mut self, value: &Value) {
        let kind = value
            .get("type")
            .and_then(Value::as_str)
            .unwrap_or_default();
        // The protocols' terminal events, and error events (which end a
        // stream too): after one of these the stream ended properly.
        let error = kind == "error" || value.get("error").is_some_and(|e| !e.is_null());
        if error
            || matches!(
                kind,
                "message_stop" | "response.completed" | "response.incomplete" | "response.failed"
            )
        {
            self.completed = true;
        }
        if !self.tool_call && starts_tool_call(kind, value) {
            self.tool_call = true;
        }
        let found = value
            .get("usage")
            .or_else(|| value.get("message")?.get("usage"))
            .or_else(|| value.get("response")?.get("usage"))
            .or_else(|| value.get("usageMetadata"));
        if let Some(Ok(MaybeFields(Some(found)))) = found.map(MaybeFields::deserialize) {
            merge(self.usage.get_or_insert_with(Usage::default), &found);
        }
    }

    /// Whether a tool call's arguments have started streaming.
    pub fn tool_call_started(&self) -> bool {
        self.tool_call
    }

    /// Whether the protocol's terminal signal passed by.
    pub fn completed(&self) -> bool {
        self.completed
    }

    /// For a whole JSON answer whose usage was read already
    /// ([`AnswerUsage::read`]): the body is not kept or parsed again.
    pub fn read_already(&mut self, answer: AnswerUsage) {
        if !matches!(self.mode, Mode::Json(_)) {
            return;
        }
        self.mode = Mode::Off;
        self.take_answer(answer);
    }

    /// A whole answer is the only usage a JSON body has: it is taken as is.
    fn take_answer(&mut self, answer: AnswerUsage) {
        if answer.0.is_some() {
            self.usage = answer.0;
        }
    }

    /// The usage seen, once the body has ended.
    pub fn finish(mut self) -> Option<Usage> {
        if let Mode::Json(buf) = std::mem::replace(&mut self.mode, Mode::Off) {
            match AnswerUsage::read(&buf) {
                Ok(answer) => self.take_answer(answer),
                Err(_) => self.take_answer(AnswerUsage::read_array(&buf)),
            }
        }
        self.usage
    }
}

/// The `usage` object of a whole JSON answer, read while the gateway checks
/// that the answer is JSON at all (one parse instead of two); carried to the
/// audit tap in the gateway's request context.
/// Normalised at once: it rides in the request context, which is moved
/// (copied) several times per request, and the counts read are far larger.
#[derive(Debug, Clone, Default)]
pub struct AnswerUsage(Option<Usage>);

impl AnswerUsage {
    /// Err when `bytes` are not one JSON object.
    pub fn read(bytes: &[u8]) -> Result<AnswerUsage, serde_json::Error> {
        // serde reads a struct from an array of its fields' values as well.
        if bytes.trim_ascii_start().first() != Some(&b'{') {
            return Err(serde::de::Error::custom("the answer is not a JSON object"));
        }
        let only: UsageOnly = serde_json::from_slice(bytes)?;
        Ok(AnswerUsage::of(only))
    }

    /// A JSON array of answers, as Gemini streams without `alt=sse`: the
    /// last one that reports usage (its counts are the whole stream's).
    fn read_array(bytes: &[u8]) -> AnswerUsage {
        let answers: Vec<UsageOnly> = serde_json::from_slice(bytes).unwrap_or_default();
        answers
            .into_iter()
            .rev()
            .map(AnswerUsage::of)
            .find(|a| a.0.is_some())
            .unwrap_or_default()
    }

    fn of(only: UsageOnly) -> AnswerUsage {
        AnswerUsage(only.usage.0.or(only.usage_metadata.0).map(|found| {
            let mut usage = Usage::default();
            merge(&mut usage, &found);
            usage
        }))
    }
}

/// All a whole JSON answer is read for: every protocol puts usage at the
/// top level of its non-streamed answer (Gemini as `usageMetadata`). serde
/// skips the other fields without building them, and answers carry
/// kilobytes of content.
#[derive(serde::Deserialize)]
struct UsageOnly {
    #[serde(default)]
    usage: MaybeFields,
    #[serde(default, rename = "usageMetadata")]
    usage_metadata: MaybeFields,
}

/// Substrings one of which every event [`UsageTap::observe_value`] acts on
/// contains: `usage`, `error`, the terminal event types and the tool-call
/// starts (`tool_use`, `tool_calls`, `function_call`). Text and argument
/// deltas, nearly every event of a stream, hold none of them and are not
/// parsed into a tree at all. (A provider escaping the letters of a key,
/// `"\u0075sage"`, would go unread; none does.)
const MARKERS: &[&str] = &[
    "usage",
    "error",
    "tool_",
    "function_call",
    "message_stop",
    "response.completed",
    "response.incomplete",
    "response.failed",
];

fn may_matter(data: &str) -> bool {
    static FINDERS: std::sync::OnceLock<Vec<memchr::memmem::Finder<'static>>> =
        std::sync::OnceLock::new();
    let finders = FINDERS.get_or_init(|| MARKERS.iter().map(memchr::memmem::Finder::new).collect());
    finders.iter().any(|f| f.find(data.as_bytes()).is_some())
}

/// A tool call beginning, in any of the three stream formats.
fn starts_tool_call(kind: &str, v: &Value) -> bool {
    match kind {
        "content_block_start" => {
            v.pointer("/content_block/type").and_then(Value::as_str) == Some("tool_use")
        }
        "response.function_call_arguments.delta" => true,
        "response.output_item.added" => {
            v.pointer("/item/type").and_then(Value::as_str) == Some("function_call")
        }
        _ => v
            .get("choices")
            .and_then(Value::as_array)
            .is_some_and(|cs| {
                cs.iter()
                    .filter_map(|c| c.get("delta")?.get("tool_calls"))
                    .any(|t| !t.is_null())
            }),
    }
}

/// The number at `path` (object keys). Not `Value::pointer`, which
/// allocates to unescape every segment: this runs for every answer.
/// Folds one usage object in. Later events overwrite earlier numbers, which
/// is right for every protocol: Anthropic's `message_delta` carries
/// cumulative counts, the others report once.
fn merge(into: &mut Usage, u: &Fields) {
    if let Some(prompt) = u.prompt_tokens.0 {
        // Chat Completions: prompt_tokens includes cached input (read and,
        // where reported, written).
        let cached = u.prompt_tokens_details.cached_tokens.0.unwrap_or(0);
        let written = u.prompt_tokens_details.cache_write_tokens.0.unwrap_or(0);
        into.input_tokens = prompt.saturating_sub(cached).saturating_sub(written);
        into.cache_read_tokens = cached;
        into.cache_write_tokens = written;
        into.output_tokens = u.completion_tokens.0.unwrap_or(into.output_tokens);
        into.reasoning_tokens = u.completion_tokens_details.reasoning_tokens.0.unwrap_or(0);
    } else if u.input_tokens_details.present || u.output_tokens_details.present {
        // Responses: input_tokens includes cached tokens.
        let cached = u.input_tokens_details.cached_tokens.0.unwrap_or(0);
        let written = u.input_tokens_details.cache_write_tokens.0.unwrap_or(0);
        if let Some(input) = u.input_tokens.0 {
            into.input_tokens = input.saturating_sub(cached).saturating_sub(written);
        }
        into.cache_read_tokens = cached;
        into.cache_write_tokens = written;
        into.output_tokens = u.output_tokens.0.unwrap_or(into.output_tokens);
        into.reasoning_tokens = u.output_tokens_details.reasoning_tokens.0.unwrap_or(0);
    } else if u.prompt_token_count.0.is_some() || u.candidates_token_count.0.is_some() {
        merge_gemini(into, u);
    } else {
        // Anthropic Messages.
        let set = |field: &mut u64, count: fields::Count| {
            if let Some(v) = count.0 {
                *field = v;
            }
        };
        set(&mut into.input_tokens, u.input_tokens);
        set(&mut into.output_tokens, u.output_tokens);
        set(&mut into.cache_read_tokens, u.cache_read_input_tokens);
        set(&mut into.cache_write_tokens, u.cache_creation_input_tokens);
    }
}

/// Gemini's `usageMetadata`: its prompt count includes cached input and
/// leaves out the tool-use prompt; its candidates leave out the thoughts,
/// which are output (and billed as such) all the same. Stream chunks may
/// report the prompt before the candidates: each count is taken once seen.
fn merge_gemini(into: &mut Usage, u: &Fields) {
    let cached = u.cached_content_token_count.0.unwrap_or(0);
    if let Some(prompt) = u.prompt_token_count.0 {
        let tool_use = u.tool_use_prompt_token_count.0.unwrap_or(0);
        into.input_tokens = prompt.saturating_add(tool_use).saturating_sub(cached);
        into.cache_read_tokens = cached;
    }
    let thoughts = u.thoughts_token_count.0;
    if u.candidates_token_count.0.is_some() || thoughts.is_some() {
        let candidates = u.candidates_token_count.0.unwrap_or(0);
        into.reasoning_tokens = thoughts.unwrap_or(0);
        into.output_tokens = candidates.saturating_add(into.reasoning_tokens);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn feed(ct: &str, body: &str, chunk: usize) -> (Option<Usage>, bool) {
        let mut tap = UsageTap::new(Some(ct));
        for piece in body.as_bytes().chunks(chunk) {
            tap.observe(piece);
        }
        let done = tap.completed();
        (tap.finish(), done)
    }

    #[test]
    fn the_content_type_picks_the_reader_in_any_case() {
        assert!(UsageTap::new(Some("Text/Event-Stream; charset=utf-8")).is_stream());
        let json = r#"{"usage":{"input_tokens":3,"output_tokens":4}}"#;
        for ct in [
            "application/JSON",
            "application/vnd.api+json; charset=utf-8",
        ] {
            let (usage, _) = feed(ct, json, 5);
            assert_eq!(usage.map(|u| u.output_tokens), Some(4), "{ct}");
        }
        let (usage, _) = feed("text/plain", json, 5);
        assert!(usage.is_none());
        assert!(!UsageTap::new(None).is_stream());
    }

    #[test]
    fn usage_read_with_the_json_check_is_not_read_again() {
        let body = br#"{"id":"x","usage":{"prompt_tokens":30,"completion_tokens":5,"prompt_tokens_details":{"cached_tokens":10}}}"#;
        let answer = AnswerUsage::read(body).unwrap();
        let mut tap = UsageTap::new(Some("application/json"));
        tap.read_already(answer);
        // Bytes that follow are not kept: the answer was read whole.
        tap.observe(br#"{"usage":{"prompt_tokens":999}}"#);
        let u = tap.finish().unwrap();
        assert_eq!(
            (u.input_tokens, u.cache_read_tokens, u.output_tokens),
            (20, 10, 5)
        );
        // The check is a JSON check: anything but one object is refused.
        for bad in [&b"{\"usage\":"[..], b"[1,2]", b"[{}]", b"{} {}", b""] {
            assert!(
                AnswerUsage::read(bad).is_err(),
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
        // A stream's tap ignores it and reads its events.
        let mut sse = UsageTap::new(Some("text/event-stream"));
        sse.read_already(AnswerUsage::read(body).unwrap());
        assert!(sse.is_stream());
        assert!(sse.finish().is_none());
    }

    #[test]
    fn anthropic_stream_usage_across_events() {
        let body = "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"usage\":{\"input_tokens\":25,\"cache_creation_input_tokens\":3,\"cache_read_input_tokens\":7,\"output_tokens\":1}}}\n\n\
event: message_delta\ndata: {\"type\":\"message_delta\",\"usage\":{\"output_tokens\":15}}\n\n\
event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n";
        let (usage, done) = feed("text/event-stream; charset=utf-8", body, 7);
        let u = usage.unwrap();
        assert_eq!(
            (
                u.input_tokens,
                u.output_tokens,
                u.cache_read_tokens,
                u.cache_write_tokens
            ),
            (25, 15, 7, 3)
        );
        assert!(done);
    }

    #[test]
    fn chat_final_chunk_and_done() {
        let body = "data: {\"choices\":[{\"delta\":{\"content\":\"hi\"}}]}\n\ndata: {\"choices\":[],\"usage\":{\"prompt_tokens\":30,\"completion_tokens\":5,\"prompt_tokens_details\":{\"cached_tokens\":10}}}\n\ndata: [DONE]\n\n";
        let (usage, done) = feed("text/event-stream", body, 3);
        let u = usage.unwrap();
        assert_eq!(
            (u.input_tokens, u.cache_read_tokens, u.output_tokens),
            (20, 10, 5)
        );
        assert!(done);
    }

    #[test]
    fn responses_json_body() {
        let body = r#"{"object":"response","usage":{"input_tokens":12,"input_tokens_details":{"cached_tokens":2},"output_tokens":9,"output_tokens_details":{"reasoning_tokens":4}}}"#;
        let (usage, _) = feed("application/json", body, 5);
        let u = usage.unwrap();
        assert_eq!(
            (
                u.input_tokens,
                u.cache_read_tokens,
                u.output_tokens,
                u.reasoning_tokens
            ),
            (10, 2, 9, 4)
        );
    }

    #[test]
    fn openai_cache_writes_are_split_out_of_input() {
        let body = r#"{"usage":{"prompt_tokens":100,"completion_tokens":5,"prompt_tokens_details":{"cached_tokens":30,"cache_write_tokens":20}}}"#;
        let u = feed("application/json", body, 7).0.unwrap();
        assert_eq!(
            (u.input_tokens, u.cache_read_tokens, u.cache_write_tokens),
            (50, 30, 20)
        );
        let body = r#"{"usage":{"input_tokens":100,"input_tokens_details":{"cached_tokens":10,"cache_write_tokens":40},"output_tokens":1}}"#;
        let u = feed("application/json", body, 7).0.unwrap();
        assert_eq!(
            (u.input_tokens, u.cache_read_tokens, u.cache_write_tokens),
            (50, 10, 40)
        );
    }

    /// Gemini's final chunk: 40 prompt tokens of which 16 cached, 9
    /// candidates and 8 thoughts.
    const GEMINI_FINAL: &str = r#"{"candidates":[{"content":{"parts":[{"text":"!"}],"role":"model"},"finishReason":"STOP","index":0}],"usageMetadata":{"promptTokenCount":40,"candidatesTokenCount":9,"totalTokenCount":57,"cachedContentTokenCount":16,"thoughtsTokenCount":8},"modelVersion":"gemini-2.5-flash","responseId":"r1"}"#;

    fn counts(u: Usage) -> (u64, u64, u64, u64) {
        (
            u.input_tokens,
            u.cache_read_tokens,
            u.output_tokens,
            u.reasoning_tokens,
        )
    }

    #[test]
    fn gemini_usage_metadata_in_answers_streams_and_arrays() {
        // Input without the cached part; output with the thoughts.
        let expected = (24, 16, 17, 8);
        let u = feed("application/json; charset=UTF-8", GEMINI_FINAL, 9).0;
        assert_eq!(u.map(counts), Some(expected));
        assert_eq!(
            AnswerUsage::read(GEMINI_FINAL.as_bytes())
                .unwrap()
                .0
                .map(counts),
            Some(expected)
        );
        // alt=sse: early chunks may carry the prompt count alone.
        let early = r#"{"candidates":[{"content":{"parts":[{"text":"Hi"}],"role":"model"},"index":0}],"usageMetadata":{"promptTokenCount":40,"totalTokenCount":40}}"#;
        let sse = format!("data: {early}\r\n\r\ndata: {GEMINI_FINAL}\r\n\r\n");
        assert_eq!(
            feed("text/event-stream", &sse, 11).0.map(counts),
            Some(expected)
        );
        let early_only = format!("data: {early}\r\n\r\n");
        assert_eq!(
            feed("text/event-stream", &early_only, 11).0.map(counts),
            Some((40, 0, 0, 0))
        );
        // Without alt=sse the stream is one JSON array of the same chunks.
        let array = format!("[{early},\r\n{GEMINI_FINAL}]");
        assert_eq!(
            feed("application/json", &array, 13).0.map(counts),
            Some(expected)
        );
        // An array stays no answer for the gateway's JSON check.
        assert!(AnswerUsage::read(array.as_bytes()).is_err());
        // The tool-use prompt is input too.
        let tools = r#"{"usageMetadata":{"promptTokenCount":10,"toolUsePromptTokenCount":5,"candidatesTokenCount":2}}"#;
        assert_eq!(
            feed("application/json", tools, 4).0.map(counts),
            Some((15, 0, 2, 0))
        );
    }

    /// Every event the tap acts on, in the three stream formats: the
    /// prefilter must let each through, and the tap must read the same from
    /// it as from an unfiltered parse.
    const EVENTS_THAT_MATTER: &[&str] = &[
        r#"{"type":"message_start","message":{"id":"m","usage":{"input_tokens":25,"output_tokens":1}}}"#,
        r#"{"type":"content_block_start","index":1,"content_block":{"type":"tool_use","id":"t","name":"f","input":{}}}"#,
        r#"{"type":"message_delta","delta":{"stop_reason":"end_turn"},"usage":{"output_tokens":15}}"#,
        r#"{"type":"message_stop"}"#,
        r#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#,
        r#"{"id":"c","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"call_1","type":"function","function":{"name":"f","arguments":""}}]}}]}"#,
        r#"{"id":"c","object":"chat.completion.chunk","choices":[],"usage":{"prompt_tokens":30,"completion_tokens":5}}"#,
        r#"{"error":{"message":"rate limited","type":"rate_limit"}}"#,
        r#"{"type":"response.output_item.added","output_index":0,"item":{"type":"function_call","id":"fc","call_id":"c","name":"f","arguments":""}}"#,
        r#"{"type":"response.function_call_arguments.delta","item_id":"fc","output_index":0,"delta":"{\"a"}"#,
        r#"{"type":"response.completed","response":{"id":"r","status":"completed","usage":{"input_tokens":12,"output_tokens":9,"output_tokens_details":{"reasoning_tokens":4}}}}"#,
        r#"{"type":"response.incomplete","response":{"id":"r","status":"incomplete"}}"#,
        r#"{"type":"response.failed","response":{"id":"r","status":"failed","error":{"code":"server_error"}}}"#,
        GEMINI_FINAL,
    ];

    const TEXT_DELTAS: &[&str] = &[
        r#"{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Hello"}}"#,
        r#"{"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":"{\"a\":"}}"#,
        r#"{"id":"c","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"content":"Hello"}}]}"#,
        r#"{"type":"response.output_text.delta","item_id":"m","output_index":0,"content_index":0,"delta":"Hello"}"#,
    ];

    fn state(tap: &UsageTap) -> (Option<Usage>, bool, bool) {
        (tap.usage, tap.completed, tap.tool_call)
    }

    #[test]
    fn the_prefilter_skips_text_deltas_and_nothing_that_matters() {
        for data in EVENTS_THAT_MATTER {
            assert!(may_matter(data), "{data}");
            let mut filtered = UsageTap::new(Some("text/event-stream"));
            filtered.observe_event(&SseEvent {
                event: None,
                data: (*data).to_owned(),
            });
            let mut reference = UsageTap::new(Some("text/event-stream"));
            reference.observe_value(&serde_json::from_str(data).unwrap());
            assert_eq!(state(&filtered), state(&reference), "{data}");
            assert_ne!(state(&filtered), (None, false, false), "{data}");
        }
        for data in TEXT_DELTAS {
            assert!(!may_matter(data), "{data}");
            let mut reference = UsageTap::new(Some("text/event-stream"));
            reference.observe_value(&serde_json::from_str(data).unwrap());
            assert_eq!(state(&reference), (None, false, false), "{data}");
        }
    }

    #[test]
    fn no_usage_is_none_not_zero() {
        assert_eq!(feed("application/json", "{\"ok\":true}", 4).0, None);
        assert_eq!(feed("text/plain", "usage", 4).0, None);
    }
}
