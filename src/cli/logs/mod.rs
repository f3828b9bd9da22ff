//! `switchyard logs`: the audit trail as a readable table (or the raw JSON
//! lines), filtered by status and time ([`since`]), optionally followed like
//! `tail -F`: it keeps reading across rotation (the writer renames the live
//! file to `.1` and starts a new one; see [`crate::audit::rotate`]). With
//! `--summary`, totals instead of records ([`summary`]).
//!
//! With `[audit] postgres_url` the records come from PostgreSQL instead —
//! the whole fleet's trail, with the same filters; `--follow` polls. If the
//! database cannot be reached, this machine's file is shown (with a warning).

use std::collections::VecDeque;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::time::Duration;

use serde_json::Value;

use super::{load_settings, CliError, LogsArgs};
use crate::audit::postgres::Filter;
use crate::audit::rotate;
use crate::config::Flags;

mod since;
mod summary;

const POLL: Duration = Duration::from_millis(200);

/// Which records to show.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum StatusFilter {
    Class(u16),
    Code(u16),
}

impl StatusFilter {
    fn parse(s: &str) -> Result<StatusFilter, CliError> {
        let lower = s.to_ascii_lowercase();
        if let Some(d) = lower.strip_suffix("xx") {
            if let Ok(class @ 1..=5) = d.parse::<u16>() {
                return Ok(StatusFilter::Class(class));
            }
        }
        match lower.parse::<u16>() {
            Ok(code @ 100..=599) => Ok(StatusFilter::Code(code)),
            _ => Err(CliError::Usage(format!(
                "--status {s:?}: expected 2xx, 4xx, 5xx (any class 1xx-5xx) or a code like 429"
            ))),
        }
    }

    /// The status range as `low..high`, for the database query.
    fn range(self) -> (i32, i32) {
        match self {
            StatusFilter::Class(c) => (i32::from(c) * 100, i32::from(c) * 100 + 100),
            StatusFilter::Code(c) => (i32::from(c), i32::from(c) + 1),
        }
    }

    fn matches(self, record: &Value) -> bool {
        let Some(status) = record["status"].as_u64() else {
            return false;
        };
        match self {
            StatusFilter::Class(c) => status / 100 == u64::from(c),
            StatusFilter::Code(c) => status == u64::from(c),
        }
    }
}

/// Which records to show or count: `--status` and `--since`.
#[derive(Debug, Clone, Default)]
struct Select {
    status: Option<StatusFilter>,
    /// An audit timestamp (`2026-04-29T10:30:00.000Z`): every record's
    /// `ts` has this form, so comparing the text compares the times.
    since: Option<String>,
}

impl Select {
    fn from_args(args: &LogsArgs) -> Result<Select, CliError> {
        Ok(Select {
            status: args
                .status
                .as_deref()
                .map(StatusFilter::parse)
                .transpose()?,
            since: args.since.as_deref().map(since::parse).transpose()?,
        })
    }

    fn is_empty(&self) -> bool {
        self.status.is_none() && self.since.is_none()
    }

    fn matches(&self, record: &Value) -> bool {
        self.status.is_none_or(|f| f.matches(record))
            && self
                .since
                .as_deref()
                .is_none_or(|since| record["ts"].as_str().is_some_and(|ts| ts >= since))
    }

    /// The same selection as the database query's filter.
    fn for_database(&self) -> Filter {
        Filter {
            status: self.status.map(StatusFilter::range),
            since: self.since.clone(),
        }
    }

    /// Whether `line` is selected; lines that do not parse are (they are
    /// shown as they are, see [`Printer::line`]).
    fn keeps_line(&self, line: &str) -> bool {
        if self.is_empty() {
            return true;
        }
        match serde_json::from_str::<Value>(line) {
            Ok(record) => self.matches(&record),
            Err(_) => true,
        }
    }
}

struct Printer {
    json: bool,
    color: bool,
    select: Select,
    header_done: bool,
}

impl Printer {
    /// False when stdout is gone (e.g. `logs | head`): stop quietly.
    fn line(&mut self, raw: &str) -> bool {
        let raw = raw.trim_end_matches(['\r', '\n']);
        if raw.trim().is_empty() {
            return true;
        }
        let Ok(record) = serde_json::from_str::<Value>(raw) else {
            // Not ours to judge here (`audit verify` does); show it as is.
            return self.emit(&format!("(unparsable audit line) {raw}"));
        };
        if !self.select.matches(&record) {
            return true;
        }
        if self.json {
            return self.emit(raw);
        }
        if !self.header_done {
            self.header_done = true;
            if !self.emit(&header()) {
                return false;
            }
        }
        let row = row(&record, self.color);
        self.emit(&row)
    }

    fn emit(&mut self, text: &str) -> bool {
        emit(text)
    }
}

/// Writes a line to stdout; false when stdout is gone.
fn emit(text: &str) -> bool {
    let mut out = std::io::stdout().lock();
    writeln!(out, "{text}").and_then(|_| out.flush()).is_ok()
}

pub fn run(args: LogsArgs) -> Result<(), CliError> {
    let settings = load_settings(&args.config, Flags::default())?;
    let select = Select::from_args(&args)?;
    if args.summary {
        return summary::run(&settings, &args, &select);
    }
    let color = std::io::IsTerminal::is_terminal(&std::io::stdout())
        && std::env::var_os("NO_COLOR").is_none();
    let mut printer = Printer {
        json: args.json,
        color,
        select,
        header_done: false,
    };
    let last = args.last.or(args.follow.then_some(10));
    if let Some(pg) = &settings.audit.postgres {
        match from_postgres(pg, &args, last, &mut printer) {
            Ok(()) => return Ok(()),
            Err(e) => database_unreadable(pg, &e),
        }
    }
    let path = audit_file(&settings)?;

    let mut keep: VecDeque<String> = VecDeque::new();
    let history = history(path, |line| match last {
        Some(n) => {
            if n > 0 && printer.select.keeps_line(line) {
                if keep.len() == n {
                    keep.pop_front();
                }
                keep.push_back(line.to_owned());
            }
            true
        }
        None => printer.line(line),
    })?;
    let Some(History { live, done }) = history else {
        return Ok(());
    };
    for line in keep {
        if !printer.line(&line) {
            return Ok(());
        }
    }
    if !args.follow {
        if live.is_none() && !path.exists() {
            eprintln!("switchyard: no audit file at {} yet", path.display());
        }
        return Ok(());
    }
    follow(path, live, done, &mut printer)
}

/// Says why PostgreSQL could not be read, before the file is used instead.
fn database_unreadable(pg: &crate::config::PostgresSettings, e: &str) {
    eprintln!(
        "switchyard: cannot read the audit trail from PostgreSQL ({}): {e}; showing this machine's audit file",
        crate::config::redact_url(pg.url.expose())
    );
}

/// The audit file, refused when it is not a regular file.
fn audit_file(settings: &crate::config::Settings) -> Result<&Path, CliError> {
    let path = settings.audit.path.as_path();
    if std::fs::metadata(path).is_ok_and(|m| !m.is_file()) {
        // Reading a FIFO would take records from the reader it feeds.
        return Err(CliError::Runtime(format!(
            "the audit path {} is not a regular file (a pipe?): read the records where it leads",
            path.display()
        )));
    }
    Ok(path)
}

/// Where reading the history left off, for `--follow` to go on from.
struct History {
    /// The live file and the length read from it.
    live: Option<(File, u64)>,
    /// The rotated files read.
    done: VecDeque<FileId>,
}

/// Passes every complete line written so far to `each`: the rotated files
/// oldest first, then the live file, read through the handle that
/// `--follow` keeps reading from, so nothing falls between the two. None
/// when `each` asked to stop.
fn history(path: &Path, mut each: impl FnMut(&str) -> bool) -> Result<Option<History>, CliError> {
    // The live file is opened before the rotated ones are listed (see
    // `rotated_unread`), and the rotated files read here are remembered by
    // inode, so `--follow` never shows them again.
    let held = match File::open(path) {
        Ok(f) => Some(f),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(cannot_read(path, &e)),
    };
    let mut done: VecDeque<FileId> = VecDeque::new();
    for (file, mut f, id) in rotated_unread(path, held.as_ref(), &done) {
        let text = read_all(&mut f, &file)?;
        if !complete_lines(&text).lines().all(&mut each) {
            return Ok(None);
        }
        remember(&mut done, id);
    }
    let mut live: Option<(File, u64)> = None;
    if let Some(mut f) = held {
        let text = read_all(&mut f, path)?;
        let complete = complete_lines(&text);
        if !complete.lines().all(&mut each) {
            return Ok(None);
        }
        live = Some((f, complete.len() as u64));
    }
    Ok(Some(History { live, done }))
}

/// Runs `work` with a connection to the audit database, on a runtime of its
/// own: the CLI verbs have none.
fn with_database<T>(
    pg: &crate::config::PostgresSettings,
    work: impl AsyncFnOnce(&tokio_postgres::Client) -> Result<T, String>,
) -> Result<T, String> {
    use crate::audit::postgres::{connect, Transport};
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    runtime.block_on(async {
        let client = connect(pg.url.expose(), &Transport::new(pg)).await?;
        work(&client).await
    })
}

/// The records from PostgreSQL, oldest first; with `--follow`, polls for
/// rows inserted since (in insertion order, so backfilled rows show too).
/// Err only when nothing was printed yet (the caller falls back to the file).
fn from_postgres(
    pg: &crate::config::PostgresSettings,
    args: &LogsArgs,
    last: Option<usize>,
    printer: &mut Printer,
) -> Result<(), String> {
    use crate::audit::postgres::{query, Query};
    with_database(pg, async |client| {
        let mut q = Query {
            filter: printer.select.for_database(),
            last,
            after_seq: None,
        };
        let mut first = true;
        loop {
            let rows = match query(client, &q).await {
                Ok(rows) => rows,
                Err(e) if first => return Err(e),
                Err(e) => {
                    eprintln!("switchyard: PostgreSQL: {e}; retrying");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    continue;
                }
            };
            first = false;
            for (seq, record) in rows {
                q.after_seq = Some(seq);
                if !printer.line(&record) {
                    return Ok(());
                }
            }
            if !args.follow {
                return Ok(());
            }
            q.last = None;
            q.after_seq.get_or_insert(0);
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    })
}

/// Tails the live file forever. When it is rotated away, the old handle is
/// read to its end, then every rotated file not seen yet (there may be
/// several if rotation outpaced the poll), then the new live file. Files are
/// told apart by inode, so a rename racing the listing cannot cause a
/// record to be shown twice.
fn follow(
    path: &Path,
    mut live: Option<(File, u64)>,
    mut done: VecDeque<FileId>,
    printer: &mut Printer,
) -> Result<(), CliError> {
    let mut partial = String::new();
    loop {
        if live.is_none() {
            let held = File::open(path)
                .ok()
                .filter(|f| file_id(f).is_some_and(|id| !done.contains(&id)));
            for (_, mut f, id) in rotated_unread(path, held.as_ref(), &done) {
                let mut pos = 0;
                if !drain(&mut f, &mut pos, &mut partial, printer) {
                    return Ok(());
                }
                partial.clear();
                remember(&mut done, id);
            }
            live = held.map(|f| (f, 0));
        }
        if let Some((file, pos)) = live.as_mut() {
            if !drain(file, pos, &mut partial, printer) {
                return Ok(());
            }
            let ours = file_id(file);
            let rotated = match (std::fs::metadata(path), ours) {
                (Ok(now), Some(ours)) => (now.dev(), now.ino()) != ours,
                (Err(_), _) => true,
                _ => false,
            };
            if rotated {
                // Whatever was written before the rename is still in our
                // handle: read it to the end before switching files.
                if !drain(file, pos, &mut partial, printer) {
                    return Ok(());
                }
                if let Some(id) = ours {
                    remember(&mut done, id);
                }
                live = None;
                partial.clear();
                continue;
            }
        }
        std::thread::sleep(POLL);
    }
}

/// A file told apart from the others across renames: (device, inode).
type FileId = (u64, u64);

fn file_id(file: &File) -> Option<FileId> {
    file.metadata().ok().map(|m| (m.dev(), m.ino()))
}

/// The rotated files not read yet, oldest first, opened. `held` is the live
/// file, opened *before* this listing: if a rotation renames it meanwhile,
/// it shows up here under a rotated name and is skipped (its lines come
/// through the held handle, which notices the rename), instead of the
/// listing turning up a file older than the one held after it was read.
fn rotated_unread(
    path: &Path,
    held: Option<&File>,
    done: &VecDeque<FileId>,
) -> Vec<(std::path::PathBuf, File, FileId)> {
    let held = held.and_then(file_id);
    rotate::files_oldest_first(path)
        .into_iter()
        .filter(|file| file != path)
        .filter_map(|file| {
            let f = File::open(&file).ok()?;
            let id = file_id(&f)?;
            (!done.contains(&id) && Some(id) != held).then_some((file, f, id))
        })
        .collect()
}

/// `text` up to its last newline: a trailing partial line is still being
/// written, and `--follow` picks it up once it is whole.
fn complete_lines(text: &str) -> &str {
    &text[..text.rfind('\n').map_or(0, |i| i + 1)]
}

fn read_all(f: &mut File, file: &Path) -> Result<String, CliError> {
    let mut text = String::new();
    f.read_to_string(&mut text)
        .map_err(|e| cannot_read(file, &e))?;
    Ok(text)
}

fn cannot_read(file: &Path, e: &std::io::Error) -> CliError {
    CliError::Runtime(format!("cannot read {}: {e}", file.display()))
}

fn remember(done: &mut VecDeque<FileId>, id: FileId) {
    if done.len() == 256 {
        done.pop_front();
    }
    done.push_back(id);
}

/// Prints every complete line past `pos`. False when stdout is gone.
fn drain(file: &mut File, pos: &mut u64, partial: &mut String, printer: &mut Printer) -> bool {
    let len = file.metadata().map(|m| m.len()).unwrap_or(*pos);
    if len < *pos {
        // Truncated by someone else: start over.
        *pos = 0;
        partial.clear();
    }
    if file.seek(SeekFrom::Start(*pos)).is_err() {
        return true;
    }
    let mut buf = Vec::new();
    if file.read_to_end(&mut buf).is_err() {
        return true;
    }
    *pos += buf.len() as u64;
    partial.push_str(&String::from_utf8_lossy(&buf));
    while let Some(i) = partial.find('\n') {
        let line: String = partial.drain(..=i).collect();
        if !printer.line(&line) {
            return false;
        }
    }
    true
}

const COLUMNS: [(&str, usize); 10] = [
    ("TIME", 18),
    ("METHOD", 7),
    ("HOST+PATH", 44),
    ("MODEL → UPSTREAM", 34),
    ("PROVIDER/CREDENTIAL", 22),
    ("STATUS", 6),
    ("DURATION", 9),
    ("TTFB", 8),
    ("TOKENS IN/OUT", 13),
    ("COST", 9),
];

fn header() -> String {
    let cells: Vec<String> = COLUMNS.iter().map(|(n, _)| n.to_string()).collect();
    layout(&cells)
}

fn layout(cells: &[String]) -> String {
    let mut out = String::new();
    for (i, (cell, (_, width))) in cells.iter().zip(COLUMNS).enumerate() {
        let cell = fit(cell, width);
        let numeric = i >= 5;
        let pad = width.saturating_sub(cell.chars().count());
        if numeric {
            out.push_str(&" ".repeat(pad));
            out.push_str(&cell);
        } else {
            out.push_str(&cell);
            if i + 1 < cells.len() {
                out.push_str(&" ".repeat(pad));
            }
        }
        if i + 1 < cells.len() {
            out.push(' ');
        }
    }
    out.trim_end().to_owned()
}

fn fit(s: &str, width: usize) -> String {
    if s.chars().count() <= width {
        return s.to_owned();
    }
    let mut t: String = s.chars().take(width.saturating_sub(1)).collect();
    t.push('…');
    t
}

fn row(r: &Value, color: bool) -> String {
    let str_of = |v: &Value| v.as_str().unwrap_or_default().to_owned();
    let ts = str_of(&r["ts"]);
    // 2026-04-29T10:30:00.000Z → 04-29 10:30:00.000
    let time = match (ts.get(5..10), ts.get(11..23)) {
        (Some(d), Some(t)) => format!("{d} {t}"),
        _ => ts.clone(),
    };
    let kind = str_of(&r["kind"]);
    let host = str_of(&r["host"]);
    let place = if kind == "tunnel" {
        format!("{host}:{}", r["port"].as_u64().unwrap_or(0))
    } else {
        format!("{host}{}", str_of(&r["path"]))
    };
    let model = str_of(&r["model"]);
    let upstream = str_of(&r["upstream_model"]);
    let models = match (model.is_empty(), upstream.is_empty() || upstream == model) {
        (true, _) => String::new(),
        (false, true) => model,
        (false, false) => format!("{model} → {upstream}"),
    };
    let provider = match (str_of(&r["provider"]), str_of(&r["credential"])) {
        (p, _) if p.is_empty() => String::new(),
        (p, c) if c.is_empty() => p,
        (p, c) => format!("{p}/{c}"),
    };
    let status = r["status"].as_u64();
    let ms = |v: &Value| match v.as_u64() {
        Some(ms) if ms >= 1000 => format!("{:.2}s", ms as f64 / 1000.0),
        Some(ms) => format!("{ms}ms"),
        None => "-".into(),
    };
    let tokens = match r["usage"].as_object() {
        Some(u) => {
            let g = |k: &str| u.get(k).and_then(Value::as_u64).unwrap_or(0);
            format!(
                "{}/{}",
                g("input_tokens") + g("cache_read_tokens") + g("cache_write_tokens"),
                g("output_tokens")
            )
        }
        None => "-".into(),
    };
    let cells = [
        time,
        str_of(&r["method"]),
        place,
        models,
        provider,
        status.map(|s| s.to_string()).unwrap_or_else(|| "-".into()),
        ms(&r["duration_ms"]),
        ms(&r["ttfb_ms"]),
        tokens,
        cost(&r["cost_usd"]),
    ];
    let line = layout(&cells);
    if !color {
        return line;
    }
    let code = match status {
        Some(200..=299) => "32",
        Some(300..=399) => "36",
        Some(400..=499) => "33",
        _ => "31",
    };
    // Colour the whole status cell; its text is unchanged, so widths hold.
    let status_text = &cells[5];
    let start: usize = COLUMNS[..5].iter().map(|(_, w)| w + 1).sum();
    let end = start + COLUMNS[5].1;
    let chars: Vec<char> = line.chars().collect();
    if chars.len() < end {
        return line;
    }
    let before: String = chars[..start].iter().collect();
    let cell: String = chars[start..end].iter().collect();
    let after: String = chars[end..].iter().collect();
    debug_assert!(cell.trim() == status_text);
    format!("{before}\x1b[{code}m{cell}\x1b[0m{after}")
}

/// USD with the digits a cell can hold: cents from a dollar up, then four
/// decimals, then six (a short call costs millionths).
fn cost(v: &Value) -> String {
    v.as_f64().map_or_else(|| "-".into(), usd)
}

fn usd(c: f64) -> String {
    match c {
        c if c >= 1.0 => format!("${c:.2}"),
        c if c >= 0.01 => format!("${c:.4}"),
        c => format!("${c:.6}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_filters() {
        let r = serde_json::json!({"status": 429});
        assert!(StatusFilter::parse("4xx").unwrap().matches(&r));
        assert!(StatusFilter::parse("429").unwrap().matches(&r));
        assert!(!StatusFilter::parse("5XX").unwrap().matches(&r));
        assert!(StatusFilter::parse("6xx").is_err());
        assert!(StatusFilter::parse("abc").is_err());
        assert!(!StatusFilter::parse("2xx")
            .unwrap()
            .matches(&serde_json::json!({"status": null})));
    }

    #[test]
    fn rows_line_up_with_the_header() {
        let r = serde_json::json!({"ts":"2026-04-29T10:30:00.000Z","kind":"gateway","method":"POST",
            "host":"127.0.0.1:8787","path":"/v1/messages","model":"claude-x","upstream_model":"claude-y",
            "provider":"anthropic","credential":"team-a","status":200,"duration_ms":1234,"ttfb_ms":210,
            "usage":{"input_tokens":10,"output_tokens":20,"cache_read_tokens":5,"cache_write_tokens":0},
            "cost_usd":0.000345});
        let line = row(&r, false);
        assert!(line.starts_with("04-29 10:30:00.000 POST"), "{line}");
        for needle in [
            "claude-x → claude-y",
            "anthropic/team-a",
            "1.23s",
            "210ms",
            "15/20",
            "$0.000345",
        ] {
            assert!(line.contains(needle), "{needle} in {line}");
        }
        let h = header();
        let status_col = h.find("STATUS").unwrap();
        let colored = row(&r, true);
        assert!(colored.contains("\x1b[32m"), "{colored:?}");
        assert_eq!(
            line.chars()
                .take(h[..status_col].chars().count() + 6)
                .count(),
            h[..status_col].chars().count() + 6
        );
    }
}
