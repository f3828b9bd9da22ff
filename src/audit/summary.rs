//! Totals over audit records, for `switchyard logs --summary`: calls,
//! errors, tokens and cost grouped by credential, model, client, … — which
//! AI calls left, with whose key, at what cost.
//!
//! Records from the audit file are added one by one ([`Summary::add`]);
//! PostgreSQL sums its rows itself and hands over one [`Totals`] per group
//! ([`Summary::add_group`]), so a fleet's year of records is not shipped to
//! the terminal. Both read the same fields the same way: cost as whole
//! nano-dollars (the audit line's precision), so the sums are exact.

use std::collections::BTreeMap;

use serde_json::{json, Map, Value};

/// What records are grouped by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dim {
    /// The provider that served the call.
    Provider,
    /// The provider and the credential it used, as `provider/credential`.
    Credential,
    /// The model the provider was asked for (`upstream_model` when a route
    /// rewrote it): the one the call was priced at.
    Model,
    /// The authenticated client's name, else its address without the port.
    Client,
    /// The host the call went to.
    Host,
    /// The record kind (intercept, gateway, passthrough, rejected).
    Kind,
    /// The UTC day, `YYYY-MM-DD`.
    Day,
}

impl Dim {
    pub const ALL: [Dim; 7] = [
        Dim::Provider,
        Dim::Credential,
        Dim::Model,
        Dim::Client,
        Dim::Host,
        Dim::Kind,
        Dim::Day,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Dim::Provider => "provider",
            Dim::Credential => "credential",
            Dim::Model => "model",
            Dim::Client => "client",
            Dim::Host => "host",
            Dim::Kind => "kind",
            Dim::Day => "day",
        }
    }

    /// A comma-separated list such as `credential,model`.
    pub fn parse_list(list: &str) -> Result<Vec<Dim>, String> {
        let mut dims = Vec::new();
        for word in list.split(',').map(str::trim).filter(|w| !w.is_empty()) {
            let dim = Dim::ALL
                .into_iter()
                .find(|d| d.name().eq_ignore_ascii_case(word))
                .ok_or_else(|| {
                    let names: Vec<&str> = Dim::ALL.iter().map(|d| d.name()).collect();
                    format!("unknown {word:?}; expected one of {}", names.join(", "))
                })?;
            if !dims.contains(&dim) {
                dims.push(dim);
            }
        }
        if dims.is_empty() {
            return Err("expected at least one of credential, model, …".into());
        }
        Ok(dims)
    }

    /// This dimension's value in an audit record; empty when it has none.
    pub fn of(self, r: &Value) -> String {
        let text = |k: &str| r[k].as_str().unwrap_or_default();
        match self {
            Dim::Provider => text("provider").to_owned(),
            Dim::Credential => match (text("provider"), text("credential")) {
                (p, "") => p.to_owned(),
                (p, c) => format!("{p}/{c}"),
            },
            Dim::Model => match text("upstream_model") {
                "" => text("model").to_owned(),
                upstream => upstream.to_owned(),
            },
            Dim::Client => match text("client_name") {
                "" => without_port(text("client")).to_owned(),
                name => name.to_owned(),
            },
            Dim::Host => text("host").to_owned(),
            Dim::Kind => text("kind").to_owned(),
            Dim::Day => text("ts").get(..10).unwrap_or_default().to_owned(),
        }
    }
}

/// `ip:port` or `[ip]:port` → the address alone: a client's connections
/// each have their own port.
fn without_port(addr: &str) -> &str {
    match addr.rsplit_once(':') {
        Some((host, port)) if !port.is_empty() && port.bytes().all(|b| b.is_ascii_digit()) => host,
        _ => addr,
    }
}

/// The sums for one group of records.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Totals {
    pub calls: u64,
    /// Calls whose status is not 2xx (or that have none: cut off).
    pub errors: u64,
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub cache_read_tokens: u64,
    pub cache_write_tokens: u64,
    /// The sum of `cost_usd`, in nano-dollars.
    pub cost_nanos: i64,
    /// Calls with usage but no `cost_usd`: no `[prices]` entry covered them,
    /// so `cost_nanos` leaves them out.
    pub unpriced: u64,
}

impl Totals {
    /// One record's contribution.
    pub fn of(r: &Value) -> Totals {
        let usage = r["usage"].as_object();
        let tokens = |k: &str| usage.and_then(|u| u.get(k)).and_then(Value::as_u64);
        let cost = r["cost_usd"].as_f64();
        Totals {
            calls: 1,
            errors: u64::from(r["status"].as_u64().is_none_or(|s| s / 100 != 2)),
            input_tokens: tokens("input_tokens").unwrap_or(0),
            output_tokens: tokens("output_tokens").unwrap_or(0),
            cache_read_tokens: tokens("cache_read_tokens").unwrap_or(0),
            cache_write_tokens: tokens("cache_write_tokens").unwrap_or(0),
            cost_nanos: cost.map_or(0, nanos),
            unpriced: u64::from(usage.is_some() && cost.is_none()),
        }
    }

    pub fn add(&mut self, other: &Totals) {
        self.calls += other.calls;
        self.errors += other.errors;
        self.input_tokens += other.input_tokens;
        self.output_tokens += other.output_tokens;
        self.cache_read_tokens += other.cache_read_tokens;
        self.cache_write_tokens += other.cache_write_tokens;
        self.cost_nanos += other.cost_nanos;
        self.unpriced += other.unpriced;
    }

    /// Input tokens, cached ones included (the logs table's TOKENS IN).
    pub fn tokens_in(&self) -> u64 {
        self.input_tokens + self.cache_read_tokens + self.cache_write_tokens
    }

    pub fn cost_usd(&self) -> f64 {
        self.cost_nanos as f64 / 1e9
    }

    fn json(&self) -> Map<String, Value> {
        let mut m = Map::new();
        for (k, v) in [
            ("calls", self.calls),
            ("errors", self.errors),
            ("input_tokens", self.input_tokens),
            ("output_tokens", self.output_tokens),
            ("cache_read_tokens", self.cache_read_tokens),
            ("cache_write_tokens", self.cache_write_tokens),
            ("unpriced", self.unpriced),
        ] {
            m.insert(k.into(), v.into());
        }
        m.insert("cost_usd".into(), json!(self.cost_usd()));
        m
    }
}

/// USD as whole nano-dollars, the precision `cost_usd` is written with.
fn nanos(usd: f64) -> i64 {
    (usd * 1e9).round() as i64
}

/// Totals per group, plus the blind tunnels, which are no API calls.
#[derive(Debug, Clone)]
pub struct Summary {
    by: Vec<Dim>,
    groups: BTreeMap<Vec<String>, Totals>,
    tunnels: u64,
}

impl Summary {
    pub fn new(by: Vec<Dim>) -> Summary {
        Summary {
            by,
            groups: BTreeMap::new(),
            tunnels: 0,
        }
    }

    pub fn by(&self) -> &[Dim] {
        &self.by
    }

    /// Adds one audit record.
    pub fn add(&mut self, r: &Value) {
        if r["kind"] == "tunnel" {
            self.tunnels += 1;
            return;
        }
        let key = self.by.iter().map(|d| d.of(r)).collect();
        self.add_group(key, &Totals::of(r));
    }

    /// Adds totals summed elsewhere (PostgreSQL) for the group `key`, one
    /// value per dimension of [`Summary::by`].
    pub fn add_group(&mut self, key: Vec<String>, totals: &Totals) {
        self.groups.entry(key).or_default().add(totals);
    }

    pub fn add_tunnels(&mut self, n: u64) {
        self.tunnels += n;
    }

    pub fn total(&self) -> Totals {
        let mut all = Totals::default();
        self.groups.values().for_each(|t| all.add(t));
        all
    }

    /// The groups, most expensive first, then the busiest, then by name.
    pub fn rows(&self) -> Vec<(&[String], &Totals)> {
        let mut rows: Vec<_> = self.groups.iter().map(|(k, t)| (k.as_slice(), t)).collect();
        rows.sort_by(|a, b| {
            (b.1.cost_nanos, b.1.calls)
                .cmp(&(a.1.cost_nanos, a.1.calls))
                .then_with(|| a.0.cmp(b.0))
        });
        rows
    }

    pub fn tunnels(&self) -> u64 {
        self.tunnels
    }

    /// `{"by": [...], "groups": [{<dims>, calls, …}], "total": {…}, "tunnels": N}`.
    pub fn json(&self, since: Option<&str>) -> Value {
        let groups: Vec<Value> = self
            .rows()
            .into_iter()
            .map(|(key, totals)| {
                let mut m = Map::new();
                for (dim, value) in self.by.iter().zip(key) {
                    m.insert(dim.name().into(), value.clone().into());
                }
                m.extend(totals.json());
                Value::Object(m)
            })
            .collect();
        json!({
            "since": since,
            "by": self.by.iter().map(|d| d.name()).collect::<Vec<_>>(),
            "groups": groups,
            "total": Value::Object(self.total().json()),
            "tunnels": self.tunnels,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(extra: Value) -> Value {
        let mut r = json!({"ts": "2026-12-01T10:00:00.000Z", "kind": "gateway", "client": "127.0.0.1:50000",
            "host": "api.anthropic.com", "provider": "anthropic", "credential": "team-a",
            "model": "claude-x", "status": 200,
            "usage": {"input_tokens": 10, "output_tokens": 20, "cache_read_tokens": 5, "cache_write_tokens": 1},
            "cost_usd": 0.000345});
        if let (Some(r), Value::Object(extra)) = (r.as_object_mut(), extra) {
            r.extend(extra);
        }
        r
    }

    #[test]
    fn groups_sum_calls_errors_tokens_and_exact_cost() {
        let mut s = Summary::new(vec![Dim::Credential, Dim::Model]);
        s.add(&record(json!({})));
        s.add(&record(
            json!({"status": 429, "usage": null, "cost_usd": null}),
        ));
        s.add(&record(
            json!({"credential": "team-b", "upstream_model": "claude-y", "cost_usd": 0.1}),
        ));
        s.add(&record(json!({"model": "gpt-x", "cost_usd": null})));
        s.add(&record(json!({"kind": "tunnel", "provider": null})));
        for _ in 0..1000 {
            s.add(&record(json!({"cost_usd": 0.000000001})));
        }
        let rows = s.rows();
        let keys: Vec<String> = rows.iter().map(|(k, _)| k.join(" ")).collect();
        assert_eq!(
            keys,
            [
                "anthropic/team-b claude-y",
                "anthropic/team-a claude-x",
                "anthropic/team-a gpt-x"
            ]
        );
        let a = rows[1].1;
        assert_eq!((a.calls, a.errors), (1002, 1));
        assert_eq!(a.input_tokens, 10 * 1001);
        assert_eq!(a.tokens_in(), 16 * 1001);
        // 0.000345 + 1000 nano-dollars, with no float drift.
        assert_eq!(a.cost_nanos, 346_000);
        assert_eq!(a.unpriced, 0);
        assert_eq!(rows[2].1.unpriced, 1);
        assert_eq!(s.tunnels(), 1);
        let total = s.total();
        assert_eq!(total.calls, 1004);
        assert_eq!(total.cost_nanos, 100_346_000);
        let j = s.json(Some("2026-12-01T00:00:00.000Z"));
        assert_eq!(j["groups"][0]["credential"], "anthropic/team-b");
        assert_eq!(j["groups"][0]["model"], "claude-y");
        assert_eq!(j["groups"][0]["cost_usd"], 0.1);
        assert_eq!(j["total"]["calls"], 1004);
        assert_eq!(j["tunnels"], 1);
        assert_eq!(j["by"], json!(["credential", "model"]));
    }

    #[test]
    fn dimensions_read_the_record() {
        let r = record(json!({"client_name": null, "client": "[::1]:5000"}));
        assert_eq!(Dim::Client.of(&r), "[::1]");
        assert_eq!(Dim::Client.of(&record(json!({}))), "127.0.0.1");
        assert_eq!(
            Dim::Client.of(&record(json!({"client_name": "ci-bot"}))),
            "ci-bot"
        );
        assert_eq!(Dim::Day.of(&r), "2026-12-01");
        assert_eq!(
            Dim::Credential.of(&record(json!({"credential": null}))),
            "anthropic"
        );
        assert_eq!(Dim::Credential.of(&json!({})), "");
        assert_eq!(Dim::Host.of(&r), "api.anthropic.com");
        assert_eq!(Dim::Kind.of(&r), "gateway");
    }

    #[test]
    fn dimension_lists_parse_or_name_the_bad_word() {
        assert_eq!(
            Dim::parse_list("credential, MODEL,credential").unwrap(),
            [Dim::Credential, Dim::Model]
        );
        let e = Dim::parse_list("credential,user").unwrap_err();
        assert!(e.contains("\"user\"") && e.contains("day"), "{e}");
        assert!(Dim::parse_list(" , ").is_err());
    }
}
