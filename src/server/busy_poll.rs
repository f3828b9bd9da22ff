//! Busy polling (`[runtime] busy_poll_us`): after a connection reads
//! something, the runtime keeps polling its sockets for a while instead of
//! letting its thread sleep.
//!
//! Why: a request passes the proxy twice (client → upstream, upstream →
//! client), and each time the proxy's thread may have gone to sleep in
//! `epoll_wait`. Waking a sleeping CPU costs tens of microseconds on
//! virtual machines without guest halt-polling, which is most of the
//! latency a proxy adds there (README "Performance"). HAProxy offers the
//! same trade as `busy-polling`; here it is bounded: the thread spins only
//! for the window after the last read, so an idle switchyard still sleeps.
//! Off by default: it spends CPU, up to one core while traffic keeps
//! coming, to save latency.
//!
//! How: one task ([`BusyPoll::spin`]) yields in a loop while the window is open;
//! tokio polls the I/O driver without a timeout between yields. Reads call
//! [`touch`] (the listener's connections, decrypted connections and
//! upstream connections), which reopens the window and wakes the task when
//! it has gone to sleep.

use std::cell::OnceCell;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

thread_local! {
    /// This thread's busy poller, once one is running; [`touch`] reports to
    /// it. Per thread because each worker runs its own runtime
    /// ([`super::workers`]) and only its own spinner polls its sockets.
    static INSTALLED: OnceCell<Arc<BusyPoll>> = const { OnceCell::new() };
}

/// Notes that a connection read something. Without busy polling this is
/// one look at an unset thread-local cell.
pub fn touch() {
    INSTALLED.with(|poll| {
        if let Some(poll) = poll.get() {
            poll.touch();
        }
    });
}

/// Starts busy polling for this thread's runtime with `window`, until
/// `shutdown`. Each worker calls it once; a second call on a thread is
/// ignored.
pub fn start(window: Duration, shutdown: CancellationToken) {
    if window.is_zero() {
        return;
    }
    let poll = Arc::new(BusyPoll::new(window));
    if INSTALLED
        .with(|installed| installed.set(poll.clone()))
        .is_err()
    {
        tracing::debug!("busy polling already runs on this thread");
        return;
    }
    tracing::debug!(
        window_us = window.as_micros() as u64,
        "busy polling on this worker"
    );
    tokio::spawn(async move {
        tokio::select! {
            _ = poll.spin() => {}
            _ = shutdown.cancelled() => {}
        }
    });
}

/// The poller's state, shared by the spinning task and every reader.
#[derive(Debug)]
pub struct BusyPoll {
    window: Duration,
    /// Something was read since the spinner last looked.
    active: AtomicBool,
    /// The spinner waits for `wake` (the window has closed).
    parked: AtomicBool,
    wake: Notify,
    /// Turns of the spin loop so far (for tests and debugging).
    spins: AtomicU64,
}

impl BusyPoll {
    pub fn new(window: Duration) -> BusyPoll {
        BusyPoll {
            window,
            active: AtomicBool::new(false),
            parked: AtomicBool::new(false),
            wake: Notify::new(),
            spins: AtomicU64::new(0),
        }
    }

    /// Reopens the window; wakes the spinner if it sleeps.
    pub fn touch(&self) {
        // Most reads find the flag already set: no store, no shared write.
        if self.active.load(Ordering::Relaxed) {
            return;
        }
        self.active.store(true, Ordering::SeqCst);
        if self.parked.load(Ordering::SeqCst) {
            self.wake.notify_one();
        }
    }

    pub fn spins(&self) -> u64 {
        self.spins.load(Ordering::Relaxed)
    }

    pub fn is_parked(&self) -> bool {
        self.parked.load(Ordering::SeqCst)
    }

    /// Sleeps until a read, then keeps the runtime polling until a whole
    /// window has passed without one; forever.
    pub async fn spin(&self) {
        loop {
            // Paired with `touch`: either the swap sees its store, or its
            // load sees `parked` and the notification waits as a permit.
            self.parked.store(true, Ordering::SeqCst);
            if !self.active.swap(false, Ordering::SeqCst) {
                self.wake.notified().await;
            }
            self.parked.store(false, Ordering::SeqCst);
            self.spin_window().await;
        }
    }

    async fn spin_window(&self) {
        let mut deadline = Instant::now() + self.window;
        loop {
            // tokio polls its I/O driver with a zero timeout before it runs
            // a task that yielded again: that poll is the busy polling.
            tokio::task::yield_now().await;
            self.spins.fetch_add(1, Ordering::Relaxed);
            let now = Instant::now();
            if self.active.swap(false, Ordering::Relaxed) {
                deadline = now + self.window;
            } else if now >= deadline {
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A poller with its spinning task on the test's runtime.
    fn spinning(window: Duration) -> (Arc<BusyPoll>, tokio::task::JoinHandle<()>) {
        let poll = Arc::new(BusyPoll::new(window));
        let task = tokio::spawn({
            let poll = poll.clone();
            async move { poll.spin().await }
        });
        (poll, task)
    }

    /// Lets the spinner run until `done` holds (or a generous deadline).
    async fn until(done: impl Fn() -> bool) -> bool {
        let give_up = Instant::now() + Duration::from_secs(10);
        while !done() {
            if Instant::now() > give_up {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        true
    }

    #[tokio::test(flavor = "current_thread")]
    async fn spins_after_a_read_and_sleeps_when_the_window_closes() {
        let (poll, task) = spinning(Duration::from_millis(20));
        assert!(until(|| poll.is_parked()).await, "starts asleep");
        tokio::time::sleep(Duration::from_millis(30)).await;
        assert_eq!(poll.spins(), 0, "no read, no spinning");

        poll.touch();
        assert!(until(|| poll.spins() > 0).await, "a read starts it");
        assert!(until(|| poll.is_parked()).await, "it sleeps again");
        let after = poll.spins();
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert_eq!(poll.spins(), after, "asleep, it does not spin");

        poll.touch();
        assert!(
            until(|| poll.spins() > after).await,
            "a later read wakes it"
        );
        task.abort();
    }

    #[tokio::test(flavor = "current_thread")]
    async fn reads_inside_the_window_keep_it_open() {
        // A long window: a stalled test thread must not close it.
        let (poll, task) = spinning(Duration::from_millis(500));
        poll.touch();
        assert!(until(|| poll.spins() > 0).await);
        // Touched every 5 ms for 1.5 s: three windows' worth, never closed.
        let start = Instant::now();
        while start.elapsed() < Duration::from_millis(1500) {
            poll.touch();
            tokio::time::sleep(Duration::from_millis(5)).await;
            assert!(!poll.is_parked(), "closed while reads kept coming");
        }
        assert!(until(|| poll.is_parked()).await, "closes once they stop");
        task.abort();
    }

    #[test]
    fn a_zero_window_installs_nothing() {
        start(Duration::ZERO, CancellationToken::new());
        assert!(INSTALLED.with(|p| p.get().is_none()));
        touch();
    }

    fn installed_here() -> Option<Arc<BusyPoll>> {
        INSTALLED.with(|p| p.get().cloned())
    }

    #[tokio::test]
    async fn each_thread_gets_its_own_poller_once() {
        let shutdown = CancellationToken::new();
        start(Duration::from_millis(1), shutdown.clone());
        let first = installed_here().expect("installed on this thread");
        start(Duration::from_millis(2), shutdown.clone());
        let again = installed_here().expect("still installed");
        assert!(
            Arc::ptr_eq(&first, &again),
            "a second start replaced the poller"
        );
        let elsewhere = std::thread::spawn(|| installed_here().is_none())
            .join()
            .unwrap();
        assert!(
            elsewhere,
            "another thread (another worker) has its own, or none"
        );
        // A read on this thread reaches this thread's poller.
        touch();
        assert!(until(|| first.spins() > 0).await, "the poller never spun");
        shutdown.cancel();
    }
}
