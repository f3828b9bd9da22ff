//! switchyard's benchmark kit.
//!
//! - [`bodies`]: request bodies, from a one-line prompt to a coding
//!   agent's 100 KB turn;
//! - [`client`]: the keep-alive load client behind the `loadgen` binary
//!   (plain HTTP, TLS, and CONNECT + TLS through an intercepting proxy);
//! - [`upstream`]: the fast fake provider behind `bench-upstream` (1 KB JSON
//!   bodies, SSE streams of N events with a gap);
//! - [`relay`]: a TCP relay behind `bench-relay`, the floor any proxy's
//!   added latency sits on;
//! - [`report`]: turns the runs' JSON lines into the markdown table and the
//!   results file (`bench-report`);
//! - [`stats`] and [`procfs`]: percentiles, and CPU/RSS of other processes.
//!
//! `scripts/bench.sh` wires them together with switchyard and its peers.

pub mod bodies;
pub mod client;
pub mod procfs;
pub mod relay;
pub mod report;
pub mod stats;
pub mod tls;
pub mod upstream;
