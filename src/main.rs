//! The `switchyard` binary: parse the command line and hand it to the library.

use std::process::ExitCode;

use clap::Parser;

/// Measured per proxied request: glibc's malloc cost ~10 % of the CPU.
/// (`system-alloc` leaves the system's, which valgrind's DHAT can count:
/// `scripts/bench-profile.sh --allocs`.)
#[cfg(not(feature = "system-alloc"))]
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = switchyard::cli::Cli::parse();
    match switchyard::cli::dispatch(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("switchyard: {e}");
            ExitCode::from(e.exit_code())
        }
    }
}
