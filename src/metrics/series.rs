//! The request metrics' series a record lands in, held by label values.
//!
//! A workstation talks to a few providers and models, so nearly every
//! request's labels were seen a moment ago. prometheus-client's metrics are
//! shared handles: holding the handles of recent label combinations spares
//! each request five SipHashed lookups in the families' maps (and the label
//! strings it would build for them). The families stay the source of truth;
//! an evicted combination is found there again, counts intact.

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::histogram::Histogram;

/// Label combinations held at once.
const KEPT: usize = 32;

/// A record's labels, borrowed from it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Key<'a> {
    pub kind: &'static str,
    pub protocol: &'static str,
    pub provider: &'a str,
    pub status: Option<u16>,
    /// The upstream model (else the requested one): the token counters' label.
    pub model: &'a str,
}

/// The handles of one label combination's series.
pub(super) struct Series {
    kind: &'static str,
    protocol: &'static str,
    status: Option<u16>,
    pub provider: String,
    pub model: String,
    pub requests: Counter,
    pub duration: Histogram,
    pub ttfb: Histogram,
    /// Input, output, cache read, cache write: created at the first count,
    /// so that a direction never seen exports no zero series.
    pub tokens: [Option<Counter>; 4],
}

impl Series {
    pub fn new(key: &Key, requests: Counter, duration: Histogram, ttfb: Histogram) -> Series {
        Series {
            kind: key.kind,
            protocol: key.protocol,
            status: key.status,
            provider: key.provider.to_owned(),
            model: key.model.to_owned(),
            requests,
            duration,
            ttfb,
            tokens: Default::default(),
        }
    }

    fn key(&self) -> Key<'_> {
        Key {
            kind: self.kind,
            protocol: self.protocol,
            provider: &self.provider,
            status: self.status,
            model: &self.model,
        }
    }
}

/// The most recently used combinations, most recent first.
#[derive(Default)]
pub(super) struct Recent(Vec<Series>);

impl Recent {
    /// The series for `key`, made by `make` when not held. The one used
    /// moves to the front, so a steady stream of alike requests costs one
    /// comparison each; the least recently used goes when `KEPT` are held.
    pub fn get(&mut self, key: &Key, make: impl FnOnce() -> Series) -> &mut Series {
        match self.0.iter().position(|s| s.key() == *key) {
            Some(i) => self.0[..=i].rotate_right(1),
            None => {
                self.0.truncate(KEPT - 1);
                self.0.insert(0, make());
            }
        }
        &mut self.0[0]
    }

    #[cfg(test)]
    fn providers(&self) -> Vec<&str> {
        self.0.iter().map(|s| s.provider.as_str()).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(provider: &str) -> Key<'_> {
        Key {
            kind: "gateway",
            protocol: "openai_chat",
            provider,
            status: Some(200),
            model: "m",
        }
    }

    fn make(k: &Key) -> Series {
        let h = || Histogram::new([1.0]);
        Series::new(k, Counter::default(), h(), h())
    }

    #[test]
    fn the_used_series_moves_first_and_the_oldest_goes() {
        let mut recent = Recent::default();
        for p in ["a", "b", "c"] {
            recent.get(&key(p), || make(&key(p)));
        }
        assert_eq!(recent.providers(), ["c", "b", "a"]);
        recent
            .get(&key("a"), || panic!("held, not made again"))
            .requests
            .inc();
        assert_eq!(recent.providers(), ["a", "c", "b"]);
        let names: Vec<String> = (0..KEPT).map(|i| format!("p{i}")).collect();
        for n in &names {
            recent.get(&key(n), || make(&key(n)));
        }
        assert_eq!(recent.0.len(), KEPT);
        assert_eq!(recent.providers()[0], format!("p{}", KEPT - 1));
        assert!(!recent.providers().contains(&"a"));
    }

    #[test]
    fn every_label_tells_series_apart() {
        let base = key("p");
        let variants = [
            Key {
                kind: "intercept",
                ..base
            },
            Key {
                protocol: "anthropic_messages",
                ..base
            },
            Key {
                provider: "q",
                ..base
            },
            Key {
                status: Some(429),
                ..base
            },
            Key {
                status: None,
                ..base
            },
            Key { model: "n", ..base },
        ];
        let mut recent = Recent::default();
        recent.get(&base, || make(&base)).requests.inc();
        for v in &variants {
            let s = recent.get(v, || make(v));
            assert_eq!(s.requests.get(), 0, "{v:?} shared the base's series");
        }
        assert_eq!(recent.get(&base, || make(&base)).requests.get(), 1);
    }
}
