"""Protocol-conversion conformance matrix, judged by the official SDKs.

Every conversion pair (client protocol -> upstream protocol) goes through the
real switchyard gateway to a fake provider that speaks the upstream protocol.
The official `anthropic` and `openai` SDKs parse what the client gets; raw SSE
invariants are checked where the SDKs are lenient; the request the fake
provider received is checked for the upstream protocol's own shapes.

Environment (set by tests/conformance.rs):
  CONF_GATEWAY          http://127.0.0.1:PORT of switchyard
  CONF_FAKE_CHAT        base URL (no /v1) of the fake behind openai_chat providers
  CONF_FAKE_MESSAGES    ... behind anthropic providers
  CONF_FAKE_RESPONSES   ... behind openai (Responses) providers

Prints a pair x scenario table (one mark per cell) and, on the last line,
`CONFORMANCE_SUMMARY {json}`. Exits 1 if any cell failed.

Every request carries `x-request-id: conf-<pair>-<scenario>[-n]`, which
switchyard records in its audit line, so the Rust test can find it.
"""
import base64
import json
import os
import re
import sys
import traceback
import typing
import urllib.request

import anthropic
import openai
from anthropic.types import Message as AnthropicMessage
from anthropic.types import RawMessageStreamEvent
from openai.types.chat import ChatCompletion, ChatCompletionChunk
from openai.types.responses import Response as ResponsesResponse
from openai.types.responses import ResponseStreamEvent
from pydantic import TypeAdapter

try:  # newer SDKs ship their own fork of httpx
    import httpx2 as httpx
except ImportError:
    import httpx

GATEWAY = os.environ["CONF_GATEWAY"].rstrip("/")
FAKES = {
    "chat": os.environ["CONF_FAKE_CHAT"].rstrip("/"),
    "messages": os.environ["CONF_FAKE_MESSAGES"].rstrip("/"),
    "responses": os.environ["CONF_FAKE_RESPONSES"].rstrip("/"),
}

# (pair name, client protocol, upstream protocol); the model routes to the
# provider `p_<pair>` whose upstream model is `up-<pair>`.
PAIRS = [
    ("messages_chat", "messages", "chat"),
    ("chat_messages", "chat", "messages"),
    ("responses_chat", "responses", "chat"),
    ("responses_messages", "responses", "messages"),
    ("chat_responses", "chat", "responses"),
    ("messages_responses", "messages", "responses"),
]

SCENARIOS = [
    "text",
    "tool_call",
    "parallel_tools",
    "tool_result",
    "image_b64",
    "image_url",
    "stream_text",
    "stream_tool",
    "usage",
    "err_429",
    "err_400",
    "midstream_err",
    "lossy",
]

PNG_B64 = (
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGA"
    "hKmMIQAAAABJRU5ErkJggg=="
)
PNG_URL = "https://example.com/cat.png"
WEATHER_SCHEMA = {
    "type": "object",
    "properties": {"city": {"type": "string"}},
    "required": ["city"],
    "additionalProperties": False,
}
TIME_SCHEMA = {
    "type": "object",
    "properties": {"tz": {"type": "string"}},
    "required": ["tz"],
    "additionalProperties": False,
}
CALL_1 = ("get_weather", {"city": "Paris"})
CALL_2 = ("get_time", {"tz": "Asia/Tokyo"})
TOOL_RESULT_TEXT = "18\u00b0C and sunny"
TEXT = "The quick brown fox jumps over the lazy dog."
ANTHROPIC_ID = re.compile(r"^[a-zA-Z0-9_-]+$")

# Usage the fake reports (each number written verbatim into the upstream
# protocol's own fields). Anthropic's input excludes cache reads and writes;
# OpenAI's includes them. The fake's Chat usage has no cache-write field.
USAGE = {
    "messages": {"input": 100, "output": 20, "cache_read": 30, "cache_write": 5, "reasoning": 0},
    "chat": {"input": 100, "output": 20, "cache_read": 30, "cache_write": 0, "reasoning": 7},
    "responses": {"input": 100, "output": 20, "cache_read": 30, "cache_write": 5, "reasoning": 7},
}


class Fail(AssertionError):
    pass


def check(cond, message):
    if not cond:
        raise Fail(message)


def eq(got, want, what):
    if got != want:
        raise Fail(f"{what}: got {got!r}, want {want!r}")


# ------------------------------------------------------------ fake control


def control(upstream, action, spec=None):
    url = f"{FAKES[upstream]}/_fake/{action}"
    data = None if spec is None else json.dumps(spec).encode()
    method = "GET" if action == "requests" else "POST"
    req = urllib.request.Request(url, data=data, method=method)
    with urllib.request.urlopen(req, timeout=10) as resp:
        return json.loads(resp.read())


def script(upstream, *specs):
    """Clears the fake's log and queue, then queues these behaviours."""
    control(upstream, "reset")
    for spec in specs:
        control(upstream, "push", spec)


def upstream_requests(upstream):
    return [r for r in control(upstream, "requests") if r["method"] == "POST"]


def last_upstream(upstream):
    reqs = upstream_requests(upstream)
    check(reqs, f"the {upstream} fake received no request")
    return reqs[-1]


UPSTREAM_PATH = {"chat": "/chat/completions", "messages": "/messages", "responses": "/responses"}


def upstream_body(pair):
    name, _, upstream = pair
    r = last_upstream(upstream)
    check(r["path"].split("?")[0].endswith(UPSTREAM_PATH[upstream]),
          f"upstream path {r['path']} is not the {upstream} endpoint")
    body = r["body"]
    check(isinstance(body, dict), f"upstream body is not JSON: {body!r}")
    eq(body.get("model"), f"up-{name.replace('_', '-')}", "upstream model")
    if upstream == "responses":
        # Chat and Anthropic clients do not have their conversations stored.
        eq(body.get("store"), False, "responses store")
    return body


# ---------------------------------------------------------- tee transport


class TeeStream(httpx.SyncByteStream):
    def __init__(self, inner, sink):
        self.inner = inner
        self.sink = sink

    def __iter__(self):
        for chunk in self.inner:
            self.sink.append(chunk)
            yield chunk

    def close(self):
        self.inner.close()


class TeeTransport(httpx.HTTPTransport):
    """Keeps the raw bytes and headers of the last response the SDK read."""

    def __init__(self):
        super().__init__()
        self.last = None

    def handle_request(self, request):
        resp = super().handle_request(request)
        sink = []
        self.last = {"status": resp.status_code, "headers": resp.headers, "chunks": sink}
        resp.stream = TeeStream(resp.stream, sink)
        return resp

    def raw(self):
        return b"".join(self.last["chunks"]).decode("utf-8")

    def header(self, name):
        return self.last["headers"].get(name)


TEE = TeeTransport()
HTTP = httpx.Client(transport=TEE, timeout=30)
ANTHROPIC = anthropic.Anthropic(base_url=GATEWAY, api_key="sk-ant-conf-client", max_retries=0, http_client=HTTP)
OPENAI = openai.OpenAI(base_url=GATEWAY + "/v1", api_key="sk-conf-client", max_retries=0, http_client=HTTP)


def rid(pair, scenario, n=None):
    suffix = "" if n is None else f"-{n}"
    return {"x-request-id": f"conf-{pair[0]}-{scenario}{suffix}"}


def model_of(pair):
    return "conf-" + pair[0].replace("_", "-")


# ------------------------------------------------------- strict schemas
#
# The SDKs build objects leniently (a missing field is just absent); the raw
# bodies and events are also validated against the SDKs' own pydantic types.

def by_type(union):
    """{event type: model} for a discriminated union of event models, so a
    failure names the fields of the right model only."""
    if typing.get_origin(union) is typing.Annotated:
        union = typing.get_args(union)[0]
    out = {}
    for model in typing.get_args(union):
        field = model.model_fields.get("type")
        for literal in typing.get_args(field.annotation) if field else ():
            out[literal] = model
    return out


def union_validator(union):
    models = by_type(union)
    fallback = TypeAdapter(union)

    def validate(payload):
        model = models.get(payload.get("type"))
        return model.model_validate(payload) if model else fallback.validate_python(payload)

    return validate


ANTHROPIC_EVENT = union_validator(RawMessageStreamEvent)
RESPONSES_EVENT = union_validator(ResponseStreamEvent)
WHOLE = {"messages": AnthropicMessage, "chat": ChatCompletion, "responses": ResponsesResponse}


def strict_body(client):
    """The last JSON body the SDK read, validated against its schema."""
    body = json.loads(TEE.raw())
    try:
        WHOLE[client].model_validate(body)
    except Exception as e:
        raise Fail(f"{client} body fails the SDK schema: {e}") from e
    return body


def strict_event(validate, payload):
    try:
        validate(payload)
    except Exception as e:
        raise Fail(f"event {payload.get('type', payload.get('object'))} fails the SDK schema: {e}") from e


# ------------------------------------------------------------- raw SSE


def sse_events(raw):
    events = []
    for block in re.split(r"\r?\n\r?\n", raw):
        if not block.strip():
            continue
        event, data = None, []
        for line in block.splitlines():
            if line.startswith(":"):
                continue
            field, _, value = line.partition(":")
            value = value[1:] if value.startswith(" ") else value
            if field == "event":
                event = value
            elif field == "data":
                data.append(value)
        events.append((event, "\n".join(data)))
    return events


def anthropic_invariants(raw, expect_stop=True):
    """Contiguous block indexes, every start stopped, non-zero message_start
    usage, tool input JSON non-empty and an object. Returns parsed events."""
    evs = [(e, json.loads(d)) for e, d in sse_events(raw)]
    check(evs, "empty Anthropic stream")
    eq(evs[0][1].get("type"), "message_start", "first event")
    usage = evs[0][1]["message"]["usage"]
    check(usage.get("input_tokens", 0) > 0, f"message_start usage has zero input_tokens: {usage}")
    check(usage.get("output_tokens", 0) > 0, f"message_start usage has zero output_tokens: {usage}")
    open_index, next_index, tool_json = None, 0, {}
    for name, d in evs:
        check(name == d.get("type"), f"event name {name!r} differs from type {d.get('type')!r}")
        t = d["type"]
        if t not in ("ping", "error"):
            strict_event(ANTHROPIC_EVENT, d)
        if t == "content_block_start":
            check(open_index is None, f"block {d['index']} started while {open_index} is open")
            eq(d["index"], next_index, "content_block_start index")
            open_index, next_index = d["index"], next_index + 1
            if d["content_block"]["type"] == "tool_use":
                check(ANTHROPIC_ID.match(d["content_block"]["id"]), f"bad tool_use id {d['content_block']['id']!r}")
                tool_json[d["index"]] = ""
        elif t == "content_block_delta":
            eq(d["index"], open_index, "delta index")
            if d["delta"]["type"] == "input_json_delta":
                tool_json[d["index"]] += d["delta"]["partial_json"]
        elif t == "content_block_stop":
            eq(d["index"], open_index, "content_block_stop index")
            open_index = None
        elif t == "error":
            check(d is evs[-1][1], "events after an error event")
    # A stream cut by an error may leave its block open, as Anthropic's does.
    if expect_stop:
        check(open_index is None, f"block {open_index} never stopped")
    for index, text in tool_json.items():
        if index == open_index:
            continue
        check(text.strip(), f"tool_use block {index} has empty input JSON")
        check(isinstance(json.loads(text), dict), f"tool_use block {index} input is not an object")
    types = [d["type"] for _, d in evs]
    if expect_stop:
        eq(types[-1], "message_stop", "last event")
        check("message_delta" in types, "no message_delta")
    return [d for _, d in evs]


def chat_invariants(raw, expect_done=True, include_usage=False):
    """`data: [DONE]` last, one id, tool-call deltas well-formed (first delta of
    an index has id, type and name; arguments concatenate to a JSON object),
    exactly one finish_reason, the usage chunk when asked for."""
    evs = sse_events(raw)
    check(evs, "empty Chat stream")
    datas = [d for _, d in evs]
    for name, _ in evs:
        check(name is None, f"Chat stream has an `event:` line {name!r}")
    if expect_done:
        eq(datas[-1], "[DONE]", "last Chat event")
        datas = datas[:-1]
    check("[DONE]" not in datas, "[DONE] before the end")
    chunks = [json.loads(d) for d in datas]
    ids = {c.get("id") for c in chunks if "error" not in c}
    check(len(ids) <= 1, f"chunk ids differ: {ids}")
    calls, finishes, usage_chunks = {}, [], []
    for c in chunks:
        if "error" in c:
            continue
        eq(c.get("object"), "chat.completion.chunk", "chunk object")
        strict_event(ChatCompletionChunk.model_validate, c)
        if not c["choices"]:
            usage_chunks.append(c)
            continue
        for choice in c["choices"]:
            eq(choice["index"], 0, "choice index")
            if choice.get("finish_reason"):
                finishes.append(choice["finish_reason"])
            for tc in choice["delta"].get("tool_calls") or []:
                i = tc["index"]
                if i not in calls:
                    check(tc.get("id"), f"first delta of tool call {i} has no id")
                    eq(tc.get("type"), "function", f"tool call {i} type")
                    check((tc.get("function") or {}).get("name"), f"first delta of tool call {i} has no name")
                    calls[i] = {"id": tc["id"], "name": tc["function"]["name"], "arguments": ""}
                else:
                    check(not tc.get("id") or tc["id"] == calls[i]["id"], f"tool call {i} changed id")
                calls[i]["arguments"] += (tc.get("function") or {}).get("arguments") or ""
    if expect_done:
        eq(len(finishes), 1, "number of finish_reason chunks")
        if include_usage:
            eq(len(usage_chunks), 1, "number of usage chunks")
            check(usage_chunks[0].get("usage"), "usage chunk without usage")
    eq(sorted(calls), list(range(len(calls))), "tool call indexes")
    for i, call in calls.items():
        check(isinstance(json.loads(call["arguments"]), dict), f"tool call {i} arguments are not a JSON object")
    return chunks, [calls[i] for i in sorted(calls)], finishes


def responses_invariants(raw, terminal="response.completed"):
    """Sequence numbers 0..n-1, response.created first, the terminal event
    last, output items added in index order and each done once."""
    evs = [(e, json.loads(d)) for e, d in sse_events(raw)]
    check(evs, "empty Responses stream")
    for i, (name, d) in enumerate(evs):
        check(name == d.get("type"), f"event name {name!r} differs from type {d.get('type')!r}")
        eq(d.get("sequence_number"), i, f"sequence_number of event {i} ({d.get('type')})")
        strict_event(RESPONSES_EVENT, d)
        if "response" in d:
            strict_event(ResponsesResponse.model_validate, d["response"])
    eq(evs[0][1]["type"], "response.created", "first event")
    eq(evs[-1][1]["type"], terminal, "last event")
    added, done = [], []
    for _, d in evs:
        if d["type"] == "response.output_item.added":
            added.append(d["output_index"])
        elif d["type"] == "response.output_item.done":
            done.append(d["output_index"])
    eq(added, list(range(len(added))), "output_item.added indexes")
    if terminal == "response.completed":
        eq(sorted(done), added, "output_item.done indexes")
        final = evs[-1][1]["response"]
        eq(len(final["output"]), len(added), "items in response.completed")
    return [d for _, d in evs]


# --------------------------------------------------- upstream shape checks


def upstream_tools_check(pair, body, strict):
    """The tool definitions in the upstream protocol's shape, with the
    client's strictness kept (Responses is strict unless told otherwise)."""
    upstream = pair[2]
    tools = body.get("tools") or []
    check(tools, "upstream request has no tools")
    t = tools[0]
    if upstream == "chat":
        eq(t.get("type"), "function", "chat tool type")
        eq(t["function"]["name"], CALL_1[0], "chat tool name")
        eq(t["function"]["parameters"], WEATHER_SCHEMA, "chat tool parameters")
        eq(t["function"].get("strict", False), strict, "chat tool strict")
    elif upstream == "messages":
        eq(t["name"], CALL_1[0], "anthropic tool name")
        eq(t["input_schema"], WEATHER_SCHEMA, "anthropic input_schema")
        eq(t.get("strict", False), strict, "anthropic tool strict")
    else:
        eq(t.get("type"), "function", "responses tool type")
        eq(t["name"], CALL_1[0], "responses tool name")
        eq(t["parameters"], WEATHER_SCHEMA, "responses tool parameters")
        # Omitting `strict` makes the Responses API normalise the schema into
        # strict mode; a non-strict client tool must say strict: false.
        check("strict" in t, "responses tool without an explicit `strict`")
        eq(t["strict"], strict, "responses tool strict")


def upstream_tool_round_trip_check(pair, body):
    """The assistant's call and the tool's result in the upstream shape, ids matching."""
    upstream = pair[2]
    if upstream == "chat":
        msgs = body["messages"]
        roles = [m["role"] for m in msgs]
        i = roles.index("assistant")
        calls = msgs[i]["tool_calls"]
        eq(len(calls), 1, "assistant tool_calls")
        eq(calls[0]["function"]["name"], CALL_1[0], "tool call name")
        eq(json.loads(calls[0]["function"]["arguments"]), CALL_1[1], "tool call arguments")
        tool = msgs[i + 1]
        eq(tool["role"], "tool", "message after the assistant's calls")
        eq(tool["tool_call_id"], calls[0]["id"], "tool_call_id")
        eq(tool["content"], TOOL_RESULT_TEXT, "tool message content")
    elif upstream == "messages":
        msgs = body["messages"]
        eq([m["role"] for m in msgs], ["user", "assistant", "user"], "anthropic roles")
        use = [b for b in msgs[1]["content"] if b["type"] == "tool_use"]
        eq(len(use), 1, "tool_use blocks")
        check(ANTHROPIC_ID.match(use[0]["id"]), f"tool_use id {use[0]['id']!r} is not a valid Anthropic id")
        eq(use[0]["input"], CALL_1[1], "tool_use input")
        first = msgs[2]["content"][0]
        eq(first["type"], "tool_result", "first block of the user turn")
        eq(first["tool_use_id"], use[0]["id"], "tool_use_id")
        content = first["content"]
        text = content if isinstance(content, str) else "".join(b.get("text", "") for b in content)
        eq(text, TOOL_RESULT_TEXT, "tool_result content")
    else:
        items = body["input"]
        calls = [i for i in items if i.get("type") == "function_call"]
        outs = [i for i in items if i.get("type") == "function_call_output"]
        eq(len(calls), 1, "function_call items")
        eq(len(outs), 1, "function_call_output items")
        eq(json.loads(calls[0]["arguments"]), CALL_1[1], "function_call arguments")
        eq(outs[0]["call_id"], calls[0]["call_id"], "function_call_output call_id")
        check(items.index(outs[0]) > items.index(calls[0]), "output before its call")
        eq(outs[0]["output"], TOOL_RESULT_TEXT, "function_call_output output")


def upstream_image_check(pair, body, kind):
    upstream = pair[2]
    data_url = f"data:image/png;base64,{PNG_B64}"
    if upstream == "chat":
        user = [m for m in body["messages"] if m["role"] == "user"][-1]
        parts = [p for p in user["content"] if p["type"] == "image_url"]
        eq(len(parts), 1, "chat image parts")
        eq(parts[0]["image_url"]["url"], data_url if kind == "b64" else PNG_URL, "chat image url")
    elif upstream == "messages":
        user = body["messages"][-1]
        blocks = [b for b in user["content"] if b["type"] == "image"]
        eq(len(blocks), 1, "anthropic image blocks")
        want = ({"type": "base64", "media_type": "image/png", "data": PNG_B64} if kind == "b64"
                else {"type": "url", "url": PNG_URL})
        eq(blocks[0]["source"], want, "anthropic image source")
    else:
        user = [i for i in body["input"] if i.get("role") == "user"][-1]
        parts = [p for p in user["content"] if p["type"] == "input_image"]
        eq(len(parts), 1, "responses input_image parts")
        eq(parts[0]["image_url"], data_url if kind == "b64" else PNG_URL, "input_image image_url")


# ------------------------------------------------------ behaviour helpers


def tool_calls_spec(*calls, **extra):
    spec = {"type": "tool_calls", "calls": [{"name": n, "arguments": a} for n, a in calls]}
    spec.update(extra)
    return spec


def expected_usage(upstream):
    """What each client protocol must report for USAGE[upstream]."""
    u = USAGE[upstream]
    if upstream == "messages":
        # Anthropic: input excludes cache reads and writes.
        anth = {"input": u["input"], "cache_read": u["cache_read"], "cache_write": u["cache_write"], "reasoning": 0}
    else:
        # OpenAI: input includes cache reads and writes.
        anth = {"input": u["input"] - u["cache_read"] - u["cache_write"], "cache_read": u["cache_read"],
                "cache_write": u["cache_write"], "reasoning": u["reasoning"]}
    total_input = anth["input"] + anth["cache_read"] + anth["cache_write"]
    return {
        "messages": {"input_tokens": anth["input"], "output_tokens": u["output"],
                     "cache_read_input_tokens": anth["cache_read"],
                     "cache_creation_input_tokens": anth["cache_write"]},
        "openai": {"input": total_input, "output": u["output"], "total": total_input + u["output"],
                   "cached": anth["cache_read"], "cache_write": anth["cache_write"], "reasoning": anth["reasoning"]},
    }


# ====================================================== Anthropic client


class MessagesClient:
    tools = [
        {"name": CALL_1[0], "description": "Weather in a city", "input_schema": WEATHER_SCHEMA},
        {"name": CALL_2[0], "description": "Time in a zone", "input_schema": TIME_SCHEMA},
    ]

    def __init__(self, pair):
        self.pair = pair
        self.model = model_of(pair)

    def create(self, scenario, n=None, **kw):
        kw.setdefault("max_tokens", 256)
        kw.setdefault("messages", [{"role": "user", "content": "Say something."}])
        msg = ANTHROPIC.messages.create(model=self.model, extra_headers=rid(self.pair, scenario, n), **kw)
        strict_body("messages")
        return msg

    def stream(self, scenario, n=None, **kw):
        kw.setdefault("max_tokens", 256)
        kw.setdefault("messages", [{"role": "user", "content": "Say something."}])
        with ANTHROPIC.messages.stream(model=self.model, extra_headers=rid(self.pair, scenario, n), **kw) as s:
            texts = list(s.text_stream)
            final = s.get_final_message()
        return texts, final

    def text(self):
        script(self.pair[2], {"type": "text", "text": TEXT})
        msg = self.create("text")
        eq(msg.type, "message", "type")
        eq([b.type for b in msg.content], ["text"], "content types")
        eq(msg.content[0].text, TEXT, "text")
        eq(msg.stop_reason, "end_turn", "stop_reason")
        eq(msg.role, "assistant", "role")
        upstream_body(self.pair)

    def tool_call(self):
        script(self.pair[2], tool_calls_spec(CALL_1))
        msg = self.create("tool_call", tools=self.tools[:1])
        eq(msg.stop_reason, "tool_use", "stop_reason")
        uses = [b for b in msg.content if b.type == "tool_use"]
        eq(len(uses), 1, "tool_use blocks")
        eq(uses[0].name, CALL_1[0], "tool name")
        eq(uses[0].input, CALL_1[1], "tool input")
        check(ANTHROPIC_ID.match(uses[0].id), f"tool_use id {uses[0].id!r}")
        upstream_tools_check(self.pair, upstream_body(self.pair), strict=False)

    def parallel_tools(self):
        script(self.pair[2], tool_calls_spec(CALL_1, CALL_2))
        msg = self.create("parallel_tools", tools=self.tools)
        eq(msg.stop_reason, "tool_use", "stop_reason")
        uses = [b for b in msg.content if b.type == "tool_use"]
        eq([(u.name, u.input) for u in uses], [CALL_1, CALL_2], "tool calls")
        check(len({u.id for u in uses}) == 2, "tool_use ids are not distinct")

    def tool_result(self):
        script(self.pair[2], {"type": "text", "text": "It is 18 degrees."})
        msg = self.create("tool_result", tools=self.tools[:1], messages=[
            {"role": "user", "content": "Weather in Paris?"},
            {"role": "assistant", "content": [
                {"type": "text", "text": "Let me check."},
                {"type": "tool_use", "id": "toolu_01A09q90qw90lq917835lq9", "name": CALL_1[0], "input": CALL_1[1]}]},
            {"role": "user", "content": [
                {"type": "tool_result", "tool_use_id": "toolu_01A09q90qw90lq917835lq9", "content": TOOL_RESULT_TEXT}]},
        ])
        eq(msg.content[0].text, "It is 18 degrees.", "text after the tool result")
        upstream_tool_round_trip_check(self.pair, upstream_body(self.pair))

    def image(self, kind):
        script(self.pair[2], {"type": "text", "text": "A cat."})
        source = ({"type": "base64", "media_type": "image/png", "data": PNG_B64} if kind == "b64"
                  else {"type": "url", "url": PNG_URL})
        msg = self.create(f"image_{kind}", messages=[{"role": "user", "content": [
            {"type": "text", "text": "What is this?"}, {"type": "image", "source": source}]}])
        eq(msg.content[0].text, "A cat.", "text")
        upstream_image_check(self.pair, upstream_body(self.pair), kind)

    def stream_text(self):
        script(self.pair[2], {"type": "text", "text": TEXT})
        texts, final = self.stream("stream_text")
        check(len(texts) >= 2, f"expected several text deltas, got {texts!r}")
        eq("".join(texts), TEXT, "streamed text")
        eq([b.type for b in final.content], ["text"], "final content types")
        eq(final.content[0].text, TEXT, "final text")
        eq(final.stop_reason, "end_turn", "stop_reason")
        anthropic_invariants(TEE.raw())
        check(upstream_body(self.pair).get("stream") is True, "upstream request is not streamed")

    def stream_tool(self):
        script(self.pair[2], tool_calls_spec(CALL_1, CALL_2))
        _, final = self.stream("stream_tool", tools=self.tools)
        eq(final.stop_reason, "tool_use", "stop_reason")
        uses = [b for b in final.content if b.type == "tool_use"]
        eq([(u.name, u.input) for u in uses], [CALL_1, CALL_2], "streamed tool calls")
        anthropic_invariants(TEE.raw())

    def usage(self):
        want = expected_usage(self.pair[2])["messages"]
        script(self.pair[2], {"type": "text", "text": TEXT, "usage": USAGE[self.pair[2]]})
        msg = self.create("usage", n=1)
        got = {k: getattr(msg.usage, k) for k in want}
        eq(got, want, "usage (JSON)")
        script(self.pair[2], {"type": "text", "text": TEXT, "usage": USAGE[self.pair[2]]})
        _, final = self.stream("usage", n=2)
        got = {k: getattr(final.usage, k) for k in want}
        eq(got, want, "usage (stream)")
        anthropic_invariants(TEE.raw())

    def err_429(self):
        script(self.pair[2], {"type": "error", "status": 429, "retry_after": "0"})
        try:
            self.stream("err_429")
        except anthropic.RateLimitError as e:
            eq(e.status_code, 429, "status")
            eq(e.body["error"]["type"], "rate_limit_error", "error type")
            check("rate limit" in e.message.lower(), f"upstream message lost: {e.message!r}")
            return
        raise Fail("no RateLimitError")

    def err_400(self):
        script(self.pair[2], {"type": "error", "status": 400})
        try:
            self.create("err_400")
        except anthropic.BadRequestError as e:
            eq(e.body["error"]["type"], "invalid_request_error", "error type")
            return
        raise Fail("no BadRequestError")

    def midstream_err(self):
        script(self.pair[2], "mid_stream_error")
        seen = []
        try:
            with ANTHROPIC.messages.stream(model=self.model, max_tokens=64, extra_headers=rid(self.pair, "midstream_err"),
                                           messages=[{"role": "user", "content": "hi"}]) as s:
                for t in s.text_stream:
                    seen.append(t)
        except anthropic.APIStatusError as e:
            check(isinstance(e.body, dict) and e.body.get("type") == "error", f"error body {e.body!r}")
            check(seen, "no text arrived before the error")
            evs = anthropic_invariants(TEE.raw(), expect_stop=False)
            eq(evs[-1]["type"], "error", "last event")
            check("message_stop" not in [d["type"] for d in evs], "message_stop after an error")
            return
        raise Fail("the stream ended without an error")

    def lossy(self):
        # Anthropic-only sampling and a signed thinking block cannot reach an
        # OpenAI upstream.
        script(self.pair[2], {"type": "text", "text": "ok"})
        raw = ANTHROPIC.messages.with_raw_response.create(
            model=self.model, max_tokens=64, extra_body={"top_k": 5}, extra_headers=rid(self.pair, "lossy"),
            messages=[{"role": "user", "content": "hi"},
                      {"role": "assistant", "content": [
                          {"type": "thinking", "thinking": "Let me think.", "signature": "c2lnbmF0dXJl"},
                          {"type": "text", "text": "Hello."}]},
                      {"role": "user", "content": "again"}])
        raw.parse()
        lossy = (raw.headers.get("x-switchyard-lossy") or "").split(",")
        check("top_k" in lossy, f"x-switchyard-lossy {lossy} lacks top_k")
        body = upstream_body(self.pair)
        if self.pair[2] == "chat":
            check("thinking" in lossy, f"x-switchyard-lossy {lossy} lacks thinking")
            check("reasoning_content" not in json.dumps(body), "thinking reached Chat")
        else:
            # Signature <-> encrypted_content, so a chain of thought that came
            # from a Responses upstream goes back to it intact.
            check("thinking" not in lossy, f"x-switchyard-lossy {lossy}: thinking was carried")
            items = [i for i in body["input"] if i.get("type") == "reasoning"]
            eq(len(items), 1, "reasoning items")
            eq(items[0].get("encrypted_content"), "c2lnbmF0dXJl", "encrypted_content")
            eq([s["text"] for s in items[0]["summary"]], ["Let me think."], "reasoning summary")


# =========================================================== Chat client


def chat_tool(name, schema, strict=False):
    fn = {"name": name, "description": f"{name} tool", "parameters": schema}
    if strict:
        fn["strict"] = True
    return {"type": "function", "function": fn}


class ChatClient:
    tools = [chat_tool(CALL_1[0], WEATHER_SCHEMA), chat_tool(CALL_2[0], TIME_SCHEMA)]
    strict_tools = [chat_tool(CALL_1[0], WEATHER_SCHEMA, True), chat_tool(CALL_2[0], TIME_SCHEMA, True)]

    def __init__(self, pair):
        self.pair = pair
        self.model = model_of(pair)

    def create(self, scenario, n=None, **kw):
        kw.setdefault("messages", [{"role": "user", "content": "Say something."}])
        completion = OPENAI.chat.completions.create(model=self.model, extra_headers=rid(self.pair, scenario, n), **kw)
        strict_body("chat")
        return completion

    def stream(self, scenario, n=None, **kw):
        kw.setdefault("messages", [{"role": "user", "content": "Say something."}])
        with OPENAI.chat.completions.stream(model=self.model, extra_headers=rid(self.pair, scenario, n), **kw) as s:
            deltas = [e.delta for e in s if e.type == "content.delta"]
            final = s.get_final_completion()
        return deltas, final

    def text(self):
        script(self.pair[2], {"type": "text", "text": TEXT})
        c = self.create("text")
        eq(c.object, "chat.completion", "object")
        eq(len(c.choices), 1, "choices")
        eq(c.choices[0].message.content, TEXT, "content")
        eq(c.choices[0].message.role, "assistant", "role")
        eq(c.choices[0].finish_reason, "stop", "finish_reason")
        upstream_body(self.pair)

    def tool_call(self):
        script(self.pair[2], tool_calls_spec(CALL_1))
        c = self.create("tool_call", tools=self.tools[:1])
        eq(c.choices[0].finish_reason, "tool_calls", "finish_reason")
        calls = c.choices[0].message.tool_calls
        eq(len(calls), 1, "tool_calls")
        eq(calls[0].type, "function", "type")
        eq(calls[0].function.name, CALL_1[0], "name")
        eq(json.loads(calls[0].function.arguments), CALL_1[1], "arguments")
        check(calls[0].id, "tool call without id")
        upstream_tools_check(self.pair, upstream_body(self.pair), strict=False)

    def parallel_tools(self):
        script(self.pair[2], tool_calls_spec(CALL_1, CALL_2))
        c = self.create("parallel_tools", tools=self.tools)
        eq(c.choices[0].finish_reason, "tool_calls", "finish_reason")
        calls = c.choices[0].message.tool_calls
        eq([(t.function.name, json.loads(t.function.arguments)) for t in calls], [CALL_1, CALL_2], "tool calls")
        check(len({t.id for t in calls}) == 2, "tool call ids are not distinct")

    def tool_result(self):
        script(self.pair[2], {"type": "text", "text": "It is 18 degrees."})
        # A colon and a dot: not a valid Anthropic id, must be rewritten consistently.
        call_id = "call:9f.x1"
        c = self.create("tool_result", tools=self.tools[:1], messages=[
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "Weather in Paris?"},
            {"role": "assistant", "content": None, "tool_calls": [
                {"id": call_id, "type": "function",
                 "function": {"name": CALL_1[0], "arguments": json.dumps(CALL_1[1])}}]},
            {"role": "tool", "tool_call_id": call_id, "content": TOOL_RESULT_TEXT},
        ])
        eq(c.choices[0].message.content, "It is 18 degrees.", "content after the tool result")
        upstream_tool_round_trip_check(self.pair, upstream_body(self.pair))

    def image(self, kind):
        script(self.pair[2], {"type": "text", "text": "A cat."})
        url = f"data:image/png;base64,{PNG_B64}" if kind == "b64" else PNG_URL
        c = self.create(f"image_{kind}", messages=[{"role": "user", "content": [
            {"type": "text", "text": "What is this?"}, {"type": "image_url", "image_url": {"url": url}}]}])
        eq(c.choices[0].message.content, "A cat.", "content")
        upstream_image_check(self.pair, upstream_body(self.pair), kind)

    def stream_text(self):
        script(self.pair[2], {"type": "text", "text": TEXT})
        deltas, final = self.stream("stream_text")
        check(len(deltas) >= 2, f"expected several deltas, got {deltas!r}")
        eq("".join(deltas), TEXT, "streamed content")
        eq(final.choices[0].message.content, TEXT, "final content")
        eq(final.choices[0].finish_reason, "stop", "finish_reason")
        chat_invariants(TEE.raw())
        check(upstream_body(self.pair).get("stream") is True, "upstream request is not streamed")

    def stream_tool(self):
        script(self.pair[2], tool_calls_spec(CALL_1, CALL_2))
        _, final = self.stream("stream_tool", tools=self.strict_tools)
        eq(final.choices[0].finish_reason, "tool_calls", "finish_reason")
        calls = final.choices[0].message.tool_calls
        eq([(t.function.name, t.function.parsed_arguments) for t in calls], [CALL_1, CALL_2], "parsed tool calls")
        _, raw_calls, finishes = chat_invariants(TEE.raw())
        eq([(c["name"], json.loads(c["arguments"])) for c in raw_calls], [CALL_1, CALL_2], "raw tool calls")
        eq(finishes, ["tool_calls"], "raw finish_reason")
        upstream_tools_check(self.pair, upstream_body(self.pair), strict=True)

    def usage(self):
        want = expected_usage(self.pair[2])["openai"]

        def got_of(u):
            return {"input": u.prompt_tokens, "output": u.completion_tokens, "total": u.total_tokens,
                    "cached": u.prompt_tokens_details.cached_tokens,
                    "cache_write": u.prompt_tokens_details.cache_write_tokens,
                    "reasoning": u.completion_tokens_details.reasoning_tokens}

        script(self.pair[2], {"type": "text", "text": TEXT, "usage": USAGE[self.pair[2]]})
        eq(got_of(self.create("usage", n=1).usage), want, "usage (JSON)")
        script(self.pair[2], {"type": "text", "text": TEXT, "usage": USAGE[self.pair[2]]})
        _, final = self.stream("usage", n=2, stream_options={"include_usage": True})
        eq(got_of(final.usage), want, "usage (stream)")
        chat_invariants(TEE.raw(), include_usage=True)
        # Without include_usage, no usage chunk.
        script(self.pair[2], {"type": "text", "text": TEXT, "usage": USAGE[self.pair[2]]})
        self.stream("usage", n=3)
        chunks, _, _ = chat_invariants(TEE.raw())
        check(all(c["choices"] for c in chunks), "usage chunk sent without stream_options.include_usage")

    def err_429(self):
        script(self.pair[2], {"type": "error", "status": 429, "retry_after": "0"})
        try:
            self.stream("err_429")
        except openai.RateLimitError as e:
            eq(e.status_code, 429, "status")
            check("rate limit" in e.message.lower(), f"upstream message lost: {e.message!r}")
            return
        raise Fail("no RateLimitError")

    def err_400(self):
        script(self.pair[2], {"type": "error", "status": 400})
        try:
            self.create("err_400")
        except openai.BadRequestError as e:
            eq(e.status_code, 400, "status")
            eq(e.body.get("type") if isinstance(e.body, dict) else None, "invalid_request_error", "error type")
            return
        raise Fail("no BadRequestError")

    def midstream_err(self):
        script(self.pair[2], "mid_stream_error")
        seen = []
        try:
            with OPENAI.chat.completions.stream(model=self.model, extra_headers=rid(self.pair, "midstream_err"),
                                                messages=[{"role": "user", "content": "hi"}]) as s:
                for e in s:
                    if e.type == "content.delta":
                        seen.append(e.delta)
        except openai.APIError as e:
            check(not isinstance(e, openai.APIStatusError), f"unexpected HTTP status error {e!r}")
            check(seen, "no content arrived before the error")
            chunks, _, _ = chat_invariants(TEE.raw(), expect_done=False)
            check("error" in chunks[-1], "last chunk is not an error")
            check("[DONE]" not in TEE.raw(), "[DONE] after an error")
            return
        raise Fail("the stream ended without an error")

    def lossy(self):
        if self.pair[2] == "messages":
            # A signed thinking block reaches Chat without its signature.
            script(self.pair[2], {"type": "thinking", "thinking": "Hmm, let me see.", "signature": "c2ln",
                                  "text": "Answer."})
            raw = OPENAI.chat.completions.with_raw_response.create(
                model=self.model, extra_headers=rid(self.pair, "lossy"), frequency_penalty=0.5,
                messages=[{"role": "user", "content": "hi"}])
            c = raw.parse()
            eq(c.choices[0].message.content, "Answer.", "content")
            eq((c.choices[0].message.model_extra or {}).get("reasoning_content"), "Hmm, let me see.",
               "reasoning_content")
            want = ["frequency_penalty", "thinking.signature"]
        else:
            script(self.pair[2], {"type": "text", "text": "ok"})
            raw = OPENAI.chat.completions.with_raw_response.create(
                model=self.model, extra_headers=rid(self.pair, "lossy"), stop=["END"],
                messages=[{"role": "user", "content": "hi"}])
            raw.parse()
            want = ["stop_sequences"]
        lossy = (raw.headers.get("x-switchyard-lossy") or "").split(",")
        for name in want:
            check(name in lossy, f"x-switchyard-lossy {lossy} lacks {name}")


# ====================================================== Responses client


def responses_tool(name, schema):
    return {"type": "function", "name": name, "description": f"{name} tool", "parameters": schema, "strict": False}


class ResponsesClient:
    tools = [responses_tool(CALL_1[0], WEATHER_SCHEMA), responses_tool(CALL_2[0], TIME_SCHEMA)]

    def __init__(self, pair):
        self.pair = pair
        self.model = model_of(pair)

    def create(self, scenario, n=None, **kw):
        kw.setdefault("input", "Say something.")
        response = OPENAI.responses.create(model=self.model, extra_headers=rid(self.pair, scenario, n), **kw)
        strict_body("responses")
        return response

    def stream(self, scenario, n=None, **kw):
        kw.setdefault("input", "Say something.")
        with OPENAI.responses.stream(model=self.model, extra_headers=rid(self.pair, scenario, n), **kw) as s:
            events = list(s)
            final = s.get_final_response()
        return events, final

    def text(self):
        script(self.pair[2], {"type": "text", "text": TEXT})
        r = self.create("text", temperature=0.25, top_p=0.5)
        eq(r.object, "response", "object")
        eq(r.status, "completed", "status")
        eq(r.output_text, TEXT, "output_text")
        eq([i.type for i in r.output], ["message"], "output item types")
        # Like OpenAI's, the response repeats the request's parameters.
        eq((r.temperature, r.top_p), (0.25, 0.5), "echoed temperature and top_p")
        upstream_body(self.pair)

    def function_calls(self, r):
        return [(i.name, json.loads(i.arguments), i.call_id) for i in r.output if i.type == "function_call"]

    def tool_call(self):
        script(self.pair[2], tool_calls_spec(CALL_1))
        r = self.create("tool_call", tools=self.tools[:1])
        eq(r.status, "completed", "status")
        calls = self.function_calls(r)
        eq([c[:2] for c in calls], [CALL_1], "function calls")
        check(calls[0][2], "function_call without call_id")
        upstream_tools_check(self.pair, upstream_body(self.pair), strict=False)

    def parallel_tools(self):
        script(self.pair[2], tool_calls_spec(CALL_1, CALL_2))
        r = self.create("parallel_tools", tools=self.tools)
        calls = self.function_calls(r)
        eq([c[:2] for c in calls], [CALL_1, CALL_2], "function calls")
        check(len({c[2] for c in calls}) == 2, "call ids are not distinct")

    def tool_result(self):
        script(self.pair[2], {"type": "text", "text": "It is 18 degrees."})
        r = self.create("tool_result", tools=self.tools[:1], instructions="Be brief.", input=[
            {"role": "user", "content": "Weather in Paris?"},
            {"type": "function_call", "call_id": "call_Rx81", "name": CALL_1[0], "arguments": json.dumps(CALL_1[1])},
            {"type": "function_call_output", "call_id": "call_Rx81", "output": TOOL_RESULT_TEXT},
        ])
        eq(r.output_text, "It is 18 degrees.", "text after the tool result")
        eq(r.instructions, "Be brief.", "echoed instructions")
        eq([t.name for t in r.tools], [CALL_1[0]], "echoed tools")
        upstream_tool_round_trip_check(self.pair, upstream_body(self.pair))

    def image(self, kind):
        script(self.pair[2], {"type": "text", "text": "A cat."})
        url = f"data:image/png;base64,{PNG_B64}" if kind == "b64" else PNG_URL
        r = self.create(f"image_{kind}", input=[{"role": "user", "content": [
            {"type": "input_text", "text": "What is this?"},
            {"type": "input_image", "image_url": url, "detail": "auto"}]}])
        eq(r.output_text, "A cat.", "output_text")
        upstream_image_check(self.pair, upstream_body(self.pair), kind)

    def stream_text(self):
        script(self.pair[2], {"type": "text", "text": TEXT})
        events, final = self.stream("stream_text")
        deltas = [e.delta for e in events if e.type == "response.output_text.delta"]
        check(len(deltas) >= 2, f"expected several deltas, got {deltas!r}")
        eq("".join(deltas), TEXT, "streamed text")
        eq(final.output_text, TEXT, "final output_text")
        eq(final.status, "completed", "status")
        responses_invariants(TEE.raw())
        check(upstream_body(self.pair).get("stream") is True, "upstream request is not streamed")

    def stream_tool(self):
        script(self.pair[2], tool_calls_spec(CALL_1, CALL_2))
        events, final = self.stream("stream_tool", tools=self.tools)
        eq([c[:2] for c in self.function_calls(final)], [CALL_1, CALL_2], "streamed function calls")
        created = next(e for e in events if e.type == "response.created")
        names = [t["name"] for t in self.tools]
        eq([t.name for t in created.response.tools], names, "tools echoed in response.created")
        eq([t.name for t in final.tools], names, "tools echoed in the final response")
        done = [e for e in events if e.type == "response.function_call_arguments.done"]
        eq([json.loads(e.arguments) for e in done], [CALL_1[1], CALL_2[1]], "arguments.done events")
        responses_invariants(TEE.raw())

    def usage(self):
        want = expected_usage(self.pair[2])["openai"]

        def got_of(u):
            return {"input": u.input_tokens, "output": u.output_tokens, "total": u.total_tokens,
                    "cached": u.input_tokens_details.cached_tokens,
                    "cache_write": u.input_tokens_details.cache_write_tokens,
                    "reasoning": u.output_tokens_details.reasoning_tokens}

        script(self.pair[2], {"type": "text", "text": TEXT, "usage": USAGE[self.pair[2]]})
        eq(got_of(self.create("usage", n=1).usage), want, "usage (JSON)")
        script(self.pair[2], {"type": "text", "text": TEXT, "usage": USAGE[self.pair[2]]})
        _, final = self.stream("usage", n=2)
        eq(got_of(final.usage), want, "usage (stream)")
        responses_invariants(TEE.raw())

    def err_429(self):
        script(self.pair[2], {"type": "error", "status": 429, "retry_after": "0"})
        try:
            self.stream("err_429")
        except openai.RateLimitError as e:
            eq(e.status_code, 429, "status")
            check("rate limit" in e.message.lower(), f"upstream message lost: {e.message!r}")
            return
        raise Fail("no RateLimitError")

    def err_400(self):
        script(self.pair[2], {"type": "error", "status": 400})
        try:
            self.create("err_400")
        except openai.BadRequestError as e:
            eq(e.status_code, 400, "status")
            return
        raise Fail("no BadRequestError")

    def midstream_err(self):
        script(self.pair[2], "mid_stream_error")
        types, deltas = [], []
        try:
            with OPENAI.responses.stream(model=self.model, input="hi",
                                         extra_headers=rid(self.pair, "midstream_err")) as s:
                for e in s:
                    types.append(e.type)
                    if e.type == "response.output_text.delta":
                        deltas.append(e.delta)
                s.get_final_response()
        except (openai.APIError, RuntimeError) as e:
            check(deltas, "no text arrived before the error")
            check("error" in types, f"no error event in {types}")
            eq(types[-1], "response.failed", "last event")
            responses_invariants(TEE.raw(), terminal="response.failed")
            check("completed" not in str(e) or isinstance(e, RuntimeError), f"unexpected {e!r}")
            return
        raise Fail("the stream ended without an error")

    def lossy(self):
        if self.pair[2] == "chat":
            # A reasoning item with encrypted content cannot go to Chat.
            extra = {"input": [
                {"role": "user", "content": "hi"},
                {"type": "reasoning", "id": "rs_1", "summary": [{"type": "summary_text", "text": "thought"}],
                 "encrypted_content": "ZW5j"},
                {"role": "assistant", "content": "Hello."},
                {"role": "user", "content": "again"}]}
            want = ["thinking"]
        else:
            extra = {"input": "hi", "text": {"verbosity": "low"}}
            want = ["verbosity"]
        script(self.pair[2], {"type": "text", "text": "ok"})
        raw = OPENAI.responses.with_raw_response.create(model=self.model, extra_headers=rid(self.pair, "lossy"),
                                                        **extra)
        raw.parse()
        lossy = (raw.headers.get("x-switchyard-lossy") or "").split(",")
        for name in want:
            check(name in lossy, f"x-switchyard-lossy {lossy} lacks {name}")


CLIENTS = {"messages": MessagesClient, "chat": ChatClient, "responses": ResponsesClient}


def run_cell(client, scenario):
    if scenario == "image_b64":
        return client.image("b64")
    if scenario == "image_url":
        return client.image("url")
    return getattr(client, scenario)()


def main():
    results = {}
    for pair in PAIRS:
        client = CLIENTS[pair[1]](pair)
        row = results[pair[0]] = {}
        for scenario in SCENARIOS:
            try:
                run_cell(client, scenario)
                row[scenario] = "ok"
            except Exception as e:  # every failure is a red cell, with its reason
                detail = "".join(traceback.format_exception_only(type(e), e)).strip()
                row[scenario] = detail
                print(f"FAIL {pair[0]} {scenario}: {detail}", file=sys.stderr)
                traceback.print_exc(file=sys.stderr)
    width = max(len(p[0]) for p in PAIRS)
    header = "pair".ljust(width) + " | " + " | ".join(SCENARIOS)
    print(header)
    print("-" * len(header))
    for pair in PAIRS:
        cells = []
        for s in SCENARIOS:
            mark = "\u2713" if results[pair[0]][s] == "ok" else "\u2717"
            cells.append(mark.center(len(s)))
        print(pair[0].ljust(width) + " | " + " | ".join(cells))
    failed = {f"{p}/{s}": r for p, row in results.items() for s, r in row.items() if r != "ok"}
    summary = {
        "pairs": [p[0] for p in PAIRS],
        "scenarios": SCENARIOS,
        "cells": len(PAIRS) * len(SCENARIOS),
        "passed": len(PAIRS) * len(SCENARIOS) - len(failed),
        "failed": failed,
        "results": results,
    }
    print("CONFORMANCE_SUMMARY " + json.dumps(summary, ensure_ascii=False))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
