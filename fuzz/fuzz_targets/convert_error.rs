//! Upstream error bytes (any status, any body) -> the client's error shape.
#![no_main]

use libfuzzer_sys::fuzz_target;
use switchyard::convert::{convert_error, Protocol};
use switchyard_fuzz::split;

fuzz_target!(|data: &[u8]| {
    let Some(((from, to), rest)) = split(data) else {
        return;
    };
    let Some((status, body)) = rest.split_at_checked(2) else {
        return;
    };
    let status = u16::from_be_bytes([status[0], status[1]]) % 600;
    let v = convert_error(from, to, status, body);
    let err = &v["error"];
    assert!(err["message"].is_string(), "{v}");
    assert!(err["type"].is_string(), "{v}");
    if to == Protocol::AnthropicMessages {
        assert_eq!(v["type"], "error", "{v}");
    }
});
