//! Latency samples and their summaries.

use serde::{Deserialize, Serialize};

/// Percentiles of a set of samples, in milliseconds.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Summary {
    pub count: usize,
    pub mean_ms: f64,
    pub p50_ms: f64,
    pub p90_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
}

/// Summarises samples given in microseconds. Sorting a few hundred thousand
/// `u32`s costs a few milliseconds, after the measured window, so exact
/// percentiles are cheaper than a histogram dependency.
pub fn summarize(samples: &mut [u32]) -> Summary {
    if samples.is_empty() {
        return Summary::default();
    }
    samples.sort_unstable();
    let ms = |us: u32| f64::from(us) / 1000.0;
    let at = |q: f64| {
        let rank = ((samples.len() as f64) * q).ceil() as usize;
        ms(samples[rank.clamp(1, samples.len()) - 1])
    };
    let total: u64 = samples.iter().map(|&s| u64::from(s)).sum();
    Summary {
        count: samples.len(),
        mean_ms: total as f64 / samples.len() as f64 / 1000.0,
        p50_ms: at(0.50),
        p90_ms: at(0.90),
        p99_ms: at(0.99),
        max_ms: ms(*samples.last().unwrap_or(&0)),
    }
}

/// Microseconds in a duration, saturating (a sample over 71 minutes is
/// already meaningless).
pub fn micros(d: std::time::Duration) -> u32 {
    u32::try_from(d.as_micros()).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_are_nearest_rank() {
        let mut v: Vec<u32> = (1..=100).map(|i| i * 1000).collect();
        let s = summarize(&mut v);
        assert_eq!(s.count, 100);
        assert_eq!(s.p50_ms, 50.0);
        assert_eq!(s.p99_ms, 99.0);
        assert_eq!(s.max_ms, 100.0);
        assert_eq!(summarize(&mut []), Summary::default());
    }
}
