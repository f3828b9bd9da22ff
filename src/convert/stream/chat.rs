//! Chat Completions streams: decoding upstream chunks and encoding the
//! client stream (`chat.completion.chunk`s, then `data: [DONE]`).
//!
//! Upstream tool calls arrive keyed by `index`, possibly with id, name and
//! arguments split across chunks and parallel calls interleaved. Targets
//! cannot interleave, so one call streams live; another call's fragments are
//! held until the live call's arguments form complete JSON (it cannot grow
//! after that) or the calls end.

use super::{error_kind, parse_data, Block, Decode, Encode, Ev, StreamContext};
use crate::convert::chat::{reasoning_text, stop_from_str, stop_to_str};
use crate::convert::ir::{Loss, StopReason, Usage};
use crate::convert::json::{arr_of, new_id, present, str_of, text_of, u64_of, unix_now};
use crate::convert::usage;
use crate::sse::SseEvent;
use serde_json::{json, Value};

// ----------------------------------------------------------------- decoder

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ToolState {
    Waiting,
    Live,
    Done,
}

#[derive(Debug)]
struct ToolAcc {
    key: u64,
    id: Option<String>,
    name: Option<String>,
    args: String,
    state: ToolState,
}

impl ToolAcc {
    /// Enough is known to announce the call: a name, and an id or the first
    /// argument bytes (by then the id is not coming first anymore).
    fn startable(&self) -> bool {
        self.state == ToolState::Waiting
            && self.name.is_some()
            && (self.id.is_some() || !self.args.is_empty())
    }
}

fn args_complete(args: &str) -> bool {
    !args.trim().is_empty() && serde_json::from_str::<serde::de::IgnoredAny>(args).is_ok()
}

#[derive(Debug, Default)]
pub struct Decoder {
    started: bool,
    tools: Vec<ToolAcc>,
    live: Option<usize>,
}

impl Decode for Decoder {
    fn push(&mut self, event: &SseEvent, loss: &mut Loss) -> Vec<Ev> {
        let mut out = Vec::new();
        if event.data.trim() == "[DONE]" {
            self.flush_tools(loss, &mut out);
            out.push(Ev::End);
            return out;
        }
        let Some(chunk) = parse_data(event, loss) else {
            return out;
        };
        if let Some(err) = present(&chunk, "error") {
            out.push(upstream_error(err));
            return out;
        }
        if !std::mem::replace(&mut self.started, true) {
            out.push(Ev::Start {
                id: str_of(&chunk, "id").map(str::to_owned),
                model: str_of(&chunk, "model").map(str::to_owned),
                usage: Usage::default(),
            });
        }
        if let Some(u) = present(&chunk, "usage") {
            out.push(Ev::Usage(usage::from_chat(u)));
        }
        for choice in arr_of(&chunk, "choices") {
            if u64_of(choice, "index").unwrap_or(0) != 0 {
                loss.add("n");
                continue;
            }
            self.choice(choice, loss, &mut out);
        }
        out
    }

    fn finish(&mut self, loss: &mut Loss) -> Vec<Ev> {
        let mut out = Vec::new();
        self.flush_tools(loss, &mut out);
        out
    }
}

fn upstream_error(err: &Value) -> Ev {
    let code = str_of(err, "code")
        .or_else(|| str_of(err, "type"))
        .unwrap_or("");
    Ev::Error {
        message: str_of(err, "message")
            .or(err.as_str())
            .unwrap_or("upstream error")
            .to_owned(),
        kind: error_kind(code),
    }
}

impl Decoder {
    fn choice(&mut self, choice: &Value, loss: &mut Loss, out: &mut Vec<Ev>) {
        let delta = choice.get("delta").unwrap_or(&Value::Null);
        if let Some(r) = reasoning_text(delta) {
            self.flush_tools(loss, out);
            out.push(Ev::Thinking(r.to_owned()));
        }
        if let Some(t) = str_of(delta, "content").filter(|t| !t.is_empty()) {
            self.flush_tools(loss, out);
            out.push(Ev::Text(t.to_owned()));
        }
        if let Some(r) = str_of(delta, "refusal").filter(|t| !t.is_empty()) {
            self.flush_tools(loss, out);
            out.push(Ev::Text(r.to_owned()));
            out.push(Ev::Stop(StopReason::Refusal, None));
        }
        for (pos, call) in arr_of(delta, "tool_calls").iter().enumerate() {
            self.tool_delta(call, pos as u64, loss, out);
        }
        if let Some(reason) = str_of(choice, "finish_reason") {
            self.flush_tools(loss, out);
            if let Some(stop) = stop_from_str(reason) {
                out.push(Ev::Stop(stop, None));
            }
        }
    }

    /// The accumulator for `key`; a new id on a known index starts a new call
    /// (some servers send every call at index 0).
    fn slot(&mut self, key: u64, id: Option<&str>) -> usize {
        let same_call = |t: &ToolAcc| !matches!((&t.id, id), (Some(old), Some(new)) if old != new);
        let found = self
            .tools
            .iter()
            .rposition(|t| t.key == key)
            .filter(|&i| self.tools.get(i).is_some_and(same_call));
        match found {
            Some(i) => i,
            None => {
                self.tools.push(ToolAcc {
                    key,
                    id: None,
                    name: None,
                    args: String::new(),
                    state: ToolState::Waiting,
                });
                self.tools.len() - 1
            }
        }
    }

    fn tool_delta(&mut self, call: &Value, pos: u64, loss: &mut Loss, out: &mut Vec<Ev>) {
        let key = u64_of(call, "index").unwrap_or(pos);
        let id = str_of(call, "id").filter(|s| !s.is_empty());
        let function = call.get("function").unwrap_or(&Value::Null);
        let i = self.slot(key, id);
        let Some(acc) = self.tools.get_mut(i) else {
            return;
        };
        if acc.id.is_none() {
            acc.id = id.map(str::to_owned);
        }
        if let Some(name) = str_of(function, "name").filter(|n| !n.is_empty()) {
            acc.name.get_or_insert_with(|| name.to_owned());
        }
        let fragment = text_of(function, "arguments");
        match acc.state {
            ToolState::Live => {
                acc.args.push_str(fragment);
                if !fragment.is_empty() {
                    out.push(Ev::Args(fragment.to_owned()));
                }
                self.advance(out);
            }
            ToolState::Waiting => {
                acc.args.push_str(fragment);
                self.try_start(i, out);
            }
            // A fragment after its call was closed cannot be delivered anymore.
            ToolState::Done if !fragment.is_empty() => loss.add("tool_call.arguments"),
            ToolState::Done => {}
        }
    }

    fn try_start(&mut self, i: usize, out: &mut Vec<Ev>) {
        if !self.tools.get(i).is_some_and(ToolAcc::startable) {
            return;
        }
        match self.live {
            None => self.go_live(i, out),
            Some(l) if self.tools.get(l).is_some_and(|t| args_complete(&t.args)) => {
                self.end_live(out);
                self.go_live(i, out);
            }
            Some(_) => {}
        }
    }

    /// Once the live call's arguments are complete, the next held call may go.
    fn advance(&mut self, out: &mut Vec<Ev>) {
        while let Some(l) = self.live {
            if !self.tools.get(l).is_some_and(|t| args_complete(&t.args)) {
                return;
            }
            let Some(next) = self.tools.iter().position(ToolAcc::startable) else {
                return;
            };
            self.end_live(out);
            self.go_live(next, out);
        }
    }

    fn go_live(&mut self, i: usize, out: &mut Vec<Ev>) {
        let Some(acc) = self.tools.get_mut(i) else {
            return;
        };
        acc.state = ToolState::Live;
        let id = acc.id.get_or_insert_with(|| new_id("call_")).clone();
        out.push(Ev::Open(Block::Tool {
            id,
            name: acc.name.clone().unwrap_or_default(),
        }));
        if !acc.args.is_empty() {
            out.push(Ev::Args(acc.args.clone()));
        }
        self.live = Some(i);
    }

    fn end_live(&mut self, out: &mut Vec<Ev>) {
        if let Some(acc) = self.live.take().and_then(|l| self.tools.get_mut(l)) {
            acc.state = ToolState::Done;
            out.push(Ev::Close);
        }
    }

    /// Closes the live call and releases every held one, in arrival order.
    fn flush_tools(&mut self, loss: &mut Loss, out: &mut Vec<Ev>) {
        self.end_live(out);
        for i in 0..self.tools.len() {
            if self
                .tools
                .get(i)
                .is_some_and(|t| t.state == ToolState::Waiting)
            {
                if self.tools.get(i).is_some_and(|t| t.name.is_none()) {
                    loss.add("tool_call.name");
                }
                self.go_live(i, out);
                self.end_live(out);
            }
        }
    }
}

// ----------------------------------------------------------------- encoder

pub struct Encoder {
    ctx: StreamContext,
    id: String,
    model: String,
    created: u64,
    tools: u64,
    in_tool: bool,
    args_sent: bool,
    usage: Usage,
    finish_reason: &'static str,
    out_chars: u64,
}

impl Encoder {
    pub fn new(ctx: StreamContext) -> Encoder {
        Encoder {
            model: ctx.model.clone(),
            ctx,
            id: new_id("chatcmpl-"),
            created: unix_now(),
            tools: 0,
            in_tool: false,
            args_sent: false,
            usage: Usage::default(),
            finish_reason: "stop",
            out_chars: 0,
        }
    }

    fn chunk(&self, delta: Value, finish_reason: Option<&str>) -> SseEvent {
        SseEvent::data(
            json!({
                "id": self.id, "object": "chat.completion.chunk", "created": self.created,
                "model": self.model,
                "choices": [{"index": 0, "delta": delta, "logprobs": Value::Null, "finish_reason": finish_reason}],
            })
            .to_string(),
        )
    }

    fn tool_args(&mut self, args: &str) -> SseEvent {
        self.args_sent = true;
        let index = self.tools.saturating_sub(1);
        self.chunk(
            json!({"tool_calls": [{"index": index, "function": {"arguments": args}}]}),
            None,
        )
    }

    fn open(&mut self, block: Block, loss: &mut Loss) -> Vec<SseEvent> {
        match block {
            Block::Tool { id, name } => {
                let index = self.tools;
                self.tools += 1;
                self.in_tool = true;
                self.args_sent = false;
                let call = json!({"index": index, "id": id, "type": "function", "function": {"name": name, "arguments": ""}});
                vec![self.chunk(json!({"tool_calls": [call]}), None)]
            }
            Block::Redacted(_) => {
                loss.add("redacted_thinking");
                Vec::new()
            }
            Block::Text | Block::Thinking => Vec::new(),
        }
    }

    fn end(&mut self) -> Vec<SseEvent> {
        let mut out = vec![self.chunk(json!({}), Some(self.finish_reason))];
        if self.ctx.include_usage {
            let mut usage = self.usage;
            if usage.total_input() == 0 {
                usage.input = Some(self.ctx.estimated_input_tokens);
            }
            usage.output = usage.output.or(Some(self.out_chars.div_ceil(4)));
            out.push(SseEvent::data(
                json!({
                    "id": self.id, "object": "chat.completion.chunk", "created": self.created,
                    "model": self.model, "choices": [], "usage": usage::to_chat(&usage),
                })
                .to_string(),
            ));
        }
        out.push(SseEvent::data("[DONE]"));
        out
    }
}

impl Encode for Encoder {
    fn on(&mut self, ev: Ev, loss: &mut Loss) -> Vec<SseEvent> {
        match ev {
            Ev::Start { id, model, usage } => {
                self.id = id.unwrap_or_else(|| self.id.clone());
                self.model = model.unwrap_or_else(|| self.model.clone());
                self.usage.merge(&usage);
                vec![self.chunk(json!({"role": "assistant", "content": ""}), None)]
            }
            Ev::Open(block) => self.open(block, loss),
            Ev::Text(t) => {
                self.out_chars += t.len() as u64;
                vec![self.chunk(json!({"content": t}), None)]
            }
            Ev::Thinking(t) => {
                self.out_chars += t.len() as u64;
                vec![self.chunk(json!({"reasoning_content": t}), None)]
            }
            Ev::Signature(_) => {
                loss.add("thinking.signature");
                Vec::new()
            }
            Ev::Args(a) => {
                self.out_chars += a.len() as u64;
                vec![self.tool_args(&a)]
            }
            Ev::Close if std::mem::take(&mut self.in_tool) && !self.args_sent => {
                vec![self.tool_args("{}")]
            }
            Ev::Close => Vec::new(),
            Ev::Usage(u) => {
                self.usage.merge(&u);
                Vec::new()
            }
            Ev::Stop(reason, _) => {
                self.finish_reason = stop_to_str(reason);
                Vec::new()
            }
            Ev::End => self.end(),
            err @ Ev::Error { .. } => vec![error_event(&err)],
        }
    }
}

/// The openai SDKs raise on a chunk with an `error` key; no `[DONE]` follows,
/// so a client cannot mistake a failed stream for a complete one.
pub fn error_event(err: &Ev) -> SseEvent {
    let (message, kind) = match err {
        Ev::Error { message, kind } => (message.as_str(), *kind),
        _ => ("stream failed", "api_error"),
    };
    let kind_type = if kind == "invalid_request_error" {
        kind
    } else {
        "server_error"
    };
    SseEvent::data(
        json!({"error": {"message": message, "type": kind_type, "code": kind, "param": Value::Null}}).to_string(),
    )
}
