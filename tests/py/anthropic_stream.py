"""Streams a message with the official anthropic SDK, configured only by the
environment `switchyard env` prints (HTTPS_PROXY, SSL_CERT_FILE, ...).
Prints the final message as JSON for the Rust test to check."""
import json
import os
import sys

import anthropic

client = anthropic.Anthropic(api_key=os.environ["TEST_CLIENT_KEY"], max_retries=0)
with client.messages.stream(
    model=sys.argv[1] if len(sys.argv) > 1 else "claude-sonnet-4-5",
    max_tokens=128,
    messages=[{"role": "user", "content": "Say hello"}],
) as stream:
    deltas = [text for text in stream.text_stream]
    final = stream.get_final_message()

print(json.dumps({
    "deltas": len(deltas),
    "text": "".join(b.text for b in final.content if b.type == "text"),
    "stop_reason": final.stop_reason,
    "input_tokens": final.usage.input_tokens,
    "output_tokens": final.usage.output_tokens,
}))
