//! The command line: zero-config start, CA verbs, `env`, config errors.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::process::Command;

use common::*;

fn in_temp() -> (tempfile::TempDir, Command) {
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = Command::new(BIN);
    scrubbed(&mut cmd, dir.path());
    cmd.current_dir(dir.path());
    (dir, cmd)
}

fn sy(dir: &std::path::Path, args: &[&str]) -> Ran {
    let mut cmd = Command::new(BIN);
    scrubbed(&mut cmd, dir);
    run(cmd.current_dir(dir).args(args))
}

fn mode(path: &std::path::Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[test]
fn zero_config_run_creates_the_ca_and_serves_it() {
    // No config file anywhere: start() writes an empty one, so also check a
    // truly file-less start through the command directly.
    let (dir, mut cmd) = in_temp();
    let mut child = cmd
        .args(["run", "--listen", "127.0.0.1:0"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(child.stdout.take().unwrap()),
        &mut line,
    )
    .unwrap();
    let addr = line
        .trim()
        .strip_prefix("switchyard listening on http://")
        .expect(&line)
        .to_owned();
    let ca_dir = dir.path().join("state/ca");
    assert_eq!(mode(&ca_dir), 0o700);
    assert_eq!(mode(&ca_dir.join("ca-key.pem")), 0o600);
    assert_eq!(mode(&ca_dir.join("ca.pem")), 0o644);
    let (code, pem, _) = curl(&[&format!("http://{addr}/_switchyard/ca.pem")]);
    assert_eq!(code, 200);
    assert_eq!(pem, std::fs::read_to_string(ca_dir.join("ca.pem")).unwrap());
    assert!(!pem.contains("PRIVATE KEY"));
    signal(child.id() as i32, "TERM");
    assert!(wait_exit(&mut child, std::time::Duration::from_secs(30)).success());
}

#[test]
fn ca_init_show_and_force() {
    let (dir, _) = in_temp();
    let init = sy(dir.path(), &["ca", "init"]);
    assert!(init.status.success(), "{}", init.stderr);
    let again = sy(dir.path(), &["ca", "init"]);
    assert_eq!(again.status.code(), Some(1));
    assert!(again.stderr.contains("already exists"), "{}", again.stderr);

    let show = sy(dir.path(), &["ca", "show"]);
    assert!(show.status.success());
    let cert = dir.path().join("state/ca/ca.pem");
    let openssl = run(Command::new(peers::require("openssl"))
        .args([
            "x509",
            "-noout",
            "-fingerprint",
            "-sha256",
            "-enddate",
            "-in",
        ])
        .arg(&cert));
    let fingerprint = openssl
        .stdout
        .lines()
        .next()
        .unwrap()
        .split('=')
        .nth(1)
        .unwrap()
        .to_owned();
    assert!(
        show.stdout.contains(&fingerprint),
        "ca show must print the SHA-256 fingerprint {fingerprint}:\n{}",
        show.stdout
    );
    assert!(show.stdout.contains(&cert.display().to_string()));
    assert!(show.stdout.contains("not after"));

    let forced = sy(dir.path(), &["ca", "init", "--force"]);
    assert!(forced.status.success());
    assert!(
        !forced.stdout.contains(&fingerprint),
        "--force makes a new CA"
    );
}

#[test]
fn ca_install_dry_run_prints_every_platform() {
    let (dir, _) = in_temp();
    let out = sy(dir.path(), &["ca", "install", "--dry-run"]);
    assert!(out.status.success(), "{}", out.stderr);
    for needle in [
        "update-ca-certificates",
        "update-ca-trust",
        "security add-trusted-cert",
        "certutil",
        "keytool",
    ] {
        assert!(
            out.stdout.contains(needle),
            "missing {needle}:\n{}",
            out.stdout
        );
    }
    let none = sy(dir.path(), &["ca", "install"]);
    assert_eq!(
        none.status.code(),
        Some(2),
        "no store chosen is a usage error"
    );
}

#[test]
fn env_prints_exports_for_every_shell_with_a_combined_bundle() {
    let (dir, _) = in_temp();
    std::fs::write(
        dir.path().join("switchyard.toml"),
        "listen = \"127.0.0.1:9999\"\n",
    )
    .unwrap();
    let bash = sy(dir.path(), &["env"]);
    assert!(bash.status.success(), "{}", bash.stderr);
    for var in [
        "HTTPS_PROXY",
        "HTTP_PROXY",
        "NO_PROXY",
        "NODE_EXTRA_CA_CERTS",
        "SSL_CERT_FILE",
        "REQUESTS_CA_BUNDLE",
        "CURL_CA_BUNDLE",
        "CODEX_CA_CERTIFICATE",
    ] {
        assert!(
            bash.stdout.contains(&format!("export {var}=")),
            "{var} missing:\n{}",
            bash.stdout
        );
    }
    assert!(
        bash.stdout
            .contains("export HTTPS_PROXY='http://127.0.0.1:9999'"),
        "{}",
        bash.stdout
    );
    let bundle = dir.path().join("state/ca/bundle.pem");
    let text = std::fs::read_to_string(&bundle).unwrap();
    let ca = std::fs::read_to_string(dir.path().join("state/ca/ca.pem")).unwrap();
    assert!(text.contains(ca.trim()), "the bundle holds switchyard's CA");
    assert!(
        text.matches("BEGIN CERTIFICATE").count() > 10,
        "the bundle holds the system roots too"
    );
    assert!(bash
        .stdout
        .contains(&format!("export SSL_CERT_FILE='{}'", bundle.display())));
    let fish = sy(dir.path(), &["env", "--shell", "fish"]);
    assert!(
        fish.stdout
            .contains("set -gx HTTPS_PROXY 'http://127.0.0.1:9999'"),
        "{}",
        fish.stdout
    );
    let zsh = sy(dir.path(), &["env", "--shell", "zsh"]);
    assert!(zsh.stdout.contains("export NODE_EXTRA_CA_CERTS="));
    let ps = sy(dir.path(), &["env", "--shell", "powershell"]);
    assert!(
        ps.stdout
            .contains("$env:HTTPS_PROXY = 'http://127.0.0.1:9999'"),
        "{}",
        ps.stdout
    );
}

#[test]
fn config_errors_exit_2_naming_key_and_line() {
    let (dir, _) = in_temp();
    let path = dir.path().join("bad.toml");
    std::fs::write(
        &path,
        "# comment\n[providers.groq]\nkind = \"openai_chat\"\nbase_url = \"not a url\"\n",
    )
    .unwrap();
    let out = sy(dir.path(), &["run", "--config", path.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        out.stderr.contains("bad.toml:4") && out.stderr.contains("providers.groq.base_url"),
        "{}",
        out.stderr
    );

    std::fs::write(&path, "listen = \"127.0.0.1:1\"\n[audit]\nmax_bodies = 1\n").unwrap();
    let out = sy(dir.path(), &["check", "--config", path.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        out.stderr.contains("bad.toml:3") && out.stderr.contains("max_bodies"),
        "{}",
        out.stderr
    );
}

#[test]
fn check_shows_busy_polling_and_refuses_a_window_over_a_second() {
    let (dir, _) = in_temp();
    let path = dir.path().join("switchyard.toml");
    std::fs::write(&path, "[runtime]\nbusy_poll_us = 200\n").unwrap();
    let out = sy(dir.path(), &["check"]);
    assert!(out.status.success(), "{}", out.stderr);
    assert!(
        out.stdout.contains("busy polling: 200 µs after each read"),
        "{}",
        out.stdout
    );
    std::fs::write(&path, "[runtime]\nbusy_poll_us = 5000000\n").unwrap();
    let out = sy(dir.path(), &["check"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        out.stderr.contains("switchyard.toml:2") && out.stderr.contains("runtime.busy_poll_us"),
        "{}",
        out.stderr
    );
}

#[test]
fn env_file_and_precedence() {
    let (dir, _) = in_temp();
    std::fs::write(
        dir.path().join("switchyard.toml"),
        "listen = \"127.0.0.1:1111\"\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join(".env"),
        "# listen from the env file\nSWITCHYARD_LISTEN=127.0.0.1:2222\n",
    )
    .unwrap();
    let file_only = sy(dir.path(), &["check"]);
    assert!(
        file_only.stdout.contains("listen: 127.0.0.1:1111"),
        "{}",
        file_only.stdout
    );
    let with_env = sy(dir.path(), &["check", "--env-file", ".env"]);
    assert!(
        with_env.stdout.contains("listen: 127.0.0.1:2222"),
        "{}",
        with_env.stdout
    );
}

#[test]
fn check_prints_the_route_table_and_route_explains_a_request() {
    let (dir, _) = in_temp();
    std::fs::write(
        dir.path().join("switchyard.toml"),
        "[providers.groq]\nkind = \"openai_chat\"\nbase_url = \"https://api.groq.com/openai/v1\"\n\
         [providers.backup]\nkind = \"proxy\"\nbase_url = \"http://backup.local:8080/v1\"\nfallback = true\n\
         [[routes]]\nprotocol = \"anthropic_messages\"\nmodel = \"claude-*\"\nproviders = [\"groq\", \"anthropic\"]\nupstream_model = \"llama-3.3-70b\"\n",
    )
    .unwrap();
    let check = sy(dir.path(), &["check"]);
    assert!(check.status.success(), "{}", check.stderr);
    assert!(
        check.stdout.contains("claude-*")
            && check.stdout.contains("groq > anthropic")
            && check.stdout.contains("llama-3.3-70b"),
        "{}",
        check.stdout
    );

    let route = sy(
        dir.path(),
        &[
            "route",
            "--protocol",
            "anthropic_messages",
            "--model",
            "claude-sonnet-4-5",
        ],
    );
    assert!(route.status.success(), "{}", route.stderr);
    let lines: Vec<&str> = route.stdout.lines().collect();
    assert_eq!(lines[0], "route: claude-*");
    assert!(lines[1].starts_with("provider: groq (openai_chat) https://api.groq.com/openai/v1/chat/completions, converted"), "{}", route.stdout);
    assert!(
        lines[2].starts_with("provider: anthropic"),
        "{}",
        route.stdout
    );
    assert!(lines[3].starts_with("fallback: backup"), "{}", route.stdout);
    assert_eq!(lines[4], "upstream_model: llama-3.3-70b");

    let unrouted = sy(
        dir.path(),
        &[
            "route",
            "--protocol",
            "openai_responses",
            "--model",
            "gpt-5",
        ],
    );
    assert!(
        unrouted.stdout.contains("route: none matched")
            && unrouted
                .stdout
                .contains("provider: openai (openai) https://api.openai.com/v1/responses"),
        "{}",
        unrouted.stdout
    );
    let bad = sy(dir.path(), &["route", "--protocol", "grpc", "--model", "x"]);
    assert_eq!(bad.status.code(), Some(2));

    std::fs::write(
        dir.path().join("switchyard.toml"),
        "[[routes]]\nmodel = \"x\"\nprovider = \"nope\"\n",
    )
    .unwrap();
    let check = sy(dir.path(), &["check"]);
    assert_eq!(check.status.code(), Some(2));
    assert!(
        check.stderr.contains(":3: `routes.0.provider`") && check.stderr.contains("nope"),
        "{}",
        check.stderr
    );
}

#[test]
fn a_bad_worker_thread_count_is_an_error_not_a_panic() {
    for bad in ["0", "many"] {
        let (_dir, mut cmd) = in_temp();
        let out =
            run(cmd
                .env("TOKIO_WORKER_THREADS", bad)
                .args(["run", "--listen", "127.0.0.1:0"]));
        assert_eq!(out.status.code(), Some(1), "{bad}: {}", out.stderr);
        assert!(
            out.stderr.contains("TOKIO_WORKER_THREADS") && !out.stderr.contains("panicked"),
            "{bad}: {}",
            out.stderr
        );
    }
}
