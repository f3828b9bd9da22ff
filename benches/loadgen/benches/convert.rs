//! MB/s of upstream SSE turned into the client's protocol, as the gateway
//! does it: parse (`switchyard::sse::SseParser`), convert
//! (`switchyard::convert::stream_converter`), serialise each client event.
//! The same-protocol case is the pass-through converter, for reference.
//!
//! And MB/s of coding-agent-sized requests (100 KB: tool definitions and a
//! long conversation) converted as the gateway does it: bytes to tree,
//! convert, tree to bytes.
//!
//! `cargo bench -p loadgen --bench convert`

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use loadgen::bodies::{agent_body, Api};
use switchyard::convert::{convert_request, stream_converter, Protocol, StreamContext};
use switchyard::sse::SseParser;

/// A 200-delta stream in `from`'s protocol, split in one chunk per event as
/// an upstream flushes it.
fn upstream(from: Protocol) -> Vec<bytes::Bytes> {
    match from {
        Protocol::OpenAiChat => loadgen::upstream::chat_sse(200),
        _ => loadgen::upstream::messages_sse(200),
    }
}

fn convert_all(from: Protocol, to: Protocol, chunks: &[bytes::Bytes]) -> usize {
    let mut parser = SseParser::new();
    let ctx = StreamContext {
        model: "bench".into(),
        estimated_input_tokens: 25,
        include_usage: true,
        ..Default::default()
    };
    let mut conv = stream_converter(from, to, ctx);
    let mut out = 0;
    for chunk in chunks {
        for ev in parser.push(chunk) {
            for e in conv.push(&ev) {
                out += e.to_bytes().len();
            }
        }
    }
    for e in conv.finish() {
        out += e.to_bytes().len();
    }
    out
}

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("sse_convert");
    let pairs = [
        (Protocol::OpenAiChat, Protocol::AnthropicMessages),
        (Protocol::AnthropicMessages, Protocol::OpenAiChat),
        (Protocol::OpenAiChat, Protocol::OpenAiResponses),
        (Protocol::AnthropicMessages, Protocol::OpenAiResponses),
        (Protocol::OpenAiChat, Protocol::OpenAiChat),
        (Protocol::AnthropicMessages, Protocol::AnthropicMessages),
    ];
    for (from, to) in pairs {
        let chunks = upstream(from);
        let bytes: usize = chunks.iter().map(|c| c.len()).sum();
        // Guard against benchmarking a converter that drops everything.
        assert!(convert_all(from, to, &chunks) > 0);
        g.throughput(Throughput::Bytes(bytes as u64));
        g.bench_with_input(
            BenchmarkId::from_parameter(format!("{}->{}", from.name(), to.name())),
            &chunks,
            |b, chunks| b.iter(|| convert_all(from, to, chunks)),
        );
    }
    g.finish();
}

fn convert_body(from: Protocol, to: Protocol, body: &[u8]) -> usize {
    let Ok(tree) = serde_json::from_slice::<serde_json::Value>(body) else {
        return 0;
    };
    convert_request(from, to, tree)
        .ok()
        .and_then(|c| serde_json::to_vec(&c.body).ok())
        .map_or(0, |b| b.len())
}

fn bench_requests(c: &mut Criterion) {
    let mut g = c.benchmark_group("request_convert");
    let pairs = [
        (
            Api::Messages,
            Protocol::AnthropicMessages,
            Protocol::OpenAiChat,
        ),
        (
            Api::Messages,
            Protocol::AnthropicMessages,
            Protocol::OpenAiResponses,
        ),
        (Api::Chat, Protocol::OpenAiChat, Protocol::AnthropicMessages),
        (
            Api::Responses,
            Protocol::OpenAiResponses,
            Protocol::OpenAiChat,
        ),
    ];
    for (api, from, to) in pairs {
        let body = agent_body("bench", false, api, 100 * 1024);
        // Guard against benchmarking a conversion that fails.
        assert!(convert_body(from, to, &body) > 0);
        g.throughput(Throughput::Bytes(body.len() as u64));
        g.bench_with_input(
            BenchmarkId::from_parameter(format!("{}->{}", from.name(), to.name())),
            &body,
            |b, body| b.iter(|| convert_body(from, to, body)),
        );
    }
    g.finish();
}

criterion_group!(benches, bench, bench_requests);
criterion_main!(benches);
