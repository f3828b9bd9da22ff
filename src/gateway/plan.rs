//! Routing: which providers may serve a request, in which order.

use std::sync::Arc;

use super::{Ctx, Door};
use crate::protocol::Protocol;
use crate::providers::ProviderSpec;

pub use crate::routing::Plan;

/// Routes an API call (see [`crate::routing::plan`]).
pub fn plan(ctx: &Ctx, protocol: Protocol, model: &str) -> Result<Plan, String> {
    let from = crate::routing::Origin {
        host: ctx.host(),
        intercept_port: match &ctx.door {
            Door::Intercept { port, .. } => Some(*port),
            _ => None,
        },
    };
    crate::routing::plan(&ctx.app.settings, ctx.app.router(), from, protocol, model)
}

/// Where a non-API request goes.
#[derive(Debug, Clone)]
pub enum PassTarget {
    Provider(Arc<ProviderSpec>),
    /// `scheme://authority` of the original host.
    Origin(String),
}

impl PassTarget {
    pub fn url(&self, path_and_query: &str) -> String {
        match self {
            PassTarget::Provider(p) => p.passthrough_url(path_and_query),
            PassTarget::Origin(base) => format!("{base}{path_and_query}"),
        }
    }
}

/// The target of a passthrough request: the host's provider, the host
/// itself, or (for base-URL clients) the native provider the path suggests.
pub fn passthrough_target(ctx: &Ctx, uri: &http::Uri) -> Result<PassTarget, String> {
    let app = &ctx.app;
    if let Some(name) = &app.settings.single_provider {
        return app
            .provider(name)
            .map(PassTarget::Provider)
            .ok_or_else(|| format!("provider {name:?} is not configured"));
    }
    match &ctx.door {
        Door::Intercept { host, port } => Ok(match app.provider_for_host(host) {
            Some(p) => PassTarget::Provider(p),
            None => PassTarget::Origin(format!(
                "https://{}",
                crate::upstream::authority(host, *port)
            )),
        }),
        Door::Plain => match (uri.scheme_str(), uri.authority()) {
            (Some("http"), Some(authority)) => {
                Ok(PassTarget::Origin(format!("http://{authority}")))
            }
            _ => Err("only http:// URLs can be proxied without CONNECT".to_owned()),
        },
        Door::Gateway => {
            if let Some(p) = ctx
                .bridged_host
                .as_deref()
                .and_then(|h| app.provider_for_host(h))
            {
                return Ok(PassTarget::Provider(p));
            }
            let name = if looks_anthropic(ctx, uri) {
                "anthropic"
            } else {
                "openai"
            };
            app.provider(name)
                .map(PassTarget::Provider)
                .ok_or_else(|| format!("no provider named {name:?}"))
        }
    }
}

/// Anthropic clients use `/v1/messages/…` paths (count_tokens) and identify
/// themselves; everything else is taken for OpenAI.
fn looks_anthropic(ctx: &Ctx, uri: &http::Uri) -> bool {
    let path = uri.path();
    path.starts_with("/v1/messages")
        || path.starts_with("/messages")
        || ctx
            .record
            .user_agent
            .as_deref()
            .is_some_and(|ua| ua.contains("claude") || ua.contains("Anthropic"))
}
