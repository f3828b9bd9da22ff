//! `bench-relay --to ADDR [--listen ADDR]`: the benchmark's floor, a TCP
//! relay that copies bytes and nothing else (see `loadgen::relay`). Prints
//! `bench-relay listening on tcp://ADDR` once it accepts connections.

use std::io::Write;
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
    // Like switchyard: the multi-threaded runtime, one worker per CPU it
    // may use (one, when the bench pins it).
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("bench-relay: {e}");
            return ExitCode::FAILURE;
        }
    };
    rt.block_on(async {
        let listener = match tokio::net::TcpListener::bind(cli.listen).await {
            Ok(l) => l,
            Err(e) => {
                eprintln!("bench-relay: cannot listen on {}: {e}", cli.listen);
                return ExitCode::FAILURE;
            }
        };
        let addr = listener.local_addr().map_or(cli.listen, |a| a);
        println!("bench-relay listening on tcp://{addr}");
        let _ = std::io::stdout().flush();
        loadgen::relay::serve(listener, cli.to).await;
        ExitCode::SUCCESS
    })
}
