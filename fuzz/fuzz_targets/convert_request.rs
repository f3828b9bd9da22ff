//! Client request in one protocol -> upstream request in another; and the
//! gateway's one-pass reading of the same body (`convert::peek`).
#![no_main]

use libfuzzer_sys::fuzz_target;
use serde_json::Value;
use switchyard::convert::convert_request;
use switchyard_fuzz::split;

fuzz_target!(|data: &[u8]| {
    let Some(((from, to), payload)) = split(data) else {
        return;
    };
    let peeked = switchyard::convert::peek::peek(payload);
    let Ok(body) = serde_json::from_slice::<Value>(payload) else {
        assert!(peeked.is_err(), "peek accepted what the tree refused");
        return;
    };
    let _ = switchyard::convert::estimate_input_tokens(&body);
    // The one-pass reading routes requests; it must see what the tree sees.
    match peeked {
        Ok(p) => {
            assert_eq!(
                p.model.as_deref(),
                body.get("model").and_then(Value::as_str)
            );
            assert_eq!(
                p.stream,
                body.get("stream").and_then(Value::as_bool).unwrap_or(false)
            );
        }
        Err(e) => assert!(!body.is_object(), "peek refused an object: {e}"),
    }
    let Ok(converted) = convert_request(from, to, body) else {
        return;
    };
    assert!(
        converted.body.is_object(),
        "{from:?}->{to:?} made {}",
        converted.body
    );
    // What we send upstream must be input the upstream protocol's decoder
    // accepts (it is the same grammar the real API enforces).
    let back = convert_request(to, from, converted.body.clone());
    assert!(
        back.is_ok(),
        "{from:?}->{to:?} output does not decode as {to:?}: {:?}\n{}",
        back.err(),
        converted.body
    );
});
