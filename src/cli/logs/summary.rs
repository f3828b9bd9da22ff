//! `switchyard logs --summary`: calls, errors, tokens and cost per
//! credential and model (or what `--by` names), from PostgreSQL when the
//! config has it (the server sums), else from this machine's audit files.

use serde_json::Value;

use super::{
    audit_file, database_unreadable, emit, history, usd, with_database, CliError, LogsArgs, Select,
};
use crate::audit::summary::{Dim, Summary, Totals};
use crate::config::{PostgresSettings, Settings};

/// What a summary groups by unless `--by` says otherwise: whose key, for
/// which model.
const DEFAULT_BY: &str = "credential,model";

/// Widest a key column gets; longer values end in `…`.
const KEY_WIDTH: usize = 40;

pub fn run(settings: &Settings, args: &LogsArgs, select: &Select) -> Result<(), CliError> {
    let by = Dim::parse_list(args.by.as_deref().unwrap_or(DEFAULT_BY))
        .map_err(|e| CliError::Usage(format!("--by: {e}")))?;
    let mut source = "postgres";
    let mut summary = None;
    if let Some(pg) = &settings.audit.postgres {
        match from_postgres(pg, &by, select) {
            Ok(s) => summary = Some(s),
            Err(e) => database_unreadable(pg, &e),
        }
    }
    let summary = match summary {
        Some(s) => s,
        None => {
            source = "file";
            from_files(settings, by, select)?
        }
    };
    if args.json {
        let mut out = summary.json(select.since.as_deref());
        out["source"] = source.into();
        emit(&out.to_string());
        return Ok(());
    }
    if summary.rows().is_empty() && summary.tunnels() == 0 {
        let since = select.since.as_deref().map(|s| format!(" since {s}"));
        eprintln!("switchyard: no records{}", since.unwrap_or_default());
        return Ok(());
    }
    for line in table(&summary) {
        if !emit(&line) {
            break;
        }
    }
    Ok(())
}

fn from_postgres(pg: &PostgresSettings, by: &[Dim], select: &Select) -> Result<Summary, String> {
    let filter = select.for_database();
    with_database(pg, async |client| {
        crate::audit::postgres::summarize(client, by, &filter).await
    })
}

fn from_files(settings: &Settings, by: Vec<Dim>, select: &Select) -> Result<Summary, CliError> {
    let path = audit_file(settings)?;
    let mut summary = Summary::new(by);
    history(path, |line| {
        if let Ok(record) = serde_json::from_str::<Value>(line) {
            if select.matches(&record) {
                summary.add(&record);
            }
        }
        true
    })?;
    Ok(summary)
}

/// The table's lines: a header, one row per group (most expensive first),
/// a TOTAL row when there is more than one, and notes.
fn table(summary: &Summary) -> Vec<String> {
    let keys: Vec<String> = summary
        .by()
        .iter()
        .map(|d| d.name().to_ascii_uppercase())
        .collect();
    let mut rows: Vec<Vec<String>> = summary
        .rows()
        .into_iter()
        .map(|(key, totals)| cells(key.iter().map(|k| shown(k)), totals))
        .collect();
    if rows.len() > 1 {
        let mut first = vec!["TOTAL".to_owned()];
        first.resize(keys.len(), String::new());
        rows.push(cells(first.into_iter(), &summary.total()));
    }
    let mut header = keys.clone();
    header.extend(NUMBERS.iter().map(|n| n.to_string()));
    let widths: Vec<usize> = (0..header.len())
        .map(|i| {
            let widest = rows.iter().map(|r| r[i].chars().count()).max();
            widest.unwrap_or(0).max(header[i].chars().count())
        })
        .collect();
    let line = |cells: &[String]| {
        let padded: Vec<String> = cells
            .iter()
            .zip(&widths)
            .enumerate()
            .map(|(i, (cell, &width))| match i < keys.len() {
                true => format!("{cell:<width$}"),
                false => format!("{cell:>width$}"),
            })
            .collect();
        padded.join("  ").trim_end().to_owned()
    };
    let mut out = vec![line(&header)];
    out.extend(rows.iter().map(|r| line(r)));
    out.extend(notes(summary));
    out
}

const NUMBERS: [&str; 5] = ["CALLS", "ERRORS", "TOKENS IN", "TOKENS OUT", "COST"];

fn cells(key: impl Iterator<Item = String>, t: &Totals) -> Vec<String> {
    let mut cells: Vec<String> = key.collect();
    let mut cost = match t.cost_nanos {
        0 => "-".to_owned(),
        _ => usd(t.cost_usd()),
    };
    if t.unpriced > 0 {
        cost.push('*');
    }
    cells.extend([
        t.calls.to_string(),
        t.errors.to_string(),
        t.tokens_in().to_string(),
        t.output_tokens.to_string(),
        cost,
    ]);
    cells
}

/// A key as a cell: `-` for none, shortened past [`KEY_WIDTH`].
fn shown(key: &str) -> String {
    if key.is_empty() {
        return "-".into();
    }
    if key.chars().count() <= KEY_WIDTH {
        return key.to_owned();
    }
    let mut short: String = key.chars().take(KEY_WIDTH - 1).collect();
    short.push('…');
    short
}

fn notes(summary: &Summary) -> Vec<String> {
    let mut notes = Vec::new();
    let unpriced = summary.total().unpriced;
    if unpriced > 0 {
        notes.push(format!(
            "* {unpriced} call(s) with tokens but no [prices] entry for their model are not in COST"
        ));
    }
    if summary.tunnels() > 0 {
        notes.push(format!(
            "{} blind tunnel(s) to other hosts are not counted (no API calls)",
            summary.tunnels()
        ));
    }
    notes
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_table_lines_up_sorts_by_cost_and_totals() {
        let mut s = Summary::new(vec![Dim::Credential, Dim::Model]);
        let call = |cred: &str, model: &str, cost: Value| {
            json!({"kind": "gateway", "provider": "anthropic", "credential": cred, "model": model,
                   "status": 200, "usage": {"input_tokens": 1000, "output_tokens": 10,
                   "cache_read_tokens": 0, "cache_write_tokens": 0}, "cost_usd": cost})
        };
        s.add(&call("team-a", "claude-sonnet-4-5", json!(0.5)));
        s.add(&call("team-a", "claude-sonnet-4-5", json!(1.25)));
        s.add(&call("team-b", "claude-haiku-4-5", json!(0.002)));
        s.add(&call("", "mystery-model", Value::Null));
        s.add(&json!({"kind": "tunnel", "host": "github.com"}));
        let lines = table(&s);
        assert_eq!(
            lines[0],
            "CREDENTIAL        MODEL              CALLS  ERRORS  TOKENS IN  TOKENS OUT       COST"
        );
        assert_eq!(
            lines[1],
            "anthropic/team-a  claude-sonnet-4-5      2       0       2000          20      $1.75"
        );
        assert!(
            lines[2].starts_with("anthropic/team-b  claude-haiku-4-5"),
            "{lines:?}"
        );
        assert!(lines[2].ends_with("$0.002000"), "{lines:?}");
        assert!(
            lines[3].starts_with("anthropic         mystery-model"),
            "{lines:?}"
        );
        assert!(lines[3].ends_with(" -*"), "{lines:?}");
        assert!(
            lines[4].starts_with("TOTAL  ") && lines[4].ends_with("$1.75*"),
            "{lines:?}"
        );
        assert!(lines[4].contains("      4  "), "{lines:?}");
        assert!(lines[5].starts_with("* 1 call(s)"), "{lines:?}");
        assert!(lines[6].starts_with("1 blind tunnel(s)"), "{lines:?}");
        let widths: Vec<usize> = lines[..5].iter().map(|l| l.chars().count()).collect();
        assert!(widths.iter().all(|w| *w == widths[0]), "{lines:#?}");
    }

    #[test]
    fn long_and_empty_keys_are_shown_readably() {
        assert_eq!(shown(""), "-");
        let long = "x".repeat(60);
        assert_eq!(shown(&long).chars().count(), KEY_WIDTH);
        assert!(shown(&long).ends_with('…'));
    }
}
