//! Bridge mode: intercepted traffic is sent to a remote gateway (a central
//! switchyard) instead of the embedded one.

use crate::secret::Secret;

/// What to do when the bridge cannot be reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BridgeMode {
    /// Go direct to the provider.
    Soft,
    /// Answer 502; nothing goes direct.
    Strict,
}

impl BridgeMode {
    pub fn name(self) -> &'static str {
        match self {
            BridgeMode::Soft => "soft",
            BridgeMode::Strict => "strict",
        }
    }
}

#[derive(Debug, Clone)]
pub struct BridgeSpec {
    /// The bridge's base URL; the original path is appended.
    pub url: String,
    pub mode: BridgeMode,
    /// Sent as `Authorization: Bearer`, replacing the client's auth headers.
    pub token: Option<Secret>,
}

/// The header naming the host a bridged request was sent to.
pub const HOST_HEADER: &str = "x-switchyard-host";
