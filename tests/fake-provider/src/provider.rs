//! [`FakeProvider`]: one loopback server instance a test owns — start, script,
//! inspect, shut down.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::behavior::Behavior;
use crate::handler::{lock, Shared};
use crate::record::{Recorded, WaitTimeout};
use crate::server::accept_loop;

/// A fake Anthropic + OpenAI API on loopback. Dropping it stops the server.
pub struct FakeProvider {
    addr: SocketAddr,
    shared: Arc<Shared>,
    shutdown: watch::Sender<bool>,
    task: Mutex<Option<JoinHandle<()>>>,
}

impl FakeProvider {
    /// Binds `127.0.0.1:0` (a fresh port per instance, so tests can run in
    /// parallel). Panics if loopback cannot be bound.
    pub async fn start() -> FakeProvider {
        let loopback = SocketAddr::from(([127, 0, 0, 1], 0));
        match FakeProvider::start_on(loopback).await {
            Ok(fake) => fake,
            Err(e) => panic!("FakeProvider: cannot bind {loopback}: {e}"),
        }
    }

    /// Binds `addr` (for the binary and benchmarks).
    pub async fn start_on(addr: SocketAddr) -> std::io::Result<FakeProvider> {
        let listener = TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared::new());
        let (shutdown, rx) = watch::channel(false);
        let task = tokio::spawn(accept_loop(listener, shared.clone(), rx));
        Ok(FakeProvider {
            addr,
            shared,
            shutdown,
            task: Mutex::new(Some(task)),
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT` — the Anthropic base URL (the SDK appends `/v1/messages`).
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// `http://127.0.0.1:PORT/v1` — the OpenAI base URL.
    pub fn openai_base_url(&self) -> String {
        format!("http://{}/v1", self.addr)
    }

    /// Queues a behaviour for the next request (FIFO, one request each).
    pub fn push(&self, behavior: Behavior) {
        self.shared.push(behavior);
    }

    /// Queues a behaviour that only a generation request takes (Messages,
    /// Chat Completions, Responses, a WebSocket `response.create`); these are
    /// served before [`FakeProvider::push`]'s queue. For real clients that
    /// call other endpoints between turns.
    pub fn push_generation(&self, behavior: Behavior) {
        lock(&self.shared.generation_queue).push_back((None, behavior));
    }

    /// Like [`FakeProvider::push_generation`], but only a generation request
    /// whose JSON body satisfies `matches` takes it (e.g. "has tools", to
    /// skip Claude Code's title request).
    pub fn push_generation_when(
        &self,
        matches: impl Fn(&serde_json::Value) -> bool + Send + Sync + 'static,
        behavior: Behavior,
    ) {
        lock(&self.shared.generation_queue).push_back((Some(Arc::new(matches)), behavior));
    }

    /// The behaviour for requests when the queue is empty.
    pub fn set_default(&self, behavior: Behavior) {
        self.shared.set_default(behavior);
    }

    /// Behaviours still queued.
    pub fn queued(&self) -> usize {
        lock(&self.shared.queue).len() + lock(&self.shared.generation_queue).len()
    }

    /// Every request received so far, oldest first.
    pub fn requests(&self) -> Vec<Recorded> {
        self.shared.recorder.all()
    }

    pub fn last_request(&self) -> Option<Recorded> {
        self.requests().pop()
    }

    /// The first value of header `name` on the last request.
    pub fn last_header(&self, name: &str) -> Option<String> {
        self.last_request()?.header(name).map(str::to_string)
    }

    /// Requests received so far (counted even with recording off).
    pub fn request_count(&self) -> usize {
        self.shared.recorder.count()
    }

    /// Forgets the log (and resets the count).
    pub fn clear_requests(&self) {
        self.shared.recorder.clear();
    }

    /// Turns the log off (for long benchmarks) or back on.
    pub fn set_recording(&self, on: bool) {
        self.shared.recorder.set_enabled(on);
    }

    /// Waits until at least `n` requests have arrived; returns the log.
    pub async fn wait_for_requests(
        &self,
        n: usize,
        timeout: Duration,
    ) -> Result<Vec<Recorded>, WaitTimeout> {
        self.shared.recorder.wait_for(n, timeout).await
    }

    /// Refuses WebSocket upgrades with `status` from now on (`None`: accept).
    pub fn refuse_websockets(&self, status: Option<u16>) {
        *lock(&self.shared.ws_refusal) = status;
    }

    /// Stops accepting, drops every open connection (ending `Hang`s) and
    /// waits until the listener is closed.
    pub async fn shutdown(&self) {
        self.shutdown.send_replace(true);
        self.shared.stopping.send_replace(true);
        let task = lock(&self.task).take();
        if let Some(task) = task {
            let _ = task.await;
        }
    }
}

impl Drop for FakeProvider {
    fn drop(&mut self) {
        self.shutdown.send_replace(true);
        self.shared.stopping.send_replace(true);
    }
}
