//! Unknown keys: every one of them, with file:line, the full dotted key and
//! a "did you mean" from the keys that table accepts.
//!
//! The accepted keys are not listed here: serde's `deny_unknown_fields`
//! error names them ("expected one of `a`, `b`"), and serde_path_to_error
//! says where the unknown key sits. Deserializing again with each unknown key
//! removed finds the next one, so `check` can report them all at once
//! instead of one per run.

use std::path::{Path, PathBuf};

use super::file::FileConfig;
use super::{locate, ConfigError};

/// Bounds the loop on pathological files.
const MAX_REPORTED: usize = 50;

/// Every unknown key in `text`, in file order. Empty when the text does not
/// parse as TOML (the caller reports that) or has no unknown keys.
pub fn unknown_keys(path: Option<&Path>, text: &str) -> Vec<ConfigError> {
    let Ok(mut value) = text.parse::<toml::Table>().map(toml::Value::Table) else {
        return Vec::new();
    };
    let mut found = Vec::new();
    while found.len() < MAX_REPORTED {
        let Err(e) = serde_path_to_error::deserialize::<_, FileConfig>(value.clone()) else {
            break;
        };
        let message = e.inner().to_string();
        let Some(field) = unknown_field(&message) else {
            break;
        };
        let mut segments: Vec<String> = e
            .path()
            .iter()
            .filter_map(|s| match s {
                serde_path_to_error::Segment::Seq { index } => Some(index.to_string()),
                serde_path_to_error::Segment::Map { key } => Some(key.clone()),
                serde_path_to_error::Segment::Enum { variant } => Some(variant.clone()),
                serde_path_to_error::Segment::Unknown => None,
            })
            .collect();
        // The path may or may not end in the unknown key itself.
        if segments.last().map(String::as_str) != Some(field.as_str()) {
            segments.push(field.clone());
        }
        if !remove(&mut value, &segments) {
            break;
        }
        let key = segments.join(".");
        let expected = expected_fields(&message);
        let mut text_message = "unknown key".to_owned();
        if let Some(best) = closest(&field, &expected) {
            text_message.push_str(&format!("; did you mean `{best}`?"));
        }
        if !expected.is_empty() {
            text_message.push_str(&format!(" (this table accepts: {})", expected.join(", ")));
        }
        found.push((
            line(text, &segments),
            ConfigError::Invalid {
                file: path.map(Path::to_path_buf),
                line: line(text, &segments),
                key,
                message: text_message,
            },
        ));
    }
    found.sort_by_key(|(line, _)| line.unwrap_or(usize::MAX));
    found.into_iter().map(|(_, e)| e).collect()
}

/// For `parse_file`: the first unknown key as a full error, if that is
/// what went wrong.
pub fn first_unknown_key(path: Option<&PathBuf>, text: &str) -> Option<ConfigError> {
    unknown_keys(path.map(PathBuf::as_path), text)
        .into_iter()
        .next()
}

fn unknown_field(message: &str) -> Option<String> {
    let rest = message.strip_prefix("unknown field `")?;
    Some(rest.split('`').next()?.to_owned())
}

/// The backticked names after "expected" in serde's message.
fn expected_fields(message: &str) -> Vec<String> {
    let Some((_, tail)) = message.split_once("expected") else {
        return Vec::new();
    };
    // toml appends "for key `table`"; that is not a field.
    let tail = tail.split(" for key").next().unwrap_or(tail);
    tail.split('`')
        .skip(1)
        .step_by(2)
        .map(str::to_owned)
        .collect()
}

fn remove(value: &mut toml::Value, segments: &[String]) -> bool {
    let Some((last, parents)) = segments.split_last() else {
        return false;
    };
    let mut current = value;
    for s in parents {
        current = match current {
            toml::Value::Table(t) => match t.get_mut(s) {
                Some(v) => v,
                None => return false,
            },
            toml::Value::Array(a) => match s.parse::<usize>().ok().and_then(|i| a.get_mut(i)) {
                Some(v) => v,
                None => return false,
            },
            _ => return false,
        };
    }
    match current {
        toml::Value::Table(t) => t.remove(last).is_some(),
        _ => false,
    }
}

fn line(text: &str, segments: &[String]) -> Option<usize> {
    let key = segments.join(".");
    locate::line_of(text, &key).or_else(|| {
        // An unknown table (`[providrs.x]`) has no assignment: find its header.
        let dotted = format!("[{key}");
        let array = format!("[[{key}");
        text.lines()
            .position(|l| {
                let l = l.trim_start();
                l.starts_with(&dotted) || l.starts_with(&array)
            })
            .map(|i| i + 1)
    })
}

/// The accepted key nearest to `field`, if it is near enough to be a typo.
pub fn closest<'a>(field: &str, candidates: &'a [String]) -> Option<&'a str> {
    let field_l = field.to_ascii_lowercase();
    candidates
        .iter()
        .map(|c| (levenshtein(&field_l, &c.to_ascii_lowercase()), c))
        .filter(|(d, c)| {
            let longest = c.len().max(field.len());
            let prefix = c
                .chars()
                .zip(field_l.chars())
                .take_while(|(a, b)| a == b)
                .count();
            // A typo, or the same key with a different ending (max_bodies).
            *d <= (longest / 3).max(2) || (prefix >= 4 && *d <= longest / 2)
        })
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c.as_str())
}

pub fn levenshtein(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != *cb);
            cur[j + 1] = (prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reports_every_unknown_key_with_line_and_suggestion() {
        let text = "listn = \"x\"\n[audit]\nmax_bodies = 1\n[[routes]]\nmodle = \"a\"\n[providers.a]\nkind = \"openai\"\nbase_ulr = \"x\"\n[providrs.b]\nkind = \"x\"\n";
        let errors: Vec<String> = unknown_keys(Some(Path::new("s.toml")), text)
            .iter()
            .map(|e| e.to_string())
            .collect();
        assert_eq!(errors.len(), 5, "{errors:#?}");
        assert!(
            errors[0].starts_with("s.toml:1: `listn`: unknown key; did you mean `listen`?"),
            "{}",
            errors[0]
        );
        assert!(
            errors[1].starts_with("s.toml:3: `audit.max_bodies`"),
            "{}",
            errors[1]
        );
        assert!(errors[1].contains("`max_body_bytes`"), "{}", errors[1]);
        assert!(
            errors[2].starts_with("s.toml:5: `routes.0.modle`"),
            "{}",
            errors[2]
        );
        assert!(errors[2].contains("did you mean `model`?"), "{}", errors[2]);
        assert!(
            errors[3].starts_with("s.toml:8: `providers.a.base_ulr`"),
            "{}",
            errors[3]
        );
        assert!(
            errors[3].contains("did you mean `base_url`?"),
            "{}",
            errors[3]
        );
        assert!(
            errors[4].starts_with("s.toml:9: `providrs`"),
            "{}",
            errors[4]
        );
        assert!(
            errors[4].contains("did you mean `providers`?"),
            "{}",
            errors[4]
        );
    }

    #[test]
    fn nothing_unknown_nothing_reported() {
        assert!(unknown_keys(None, "listen = \"127.0.0.1:1\"\n[audit]\npath = \"a\"\n").is_empty());
        assert!(unknown_keys(None, "not toml [").is_empty());
    }

    #[test]
    fn far_away_names_get_no_suggestion() {
        let c = vec!["path".to_owned(), "max_body_bytes".to_owned()];
        assert_eq!(closest("colour", &c), None);
        assert_eq!(closest("max_body_byte", &c), Some("max_body_bytes"));
    }
}
