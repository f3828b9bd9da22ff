//! Sliding one-minute windows for a credential's rpm and tpm limits.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

pub const WINDOW: Duration = Duration::from_secs(60);

/// Events closer together than this share one slot. A window then holds
/// at most 600 slots however busy the credential is (one entry per request
/// would be 60 × rps entries, megabytes at gateway rates).
const SLOT: Duration = Duration::from_millis(100);

/// Events (with a weight) in the last minute.
#[derive(Debug, Default, Clone)]
pub struct Window {
    slots: VecDeque<Slot>,
    sum: u64,
}

/// Consecutive events, ids `first..=last`, that came within [`SLOT`] of
/// `start`. `at` is the time of the latest: a slot leaves the window when
/// its last event does, so limits err on the strict side (by at most
/// [`SLOT`]), never the lenient one.
#[derive(Debug, Clone, Copy)]
struct Slot {
    first: u64,
    last: u64,
    start: Instant,
    at: Instant,
    weight: u64,
}

impl Window {
    fn expire(&mut self, now: Instant) {
        while let Some(slot) = self.slots.front() {
            if now.duration_since(slot.at) < WINDOW {
                break;
            }
            self.sum -= slot.weight;
            self.slots.pop_front();
        }
    }

    /// The total weight in the window.
    pub fn sum(&mut self, now: Instant) -> u64 {
        self.expire(now);
        self.sum
    }

    /// Counts event `id` (ids must grow) at `now`.
    pub fn add(&mut self, id: u64, now: Instant, weight: u64) {
        // Expire here too: a credential without rpm/tpm never asks for its
        // sum, and its window would otherwise keep slots forever.
        self.expire(now);
        self.sum += weight;
        match self.slots.back_mut() {
            Some(slot) if id > slot.last && now.saturating_duration_since(slot.start) < SLOT => {
                slot.last = id;
                slot.at = slot.at.max(now);
                slot.weight += weight;
            }
            _ => self.slots.push_back(Slot {
                first: id,
                last: id,
                start: now,
                at: now,
                weight,
            }),
        }
    }

    /// Replaces the weight `old` of event `id` by `new` (an estimate settled
    /// by real usage). An event that has left the window is not counted any more.
    pub fn settle(&mut self, id: u64, old: u64, new: u64) {
        let i = self.slots.partition_point(|s| s.last < id);
        if let Some(slot) = self.slots.get_mut(i).filter(|s| s.first <= id) {
            let weight = slot.weight.saturating_sub(old) + new;
            self.sum = self.sum - slot.weight + weight;
            slot.weight = weight;
        }
    }

    /// The weight still in the window added at or after `since` (all when
    /// None), as (age, weight) per slot: what a replica hands a Redis that
    /// lost them.
    pub fn entries_since(&mut self, now: Instant, since: Option<Instant>) -> Vec<(Duration, u64)> {
        self.expire(now);
        self.slots
            .iter()
            .filter(|s| since.is_none_or(|since| s.at >= since))
            .map(|s| (now.saturating_duration_since(s.at), s.weight))
            .collect()
    }

    /// How long until the window's total drops below `limit`.
    pub fn wait_until_below(&mut self, now: Instant, limit: u64) -> Duration {
        self.expire(now);
        let mut sum = self.sum;
        for slot in &self.slots {
            if sum < limit {
                break;
            }
            sum -= slot.weight;
            if sum < limit {
                return (slot.at + WINDOW).saturating_duration_since(now);
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
        w.settle(2, 5, 50);
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
        assert!(w.slots.len() <= 601, "{}", w.slots.len());
        let now = t0 + Duration::from_millis(11_999 * 10);
        let before = w.sum(now);
        // The last minute's 6,000 events, give or take one slot, and
        // never fewer: slots leave with their last event.
        assert!((6_000..=6_010).contains(&before), "{before}");
        w.settle(11_999, 1, 7);
        w.settle(11_990, 1, 0);
        w.settle(3, 1, 100); // long gone: ignored
        assert_eq!(w.sum(now), before + 6 - 1);
    }

    #[test]
    fn events_leave_no_earlier_than_a_minute_after_they_came() {
        let t0 = Instant::now();
        let mut w = Window::default();
        for id in 0..10u64 {
            w.add(id, t0 + Duration::from_millis(id * 30), 1);
        }
        // Slots of 100 ms: events 0-3 leave a minute after event 3 came
        // (90 ms), 4-7 after 210 ms, 8-9 after 270 ms; none before its minute.
        let at = |ms| t0 + WINDOW + Duration::from_millis(ms);
        assert_eq!(w.sum(at(89)), 10);
        assert_eq!(w.sum(at(90)), 6);
        assert_eq!(w.sum(at(209)), 6);
        assert_eq!(w.sum(at(210)), 2);
        assert_eq!(w.sum(at(270)), 0);
    }
}
