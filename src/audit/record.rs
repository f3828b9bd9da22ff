//! The audit record: one JSON object per line, field names fixed by CONTRACT.md.

use serde::Serialize;

/// What kind of traffic a record describes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// A decrypted API call on an intercepted host.
    Intercept,
    /// An API call sent to the listener with a base URL.
    Gateway,
    /// Any other path on an intercepted host, or a plain http:// request.
    Passthrough,
    /// A blind CONNECT tunnel.
    Tunnel,
    /// Refused before it reached a provider.
    Rejected,
}

impl Kind {
    /// The name the audit line and the metrics use (serde's lowercase).
    pub fn name(self) -> &'static str {
        match self {
            Kind::Intercept => "intercept",
            Kind::Gateway => "gateway",
            Kind::Passthrough => "passthrough",
            Kind::Tunnel => "tunnel",
            Kind::Rejected => "rejected",
        }
    }
}

/// Normalised token usage.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Usage {
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub cache_read_tokens: u64,
    pub cache_write_tokens: u64,
    #[serde(skip_serializing_if = "is_zero")]
    pub reasoning_tokens: u64,
}

fn is_zero(v: &u64) -> bool {
    *v == 0
}

/// One line of the audit file.
#[derive(Debug, Clone, Serialize)]
pub struct Record {
    pub ts: String,
    pub id: String,
    pub kind: Kind,
    pub client: String,
    pub client_name: Option<String>,
    pub host: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
    pub method: Option<String>,
    pub path: Option<String>,
    pub protocol: Option<&'static str>,
    pub model: Option<String>,
    pub route: Option<String>,
    pub provider: Option<String>,
    pub credential: Option<String>,
    pub upstream_model: Option<String>,
    pub status: Option<u16>,
    pub stream: bool,
    pub duration_ms: u64,
    pub ttfb_ms: Option<u64>,
    pub request_bytes: u64,
    pub response_bytes: u64,
    pub usage: Option<Usage>,
    /// `usage` at the `[prices]` of the model called, in USD; None without
    /// either.
    pub cost_usd: Option<f64>,
    pub error: Option<String>,
    pub request_body: Option<String>,
    pub response_body: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_agent: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub lossy: Vec<&'static str>,
    /// Providers/credentials tried before the one that answered.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub failover: Vec<String>,
    /// Counts the request as in flight until the record is filed (never
    /// serialised). Set by the gateway from `Metrics::inflight`.
    #[serde(skip)]
    pub inflight: Option<std::sync::Arc<crate::metrics::Inflight>>,
    /// WebSocket sessions: data messages client→upstream.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ws_messages_in: Option<u64>,
    /// WebSocket sessions: data messages upstream→client.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ws_messages_out: Option<u64>,
}

impl Record {
    /// Roughly the memory the record holds while it waits for the writer:
    /// its bodies (up to `max_body_bytes` each) plus the rest.
    pub fn queue_cost(&self) -> usize {
        let body = |b: &Option<String>| b.as_ref().map_or(0, String::len);
        1024 + body(&self.request_body) + body(&self.response_body)
    }

    /// A record with identity and timestamp filled in, everything else empty.
    pub fn new(kind: Kind, client: String) -> Record {
        Record {
            ts: now_rfc3339(),
            id: new_id(),
            kind,
            client,
            client_name: None,
            host: None,
            port: None,
            method: None,
            path: None,
            protocol: None,
            model: None,
            route: None,
            provider: None,
            credential: None,
            upstream_model: None,
            status: None,
            stream: false,
            duration_ms: 0,
            ttfb_ms: None,
            request_bytes: 0,
            response_bytes: 0,
            usage: None,
            cost_usd: None,
            error: None,
            request_body: None,
            response_body: None,
            request_id: None,
            user_agent: None,
            lossy: Vec::new(),
            failover: Vec::new(),
            inflight: None,
            ws_messages_in: None,
            ws_messages_out: None,
        }
    }
}

/// `peer` as a record's `client`: `ip:port`, or `[ip]:port` for IPv6, as
/// `Display` writes it. Every request is stamped with one, and IPv4 is
/// written here without the formatting machinery, a tenth of its cost.
pub fn client_address(peer: std::net::SocketAddr) -> String {
    let std::net::SocketAddr::V4(v4) = peer else {
        return peer.to_string();
    };
    let mut text = String::with_capacity(21);
    let mut digits = itoa::Buffer::new();
    for (i, octet) in v4.ip().octets().into_iter().enumerate() {
        if i > 0 {
            text.push('.');
        }
        text.push_str(digits.format(octet));
    }
    text.push(':');
    text.push_str(digits.format(v4.port()));
    text
}

/// UTC time with milliseconds, e.g. `2026-04-29T10:30:00.000Z`.
pub fn now_rfc3339() -> String {
    rfc3339(std::time::SystemTime::now())
}

/// `at` in UTC with milliseconds, the audit file's time format. Every
/// record is stamped, and most share their second with the one before: the
/// date and time of day are formatted once per second per thread.
pub fn rfc3339(at: std::time::SystemTime) -> String {
    thread_local! {
        static SECOND: std::cell::RefCell<(i64, String)> = const {
            std::cell::RefCell::new((i64::MIN, String::new()))
        };
    }
    let at = time::OffsetDateTime::from(at);
    let second = at.unix_timestamp();
    SECOND.with_borrow_mut(|(cached, text)| {
        if *cached != second {
            let format =
                time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]");
            *text = at.format(&format).unwrap_or_default();
            *cached = second;
        }
        let ms = at.millisecond();
        let mut stamp = String::with_capacity(text.len() + 5);
        stamp.push_str(text);
        stamp.push('.');
        for digit in [ms / 100, ms / 10 % 10, ms % 10] {
            stamp.push(char::from(b'0' + digit as u8));
        }
        stamp.push('Z');
        stamp
    })
}

/// 128 bits in hex, unique without coordination between replicas.
///
/// A per-process random seed and a sequence number go through a bijection
/// (SplitMix64's finaliser), so two ids of one process never collide and
/// ids of two processes collide with probability 2^-64. Ids name records,
/// they guard nothing: drawing 16 fresh random bytes from the CSPRNG for
/// each was ~1.5 % of the CPU of a proxied request.
pub fn new_id() -> String {
    static SEED: std::sync::OnceLock<[u64; 2]> = std::sync::OnceLock::new();
    static SEQUENCE: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let [high_seed, low_seed] = *SEED.get_or_init(random_seed);
    let n = SEQUENCE.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let low = mix(low_seed.wrapping_add(n));
    let high = mix(high_seed ^ low);
    let mut bytes = [0u8; 16];
    bytes[..8].copy_from_slice(&high.to_be_bytes());
    bytes[8..].copy_from_slice(&low.to_be_bytes());
    to_hex(&bytes)
}

/// SplitMix64's finaliser: a bijection on u64 that scatters every input bit.
fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

fn random_seed() -> [u64; 2] {
    let mut bytes = [0u8; 16];
    if aws_lc_rs::rand::fill(&mut bytes).is_err() {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default();
        bytes = (nanos ^ (u128::from(std::process::id()) << 64)).to_le_bytes();
    }
    let (high, low) = bytes.split_at(8);
    let word = |b: &[u8]| u64::from_le_bytes(b.try_into().unwrap_or_default());
    [word(high), word(low)]
}

/// Lower-case hex in one allocation, not one `format!` per byte: ids and
/// chain hashes are made for every record.
pub(crate) fn to_hex(bytes: &[u8]) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut hex = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        hex.push(char::from(HEX[usize::from(b >> 4)]));
        hex.push(char::from(HEX[usize::from(b & 0x0f)]));
    }
    hex
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn client_address_is_what_display_writes(
            ip in any::<[u8; 4]>(),
            ip6 in any::<[u16; 8]>(),
            port in any::<u16>(),
        ) {
            let v4 = std::net::SocketAddr::from((ip, port));
            prop_assert_eq!(client_address(v4), v4.to_string());
            let v6 = std::net::SocketAddr::from((ip6, port));
            prop_assert_eq!(client_address(v6), v6.to_string());
        }
    }

    #[test]
    fn ids_are_32_lowercase_hex_digits_and_differ() {
        let (a, b) = (new_id(), new_id());
        assert_eq!(a.len(), 32);
        assert!(
            a.bytes()
                .all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(&c)),
            "{a}"
        );
        assert_ne!(a, b);
    }

    #[test]
    fn ids_of_one_process_never_repeat_and_look_random() {
        let ids: std::collections::HashSet<String> = (0..100_000).map(|_| new_id()).collect();
        assert_eq!(ids.len(), 100_000);
        // Consecutive ids share no visible structure (neither half counts up).
        let (a, b) = (new_id(), new_id());
        let differing = a.bytes().zip(b.bytes()).filter(|(x, y)| x != y).count();
        assert!(differing > 16, "{a} {b}");
    }

    #[test]
    fn timestamps_keep_milliseconds_across_the_cached_second() {
        use std::time::{Duration, UNIX_EPOCH};
        let base = UNIX_EPOCH + Duration::from_secs(1_777_458_600);
        assert_eq!(rfc3339(base), "2026-04-29T10:30:00.000Z");
        assert_eq!(
            rfc3339(base + Duration::from_millis(7)),
            "2026-04-29T10:30:00.007Z"
        );
        assert_eq!(
            rfc3339(base + Duration::from_millis(1_250)),
            "2026-04-29T10:30:01.250Z"
        );
        assert_eq!(
            rfc3339(base + Duration::from_millis(999)),
            "2026-04-29T10:30:00.999Z"
        );
        assert_eq!(rfc3339(UNIX_EPOCH), "1970-01-01T00:00:00.000Z");
    }

    #[test]
    fn serialises_contract_fields_with_nulls() {
        let record = Record::new(Kind::Tunnel, "127.0.0.1:5".into());
        let json = serde_json::to_value(&record).unwrap();
        for field in [
            "ts",
            "id",
            "kind",
            "client",
            "client_name",
            "host",
            "method",
            "path",
            "protocol",
            "model",
            "route",
            "provider",
            "credential",
            "upstream_model",
            "status",
            "stream",
            "duration_ms",
            "ttfb_ms",
            "request_bytes",
            "response_bytes",
            "usage",
            "error",
            "request_body",
            "response_body",
        ] {
            assert!(json.get(field).is_some(), "missing {field}");
        }
        assert_eq!(json["kind"], "tunnel");
        assert_eq!(record.ts.len(), "2026-04-29T10:30:00.000Z".len());
        assert_ne!(new_id(), new_id());
    }
}
