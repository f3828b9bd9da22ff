//! Head to head: the c=16 throughput of a few paths measured in interleaved
//! rounds (scenario `round_c16:<n>`), and the verdicts drawn from them.
//!
//! The main table measures each path once, minutes apart. On a shared VM
//! whose speed drifts by ±40 % over minutes, a ratio of two such figures
//! says as much about the minute as about the paths. Here every path is
//! running at once, each round measures each in turn (the order rotates
//! from round to round), and a comparison is the median of the per-round
//! ratios: drift within a round falls on both sides of each ratio.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde_json::{json, Value};

use crate::report::{Runs, PATHS};

/// The scenario of round `n` is this followed by `n`.
pub const SCENARIO_PREFIX: &str = "round_c16:";

/// The comparisons made round by round: (switchyard path, peer).
const PAIRS: &[(&str, &str)] = &[
    ("sy_intercept", "nginx_tls"),
    ("sy_intercept_meta", "nginx_tls"),
    ("sy_intercept", "hyper_tls"),
    ("sy_intercept_meta", "sy_intercept"),
];

/// A set of per-round figures, summarised.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Spread {
    pub rounds: usize,
    pub median: f64,
    pub min: f64,
    pub max: f64,
}

impl Spread {
    /// None for no values; the median of an even count is the mean of the
    /// middle two.
    fn of(mut values: Vec<f64>) -> Option<Spread> {
        values.retain(|v| v.is_finite());
        values.sort_by(f64::total_cmp);
        let n = values.len();
        let median = match n {
            0 => return None,
            _ if n % 2 == 1 => values[n / 2],
            _ => (values[n / 2 - 1] + values[n / 2]) / 2.0,
        };
        Some(Spread {
            rounds: n,
            median,
            min: values[0],
            max: values[n - 1],
        })
    }
}

/// One path's figure at `pointer`, by round number.
fn per_round(r: &Runs, label: &str, pointer: &str) -> BTreeMap<u64, f64> {
    r.iter()
        .filter(|run| run["label"] == label)
        .filter(|run| run["requests"] != 0)
        .filter_map(|run| {
            let round = run["scenario"].as_str()?.strip_prefix(SCENARIO_PREFIX)?;
            Some((round.parse().ok()?, run.pointer(pointer)?.as_f64()?))
        })
        .collect()
}

/// One path's figure over the rounds.
fn spread(r: &Runs, label: &str, pointer: &str) -> Option<Spread> {
    Spread::of(per_round(r, label, pointer).into_values().collect())
}

/// `a ÷ b` req/s, round by round, over the rounds where both completed.
pub fn paired(r: &Runs, a: &str, b: &str) -> Option<Spread> {
    let b_rounds = per_round(r, b, "/rps");
    let ratios = per_round(r, a, "/rps")
        .into_iter()
        .filter_map(|(round, x)| Some(x / b_rounds.get(&round).filter(|y| **y > 0.0)?))
        .collect();
    Spread::of(ratios)
}

/// The paths that ran rounds, in table order.
fn labels(r: &Runs) -> Vec<&'static str> {
    PATHS
        .iter()
        .map(|(l, _)| *l)
        .filter(|l| !per_round(r, l, "/rps").is_empty())
        .collect()
}

fn range(s: &Spread, decimals: usize, unit: &str) -> String {
    format!(
        "{:.decimals$}{unit} ({:.decimals$}–{:.decimals$})",
        s.median, s.min, s.max
    )
}

/// A ratio's spread as the report prints it: `0.71× (0.65–0.78×)`.
pub fn ratio_text(s: &Spread) -> String {
    format!("{:.2}× ({:.2}–{:.2}×)", s.median, s.min, s.max)
}

/// The section of the markdown report; nothing when no rounds ran.
pub fn markdown(r: &Runs, s: &mut String) {
    let present = labels(r);
    if present.is_empty() {
        return;
    }
    let _ = writeln!(s, "\n### Head to head: interleaved rounds (c=16)\n");
    let _ = writeln!(
        s,
        "Every path below ran at once on the proxy's CPU, idle but for the one being measured; each round measured each in turn, in an order that rotates. Figures are medians over rounds (min–max); a ratio is taken within each round, then the median over rounds.\n"
    );
    let _ = writeln!(
        s,
        "| path | rounds | req/s | proxy CPU µs/req | other CPU (max) | of it steal (max) |"
    );
    let _ = writeln!(s, "|---|---:|---:|---:|---:|---:|");
    for l in &present {
        let Some(rps) = spread(r, l, "/rps") else {
            continue;
        };
        let cpu = spread(r, l, "/proxy_cpu_us_per_req").map_or("–".into(), |c| range(&c, 1, ""));
        let worst = |pointer| {
            spread(r, l, pointer).map_or("–".into(), |o| format!("{:.0}%", o.max * 100.0))
        };
        let _ = writeln!(
            s,
            "| {l} | {} | {} | {cpu} | {} | {} |",
            rps.rounds,
            range(&rps, 0, ""),
            worst("/other_cpu_share"),
            worst("/steal_share"),
        );
    }
    let pairs: Vec<_> = PAIRS
        .iter()
        .filter_map(|(a, b)| Some((a, b, paired(r, a, b)?)))
        .collect();
    if pairs.is_empty() {
        return;
    }
    let _ = writeln!(s, "\n| switchyard path | peer | rounds | req/s ratio |");
    let _ = writeln!(s, "|---|---|---:|---:|");
    for (a, b, p) in pairs {
        let _ = writeln!(s, "| {a} | {b} | {} | {} |", p.rounds, ratio_text(&p));
    }
}

/// The rounds' summaries for the results file (`null` when none ran).
pub fn json(r: &Runs) -> Value {
    let present = labels(r);
    if present.is_empty() {
        return Value::Null;
    }
    let summary = |s: Option<Spread>| {
        s.map_or(
            Value::Null,
            |s| json!({"rounds": s.rounds, "median": s.median, "min": s.min, "max": s.max}),
        )
    };
    let paths: serde_json::Map<String, Value> = present
        .iter()
        .map(|l| (l.to_string(), summary(spread(r, l, "/rps"))))
        .collect();
    let ratios: Vec<Value> = PAIRS
        .iter()
        .filter_map(|(a, b)| {
            let p = paired(r, a, b)?;
            Some(json!({"path": a, "peer": b, "rps_ratio": summary(Some(p))}))
        })
        .collect();
    json!({"rps": paths, "ratios": ratios})
}

/// One round's run as `loadgen` writes it, for tests here and in the report.
#[cfg(test)]
pub(crate) fn test_run(label: &str, round: u32, rps: f64) -> String {
    format!(
        r#"{{"label":"{label}","scenario":"{SCENARIO_PREFIX}{round}","kind":"load","requests":100,"rps":{rps},"proxy_cpu_us_per_req":50.0,"other_cpu_share":0.05,"steal_share":0.02}}"#
    )
}

#[cfg(test)]
mod tests {
    use super::test_run as run;
    use super::*;

    #[test]
    fn ratios_are_paired_within_rounds_and_the_median_is_taken_over_rounds() {
        // The machine slows down by half in round 2: unpaired medians would
        // give 15k ÷ 20k, paired ones 0.75 in every round.
        let lines = [
            run("sy_intercept", 1, 15000.0),
            run("nginx_tls", 1, 20000.0),
            run("sy_intercept", 2, 7500.0),
            run("nginx_tls", 2, 10000.0),
            run("sy_intercept", 3, 16000.0),
            run("nginx_tls", 3, 20000.0),
            // A round where nginx did not complete is left out, not paired
            // with another round's figure.
            run("sy_intercept", 4, 30000.0),
        ];
        let r = Runs::parse(&lines.join("\n"));
        let p = paired(&r, "sy_intercept", "nginx_tls").unwrap();
        assert_eq!(p.rounds, 3);
        assert!((p.median - 0.75).abs() < 1e-9, "{p:?}");
        assert!((p.max - 0.8).abs() < 1e-9, "{p:?}");
        let mut md = String::new();
        markdown(&r, &mut md);
        assert!(
            md.contains("| sy_intercept | 4 | 15500 (7500–30000) | 50.0 (50.0–50.0) | 5% | 2% |"),
            "{md}"
        );
        assert!(
            md.contains("| sy_intercept | nginx_tls | 3 | 0.75× (0.75–0.80×) |"),
            "{md}"
        );
        assert!(!md.contains("hyper_tls"), "{md}");
        assert_eq!(json(&r)["ratios"][0]["rps_ratio"]["rounds"], 3);
    }

    #[test]
    fn rounds_without_a_pair_have_no_ratio_table() {
        let r =
            Runs::parse(&[run("hyper_tls", 1, 20000.0), run("nginx_tls", 1, 18000.0)].join("\n"));
        let mut md = String::new();
        markdown(&r, &mut md);
        assert!(
            md.contains("| hyper_tls | 1 | 20000 (20000–20000) |"),
            "{md}"
        );
        assert!(!md.contains("req/s ratio"), "{md}");
    }

    #[test]
    fn without_rounds_there_is_no_section() {
        let r = Runs::parse(r#"{"label":"sy_intercept","scenario":"json_c16","rps":1}"#);
        let mut md = String::new();
        markdown(&r, &mut md);
        assert_eq!(md, "");
        assert_eq!(json(&r), Value::Null);
        assert_eq!(paired(&r, "sy_intercept", "nginx_tls"), None);
    }

    #[test]
    fn a_round_that_completed_nothing_is_not_a_zero() {
        let r = Runs::parse(&format!(
            "{}\n{}\n{}",
            r#"{"label":"sy_intercept","scenario":"round_c16:1","kind":"load","requests":0,"rps":0.0}"#,
            run("nginx_tls", 1, 20000.0),
            run("sy_intercept", 2, 1.0)
        ));
        assert_eq!(paired(&r, "sy_intercept", "nginx_tls"), None);
    }
}
