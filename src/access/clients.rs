//! Client authentication: `proxy_auth` and `[[clients]]`.
//!
//! Tokens are kept only as SHA-256 digests and compared in constant time.
//! Proxy requests present `Proxy-Authorization: Basic` (the password is the
//! token); gateway and bridged requests `Authorization: Bearer <token>` or
//! `x-api-key: <token>`. The presented token is removed before forwarding.

use base64::Engine;
use http::header::{HeaderMap, AUTHORIZATION, PROXY_AUTHORIZATION};

/// The authenticated client's name, carried in request extensions so every
/// audit line can name it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientName(pub String);

#[derive(Debug, Clone)]
struct Client {
    name: String,
    digest: [u8; 32],
}

/// The configured clients; empty means authentication is off.
#[derive(Debug, Clone, Default)]
pub struct Clients {
    clients: Vec<Client>,
}

fn sha256(bytes: &[u8]) -> [u8; 32] {
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, bytes);
    let mut out = [0u8; 32];
    out.copy_from_slice(digest.as_ref());
    out
}

/// Parses 64 hex digits.
pub fn parse_sha256_hex(hex: &str) -> Option<[u8; 32]> {
    let hex = hex.trim();
    if hex.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(hex.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(out)
}

impl Clients {
    pub fn is_enabled(&self) -> bool {
        !self.clients.is_empty()
    }

    pub fn add_token(&mut self, name: &str, token: &str) {
        self.add_digest(name, sha256(token.as_bytes()));
    }

    pub fn add_digest(&mut self, name: &str, digest: [u8; 32]) {
        self.clients.push(Client {
            name: name.to_owned(),
            digest,
        });
    }

    /// The client owning `token`. Every entry is compared, in constant time,
    /// so the timing says nothing about which (or whether one) matched.
    pub fn authenticate(&self, token: &str) -> Option<&str> {
        let digest = sha256(token.as_bytes());
        let mut found = None;
        for client in &self.clients {
            if aws_lc_rs::constant_time::verify_slices_are_equal(&client.digest, &digest).is_ok() {
                found = Some(client.name.as_str());
            }
        }
        found
    }

    /// Checks and removes `Proxy-Authorization: Basic user:token`.
    pub fn take_proxy_auth(&self, headers: &mut HeaderMap) -> Option<String> {
        let value = headers.remove(PROXY_AUTHORIZATION)?;
        let encoded = value
            .to_str()
            .ok()?
            .strip_prefix("Basic ")
            .or_else(|| value.to_str().ok()?.strip_prefix("basic "))?;
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(encoded.trim())
            .ok()?;
        let decoded = String::from_utf8(decoded).ok()?;
        let (_user, token) = decoded.split_once(':')?;
        self.authenticate(token).map(str::to_owned)
    }

    /// Checks and removes a gateway token (`Authorization: Bearer` or
    /// `x-api-key`). Only the header that authenticated is removed.
    pub fn take_gateway_auth(&self, headers: &mut HeaderMap) -> Option<String> {
        let bearer = headers
            .get(AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| {
                v.strip_prefix("Bearer ")
                    .or_else(|| v.strip_prefix("bearer "))
            })
            .map(|t| t.trim().to_owned());
        if let Some(name) = bearer.as_deref().and_then(|t| self.authenticate(t)) {
            headers.remove(AUTHORIZATION);
            return Some(name.to_owned());
        }
        let api_key = headers
            .get("x-api-key")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        if let Some(name) = api_key.as_deref().and_then(|t| self.authenticate(t)) {
            headers.remove("x-api-key");
            return Some(name.to_owned());
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn clients() -> Clients {
        let mut c = Clients::default();
        c.add_token("alice", "alice-token");
        c.add_digest("bob", sha256(b"bob-token"));
        c
    }

    #[test]
    fn proxy_basic_auth_uses_the_password_as_token_and_is_removed() {
        let c = clients();
        let mut h = HeaderMap::new();
        let basic = base64::engine::general_purpose::STANDARD.encode("anyone:bob-token");
        h.insert(
            PROXY_AUTHORIZATION,
            HeaderValue::from_str(&format!("Basic {basic}")).unwrap(),
        );
        assert_eq!(c.take_proxy_auth(&mut h).as_deref(), Some("bob"));
        assert!(h.is_empty());
        let wrong = base64::engine::general_purpose::STANDARD.encode("alice:nope");
        h.insert(
            PROXY_AUTHORIZATION,
            HeaderValue::from_str(&format!("Basic {wrong}")).unwrap(),
        );
        assert_eq!(c.take_proxy_auth(&mut h), None);
    }

    #[test]
    fn gateway_tokens_in_bearer_or_api_key() {
        let c = clients();
        let mut h = HeaderMap::new();
        h.insert(
            AUTHORIZATION,
            HeaderValue::from_static("Bearer alice-token"),
        );
        h.insert("x-api-key", HeaderValue::from_static("sk-provider-key"));
        assert_eq!(c.take_gateway_auth(&mut h).as_deref(), Some("alice"));
        assert!(!h.contains_key(AUTHORIZATION));
        assert_eq!(
            h["x-api-key"], "sk-provider-key",
            "only the authenticating header goes"
        );
        let mut h = HeaderMap::new();
        h.insert("x-api-key", HeaderValue::from_static("bob-token"));
        assert_eq!(c.take_gateway_auth(&mut h).as_deref(), Some("bob"));
        let mut h = HeaderMap::new();
        h.insert(AUTHORIZATION, HeaderValue::from_static("Bearer wrong"));
        assert_eq!(c.take_gateway_auth(&mut h), None);
    }

    #[test]
    fn hex_digests() {
        let hex: String = sha256(b"x").iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(parse_sha256_hex(&hex), Some(sha256(b"x")));
        assert_eq!(parse_sha256_hex("abc"), None);
        assert_eq!(parse_sha256_hex(&"zz".repeat(32)), None);
    }
}
