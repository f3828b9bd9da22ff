//! Arbitrary text as a config file: parsed and resolved, it must give
//! settings or an error naming a key, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use switchyard::config::{Env, Flags, Settings};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let env = Env::from_pairs([("HOME", "/nonexistent"), ("KEY", "sk-fuzz")]);
    match Settings::from_text(None, text, &Flags::default(), &env) {
        Ok(settings) => {
            assert!(
                !settings.providers.is_empty(),
                "the implicit providers are always there"
            );
        }
        Err(e) => {
            assert!(!e.to_string().is_empty());
        }
    }
});
