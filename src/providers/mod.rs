//! Provider kinds: which protocols each speaks, where its endpoints are, and
//! how its credentials are presented.

use http::header::{HeaderMap, HeaderValue, AUTHORIZATION};

use crate::headers::{ANTHROPIC_VERSION, API_KEY, X_API_KEY};
use crate::protocol::Protocol;
use crate::secret::Secret;

/// The kinds CONTRACT.md defines.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProviderKind {
    Anthropic,
    OpenAi,
    OpenAiChat,
    Proxy,
}

impl ProviderKind {
    pub fn parse(name: &str) -> Option<ProviderKind> {
        match name {
            "anthropic" => Some(ProviderKind::Anthropic),
            "openai" => Some(ProviderKind::OpenAi),
            "openai_chat" => Some(ProviderKind::OpenAiChat),
            "proxy" => Some(ProviderKind::Proxy),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            ProviderKind::Anthropic => "anthropic",
            ProviderKind::OpenAi => "openai",
            ProviderKind::OpenAiChat => "openai_chat",
            ProviderKind::Proxy => "proxy",
        }
    }

    /// Whether requests of `protocol` can go to this kind unconverted.
    pub fn speaks(self, protocol: Protocol) -> bool {
        match self {
            ProviderKind::Anthropic => protocol == Protocol::AnthropicMessages,
            ProviderKind::OpenAi => protocol != Protocol::AnthropicMessages,
            ProviderKind::OpenAiChat => protocol == Protocol::OpenAiChat,
            ProviderKind::Proxy => true,
        }
    }

    /// The protocol to convert `inbound` into when this kind does not speak it.
    pub fn target_protocol(self, inbound: Protocol) -> Protocol {
        if self.speaks(inbound) {
            return inbound;
        }
        match self {
            ProviderKind::Anthropic => Protocol::AnthropicMessages,
            ProviderKind::OpenAi => Protocol::OpenAiResponses,
            ProviderKind::OpenAiChat | ProviderKind::Proxy => Protocol::OpenAiChat,
        }
    }

    /// Whether `base_url` carries the version prefix (`/v1`) for this kind.
    fn base_includes_version(self) -> bool {
        !matches!(self, ProviderKind::Anthropic)
    }

    /// Puts the credential where this kind expects it, replacing whatever
    /// auth the client sent. With no key, the client's own auth passes.
    pub fn inject_auth(self, headers: &mut HeaderMap, key: Option<&Secret>) {
        let Some(key) = key else { return };
        headers.remove(AUTHORIZATION);
        headers.remove(X_API_KEY);
        headers.remove(API_KEY);
        match self {
            ProviderKind::Anthropic => {
                if let Ok(mut value) = HeaderValue::from_str(key.expose()) {
                    value.set_sensitive(true);
                    headers.insert(X_API_KEY, value);
                }
                if !headers.contains_key(ANTHROPIC_VERSION) {
                    headers.insert(ANTHROPIC_VERSION, HeaderValue::from_static("2023-06-01"));
                }
            }
            ProviderKind::OpenAi | ProviderKind::OpenAiChat | ProviderKind::Proxy => {
                if let Ok(mut value) = HeaderValue::from_str(&format!("Bearer {}", key.expose())) {
                    value.set_sensitive(true);
                    headers.insert(AUTHORIZATION, value);
                }
            }
        }
    }
}

/// One named credential of a provider.
#[derive(Debug, Clone)]
pub struct CredentialSpec {
    pub name: String,
    /// None: the client's own credentials are passed through.
    pub key: Option<Secret>,
    pub rpm: Option<u32>,
    pub tpm: Option<u64>,
}

/// A provider as configured (or implied).
#[derive(Debug, Clone)]
pub struct ProviderSpec {
    pub name: String,
    pub kind: ProviderKind,
    /// Scheme and authority plus an optional path prefix, without a trailing `/`.
    pub base_url: String,
    pub hosts: Vec<String>,
    pub credentials: Vec<CredentialSpec>,
    pub fallback: bool,
    pub breaker: crate::pool::breaker::BreakerSpec,
    /// Restricts the protocols used with this provider (empty: all its kind
    /// speaks); e.g. an `openai` provider limited to Responses gets Chat
    /// Completions requests converted.
    pub protocols: Vec<Protocol>,
    /// True for the implicit `anthropic`/`openai` providers of a zero config.
    pub implicit: bool,
}

impl ProviderSpec {
    /// The implicit provider for a well-known name, pointing at the real API
    /// with the client's own credentials.
    pub fn implicit(name: &str) -> Option<ProviderSpec> {
        let (kind, base_url, host) = match name {
            "anthropic" => (
                ProviderKind::Anthropic,
                "https://api.anthropic.com",
                "api.anthropic.com",
            ),
            "openai" => (
                ProviderKind::OpenAi,
                "https://api.openai.com/v1",
                "api.openai.com",
            ),
            _ => return None,
        };
        Some(ProviderSpec {
            name: name.to_owned(),
            kind,
            base_url: base_url.to_owned(),
            hosts: vec![host.to_owned()],
            credentials: vec![CredentialSpec {
                name: "client".to_owned(),
                key: None,
                rpm: None,
                tpm: None,
            }],
            fallback: false,
            breaker: Default::default(),
            protocols: Vec::new(),
            implicit: true,
        })
    }

    fn speaks(&self, protocol: Protocol) -> bool {
        self.kind.speaks(protocol)
            && (self.protocols.is_empty() || self.protocols.contains(&protocol))
    }

    /// The protocol a request of `inbound` is sent in: unchanged when this
    /// provider speaks it, else the provider's first allowed protocol.
    pub fn target_protocol(&self, inbound: Protocol) -> Protocol {
        if self.speaks(inbound) {
            return inbound;
        }
        self.protocols
            .first()
            .copied()
            .unwrap_or_else(|| self.kind.target_protocol(inbound))
    }

    /// The upstream URL for an API call of `protocol`.
    pub fn endpoint_url(&self, protocol: Protocol, query: Option<&str>) -> String {
        let version = if self.kind.base_includes_version() {
            ""
        } else {
            "/v1"
        };
        // Built in one allocation: this runs for every proxied request.
        let query = query.filter(|q| !q.is_empty());
        let endpoint = protocol.endpoint();
        let mut url = String::with_capacity(
            self.base_url.len() + version.len() + endpoint.len() + query.map_or(0, |q| q.len() + 1),
        );
        url.push_str(&self.base_url);
        url.push_str(version);
        url.push_str(endpoint);
        if let Some(q) = query {
            url.push('?');
            url.push_str(q);
        }
        url
    }

    /// The upstream URL for any other client path (passthrough). A `/v1`
    /// already in the base URL is not repeated.
    pub fn passthrough_url(&self, path_and_query: &str) -> String {
        if self.kind.base_includes_version() && self.base_url.ends_with("/v1") {
            if let Some(rest) = path_and_query.strip_prefix("/v1") {
                if rest.is_empty() || rest.starts_with('/') || rest.starts_with('?') {
                    return format!("{}{rest}", self.base_url);
                }
            }
        }
        format!("{}{path_and_query}", self.base_url)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(kind: ProviderKind, base: &str) -> ProviderSpec {
        ProviderSpec {
            base_url: base.into(),
            kind,
            ..ProviderSpec::implicit("openai").unwrap()
        }
    }

    #[test]
    fn endpoint_urls_follow_each_sdk_convention() {
        let a = spec(ProviderKind::Anthropic, "http://127.0.0.1:9");
        assert_eq!(
            a.endpoint_url(Protocol::AnthropicMessages, None),
            "http://127.0.0.1:9/v1/messages"
        );
        let o = spec(ProviderKind::OpenAi, "https://api.openai.com/v1");
        assert_eq!(
            o.endpoint_url(Protocol::OpenAiChat, Some("x=1")),
            "https://api.openai.com/v1/chat/completions?x=1"
        );
        assert_eq!(
            o.endpoint_url(Protocol::OpenAiResponses, Some("")),
            "https://api.openai.com/v1/responses"
        );
        assert_eq!(
            o.passthrough_url("/v1/files?limit=2"),
            "https://api.openai.com/v1/files?limit=2"
        );
        assert_eq!(
            o.passthrough_url("/health"),
            "https://api.openai.com/v1/health"
        );
        assert_eq!(
            a.passthrough_url("/v1/messages/count_tokens"),
            "http://127.0.0.1:9/v1/messages/count_tokens"
        );
    }

    #[test]
    fn configured_key_replaces_client_auth() {
        let mut h = HeaderMap::new();
        h.insert(AUTHORIZATION, HeaderValue::from_static("Bearer client"));
        h.insert("x-api-key", HeaderValue::from_static("client"));
        ProviderKind::Anthropic.inject_auth(&mut h, Some(&Secret::new("sk-ant-configured")));
        assert_eq!(h["x-api-key"], "sk-ant-configured");
        assert!(!h.contains_key(AUTHORIZATION));
        assert_eq!(h["anthropic-version"], "2023-06-01");

        let mut h = HeaderMap::new();
        h.insert("x-api-key", HeaderValue::from_static("client"));
        ProviderKind::OpenAi.inject_auth(&mut h, None);
        assert_eq!(
            h["x-api-key"], "client",
            "no configured key: client auth passes"
        );
        ProviderKind::OpenAi.inject_auth(&mut h, Some(&Secret::new("sk-cfg")));
        assert_eq!(h[AUTHORIZATION], "Bearer sk-cfg");
        assert!(!h.contains_key("x-api-key"));
    }

    #[test]
    fn kinds_speak_their_protocols() {
        assert!(ProviderKind::OpenAi.speaks(Protocol::OpenAiResponses));
        assert!(!ProviderKind::OpenAiChat.speaks(Protocol::OpenAiResponses));
        assert_eq!(
            ProviderKind::OpenAiChat.target_protocol(Protocol::AnthropicMessages),
            Protocol::OpenAiChat
        );
        assert_eq!(
            ProviderKind::Anthropic.target_protocol(Protocol::OpenAiChat),
            Protocol::AnthropicMessages
        );
    }
}
