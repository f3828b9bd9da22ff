//! A record as the audit file's JSON line, written by hand.
//!
//! The derived serialiser (still used for the live page and PostgreSQL)
//! escapes strings a byte at a time, and the two bodies are most of a line:
//! it was ~1.2 µs of every intercepted request. This writer copies runs that
//! need no escaping eight bytes at a time. The tests hold it to the derived
//! serialiser's bytes, so both stay one format.

use super::record::{Record, Usage};

/// Appends `record` as one JSON object (no newline) to `out`.
pub fn write(record: &Record, out: &mut Vec<u8>) {
    // Destructured so that a new field fails to compile here until it is
    // written (or deliberately skipped).
    let Record {
        ts,
        id,
        kind,
        client,
        client_name,
        host,
        port,
        method,
        path,
        protocol,
        model,
        route,
        provider,
        credential,
        upstream_model,
        status,
        stream,
        duration_ms,
        ttfb_ms,
        request_bytes,
        response_bytes,
        usage,
        cost_usd,
        error,
        request_body,
        response_body,
        request_id,
        user_agent,
        lossy,
        failover,
        inflight: _,
        ws_messages_in,
        ws_messages_out,
    } = record;
    out.reserve(512 + body_len(request_body) + body_len(response_body));
    let mut obj = Object::open(out);
    obj.key("ts").string(ts);
    obj.key("id").string(id);
    obj.key("kind").string(kind.name());
    obj.key("client").string(client);
    obj.key("client_name").opt_string(client_name.as_deref());
    obj.key("host").opt_string(host.as_deref());
    if let Some(port) = port {
        obj.key("port").number(u64::from(*port));
    }
    obj.key("method").opt_string(method.as_deref());
    obj.key("path").opt_string(path.as_deref());
    obj.key("protocol").opt_string(*protocol);
    obj.key("model").opt_string(model.as_deref());
    obj.key("route").opt_string(route.as_deref());
    obj.key("provider").opt_string(provider.as_deref());
    obj.key("credential").opt_string(credential.as_deref());
    obj.key("upstream_model")
        .opt_string(upstream_model.as_deref());
    obj.key("status").opt_number(status.map(u64::from));
    obj.key("stream")
        .raw(if *stream { "true" } else { "false" });
    obj.key("duration_ms").number(*duration_ms);
    obj.key("ttfb_ms").opt_number(*ttfb_ms);
    obj.key("request_bytes").number(*request_bytes);
    obj.key("response_bytes").number(*response_bytes);
    match usage {
        Some(usage) => write_usage(obj.key("usage"), usage),
        None => obj.key("usage").raw("null"),
    }
    let cost = obj.key("cost_usd");
    // serde_json's own float format (shortest round trip), as the derived
    // serialiser writes it; a non-finite number is null there too.
    if serde_json::to_writer(&mut *cost.out, cost_usd).is_err() {
        cost.out.extend_from_slice(b"null");
    }
    obj.key("error").opt_string(error.as_deref());
    obj.key("request_body").opt_string(request_body.as_deref());
    obj.key("response_body")
        .opt_string(response_body.as_deref());
    if let Some(request_id) = request_id {
        obj.key("request_id").string(request_id);
    }
    if let Some(user_agent) = user_agent {
        obj.key("user_agent").string(user_agent);
    }
    if !lossy.is_empty() {
        obj.key("lossy").strings(lossy.iter().copied());
    }
    if !failover.is_empty() {
        obj.key("failover")
            .strings(failover.iter().map(String::as_str));
    }
    if let Some(n) = ws_messages_in {
        obj.key("ws_messages_in").number(*n);
    }
    if let Some(n) = ws_messages_out {
        obj.key("ws_messages_out").number(*n);
    }
    obj.close();
}

fn body_len(body: &Option<String>) -> usize {
    // Escaping rarely more than adds a tenth; reserving for it once beats
    // growing the line mid-body.
    body.as_ref().map_or(0, |b| b.len() + b.len() / 8)
}

fn write_usage(value: Value<'_>, usage: &Usage) {
    let Usage {
        input_tokens,
        output_tokens,
        cache_read_tokens,
        cache_write_tokens,
        reasoning_tokens,
    } = usage;
    let mut obj = Object::open(value.out);
    obj.key("input_tokens").number(*input_tokens);
    obj.key("output_tokens").number(*output_tokens);
    obj.key("cache_read_tokens").number(*cache_read_tokens);
    obj.key("cache_write_tokens").number(*cache_write_tokens);
    if *reasoning_tokens != 0 {
        obj.key("reasoning_tokens").number(*reasoning_tokens);
    }
    obj.close();
}

/// A JSON object being written: commas between members.
struct Object<'a> {
    out: &'a mut Vec<u8>,
    first: bool,
}

impl<'a> Object<'a> {
    fn open(out: &'a mut Vec<u8>) -> Object<'a> {
        out.push(b'{');
        Object { out, first: true }
    }

    /// Starts a member; `name` is one of this module's literals, which need
    /// no escaping.
    fn key(&mut self, name: &str) -> Value<'_> {
        if !self.first {
            self.out.push(b',');
        }
        self.first = false;
        self.out.push(b'"');
        self.out.extend_from_slice(name.as_bytes());
        self.out.extend_from_slice(b"\":");
        Value { out: self.out }
    }

    fn close(self) {
        self.out.push(b'}');
    }
}

/// The place of one value.
struct Value<'a> {
    out: &'a mut Vec<u8>,
}

impl Value<'_> {
    fn raw(self, text: &str) {
        self.out.extend_from_slice(text.as_bytes());
    }

    fn number(self, n: u64) {
        self.out
            .extend_from_slice(itoa::Buffer::new().format(n).as_bytes());
    }

    fn opt_number(self, n: Option<u64>) {
        match n {
            Some(n) => self.number(n),
            None => self.raw("null"),
        }
    }

    fn string(self, s: &str) {
        escaped(self.out, s);
    }

    fn opt_string(self, s: Option<&str>) {
        match s {
            Some(s) => self.string(s),
            None => self.raw("null"),
        }
    }

    fn strings<'s>(self, items: impl Iterator<Item = &'s str>) {
        self.out.push(b'[');
        for (i, item) in items.enumerate() {
            if i > 0 {
                self.out.push(b',');
            }
            escaped(self.out, item);
        }
        self.out.push(b']');
    }
}

/// `s` as a JSON string, escaped exactly as serde_json escapes it.
fn escaped(out: &mut Vec<u8>, s: &str) {
    out.push(b'"');
    let mut rest = s.as_bytes();
    loop {
        let clean = clean_prefix(rest);
        out.extend_from_slice(&rest[..clean]);
        let Some((&byte, tail)) = rest[clean..].split_first() else {
            break;
        };
        escape_byte(out, byte);
        rest = tail;
    }
    out.push(b'"');
}

/// How many leading bytes of `bytes` a JSON string carries as they are:
/// anything but `"`, `\` and control characters.
fn clean_prefix(bytes: &[u8]) -> usize {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    // The lowest flagged byte of each test is exact (borrows only run
    // towards higher bytes), and the lowest is all that is used.
    let below = |word: u64, n: u8| word.wrapping_sub(ONES * u64::from(n)) & !word & HIGH;
    let equal = |word: u64, b: u8| below(word ^ (ONES * u64::from(b)), 1);
    let mut at = 0;
    for chunk in bytes.chunks_exact(8) {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        let word = u64::from_le_bytes(word);
        let hits = below(word, 0x20) | equal(word, b'"') | equal(word, b'\\');
        if hits != 0 {
            return at + (hits.trailing_zeros() / 8) as usize;
        }
        at += 8;
    }
    let tail = &bytes[at..];
    at + tail
        .iter()
        .position(|&b| b < 0x20 || b == b'"' || b == b'\\')
        .unwrap_or(tail.len())
}

fn escape_byte(out: &mut Vec<u8>, byte: u8) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    // A fixed length, so the copy is two stores and not a call to memcpy:
    // JSON bodies escape a quote every few bytes.
    let short: &[u8; 2] = match byte {
        b'"' => b"\\\"",
        b'\\' => b"\\\\",
        0x08 => b"\\b",
        0x0c => b"\\f",
        b'\n' => b"\\n",
        b'\r' => b"\\r",
        b'\t' => b"\\t",
        _ => {
            out.extend_from_slice(b"\\u00");
            out.push(HEX[usize::from(byte >> 4)]);
            out.push(HEX[usize::from(byte & 0x0f)]);
            return;
        }
    };
    out.extend_from_slice(short);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::Kind;
    use proptest::prelude::*;

    fn line(record: &Record) -> String {
        let mut out = Vec::new();
        write(record, &mut out);
        String::from_utf8(out).unwrap()
    }

    fn derived(record: &Record) -> String {
        serde_json::to_string(record).unwrap()
    }

    fn full_record(text: &str) -> Record {
        let mut r = Record::new(Kind::Intercept, format!("127.0.0.1:1{text}"));
        r.client_name = Some(text.into());
        r.host = Some("api.example.test".into());
        r.port = Some(8443);
        r.method = Some("POST".into());
        r.path = Some(format!("/v1/{text}"));
        r.protocol = Some("anthropic_messages");
        r.model = Some(text.into());
        r.route = Some("claude-*".into());
        r.provider = Some("anthropic".into());
        r.credential = Some("team-a".into());
        r.upstream_model = Some(text.into());
        r.status = Some(200);
        r.stream = true;
        r.duration_ms = u64::MAX;
        r.ttfb_ms = Some(0);
        r.request_bytes = 12_345;
        r.response_bytes = 1;
        r.usage = Some(Usage {
            input_tokens: 10,
            output_tokens: 20,
            cache_read_tokens: 3,
            cache_write_tokens: 4,
            reasoning_tokens: 5,
        });
        r.cost_usd = Some(0.000_123_4);
        r.error = Some(text.into());
        r.request_body = Some(format!("{{\"q\":\"{text}\"}}"));
        r.response_body = Some(text.repeat(3));
        r.request_id = Some(text.into());
        r.user_agent = Some("claude-cli/1.0".into());
        r.lossy = vec!["temperature", "top_k"];
        r.failover = vec![text.into(), "b/key-2".into()];
        r.ws_messages_in = Some(7);
        r.ws_messages_out = Some(8);
        r
    }

    #[test]
    fn an_empty_record_matches_the_derived_serialiser() {
        for kind in [
            Kind::Intercept,
            Kind::Gateway,
            Kind::Passthrough,
            Kind::Tunnel,
            Kind::Rejected,
        ] {
            let r = Record::new(kind, "127.0.0.1:5".into());
            assert_eq!(line(&r), derived(&r));
        }
    }

    #[test]
    fn every_field_and_every_escape_match_the_derived_serialiser() {
        let all_bytes: String = (0u8..0x80).map(char::from).collect();
        for text in [
            "",
            "plain",
            "\"quoted\" and \\back\\slashed\\",
            "tab\tnew\nline\rcr\u{8}bs\u{c}ff\u{0}nul\u{1f}us\u{7f}del",
            "caf\u{e9} \u{1f600} \u{2028}",
            &all_bytes,
        ] {
            let r = full_record(text);
            assert_eq!(line(&r), derived(&r), "{text:?}");
        }
        let mut r = full_record("x");
        r.usage = Some(Usage::default());
        assert_eq!(line(&r), derived(&r));
    }

    proptest! {
        #[test]
        fn any_text_matches_the_derived_serialiser(
            text in "(?s).{0,80}",
            bytes in proptest::collection::vec(0u8..0x80, 0..64),
        ) {
            let ascii: String = bytes.into_iter().map(char::from).collect();
            for t in [text.as_str(), ascii.as_str()] {
                let r = full_record(t);
                prop_assert_eq!(line(&r), derived(&r));
            }
        }
    }
}
