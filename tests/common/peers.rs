//! Real peers the tests drive: curl, squid, the Python SDKs. A missing peer
//! fails the test loudly; `.ci/run` installs all of them.
#![allow(dead_code)]

use std::path::PathBuf;

/// The full path of a required executable, or a panic naming how to get it.
pub fn require(name: &str) -> PathBuf {
    for dir in ["/usr/bin", "/usr/sbin", "/usr/local/bin", "/bin", "/sbin"] {
        let path = PathBuf::from(dir).join(name);
        if path.exists() {
            return path;
        }
    }
    if let Ok(path) = std::env::var("PATH") {
        for dir in path.split(':') {
            let p = PathBuf::from(dir).join(name);
            if p.exists() {
                return p;
            }
        }
    }
    panic!("required test peer `{name}` is not installed: run scripts/test.sh (it installs every peer)");
}

/// The Python interpreter with the `anthropic` and `openai` SDKs, from
/// `SWITCHYARD_PYTHON` (scripts/test.sh sets it up).
pub fn python() -> PathBuf {
    let Ok(python) = std::env::var("SWITCHYARD_PYTHON") else {
        panic!("SWITCHYARD_PYTHON is not set: run the tests through scripts/test.sh, which creates the SDK venv");
    };
    let path = PathBuf::from(python);
    assert!(
        path.exists(),
        "SWITCHYARD_PYTHON={} does not exist",
        path.display()
    );
    path
}

/// A script under tests/py/.
pub fn py_script(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/py")
        .join(name)
}

/// An AI tool installed from npm by scripts/test.sh, whose path it exports
/// in `var` (`SWITCHYARD_CLAUDE`, `SWITCHYARD_CODEX`, `SWITCHYARD_GEMINI`).
pub fn npm_tool(var: &str, package: &str) -> PathBuf {
    let Ok(path) = std::env::var(var) else {
        panic!("{var} is not set: run the tests through scripts/test.sh, which installs {package} from npm");
    };
    let path = PathBuf::from(path);
    assert!(
        path.exists(),
        "{var}={} does not exist (scripts/test.sh installs {package})",
        path.display()
    );
    path
}

/// Claude Code (`@anthropic-ai/claude-code`).
pub fn claude() -> PathBuf {
    npm_tool("SWITCHYARD_CLAUDE", "@anthropic-ai/claude-code")
}

/// Codex CLI (`@openai/codex`).
pub fn codex() -> PathBuf {
    npm_tool("SWITCHYARD_CODEX", "@openai/codex")
}

/// Gemini CLI (`@google/gemini-cli`).
pub fn gemini() -> PathBuf {
    npm_tool("SWITCHYARD_GEMINI", "@google/gemini-cli")
}
