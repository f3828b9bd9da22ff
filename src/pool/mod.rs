//! Credential pools: which provider credential serves the next request.
//!
//! Each provider's credentials are used round-robin, skipping any whose rpm
//! or tpm window is full or that is cooling down after a 429 or 5xx. Each
//! provider also has a circuit breaker fed by 5xx, timeouts and connection
//! failures. A [`Lease`] is what a request holds while it uses a credential;
//! it reports the outcome back.
//!
//! With a [`Cluster`] (a fleet sharing Redis), [`ProviderPool::acquire_shared`]
//! asks Redis first and still counts locally (the local state then covers
//! this replica's own traffic, ready for a Redis outage); while Redis is
//! unreachable it decides locally with limits divided by the replica count.

pub mod breaker;
pub mod window;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime};

use breaker::{Admit, Breaker};
use window::Window;

use crate::cluster::{AcquireArgs, Cluster, SharedCredential};
use crate::providers::ProviderSpec;

/// What happened to a request, as far as the credential and provider go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Anything the provider answered normally (including client errors).
    Success,
    /// 429: cool the credential down, for `retry_after` when given.
    RateLimited { retry_after: Option<Duration> },
    /// 5xx: cool the credential down briefly and count a breaker failure.
    ServerError,
    /// Connection failure or timeout: the provider, not the key, is at fault.
    Unreachable,
}

/// The state of one credential.
#[derive(Debug)]
struct Credential {
    name: String,
    rpm: Option<u32>,
    tpm: Option<u64>,
    requests: Window,
    tokens: Window,
    cooldown_until: Option<Instant>,
    /// Consecutive 429/5xx, for exponential backoff without retry-after.
    strikes: u32,
}

impl Credential {
    /// Zero when usable now, else how long until it may be. `divisor`
    /// scales the limits down (a replica's share while Redis is away).
    fn wait(&mut self, now: Instant, divisor: u32) -> Duration {
        let mut wait = self
            .cooldown_until
            .map(|t| t.saturating_duration_since(now))
            .unwrap_or_default();
        if let Some(rpm) = self.rpm.map(|r| (r / divisor.max(1)).max(1)) {
            if self.requests.sum(now) >= u64::from(rpm) {
                wait = wait.max(self.requests.wait_until_below(now, u64::from(rpm)));
                wait = wait.max(Duration::from_millis(1));
            }
        }
        if let Some(tpm) = self.tpm.map(|t| (t / u64::from(divisor.max(1))).max(1)) {
            if self.tokens.sum(now) >= tpm {
                wait = wait
                    .max(self.tokens.wait_until_below(now, tpm))
                    .max(Duration::from_millis(1));
            }
        }
        wait
    }
}

/// Credential state as `status` reports it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct CredentialStatus {
    pub name: String,
    /// `available`, `limited` (rpm/tpm window full) or `cooling_down`.
    pub state: &'static str,
    pub requests_last_minute: u64,
    pub tokens_last_minute: u64,
}

/// One provider's credentials and breaker.
#[derive(Debug)]
pub struct ProviderPool {
    name: String,
    credentials: Mutex<Vec<Credential>>,
    breaker: Mutex<Breaker>,
    next: AtomicUsize,
    ids: AtomicU64,
    shared: Option<Shared>,
}

/// A pool's handle on the fleet's shared state.
#[derive(Debug)]
struct Shared {
    cluster: Arc<Cluster>,
    breaker_key: String,
    breaker: breaker::BreakerSpec,
    credentials: Vec<SharedCredential>,
    /// How long a half-open probe holds the slot if its replica never
    /// reports (crashed): the request timeout.
    probe_lease: Duration,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding these locks leaves plain counters behind, which
    // are still valid: keep serving rather than poisoning every request.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl ProviderPool {
    pub fn new(spec: &ProviderSpec) -> ProviderPool {
        ProviderPool::with_cluster(spec, None, Duration::from_secs(600))
    }

    /// A pool whose limits are shared through `cluster` when there is one.
    /// `probe_lease`: see [`Shared`].
    pub fn with_cluster(
        spec: &ProviderSpec,
        cluster: Option<&Arc<Cluster>>,
        probe_lease: Duration,
    ) -> ProviderPool {
        let shared = cluster.map(|cluster| Shared {
            cluster: cluster.clone(),
            breaker_key: cluster.breaker_key(&spec.name),
            breaker: spec.breaker,
            credentials: spec
                .credentials
                .iter()
                .map(|c| SharedCredential {
                    key: cluster.credential_key(&spec.name, &c.name, c.key.as_ref()),
                    rpm: c.rpm,
                    tpm: c.tpm,
                })
                .collect(),
            probe_lease,
        });
        let credentials = spec
            .credentials
            .iter()
            .map(|c| Credential {
                name: c.name.clone(),
                rpm: c.rpm,
                tpm: c.tpm,
                requests: Window::default(),
                tokens: Window::default(),
                cooldown_until: None,
                strikes: 0,
            })
            .collect();
        ProviderPool {
            name: spec.name.clone(),
            credentials: Mutex::new(credentials),
            breaker: Mutex::new(Breaker::new(spec.breaker)),
            next: AtomicUsize::new(0),
            ids: AtomicU64::new(0),
            shared,
        }
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// Takes the next usable credential (round-robin), counting the request
    /// and `estimate` tokens against its windows. `skip` lists credential
    /// indexes this request already tried. Err: how long until one may be free.
    pub fn acquire(self: &Arc<Self>, estimate: u64, skip: &[usize]) -> Result<Lease, Duration> {
        self.acquire_local(estimate, skip, 1)
    }

    /// [`ProviderPool::acquire`] for a fleet: through Redis while it answers,
    /// else locally with `1/replicas` of each limit. Without a cluster this
    /// is the local path and never awaits.
    pub async fn acquire_shared(
        self: &Arc<Self>,
        estimate: u64,
        skip: &[usize],
    ) -> Result<Lease, Duration> {
        let Some(shared) = &self.shared else {
            return self.acquire_local(estimate, skip, 1);
        };
        if !shared.cluster.is_shared() {
            return self.acquire_local(estimate, skip, shared.cluster.local_divisor());
        }
        let start = self.next.fetch_add(1, Ordering::Relaxed);
        let args = AcquireArgs {
            breaker_key: &shared.breaker_key,
            credentials: &shared.credentials,
            probe_lease: shared.probe_lease,
            estimate,
            start,
            skip,
        };
        let grant = match shared.cluster.acquire(args).await {
            Ok(Ok(grant)) => grant,
            Ok(Err(wait)) => return Err(wait),
            // Redis failed just now (logged by the cluster): decide alone.
            Err(()) => return self.acquire_local(estimate, skip, shared.cluster.local_divisor()),
        };
        let now = Instant::now();
        let mut creds = lock(&self.credentials);
        // Taken under the lock, so each window sees its ids in order.
        let id = self.ids.fetch_add(1, Ordering::Relaxed);
        if let Some(cred) = creds.get_mut(grant.index) {
            cred.requests.add(id, now, 1);
            cred.tokens.add(id, now, estimate);
        }
        Ok(Lease {
            pool: self.clone(),
            index: grant.index,
            id,
            estimate,
            probe: false,
            reported: false,
            shared: Some(SharedLease {
                bucket: grant.bucket,
                probe: grant.probe,
            }),
        })
    }

    fn acquire_local(
        self: &Arc<Self>,
        estimate: u64,
        skip: &[usize],
        divisor: u32,
    ) -> Result<Lease, Duration> {
        let now = Instant::now();
        let probe = match lock(&self.breaker).allow(now) {
            Admit::Yes => false,
            Admit::Probe => true,
            Admit::No(wait) => return Err(wait),
        };
        let mut creds = lock(&self.credentials);
        let n = creds.len();
        let start = self.next.fetch_add(1, Ordering::Relaxed);
        let mut soonest = Duration::MAX;
        for offset in 0..n {
            let index = (start + offset) % n;
            if skip.contains(&index) {
                continue;
            }
            let cred = &mut creds[index];
            let wait = cred.wait(now, divisor);
            if wait > Duration::ZERO {
                soonest = soonest.min(wait);
                continue;
            }
            let id = self.ids.fetch_add(1, Ordering::Relaxed);
            cred.requests.add(id, now, 1);
            cred.tokens.add(id, now, estimate);
            return Ok(Lease {
                pool: self.clone(),
                index,
                id,
                estimate,
                probe,
                reported: false,
                shared: None,
            });
        }
        drop(creds);
        if probe {
            lock(&self.breaker).probe_abandoned();
        }
        Err(if soonest == Duration::MAX {
            Duration::from_secs(1)
        } else {
            soonest
        })
    }

    pub fn breaker_state(&self) -> &'static str {
        lock(&self.breaker).state().name()
    }

    /// For a Redis that lacks this replica's counts: per shared window key,
    /// the (age, weight) of the local entries made since `since` (all when
    /// None). Empty without a cluster.
    pub fn unshared_counts(&self, since: Option<Instant>) -> Vec<(String, Vec<(Duration, u64)>)> {
        let Some(shared) = &self.shared else {
            return Vec::new();
        };
        let now = Instant::now();
        let mut creds = lock(&self.credentials);
        let mut out = Vec::new();
        for (cred, key) in creds.iter_mut().zip(&shared.credentials) {
            out.push((
                format!("{}:req", key.key),
                cred.requests.entries_since(now, since),
            ));
            if key.tpm.is_some() {
                out.push((
                    format!("{}:tok", key.key),
                    cred.tokens.entries_since(now, since),
                ));
            }
        }
        out.retain(|(_, entries)| !entries.is_empty());
        out
    }

    /// The divisor local limits run under now.
    fn divisor(&self) -> u32 {
        match &self.shared {
            Some(s) if !s.cluster.is_shared() => s.cluster.local_divisor(),
            _ => 1,
        }
    }

    pub fn credentials_status(&self) -> Vec<CredentialStatus> {
        let now = Instant::now();
        let divisor = self.divisor();
        lock(&self.credentials)
            .iter_mut()
            .map(|c| {
                let cooling = c.cooldown_until.is_some_and(|t| t > now);
                let limited = c.wait(now, divisor) > Duration::ZERO;
                CredentialStatus {
                    name: c.name.clone(),
                    state: if cooling {
                        "cooling_down"
                    } else if limited {
                        "limited"
                    } else {
                        "available"
                    },
                    requests_last_minute: c.requests.sum(now),
                    tokens_last_minute: c.tokens.sum(now),
                }
            })
            .collect()
    }

    fn report(&self, lease: &Lease, outcome: Outcome) {
        let now = Instant::now();
        {
            let mut creds = lock(&self.credentials);
            if let Some(cred) = creds.get_mut(lease.index) {
                match outcome {
                    Outcome::Success | Outcome::Unreachable => cred.strikes = 0,
                    Outcome::RateLimited { retry_after } => {
                        cred.strikes += 1;
                        let wait = retry_after.unwrap_or_else(|| backoff(cred.strikes));
                        cred.cooldown_until = Some(now + wait);
                    }
                    Outcome::ServerError => {
                        cred.strikes += 1;
                        cred.cooldown_until = Some(now + backoff(cred.strikes));
                    }
                }
            }
        }
        {
            let mut breaker = lock(&self.breaker);
            match outcome {
                Outcome::Success | Outcome::RateLimited { .. } => breaker.on_success(),
                Outcome::ServerError | Outcome::Unreachable => breaker.on_failure(now),
            }
        }
        if outcome == Outcome::Success {
            if let Some(report) = self.shared_report(lease, outcome) {
                tokio::spawn(report);
            }
        }
    }

    /// The cluster report for `outcome`, when this pool is shared.
    fn shared_report(
        &self,
        lease: &Lease,
        outcome: Outcome,
    ) -> Option<impl std::future::Future<Output = ()> + Send + 'static> {
        let (shared, _) = (self.shared.as_ref()?, lease.shared.as_ref()?);
        let cred = shared.credentials.get(lease.index)?;
        Some(shared.cluster.report(
            shared.breaker_key.clone(),
            cred.key.clone(),
            outcome,
            shared.breaker,
        ))
    }
}

/// Backoff jitter as a factor in thousandths (800–1200).
pub fn jitter_permille() -> u64 {
    let mut byte = [0u8; 1];
    match aws_lc_rs::rand::fill(&mut byte) {
        Ok(()) => 800 + u64::from(byte[0]) * 400 / 255,
        Err(_) => 1000,
    }
}

/// Exponential backoff with ±20% jitter: 1 s, 2 s, 4 s … up to 60 s.
fn backoff(strikes: u32) -> Duration {
    let base =
        Duration::from_secs(1u64 << strikes.saturating_sub(1).min(6)).min(Duration::from_secs(60));
    let mut byte = [0u8; 1];
    let jitter = match aws_lc_rs::rand::fill(&mut byte) {
        Ok(()) => 0.8 + f64::from(byte[0]) / 255.0 * 0.4,
        Err(_) => 1.0,
    };
    base.mul_f64(jitter)
}

/// The part of a lease Redis granted.
#[derive(Debug)]
struct SharedLease {
    /// The Unix second (Redis time) the request was counted in.
    bucket: u64,
    /// Holds the fleet's half-open probe slot.
    probe: bool,
}

/// Parses `retry-after`: delay-seconds or an HTTP date.
pub fn parse_retry_after(value: &str) -> Option<Duration> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<f64>() {
        return (secs.is_finite() && secs >= 0.0)
            .then(|| Duration::from_secs_f64(secs.min(3600.0)));
    }
    let at = httpdate::parse_http_date(value).ok()?;
    Some(at.duration_since(SystemTime::now()).unwrap_or_default())
}

/// A credential in use by one request.
#[derive(Debug)]
pub struct Lease {
    pool: Arc<ProviderPool>,
    index: usize,
    id: u64,
    /// Tokens counted for this request until its usage is known.
    estimate: u64,
    probe: bool,
    reported: bool,
    shared: Option<SharedLease>,
}

impl Lease {
    /// Index of the credential in the provider's list.
    pub fn credential(&self) -> usize {
        self.index
    }

    pub fn provider(&self) -> &str {
        &self.pool.name
    }

    /// Reports the outcome. Successes reach a shared pool in the
    /// background; failures (cooldowns, breaker counts) are awaited, so
    /// other replicas see them before this request fails over or answers.
    pub async fn report(&mut self, outcome: Outcome) {
        if self.reported {
            return;
        }
        self.reported = true;
        self.pool.report(self, outcome);
        if outcome != Outcome::Success {
            if let Some(report) = self.pool.shared_report(self, outcome) {
                report.await;
            }
        }
    }

    /// Replaces the token estimate with what the response reported.
    pub fn settle_tokens(&self, tokens: u64) {
        if let Some(cred) = lock(&self.pool.credentials).get_mut(self.index) {
            cred.tokens.settle(self.id, self.estimate, tokens);
        }
        if let (Some(shared), Some(lease)) = (&self.pool.shared, &self.shared) {
            if let Some(cred) = shared
                .credentials
                .get(self.index)
                .filter(|c| c.tpm.is_some())
            {
                let delta = tokens as i64 - self.estimate as i64;
                if delta != 0 {
                    shared
                        .cluster
                        .spawn_settle(cred.key.clone(), lease.bucket, delta);
                }
            }
        }
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        if !self.reported && self.probe {
            lock(&self.pool.breaker).probe_abandoned();
        }
        if let (false, Some(shared), Some(lease)) = (self.reported, &self.pool.shared, &self.shared)
        {
            if lease.probe {
                shared
                    .cluster
                    .spawn_probe_abandoned(shared.breaker_key.clone());
            }
        }
    }
}

/// Every provider's pool.
#[derive(Debug, Default)]
pub struct Pools {
    providers: HashMap<String, Arc<ProviderPool>>,
}

impl Pools {
    pub fn new(providers: &[Arc<ProviderSpec>]) -> Pools {
        Pools::with_cluster(providers, None, Duration::from_secs(600))
    }

    /// Pools sharing their limits through `cluster` when there is one.
    pub fn with_cluster(
        providers: &[Arc<ProviderSpec>],
        cluster: Option<&Arc<Cluster>>,
        probe_lease: Duration,
    ) -> Pools {
        Pools {
            providers: providers
                .iter()
                .map(|p| {
                    let pool = Arc::new(ProviderPool::with_cluster(p, cluster, probe_lease));
                    if let Some(cluster) = cluster {
                        cluster.register(&pool);
                    }
                    (p.name.clone(), pool)
                })
                .collect(),
        }
    }

    /// Pools for `next`, reusing the state of providers whose credentials
    /// and breaker are defined exactly as before.
    pub fn carry_over(
        old: &Pools,
        old_specs: &[Arc<ProviderSpec>],
        next: &[Arc<ProviderSpec>],
        cluster: Option<&Arc<Cluster>>,
        probe_lease: Duration,
    ) -> Pools {
        let providers = next
            .iter()
            .map(|spec| {
                let unchanged = old_specs
                    .iter()
                    .find(|o| o.name == spec.name)
                    .is_some_and(|o| same_definition(o, spec));
                let pool = match (unchanged, old.providers.get(&spec.name)) {
                    (true, Some(pool)) => pool.clone(),
                    _ => {
                        let pool = Arc::new(ProviderPool::with_cluster(spec, cluster, probe_lease));
                        if let Some(cluster) = cluster {
                            cluster.register(&pool);
                        }
                        pool
                    }
                };
                (spec.name.clone(), pool)
            })
            .collect();
        Pools { providers }
    }

    pub fn get(&self, provider: &str) -> Option<&Arc<ProviderPool>> {
        self.providers.get(provider)
    }

    pub fn all(&self) -> impl Iterator<Item = &Arc<ProviderPool>> {
        self.providers.values()
    }
}

/// What makes a credential the same credential across reloads.
type CredentialIdentity = (String, Option<String>, Option<u32>, Option<u64>);

fn same_definition(a: &ProviderSpec, b: &ProviderSpec) -> bool {
    let creds = |p: &ProviderSpec| -> Vec<CredentialIdentity> {
        p.credentials
            .iter()
            .map(|c| {
                (
                    c.name.clone(),
                    c.key.as_ref().map(|k| k.expose().to_owned()),
                    c.rpm,
                    c.tpm,
                )
            })
            .collect()
    };
    a.base_url == b.base_url && a.kind == b.kind && a.breaker == b.breaker && creds(a) == creds(b)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::providers::{CredentialSpec, ProviderSpec};

    fn spec(creds: &[(&str, Option<u32>, Option<u64>)]) -> ProviderSpec {
        let mut spec = ProviderSpec::implicit("openai").unwrap();
        spec.credentials = creds
            .iter()
            .map(|(n, rpm, tpm)| CredentialSpec {
                name: n.to_string(),
                key: None,
                rpm: *rpm,
                tpm: *tpm,
            })
            .collect();
        spec
    }

    #[test]
    fn round_robin_skips_full_windows() {
        let pool = Arc::new(ProviderPool::new(&spec(&[
            ("a", Some(1), None),
            ("b", None, None),
        ])));
        let names: Vec<usize> = (0..4)
            .map(|_| pool.acquire(1, &[]).unwrap().credential())
            .collect();
        assert_eq!(
            names,
            [0, 1, 1, 1],
            "a has rpm 1, so after one use only b serves"
        );
    }

    #[test]
    fn local_fallback_divides_the_limits() {
        let pool = Arc::new(ProviderPool::new(&spec(&[("a", Some(30), Some(3000))])));
        let served = (0..30)
            .filter(|_| pool.acquire_local(1, &[], 3).is_ok())
            .count();
        assert_eq!(served, 10, "30 rpm over 3 replicas");
        let pool = Arc::new(ProviderPool::new(&spec(&[("a", Some(2), None)])));
        let served = (0..5)
            .filter(|_| pool.acquire_local(1, &[], 10).is_ok())
            .count();
        assert_eq!(served, 1, "never below one request a minute");
        let pool = Arc::new(ProviderPool::new(&spec(&[("a", None, Some(900))])));
        assert!(pool.acquire_local(300, &[], 3).is_ok());
        assert!(pool.acquire_local(1, &[], 3).is_err(), "300 tpm each");
    }

    #[tokio::test]
    async fn without_a_cluster_acquire_shared_is_the_local_path() {
        let pool = Arc::new(ProviderPool::new(&spec(&[("a", Some(1), None)])));
        assert!(pool.acquire_shared(1, &[]).await.is_ok());
        assert!(pool.acquire_shared(1, &[]).await.is_err());
    }

    #[tokio::test]
    async fn tpm_counts_settled_usage_and_429_cools_down() {
        let pool = Arc::new(ProviderPool::new(&spec(&[("a", None, Some(100))])));
        let lease = pool.acquire(10, &[]).unwrap();
        lease.settle_tokens(150);
        let wait = pool.acquire(10, &[]).unwrap_err();
        assert!(wait > Duration::from_secs(50), "{wait:?}");

        let pool = Arc::new(ProviderPool::new(&spec(&[("a", None, None)])));
        let mut lease = pool.acquire(1, &[]).unwrap();
        lease
            .report(Outcome::RateLimited {
                retry_after: Some(Duration::from_secs(30)),
            })
            .await;
        let wait = pool.acquire(1, &[]).unwrap_err();
        assert!(
            wait > Duration::from_secs(29) && wait <= Duration::from_secs(30),
            "{wait:?}"
        );
        assert_eq!(pool.credentials_status()[0].state, "cooling_down");
    }

    #[test]
    fn retry_after_forms() {
        assert_eq!(parse_retry_after("2"), Some(Duration::from_secs(2)));
        assert_eq!(parse_retry_after("0.5"), Some(Duration::from_millis(500)));
        let future = httpdate::fmt_http_date(SystemTime::now() + Duration::from_secs(120));
        let d = parse_retry_after(&future).unwrap();
        assert!(
            d > Duration::from_secs(100) && d <= Duration::from_secs(120),
            "{d:?}"
        );
        assert_eq!(parse_retry_after("soon"), None);
    }

    #[test]
    fn backoff_grows_and_caps() {
        assert!(backoff(1) <= Duration::from_millis(1200));
        assert!(backoff(3) >= Duration::from_millis(3200));
        assert!(backoff(30) <= Duration::from_secs(72));
    }
}
