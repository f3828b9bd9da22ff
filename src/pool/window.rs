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
        // Expire here too: a credential without rpm/tpm never asks for its
        // sum, and its window would otherwise grow by an entry per request
        // forever (memory, and a longer search in `settle`).
        self.expire(now);
        self.entries.push_back((id, now, weight));
        self.sum += weight;
    }

    /// Replaces the weight of entry `id` (an estimate settled by real usage).
    /// An entry that has already left the window is not counted any more.
    pub fn settle(&mut self, id: u64, weight: u64) {
        // Ids are taken under the pool's lock in the order entries are
        // pushed, so the window is sorted by id.
        if let Ok(i) = self.entries.binary_search_by_key(&id, |e| e.0) {
            let entry = &mut self.entries[i];
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

    #[test]
    fn stays_bounded_without_being_asked_for_its_sum() {
        let t0 = Instant::now();
        let mut w = Window::default();
        // Two minutes of 100 requests a second, never summed (no limits).
        for id in 0..12_000u64 {
            w.add(id, t0 + Duration::from_millis(id * 10), 1);
        }
        assert!(w.entries.len() <= 6_001, "{}", w.entries.len());
        w.settle(11_999, 7);
        w.settle(3, 100); // long gone: ignored
        let now = t0 + Duration::from_millis(11_999 * 10);
        assert_eq!(w.sum(now), w.entries.len() as u64 - 1 + 7);
    }
}
