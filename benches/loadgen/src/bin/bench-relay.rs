//! `bench-relay --to ADDR [--listen ADDR]`: the benchmark's floor, a TCP
//! relay that copies bytes and nothing else (see `loadgen::relay`). Prints
//! `bench-relay listening on tcp://ADDR` once it accepts connections.

use std::net::SocketAddr;
use std::process::ExitCode;

use clap::Parser;

#[derive(Parser)]
#[command(about = "TCP relay: the cost of one extra process on the path")]
struct Cli {
    #[arg(long, default_value = "127.0.0.1:0")]
    listen: SocketAddr,
    /// Where every connection is relayed to.
    #[arg(long)]
    to: SocketAddr,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // Like switchyard: one worker per CPU it may use (one, when the bench
    // pins it).
    loadgen::serve_main("bench-relay", "tcp", cli.listen, None, |listener| {
        loadgen::relay::serve(listener, cli.to)
    })
}
