//! Header handling on arbitrary input: hop-by-hop stripping, credential
//! extraction and client authentication, secret redaction, path
//! classification and the upstream proxy URL parser.
#![no_main]

use http::header::{HeaderMap, HeaderName, HeaderValue};
use libfuzzer_sys::fuzz_target;
use switchyard::access::Clients;
use switchyard::audit::redact::{redact, MASK};
use switchyard::headers::{credential_values, strip_hop_by_hop};
use switchyard::protocol::Protocol;
use switchyard::upstream::UpstreamProxy;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let mut headers = HeaderMap::new();
    for line in text.split('\n') {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        if let (Ok(n), Ok(v)) = (
            HeaderName::from_bytes(name.trim().as_bytes()),
            HeaderValue::from_str(value.trim()),
        ) {
            headers.append(n, v);
        }
    }
    let secrets = credential_values(&headers);
    let mut clients = Clients::default();
    clients.add_token("fuzz", "fuzz-token");
    let mut copy = headers.clone();
    let _ = clients.take_proxy_auth(&mut copy);
    let _ = clients.take_gateway_auth(&mut copy);
    strip_hop_by_hop(&mut headers);
    for name in [
        "connection",
        "keep-alive",
        "proxy-authorization",
        "transfer-encoding",
        "upgrade",
        "te",
    ] {
        assert!(!headers.contains_key(name), "{name} survived stripping");
    }
    let refs: Vec<&str> = secrets.iter().map(String::as_str).collect();
    let clean = redact(&text, &refs);
    // The mask itself may spell a credential ("[REDACTED]" sent as a
    // cookie): what must not survive is a credential outside the masks.
    // Header values hold no newline, so the split cannot join two halves.
    let unmasked = clean.replace(MASK, "\n");
    for s in refs.iter().filter(|s| s.len() >= 6) {
        assert!(!unmasked.contains(s), "a credential survived redaction");
    }
    let _ = Protocol::from_path(&text);
    let _ = UpstreamProxy::parse(&text);
});
