//! Keeps secrets out of the audit file and the log: known secrets (configured
//! keys, the auth headers of the request at hand) are replaced wherever they
//! appear, and anything shaped like a key or bearer token is masked too.

use std::borrow::Cow;
use std::sync::OnceLock;

use aho_corasick::AhoCorasick;
use memchr::memmem;
use regex::Regex;

/// What every secret is replaced with.
pub const MASK: &str = "[REDACTED]";

/// Secrets shorter than this are not searched for: replacing every `a`
/// would make bodies unreadable and protect nothing.
const MIN_SECRET_LEN: usize = 6;

fn patterns() -> Option<&'static Regex> {
    static RE: OnceLock<Option<Regex>> = OnceLock::new();
    RE.get_or_init(|| {
        // Provider key shapes, bearer tokens, basic credentials, and JSON or
        // query fields whose name says they hold a secret.
        let sources = [
            r"sk-[A-Za-z0-9_\-]{8,}",
            r"(?i)bearer\s+[A-Za-z0-9._~+/=\-]{6,}",
            r"(?i)basic\s+[A-Za-z0-9+/=]{6,}",
            r"AIza[0-9A-Za-z_\-]{20,}",
            r#"(?i)("(?:api[_-]?key|x-api-key|authorization|password|secret|token|access_token|refresh_token|cookie)"\s*:\s*")[^"]*"#,
            r"(?i)([?&](?:key|api_key|token|access_token)=)[^&\s]*",
        ];
        Regex::new(&sources.join("|")).ok()
    })
    .as_ref()
}

/// Lower-case literals, one of which every match of [`patterns`] contains:
/// `key"` ends every key-named JSON field (`"api_key"`, `"x-api-key"` …),
/// `token"` every token-named one, `key=`/`token=` the query forms.
const TRIGGERS: &[&str] = &[
    "sk-",
    "bearer",
    "basic",
    "aiza",
    "key\"",
    "token\"",
    "\"authorization\"",
    "\"password\"",
    "\"secret\"",
    "\"cookie\"",
    "key=",
    "token=",
];

/// Whether `text` may hold a secret-shaped run. Most bodies hold none, and
/// this check costs a fraction of the regex, whose `"` alternative would
/// otherwise start a search at every quote of a JSON body.
fn may_match(text: &str) -> bool {
    // Measured under callgrind on the bench's bodies: one packed pass plus
    // four memmem passes over a lower-cased copy take 9.2k instructions per
    // request where twelve memmem passes took 11.7k. A case-insensitive
    // automaton (no copy) cannot use the packed searcher and was slower
    // still; so were all twelve literals in one packed pass (the quoted
    // ones match candidates at nearly every key). The copy goes into a
    // buffer the thread keeps: three allocations fewer per request.
    thread_local! {
        static LOWER: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
    }
    LOWER.with_borrow_mut(|lower| {
        lower.clear();
        lower.extend_from_slice(text.as_bytes());
        lower.make_ascii_lowercase();
        let (packed, single) = prefilter();
        let found = single.iter().any(|f| f.find(lower).is_some())
            || packed.as_ref().is_none_or(|ac| ac.is_match(&lower[..]));
        if lower.capacity() > KEEP_BYTES {
            *lower = Vec::new();
        }
        found
    })
}

/// The largest lower-case buffer a thread keeps between calls: bodies are
/// captured up to `max_body_bytes` (4 KiB by default), and an odd large one
/// should not pin its memory.
const KEEP_BYTES: usize = 256 * 1024;

/// The triggers that start with a letter, searched in one pass of
/// Aho-Corasick's packed (Teddy, SIMD) searcher; the quoted field names,
/// whose `"` + letter prefix is on every line of JSON, one memmem pass each
/// (their rare bytes make those passes quick).
fn prefilter() -> &'static (Option<AhoCorasick>, Vec<memmem::Finder<'static>>) {
    static PREFILTER: OnceLock<(Option<AhoCorasick>, Vec<memmem::Finder<'static>>)> =
        OnceLock::new();
    PREFILTER.get_or_init(|| {
        let (quoted, plain): (Vec<&str>, Vec<&str>) =
            TRIGGERS.iter().partition(|t| t.starts_with('"'));
        let packed = AhoCorasick::new(plain).ok();
        (
            packed,
            quoted.into_iter().map(memmem::Finder::new).collect(),
        )
    })
}

/// Redacts `text`, replacing each of `secrets` and every secret-shaped run.
pub fn redact(text: &str, secrets: &[&str]) -> String {
    redacted(text, secrets).into_owned()
}

/// [`redact`] for text the caller owns: returned as it is, without a copy,
/// when there is nothing to replace (nearly always).
pub fn redact_owned(text: String, secrets: &[&str]) -> String {
    let changed = match redacted(&text, secrets) {
        Cow::Borrowed(_) => None,
        Cow::Owned(clean) => Some(clean),
    };
    changed.unwrap_or(text)
}

fn redacted<'a>(text: &'a str, secrets: &[&str]) -> Cow<'a, str> {
    let mut out = Cow::Borrowed(text);
    for secret in secrets {
        if secret.len() >= MIN_SECRET_LEN && out.contains(secret) {
            out = out.replace(secret, MASK).into();
        }
    }
    if !may_match(&out) {
        return out;
    }
    let Some(re) = patterns() else {
        return out;
    };
    let masked = re.replace_all(&out, |caps: &regex::Captures<'_>| {
        // Keep the field name of `"api_key": "…"` and `?key=…` matches.
        match caps.iter().skip(1).flatten().next() {
            Some(prefix) => format!("{}{MASK}", prefix.as_str()),
            None => MASK.to_owned(),
        }
    });
    match masked {
        Cow::Borrowed(_) => out,
        Cow::Owned(masked) => Cow::Owned(masked),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn removes_known_and_shaped_secrets() {
        assert!(patterns().is_some(), "the secret patterns must compile");
        let text = r#"{"echo":"my-custom-token-123","k":"sk-ant-api03-abcdefghijkl","auth":"Bearer abc.def-ghi","api_key": "zzz"} /v1/x?key=AIzaSyABCDEFGHIJKLMNOPQRSTUV&x=1"#;
        let out = redact(text, &["my-custom-token-123"]);
        for leaked in [
            "my-custom-token-123",
            "sk-ant-api03",
            "abc.def-ghi",
            "zzz",
            "AIzaSy",
        ] {
            assert!(!out.contains(leaked), "{leaked} in {out}");
        }
        assert!(out.contains(r#""api_key": "[REDACTED]"#), "{out}");
        assert!(out.contains("?key=[REDACTED]&x=1"), "{out}");
    }

    #[test]
    fn prefilter_lets_every_pattern_through() {
        // One sample per alternative of the regex, in odd cases: each must
        // pass the cheap check, or the regex would never see it.
        for sample in [
            "x sk-abcdefghijk",
            "BeArEr abcdefgh",
            "BASIC dXNlcjpwYXNz",
            "AIzaSyABCDEFGHIJKLMNOPQRSTUV",
            r#"{"API-KEY": "v"}"#,
            r#"{"X-Api-Key":"v"}"#,
            r#"{"apikey":"v"}"#,
            r#"{"Authorization": "v"}"#,
            r#"{"password":"v"}"#,
            r#"{"secret":"v"}"#,
            r#"{"token":"v"}"#,
            r#"{"Refresh_Token":"v"}"#,
            r#"{"access_token":"v"}"#,
            r#"{"cookie":"v"}"#,
            "/x?KEY=v",
            "/x?a=1&api_key=v",
            "/x?token=v",
            "/x?access_token=v",
        ] {
            assert!(may_match(sample), "{sample}");
            assert_ne!(redact(sample, &[]), sample, "{sample}");
        }
        assert!(!may_match(r#"{"model":"m","max_tokens":64,"stream":true}"#));
    }

    #[test]
    fn a_secret_spelled_like_the_mask_leaves_nothing_but_masks() {
        // Found by the headers fuzz target: a cookie whose value is the
        // mask. It is replaced by itself, which reveals nothing.
        let text = "cookie: [REDACTED]; auth=EDACTED]x tail";
        let out = redact(text, &["[REDACTED]", "EDACTED]x"]);
        assert_eq!(out, "cookie: [REDACTED]; auth=[REDACTED] tail");
        assert!(!out.replace(MASK, "\n").contains("EDACTED]x"), "{out}");
    }

    #[test]
    fn owned_text_is_returned_as_it_is_unless_something_is_replaced() {
        let clean = String::from(r#"{"model":"m","content":"hello"}"#);
        let buffer = clean.as_ptr();
        let out = redact_owned(clean, &["a-long-secret"]);
        assert_eq!(out, r#"{"model":"m","content":"hello"}"#);
        assert_eq!(out.as_ptr(), buffer, "clean text was copied");
        let known = redact_owned("say a-long-secret".to_owned(), &["a-long-secret"]);
        assert_eq!(known, "say [REDACTED]");
        let shaped = redact_owned(r#"{"token":"abc"}"#.to_owned(), &[]);
        assert_eq!(shaped, r#"{"token":"[REDACTED]"}"#);
    }

    #[test]
    fn leaves_ordinary_text_alone() {
        let text = r#"{"model":"claude-sonnet-4-5","messages":[{"role":"user","content":"ask about tokens"}]}"#;
        assert_eq!(redact(text, &["a"]), text);
    }
}
