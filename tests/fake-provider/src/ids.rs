//! Provider-shaped identifiers (`msg_01…`, `toolu_01…`, `chatcmpl-…`, `resp_…`)
//! and the wall clock, without pulling in a random-number crate.
//!
//! Uniqueness is what matters here, not unpredictability: every id mixes a
//! process-wide counter into a randomly keyed std hasher.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

static COUNTER: AtomicU64 = AtomicU64::new(0);

const BASE62: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
const HEX: &[u8] = b"0123456789abcdef";

fn random_u64() -> u64 {
    let mut hasher = RandomState::new().build_hasher();
    hasher.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
    hasher.finish()
}

fn random_string(alphabet: &[u8], len: usize) -> String {
    let radix = alphabet.len() as u64;
    let mut out = String::with_capacity(len);
    let mut bits = random_u64();
    let mut left = 8; // draws per u64 before re-seeding keeps the digits uniform enough
    while out.len() < len {
        if left == 0 {
            bits = random_u64();
            left = 8;
        }
        out.push(alphabet[(bits % radix) as usize] as char);
        bits /= radix;
        left -= 1;
    }
    out
}

fn base62(len: usize) -> String {
    random_string(BASE62, len)
}

fn hex(len: usize) -> String {
    random_string(HEX, len)
}

/// Anthropic message id, e.g. `msg_01XFDUDYJgAACzvnptvVoYEL`.
pub fn anthropic_message() -> String {
    format!("msg_01{}", base62(22))
}

/// Anthropic tool-use block id, e.g. `toolu_01A09q90qw90lq917835lq9`.
pub fn tool_use() -> String {
    format!("toolu_01{}", base62(22))
}

/// Anthropic `request-id` header value.
pub fn anthropic_request() -> String {
    format!("req_011C{}", base62(20))
}

/// OpenAI `x-request-id` header value.
pub fn openai_request() -> String {
    format!("req_{}", hex(32))
}

/// Chat Completions id, e.g. `chatcmpl-B9MHDbslfkBeAs8l4bebGdFOJ6PeG`.
pub fn chat_completion() -> String {
    format!("chatcmpl-{}", base62(29))
}

/// Chat Completions tool call id, e.g. `call_abc123…`.
pub fn tool_call() -> String {
    format!("call_{}", base62(24))
}

/// Responses API response id.
pub fn response() -> String {
    format!("resp_{}", hex(48))
}

/// Responses API output message item id.
pub fn output_message() -> String {
    format!("msg_{}", hex(48))
}

/// Responses API function call item id.
pub fn function_call_item() -> String {
    format!("fc_{}", hex(48))
}

/// Responses API reasoning item id.
pub fn reasoning_item() -> String {
    format!("rs_{}", hex(48))
}

/// Chat Completions `system_fingerprint`.
pub fn fingerprint() -> String {
    format!("fp_{}", hex(10))
}

/// Seconds since the Unix epoch (0 if the clock is before it).
pub fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}
