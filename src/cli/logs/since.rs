//! `--since`: how far back `switchyard logs` looks. A span back from now
//! (`90s`, `30m`, `24h`, `7d`, `2w`), a UTC day (`2026-12-01`) or an
//! RFC 3339 time (`2026-12-01T09:00:00+01:00`), turned into an audit
//! timestamp so records compare by their `ts` text.

use std::time::{Duration, SystemTime};

use time::format_description::well_known::Rfc3339;
use time::macros::format_description;
use time::{Date, OffsetDateTime};

use super::CliError;
use crate::audit::record::rfc3339;

/// `when` as an audit timestamp (`2026-12-01T00:00:00.000Z`).
pub fn parse(when: &str) -> Result<String, CliError> {
    instant(when.trim(), SystemTime::now())
        .map(rfc3339)
        .ok_or_else(|| {
            CliError::Usage(format!(
                "--since {when:?}: expected a span back from now (30m, 24h, 7d, 2w), \
                 a UTC day (2026-12-01) or an RFC 3339 time (2026-12-01T09:00:00Z)"
            ))
        })
}

fn instant(when: &str, now: SystemTime) -> Option<SystemTime> {
    if let Some(span) = span(when) {
        return now.checked_sub(span);
    }
    if let Ok(day) = Date::parse(when, format_description!("[year]-[month]-[day]")) {
        return Some(day.midnight().assume_utc().into());
    }
    let at = OffsetDateTime::parse(when, &Rfc3339).ok()?;
    Some(at.into())
}

/// `<digits><unit>`, unit one of s, m, h, d, w.
fn span(when: &str) -> Option<Duration> {
    let unit = when.chars().last()?;
    let count: u64 = when[..when.len() - unit.len_utf8()].parse().ok()?;
    let seconds = match unit {
        's' => 1,
        'm' => 60,
        'h' => 3_600,
        'd' => 86_400,
        'w' => 7 * 86_400,
        _ => return None,
    };
    count.checked_mul(seconds).map(Duration::from_secs)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(when: &str) -> Option<String> {
        // 2026-12-01T10:30:00Z
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_796_121_000);
        instant(when, now).map(rfc3339)
    }

    #[test]
    fn spans_days_and_times_become_audit_timestamps() {
        assert_eq!(at("30m").as_deref(), Some("2026-12-01T10:00:00.000Z"));
        assert_eq!(at("24h").as_deref(), Some("2026-11-30T10:30:00.000Z"));
        assert_eq!(at("7d").as_deref(), Some("2026-11-24T10:30:00.000Z"));
        assert_eq!(at("1w"), at("7d"));
        assert_eq!(
            at("2026-11-01").as_deref(),
            Some("2026-11-01T00:00:00.000Z")
        );
        assert_eq!(
            at("2026-12-01T09:00:00+01:00").as_deref(),
            Some("2026-12-01T08:00:00.000Z")
        );
        assert_eq!(
            at("2026-12-01T09:00:00.25Z").as_deref(),
            Some("2026-12-01T09:00:00.250Z")
        );
    }

    #[test]
    fn anything_else_is_refused_by_name() {
        for bad in [
            "",
            "7",
            "d",
            "7y",
            "-7d",
            "yesterday",
            "2026-13-01",
            "99999999999999999999w",
        ] {
            assert_eq!(at(bad), None, "{bad}");
        }
        let e = parse("last week").unwrap_err().to_string();
        assert!(
            e.contains("--since \"last week\"") && e.contains("24h"),
            "{e}"
        );
    }
}
