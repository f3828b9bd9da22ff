//! The three API protocols switchyard speaks, and how a request path maps to one.

use std::fmt;

/// An inbound or upstream API protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Protocol {
    /// Anthropic Messages: `POST /v1/messages`.
    AnthropicMessages,
    /// OpenAI Chat Completions: `POST /v1/chat/completions`.
    OpenAiChat,
    /// OpenAI Responses: `POST /v1/responses`.
    OpenAiResponses,
}

impl Protocol {
    pub const ALL: [Protocol; 3] = [
        Protocol::AnthropicMessages,
        Protocol::OpenAiChat,
        Protocol::OpenAiResponses,
    ];

    /// The name used in config files, audit records and the CLI.
    pub fn name(self) -> &'static str {
        match self {
            Protocol::AnthropicMessages => "anthropic_messages",
            Protocol::OpenAiChat => "openai_chat_completions",
            Protocol::OpenAiResponses => "openai_responses",
        }
    }

    pub fn from_name(name: &str) -> Option<Protocol> {
        Protocol::ALL.into_iter().find(|p| p.name() == name)
    }

    /// The path suffix after the version prefix, e.g. `/messages`.
    pub fn endpoint(self) -> &'static str {
        match self {
            Protocol::AnthropicMessages => "/messages",
            Protocol::OpenAiChat => "/chat/completions",
            Protocol::OpenAiResponses => "/responses",
        }
    }

    /// Classifies a request path (with or without `/v1`, query ignored).
    pub fn from_path(path: &str) -> Option<Protocol> {
        let path = path.split('?').next().unwrap_or(path);
        let path = path.trim_end_matches('/');
        let rest = path.strip_prefix("/v1").unwrap_or(path);
        Protocol::ALL.into_iter().find(|p| p.endpoint() == rest)
    }

    /// True for the two OpenAI-shaped error bodies (`{"error":{...}}`).
    pub fn is_openai(self) -> bool {
        !matches!(self, Protocol::AnthropicMessages)
    }
}

impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_paths_with_and_without_version() {
        assert_eq!(
            Protocol::from_path("/v1/messages"),
            Some(Protocol::AnthropicMessages)
        );
        assert_eq!(
            Protocol::from_path("/messages?beta=true"),
            Some(Protocol::AnthropicMessages)
        );
        assert_eq!(
            Protocol::from_path("/v1/chat/completions"),
            Some(Protocol::OpenAiChat)
        );
        assert_eq!(
            Protocol::from_path("/responses"),
            Some(Protocol::OpenAiResponses)
        );
        assert_eq!(Protocol::from_path("/v1/messages/count_tokens"), None);
        assert_eq!(Protocol::from_path("/v1/models"), None);
    }

    #[test]
    fn names_round_trip() {
        for p in Protocol::ALL {
            assert_eq!(Protocol::from_name(p.name()), Some(p));
        }
    }
}
