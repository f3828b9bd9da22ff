//! `bench-report --runs RUNS.jsonl [--meta META.json] [--markdown OUT.md] [--json OUT.json]`:
//! prints the benchmark's markdown report and writes the results file.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use loadgen::report::{markdown, results_json, Runs};

#[derive(Parser)]
#[command(about = "build switchyard's benchmark report")]
struct Cli {
    /// JSON lines written by `loadgen`.
    #[arg(long)]
    runs: PathBuf,
    /// Context from the bench script (a JSON object; `contention` is printed).
    #[arg(long)]
    meta: Option<PathBuf>,
    #[arg(long)]
    markdown: Option<PathBuf>,
    #[arg(long)]
    json: Option<PathBuf>,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let read =
        |p: &PathBuf| std::fs::read_to_string(p).map_err(|e| format!("{}: {e}", p.display()));
    let result = (|| -> Result<(), String> {
        let runs = Runs::parse(&read(&cli.runs)?);
        let meta = match &cli.meta {
            Some(p) => {
                serde_json::from_str(&read(p)?).map_err(|e| format!("{}: {e}", p.display()))?
            }
            None => serde_json::json!({}),
        };
        let md = markdown(&runs, &meta);
        print!("{md}");
        if let Some(p) = &cli.markdown {
            std::fs::write(p, &md).map_err(|e| format!("{}: {e}", p.display()))?;
        }
        if let Some(p) = &cli.json {
            let text = serde_json::to_string_pretty(&results_json(&runs, &meta))
                .map_err(|e| e.to_string())?;
            std::fs::write(p, text).map_err(|e| format!("{}: {e}", p.display()))?;
        }
        Ok(())
    })();
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bench-report: {e}");
            ExitCode::FAILURE
        }
    }
}
