//! `bench-upstream [--listen ADDR] [--events N] [--gap-ms MS] [--json-bytes B] [--threads T]`:
//! the benchmark's fast fake provider (see `loadgen::upstream`). Prints
//! `bench-upstream listening on http://ADDR` once it accepts connections.

use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use loadgen::upstream::{serve, Config};

#[derive(Parser)]
#[command(about = "fast fake upstream for switchyard's benchmark")]
struct Cli {
    #[arg(long, default_value = "127.0.0.1:0")]
    listen: SocketAddr,
    /// Text deltas per SSE stream.
    #[arg(long, default_value_t = 20)]
    events: usize,
    /// Milliseconds between SSE events.
    #[arg(long, default_value_t = 5)]
    gap_ms: u64,
    /// Size of a JSON answer.
    #[arg(long, default_value_t = 1024)]
    json_bytes: usize,
    /// Runtime worker threads.
    #[arg(long, default_value_t = 1)]
    threads: usize,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let config = Config {
        events: cli.events,
        gap: Duration::from_millis(cli.gap_ms),
        json_bytes: cli.json_bytes,
    };
    loadgen::serve_main(
        "bench-upstream",
        "http",
        cli.listen,
        Some(cli.threads),
        |listener| serve(listener, config),
    )
}
