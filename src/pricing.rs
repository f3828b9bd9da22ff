//! What a call cost (`[prices]`): USD per million tokens for each model,
//! applied to a record's normalised usage to give its `cost_usd`. A
//! provider may have its own table (`[providers.<name>.prices]`): the same
//! model costs something else direct than through a reseller.
//!
//! No prices are built in. Providers change them, and a stale table would
//! put confident wrong numbers in an audit trail; a model without a price
//! gets `cost_usd: null`.

use std::collections::BTreeMap;

use serde::Deserialize;
use wildmatch::WildMatch;

use crate::audit::record::Record;

/// `[prices."<model>"]`: USD per million tokens.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Price {
    /// Input tokens not read from or written to a cache.
    pub input: f64,
    /// Output tokens, reasoning included.
    pub output: f64,
    /// Cached input read back; unset: the input price.
    pub cache_read: Option<f64>,
    /// Input written to a cache; unset: the input price.
    pub cache_write: Option<f64>,
}

impl Price {
    /// Why the price cannot be used, if it cannot.
    pub fn check(&self) -> Result<(), &'static str> {
        let all = [
            Some(self.input),
            Some(self.output),
            self.cache_read,
            self.cache_write,
        ];
        if all.iter().flatten().all(|p| p.is_finite() && *p >= 0.0) {
            Ok(())
        } else {
            Err("prices are USD per million tokens: finite, not negative")
        }
    }
}

/// The configured prices, found by the provider that served a call and
/// the model it was asked for.
#[derive(Debug, Clone, Default)]
pub struct Prices {
    /// `[prices]`: for every provider.
    everywhere: Table,
    /// `[providers.<name>.prices]`: for that provider, before `everywhere`.
    by_provider: BTreeMap<String, Table>,
}

/// One price table, sorted so that the first match is the most specific:
/// exact names, then globs, longest first.
#[derive(Debug, Clone, Default)]
struct Table {
    entries: Vec<(String, Option<WildMatch>, Price)>,
}

impl Table {
    fn new(table: impl IntoIterator<Item = (String, Price)>) -> Table {
        let mut entries: Vec<_> = table
            .into_iter()
            .map(|(pattern, price)| {
                let glob = pattern
                    .contains(['*', '?'])
                    .then(|| WildMatch::new(&pattern));
                (pattern, glob, price)
            })
            .collect();
        entries.sort_by(|a, b| {
            (a.1.is_some(), std::cmp::Reverse(a.0.len()), &a.0).cmp(&(
                b.1.is_some(),
                std::cmp::Reverse(b.0.len()),
                &b.0,
            ))
        });
        Table { entries }
    }

    /// The price of `model`: its exact entry, else the longest matching glob.
    fn of(&self, model: &str) -> Option<&Price> {
        self.entries
            .iter()
            .find(|(name, glob, _)| match glob {
                Some(glob) => glob.matches(model),
                None => name == model,
            })
            .map(|(_, _, price)| price)
    }

    fn models(&self) -> impl Iterator<Item = &str> {
        self.entries.iter().map(|(name, _, _)| name.as_str())
    }
}

impl Prices {
    /// `[prices]`, for every provider.
    pub fn new(table: impl IntoIterator<Item = (String, Price)>) -> Prices {
        Prices {
            everywhere: Table::new(table),
            by_provider: BTreeMap::new(),
        }
    }

    /// Adds `provider`'s own table, which its calls are priced by first.
    pub fn with_provider(
        mut self,
        provider: &str,
        table: impl IntoIterator<Item = (String, Price)>,
    ) -> Prices {
        let table = Table::new(table);
        if !table.entries.is_empty() {
            self.by_provider.insert(provider.to_owned(), table);
        }
        self
    }

    pub fn is_empty(&self) -> bool {
        self.everywhere.entries.is_empty() && self.by_provider.is_empty()
    }

    /// The model names and globs of `[prices]`, most specific first.
    pub fn models(&self) -> impl Iterator<Item = &str> {
        self.everywhere.models()
    }

    /// Each provider with its own table, and that table's models.
    pub fn providers(&self) -> impl Iterator<Item = (&str, Vec<&str>)> {
        self.by_provider
            .iter()
            .map(|(name, table)| (name.as_str(), table.models().collect()))
    }

    /// The price of `model` at `provider`: the provider's own table first
    /// (exact name, else the longest matching glob), then `[prices]`.
    pub fn of(&self, provider: Option<&str>, model: &str) -> Option<&Price> {
        provider
            .and_then(|p| self.by_provider.get(p))
            .and_then(|table| table.of(model))
            .or_else(|| self.everywhere.of(model))
    }

    /// What the record's call cost in USD: its usage at the provider's
    /// price of the model it was asked for (`upstream_model` when a route
    /// rewrote it). None without usage or without a price.
    pub fn cost(&self, record: &Record) -> Option<f64> {
        if self.is_empty() {
            return None;
        }
        let usage = record.usage.as_ref()?;
        let model = record.upstream_model.as_ref().or(record.model.as_ref())?;
        let price = self.of(record.provider.as_deref(), model)?;
        let per_token = |tokens: u64, per_million: f64| tokens as f64 * per_million;
        let micro = per_token(usage.input_tokens, price.input)
            + per_token(usage.output_tokens, price.output)
            + per_token(
                usage.cache_read_tokens,
                price.cache_read.unwrap_or(price.input),
            )
            + per_token(
                usage.cache_write_tokens,
                price.cache_write.unwrap_or(price.input),
            );
        // Whole nano-dollars: no float noise in the audit line.
        Some((micro * 1_000.0).round() / 1_000_000_000.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::record::{Kind, Usage};

    fn price(input: f64, output: f64) -> Price {
        Price {
            input,
            output,
            cache_read: None,
            cache_write: None,
        }
    }

    #[test]
    fn exact_names_beat_globs_and_longer_globs_beat_shorter() {
        let prices = Prices::new([
            ("claude-*".to_owned(), price(1.0, 1.0)),
            ("claude-sonnet-*".to_owned(), price(3.0, 15.0)),
            ("claude-sonnet-4-5".to_owned(), price(4.0, 16.0)),
        ]);
        let input = |model: &str| prices.of(None, model).map(|p| p.input);
        assert_eq!(input("claude-sonnet-4-5"), Some(4.0));
        assert_eq!(input("claude-sonnet-4-0"), Some(3.0));
        assert_eq!(input("claude-haiku"), Some(1.0));
        assert_eq!(input("gpt-5"), None);
    }

    #[test]
    fn a_providers_own_table_comes_first_then_the_shared_one() {
        let prices = Prices::new([
            ("claude-*".to_owned(), price(1.0, 1.0)),
            ("gpt-5".to_owned(), price(2.0, 2.0)),
        ])
        .with_provider("reseller", [("claude-*".to_owned(), price(7.0, 7.0))])
        .with_provider("empty", []);
        let input = |provider, model: &str| prices.of(provider, model).map(|p| p.input);
        assert_eq!(input(Some("reseller"), "claude-x"), Some(7.0));
        assert_eq!(input(Some("reseller"), "gpt-5"), Some(2.0), "falls back");
        assert_eq!(input(Some("anthropic"), "claude-x"), Some(1.0));
        assert_eq!(input(None, "claude-x"), Some(1.0));
        let providers: Vec<_> = prices.providers().collect();
        assert_eq!(providers, [("reseller", vec!["claude-*"])]);
        let only_provider =
            Prices::default().with_provider("p", [("m".to_owned(), price(1.0, 1.0))]);
        assert!(!only_provider.is_empty());
        let mut r = Record::new(Kind::Gateway, "127.0.0.1:1".into());
        r.model = Some("m".into());
        r.usage = Some(Usage {
            input_tokens: 1_000_000,
            ..Usage::default()
        });
        assert_eq!(only_provider.cost(&r), None, "another provider's price");
        r.provider = Some("p".into());
        assert_eq!(only_provider.cost(&r), Some(1.0));
    }

    #[test]
    fn the_cost_prices_each_kind_of_token_of_the_upstream_model() {
        let prices = Prices::new([
            (
                "up".to_owned(),
                Price {
                    input: 3.0,
                    output: 15.0,
                    cache_read: Some(0.3),
                    cache_write: None,
                },
            ),
            ("client".to_owned(), price(100.0, 100.0)),
        ]);
        let mut r = Record::new(Kind::Gateway, "127.0.0.1:1".into());
        r.model = Some("client".into());
        assert_eq!(prices.cost(&r), None, "no usage, no cost");
        r.upstream_model = Some("up".into());
        r.usage = Some(Usage {
            input_tokens: 1_000,
            output_tokens: 2_000,
            cache_read_tokens: 10_000,
            cache_write_tokens: 100,
            reasoning_tokens: 500,
        });
        // 1k × 3 + 2k × 15 + 10k × 0.3 + 100 × 3 (cache writes at the input
        // price) = 36,300 USD per million tokens.
        assert_eq!(prices.cost(&r), Some(0.0363));
        r.upstream_model = Some("unpriced".into());
        assert_eq!(prices.cost(&r), None);
    }

    #[test]
    fn negative_or_infinite_prices_are_refused() {
        assert!(price(3.0, 15.0).check().is_ok());
        assert!(price(-1.0, 15.0).check().is_err());
        assert!(price(1.0, f64::INFINITY).check().is_err());
        let p = Price {
            cache_read: Some(f64::NAN),
            ..price(1.0, 1.0)
        };
        assert!(p.check().is_err());
    }
}
