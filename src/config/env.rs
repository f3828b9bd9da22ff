//! The environment switchyard reads: the process environment, overlaid on
//! the `KEY=VALUE` lines of an `--env-file`.
//!
//! Values are looked up through this type rather than `std::env` so that an
//! env file never has to mutate the process environment, and tests can run in
//! parallel with their own environments.

use std::collections::HashMap;
use std::path::Path;

use super::ConfigError;

#[derive(Debug, Clone, Default)]
pub struct Env {
    vars: HashMap<String, String>,
}

impl Env {
    /// The process environment.
    pub fn from_process() -> Env {
        Env {
            vars: std::env::vars().collect(),
        }
    }

    pub fn from_pairs<I, K, V>(pairs: I) -> Env
    where
        I: IntoIterator<Item = (K, V)>,
        K: Into<String>,
        V: Into<String>,
    {
        Env {
            vars: pairs
                .into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
        }
    }

    /// Adds an env file's variables. Variables already set in the real
    /// environment win, as with dotenv, so a one-off `VAR=x switchyard run`
    /// still overrides the file.
    pub fn load_file(&mut self, path: &Path) -> Result<(), ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        for (key, value) in parse_env_file(path, &text)? {
            self.vars.entry(key).or_insert(value);
        }
        Ok(())
    }

    /// A variable's value; empty values count as unset.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.vars
            .get(key)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    }
}

/// Parses `KEY=VALUE` lines: `#` comments, blank lines, an optional `export `
/// prefix, and single or double quotes around the value.
pub fn parse_env_file(path: &Path, text: &str) -> Result<Vec<(String, String)>, ConfigError> {
    let mut out = Vec::new();
    for (index, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let line = line.strip_prefix("export ").unwrap_or(line);
        let Some((key, value)) = line.split_once('=') else {
            return Err(ConfigError::Invalid {
                file: Some(path.to_path_buf()),
                line: Some(index + 1),
                key: "env-file".into(),
                message: "expected KEY=VALUE".into(),
            });
        };
        let key = key.trim();
        let valid = !key.is_empty() && key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !valid {
            return Err(ConfigError::Invalid {
                file: Some(path.to_path_buf()),
                line: Some(index + 1),
                key: key.to_owned(),
                message: "not a valid variable name".into(),
            });
        }
        out.push((key.to_owned(), unquote(value.trim()).to_owned()));
    }
    Ok(out)
}

fn unquote(value: &str) -> &str {
    for q in ['"', '\''] {
        if value.len() >= 2 && value.starts_with(q) && value.ends_with(q) {
            return &value[1..value.len() - 1];
        }
    }
    // An unquoted value may carry a trailing comment.
    match value.find(" #") {
        Some(i) => value[..i].trim_end(),
        None => value,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_comments_quotes_and_export() {
        let text = "# comment\n\nexport A=1\nB = \"two words\"\nC='x#y' \nD=plain # trailing\n";
        let vars = parse_env_file(Path::new("f"), text).unwrap();
        let want = [("A", "1"), ("B", "two words"), ("C", "x#y"), ("D", "plain")];
        let want: Vec<_> = want
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        assert_eq!(vars, want);
    }

    #[test]
    fn names_the_bad_line() {
        let err = parse_env_file(Path::new("f.env"), "A=1\nnonsense\n").unwrap_err();
        assert!(err.to_string().contains("f.env:2"), "{err}");
    }

    #[test]
    fn process_environment_wins_over_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(".env");
        std::fs::write(&path, "X=file\nY=file\n").unwrap();
        let mut env = Env::from_pairs([("X", "process")]);
        env.load_file(&path).unwrap();
        assert_eq!(env.get("X"), Some("process"));
        assert_eq!(env.get("Y"), Some("file"));
    }
}
