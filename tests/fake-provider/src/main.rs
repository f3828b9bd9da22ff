//! `fake-provider [--listen ADDR] [--gap-ms N] [--text TEXT] [--no-record]`:
//! runs the fake provider until killed, printing
//! `fake-provider listening on http://ADDR` once it accepts connections.
//! Scripts change its behaviour through the `/_fake/*` control endpoints.

use std::io::Write;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

use fake_provider::{Behavior, FakeProvider};

struct Args {
    listen: SocketAddr,
    gap: Duration,
    text: Option<String>,
    record: bool,
}

const USAGE: &str = "usage: fake-provider [--listen ADDR] [--gap-ms N] [--text TEXT] [--no-record]";

fn parse(mut argv: impl Iterator<Item = String>) -> Result<Args, String> {
    let mut args = Args {
        listen: SocketAddr::from(([127, 0, 0, 1], 0)),
        gap: Duration::ZERO,
        text: None,
        record: true,
    };
    while let Some(flag) = argv.next() {
        let mut value = || argv.next().ok_or_else(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--listen" => args.listen = value()?.parse().map_err(|e| format!("--listen: {e}"))?,
            "--gap-ms" => {
                let ms: u64 = value()?.parse().map_err(|e| format!("--gap-ms: {e}"))?;
                args.gap = Duration::from_millis(ms);
            }
            "--text" => args.text = Some(value()?),
            "--no-record" => args.record = false,
            "-h" | "--help" => return Err(USAGE.to_string()),
            other => return Err(format!("unknown argument {other:?}\n{USAGE}")),
        }
    }
    Ok(args)
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = match parse(std::env::args().skip(1)) {
        Ok(args) => args,
        Err(message) => {
            eprintln!("{message}");
            return ExitCode::from(2);
        }
    };
    let fake = match FakeProvider::start_on(args.listen).await {
        Ok(fake) => fake,
        Err(e) => {
            eprintln!("fake-provider: cannot listen on {}: {e}", args.listen);
            return ExitCode::from(1);
        }
    };
    let text = args.text.map(Behavior::Text).unwrap_or_default();
    fake.set_default(text.drip(args.gap));
    fake.set_recording(args.record);
    println!("fake-provider listening on {}", fake.base_url());
    let _ = std::io::stdout().flush();
    std::future::pending::<()>().await;
    ExitCode::SUCCESS
}
