//! Upstream non-streaming response -> the client's protocol.
#![no_main]

use libfuzzer_sys::fuzz_target;
use serde_json::Value;
use switchyard::convert::convert_response;
use switchyard_fuzz::split;

fuzz_target!(|data: &[u8]| {
    let Some(((from, to), payload)) = split(data) else {
        return;
    };
    let Ok(body) = serde_json::from_slice::<Value>(payload) else {
        return;
    };
    let Ok(converted) = convert_response(from, to, body) else {
        return;
    };
    assert!(converted.body.is_object());
    if from != to {
        // A converted response must itself be a response of the client's protocol.
        let again = convert_response(to, from, converted.body.clone());
        assert!(
            again.is_ok(),
            "{from:?}->{to:?} output is not a {to:?} response: {:?}\n{}",
            again.err(),
            converted.body
        );
    }
});
