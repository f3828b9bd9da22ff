//! Client request in one protocol -> upstream request in another.
#![no_main]

use libfuzzer_sys::fuzz_target;
use serde_json::Value;
use switchyard::convert::convert_request;
use switchyard_fuzz::split;

fuzz_target!(|data: &[u8]| {
    let Some(((from, to), payload)) = split(data) else {
        return;
    };
    let Ok(body) = serde_json::from_slice::<Value>(payload) else {
        return;
    };
    let _ = switchyard::convert::estimate_input_tokens(&body);
    let Ok(converted) = convert_request(from, to, &body) else {
        return;
    };
    assert!(
        converted.body.is_object(),
        "{from:?}->{to:?} made {}",
        converted.body
    );
    // What we send upstream must be input the upstream protocol's decoder
    // accepts (it is the same grammar the real API enforces).
    let back = convert_request(to, from, &converted.body);
    assert!(
        back.is_ok(),
        "{from:?}->{to:?} output does not decode as {to:?}: {:?}\n{}",
        back.err(),
        converted.body
    );
});
