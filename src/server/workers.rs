//! Thread-per-core serving: connections are spread over worker threads, each
//! running its own single-threaded tokio runtime, and a connection stays on
//! the thread that took it, with its upstream connections (each worker has
//! its own pool, [`crate::app::App::client`]).
//!
//! Why not tokio's work-stealing scheduler: a proxied request is a handful
//! of short tasks (the client connection, the upstream connection, the
//! body), and with several workers each wake-up of one of them may go to
//! another thread, with a futex and a steal behind it. On 2 CPUs shared
//! with the load client and the upstream, one single-threaded runtime
//! served more requests than two work-stealing workers (25.7k against
//! 23.1k req/s) at three quarters of the CPU per request (38 against
//! 50 µs). Threads that share nothing per request keep that cost and still
//! use every core, as nginx's worker processes do.
//!
//! Worker 0 is the thread that runs the listener (and the audit writer,
//! the reload watcher, the admin tasks); the others only serve the
//! connections handed to them. Each connection goes to the worker with the
//! fewest open ones.

use std::cell::Cell;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

thread_local! {
    static INDEX: Cell<usize> = const { Cell::new(0) };
}

/// This thread's worker number: 0 on the listener's thread and on any
/// thread that is not a worker.
pub fn current() -> usize {
    INDEX.with(Cell::get)
}

/// Work handed to a worker: it runs inside the worker's runtime, so what it
/// spawns runs there.
type Job = Box<dyn FnOnce() + Send>;

/// Added to a stopped worker's count so that it is never chosen again.
const STOPPED: usize = usize::MAX / 4;

/// One open connection counted against a worker until dropped.
pub struct Load(Arc<AtomicUsize>);

impl Drop for Load {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

struct Lane {
    /// None for worker 0, whose jobs run where `dispatch` is called.
    jobs: Option<mpsc::UnboundedSender<Job>>,
    open: Arc<AtomicUsize>,
}

/// The worker threads, from start until [`Workers::close`].
pub struct Workers {
    lanes: Vec<Lane>,
    done: Vec<oneshot::Receiver<()>>,
    /// Ends the workers' wait for their connections (the drain deadline).
    halt: CancellationToken,
}

impl Workers {
    /// Starts `count - 1` worker threads beside the caller's (worker 0).
    /// `setup` runs first on each of them, inside its runtime. A thread or
    /// runtime that cannot start is logged and left out: fewer workers, no
    /// lost connections.
    pub fn start(
        count: usize,
        setup: impl Fn() + Send + Sync + 'static,
        tasks: TaskTracker,
    ) -> Workers {
        let setup = Arc::new(setup);
        let halt = CancellationToken::new();
        let mut workers = Workers {
            lanes: vec![Lane {
                jobs: None,
                open: Arc::default(),
            }],
            done: Vec::new(),
            halt: halt.clone(),
        };
        for index in 1..count.max(1) {
            let (jobs, rx) = mpsc::unbounded_channel();
            let (done_tx, done_rx) = oneshot::channel();
            let (setup, tasks, halt) = (setup.clone(), tasks.clone(), halt.clone());
            let spawned = std::thread::Builder::new()
                .name(format!("switchyard-worker-{index}"))
                .spawn(move || {
                    run_worker(index, rx, move || setup(), tasks, halt);
                    let _ = done_tx.send(());
                });
            match spawned {
                Ok(_) => {
                    workers.lanes.push(Lane {
                        jobs: Some(jobs),
                        open: Arc::default(),
                    });
                    workers.done.push(done_rx);
                }
                Err(e) => tracing::error!(error = %e, index, "cannot start a worker thread"),
            }
        }
        workers
    }

    /// How many workers serve, the caller's included.
    pub fn count(&self) -> usize {
        self.lanes.len()
    }

    /// Runs `job` on the worker with the fewest open connections: here
    /// when that is worker 0 (or when the chosen worker has stopped).
    pub fn dispatch(&self, job: impl FnOnce(Load) + Send + 'static) {
        let lane = self
            .lanes
            .iter()
            .min_by_key(|l| l.open.load(Ordering::Relaxed))
            .unwrap_or(&self.lanes[0]);
        lane.open.fetch_add(1, Ordering::Relaxed);
        let load = Load(lane.open.clone());
        match &lane.jobs {
            None => job(load),
            Some(jobs) => {
                if let Err(mpsc::error::SendError(job)) = jobs.send(Box::new(move || job(load))) {
                    tracing::warn!("a worker thread has stopped; serving its connections here");
                    lane.open.fetch_add(STOPPED, Ordering::Relaxed);
                    job();
                }
            }
        }
    }

    /// Takes no more connections. The workers keep serving theirs until
    /// `tasks` (closed by the caller) is empty, or until [`Closing::halt`].
    pub fn close(self) -> Closing {
        Closing {
            done: self.done,
            halt: self.halt,
        }
    }
}

/// Workers that take no new connections, finishing the ones they have.
pub struct Closing {
    done: Vec<oneshot::Receiver<()>>,
    halt: CancellationToken,
}

impl Closing {
    /// Drops what the workers still serve (past the drain deadline) and
    /// waits up to `limit` for their runtimes to stop, so that the records
    /// of connections cut now are filed before the audit file is flushed.
    pub async fn halt(self, limit: Duration) {
        self.halt.cancel();
        let all = futures_util::future::join_all(self.done);
        if tokio::time::timeout(limit, all).await.is_err() {
            tracing::warn!("a worker thread did not stop in time");
        }
    }
}

fn run_worker(
    index: usize,
    mut jobs: mpsc::UnboundedReceiver<Job>,
    setup: impl FnOnce(),
    tasks: TaskTracker,
    halt: CancellationToken,
) {
    INDEX.with(|i| i.set(index));
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            tracing::error!(error = %e, index, "cannot start a worker's runtime");
            return;
        }
    };
    runtime.block_on(async {
        setup();
        while let Some(job) = jobs.recv().await {
            job();
        }
        tokio::select! {
            _ = tasks.wait() => {}
            _ = halt.cancelled() => {}
        }
    });
    // A task stuck in the blocking pool (a DNS lookup) is left behind.
    runtime.shutdown_timeout(Duration::from_secs(1));
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    /// A job's worker number and thread name.
    type Ran = Vec<(usize, Option<String>)>;

    /// Where each dispatched job ran, and the loads it holds until released.
    #[derive(Clone, Default)]
    struct Seen {
        ran: Arc<Mutex<Ran>>,
        held: Arc<Mutex<Vec<(usize, Load)>>>,
    }

    impl Seen {
        fn job(&self) -> impl FnOnce(Load) + Send + 'static {
            let seen = self.clone();
            move |load| {
                let worker = current();
                let thread = std::thread::current().name().map(str::to_owned);
                seen.ran.lock().unwrap().push((worker, thread));
                seen.held.lock().unwrap().push((worker, load));
            }
        }

        async fn wait_for(&self, jobs: usize) -> Ran {
            for _ in 0..500 {
                if self.ran.lock().unwrap().len() >= jobs {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            self.ran.lock().unwrap().clone()
        }

        fn release(&self, worker: usize) {
            self.held.lock().unwrap().retain(|(w, _)| *w != worker);
        }
    }

    fn count(ran: &[(usize, Option<String>)], worker: usize) -> usize {
        ran.iter().filter(|(w, _)| *w == worker).count()
    }

    #[tokio::test]
    async fn connections_go_to_the_worker_with_the_fewest() {
        let workers = Workers::start(3, || {}, TaskTracker::new());
        assert_eq!(workers.count(), 3);
        let seen = Seen::default();
        for _ in 0..6 {
            workers.dispatch(seen.job());
        }
        let ran = seen.wait_for(6).await;
        assert_eq!(ran.len(), 6, "{ran:?}");
        for worker in 0..3 {
            assert_eq!(count(&ran, worker), 2, "{ran:?}");
        }
        // Worker 0 is the caller's thread; the others are named threads.
        for (worker, thread) in &ran {
            if *worker > 0 {
                assert_eq!(
                    thread.as_deref(),
                    Some(&*format!("switchyard-worker-{worker}"))
                );
            }
        }
        // Worker 2's connections close: the next two go there.
        seen.release(2);
        workers.dispatch(seen.job());
        workers.dispatch(seen.job());
        let ran = seen.wait_for(8).await;
        assert_eq!(count(&ran, 2), 4, "{ran:?}");
        workers.close().halt(Duration::from_secs(5)).await;
    }

    #[tokio::test]
    async fn a_worker_runs_its_own_runtime_and_setup() {
        let set_up = Arc::new(AtomicUsize::new(0));
        let counter = set_up.clone();
        let workers = Workers::start(
            2,
            move || {
                counter.fetch_add(1, Ordering::SeqCst);
            },
            TaskTracker::new(),
        );
        let (tx, rx) = oneshot::channel();
        // Worker 0 takes the first; the second goes to worker 1, where it
        // spawns a task on that worker's runtime.
        let busy = Seen::default();
        workers.dispatch(busy.job());
        workers.dispatch(move |load| {
            tokio::spawn(async move {
                tokio::task::yield_now().await;
                let _ = tx.send((current(), std::thread::current().id()));
                drop(load);
            });
        });
        let (worker, thread) = rx.await.unwrap();
        assert_eq!(worker, 1);
        assert_ne!(thread, std::thread::current().id());
        assert_eq!(
            set_up.load(Ordering::SeqCst),
            1,
            "setup runs on each started worker"
        );
        workers.close().halt(Duration::from_secs(5)).await;
    }

    #[tokio::test]
    async fn closing_waits_for_open_connections_and_halting_cuts_them() {
        let tasks = TaskTracker::new();
        let workers = Workers::start(2, || {}, tasks.clone());
        let (started_tx, started_rx) = oneshot::channel();
        let dropped = Arc::new(AtomicUsize::new(0));
        struct OnDrop(Arc<AtomicUsize>);
        impl Drop for OnDrop {
            fn drop(&mut self) {
                self.0.fetch_add(1, Ordering::SeqCst);
            }
        }
        let guard = OnDrop(dropped.clone());
        let busy = Seen::default();
        workers.dispatch(busy.job());
        let worker_tasks = tasks.clone();
        workers.dispatch(move |_load| {
            worker_tasks.spawn(async move {
                let _guard = guard;
                let _ = started_tx.send(());
                std::future::pending::<()>().await;
            });
        });
        started_rx.await.unwrap();
        let closing = workers.close();
        tasks.close();
        // The worker keeps serving its connection after close…
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert_eq!(dropped.load(Ordering::SeqCst), 0);
        // …until halted: its runtime stops and drops the task.
        closing.halt(Duration::from_secs(10)).await;
        assert_eq!(dropped.load(Ordering::SeqCst), 1);
    }
}
