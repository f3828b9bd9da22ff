//! A per-provider circuit breaker: closed → open after N consecutive
//! failures → half-open after a cool-down, where one probe decides.

use std::time::{Duration, Instant};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BreakerSpec {
    /// Consecutive failures (5xx, connection failures, timeouts) that open it.
    pub failures: u32,
    /// How long it stays open before a probe is let through.
    pub cooldown: Duration,
}

impl Default for BreakerSpec {
    fn default() -> Self {
        BreakerSpec {
            failures: 5,
            cooldown: Duration::from_secs(30),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    Closed { failures: u32 },
    Open { until: Instant },
    HalfOpen { probing: bool },
}

impl State {
    pub fn name(&self) -> &'static str {
        match self {
            State::Closed { .. } => "closed",
            State::Open { .. } => "open",
            State::HalfOpen { .. } => "half_open",
        }
    }
}

/// What `allow` decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admit {
    Yes,
    /// Yes, as the half-open probe: its outcome closes or reopens the circuit.
    Probe,
    /// No; try again after this long.
    No(Duration),
}

#[derive(Debug, Clone)]
pub struct Breaker {
    spec: BreakerSpec,
    state: State,
}

impl Breaker {
    pub fn new(spec: BreakerSpec) -> Breaker {
        Breaker {
            spec,
            state: State::Closed { failures: 0 },
        }
    }

    pub fn state(&self) -> State {
        self.state
    }

    pub fn allow(&mut self, now: Instant) -> Admit {
        match self.state {
            State::Closed { .. } => Admit::Yes,
            State::Open { until } if now < until => Admit::No(until - now),
            State::Open { .. } | State::HalfOpen { probing: false } => {
                self.state = State::HalfOpen { probing: true };
                Admit::Probe
            }
            // A probe is out; others wait for its verdict.
            State::HalfOpen { probing: true } => Admit::No(Duration::from_secs(1)),
        }
    }

    pub fn on_success(&mut self) {
        self.state = State::Closed { failures: 0 };
    }

    pub fn on_failure(&mut self, now: Instant) {
        self.state = match self.state {
            State::Closed { failures } if failures + 1 < self.spec.failures => State::Closed {
                failures: failures + 1,
            },
            _ => State::Open {
                until: now + self.spec.cooldown,
            },
        };
    }

    /// A probe that ended without a verdict (the client went away) frees the
    /// slot for the next one.
    pub fn probe_abandoned(&mut self) {
        if self.state == (State::HalfOpen { probing: true }) {
            self.state = State::HalfOpen { probing: false };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opens_half_opens_and_closes() {
        let spec = BreakerSpec {
            failures: 3,
            cooldown: Duration::from_secs(10),
        };
        let mut b = Breaker::new(spec);
        let t0 = Instant::now();
        for _ in 0..2 {
            b.on_failure(t0);
            assert_eq!(b.allow(t0), Admit::Yes);
        }
        b.on_failure(t0);
        assert!(
            matches!(b.allow(t0 + Duration::from_secs(1)), Admit::No(d) if d == Duration::from_secs(9))
        );
        let later = t0 + Duration::from_secs(11);
        assert_eq!(b.allow(later), Admit::Probe);
        assert!(
            matches!(b.allow(later), Admit::No(_)),
            "one probe at a time"
        );
        b.on_failure(later);
        assert_eq!(b.state().name(), "open", "a failed probe reopens");
        let much_later = later + Duration::from_secs(11);
        assert_eq!(b.allow(much_later), Admit::Probe);
        b.on_success();
        assert_eq!(b.allow(much_later), Admit::Yes);
    }

    #[test]
    fn success_resets_the_failure_count() {
        let mut b = Breaker::new(BreakerSpec {
            failures: 2,
            cooldown: Duration::from_secs(5),
        });
        let t = Instant::now();
        b.on_failure(t);
        b.on_success();
        b.on_failure(t);
        assert_eq!(b.allow(t), Admit::Yes);
    }
}
