//! Stream tests: every upstream x client pair is driven by the same scripts,
//! and every client stream is checked against its protocol's invariants
//! (terminal signal, contiguous indexes, paired starts/stops, stable tool
//! ids, non-empty arguments, non-zero `message_start` usage).

use super::*;
use crate::convert::ir::StopReason;
use proptest::prelude::*;
use serde_json::json;
use std::collections::BTreeMap;
use Protocol::*;

// ------------------------------------------------------------------ scripts

#[derive(Debug, Clone)]
struct Script {
    thinking: Vec<&'static str>,
    signature: Option<&'static str>,
    text: Vec<&'static str>,
    tools: Vec<(&'static str, &'static str, Vec<&'static str>)>,
    stop: StopReason,
    input: u64,
    cache_read: u64,
    output: u64,
    reasoning: u64,
    error_mid: bool,
    terminal: bool,
}

impl Default for Script {
    fn default() -> Script {
        Script {
            thinking: vec![],
            signature: None,
            text: vec!["Hel", "lo"],
            tools: vec![],
            stop: StopReason::EndTurn,
            input: 20,
            cache_read: 0,
            output: 7,
            reasoning: 0,
            error_mid: false,
            terminal: true,
        }
    }
}

fn anth(data: Value) -> SseEvent {
    let kind = data
        .get("type")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_owned();
    SseEvent::new(Some(&kind), data.to_string())
}

fn upstream(from: Protocol, s: &Script) -> Vec<SseEvent> {
    match from {
        AnthropicMessages => anthropic_upstream(s),
        OpenAiChat => chat_upstream(s),
        OpenAiResponses => responses_upstream(s),
    }
}

fn anthropic_upstream(s: &Script) -> Vec<SseEvent> {
    let mut out = vec![
        anth(json!({"type": "message_start", "message": {
        "id": "msg_up", "type": "message", "role": "assistant", "content": [], "model": "claude-up",
        "stop_reason": null, "stop_sequence": null,
        "usage": {"input_tokens": s.input, "output_tokens": 1, "cache_read_input_tokens": s.cache_read, "cache_creation_input_tokens": 0}}})),
        anth(json!({"type": "ping"})),
    ];
    let mut index = 0;
    let mut block = |out: &mut Vec<SseEvent>, start: Value, deltas: Vec<Value>| {
        out.push(anth(
            json!({"type": "content_block_start", "index": index, "content_block": start}),
        ));
        for d in deltas {
            out.push(anth(
                json!({"type": "content_block_delta", "index": index, "delta": d}),
            ));
        }
        out.push(anth(json!({"type": "content_block_stop", "index": index})));
        index += 1;
    };
    if !s.thinking.is_empty() {
        let mut deltas: Vec<Value> = s
            .thinking
            .iter()
            .map(|t| json!({"type": "thinking_delta", "thinking": t}))
            .collect();
        deltas.extend(
            s.signature
                .map(|sig| json!({"type": "signature_delta", "signature": sig})),
        );
        block(
            &mut out,
            json!({"type": "thinking", "thinking": ""}),
            deltas,
        );
    }
    if !s.text.is_empty() {
        let deltas = s
            .text
            .iter()
            .map(|t| json!({"type": "text_delta", "text": t}))
            .collect();
        block(&mut out, json!({"type": "text", "text": ""}), deltas);
    }
    for (id, name, args) in &s.tools {
        let deltas = args
            .iter()
            .map(|a| json!({"type": "input_json_delta", "partial_json": a}))
            .collect();
        block(
            &mut out,
            json!({"type": "tool_use", "id": id, "name": name, "input": {}}),
            deltas,
        );
    }
    if s.error_mid {
        out.push(anth(json!({"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}})));
        return out;
    }
    let reason = crate::convert::anthropic::stop_to_str(s.stop);
    out.push(anth(json!({"type": "message_delta", "delta": {"stop_reason": reason, "stop_sequence": null}, "usage": {"output_tokens": s.output}})));
    if s.terminal {
        out.push(anth(json!({"type": "message_stop"})));
    }
    out
}

fn chunk(delta: Value, finish: Option<&str>) -> SseEvent {
    SseEvent::data(
        json!({"id": "chatcmpl-up", "object": "chat.completion.chunk", "created": 1, "model": "gpt-up",
               "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]})
        .to_string(),
    )
}

fn chat_upstream(s: &Script) -> Vec<SseEvent> {
    let mut out = vec![chunk(json!({"role": "assistant", "content": ""}), None)];
    out.extend(
        s.thinking
            .iter()
            .map(|t| chunk(json!({"reasoning_content": t}), None)),
    );
    out.extend(s.text.iter().map(|t| chunk(json!({"content": t}), None)));
    for (k, (id, name, args)) in s.tools.iter().enumerate() {
        out.push(chunk(json!({"tool_calls": [{"index": k, "id": id, "type": "function", "function": {"name": name, "arguments": ""}}]}), None));
        for a in args {
            out.push(chunk(
                json!({"tool_calls": [{"index": k, "function": {"arguments": a}}]}),
                None,
            ));
        }
    }
    if s.error_mid {
        out.push(SseEvent::data(json!({"error": {"message": "Overloaded", "type": "server_error", "code": "overloaded_error"}}).to_string()));
        return out;
    }
    out.push(chunk(
        json!({}),
        Some(crate::convert::chat::stop_to_str(s.stop)),
    ));
    out.push(SseEvent::data(
        json!({"id": "chatcmpl-up", "object": "chat.completion.chunk", "created": 1, "model": "gpt-up", "choices": [],
               "usage": {"prompt_tokens": s.input + s.cache_read, "completion_tokens": s.output, "total_tokens": s.input + s.cache_read + s.output,
                         "prompt_tokens_details": {"cached_tokens": s.cache_read},
                         "completion_tokens_details": {"reasoning_tokens": s.reasoning}}})
        .to_string(),
    ));
    if s.terminal {
        out.push(SseEvent::data("[DONE]"));
    }
    out
}

fn responses_upstream(s: &Script) -> Vec<SseEvent> {
    let mut seq = 0u64;
    let mut ev = |out: &mut Vec<SseEvent>, kind: &str, mut data: Value| {
        data["type"] = json!(kind);
        data["sequence_number"] = json!(seq);
        seq += 1;
        out.push(SseEvent::new(Some(kind), data.to_string()));
    };
    let head = json!({"id": "resp_up", "object": "response", "model": "gpt-up", "status": "in_progress", "output": []});
    let mut out = Vec::new();
    ev(&mut out, "response.created", json!({"response": head}));
    ev(&mut out, "response.in_progress", json!({"response": head}));
    let mut oi = 0;
    if !s.thinking.is_empty() {
        ev(
            &mut out,
            "response.output_item.added",
            json!({"output_index": oi, "item": {"id": "rs_1", "type": "reasoning", "summary": []}}),
        );
        ev(
            &mut out,
            "response.reasoning_summary_part.added",
            json!({"item_id": "rs_1", "output_index": oi, "summary_index": 0, "part": {"type": "summary_text", "text": ""}}),
        );
        for t in &s.thinking {
            ev(
                &mut out,
                "response.reasoning_summary_text.delta",
                json!({"item_id": "rs_1", "output_index": oi, "summary_index": 0, "delta": t}),
            );
        }
        let all: String = s.thinking.concat();
        ev(
            &mut out,
            "response.reasoning_summary_text.done",
            json!({"item_id": "rs_1", "output_index": oi, "summary_index": 0, "text": all}),
        );
        ev(
            &mut out,
            "response.output_item.done",
            json!({"output_index": oi, "item": {"id": "rs_1", "type": "reasoning",
            "summary": [{"type": "summary_text", "text": all}], "encrypted_content": s.signature}}),
        );
        oi += 1;
    }
    if !s.text.is_empty() {
        ev(
            &mut out,
            "response.output_item.added",
            json!({"output_index": oi, "item": {"id": "msg_1", "type": "message", "role": "assistant", "status": "in_progress", "content": []}}),
        );
        ev(
            &mut out,
            "response.content_part.added",
            json!({"item_id": "msg_1", "output_index": oi, "content_index": 0, "part": {"type": "output_text", "text": "", "annotations": []}}),
        );
        for t in &s.text {
            ev(
                &mut out,
                "response.output_text.delta",
                json!({"item_id": "msg_1", "output_index": oi, "content_index": 0, "delta": t}),
            );
        }
        ev(
            &mut out,
            "response.output_text.done",
            json!({"item_id": "msg_1", "output_index": oi, "content_index": 0, "text": s.text.concat()}),
        );
        ev(
            &mut out,
            "response.content_part.done",
            json!({"item_id": "msg_1", "output_index": oi, "content_index": 0, "part": {"type": "output_text", "text": s.text.concat()}}),
        );
        ev(
            &mut out,
            "response.output_item.done",
            json!({"output_index": oi, "item": {"id": "msg_1", "type": "message"}}),
        );
        oi += 1;
    }
    for (k, (id, name, args)) in s.tools.iter().enumerate() {
        let item_id = format!("fc_{k}");
        ev(
            &mut out,
            "response.output_item.added",
            json!({"output_index": oi, "item": {"id": item_id, "type": "function_call", "call_id": id, "name": name, "arguments": ""}}),
        );
        for a in args {
            ev(
                &mut out,
                "response.function_call_arguments.delta",
                json!({"item_id": item_id, "output_index": oi, "delta": a}),
            );
        }
        ev(
            &mut out,
            "response.function_call_arguments.done",
            json!({"item_id": item_id, "output_index": oi, "arguments": args.concat()}),
        );
        ev(
            &mut out,
            "response.output_item.done",
            json!({"output_index": oi, "item": {"id": item_id, "type": "function_call", "call_id": id, "name": name, "arguments": args.concat()}}),
        );
        oi += 1;
    }
    if s.error_mid {
        ev(
            &mut out,
            "error",
            json!({"code": "server_error", "message": "Overloaded", "param": null}),
        );
        return out;
    }
    if s.terminal {
        let (status, incomplete) = crate::convert::responses::status_for(s.stop);
        let kind = if status == "completed" {
            "response.completed"
        } else {
            "response.incomplete"
        };
        ev(
            &mut out,
            kind,
            json!({"response": {"id": "resp_up", "object": "response", "model": "gpt-up", "status": status,
            "incomplete_details": incomplete.map(|r| json!({"reason": r})), "output": [],
            "usage": {"input_tokens": s.input + s.cache_read, "output_tokens": s.output, "total_tokens": s.input + s.cache_read + s.output,
                      "input_tokens_details": {"cached_tokens": s.cache_read}, "output_tokens_details": {"reasoning_tokens": s.reasoning}}}}),
        );
    }
    out
}

// ----------------------------------------------------------------- checkers

/// What a client would reconstruct from a stream.
#[derive(Debug, Default, PartialEq)]
struct Summary {
    text: String,
    thinking: String,
    tools: Vec<(String, String, String)>,
    stop: String,
    input_total: u64,
    output: u64,
    cache_read: u64,
    error: Option<String>,
}

/// Streamed arguments must never be empty. Exact JSON is asserted by the
/// script tests; corrupted upstreams may legitimately yield truncated JSON.
fn is_object_json(s: &str) -> bool {
    !s.trim().is_empty()
}

fn data_of(e: &SseEvent) -> Value {
    serde_json::from_str(&e.data).unwrap_or(Value::Null)
}

fn u(v: &Value, path: &[&str]) -> u64 {
    path.iter()
        .fold(v, |v, k| v.get(*k).unwrap_or(&Value::Null))
        .as_u64()
        .unwrap_or(0)
}

fn check(to: Protocol, events: &[SseEvent]) -> Result<Summary, String> {
    match to {
        AnthropicMessages => check_anthropic(events),
        OpenAiChat => check_chat(events),
        OpenAiResponses => check_responses(events),
    }
}

fn check_anthropic(events: &[SseEvent]) -> Result<Summary, String> {
    let mut sum = Summary::default();
    let mut open: Option<(u64, String)> = None;
    let mut next_index = 0u64;
    let mut tool_args: Option<String> = None;
    let mut stopped = false;
    for (i, e) in events.iter().enumerate() {
        let d = data_of(e);
        let kind = d["type"].as_str().unwrap_or("");
        if e.event.as_deref() != Some(kind) {
            return Err(format!("event line {:?} != data type {kind}", e.event));
        }
        if stopped {
            return Err(format!("event after terminal: {kind}"));
        }
        if i == 0 && kind != "message_start" && kind != "error" {
            return Err(format!("first event is {kind}"));
        }
        match kind {
            "message_start" => {
                let m = &d["message"];
                if m["type"] != "message"
                    || m["role"] != "assistant"
                    || !m["content"].is_array()
                    || !m["stop_reason"].is_null()
                {
                    return Err(format!("bad message_start {m}"));
                }
                if u(m, &["usage", "input_tokens"]) + u(m, &["usage", "cache_read_input_tokens"])
                    == 0
                    || u(m, &["usage", "output_tokens"]) == 0
                {
                    return Err(format!("zero usage in message_start {m}"));
                }
            }
            "content_block_start" => {
                if open.is_some() {
                    return Err("overlapping blocks".into());
                }
                if u(&d, &["index"]) != next_index {
                    return Err(format!("index {} != {next_index}", d["index"]));
                }
                let block = &d["content_block"];
                let t = block["type"].as_str().unwrap_or("").to_owned();
                if t == "tool_use" {
                    let id = block["id"].as_str().unwrap_or("");
                    if id.is_empty() || !block["input"].is_object() {
                        return Err(format!("bad tool_use start {block}"));
                    }
                    sum.tools.push((
                        id.into(),
                        block["name"].as_str().unwrap_or("").into(),
                        String::new(),
                    ));
                    tool_args = Some(String::new());
                }
                open = Some((next_index, t));
                next_index += 1;
            }
            "content_block_delta" => {
                let Some((idx, t)) = &open else {
                    return Err("delta outside block".into());
                };
                if u(&d, &["index"]) != *idx {
                    return Err("delta for wrong index".into());
                }
                let delta = &d["delta"];
                match (t.as_str(), delta["type"].as_str().unwrap_or("")) {
                    ("text", "text_delta") => sum.text += delta["text"].as_str().unwrap_or(""),
                    ("thinking", "thinking_delta") => {
                        sum.thinking += delta["thinking"].as_str().unwrap_or("")
                    }
                    ("thinking", "signature_delta") => {}
                    ("tool_use", "input_json_delta") => {
                        if let Some(a) = tool_args.as_mut() {
                            a.push_str(delta["partial_json"].as_str().unwrap_or(""));
                        }
                    }
                    other => return Err(format!("delta {other:?} does not fit block")),
                }
            }
            "content_block_stop" => {
                let Some((idx, t)) = open.take() else {
                    return Err("stop without start".into());
                };
                if u(&d, &["index"]) != idx {
                    return Err("stop for wrong index".into());
                }
                if t == "tool_use" {
                    let args = tool_args.take().unwrap_or_default();
                    if !is_object_json(&args) {
                        return Err(format!("tool args not a JSON object: {args:?}"));
                    }
                    if let Some(last) = sum.tools.last_mut() {
                        last.2 = args;
                    }
                }
            }
            "message_delta" => {
                if open.is_some() {
                    return Err("message_delta with open block".into());
                }
                sum.stop = d["delta"]["stop_reason"].as_str().unwrap_or("").to_owned();
                let usage = &d["usage"];
                sum.input_total = u(usage, &["input_tokens"])
                    + u(usage, &["cache_read_input_tokens"])
                    + u(usage, &["cache_creation_input_tokens"]);
                sum.output = u(usage, &["output_tokens"]);
                sum.cache_read = u(usage, &["cache_read_input_tokens"]);
            }
            "message_stop" => {
                if sum.stop.is_empty() {
                    return Err("message_stop without message_delta".into());
                }
                stopped = true;
            }
            "error" => {
                sum.error = d["error"]["message"].as_str().map(str::to_owned);
                if d["error"]["type"].as_str().is_none() {
                    return Err("error without type".into());
                }
                stopped = true;
            }
            "ping" => {}
            other => return Err(format!("unknown event {other}")),
        }
    }
    if !stopped {
        return Err("no terminal event".into());
    }
    Ok(sum)
}

fn check_chat(events: &[SseEvent]) -> Result<Summary, String> {
    let mut sum = Summary::default();
    let mut tools: BTreeMap<u64, (String, String, String)> = BTreeMap::new();
    let mut finished = false;
    let mut done = false;
    let mut id = None;
    for e in events {
        if e.event.is_some() {
            return Err("chat events carry no event: line".into());
        }
        if done {
            return Err("event after terminal".into());
        }
        if e.data == "[DONE]" {
            if !finished {
                return Err("[DONE] without finish_reason".into());
            }
            done = true;
            continue;
        }
        let d = data_of(e);
        if let Some(err) = d.get("error") {
            sum.error = err["message"].as_str().map(str::to_owned);
            if err["type"].as_str().is_none() {
                return Err("error without type".into());
            }
            done = true;
            continue;
        }
        if d["object"] != "chat.completion.chunk"
            || d["created"].as_u64().is_none()
            || d["model"].as_str().is_none()
        {
            return Err(format!("bad chunk {d}"));
        }
        if id.get_or_insert_with(|| d["id"].clone()) != &d["id"] {
            return Err("chunk id changed".into());
        }
        if let Some(usage) = d.get("usage").filter(|u| !u.is_null()) {
            if d["choices"].as_array().map(Vec::len) != Some(0) {
                return Err("usage chunk must have empty choices".into());
            }
            sum.input_total = u(usage, &["prompt_tokens"]);
            sum.output = u(usage, &["completion_tokens"]);
            sum.cache_read = u(usage, &["prompt_tokens_details", "cached_tokens"]);
            if u(usage, &["total_tokens"]) != sum.input_total + sum.output {
                return Err("total_tokens mismatch".into());
            }
            continue;
        }
        let choice = &d["choices"][0];
        if finished {
            return Err("content after finish_reason".into());
        }
        let delta = &choice["delta"];
        sum.text += delta["content"].as_str().unwrap_or("");
        sum.thinking += delta["reasoning_content"].as_str().unwrap_or("");
        for call in delta["tool_calls"].as_array().cloned().unwrap_or_default() {
            let index = call["index"].as_u64().ok_or("tool call without index")?;
            let entry = tools.entry(index).or_default();
            if let Some(new_id) = call["id"].as_str() {
                if !entry.0.is_empty() {
                    return Err("tool id sent twice".into());
                }
                if call["function"]["name"].as_str().unwrap_or("").is_empty() {
                    return Err("first tool chunk lacks a name".into());
                }
                entry.0 = new_id.to_owned();
                entry.1 = call["function"]["name"].as_str().unwrap_or("").to_owned();
            } else if entry.0.is_empty() {
                return Err("tool arguments before id".into());
            }
            entry.2 += call["function"]["arguments"].as_str().unwrap_or("");
        }
        if let Some(reason) = choice["finish_reason"].as_str() {
            finished = true;
            sum.stop = match reason {
                "stop" => "end_turn",
                "length" => "max_tokens",
                "tool_calls" => "tool_use",
                other => other,
            }
            .to_owned();
        }
    }
    if !done {
        return Err("no terminal event".into());
    }
    if sum.error.is_none() && tools.keys().copied().ne(0..tools.len() as u64) {
        return Err("tool indexes not contiguous".into());
    }
    for (_, (id, name, args)) in tools {
        if sum.error.is_none() && !is_object_json(&args) {
            return Err(format!("tool args not a JSON object: {args:?}"));
        }
        sum.tools.push((id, name, args));
    }
    Ok(sum)
}

fn check_responses(events: &[SseEvent]) -> Result<Summary, String> {
    let mut sum = Summary::default();
    let mut items: Vec<(String, String, bool)> = Vec::new(); // id, type, done
    let mut texts: BTreeMap<String, String> = BTreeMap::new();
    let mut terminal = false;
    for (seq, e) in events.iter().enumerate() {
        let d = data_of(e);
        let kind = d["type"].as_str().unwrap_or("");
        if e.event.as_deref() != Some(kind) {
            return Err(format!("event line {:?} != type {kind}", e.event));
        }
        if d["sequence_number"].as_u64() != Some(seq as u64) {
            return Err(format!("sequence_number {} at {seq}", d["sequence_number"]));
        }
        if terminal {
            return Err(format!("event after terminal: {kind}"));
        }
        if seq == 0 && kind != "response.created" {
            return Err(format!("first event {kind}"));
        }
        let item_at = |d: &Value| -> Result<(String, String), String> {
            let oi = d["output_index"].as_u64().ok_or("no output_index")? as usize;
            let (id, t, done) = items.get(oi).ok_or("output_index before item added")?;
            if *done {
                return Err("event for finished item".into());
            }
            if d.get("item_id").is_some() && d["item_id"].as_str() != Some(id) {
                return Err("item_id mismatch".into());
            }
            Ok((id.clone(), t.clone()))
        };
        match kind {
            "response.created" | "response.in_progress" => {
                if d["response"]["status"] != "in_progress" || d["response"]["object"] != "response"
                {
                    return Err("bad initial response".into());
                }
            }
            "response.output_item.added" => {
                if d["output_index"].as_u64() != Some(items.len() as u64) {
                    return Err("output_index not contiguous".into());
                }
                if items.last().is_some_and(|i| !i.2) {
                    return Err("overlapping items".into());
                }
                let item = &d["item"];
                let t = item["type"].as_str().unwrap_or("").to_owned();
                if t == "function_call" {
                    sum.tools.push((
                        item["call_id"].as_str().unwrap_or("").into(),
                        item["name"].as_str().unwrap_or("").into(),
                        String::new(),
                    ));
                }
                items.push((
                    item["id"].as_str().ok_or("item without id")?.to_owned(),
                    t,
                    false,
                ));
            }
            "response.content_part.added"
            | "response.content_part.done"
            | "response.reasoning_summary_part.added"
            | "response.reasoning_summary_part.done" => {
                item_at(&d)?;
            }
            "response.output_text.delta" => {
                let (id, t) = item_at(&d)?;
                if t != "message" || d["content_index"] != 0 || !d["logprobs"].is_array() {
                    return Err("bad text delta".into());
                }
                let delta = d["delta"].as_str().unwrap_or("");
                sum.text += delta;
                *texts.entry(id).or_default() += delta;
            }
            "response.output_text.done" => {
                let (id, _) = item_at(&d)?;
                if d["text"].as_str() != texts.get(&id).map(String::as_str).or(Some("")) {
                    return Err("output_text.done text differs from deltas".into());
                }
            }
            "response.reasoning_summary_text.delta" => {
                item_at(&d)?;
                sum.thinking += d["delta"].as_str().unwrap_or("");
            }
            "response.reasoning_summary_text.done" => {
                item_at(&d)?;
            }
            "response.function_call_arguments.delta" => {
                let (_, t) = item_at(&d)?;
                if t != "function_call" {
                    return Err("args delta on non-call".into());
                }
                if let Some(last) = sum.tools.last_mut() {
                    last.2 += d["delta"].as_str().unwrap_or("");
                }
            }
            "response.function_call_arguments.done" => {
                item_at(&d)?;
                let args = sum.tools.last().map(|t| t.2.clone()).unwrap_or_default();
                if d["arguments"].as_str() != Some(args.as_str()) || !is_object_json(&args) {
                    return Err(format!("bad final arguments {args:?}"));
                }
            }
            "response.output_item.done" => {
                let oi = d["output_index"].as_u64().unwrap_or(u64::MAX) as usize;
                item_at(&d)?;
                if let Some(item) = items.get_mut(oi) {
                    item.2 = true;
                }
            }
            "response.completed" | "response.incomplete" => {
                let r = &d["response"];
                if items.iter().any(|i| !i.2) {
                    return Err("terminal with open items".into());
                }
                if r["output"].as_array().map(Vec::len) != Some(items.len()) {
                    return Err("final output does not list every item".into());
                }
                sum.stop = match (
                    r["status"].as_str(),
                    r["incomplete_details"]["reason"].as_str(),
                ) {
                    (Some("completed"), _) if !sum.tools.is_empty() => "tool_use",
                    (Some("completed"), _) => "end_turn",
                    (Some("incomplete"), Some("max_output_tokens")) => "max_tokens",
                    _ => "other",
                }
                .to_owned();
                sum.input_total = u(r, &["usage", "input_tokens"]);
                sum.output = u(r, &["usage", "output_tokens"]);
                sum.cache_read = u(r, &["usage", "input_tokens_details", "cached_tokens"]);
                terminal = true;
            }
            "error" => {
                sum.error = d["message"].as_str().map(str::to_owned);
            }
            "response.failed" => {
                if sum.error.is_none() || d["response"]["status"] != "failed" {
                    return Err("response.failed without error event".into());
                }
                terminal = true;
            }
            other => return Err(format!("unknown event {other}")),
        }
    }
    if !terminal {
        return Err("no terminal event".into());
    }
    Ok(sum)
}

// ------------------------------------------------------------------ drivers

fn ctx() -> StreamContext {
    StreamContext {
        model: "client-model".into(),
        estimated_input_tokens: 42,
        include_usage: true,
        ..Default::default()
    }
}

fn run(from: Protocol, to: Protocol, events: &[SseEvent]) -> (Vec<SseEvent>, Vec<&'static str>) {
    let mut conv = stream_converter(from, to, ctx());
    let mut out = Vec::new();
    for e in events {
        out.extend(conv.push(e));
    }
    out.extend(conv.finish());
    (out, conv.lossy().to_vec())
}

const PAIRS: [(Protocol, Protocol); 6] = [
    (OpenAiChat, AnthropicMessages),
    (AnthropicMessages, OpenAiChat),
    (OpenAiChat, OpenAiResponses),
    (AnthropicMessages, OpenAiResponses),
    (OpenAiResponses, OpenAiChat),
    (OpenAiResponses, AnthropicMessages),
];

fn expected(s: &Script) -> Summary {
    let stop = if !s.tools.is_empty() && s.stop == StopReason::EndTurn {
        StopReason::ToolUse
    } else {
        s.stop
    };
    Summary {
        text: s.text.concat(),
        thinking: s.thinking.concat(),
        tools: s
            .tools
            .iter()
            .map(|(id, name, args)| {
                let args = args.concat();
                (
                    id.to_string(),
                    name.to_string(),
                    if args.is_empty() { "{}".into() } else { args },
                )
            })
            .collect(),
        stop: crate::convert::anthropic::stop_to_str(stop).to_owned(),
        input_total: s.input + s.cache_read,
        output: s.output,
        cache_read: s.cache_read,
        error: None,
    }
}

fn assert_script(s: &Script) {
    for (from, to) in PAIRS {
        let (out, _) = run(from, to, &upstream(from, s));
        let got = check(to, &out).unwrap_or_else(|e| panic!("{from:?}->{to:?}: {e}\n{out:#?}"));
        assert_eq!(got, expected(s), "{from:?}->{to:?}");
    }
}

// -------------------------------------------------------------------- tests

#[test]
fn streamed_text_all_pairs() {
    assert_script(&Script::default());
}

#[test]
fn streamed_tool_call_with_chunked_args_all_pairs() {
    assert_script(&Script {
        text: vec!["Let me look."],
        tools: vec![("call_1", "read_file", vec!["{\"pa", "th\": \"a", ".rs\"}"])],
        ..Script::default()
    });
}

#[test]
fn parallel_tool_calls_all_pairs() {
    assert_script(&Script {
        text: vec![],
        tools: vec![
            ("call_a", "f", vec!["{\"x\":", "1}"]),
            ("call_b", "g", vec!["{}"]),
            ("call_c", "h", vec![]),
        ],
        ..Script::default()
    });
}

#[test]
fn usage_with_cache_and_reasoning_all_pairs() {
    assert_script(&Script {
        input: 30,
        cache_read: 1000,
        output: 55,
        reasoning: 12,
        ..Script::default()
    });
}

#[test]
fn max_tokens_stop_all_pairs() {
    assert_script(&Script {
        stop: StopReason::MaxTokens,
        ..Script::default()
    });
}

#[test]
fn thinking_all_pairs() {
    assert_script(&Script {
        thinking: vec!["Let me ", "think."],
        signature: Some("sig123"),
        ..Script::default()
    });
}

#[test]
fn error_mid_stream_all_pairs() {
    let s = Script {
        error_mid: true,
        ..Script::default()
    };
    for (from, to) in PAIRS {
        let (out, _) = run(from, to, &upstream(from, &s));
        let got = check(to, &out).unwrap_or_else(|e| panic!("{from:?}->{to:?}: {e}"));
        assert_eq!(got.error.as_deref(), Some("Overloaded"), "{from:?}->{to:?}");
        assert_eq!(got.text, "Hello", "content before the error is delivered");
    }
}

#[test]
fn responses_error_codes_stay_in_the_api_enum() {
    // `response.error.code` is an enum in the Responses API; Anthropic kinds
    // such as overloaded_error are not in it.
    for (kind, want) in [
        ("overloaded_error", "server_error"),
        ("rate_limit_error", "rate_limit_exceeded"),
        ("invalid_request_error", "invalid_prompt"),
        ("api_error", "server_error"),
    ] {
        let events = vec![
            anth(
                json!({"type": "message_start", "message": {"id": "msg_1", "model": "m",
                "usage": {"input_tokens": 3, "output_tokens": 1}}}),
            ),
            anth(json!({"type": "error", "error": {"type": kind, "message": "boom"}})),
        ];
        let (out, _) = run(AnthropicMessages, OpenAiResponses, &events);
        let failed = out
            .iter()
            .map(data_of)
            .find(|d| d["type"] == "response.failed")
            .unwrap_or_default();
        assert_eq!(failed["response"]["error"]["code"], want, "{kind}");
        let error = out
            .iter()
            .map(data_of)
            .find(|d| d["type"] == "error")
            .unwrap_or_default();
        assert_eq!(error["code"], want, "{kind}");
        assert_eq!(error["message"], "boom");
    }
}

#[test]
fn missing_terminal_signal_ends_with_error_all_pairs() {
    let s = Script {
        terminal: false,
        ..Script::default()
    };
    for (from, to) in PAIRS {
        let (out, _) = run(from, to, &upstream(from, &s));
        let got = check(to, &out).unwrap_or_else(|e| panic!("{from:?}->{to:?}: {e}"));
        assert!(got.error.is_some(), "{from:?}->{to:?} must end in an error");
    }
}

#[test]
fn fail_after_start_emits_error_once_and_stops() {
    for (from, to) in PAIRS {
        let mut conv = stream_converter(from, to, ctx());
        let mut out = Vec::new();
        for e in upstream(from, &Script::default()).iter().take(4) {
            out.extend(conv.push(e));
        }
        out.extend(conv.fail("connection reset"));
        assert!(conv.fail("again").is_empty());
        assert!(conv.finish().is_empty());
        let got = check(to, &out).unwrap_or_else(|e| panic!("{from:?}->{to:?}: {e}"));
        assert_eq!(got.error.as_deref(), Some("connection reset"));
    }
}

#[test]
fn error_before_any_content_is_well_formed() {
    for (from, to) in PAIRS {
        let mut conv = stream_converter(from, to, ctx());
        let out = conv.fail("upstream refused");
        let got = check(to, &out).unwrap_or_else(|e| panic!("{from:?}->{to:?}: {e}"));
        assert_eq!(got.error.as_deref(), Some("upstream refused"));
    }
}

#[test]
fn message_start_uses_estimate_until_upstream_reports() {
    let (out, _) = run(
        OpenAiChat,
        AnthropicMessages,
        &upstream(OpenAiChat, &Script::default()),
    );
    let start = data_of(&out[0]);
    assert_eq!(start["message"]["usage"]["input_tokens"], 42);
    assert_eq!(start["message"]["usage"]["output_tokens"], 1);
    assert_eq!(start["message"]["model"], "gpt-up");
    let (out, _) = run(
        OpenAiResponses,
        AnthropicMessages,
        &upstream(OpenAiResponses, &Script::default()),
    );
    assert_eq!(data_of(&out[0])["message"]["usage"]["input_tokens"], 42);
}

#[test]
fn message_start_carries_real_usage_from_anthropic_upstream() {
    let mut conv = stream_converter(AnthropicMessages, AnthropicMessages, ctx());
    assert!(conv.lossy().is_empty());
    let (out, _) = run(
        AnthropicMessages,
        OpenAiChat,
        &upstream(AnthropicMessages, &Script::default()),
    );
    assert!(check_chat(&out).is_ok());
    // Anthropic -> Anthropic is not converted; Chat client above saw real numbers.
    let events = upstream(AnthropicMessages, &Script::default());
    let out = conv.push(&events[0]);
    assert_eq!(out, vec![events[0].clone()]);
}

#[test]
fn chat_split_id_name_and_interleaved_parallel_calls() {
    let c = |calls: Value| chunk(json!({"tool_calls": calls}), None);
    let events = vec![
        chunk(json!({"role": "assistant"}), None),
        c(json!([{"index": 0, "id": "call_0"}])),
        c(json!([{"index": 0, "function": {"name": "alpha"}}])),
        c(json!([{"index": 0, "function": {"arguments": "{\"a\""}}])),
        c(
            json!([{"index": 1, "id": "call_1", "function": {"name": "beta", "arguments": "{\"b\":"}}]),
        ),
        c(json!([{"index": 0, "function": {"arguments": ":1}"}}])),
        c(json!([{"index": 1, "function": {"arguments": "2}"}}])),
        chunk(json!({}), Some("tool_calls")),
        SseEvent::data("[DONE]"),
    ];
    for to in [AnthropicMessages, OpenAiResponses] {
        let (out, lossy) = run(OpenAiChat, to, &events);
        let got = check(to, &out).unwrap_or_else(|e| panic!("{to:?}: {e}"));
        assert_eq!(
            got.tools,
            vec![
                ("call_0".into(), "alpha".into(), "{\"a\":1}".into()),
                ("call_1".into(), "beta".into(), "{\"b\":2}".into()),
            ]
        );
        assert_eq!(got.stop, "tool_use");
        assert!(lossy.is_empty(), "{lossy:?}");
    }
}

#[test]
fn chat_sequential_calls_stream_live_without_waiting_for_the_end() {
    let mut conv = stream_converter(OpenAiChat, AnthropicMessages, ctx());
    let c = |calls: Value| chunk(json!({"tool_calls": calls}), None);
    conv.push(&chunk(json!({"role": "assistant"}), None));
    conv.push(&c(
        json!([{"index": 0, "id": "a", "function": {"name": "f", "arguments": "{}"}}]),
    ));
    let out = conv.push(&c(
        json!([{"index": 1, "id": "b", "function": {"name": "g", "arguments": ""}}]),
    ));
    let kinds: Vec<_> = out.iter().filter_map(|e| e.event.clone()).collect();
    assert_eq!(
        kinds,
        vec!["content_block_stop", "content_block_start"],
        "second call starts as soon as it appears"
    );
}

#[test]
fn chat_server_reusing_index_zero_for_each_call() {
    let c = |calls: Value| chunk(json!({"tool_calls": calls}), None);
    let events = vec![
        c(json!([{"index": 0, "id": "x1", "function": {"name": "f", "arguments": "{\"n\":1}"}}])),
        c(json!([{"index": 0, "id": "x2", "function": {"name": "f", "arguments": "{\"n\":2}"}}])),
        chunk(json!({}), Some("stop")),
        SseEvent::data("[DONE]"),
    ];
    let (out, _) = run(OpenAiChat, AnthropicMessages, &events);
    let got = check_anthropic(&out).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(got.tools.len(), 2);
    assert_eq!(
        got.stop, "tool_use",
        "finish_reason stop with calls becomes tool_use"
    );
}

#[test]
fn chat_tool_call_without_id_gets_a_stable_generated_one() {
    let c = |calls: Value| chunk(json!({"tool_calls": calls}), None);
    let events = vec![
        c(json!([{"index": 0, "function": {"name": "f", "arguments": "{\"a\""}}])),
        c(json!([{"index": 0, "function": {"arguments": ":1}"}}])),
        chunk(json!({}), Some("tool_calls")),
        SseEvent::data("[DONE]"),
    ];
    let (out, _) = run(OpenAiChat, OpenAiResponses, &events);
    let got = check_responses(&out).unwrap_or_else(|e| panic!("{e}"));
    assert!(got.tools[0].0.starts_with("call_"));
    assert_eq!(got.tools[0].2, "{\"a\":1}");
}

#[test]
fn include_usage_false_omits_usage_chunk() {
    let mut conv = stream_converter(
        AnthropicMessages,
        OpenAiChat,
        StreamContext {
            include_usage: false,
            ..ctx()
        },
    );
    let mut out = Vec::new();
    for e in upstream(AnthropicMessages, &Script::default()) {
        out.extend(conv.push(&e));
    }
    out.extend(conv.finish());
    assert!(out.iter().all(|e| !e.data.contains("\"usage\"")));
    assert_eq!(out.last().map(|e| e.data.as_str()), Some("[DONE]"));
}

#[test]
fn signature_and_reasoning_tokens_are_reported_lossy_for_chat_clients() {
    let s = Script {
        thinking: vec!["hm"],
        signature: Some("sig"),
        reasoning: 5,
        ..Script::default()
    };
    let (_, lossy) = run(
        AnthropicMessages,
        OpenAiChat,
        &upstream(AnthropicMessages, &s),
    );
    assert!(lossy.contains(&"thinking.signature"), "{lossy:?}");
    let (_, lossy) = run(OpenAiChat, AnthropicMessages, &upstream(OpenAiChat, &s));
    assert!(lossy.contains(&"usage.reasoning_tokens"), "{lossy:?}");
}

#[test]
fn responses_reasoning_signature_reaches_anthropic_client() {
    let s = Script {
        thinking: vec!["why"],
        signature: Some("ENC"),
        ..Script::default()
    };
    let (out, _) = run(
        OpenAiResponses,
        AnthropicMessages,
        &upstream(OpenAiResponses, &s),
    );
    assert!(out
        .iter()
        .any(|e| e.data.contains("\"signature_delta\"") && e.data.contains("ENC")));
    let (out, _) = run(
        AnthropicMessages,
        OpenAiResponses,
        &upstream(AnthropicMessages, &s),
    );
    assert!(out
        .iter()
        .any(|e| e.data.contains("\"encrypted_content\":\"ENC\"")));
}

#[test]
fn encrypted_only_reasoning_becomes_redacted_thinking() {
    let events = vec![
        SseEvent::new(Some("response.created"), json!({"type": "response.created", "response": {"id": "r"}}).to_string()),
        SseEvent::new(Some("response.output_item.added"), json!({"type": "response.output_item.added", "output_index": 0, "item": {"type": "reasoning", "id": "rs"}}).to_string()),
        SseEvent::new(Some("response.output_item.done"), json!({"type": "response.output_item.done", "output_index": 0, "item": {"type": "reasoning", "id": "rs", "summary": [], "encrypted_content": "E"}}).to_string()),
        SseEvent::new(Some("response.completed"), json!({"type": "response.completed", "response": {"status": "completed"}}).to_string()),
    ];
    let (out, _) = run(OpenAiResponses, AnthropicMessages, &events);
    check_anthropic(&out).unwrap_or_else(|e| panic!("{e}"));
    assert!(out.iter().any(|e| e.data.contains("redacted_thinking")));
}

#[test]
fn anthropic_server_tool_blocks_are_skipped_and_reported() {
    let events = vec![
        anth(
            json!({"type": "message_start", "message": {"id": "m", "usage": {"input_tokens": 3}}}),
        ),
        anth(
            json!({"type": "content_block_start", "index": 0, "content_block": {"type": "server_tool_use", "id": "s", "name": "web_search"}}),
        ),
        anth(
            json!({"type": "content_block_delta", "index": 0, "delta": {"type": "input_json_delta", "partial_json": "{}"}}),
        ),
        anth(json!({"type": "content_block_stop", "index": 0})),
        anth(
            json!({"type": "content_block_start", "index": 1, "content_block": {"type": "text", "text": "hi"}}),
        ),
        anth(json!({"type": "content_block_stop", "index": 1})),
        anth(
            json!({"type": "message_delta", "delta": {"stop_reason": "end_turn"}, "usage": {"output_tokens": 2}}),
        ),
        anth(json!({"type": "message_stop"})),
    ];
    let (out, lossy) = run(AnthropicMessages, OpenAiChat, &events);
    let got = check_chat(&out).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(got.text, "hi");
    assert!(got.tools.is_empty());
    assert!(lossy.contains(&"content_block"));
}

#[test]
fn passthrough_is_identity_and_terminates_on_failure() {
    for p in Protocol::ALL {
        let events = upstream(p, &Script::default());
        let (out, lossy) = run(p, p, &events);
        assert_eq!(out, events, "{p:?}");
        assert!(lossy.is_empty());
        let mut conv = stream_converter(p, p, ctx());
        let out = conv.fail("reset");
        assert_eq!(out.len(), 1);
        assert!(out[0].data.contains("reset"));
    }
}

#[test]
fn a_tool_call_without_a_name_is_dropped_with_its_arguments() {
    // Found by random_events_never_panic_and_always_terminate: a Responses
    // function_call item with no name reached Chat clients as a tool call
    // named "". Messages' tool_use without a name is the same case.
    let responses = [
        SseEvent::new(
            Some("response.output_item.added"),
            json!({"output_index": 0, "item": {"type": "function_call", "call_id": "c1"}})
                .to_string(),
        ),
        SseEvent::new(
            Some("response.function_call_arguments.delta"),
            json!({"output_index": 0, "delta": "{\"a\":1}"}).to_string(),
        ),
    ];
    let messages = [
        SseEvent::new(
            Some("content_block_start"),
            json!({"index": 0, "content_block": {"type": "tool_use", "id": "t1", "input": {}}})
                .to_string(),
        ),
        SseEvent::new(
            Some("content_block_delta"),
            json!({"index": 0, "delta": {"type": "input_json_delta", "partial_json": "{\"a\":1}"}})
                .to_string(),
        ),
        SseEvent::new(Some("content_block_stop"), json!({"index": 0}).to_string()),
    ];
    for (from, to) in PAIRS {
        let events: &[SseEvent] = match from {
            OpenAiResponses => &responses,
            AnthropicMessages => &messages,
            OpenAiChat => continue,
        };
        let (out, lossy) = run(from, to, events);
        let summary = check(to, &out).unwrap_or_else(|e| panic!("{from:?}->{to:?}: {e}\n{out:#?}"));
        assert!(
            summary.tools.is_empty(),
            "{from:?}->{to:?}: {:?}",
            summary.tools
        );
        assert!(
            lossy.contains(&"tool_call.name"),
            "{from:?}->{to:?}: the dropped call is not reported: {lossy:?}"
        );
    }
}

#[test]
fn context_from_request_reads_include_usage_and_estimates() {
    let body = json!({"model": "m", "stream_options": {"include_usage": true}, "messages": [{"role": "user", "content": "x".repeat(400)}]});
    let c = StreamContext::from_request(OpenAiChat, &body);
    assert!(c.include_usage);
    assert_eq!(c.model, "m");
    assert!(c.estimated_input_tokens >= 100);
    assert!(!StreamContext::from_request(OpenAiChat, &json!({})).include_usage);
    assert!(StreamContext::from_request(AnthropicMessages, &json!({})).include_usage);
}

// ---------------------------------------------------------------- proptests

fn arb_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        prop_oneof![
            Just("text".to_owned()),
            Just("tool_use".to_owned()),
            Just("message_start".to_owned()),
            Just("[DONE]".to_owned()),
            Just("function_call".to_owned()),
            Just("reasoning".to_owned()),
            "[a-z_.]{0,12}".prop_map(String::from),
        ]
        .prop_map(Value::from),
    ];
    leaf.prop_recursive(4, 32, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::vec(
                (
                    prop_oneof![
                        Just("type"),
                        Just("index"),
                        Just("delta"),
                        Just("content_block"),
                        Just("message"),
                        Just("choices"),
                        Just("tool_calls"),
                        Just("function"),
                        Just("arguments"),
                        Just("id"),
                        Just("name"),
                        Just("item"),
                        Just("output_index"),
                        Just("response"),
                        Just("usage"),
                        Just("error"),
                        Just("text"),
                        Just("partial_json"),
                        Just("finish_reason"),
                        Just("content"),
                    ],
                    inner
                ),
                0..6,
            )
            .prop_map(|kv| Value::Object(kv.into_iter().map(|(k, v)| (k.to_owned(), v)).collect())),
        ]
    })
}

fn arb_event() -> impl Strategy<Value = SseEvent> {
    let names = prop_oneof![
        Just(None),
        Just(Some("message_start")),
        Just(Some("content_block_start")),
        Just(Some("content_block_delta")),
        Just(Some("content_block_stop")),
        Just(Some("message_delta")),
        Just(Some("message_stop")),
        Just(Some("error")),
        Just(Some("response.created")),
        Just(Some("response.output_item.added")),
        Just(Some("response.output_text.delta")),
        Just(Some("response.completed")),
    ];
    let data = prop_oneof![
        arb_json().prop_map(|v| v.to_string()),
        Just("[DONE]".to_owned()),
        "[ -~]{0,20}".prop_map(String::from),
    ];
    (names, data).prop_map(|(n, d)| SseEvent::new(n, d))
}

/// Real upstream events mixed with random ones, so the state machines are
/// exercised deep into their states, not just at the parse step.
fn arb_stream() -> impl Strategy<Value = (Protocol, Protocol, Vec<SseEvent>)> {
    let pair = prop::sample::select(PAIRS.to_vec());
    let script = prop::sample::select(vec![
        Script::default(),
        Script {
            tools: vec![("c1", "f", vec!["{\"a\":", "1}"]), ("c2", "g", vec![])],
            ..Script::default()
        },
        Script {
            thinking: vec!["t"],
            signature: Some("s"),
            ..Script::default()
        },
    ]);
    (
        pair,
        script,
        prop::collection::vec((any::<prop::sample::Index>(), arb_event()), 0..12),
        any::<bool>(),
    )
        .prop_map(|((from, to), script, noise, drop_some)| {
            let mut events = upstream(from, &script);
            if drop_some && events.len() > 3 {
                events.remove(events.len() / 2);
            }
            for (at, ev) in noise {
                let i = at.index(events.len() + 1);
                events.insert(i, ev);
            }
            (from, to, events)
        })
}

proptest! {
    // No regression files: they would land in the main repository.
    #![proptest_config(ProptestConfig { failure_persistence: None, ..ProptestConfig::with_cases(400) })]

    #[test]
    fn random_events_never_panic_and_always_terminate(events in prop::collection::vec(arb_event(), 0..24)) {
        for (from, to) in PAIRS {
            let (out, _) = run(from, to, &events);
            prop_assert!(check(to, &out).is_ok(), "{from:?}->{to:?}: {:?}\n{out:#?}", check(to, &out).err());
        }
    }

    #[test]
    fn mutated_real_streams_stay_well_formed((from, to, events) in arb_stream()) {
        let (out, _) = run(from, to, &events);
        prop_assert!(check(to, &out).is_ok(), "{from:?}->{to:?}: {:?}\n{events:#?}\n{out:#?}", check(to, &out).err());
    }
}
