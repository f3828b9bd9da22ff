//! `switchyard audit verify`: walk the audit hash chain.

use super::{load_settings, CliError, ConfigArgs};
use crate::audit::{chain, rotate};
use crate::config::Flags;

pub fn verify(args: ConfigArgs) -> Result<(), CliError> {
    let settings = load_settings(&args, Flags::default())?;
    let files = rotate::files_oldest_first(&settings.audit.path);
    if files.is_empty() {
        return Err(CliError::Runtime(format!(
            "no audit file at {}",
            settings.audit.path.display()
        )));
    }
    match chain::verify(&files) {
        Ok(v) => {
            println!("ok: {} lines in {} file(s), chain intact", v.lines, v.files);
            if v.starts_mid_chain {
                println!(
                    "note: the oldest kept line follows a line in a file already rotated away"
                );
            }
            if let Some(head) = v.head {
                println!("head: {head}");
            }
            Ok(())
        }
        Err(broken) => Err(CliError::Runtime(format!("audit chain broken: {broken}"))),
    }
}
