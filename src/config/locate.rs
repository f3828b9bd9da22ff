//! Finds the line of a dotted key (`providers.groq.base_url`) in TOML text,
//! so semantic errors found after parsing can still name a file line.

/// Best-effort: the 1-based line where `path`'s last key is assigned, or the
/// line of its table header. Array-of-table indexes (`routes.2.model`) count
/// `[[routes]]` headers.
pub fn line_of(text: &str, path: &str) -> Option<usize> {
    let parts: Vec<&str> = path.split('.').collect();
    let (table, key) = parts.split_at(parts.len().saturating_sub(1));
    let key = *key.first()?;
    let mut current: Vec<String> = Vec::new();
    let mut array_counts = std::collections::HashMap::<String, usize>::new();
    let mut header_line = None;
    for (index, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if let Some(header) = line.strip_prefix("[[").and_then(|l| l.split("]]").next()) {
            let name = clean(header);
            let n = array_counts.entry(name.clone()).or_insert(0);
            current = name.split('.').map(str::to_owned).collect();
            current.push(n.to_string());
            *n += 1;
        } else if let Some(header) = line.strip_prefix('[').and_then(|l| l.split(']').next()) {
            current = clean(header).split('.').map(str::to_owned).collect();
        } else {
            let assigns_key = line.split_once('=').is_some_and(|(k, _)| clean(k) == key);
            if assigns_key && current == table {
                return Some(index + 1);
            }
            continue;
        }
        if current == table {
            header_line = Some(index + 1);
        }
    }
    header_line
}

fn clean(s: &str) -> String {
    s.trim().trim_matches('"').trim_matches('\'').to_owned()
}

#[cfg(test)]
mod tests {
    use super::line_of;

    const TEXT: &str = "listen = \"x\"\n[providers.groq]\nkind = \"openai_chat\"\nbase_url = \"bad\"\n\n[[routes]]\nmodel = \"a\"\n[[routes]]\nmodel = \"b\"\n";

    #[test]
    fn finds_keys_in_tables_and_arrays() {
        assert_eq!(line_of(TEXT, "listen"), Some(1));
        assert_eq!(line_of(TEXT, "providers.groq.base_url"), Some(4));
        assert_eq!(line_of(TEXT, "routes.1.model"), Some(9));
        assert_eq!(line_of(TEXT, "providers.groq.kind"), Some(3));
        assert_eq!(
            line_of(TEXT, "providers.groq.api_key_env"),
            Some(2),
            "falls back to the table header"
        );
    }
}
