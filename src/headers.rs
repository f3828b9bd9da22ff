//! Header hygiene between client and upstream: hop-by-hop headers never
//! cross (RFC 9110 §7.6.1, plus `Proxy-Connection` and `Proxy-Authorization`);
//! everything else, `anthropic-beta` and `user-agent` included, passes as is.

use http::header::{self, HeaderMap, HeaderName};

/// Headers that describe one connection, not the message.
/// Parsed once: removing by `&str` would parse each name on every request.
static HOP_BY_HOP: [HeaderName; 9] = [
    header::CONNECTION,
    HeaderName::from_static("keep-alive"),
    HeaderName::from_static("proxy-connection"),
    header::PROXY_AUTHENTICATE,
    header::PROXY_AUTHORIZATION,
    header::TE,
    header::TRAILER,
    header::TRANSFER_ENCODING,
    header::UPGRADE,
];

/// Removes hop-by-hop headers, including any the `Connection` header names.
pub fn strip_hop_by_hop(headers: &mut HeaderMap) {
    // Messages rarely carry any: one walk over their few names (compared as
    // enum tags, mostly) is cheaper than nine hashed removals.
    if !headers.keys().any(|name| HOP_BY_HOP.contains(name)) {
        return;
    }
    if headers.contains_key(header::CONNECTION) {
        strip_connection_named(headers);
    }
    for name in &HOP_BY_HOP {
        headers.remove(name);
    }
}

fn strip_connection_named(headers: &mut HeaderMap) {
    let named: Vec<HeaderName> = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|name| HeaderName::from_bytes(name.trim().as_bytes()).ok())
        .collect();
    for name in named {
        headers.remove(name);
    }
}

/// Names switchyard reads or sets on every request, parsed once: a `&str`
/// name is parsed (and checked) again at each lookup.
pub const X_API_KEY: HeaderName = HeaderName::from_static("x-api-key");
pub const API_KEY: HeaderName = HeaderName::from_static("api-key");
pub const ANTHROPIC_VERSION: HeaderName = HeaderName::from_static("anthropic-version");
pub const X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Headers whose values are credentials; used to collect what must be
/// redacted from audit bodies. Names, not strings: a `&str` is parsed and
/// checked again at every lookup, on every request.
pub static CREDENTIAL_HEADERS: [HeaderName; 6] = [
    header::AUTHORIZATION,
    X_API_KEY,
    API_KEY,
    header::PROXY_AUTHORIZATION,
    header::COOKIE,
    HeaderName::from_static("x-goog-api-key"),
];

/// The credential values a request carries (for redaction), including the
/// bare token after `Bearer `/`Basic `.
pub fn credential_values(headers: &HeaderMap) -> Vec<String> {
    let mut out = Vec::new();
    // One walk over the (few) headers a request has beats six hashed
    // lookups of names it mostly lacks.
    for (name, value) in headers {
        if !CREDENTIAL_HEADERS.contains(name) {
            continue;
        }
        let Ok(value) = value.to_str() else { continue };
        out.push(value.to_owned());
        if let Some((_, token)) = value.split_once(' ') {
            out.push(token.trim().to_owned());
        }
        if name == header::COOKIE {
            out.extend(
                value
                    .split(';')
                    .filter_map(|c| c.split_once('='))
                    .map(|(_, v)| v.trim().to_owned()),
            );
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    #[test]
    fn strips_hop_by_hop_and_connection_named_headers_only() {
        let mut h = HeaderMap::new();
        for (k, v) in [
            ("connection", "keep-alive, x-drop-me"),
            ("keep-alive", "timeout=5"),
            ("proxy-connection", "keep-alive"),
            ("proxy-authorization", "Basic abc"),
            ("te", "trailers"),
            ("x-drop-me", "1"),
            ("anthropic-beta", "tools-2024"),
            ("user-agent", "claude-cli/1.0"),
        ] {
            h.insert(HeaderName::from_static(k), HeaderValue::from_static(v));
        }
        strip_hop_by_hop(&mut h);
        let left: Vec<_> = h.keys().map(|k| k.as_str()).collect();
        assert_eq!(left, ["anthropic-beta", "user-agent"]);
    }

    /// Each alone, so that the walk deciding whether to strip sees it.
    #[test]
    fn strips_every_hop_by_hop_header_on_its_own() {
        for name in &HOP_BY_HOP {
            let mut h = HeaderMap::new();
            h.insert(name.clone(), HeaderValue::from_static("x"));
            h.insert("x-keep", HeaderValue::from_static("1"));
            strip_hop_by_hop(&mut h);
            let left: Vec<_> = h.keys().map(|k| k.as_str()).collect();
            assert_eq!(left, ["x-keep"], "{name} crossed");
        }
    }

    #[test]
    fn collects_credential_values() {
        let mut h = HeaderMap::new();
        h.insert(
            "authorization",
            HeaderValue::from_static("Bearer tok-123456"),
        );
        h.append(
            "authorization",
            HeaderValue::from_static("Basic second-777777"),
        );
        h.insert("cookie", HeaderValue::from_static("a=sess-999999; b=2"));
        h.insert("x-api-key", HeaderValue::from_static("sk-key-555555"));
        h.insert("x-other", HeaderValue::from_static("not-a-secret"));
        let v = credential_values(&h);
        for secret in [
            "tok-123456",
            "second-777777",
            "sess-999999",
            "sk-key-555555",
        ] {
            assert!(
                v.contains(&secret.to_string()),
                "{secret} missing from {v:?}"
            );
        }
        assert!(!v.contains(&"not-a-secret".to_string()), "{v:?}");
    }
}
