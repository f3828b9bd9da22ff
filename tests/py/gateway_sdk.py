"""Drives the gateway door with the official SDKs (base_url = switchyard) and
checks that their own error classes recognise switchyard's error bodies.
Prints one JSON object of results; exits non-zero on the first failure."""
import json
import sys

import anthropic
import openai

base = sys.argv[1]
results = {}


def check(name, cond, detail=""):
    results[name] = bool(cond)
    if not cond:
        print(json.dumps(results))
        sys.exit(f"{name} failed: {detail}")


a = anthropic.Anthropic(base_url=base, api_key="sk-ant-sdk-dummy-key", max_retries=0)
o = openai.OpenAI(base_url=base + "/v1", api_key="sk-sdk-dummy-key", max_retries=0)
msgs = [{"role": "user", "content": "hi"}]

m = a.messages.create(model="claude-happy", max_tokens=16, messages=msgs)
check("anthropic_happy", m.content and m.content[0].text, m)

c = o.chat.completions.create(model="gpt-happy", messages=msgs)
check("openai_happy", c.choices[0].message.content, c)

# The route for limited-* allows one request a minute; the second gets
# switchyard's own 503 in each protocol's shape.
a.messages.create(model="limited-claude", max_tokens=16, messages=msgs)
try:
    a.messages.create(model="limited-claude", max_tokens=16, messages=msgs)
    check("anthropic_503", False, "no error raised")
except anthropic.InternalServerError as e:
    check("anthropic_503", e.status_code == 503 and e.body["error"]["type"] == "overloaded_error", e.body)
    check("anthropic_503_retry_after", e.response.headers.get("retry-after"), e.response.headers)

o.chat.completions.create(model="limited-gpt", messages=msgs)
try:
    o.chat.completions.create(model="limited-gpt", messages=msgs)
    check("openai_503", False, "no error raised")
except openai.InternalServerError as e:
    check("openai_503", e.status_code == 503 and "rate-limited" in e.message, e.message)

# An OpenAI-shaped 429 from an openai_chat provider, converted for an
# Anthropic client.
try:
    a.messages.create(model="conv-429", max_tokens=16, messages=msgs)
    check("anthropic_429_converted", False, "no error raised")
except anthropic.RateLimitError as e:
    check("anthropic_429_converted", e.status_code == 429 and e.body["error"]["type"] == "rate_limit_error", e.body)

try:
    o.chat.completions.create(model="gpt-429", messages=msgs)
    check("openai_429", False, "no error raised")
except openai.RateLimitError as e:
    check("openai_429", e.status_code == 429, e)

# switchyard's own 400s.
try:
    a.messages.create(model="claude-happy", max_tokens=16, messages=msgs, extra_body={"model": 5})
    check("anthropic_400", False, "no error raised")
except anthropic.BadRequestError as e:
    check("anthropic_400", e.body["error"]["type"] == "invalid_request_error" and "model" in e.body["error"]["message"], e.body)

try:
    o.responses.create(model="conv-responses-to-chat", input="hi", previous_response_id="resp_123")
    check("openai_400", False, "no error raised")
except openai.BadRequestError as e:
    check("openai_400", e.status_code == 400 and "previous_response_id" in e.message, e.message)

print(json.dumps(results))
