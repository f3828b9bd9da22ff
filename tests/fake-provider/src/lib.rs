//! A loopback model provider for switchyard's integration tests and
//! benchmarks. It speaks the Anthropic Messages API and the OpenAI Chat
//! Completions and Responses APIs — JSON and SSE, event for event as the real
//! services do — and can be scripted to fail in the ways real providers fail
//! (HTTP errors, errors inside streams, hangs, resets, truncation, slowness).
//!
//! ```no_run
//! # async fn demo() {
//! use fake_provider::{Behavior, FakeProvider};
//! let fake = FakeProvider::start().await;
//! fake.push(Behavior::rate_limited(2));
//! // … point the proxy at fake.base_url(), send a request …
//! let seen = fake.requests();
//! # }
//! ```
//!
//! Routes (with or without `/v1`): `POST /messages`, `POST
//! /messages/count_tokens`, `POST /chat/completions`, `POST /responses`,
//! `GET /models`; anything else is a recorded 404. `GET /responses` with
//! `Upgrade: websocket` is the Responses WebSocket (see `websocket.rs`). `/_fake/*` is the
//! control API (see [`control`]).

mod behavior;
mod body;
pub mod control;
mod handler;
mod ids;
pub mod models;
mod provider;
mod record;
mod server;
pub mod spec;
mod websocket;
pub mod wire;

pub use behavior::{Behavior, Reply, StreamFault, Usage, DEFAULT_TEXT};
/// The `http` types used in [`Recorded`] (`HeaderMap`, `Method`, `Version`).
pub use hyper::http;
pub use provider::FakeProvider;
pub use record::{Recorded, WaitTimeout};
