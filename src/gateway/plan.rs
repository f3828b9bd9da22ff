//! Routing: which providers may serve a request, in which order.

use std::sync::Arc;

use super::{Ctx, Door};
use crate::protocol::Protocol;
use crate::providers::ProviderSpec;

/// The providers an API call may go to.
#[derive(Debug, Clone)]
pub struct Plan {
    /// The matched route's pattern, for the audit line.
    pub route: Option<String>,
    /// Tried in order.
    pub primaries: Vec<Arc<ProviderSpec>>,
    /// Used, round-robin, only when every primary is unavailable.
    pub fallbacks: Vec<Arc<ProviderSpec>>,
    pub upstream_model: Option<String>,
    /// An intercepted host no provider claims: sent to the host itself.
    pub origin: Option<String>,
}

/// Routes an API call: single-provider mode, then `[[routes]]` (first match),
/// then the intercepted (or bridged) host's provider, then the protocol's
/// native provider.
pub fn plan(ctx: &Ctx, protocol: Protocol, model: &str) -> Result<Plan, String> {
    let app = &ctx.app;
    let mut plan = Plan {
        route: None,
        primaries: Vec::new(),
        fallbacks: Vec::new(),
        upstream_model: None,
        origin: None,
    };
    if let Some(name) = &app.settings.single_provider {
        plan.primaries.push(
            app.provider(name)
                .ok_or_else(|| format!("provider {name:?} is not configured"))?,
        );
        return Ok(plan);
    }
    if let Some(route) = app.router().find(protocol, model) {
        plan.route = Some(route.pattern.clone());
        plan.upstream_model = route.upstream_model.clone();
        for name in &route.providers {
            plan.primaries.push(app.provider(name).ok_or_else(|| {
                format!("route {:?} names unknown provider {name:?}", route.pattern)
            })?);
        }
    } else if let Some(host) = ctx.host() {
        match app.provider_for_host(host) {
            Some(p) => plan.primaries.push(p),
            None => match &ctx.door {
                Door::Intercept { host, port } => {
                    plan.origin = Some(format!(
                        "https://{}",
                        crate::upstream::authority(host, *port)
                    ));
                    return Ok(plan);
                }
                _ => plan.primaries.push(native(ctx, protocol)?),
            },
        }
    } else {
        plan.primaries.push(native(ctx, protocol)?);
    }
    plan.fallbacks = app
        .settings
        .providers
        .iter()
        .filter(|p| p.fallback && !plan.primaries.iter().any(|q| q.name == p.name))
        .cloned()
        .collect();
    Ok(plan)
}

fn native(ctx: &Ctx, protocol: Protocol) -> Result<Arc<ProviderSpec>, String> {
    let name = match protocol {
        Protocol::AnthropicMessages => "anthropic",
        _ => "openai",
    };
    ctx.app
        .provider(name)
        .ok_or_else(|| format!("no provider named {name:?}"))
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
