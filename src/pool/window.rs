//! Sliding one-minute windows for a credential's rpm and tpm limits.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

pub const WINDOW: Duration = Duration::from_secs(60);

/// Events (with a weight) in the last minute.
#[derive(Debug, Default, Clone)]
pub struct Window {
    entries: VecDeque<(u64, Instant, u64)>,
    sum: u64,
}

impl Window {
    fn expire(&mut self, now: Instant) {
        while let Some(&(_, at, weight)) = self.entries.front() {
            if now.duration_since(at) < WINDOW {
                break;
            }
            self.entries.pop_front();
            self.sum -= weight;
        }
    }

    /// The total weight in the window.
    pub fn sum(&mut self, now: Instant) -> u64 {
        self.expire(now);
        self.sum
    }

    pub fn add(&mut self, id: u64, now: Instant, weight: u64) {
        self.entries.push_back((id, now, weight));
        self.sum += weight;
    }

    /// Replaces the weight of entry `id` (an estimate settled by real usage).
    pub fn settle(&mut self, id: u64, weight: u64) {
        if let Some(entry) = self.entries.iter_mut().find(|e| e.0 == id) {
            self.sum = self.sum - entry.2 + weight;
            entry.2 = weight;
        }
    }

    /// The entries still in the window made at or after `since` (all when
    /// None), as (age, weight): what a replica hands a Redis that lost them.
    pub fn entries_since(&mut self, now: Instant, since: Option<Instant>) -> Vec<(Duration, u64)> {
        self.expire(now);
        self.entries
            .iter()
            .filter(|(_, at, _)| since.is_none_or(|s| *at >= s))
            .map(|&(_, at, weight)| (now.saturating_duration_since(at), weight))
            .collect()
    }

    /// How long until the window's total drops below `limit`.
    pub fn wait_until_below(&mut self, now: Instant, limit: u64) -> Duration {
        self.expire(now);
        let mut sum = self.sum;
        for &(_, at, weight) in &self.entries {
            if sum < limit {
                break;
            }
            sum -= weight;
            if sum < limit {
                return (at + WINDOW).saturating_duration_since(now);
            }
        }
        Duration::ZERO
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expires_settles_and_predicts() {
        let t0 = Instant::now();
        let mut w = Window::default();
        w.add(1, t0, 10);
        w.add(2, t0 + Duration::from_secs(30), 5);
        assert_eq!(w.sum(t0 + Duration::from_secs(31)), 15);
        w.settle(2, 50);
        assert_eq!(w.sum(t0 + Duration::from_secs(31)), 60);
        assert_eq!(
            w.wait_until_below(t0 + Duration::from_secs(31), 60),
            Duration::from_secs(29)
        );
        assert_eq!(w.sum(t0 + Duration::from_secs(61)), 50);
        assert_eq!(
            w.entries_since(
                t0 + Duration::from_secs(61),
                Some(t0 + Duration::from_secs(1))
            ),
            [(Duration::from_secs(31), 50)]
        );
        assert_eq!(w.sum(t0 + Duration::from_secs(91)), 0);
    }
}
