//! Upstream SSE bytes, cut into arbitrary chunks -> the client's stream.
//! The output must keep the client protocol's stream invariants.
#![no_main]

use libfuzzer_sys::fuzz_target;
use switchyard::convert::{stream_converter, StreamContext};
use switchyard::sse::SseParser;
use switchyard_fuzz::{check_stream, split};

fuzz_target!(|data: &[u8]| {
    let Some(((from, to), rest)) = split(data) else {
        return;
    };
    // Second byte: chunk size (1..=64) and whether the stream fails at the end.
    let Some((&shape, payload)) = rest.split_first() else {
        return;
    };
    let chunk = usize::from(shape % 64) + 1;
    let ctx = StreamContext {
        model: "fuzz".into(),
        estimated_input_tokens: 7,
        include_usage: shape & 0x40 != 0,
        ..Default::default()
    };
    let mut converter = stream_converter(from, to, ctx);
    let mut parser = SseParser::new();
    let mut out = Vec::new();
    for piece in payload.chunks(chunk) {
        for event in parser.push(piece) {
            out.extend(converter.push(&event));
        }
    }
    for event in parser.finish() {
        out.extend(converter.push(&event));
    }
    if shape & 0x80 != 0 {
        out.extend(converter.fail("fuzz failure"));
    }
    out.extend(converter.finish());
    // Nothing after the end, ever.
    assert!(converter
        .push(&switchyard::sse::SseEvent::data("{}"))
        .is_empty());
    if from != to {
        check_stream(to, &out);
    }
});
