//! `bench-lean --to ADDR --ca-out PEM [--listen ADDR] [--hyper]`: a lean
//! TLS-terminating HTTP/1.1 reverse proxy on switchyard's stack (see
//! `loadgen::lean`), the floor for a TLS proxy written with tokio and
//! rustls. It mints a throw-away CA and a `localhost` leaf at start and
//! writes the CA to `--ca-out` for the load client. Prints `bench-lean
//! listening on https://ADDR` once it accepts connections.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;

#[derive(Parser)]
#[command(about = "Lean TLS + HTTP/1.1 reverse proxy: the floor of switchyard's stack")]
struct Cli {
    #[arg(long, default_value = "127.0.0.1:0")]
    listen: SocketAddr,
    /// The upstream every request goes to (plain HTTP/1.1).
    #[arg(long)]
    to: SocketAddr,
    /// Where to write the PEM CA that signed the served certificate.
    #[arg(long)]
    ca_out: PathBuf,
    /// Relay with hyper's server and hyper-util's pooled client instead of
    /// the hand-written HTTP/1.1 loop (switchyard's server; its client until
    /// it got its own pool).
    #[arg(long)]
    hyper: bool,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let tls = match loadgen::lean::mint_localhost().and_then(|(tls, ca)| {
        std::fs::write(&cli.ca_out, ca)
            .map(|()| tls)
            .map_err(|e| e.to_string())
    }) {
        Ok(tls) => tls,
        Err(e) => {
            eprintln!("bench-lean: {e}");
            return ExitCode::FAILURE;
        }
    };
    loadgen::serve_main(
        "bench-lean",
        "https",
        cli.listen,
        None,
        |listener| async move {
            if cli.hyper {
                loadgen::lean::serve_hyper(listener, cli.to, tls).await
            } else {
                loadgen::lean::serve(listener, cli.to, tls).await
            }
        },
    )
}
