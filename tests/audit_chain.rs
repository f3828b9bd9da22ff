//! The tamper-evident audit: a hash chain across lines, rotated files and
//! restarts, checked by `switchyard audit verify`.

mod common;

use common::client::gateway;
use common::*;
use serde_json::json;

fn verify(sy: &Switchyard) -> Ran {
    run(sy
        .command()
        .args(["audit", "verify", "--config"])
        .arg(sy.dir.path().join("switchyard.toml")))
}

#[tokio::test(flavor = "multi_thread")]
async fn verify_names_the_first_modified_inserted_or_deleted_line_across_rotation() {
    let fake = FakeProvider::start().await;
    let config = providers_config(&fake, "[audit]\nmax_file_bytes = 8000\nkeep_files = 20\n");
    let mut sy = Switchyard::start(&config);
    let body = json!({"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]});
    for _ in 0..12 {
        assert_eq!(
            gateway(sy.addr, "/v1/chat/completions", &[], &body).await.0,
            200
        );
    }
    assert!(sy.terminate().success());
    let rotated = sy.audit_path().with_extension("jsonl.1");
    assert!(rotated.exists(), "the audit file rotated");
    let ok = verify(&sy);
    assert!(ok.status.success(), "{}{}", ok.stdout, ok.stderr);
    assert!(ok.stdout.contains("ok: 12 lines"), "{}", ok.stdout);

    let pristine = std::fs::read_to_string(&rotated).unwrap();
    let lines: Vec<&str> = pristine.lines().collect();
    assert!(lines.len() >= 2);
    let rewrite = |lines: Vec<String>| std::fs::write(&rotated, lines.join("\n") + "\n").unwrap();

    // Modified: a status quietly changed.
    let mut modified: Vec<String> = lines.iter().map(|l| l.to_string()).collect();
    modified[1] = modified[1].replace("\"status\":200", "\"status\":204");
    rewrite(modified);
    let out = verify(&sy);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        out.stderr
            .contains(&format!("{}:2: was modified", rotated.display())),
        "{}",
        out.stderr
    );

    // Deleted.
    let mut deleted: Vec<String> = lines.iter().map(|l| l.to_string()).collect();
    deleted.remove(0);
    std::fs::write(&rotated, deleted.join("\n") + "\n").unwrap();
    let out = verify(&sy);
    assert_eq!(out.status.code(), Some(1), "{}", out.stderr);
    assert!(out.stderr.contains("deleted"), "{}", out.stderr);

    std::fs::write(&rotated, &pristine).unwrap();
    assert!(verify(&sy).status.success(), "restored");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_restart_continues_the_chain() {
    let fake = FakeProvider::start().await;
    let config = providers_config(&fake, "");
    let mut sy = Switchyard::start(&config);
    let body = json!({"model": "gpt-4o", "messages": []});
    gateway(sy.addr, "/v1/chat/completions", &[], &body).await;
    assert!(sy.terminate().success());
    // Same state dir, second run.
    let mut cmd = sy.command();
    let mut child = cmd
        .args(["run", "--config"])
        .arg(sy.dir.path().join("switchyard.toml"))
        .args(["--listen", "127.0.0.1:0"])
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
    let addr: std::net::SocketAddr = line
        .trim()
        .trim_start_matches("switchyard listening on http://")
        .parse()
        .unwrap();
    gateway(addr, "/v1/chat/completions", &[], &body).await;
    signal(child.id() as i32, "TERM");
    assert!(wait_exit(&mut child, std::time::Duration::from_secs(30)).success());
    let lines = sy.audit();
    assert_eq!(lines.len(), 2);
    assert_eq!(
        lines[1]["prev_hash"], lines[0]["hash"],
        "the second run chains onto the first"
    );
    let out = verify(&sy);
    assert!(out.status.success(), "{}", out.stderr);
}
