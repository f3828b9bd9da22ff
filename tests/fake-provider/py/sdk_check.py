#!/usr/bin/env python3
"""Checks fake-provider's wire formats with the official Python SDKs.

Usage: sdk_check.py BASE_URL        (e.g. http://127.0.0.1:8080)

For every scenario it queues a behaviour through the fake provider's control
API (POST BASE_URL/_fake/push), calls the `anthropic` or `openai` SDK the way
an application would (non-streaming, streaming helpers, raw streams, tool
calls, errors) and checks what the SDK parsed. Exits 0 when every check
passes, 1 otherwise, printing one line per check.
"""

import json
import sys
import traceback
import urllib.error
import urllib.request

import anthropic
import openai

if len(sys.argv) != 2:
    sys.exit(__doc__)

BASE = sys.argv[1].rstrip("/")
ANTHROPIC_MODEL = "claude-fake-sonnet"
OPENAI_MODEL = "gpt-fake-4o"
TEXT = "The quick brown fox jumps over the lazy dog."
CALLS = [
    {"name": "get_weather", "arguments": {"city": "Paris", "unit": "celsius"}},
    {"name": "get_time", "arguments": {"timezone": "Europe/Paris", "nested": {"a": [1, 2, 3]}}},
]
THINKING = {"thinking": "Let me think about foxes and dogs.", "signature": "c2lnbmF0dXJl", "text": TEXT}

ant = anthropic.Anthropic(base_url=BASE, api_key="sk-ant-fake", max_retries=0, timeout=10)
oai = openai.OpenAI(base_url=BASE + "/v1", api_key="sk-fake", max_retries=0, timeout=10)

CHECKS = []


def check(fn):
    CHECKS.append(fn)
    return fn


def push(spec):
    req = urllib.request.Request(
        BASE + "/_fake/push",
        data=json.dumps(spec).encode(),
        headers={"content-type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(req, timeout=10) as resp:
        assert resp.status == 200, resp.read()


def expect(cond, what):
    if not cond:
        raise AssertionError(what)


def expect_eq(got, want, what):
    if got != want:
        raise AssertionError(f"{what}: got {got!r}, want {want!r}")


def expect_raises(exc_type, fn, what):
    try:
        fn()
    except exc_type as e:
        return e
    except Exception as e:  # noqa: BLE001 - report the wrong class
        raise AssertionError(f"{what}: raised {type(e).__name__} ({e}), want {exc_type.__name__}") from e
    raise AssertionError(f"{what}: nothing raised, want {exc_type.__name__}")


MESSAGES = [{"role": "user", "content": "Hello"}]
ANT_TOOLS = [
    {"name": c["name"], "description": "d", "input_schema": {"type": "object", "properties": {}}} for c in CALLS
]
OAI_TOOLS = [
    {"type": "function", "function": {"name": c["name"], "parameters": {"type": "object", "properties": {}}}}
    for c in CALLS
]
RESP_TOOLS = [
    {"type": "function", "name": c["name"], "parameters": {"type": "object", "properties": {}}} for c in CALLS
]


def ant_create(**kw):
    return ant.messages.create(model=ANTHROPIC_MODEL, max_tokens=256, messages=MESSAGES, **kw)


def ant_stream(**kw):
    with ant.messages.stream(model=ANTHROPIC_MODEL, max_tokens=256, messages=MESSAGES, **kw) as stream:
        text = "".join(stream.text_stream)
        return text, stream.get_final_message()


# ---------------------------------------------------------------- Anthropic


@check
def anthropic_text_json():
    push({"type": "text", "text": TEXT})
    m = ant_create()
    expect(m.id.startswith("msg_"), f"id {m.id}")
    expect_eq(m.type, "message", "type")
    expect_eq(m.role, "assistant", "role")
    expect_eq(m.model, ANTHROPIC_MODEL, "model echoed")
    expect_eq([b.type for b in m.content], ["text"], "blocks")
    expect_eq(m.content[0].text, TEXT, "text")
    expect_eq(m.stop_reason, "end_turn", "stop_reason")
    expect_eq(m.stop_sequence, None, "stop_sequence")
    expect_eq((m.usage.input_tokens, m.usage.output_tokens), (25, 12), "usage")


@check
def anthropic_text_stream():
    push({"type": "text", "text": TEXT})
    text, m = ant_stream()
    expect_eq(text, TEXT, "text_stream")
    expect_eq(m.content[0].text, TEXT, "final text")
    expect_eq(m.stop_reason, "end_turn", "stop_reason")
    expect_eq(m.model, ANTHROPIC_MODEL, "model")
    expect_eq((m.usage.input_tokens, m.usage.output_tokens), (25, 12), "usage")


@check
def anthropic_raw_event_order():
    push({"type": "text", "text": TEXT})
    types = [e.type for e in ant_create(stream=True)]
    expect_eq(types[:2], ["message_start", "content_block_start"], "head")
    expect_eq(types[-3:], ["content_block_stop", "message_delta", "message_stop"], "tail")
    expect_eq(types.count("content_block_delta"), len(TEXT.split()), "one delta per word")


@check
def anthropic_usage_fields():
    push({"type": "text", "text": TEXT, "usage": {"input": 100, "output": 50, "cache_read": 30, "cache_write": 20}})
    _, m = ant_stream()
    u = m.usage
    got = (u.input_tokens, u.output_tokens, u.cache_read_input_tokens, u.cache_creation_input_tokens)
    expect_eq(got, (100, 50, 30, 20), "stream usage")
    push({"type": "text", "text": TEXT, "usage": {"input": 7, "output": 3, "cache_read": 2, "cache_write": 1}})
    u = ant_create().usage
    got = (u.input_tokens, u.output_tokens, u.cache_read_input_tokens, u.cache_creation_input_tokens)
    expect_eq(got, (7, 3, 2, 1), "json usage")


def _check_tool_blocks(m):
    expect_eq(m.stop_reason, "tool_use", "stop_reason")
    blocks = [b for b in m.content if b.type == "tool_use"]
    expect_eq([b.name for b in blocks], [c["name"] for c in CALLS], "tool names")
    expect_eq([b.input for b in blocks], [c["arguments"] for c in CALLS], "tool inputs")
    expect(all(b.id.startswith("toolu_") for b in blocks), "toolu_ ids")
    expect_eq(len({b.id for b in blocks}), len(blocks), "distinct ids")


@check
def anthropic_tools_json():
    push({"type": "tool_calls", "calls": CALLS})
    _check_tool_blocks(ant_create(tools=ANT_TOOLS))


@check
def anthropic_tools_stream():
    push({"type": "tool_calls", "calls": CALLS})
    _, m = ant_stream(tools=ANT_TOOLS)
    _check_tool_blocks(m)


@check
def anthropic_thinking_stream():
    push({"type": "thinking", **THINKING})
    text, m = ant_stream(thinking={"type": "enabled", "budget_tokens": 1024})
    expect_eq([b.type for b in m.content], ["thinking", "text"], "blocks")
    expect_eq(m.content[0].thinking, THINKING["thinking"], "thinking")
    expect_eq(m.content[0].signature, THINKING["signature"], "signature")
    expect_eq(text, TEXT, "text")


@check
def anthropic_thinking_json():
    push({"type": "thinking", **THINKING})
    m = ant_create(thinking={"type": "enabled", "budget_tokens": 1024})
    expect_eq((m.content[0].type, m.content[0].signature), ("thinking", THINKING["signature"]), "thinking block")


@check
def anthropic_max_tokens():
    push({"type": "max_tokens", "text": TEXT})
    _, m = ant_stream()
    expect_eq(m.stop_reason, "max_tokens", "stream stop_reason")
    push({"type": "max_tokens", "text": TEXT})
    expect_eq(ant_create().stop_reason, "max_tokens", "json stop_reason")


@check
def anthropic_errors():
    push({"type": "error", "status": 429, "retry_after": "2"})
    e = expect_raises(anthropic.RateLimitError, ant_create, "429")
    expect_eq(e.response.headers.get("retry-after"), "2", "retry-after")
    expect_eq(e.body["error"]["type"], "rate_limit_error", "error type")
    expect(e.request_id and e.request_id.startswith("req_"), f"request id {e.request_id}")
    push({"type": "error", "status": 529})
    e = expect_raises(anthropic.InternalServerError, ant_create, "529")
    expect_eq(e.body["error"]["type"], "overloaded_error", "529 type")
    push({"type": "error", "status": 503})
    expect_raises(anthropic.InternalServerError, ant_create, "503")
    push({"type": "error", "status": 400})
    e = expect_raises(anthropic.BadRequestError, ant_create, "400")
    expect_eq(e.body["error"]["type"], "invalid_request_error", "400 type")
    push({"type": "error", "status": 429})
    expect_raises(anthropic.RateLimitError, lambda: ant_stream(), "429 on a stream request")


@check
def anthropic_mid_stream_error():
    push("mid_stream_error")
    e = expect_raises(anthropic.APIStatusError, lambda: ant_stream(), "mid-stream error")
    expect_eq(e.body["error"]["type"], "overloaded_error", "error event type")


@check
def anthropic_count_tokens():
    push({"type": "text", "usage": {"input": 42}})
    r = ant.messages.count_tokens(model=ANTHROPIC_MODEL, messages=MESSAGES)
    expect_eq(r.input_tokens, 42, "input_tokens")


@check
def anthropic_models():
    page = ant.models.list()
    expect(page.data and all(m.type == "model" for m in page.data), "model list")
    expect(page.data[0].id.startswith("claude-"), page.data[0].id)


# ---------------------------------------------------------------- Chat Completions


def chat_create(**kw):
    return oai.chat.completions.create(model=OPENAI_MODEL, messages=MESSAGES, **kw)


def chat_stream(**kw):
    with oai.chat.completions.stream(model=OPENAI_MODEL, messages=MESSAGES, **kw) as stream:
        for _ in stream:
            pass
        return stream.get_final_completion()


@check
def chat_text_json():
    push({"type": "text", "text": TEXT})
    c = chat_create()
    expect(c.id.startswith("chatcmpl-"), c.id)
    expect_eq(c.object, "chat.completion", "object")
    expect_eq(c.model, OPENAI_MODEL, "model echoed")
    expect_eq(c.choices[0].message.content, TEXT, "content")
    expect_eq(c.choices[0].message.role, "assistant", "role")
    expect_eq(c.choices[0].finish_reason, "stop", "finish_reason")
    u = c.usage
    expect_eq((u.prompt_tokens, u.completion_tokens, u.total_tokens), (25, 12, 37), "usage")
    expect_eq(u.prompt_tokens_details.cached_tokens, 0, "cached_tokens")
    expect_eq(u.completion_tokens_details.reasoning_tokens, 0, "reasoning_tokens")


@check
def chat_text_stream_with_usage():
    push({"type": "text", "text": TEXT, "usage": {"input": 9, "output": 4, "cache_read": 5}})
    c = chat_stream(stream_options={"include_usage": True})
    expect_eq(c.choices[0].message.content, TEXT, "content")
    expect_eq(c.choices[0].finish_reason, "stop", "finish_reason")
    expect_eq((c.usage.prompt_tokens, c.usage.completion_tokens), (9, 4), "usage")
    expect_eq(c.usage.prompt_tokens_details.cached_tokens, 5, "cached_tokens")


@check
def chat_raw_stream_without_usage():
    push({"type": "text", "text": TEXT})
    chunks = list(chat_create(stream=True))
    expect(all(ch.object == "chat.completion.chunk" for ch in chunks), "chunk objects")
    expect_eq(chunks[0].choices[0].delta.role, "assistant", "first delta role")
    expect(all(ch.usage is None for ch in chunks), "no usage chunk without include_usage")
    expect_eq(chunks[-1].choices[0].finish_reason, "stop", "last finish_reason")
    text = "".join(ch.choices[0].delta.content or "" for ch in chunks)
    expect_eq(text, TEXT, "joined content")


@check
def chat_raw_stream_usage_chunk():
    push({"type": "text", "text": TEXT})
    chunks = list(chat_create(stream=True, stream_options={"include_usage": True}))
    expect_eq(chunks[-1].choices, [], "usage chunk has no choices")
    expect_eq(chunks[-1].usage.total_tokens, 37, "usage chunk total")
    expect(all(ch.usage is None for ch in chunks[:-1]), "usage null before the last chunk")


def _check_chat_tools(c):
    msg = c.choices[0].message
    expect_eq(c.choices[0].finish_reason, "tool_calls", "finish_reason")
    expect_eq([t.function.name for t in msg.tool_calls], [x["name"] for x in CALLS], "names")
    expect_eq([json.loads(t.function.arguments) for t in msg.tool_calls], [x["arguments"] for x in CALLS], "args")
    expect(all(t.id.startswith("call_") and t.type == "function" for t in msg.tool_calls), "call ids")


@check
def chat_tools_json():
    push({"type": "tool_calls", "calls": CALLS})
    c = chat_create(tools=OAI_TOOLS)
    _check_chat_tools(c)
    expect_eq(c.choices[0].message.content, None, "content null")


@check
def chat_tools_stream():
    push({"type": "tool_calls", "calls": CALLS})
    _check_chat_tools(chat_stream(tools=OAI_TOOLS))


@check
def chat_reasoning_content():
    push({"type": "thinking", **THINKING})
    chunks = list(chat_create(stream=True))
    reasoning = "".join(getattr(ch.choices[0].delta, "reasoning_content", None) or "" for ch in chunks if ch.choices)
    expect_eq(reasoning, THINKING["thinking"], "reasoning_content deltas")
    push({"type": "thinking", **THINKING})
    c = chat_create()
    expect_eq(getattr(c.choices[0].message, "reasoning_content", None), THINKING["thinking"], "json reasoning")
    expect_eq(c.usage.completion_tokens_details.reasoning_tokens, 28, "reasoning_tokens")


@check
def chat_max_tokens():
    push({"type": "max_tokens", "text": TEXT})
    expect_eq(chat_create().choices[0].finish_reason, "length", "finish_reason")


@check
def chat_errors():
    push({"type": "error", "status": 429, "retry_after": "2"})
    e = expect_raises(openai.RateLimitError, chat_create, "429")
    expect_eq(e.response.headers.get("retry-after"), "2", "retry-after")
    expect_eq(e.code, "rate_limit_exceeded", "code")
    push({"type": "error", "status": 503})
    expect_raises(openai.InternalServerError, chat_create, "503")
    push({"type": "error", "status": 500})
    expect_raises(openai.InternalServerError, chat_create, "500")
    push({"type": "error", "status": 400})
    e = expect_raises(openai.BadRequestError, chat_create, "400")
    expect_eq(e.type, "invalid_request_error", "400 type")


@check
def chat_mid_stream_error():
    push("mid_stream_error")
    e = expect_raises(openai.APIError, lambda: list(chat_create(stream=True)), "mid-stream error")
    expect_eq(e.type, "server_error", "error type")


@check
def openai_models():
    ids = [m.id for m in oai.models.list()]
    expect("gpt-4o" in ids, ids)


# ---------------------------------------------------------------- Responses


def resp_create(**kw):
    return oai.responses.create(model=OPENAI_MODEL, input="Hello", **kw)


def resp_stream(**kw):
    with oai.responses.stream(model=OPENAI_MODEL, input="Hello", **kw) as stream:
        events = list(stream)
        return events, stream.get_final_response()


def _check_sequence(events):
    expect_eq([e.sequence_number for e in events], list(range(len(events))), "sequence numbers")


@check
def responses_text_json():
    push({"type": "text", "text": TEXT})
    r = resp_create()
    expect(r.id.startswith("resp_"), r.id)
    expect_eq((r.object, r.status, r.model), ("response", "completed", OPENAI_MODEL), "header fields")
    expect_eq(r.output_text, TEXT, "output_text")
    expect_eq(r.output[0].type, "message", "item type")
    expect_eq((r.usage.input_tokens, r.usage.output_tokens, r.usage.total_tokens), (25, 12, 37), "usage")
    expect_eq(r.usage.input_tokens_details.cached_tokens, 0, "cached_tokens")
    expect_eq(r.usage.output_tokens_details.reasoning_tokens, 0, "reasoning_tokens")


@check
def responses_text_stream():
    push({"type": "text", "text": TEXT, "usage": {"input": 11, "output": 6, "cache_read": 3, "reasoning": 2}})
    events, r = resp_stream()
    _check_sequence(events)
    types = [e.type for e in events]
    want_head = [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.content_part.added",
    ]
    want_tail = [
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
        "response.completed",
    ]
    expect_eq(types[:4], want_head, "head")
    expect_eq(types[-4:], want_tail, "tail")
    expect_eq(types.count("response.output_text.delta"), len(TEXT.split()), "deltas")
    expect_eq(r.output_text, TEXT, "final text")
    u = r.usage
    got = (u.input_tokens, u.output_tokens, u.input_tokens_details.cached_tokens, u.output_tokens_details.reasoning_tokens)
    expect_eq(got, (11, 6, 3, 2), "usage")


def _check_function_calls(r):
    calls = [o for o in r.output if o.type == "function_call"]
    expect_eq([c.name for c in calls], [x["name"] for x in CALLS], "names")
    expect_eq([json.loads(c.arguments) for c in calls], [x["arguments"] for x in CALLS], "arguments")
    expect(all(c.call_id.startswith("call_") for c in calls), "call ids")


@check
def responses_tools_json():
    push({"type": "tool_calls", "calls": CALLS})
    _check_function_calls(resp_create(tools=RESP_TOOLS))


@check
def responses_tools_stream():
    push({"type": "tool_calls", "calls": CALLS})
    events, r = resp_stream(tools=RESP_TOOLS)
    _check_sequence(events)
    expect("response.function_call_arguments.delta" in {e.type for e in events}, "argument deltas")
    expect("response.function_call_arguments.done" in {e.type for e in events}, "argument done")
    _check_function_calls(r)


@check
def responses_reasoning():
    push({"type": "thinking", **THINKING})
    events, r = resp_stream(include=["reasoning.encrypted_content"])
    _check_sequence(events)
    expect_eq([o.type for o in r.output], ["reasoning", "message"], "items")
    expect_eq(r.output[0].summary[0].text, THINKING["thinking"], "summary")
    expect_eq(r.output[0].encrypted_content, THINKING["signature"], "encrypted_content")
    expect_eq(r.output_text, TEXT, "text")
    expect("response.reasoning_summary_text.delta" in {e.type for e in events}, "summary deltas")


@check
def responses_max_tokens():
    push({"type": "max_tokens", "text": TEXT})
    r = resp_create()
    expect_eq((r.status, r.incomplete_details.reason), ("incomplete", "max_output_tokens"), "incomplete")
    push({"type": "max_tokens", "text": TEXT})
    types = [e.type for e in resp_create(stream=True)]
    expect_eq(types[-1], "response.incomplete", "terminal event")


@check
def responses_errors():
    push({"type": "error", "status": 429, "retry_after": "2"})
    expect_raises(openai.RateLimitError, resp_create, "429")
    push({"type": "error", "status": 503})
    expect_raises(openai.InternalServerError, resp_create, "503")
    push({"type": "error", "status": 400})
    expect_raises(openai.BadRequestError, resp_create, "400")


@check
def responses_mid_stream_error():
    push("mid_stream_error")
    events = list(resp_create(stream=True))
    _check_sequence(events)
    expect_eq([e.type for e in events[-2:]], ["error", "response.failed"], "error tail")
    expect_eq(events[-1].response.status, "failed", "failed status")
    expect_eq(events[-1].response.error.code, "server_error", "error code")
    expect_eq(events[-1].response.id, events[0].response.id, "same response id")


# ---------------------------------------------------------------- strict schemas
#
# The SDKs build their objects leniently (a missing field is just absent), so
# these checks fetch the raw bodies and validate them with pydantic against
# the SDK's own types, which rejects missing or mistyped required fields.

from pydantic import TypeAdapter  # noqa: E402 - installed with the SDKs

SCENARIOS = {
    "text": {"type": "text", "text": TEXT},
    "tools": {"type": "tool_calls", "calls": CALLS},
    "thinking": {"type": "thinking", **THINKING},
    "max_tokens": {"type": "max_tokens", "text": TEXT},
}


def raw_post(path, body, headers=None):
    req = urllib.request.Request(
        BASE + path,
        data=json.dumps(body).encode(),
        headers={"content-type": "application/json", **(headers or {})},
        method="POST",
    )
    with urllib.request.urlopen(req, timeout=10) as resp:
        return resp.status, resp.headers, resp.read().decode()


def parse_sse(text):
    """[(event name or None, data string)] from an SSE body."""
    events = []
    for block in text.split("\n\n"):
        if not block.strip():
            continue
        name, data = None, []
        for line in block.split("\n"):
            if line.startswith("event: "):
                name = line[len("event: "):]
            elif line.startswith("data: "):
                data.append(line[len("data: "):])
        events.append((name, "\n".join(data)))
    return events


def strict_stream(path, body, validate, named=True):
    status, headers, text = raw_post(path, {**body, "stream": True})
    expect_eq(status, 200, f"{path} status")
    expect(headers["content-type"].startswith("text/event-stream"), headers["content-type"])
    events = parse_sse(text)
    for name, data in events:
        if data == "[DONE]":
            continue
        payload = json.loads(data)
        if named:
            expect_eq(name, payload["type"], "event line matches data type")
        validate(payload)
    return events


def _strict(path, body, whole, event):
    for label, spec in SCENARIOS.items():
        push(spec)
        status, _, text = raw_post(path, body)
        expect_eq(status, 200, f"{label} status")
        try:
            whole(json.loads(text))
        except Exception as e:
            raise AssertionError(f"{label} JSON body fails the SDK schema: {e}") from e
        push(spec)
        try:
            yield label, strict_stream(path, body, event, named=path != "/v1/chat/completions")
        except Exception as e:
            raise AssertionError(f"{label} stream fails the SDK schema: {e}") from e


@check
def strict_anthropic_schemas():
    from anthropic.types import Message, RawMessageStreamEvent

    adapter = TypeAdapter(RawMessageStreamEvent)

    def event(payload):
        if payload["type"] != "ping":
            adapter.validate_python(payload)

    body = {"model": ANTHROPIC_MODEL, "max_tokens": 64, "messages": MESSAGES}
    for _, events in _strict("/v1/messages", body, Message.model_validate, event):
        expect_eq(events[-1][0], "message_stop", "terminal event")


@check
def strict_chat_schemas():
    from openai.types.chat import ChatCompletion, ChatCompletionChunk

    body = {"model": OPENAI_MODEL, "messages": MESSAGES, "stream_options": {"include_usage": True}}
    for _, events in _strict("/v1/chat/completions", body, ChatCompletion.model_validate,
                             ChatCompletionChunk.model_validate):
        expect_eq(events[-1], (None, "[DONE]"), "terminal event")
        expect(all(name is None for name, _ in events), "chat chunks have no event: line")


@check
def strict_responses_schemas():
    from openai.types.responses import Response, ResponseStreamEvent

    adapter = TypeAdapter(ResponseStreamEvent)
    body = {"model": OPENAI_MODEL, "input": "Hello", "include": ["reasoning.encrypted_content"]}
    for label, events in _strict("/v1/responses", body, Response.model_validate, adapter.validate_python):
        terminal = "response.incomplete" if label == "max_tokens" else "response.completed"
        expect_eq(events[-1][0], terminal, "terminal event")
        for _, data in events:
            if json.loads(data)["type"] in ("response.completed", "response.incomplete"):
                Response.model_validate(json.loads(data)["response"])


@check
def strict_error_schemas():
    for status in (400, 429, 500, 503, 529):
        push({"type": "error", "status": status})
        try:
            raw_post("/v1/messages", {"model": ANTHROPIC_MODEL, "max_tokens": 8, "messages": MESSAGES})
            raise AssertionError(f"{status}: no error")
        except urllib.error.HTTPError as e:
            expect_eq(e.code, status, "status")
            body = json.loads(e.read())
            expect_eq(body["type"], "error", "anthropic envelope")
            expect(set(body["error"]) == {"type", "message"}, body)
            expect_eq(e.headers["request-id"], body["request_id"], "request-id header = body")
        push({"type": "error", "status": status})
        try:
            raw_post("/v1/chat/completions", {"model": OPENAI_MODEL, "messages": MESSAGES})
            raise AssertionError(f"{status}: no error")
        except urllib.error.HTTPError as e:
            expect_eq(e.code, status, "status")
            body = json.loads(e.read())
            expect(set(body["error"]) == {"message", "type", "param", "code"}, body)


def main():
    failed = 0
    for fn in CHECKS:
        try:
            fn()
            print(f"ok   {fn.__name__}")
        except Exception:  # noqa: BLE001 - every failure is reported, then counted
            failed += 1
            print(f"FAIL {fn.__name__}")
            traceback.print_exc(file=sys.stdout)
    print(f"{len(CHECKS) - failed}/{len(CHECKS)} SDK checks passed "
          f"(anthropic {anthropic.__version__}, openai {openai.__version__})")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
