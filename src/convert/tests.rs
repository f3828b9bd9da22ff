//! Request, response and error conversion tests for all six pairs, plus
//! property tests that throw arbitrary JSON at every converter.

use super::*;
use proptest::prelude::*;
use serde_json::json;
use Protocol::*;

const PNG: &str = "iVBORw0KGgo=";

fn anthropic_request() -> Value {
    json!({
        "model": "claude-x", "max_tokens": 1000, "system": "You are helpful.",
        "temperature": 0.5, "stop_sequences": ["END"], "metadata": {"user_id": "u-1"},
        "stream": true,
        "tools": [{"name": "get_weather", "description": "Weather",
                   "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}}}],
        "tool_choice": {"type": "any"},
        "messages": [
            {"role": "user", "content": [
                {"type": "text", "text": "Weather in Paris and Rome?"},
                {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": PNG}},
                {"type": "image", "source": {"type": "url", "url": "https://example.com/a.png"}}]},
            {"role": "assistant", "content": [
                {"type": "text", "text": "Checking."},
                {"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {"city": "Paris"}},
                {"type": "tool_use", "id": "toolu_2", "name": "get_weather", "input": {"city": "Rome"}}]},
            {"role": "user", "content": [
                {"type": "tool_result", "tool_use_id": "toolu_1", "content": "Sunny"},
                {"type": "tool_result", "tool_use_id": "toolu_2", "is_error": true,
                 "content": [{"type": "text", "text": "City not found"}]}]}
        ]
    })
}

fn chat_request() -> Value {
    json!({
        "model": "gpt-x", "max_tokens": 1000, "temperature": 0.5, "stop": "END", "user": "u-1",
        "stream": true,
        "tools": [{"type": "function", "function": {"name": "get_weather", "description": "Weather",
                   "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}}],
        "tool_choice": "required",
        "messages": [
            {"role": "system", "content": "You are helpful."},
            {"role": "user", "content": [
                {"type": "text", "text": "Weather in Paris and Rome?"},
                {"type": "image_url", "image_url": {"url": format!("data:image/png;base64,{PNG}")}},
                {"type": "image_url", "image_url": {"url": "https://example.com/a.png"}}]},
            {"role": "assistant", "content": "Checking.", "tool_calls": [
                {"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": "{\"city\":\"Paris\"}"}},
                {"id": "call_2", "type": "function", "function": {"name": "get_weather", "arguments": "{\"city\":\"Rome\"}"}}]},
            {"role": "tool", "tool_call_id": "call_1", "content": "Sunny"},
            {"role": "tool", "tool_call_id": "call_2", "content": "City not found"}
        ]
    })
}

fn responses_request() -> Value {
    json!({
        "model": "gpt-x", "max_output_tokens": 1000, "temperature": 0.5, "user": "u-1",
        "instructions": "You are helpful.", "stream": true,
        "tools": [{"type": "function", "name": "get_weather", "description": "Weather",
                   "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}],
        "tool_choice": "required",
        "input": [
            {"role": "user", "content": [
                {"type": "input_text", "text": "Weather in Paris and Rome?"},
                {"type": "input_image", "image_url": format!("data:image/png;base64,{PNG}")},
                {"type": "input_image", "image_url": "https://example.com/a.png"}]},
            {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "Checking."}]},
            {"type": "function_call", "call_id": "call_1", "name": "get_weather", "arguments": "{\"city\":\"Paris\"}"},
            {"type": "function_call", "call_id": "call_2", "name": "get_weather", "arguments": "{\"city\":\"Rome\"}"},
            {"type": "function_call_output", "call_id": "call_1", "output": "Sunny"},
            {"type": "function_call_output", "call_id": "call_2", "output": "City not found"}
        ]
    })
}

fn convert(from: Protocol, to: Protocol, body: &Value) -> Converted {
    convert_request(from, to, body.clone()).unwrap_or_else(|e| panic!("{from:?}->{to:?}: {e}"))
}

// ------------------------------------------------------------ requests

#[test]
fn anthropic_to_chat_request() {
    let out = convert(AnthropicMessages, OpenAiChat, &anthropic_request());
    let b = &out.body;
    let m = &b["messages"];
    assert_eq!(
        m[0],
        json!({"role": "system", "content": "You are helpful."})
    );
    assert_eq!(m[1]["content"][0]["text"], "Weather in Paris and Rome?");
    assert_eq!(
        m[1]["content"][1]["image_url"]["url"],
        format!("data:image/png;base64,{PNG}")
    );
    assert_eq!(
        m[1]["content"][2]["image_url"]["url"],
        "https://example.com/a.png"
    );
    assert_eq!(m[2]["content"], "Checking.");
    assert_eq!(m[2]["tool_calls"][1]["id"], "toolu_2");
    assert_eq!(
        m[2]["tool_calls"][1]["function"]["arguments"],
        "{\"city\":\"Rome\"}"
    );
    assert_eq!(
        m[3],
        json!({"role": "tool", "tool_call_id": "toolu_1", "content": "Sunny"})
    );
    assert_eq!(m[4]["content"], "[tool error] City not found");
    assert_eq!(b["tool_choice"], "required");
    assert_eq!(
        b["tools"][0]["function"]["parameters"]["properties"]["city"]["type"],
        "string"
    );
    assert_eq!(b["stop"], json!(["END"]));
    assert_eq!(b["user"], "u-1");
    assert_eq!(b["max_completion_tokens"], 1000);
    assert_eq!(b["temperature"], 0.5);
    assert_eq!(b["stream_options"]["include_usage"], true);
    assert!(out.lossy.is_empty(), "{:?}", out.lossy);
}

#[test]
fn anthropic_to_responses_request() {
    let out = convert(AnthropicMessages, OpenAiResponses, &anthropic_request());
    let b = &out.body;
    let input = &b["input"];
    assert_eq!(b["instructions"], "You are helpful.");
    assert_eq!(input[0]["role"], "user");
    assert_eq!(input[0]["content"][1]["type"], "input_image");
    assert_eq!(
        input[0]["content"][1]["image_url"],
        format!("data:image/png;base64,{PNG}")
    );
    assert_eq!(
        input[1],
        json!({"role": "assistant", "content": "Checking."})
    );
    assert_eq!(input[2]["type"], "function_call");
    assert_eq!(input[3]["call_id"], "toolu_2");
    assert_eq!(
        input[4],
        json!({"type": "function_call_output", "call_id": "toolu_1", "output": "Sunny"})
    );
    assert_eq!(input[5]["output"], "[tool error] City not found");
    assert_eq!(b["tools"][0]["name"], "get_weather");
    assert_eq!(b["tool_choice"], "required");
    assert_eq!(b["max_output_tokens"], 1000);
    assert_eq!(b["user"], "u-1");
    assert_eq!(out.lossy, vec!["stop_sequences"]);
}

#[test]
fn chat_to_anthropic_request() {
    let out = convert(OpenAiChat, AnthropicMessages, &chat_request());
    let b = &out.body;
    assert_eq!(b["system"], "You are helpful.");
    assert_eq!(b["max_tokens"], 1000);
    assert_eq!(b["stop_sequences"], json!(["END"]));
    assert_eq!(b["metadata"], json!({"user_id": "u-1"}));
    assert_eq!(b["tool_choice"], json!({"type": "any"}));
    assert_eq!(b["tools"][0]["input_schema"]["type"], "object");
    let m = &b["messages"];
    assert_eq!(m.as_array().map(Vec::len), Some(3));
    assert_eq!(
        m[0]["content"][1]["source"],
        json!({"type": "base64", "media_type": "image/png", "data": PNG})
    );
    assert_eq!(
        m[0]["content"][2]["source"],
        json!({"type": "url", "url": "https://example.com/a.png"})
    );
    assert_eq!(
        m[1]["content"][1],
        json!({"type": "tool_use", "id": "call_1", "name": "get_weather", "input": {"city": "Paris"}})
    );
    assert_eq!(
        m[2]["content"][1],
        json!({"type": "tool_result", "tool_use_id": "call_2", "content": [{"type": "text", "text": "City not found"}]})
    );
    assert!(out.lossy.is_empty(), "{:?}", out.lossy);
}

#[test]
fn chat_without_max_tokens_gets_anthropic_default() {
    let out = convert(
        OpenAiChat,
        AnthropicMessages,
        &json!({"messages": [{"role": "user", "content": "hi"}]}),
    );
    assert_eq!(out.body["max_tokens"], DEFAULT_MAX_TOKENS);
    assert_eq!(
        out.body["messages"],
        json!([{"role": "user", "content": [{"type": "text", "text": "hi"}]}])
    );
}

#[test]
fn chat_to_responses_request() {
    let out = convert(OpenAiChat, OpenAiResponses, &chat_request());
    let b = &out.body;
    assert_eq!(b["instructions"], "You are helpful.");
    assert_eq!(
        b["input"][0]["content"][2]["image_url"],
        "https://example.com/a.png"
    );
    assert_eq!(b["input"][2]["call_id"], "call_1");
    assert_eq!(b["input"][5]["output"], "City not found");
    assert_eq!(b["tools"][0]["parameters"]["type"], "object");
    assert_eq!(out.lossy, vec!["stop_sequences"]);
}

#[test]
fn responses_to_chat_request() {
    let out = convert(OpenAiResponses, OpenAiChat, &responses_request());
    let m = &out.body["messages"];
    assert_eq!(m[0]["role"], "system");
    assert_eq!(
        m[1]["content"][1]["image_url"]["url"],
        format!("data:image/png;base64,{PNG}")
    );
    assert_eq!(m[2]["content"], "Checking.");
    assert_eq!(m[2]["tool_calls"].as_array().map(Vec::len), Some(2));
    assert_eq!(
        m[4],
        json!({"role": "tool", "tool_call_id": "call_2", "content": "City not found"})
    );
    assert_eq!(out.body["max_completion_tokens"], 1000);
    assert!(out.lossy.is_empty(), "{:?}", out.lossy);
}

#[test]
fn responses_to_anthropic_request() {
    let out = convert(OpenAiResponses, AnthropicMessages, &responses_request());
    let b = &out.body;
    assert_eq!(b["system"], "You are helpful.");
    let m = &b["messages"];
    assert_eq!(
        m[1]["content"][0],
        json!({"type": "text", "text": "Checking."})
    );
    assert_eq!(m[1]["content"][2]["input"], json!({"city": "Rome"}));
    assert_eq!(m[2]["content"][0]["tool_use_id"], "call_1");
    assert_eq!(b["tool_choice"], json!({"type": "any"}));
    assert!(out.lossy.is_empty(), "{:?}", out.lossy);
}

#[test]
fn string_input_and_named_tool_choice() {
    let body = json!({"input": "hi", "tools": [{"type": "function", "name": "f"}], "tool_choice": {"type": "function", "name": "f"}, "parallel_tool_calls": false});
    let a = convert(OpenAiResponses, AnthropicMessages, &body).body;
    assert_eq!(
        a["tool_choice"],
        json!({"type": "tool", "name": "f", "disable_parallel_tool_use": true})
    );
    assert_eq!(a["messages"][0]["content"][0]["text"], "hi");
    let c = convert(OpenAiResponses, OpenAiChat, &body).body;
    assert_eq!(
        c["tool_choice"],
        json!({"type": "function", "function": {"name": "f"}})
    );
    assert_eq!(c["parallel_tool_calls"], false);
}

#[test]
fn refinements_max_completion_tokens_wins_and_tool_choice_needs_tools() {
    let body = json!({"max_tokens": 5, "max_completion_tokens": 7, "tool_choice": "required",
                      "messages": [{"role": "system", "content": ""}, {"role": "user", "content": "x"}]});
    let out = convert(OpenAiChat, AnthropicMessages, &body).body;
    assert_eq!(out["max_tokens"], 7);
    assert!(out.get("tool_choice").is_none());
    assert!(
        out.get("system").is_none(),
        "empty system prompts are dropped"
    );
    let body = json!({"input": "x", "tool_choice": "required"});
    assert!(convert(OpenAiResponses, OpenAiChat, &body)
        .body
        .get("tool_choice")
        .is_none());
    let body =
        json!({"messages": [{"role": "user", "content": "x"}], "tool_choice": {"type": "any"}});
    assert!(convert(AnthropicMessages, OpenAiResponses, &body)
        .body
        .get("tool_choice")
        .is_none());
}

#[test]
fn tool_choice_none_and_auto_all_pairs() {
    for (choice_a, choice_o) in [
        (json!({"type": "none"}), json!("none")),
        (json!({"type": "auto"}), json!("auto")),
    ] {
        let body = json!({"messages": [{"role": "user", "content": "x"}], "tool_choice": choice_a.clone(), "max_tokens": 5,
                          "tools": [{"name": "f", "input_schema": {"type": "object"}}]});
        assert_eq!(
            convert(AnthropicMessages, OpenAiChat, &body).body["tool_choice"],
            choice_o
        );
        assert_eq!(
            convert(AnthropicMessages, OpenAiResponses, &body).body["tool_choice"],
            choice_o
        );
        let chat = convert(AnthropicMessages, OpenAiChat, &body).body;
        assert_eq!(
            convert(OpenAiChat, AnthropicMessages, &chat).body["tool_choice"],
            choice_a
        );
    }
}

#[test]
fn tool_result_round_trip_keeps_content_and_ids() {
    for mid in [OpenAiChat, OpenAiResponses] {
        let there = convert(AnthropicMessages, mid, &anthropic_request()).body;
        let back = convert(mid, AnthropicMessages, &there).body;
        let original = anthropic_request();
        assert_eq!(
            back["messages"][1], original["messages"][1],
            "assistant turn via {mid:?}"
        );
        assert_eq!(back["messages"][2]["content"][0]["tool_use_id"], "toolu_1");
        // The error flag has no OpenAI equivalent: it survives as a text prefix.
        assert_eq!(
            back["messages"][2]["content"][1]["content"][0]["text"],
            "[tool error] City not found"
        );
        assert_eq!(
            back["messages"][0], original["messages"][0],
            "images via {mid:?}"
        );
    }
}

#[test]
fn thinking_request_parameters_map_both_ways() {
    let body = json!({"max_tokens": 20000, "thinking": {"type": "enabled", "budget_tokens": 10000},
                      "messages": [{"role": "user", "content": "x"}]});
    assert_eq!(
        convert(AnthropicMessages, OpenAiChat, &body).body["reasoning_effort"],
        "medium"
    );
    let r = convert(AnthropicMessages, OpenAiResponses, &body).body;
    assert_eq!(
        r["reasoning"],
        json!({"effort": "medium", "summary": "auto"})
    );
    assert_eq!(r["include"], json!(["reasoning.encrypted_content"]));
    let chat = json!({"reasoning_effort": "high", "max_completion_tokens": 30000, "messages": [{"role": "user", "content": "x"}]});
    assert_eq!(
        convert(OpenAiChat, AnthropicMessages, &chat).body["thinking"],
        json!({"type": "enabled", "budget_tokens": 24576})
    );
    let minimal = json!({"reasoning": {"effort": "minimal"}, "input": "x"});
    assert!(convert(OpenAiResponses, AnthropicMessages, &minimal)
        .body
        .get("thinking")
        .is_none());
}

#[test]
fn thinking_history_carries_signatures_between_anthropic_and_responses() {
    let body = json!({"max_tokens": 100, "messages": [
        {"role": "user", "content": "q"},
        {"role": "assistant", "content": [
            {"type": "thinking", "thinking": "reason", "signature": "SIG"},
            {"type": "redacted_thinking", "data": "RED"},
            {"type": "text", "text": "a"}]},
        {"role": "user", "content": "next"}]});
    let r = convert(AnthropicMessages, OpenAiResponses, &body);
    let input = &r.body["input"];
    assert_eq!(input[1]["type"], "reasoning");
    assert_eq!(input[1]["summary"][0]["text"], "reason");
    assert_eq!(input[1]["encrypted_content"], "SIG");
    assert_eq!(input[2]["encrypted_content"], "RED");
    let back = convert(OpenAiResponses, AnthropicMessages, &r.body).body;
    assert_eq!(back["messages"][1], body["messages"][1]);
    let chat = convert(AnthropicMessages, OpenAiChat, &body);
    assert_eq!(chat.lossy, vec!["thinking"]);
    assert_eq!(
        chat.body["messages"][1],
        json!({"role": "assistant", "content": "a"})
    );
}

#[test]
fn unknown_and_unsupported_fields_are_reported() {
    let body = json!({"messages": [{"role": "user", "content": "x"}], "n": 2, "seed": 1, "logprobs": true,
                      "frequency_penalty": 0.1, "whatever": 1, "response_format": {"type": "json_object"}});
    let out = convert(OpenAiChat, AnthropicMessages, &body);
    for name in [
        "n",
        "seed",
        "logprobs",
        "frequency_penalty",
        "unknown_field",
        "response_format",
    ] {
        assert!(out.lossy.contains(&name), "{name} not in {:?}", out.lossy);
    }
    let out = convert(OpenAiChat, OpenAiResponses, &body);
    assert_eq!(out.body["text"], json!({"format": {"type": "json_object"}}));
    assert!(!out.lossy.contains(&"response_format"));
}

#[test]
fn request_errors_are_typed() {
    assert!(matches!(
        convert_request(OpenAiChat, AnthropicMessages, json!([])),
        Err(ConvertError::NotAnObject)
    ));
    assert!(matches!(
        convert_request(OpenAiChat, AnthropicMessages, json!({"model": "x"})),
        Err(ConvertError::MissingField("messages"))
    ));
    assert!(matches!(
        convert_request(
            OpenAiResponses,
            OpenAiChat,
            json!({"input": "x", "previous_response_id": "r"})
        ),
        Err(ConvertError::Unsupported("previous_response_id"))
    ));
    let err = convert_request(OpenAiChat, OpenAiResponses, json!({"messages": 3}));
    assert!(matches!(
        err,
        Err(ConvertError::InvalidField {
            field: "messages",
            ..
        })
    ));
}

#[test]
fn identity_when_protocols_match() {
    for p in Protocol::ALL {
        let body = json!({"anything": [1, 2]});
        assert_eq!(
            convert(p, p, &body),
            Converted {
                body: body.clone(),
                lossy: vec![]
            }
        );
        assert_eq!(
            convert_response(p, p, body.clone()).ok().map(|c| c.body),
            Some(body)
        );
    }
}

#[test]
fn tool_strictness_is_carried_and_responses_is_told_explicitly() {
    // Omitted, Responses makes a schema strict: non-strict sources say false.
    for from in [AnthropicMessages, OpenAiChat] {
        let body = if from == AnthropicMessages {
            anthropic_request()
        } else {
            chat_request()
        };
        let out = convert(from, OpenAiResponses, &body).body;
        assert_eq!(out["tools"][0]["strict"], false, "{from:?}");
    }
    let strict = json!({"model": "m", "messages": [{"role": "user", "content": "q"}],
        "tools": [{"type": "function", "function": {"name": "f", "strict": true,
                   "parameters": {"type": "object", "properties": {}, "additionalProperties": false}}}]});
    let to_responses = convert(OpenAiChat, OpenAiResponses, &strict).body;
    assert_eq!(to_responses["tools"][0]["strict"], true);
    let to_anthropic = convert(OpenAiChat, AnthropicMessages, &strict).body;
    assert_eq!(to_anthropic["tools"][0]["strict"], true);
    let back = convert(AnthropicMessages, OpenAiChat, &to_anthropic).body;
    assert_eq!(back["tools"][0]["function"]["strict"], true);
    // Non-strict tools do not grow a `strict` field where the default is non-strict.
    let plain = convert(OpenAiChat, AnthropicMessages, &chat_request()).body;
    assert!(plain["tools"][0].get("strict").is_none(), "{plain}");
    let plain = convert(AnthropicMessages, OpenAiChat, &anthropic_request()).body;
    assert!(
        plain["tools"][0]["function"].get("strict").is_none(),
        "{plain}"
    );
}

#[test]
fn requests_converted_to_responses_are_not_stored() {
    for (from, body) in [
        (AnthropicMessages, anthropic_request()),
        (OpenAiChat, chat_request()),
    ] {
        let out = convert(from, OpenAiResponses, &body).body;
        assert_eq!(out["store"], false, "{from:?}");
    }
}

// ----------------------------------------------------------- responses

fn anthropic_response() -> Value {
    json!({
        "id": "msg_1", "type": "message", "role": "assistant", "model": "claude-x",
        "content": [
            {"type": "thinking", "thinking": "hmm", "signature": "SIG"},
            {"type": "text", "text": "Let me check."},
            {"type": "tool_use", "id": "toolu_1", "name": "f", "input": {"a": 1}},
            {"type": "tool_use", "id": "toolu_2", "name": "g", "input": {}}],
        "stop_reason": "tool_use", "stop_sequence": null,
        "usage": {"input_tokens": 10, "output_tokens": 20, "cache_read_input_tokens": 100, "cache_creation_input_tokens": 5}
    })
}

fn chat_response() -> Value {
    json!({
        "id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": "gpt-x",
        "choices": [{"index": 0, "finish_reason": "tool_calls", "message": {
            "role": "assistant", "content": "Let me check.", "reasoning_content": "hmm",
            "tool_calls": [
                {"id": "call_1", "type": "function", "function": {"name": "f", "arguments": "{\"a\":1}"}},
                {"id": "call_2", "type": "function", "function": {"name": "g", "arguments": ""}}]}}],
        "usage": {"prompt_tokens": 115, "completion_tokens": 20, "total_tokens": 135,
                  "prompt_tokens_details": {"cached_tokens": 100}, "completion_tokens_details": {"reasoning_tokens": 8}}
    })
}

fn responses_response() -> Value {
    json!({
        "id": "resp_1", "object": "response", "status": "completed", "model": "gpt-x",
        "output": [
            {"type": "reasoning", "id": "rs_1", "summary": [{"type": "summary_text", "text": "hmm"}], "encrypted_content": "SIG"},
            {"type": "message", "id": "msg_1", "role": "assistant", "content": [{"type": "output_text", "text": "Let me check.", "annotations": []}]},
            {"type": "function_call", "id": "fc_1", "call_id": "call_1", "name": "f", "arguments": "{\"a\":1}"},
            {"type": "function_call", "id": "fc_2", "call_id": "call_2", "name": "g", "arguments": "{}"}],
        "usage": {"input_tokens": 115, "output_tokens": 20, "total_tokens": 135,
                  "input_tokens_details": {"cached_tokens": 100}, "output_tokens_details": {"reasoning_tokens": 8}}
    })
}

fn response(from: Protocol, to: Protocol, body: &Value) -> Converted {
    convert_response(from, to, body.clone()).unwrap_or_else(|e| panic!("{from:?}->{to:?}: {e}"))
}

#[test]
fn anthropic_to_chat_response() {
    let out = response(AnthropicMessages, OpenAiChat, &anthropic_response());
    let c = &out.body["choices"][0];
    assert_eq!(c["finish_reason"], "tool_calls");
    assert_eq!(c["message"]["content"], "Let me check.");
    assert_eq!(c["message"]["reasoning_content"], "hmm");
    assert_eq!(
        c["message"]["tool_calls"][0]["function"]["arguments"],
        "{\"a\":1}"
    );
    assert_eq!(c["message"]["tool_calls"][1]["id"], "toolu_2");
    let u = &out.body["usage"];
    assert_eq!(u["prompt_tokens"], 115);
    assert_eq!(u["prompt_tokens_details"]["cached_tokens"], 100);
    assert_eq!(u["total_tokens"], 135);
    assert_eq!(out.body["object"], "chat.completion");
    assert_eq!(out.lossy, vec!["thinking.signature"]);
}

#[test]
fn anthropic_to_responses_response() {
    let out = response(AnthropicMessages, OpenAiResponses, &anthropic_response());
    let o = &out.body["output"];
    assert_eq!(o[0]["type"], "reasoning");
    assert_eq!(o[0]["encrypted_content"], "SIG");
    assert_eq!(o[1]["content"][0]["text"], "Let me check.");
    assert_eq!(o[2]["call_id"], "toolu_1");
    assert_eq!(o[3]["arguments"], "{}");
    assert_eq!(out.body["status"], "completed");
    assert_eq!(out.body["usage"]["input_tokens"], 115);
    assert!(out.lossy.is_empty());
}

#[test]
fn chat_to_anthropic_response() {
    let out = response(OpenAiChat, AnthropicMessages, &chat_response());
    let b = &out.body;
    assert_eq!(b["type"], "message");
    assert_eq!(
        b["content"][0],
        json!({"type": "thinking", "thinking": "hmm", "signature": ""})
    );
    assert_eq!(
        b["content"][1],
        json!({"type": "text", "text": "Let me check."})
    );
    assert_eq!(
        b["content"][2],
        json!({"type": "tool_use", "id": "call_1", "name": "f", "input": {"a": 1}})
    );
    assert_eq!(b["content"][3]["input"], json!({}));
    assert_eq!(b["stop_reason"], "tool_use");
    assert_eq!(
        b["usage"],
        json!({"input_tokens": 15, "output_tokens": 20, "cache_read_input_tokens": 100, "cache_creation_input_tokens": 0})
    );
    assert_eq!(out.lossy, vec!["usage.reasoning_tokens"]);
}

#[test]
fn chat_to_responses_response() {
    let out = response(OpenAiChat, OpenAiResponses, &chat_response());
    let b = &out.body;
    assert_eq!(b["output"][0]["summary"][0]["text"], "hmm");
    assert_eq!(b["output"][2]["name"], "f");
    assert_eq!(b["usage"]["output_tokens_details"]["reasoning_tokens"], 8);
    assert_eq!(b["usage"]["input_tokens_details"]["cached_tokens"], 100);
}

#[test]
fn responses_to_anthropic_and_chat_response() {
    let a = response(OpenAiResponses, AnthropicMessages, &responses_response()).body;
    assert_eq!(
        a["content"][0],
        json!({"type": "thinking", "thinking": "hmm", "signature": "SIG"})
    );
    assert_eq!(a["content"][3]["id"], "call_2");
    assert_eq!(a["stop_reason"], "tool_use");
    assert_eq!(a["usage"]["input_tokens"], 15);
    let c = response(OpenAiResponses, OpenAiChat, &responses_response()).body;
    assert_eq!(c["choices"][0]["finish_reason"], "tool_calls");
    assert_eq!(
        c["usage"]["completion_tokens_details"]["reasoning_tokens"],
        8
    );
}

#[test]
fn stop_reasons_map_across_all_pairs() {
    let cases = [
        ("end_turn", "stop", ("completed", None)),
        (
            "max_tokens",
            "length",
            ("incomplete", Some("max_output_tokens")),
        ),
        ("stop_sequence", "stop", ("completed", None)),
        (
            "refusal",
            "content_filter",
            ("incomplete", Some("content_filter")),
        ),
    ];
    for (anth, chat, (status, reason)) in cases {
        let body =
            json!({"content": [{"type": "text", "text": "x"}], "stop_reason": anth, "usage": {}});
        assert_eq!(
            response(AnthropicMessages, OpenAiChat, &body).body["choices"][0]["finish_reason"],
            chat
        );
        let r = response(AnthropicMessages, OpenAiResponses, &body).body;
        assert_eq!(r["status"], status, "{anth}");
        assert_eq!(r["incomplete_details"]["reason"].as_str(), reason);
    }
    let chat = json!({"choices": [{"message": {"content": "x"}, "finish_reason": "length"}]});
    assert_eq!(
        response(OpenAiChat, AnthropicMessages, &chat).body["stop_reason"],
        "max_tokens"
    );
    let resp = json!({"status": "incomplete", "incomplete_details": {"reason": "max_output_tokens"}, "output": []});
    assert_eq!(
        response(OpenAiResponses, OpenAiChat, &resp).body["choices"][0]["finish_reason"],
        "length"
    );
    assert_eq!(
        response(OpenAiResponses, AnthropicMessages, &resp).body["stop_reason"],
        "max_tokens"
    );
}

#[test]
fn malformed_tool_arguments_in_response_are_reported() {
    let chat = json!({"choices": [{"message": {"tool_calls": [{"id": "c", "function": {"name": "f", "arguments": "{nope"}}]}, "finish_reason": "tool_calls"}]});
    let out = response(OpenAiChat, AnthropicMessages, &chat);
    assert_eq!(out.body["content"][0]["input"], json!({}));
    assert_eq!(out.lossy, vec!["tool_call.arguments"]);
}

#[test]
fn response_errors_are_typed() {
    assert!(matches!(
        convert_response(OpenAiChat, AnthropicMessages, json!("x")),
        Err(ConvertError::NotAnObject)
    ));
    assert!(matches!(
        convert_response(AnthropicMessages, OpenAiChat, json!({"id": "x"})),
        Err(ConvertError::MissingField("content"))
    ));
    assert!(matches!(
        convert_response(OpenAiResponses, OpenAiChat, json!({"id": "x"})),
        Err(ConvertError::MissingField("output"))
    ));
}

#[test]
fn errors_convert_for_all_pairs() {
    let bodies = [
        (
            AnthropicMessages,
            json!({"type": "error", "error": {"type": "rate_limit_error", "message": "slow down"}}),
        ),
        (
            OpenAiChat,
            json!({"error": {"message": "slow down", "type": "requests", "code": "rate_limit_exceeded", "param": null}}),
        ),
        (
            OpenAiResponses,
            json!({"error": {"message": "slow down", "type": "requests", "code": "rate_limit_exceeded"}}),
        ),
    ];
    for (from, body) in &bodies {
        for to in Protocol::ALL {
            let v = convert_error(*from, to, 429, body.to_string().as_bytes());
            if to == AnthropicMessages {
                assert_eq!(v["type"], "error");
                assert_eq!(v["error"]["type"], "rate_limit_error");
            } else if *from != to {
                assert!(v["error"]["type"].is_string());
                assert!(v["error"].get("code").is_some() && v["error"].get("param").is_some());
            }
            assert_eq!(v["error"]["message"], "slow down", "{from:?}->{to:?}");
        }
    }
}

#[test]
fn estimate_counts_images_as_images_not_bytes() {
    let small =
        estimate_input_tokens(&json!({"messages": [{"role": "user", "content": "hello world"}]}));
    assert!((1..20).contains(&small));
    let data = "A".repeat(400_000);
    let with_image = estimate_input_tokens(
        &json!({"messages": [{"content": [{"type": "image", "source": {"type": "base64", "data": data}}]}]}),
    );
    assert!(with_image < 5000, "{with_image}");
    assert_eq!(estimate_input_tokens(&json!(null)), 1);
}

// ----------------------------------------------------------- proptests

fn arb_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        prop_oneof![
            Just("user"),
            Just("assistant"),
            Just("system"),
            Just("tool"),
            Just("developer"),
            Just("text"),
            Just("image"),
            Just("tool_use"),
            Just("tool_result"),
            Just("thinking"),
            Just("function_call"),
            Just("function_call_output"),
            Just("reasoning"),
            Just("message"),
            Just("base64"),
            Just("url"),
            Just("image_url"),
            Just("input_image"),
            Just("data:image/png;base64,AA"),
            Just("data:"),
            Just("{\"a\":1}"),
            Just("enabled"),
            Just("any"),
            Just("auto"),
            Just("function"),
            Just("incomplete"),
            Just(""),
        ]
        .prop_map(Value::from),
        "[a-z_]{0,8}".prop_map(Value::from),
    ];
    leaf.prop_recursive(5, 64, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
            prop::collection::vec(
                (
                    prop_oneof![
                        Just("messages"),
                        Just("content"),
                        Just("role"),
                        Just("type"),
                        Just("text"),
                        Just("source"),
                        Just("input"),
                        Just("tools"),
                        Just("tool_choice"),
                        Just("tool_calls"),
                        Just("function"),
                        Just("arguments"),
                        Just("name"),
                        Just("id"),
                        Just("call_id"),
                        Just("output"),
                        Just("image_url"),
                        Just("url"),
                        Just("data"),
                        Just("media_type"),
                        Just("system"),
                        Just("instructions"),
                        Just("choices"),
                        Just("message"),
                        Just("usage"),
                        Just("max_tokens"),
                        Just("thinking"),
                        Just("reasoning"),
                        Just("summary"),
                        Just("status"),
                        Just("is_error"),
                        Just("tool_use_id"),
                        Just("stop"),
                        Just("metadata"),
                        Just("error"),
                        Just("temperature"),
                        Just("input_schema"),
                        Just("parameters"),
                        Just("incomplete_details"),
                        Just("budget_tokens"),
                        Just("stream"),
                    ],
                    inner
                ),
                0..8,
            )
            .prop_map(|kv| Value::Object(kv.into_iter().map(|(k, v)| (k.to_owned(), v)).collect())),
        ]
    })
}

proptest! {
    // No regression files: they would land in the main repository.
    #![proptest_config(ProptestConfig { failure_persistence: None, ..ProptestConfig::with_cases(300) })]

    #[test]
    fn arbitrary_json_never_panics(v in arb_json()) {
        for from in Protocol::ALL {
            for to in Protocol::ALL {
                if let Ok(c) = convert_request(from, to, v.clone()) {
                    prop_assert!(c.body.is_object());
                }
                if let Ok(c) = convert_response(from, to, v.clone()) {
                    prop_assert!(c.body.is_object());
                }
                let e = convert_error(from, to, 500, v.to_string().as_bytes());
                prop_assert!(e["error"]["message"].is_string());
            }
        }
        let _ = estimate_input_tokens(&v);
    }

    #[test]
    fn arbitrary_bytes_make_valid_error_bodies(bytes in prop::collection::vec(any::<u8>(), 0..200), status in 100u16..600) {
        for from in Protocol::ALL {
            for to in Protocol::ALL {
                let e = convert_error(from, to, status, &bytes);
                prop_assert!(e["error"]["message"].is_string());
                prop_assert!(e["error"]["type"].is_string());
            }
        }
    }

    #[test]
    fn converted_requests_decode_again(v in arb_json()) {
        // Whatever a conversion emits must itself be acceptable input for the target.
        for from in Protocol::ALL {
            for to in Protocol::ALL {
                if let Ok(c) = convert_request(from, to, v.clone()) {
                    let back = convert_request(to, from, c.body.clone());
                    prop_assert!(back.is_ok(), "{from:?}->{to:?}->back failed: {:?} for {}", back.err(), c.body);
                }
            }
        }
    }
}
