//! What `switchyard logs` asks of the database: the records themselves, or
//! (`--summary`) their totals, summed by the server so a fleet's trail is
//! not shipped to a terminal to be added up.

use tokio_postgres::Client;

use super::{timed, STATEMENT_TIMEOUT};
use crate::audit::summary::{Dim, Summary, Totals};

/// A summary scans every row since `--since`: more time than one page.
const SUMMARY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(300);

/// Which records, in both modes.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    /// `(low, high)`: status in `low..high`.
    pub status: Option<(i32, i32)>,
    /// Only records stamped at or after this RFC 3339 time.
    pub since: Option<String>,
}

impl Filter {
    fn status_bounds(&self) -> (bool, i32, i32) {
        let (low, high) = self.status.unwrap_or((i32::MIN, i32::MAX));
        (self.status.is_some(), low, high)
    }
}

/// Which rows `switchyard logs` asks for.
pub struct Query {
    pub filter: Filter,
    /// Only the newest N.
    pub last: Option<usize>,
    /// Only rows inserted after this one (`--follow`).
    pub after_seq: Option<i64>,
}

/// Rows as `(seq, record JSON)`, in insertion order.
pub async fn query(client: &Client, q: &Query) -> Result<Vec<(i64, String)>, String> {
    let (filtered, low, high) = q.filter.status_bounds();
    let since = q.filter.since.as_deref();
    let after = q.after_seq.unwrap_or(0);
    let limit = q.last.map(|n| n as i64).unwrap_or(i64::MAX);
    let sql = "SELECT seq, record::text FROM audit_records
        WHERE seq > $1 AND (NOT $2 OR (status >= $3 AND status < $4))
          AND ($6::text IS NULL OR ts >= $6::text::timestamptz)
        ORDER BY seq DESC LIMIT $5";
    let rows = timed(
        client.query(sql, &[&after, &filtered, &low, &high, &limit, &since]),
        STATEMENT_TIMEOUT,
    )
    .await
    .map_err(|e| e.to_string())?;
    let mut out: Vec<(i64, String)> = rows
        .iter()
        .filter_map(|r| Some((r.try_get(0).ok()?, r.try_get(1).ok()?)))
        .collect();
    out.reverse();
    Ok(out)
}

/// The expression giving a dimension's value for a row: the same value
/// [`Dim::of`] reads from the record's JSON.
fn column(dim: Dim) -> &'static str {
    match dim {
        Dim::Provider => "coalesce(provider, '')",
        Dim::Credential => {
            "CASE WHEN coalesce(credential, '') = '' THEN coalesce(provider, '')
                  ELSE coalesce(provider, '') || '/' || credential END"
        }
        Dim::Model => "coalesce(nullif(record->>'upstream_model', ''), model, '')",
        Dim::Client => {
            "coalesce(nullif(record->>'client_name', ''),
                      regexp_replace(coalesce(record->>'client', ''), ':[0-9]+$', ''))"
        }
        Dim::Host => "coalesce(record->>'host', '')",
        Dim::Kind => "kind",
        Dim::Day => "to_char(ts AT TIME ZONE 'UTC', 'YYYY-MM-DD')",
    }
}

/// The sums of [`Totals`], in its field order, as the server computes them.
const SUMS: &str = "count(*)::int8,
    (count(*) FILTER (WHERE status IS NULL OR status < 200 OR status >= 300))::int8,
    coalesce(sum((record->'usage'->>'input_tokens')::int8), 0)::int8,
    coalesce(sum((record->'usage'->>'output_tokens')::int8), 0)::int8,
    coalesce(sum((record->'usage'->>'cache_read_tokens')::int8), 0)::int8,
    coalesce(sum((record->'usage'->>'cache_write_tokens')::int8), 0)::int8,
    coalesce(sum(round((record->>'cost_usd')::numeric * 1000000000)), 0)::int8,
    (count(*) FILTER (WHERE jsonb_typeof(record->'usage') = 'object'
                        AND jsonb_typeof(record->'cost_usd') IS DISTINCT FROM 'number'))::int8";

/// The records matching `filter`, totalled by `by`.
pub async fn summarize(client: &Client, by: &[Dim], filter: &Filter) -> Result<Summary, String> {
    let (filtered, low, high) = filter.status_bounds();
    let since = filter.since.as_deref();
    let keys: Vec<&str> = by.iter().map(|d| column(*d)).collect();
    let groups: Vec<String> = (1..=by.len() + 1).map(|i| i.to_string()).collect();
    let sql = format!(
        "SELECT kind = 'tunnel', {keys}, {SUMS} FROM audit_records
         WHERE (NOT $1 OR (status >= $2 AND status < $3))
           AND ($4::text IS NULL OR ts >= $4::text::timestamptz)
         GROUP BY {groups}",
        keys = keys.join(", "),
        groups = groups.join(", "),
    );
    let rows = timed(
        client.query(&sql, &[&filtered, &low, &high, &since]),
        SUMMARY_TIMEOUT,
    )
    .await
    .map_err(|e| e.to_string())?;
    let mut summary = Summary::new(by.to_vec());
    for row in rows {
        let int = |i: usize| -> Result<u64, String> {
            let v: i64 = row.try_get(i).map_err(|e| e.to_string())?;
            Ok(u64::try_from(v).unwrap_or(0))
        };
        let sums = by.len() + 1;
        let totals = Totals {
            calls: int(sums)?,
            errors: int(sums + 1)?,
            input_tokens: int(sums + 2)?,
            output_tokens: int(sums + 3)?,
            cache_read_tokens: int(sums + 4)?,
            cache_write_tokens: int(sums + 5)?,
            cost_nanos: row.try_get(sums + 6).map_err(|e| e.to_string())?,
            unpriced: int(sums + 7)?,
        };
        if row.try_get(0).map_err(|e| e.to_string())? {
            summary.add_tunnels(totals.calls);
            continue;
        }
        let key = (1..=by.len())
            .map(|i| row.try_get::<_, String>(i).map_err(|e| e.to_string()))
            .collect::<Result<Vec<String>, String>>()?;
        summary.add_group(key, &totals);
    }
    Ok(summary)
}
