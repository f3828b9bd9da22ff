//! Model routes: `[[routes]]` in file order, first match wins, each naming
//! the providers (in failover order) that serve the models it matches.

use std::sync::Arc;

use regex::Regex;
use wildmatch::WildMatch;

use crate::config::Settings;
use crate::protocol::Protocol;
use crate::providers::ProviderSpec;

/// How a route's pattern is compared with the model the client sent.
#[derive(Debug, Clone)]
pub enum Matcher {
    Exact(String),
    Glob(WildMatch),
    Prefix(String),
    Regex(Regex),
}

impl Matcher {
    pub fn new(kind: &str, pattern: &str) -> Result<Matcher, String> {
        match kind {
            "exact" => Ok(Matcher::Exact(pattern.to_owned())),
            "glob" => Ok(Matcher::Glob(WildMatch::new(pattern))),
            "prefix" => Ok(Matcher::Prefix(pattern.to_owned())),
            "regex" => Regex::new(pattern)
                .map(Matcher::Regex)
                .map_err(|e| format!("invalid regex: {e}")),
            other => Err(format!(
                "unknown match kind {other:?}; one of exact, glob, prefix, regex"
            )),
        }
    }

    pub fn kind(&self) -> &'static str {
        match self {
            Matcher::Exact(_) => "exact",
            Matcher::Glob(_) => "glob",
            Matcher::Prefix(_) => "prefix",
            Matcher::Regex(_) => "regex",
        }
    }

    pub fn matches(&self, model: &str) -> bool {
        match self {
            Matcher::Exact(p) => p == model,
            Matcher::Glob(g) => g.matches(model),
            Matcher::Prefix(p) => model.starts_with(p.as_str()),
            Matcher::Regex(r) => r.is_match(model),
        }
    }
}

/// One `[[routes]]` entry, validated.
#[derive(Debug, Clone)]
pub struct Route {
    /// The pattern as written (recorded in the audit line as `route`).
    pub pattern: String,
    pub matcher: Matcher,
    pub protocol: Option<Protocol>,
    /// Provider names in failover order.
    pub providers: Vec<String>,
    pub upstream_model: Option<String>,
}

impl Route {
    pub fn matches(&self, protocol: Protocol, model: &str) -> bool {
        self.protocol.is_none_or(|p| p == protocol) && self.matcher.matches(model)
    }
}

/// The route table.
#[derive(Debug, Clone, Default)]
pub struct Router {
    routes: Vec<Route>,
}

impl Router {
    pub fn new(routes: Vec<Route>) -> Router {
        Router { routes }
    }

    pub fn routes(&self) -> &[Route] {
        &self.routes
    }

    /// The first route matching, if any.
    pub fn find(&self, protocol: Protocol, model: &str) -> Option<&Route> {
        self.routes.iter().find(|r| r.matches(protocol, model))
    }

    /// Models the routes make reachable, for `GET /v1/models`: exact
    /// patterns, and the upstream models routes rewrite to.
    pub fn listed_models(&self) -> Vec<String> {
        let mut models: Vec<String> = self
            .routes
            .iter()
            .flat_map(|r| {
                let exact = match &r.matcher {
                    Matcher::Exact(m) => Some(m.clone()),
                    _ => None,
                };
                exact.into_iter().chain(r.upstream_model.clone())
            })
            .collect();
        models.sort();
        models.dedup();
        models
    }
}

/// The providers an API call may go to.
#[derive(Debug, Clone, Default)]
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

impl Plan {
    /// Whether a request can be tried more than once: each attempt takes a
    /// credential (a provider without keys has one, the client's own) that
    /// no earlier attempt of the request used. A provider listed twice
    /// counts twice, which errs towards "may retry".
    pub fn may_retry(&self) -> bool {
        let credentials: usize = (self.primaries.iter())
            .chain(&self.fallbacks)
            .map(|p| p.credentials.len())
            .sum();
        credentials > 1
    }
}

/// Where a request came from, as far as routing cares.
#[derive(Debug, Clone, Copy, Default)]
pub struct Origin<'a> {
    /// The intercepted (or, for bridged traffic, originally intercepted) host.
    pub host: Option<&'a str>,
    /// Set when the request was intercepted here: an unclaimed host is then
    /// sent to itself on this port.
    pub intercept_port: Option<u16>,
}

/// Routes an API call: single-provider mode, then the first matching route,
/// then the host's provider, then the protocol's native provider
/// (`anthropic` for Messages, `openai` otherwise). Fallback providers are
/// added behind the primaries.
pub fn plan(
    settings: &Settings,
    router: &Router,
    from: Origin<'_>,
    protocol: Protocol,
    model: &str,
) -> Result<Plan, String> {
    let mut plan = Plan::default();
    let provider = |name: &str| {
        settings
            .provider(name)
            .ok_or_else(|| format!("no provider named {name:?}"))
    };
    if let Some(name) = &settings.single_provider {
        plan.primaries.push(provider(name)?);
        return Ok(plan);
    }
    if let Some(route) = router.find(protocol, model) {
        plan.route = Some(route.pattern.clone());
        plan.upstream_model = route.upstream_model.clone();
        for name in &route.providers {
            plan.primaries.push(provider(name)?);
        }
    } else if let Some(p) = from.host.and_then(|h| settings.provider_for_host(h)) {
        plan.primaries.push(p);
    } else if let (Some(host), Some(port)) = (from.host, from.intercept_port) {
        plan.origin = Some(format!(
            "https://{}",
            crate::upstream::authority(host, port)
        ));
        return Ok(plan);
    } else {
        plan.primaries.push(provider(native_provider(protocol))?);
    }
    plan.fallbacks = settings
        .providers
        .iter()
        .filter(|p| p.fallback && !plan.primaries.iter().any(|q| q.name == p.name))
        .cloned()
        .collect();
    Ok(plan)
}

/// The provider a protocol goes to when nothing else decides.
pub fn native_provider(protocol: Protocol) -> &'static str {
    match protocol {
        Protocol::AnthropicMessages => "anthropic",
        Protocol::OpenAiChat | Protocol::OpenAiResponses => "openai",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn route(kind: &str, pattern: &str, protocol: Option<Protocol>, provider: &str) -> Route {
        Route {
            pattern: pattern.into(),
            matcher: Matcher::new(kind, pattern).unwrap(),
            protocol,
            providers: vec![provider.into()],
            upstream_model: None,
        }
    }

    #[test]
    fn first_match_wins_with_each_kind_and_protocol_filter() {
        let router = Router::new(vec![
            route("exact", "gpt-4o", None, "exact"),
            route(
                "glob",
                "claude-*",
                Some(Protocol::AnthropicMessages),
                "glob",
            ),
            route("prefix", "claude-", None, "prefix"),
            route("regex", "^o[0-9]+(-mini)?$", None, "regex"),
        ]);
        let find = |p, m| router.find(p, m).map(|r| r.providers[0].as_str());
        assert_eq!(find(Protocol::OpenAiChat, "gpt-4o"), Some("exact"));
        assert_eq!(find(Protocol::OpenAiChat, "gpt-4o-mini"), None);
        assert_eq!(
            find(Protocol::AnthropicMessages, "claude-sonnet-4-5"),
            Some("glob")
        );
        assert_eq!(
            find(Protocol::OpenAiChat, "claude-sonnet-4-5"),
            Some("prefix")
        );
        assert_eq!(find(Protocol::OpenAiResponses, "o3-mini"), Some("regex"));
        assert_eq!(find(Protocol::OpenAiResponses, "o3-maxi"), None);
    }

    #[test]
    fn bad_patterns_are_rejected() {
        assert!(Matcher::new("regex", "([").is_err());
        assert!(Matcher::new("fuzzy", "x").is_err());
    }

    #[test]
    fn a_plan_may_retry_only_with_a_second_credential_somewhere() {
        let provider = |name: &str, keys: usize| {
            let mut p = ProviderSpec::implicit(name).unwrap();
            let client = p.credentials[0].clone();
            p.credentials = vec![client; keys];
            Arc::new(p)
        };
        let plan = |primaries: Vec<Arc<ProviderSpec>>, fallbacks: Vec<Arc<ProviderSpec>>| Plan {
            route: None,
            primaries,
            fallbacks,
            upstream_model: None,
            origin: None,
        };
        let (a1, a2, b1) = (
            provider("anthropic", 1),
            provider("anthropic", 2),
            provider("openai", 1),
        );
        assert!(!plan(vec![a1.clone()], vec![]).may_retry());
        assert!(plan(vec![a2], vec![]).may_retry());
        assert!(plan(vec![a1.clone(), b1.clone()], vec![]).may_retry());
        assert!(plan(vec![a1], vec![b1]).may_retry());
        assert!(!plan(vec![], vec![]).may_retry());
    }
}
