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
//! - [`lean`]: a lean TLS + HTTP/1.1 reverse proxy behind `bench-lean`, the
//!   floor of a TLS proxy on switchyard's stack (tokio, rustls);
//! - [`report`]: turns the runs' JSON lines into the markdown table and the
//!   results file (`bench-report`);
//! - [`rounds`]: the head-to-head section, paths measured in interleaved
//!   rounds and compared round by round;
//! - [`stats`] and [`procfs`]: percentiles, and CPU/RSS of other processes.
//!
//! `scripts/bench.sh` wires them together with switchyard and its peers.

pub mod bodies;
pub mod client;
pub mod lean;
pub mod procfs;
pub mod relay;
pub mod report;
pub mod rounds;
pub mod stats;
pub mod tls;
pub mod upstream;

/// The `main` of the bench's servers (`bench-upstream`, `bench-relay`):
/// starts a runtime with `threads` workers (all the CPUs it may use when
/// `None`), binds `listen`, prints `NAME listening on SCHEME://ADDR` for the
/// bench script to wait for, and runs `serve` on the listener.
pub fn serve_main<F, Fut>(
    name: &str,
    scheme: &str,
    listen: std::net::SocketAddr,
    threads: Option<usize>,
    serve: F,
) -> std::process::ExitCode
where
    F: FnOnce(tokio::net::TcpListener) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    use std::io::Write;
    use std::process::ExitCode;

    let mut builder = tokio::runtime::Builder::new_multi_thread();
    if let Some(n) = threads {
        builder.worker_threads(n.max(1));
    }
    let rt = match builder.enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("{name}: {e}");
            return ExitCode::FAILURE;
        }
    };
    rt.block_on(async {
        let listener = match tokio::net::TcpListener::bind(listen).await {
            Ok(l) => l,
            Err(e) => {
                eprintln!("{name}: cannot listen on {listen}: {e}");
                return ExitCode::FAILURE;
            }
        };
        let addr = listener.local_addr().map_or(listen, |a| a);
        println!("{name} listening on {scheme}://{addr}");
        let _ = std::io::stdout().flush();
        serve(listener).await;
        ExitCode::SUCCESS
    })
}
