//! A fleet: several switchyard replicas sharing credential limits through a
//! real Redis and auditing into a real PostgreSQL — including what happens
//! when either goes away and comes back.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::client::gateway;
use common::fleet::{Postgres, Redis};
use common::*;
use serde_json::{json, Value};

const KEY: &str = "sk-fleet-shared-key-0123456789";

fn messages(model: &str) -> Value {
    json!({"model": model, "max_tokens": 16, "messages": [{"role": "user", "content": "hi"}]})
}

/// Sends `n` Messages requests for `model`, round-robin over `replicas`,
/// `parallel` at a time. Returns (status, body) per request.
async fn burst(
    replicas: &[SocketAddr],
    model: &str,
    n: usize,
    parallel: usize,
) -> Vec<(u16, String)> {
    let gate = Arc::new(tokio::sync::Semaphore::new(parallel));
    let mut tasks = Vec::new();
    for i in 0..n {
        let addr = replicas[i % replicas.len()];
        let gate = gate.clone();
        let body = messages(model);
        tasks.push(tokio::spawn(async move {
            let _permit = gate.acquire_owned().await.expect("semaphore");
            let (status, _, body) = gateway(addr, "/v1/messages", &[], &body).await;
            (status, body)
        }));
    }
    let mut out = Vec::new();
    for t in tasks {
        out.push(t.await.expect("request task"));
    }
    out
}

/// Every answer is a 200 or a refusal in Anthropic's error shape.
fn ok_count(answers: &[(u16, String)]) -> usize {
    for (status, body) in answers {
        if *status == 200 {
            continue;
        }
        assert!(
            *status == 503 || *status == 429,
            "a refused request must be 503/429, got {status}: {body}"
        );
        let v: Value = serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {body}"));
        assert_eq!(v["type"], "error", "{body}");
        assert!(v["error"]["message"].is_string(), "{body}");
    }
    answers.iter().filter(|(s, _)| *s == 200).count()
}

async fn status(addr: SocketAddr) -> Value {
    let tcp = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let (mut sender, conn) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(tcp))
            .await
            .expect("handshake");
    tokio::spawn(conn);
    let req = http::Request::get("/_switchyard/status")
        .header("host", addr.to_string())
        .body(http_body_util::Empty::<bytes::Bytes>::new())
        .expect("request");
    let resp = sender.send_request(req).await.expect("status");
    let body = http_body_util::BodyExt::collect(resp.into_body())
        .await
        .expect("body")
        .to_bytes();
    serde_json::from_slice(&body).expect("status json")
}

async fn wait_for(what: &str, deadline: Duration, mut check: impl AsyncFnMut() -> bool) {
    let until = Instant::now() + deadline;
    while !check().await {
        assert!(Instant::now() < until, "{what}: not within {deadline:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn provider(name: &str, fake: &FakeProvider, rpm: u32) -> String {
    provider_with(name, fake, rpm, "")
}

fn provider_with(name: &str, fake: &FakeProvider, rpm: u32, extra: &str) -> String {
    format!(
        "[providers.{name}]\nkind = \"anthropic\"\nbase_url = \"{}\"\n{extra}\
         [[providers.{name}.credentials]]\nname = \"team\"\napi_key = \"{KEY}\"\nrpm = {rpm}\n",
        fake.base_url()
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn three_replicas_share_one_credentials_rpm_through_redis() {
    let redis = Redis::start();
    let fake = FakeProvider::start().await;
    let config = format!(
        "{}\n[cluster]\nredis_url = \"{}\"\nreplicas = 3\n# generous: a busy test machine must not look like an outage\ntimeout_ms = 3000\n",
        provider("anthropic", &fake, 60),
        redis.url()
    );
    let replicas: Vec<Switchyard> = (0..3).map(|_| Switchyard::start(&config)).collect();
    let addrs: Vec<SocketAddr> = replicas.iter().map(|r| r.addr).collect();
    for addr in &addrs {
        assert_eq!(status(*addr).await["cluster"]["limits"], "shared");
    }

    // 600 requests, well within one minute, spread over the three.
    let answers = burst(&addrs, "claude-test", 600, 24).await;
    let ok = ok_count(&answers);
    assert_eq!(ok, 60, "the fleet passes exactly the credential's rpm");
    assert_eq!(fake.request_count(), 60, "the provider saw at most its rpm");

    for r in &replicas {
        assert!(!r.log().contains("Redis unreachable"), "{}", r.log());
    }
    // Redis holds windows by credential name and key hash, never the key.
    let keys = redis.command(&["KEYS", "*"]).expect("KEYS");
    assert!(keys.contains("switchyard:cred:anthropic:team:"), "{keys}");
    assert!(!keys.contains(KEY), "the API key reached Redis: {keys}");
    for r in &replicas {
        assert_no_secrets(r, &[KEY]);
    }
}

/// `rediss://`: limits are shared over TLS with the CA in `redis_ca`; a
/// Redis with TLS asking for client certificates (`tls-auth-clients yes`,
/// Redis's default): with its CA and a client certificate limits are
/// shared; a replica that cannot verify Redis, or has no certificate to
/// show, keeps local limits and says why.
#[tokio::test(flavor = "multi_thread")]
async fn limits_are_shared_over_mutual_tls_and_an_unverified_redis_is_not_used() {
    let redis = Redis::start_tls();
    let pki = redis.pki();
    let fake = FakeProvider::start().await;
    let config = |tls: &str| {
        format!(
            "{}\n[cluster]\nredis_url = \"{}\"\n{tls}timeout_ms = 3000\n",
            provider("anthropic", &fake, 5),
            redis.tls_url()
        )
    };
    let ca = format!("redis_ca = \"{}\"\n", pki.ca().display());
    let client = pki.client_config("redis");
    let trusted = Switchyard::start(&config(&format!("{ca}{client}")));
    assert_eq!(
        status(trusted.addr).await["cluster"]["limits"],
        "shared",
        "{}",
        trusted.log()
    );
    assert_eq!(
        ok_count(&burst(&[trusted.addr], "claude-test", 8, 2).await),
        5
    );
    let keys = redis.command(&["KEYS", "*"]).expect("KEYS");
    assert!(keys.contains("switchyard:cred:anthropic:team:"), "{keys}");

    // Without redis_ca the system's roots decide; here they hold the CA.
    let ca_file = pki.ca().display().to_string();
    let system = Switchyard::start_with(&config(&client), &[("SSL_CERT_FILE", &ca_file)], &[]);
    assert_eq!(
        status(system.addr).await["cluster"]["limits"],
        "shared",
        "{}",
        system.log()
    );

    // Without a client certificate Redis hangs up; without the CA the
    // system's roots do not know Redis's certificate.
    for (tls, says) in [
        (ca, "CertificateRequired"),
        (client, "invalid peer certificate"),
    ] {
        let replica = Switchyard::start(&config(&tls));
        wait_for(
            "a replica that cannot use Redis keeps local limits",
            Duration::from_secs(20),
            async || status(replica.addr).await["cluster"]["limits"] == "local",
        )
        .await;
        let log = replica.log();
        assert!(
            log.contains("Redis unreachable") && log.contains(says),
            "{log}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn cooldowns_and_circuit_breakers_are_shared_too() {
    let redis = Redis::start();
    let fake = FakeProvider::start().await;
    let config = format!(
        "{}{}\n\
         [[routes]]\nmodel = \"cool\"\nprovider = \"p1\"\n[[routes]]\nmodel = \"trip\"\nprovider = \"p2\"\n\
         [cluster]\nredis_url = \"{}\"\ntimeout_ms = 3000\n",
        provider_with(
            "p2",
            &fake,
            1000,
            &format!(
                "circuit_failures = 2\ncircuit_cooldown_secs = 60\n\
                 [[providers.p2.credentials]]\nname = \"second\"\napi_key = \"{KEY}-2\"\n"
            )
        ),
        provider("p1", &fake, 1000),
        redis.url()
    );
    let a = Switchyard::start(&config);
    let b = Switchyard::start(&config);

    // A 429 with retry-after seen by replica A cools the credential for B.
    fake.push(fake_provider::Behavior::rate_limited(30));
    let (s, _, _) = gateway(a.addr, "/v1/messages", &[], &messages("cool")).await;
    assert_eq!(s, 429);
    let (s, headers, body) = gateway(b.addr, "/v1/messages", &[], &messages("cool")).await;
    assert_eq!(s, 503, "{body}");
    let retry: u64 = headers["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((20..=30).contains(&retry), "{retry}");
    assert_eq!(
        fake.request_count(),
        1,
        "B never tried the cooling credential"
    );

    // One request through A meets two 5xx (failing over between the two
    // credentials): the provider's circuit opens for B as well.
    fake.push(fake_provider::Behavior::error(500));
    fake.push(fake_provider::Behavior::error(500));
    let (s, _, _) = gateway(a.addr, "/v1/messages", &[], &messages("trip")).await;
    assert_eq!(s, 500);
    let (s, headers, body) = gateway(b.addr, "/v1/messages", &[], &messages("trip")).await;
    assert_eq!(s, 503, "{body}");
    let retry: u64 = headers["retry-after"].to_str().unwrap().parse().unwrap();
    assert!(
        retry > 30,
        "the circuit's 60 s, not a credential's few seconds: {retry}"
    );
    assert_eq!(fake.request_count(), 3);
}

#[tokio::test(flavor = "multi_thread")]
async fn redis_outage_falls_back_to_scaled_local_limits_then_shares_again() {
    let mut redis = Redis::start();
    let fake = FakeProvider::start().await;
    // One provider (and model) per phase, so the phases' windows are apart.
    let config = format!(
        "{}{}{}\n[[routes]]\nmodel = \"m1\"\nprovider = \"p1\"\n[[routes]]\nmodel = \"m2\"\nprovider = \"p2\"\n\
         [[routes]]\nmodel = \"m3\"\nprovider = \"p3\"\n\
         [cluster]\nredis_url = \"{}\"\nreplicas = 3\ntimeout_ms = 3000\n",
        provider("p1", &fake, 30),
        provider("p2", &fake, 30),
        provider("p3", &fake, 30),
        redis.url()
    );
    let a = Switchyard::start(&config);
    let b = Switchyard::start(&config);
    let both = [a.addr, b.addr];

    // Shared: the two replicas together pass the rpm once.
    let ok = ok_count(&burst(&both, "m1", 90, 10).await);
    assert_eq!(ok, 30, "shared through Redis");

    redis.kill();
    for addr in both {
        wait_for(
            "replica notices Redis is gone",
            Duration::from_secs(20),
            async || status(addr).await["cluster"]["limits"] == "local",
        )
        .await;
    }
    // Local: each replica passes its third (30 / replicas = 3), and every
    // other request is refused in protocol shape, not failed.
    let on_a = ok_count(&burst(&[a.addr], "m2", 45, 10).await);
    let on_b = ok_count(&burst(&[b.addr], "m2", 45, 10).await);
    assert_eq!((on_a, on_b), (10, 10), "local limits are 1/3 of the rpm");

    redis.restart();
    for addr in both {
        wait_for(
            "replica shares again",
            Duration::from_secs(30),
            async || status(addr).await["cluster"]["limits"] == "shared",
        )
        .await;
    }
    let ok = ok_count(&burst(&both, "m3", 90, 10).await);
    assert_eq!(ok, 30, "shared again after Redis restarted");
    // The restarted Redis was empty; the replicas handed it this minute's
    // counts before sharing again, so nothing gets a fresh window: p1 used
    // its 30 before the outage, p2 20 of its 30 during it.
    let ok = ok_count(&burst(&both, "m1", 20, 10).await);
    assert_eq!(ok, 0, "p1's window survived the Redis restart");
    let ok = ok_count(&burst(&both, "m2", 40, 10).await);
    assert_eq!(ok, 10, "p2 has 10 left in the fleet's window");

    for r in [&a, &b] {
        let log = r.log();
        assert_eq!(
            log.matches("Redis unreachable").count(),
            1,
            "logged once: {log}"
        );
        assert_eq!(
            log.matches("Redis reachable again").count(),
            1,
            "logged once: {log}"
        );
        let s = status(r.addr).await;
        assert_eq!(s["cluster"]["fallbacks"], 1, "{s}");
    }
    let metrics = {
        let (_, _, body) = get_text(a.addr, "/_switchyard/metrics").await;
        body
    };
    assert!(
        metrics.contains("switchyard_cluster_limits{mode=\"shared\"} 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("switchyard_cluster_fallbacks_total 1"),
        "{metrics}"
    );
    assert_eq!(fake.request_count(), 30 + 20 + 30 + 10);
}

async fn get_text(addr: SocketAddr, path: &str) -> (u16, http::HeaderMap, String) {
    let tcp = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let (mut sender, conn) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(tcp))
            .await
            .expect("handshake");
    tokio::spawn(conn);
    let req = http::Request::get(path)
        .header("host", addr.to_string())
        .body(http_body_util::Empty::<bytes::Bytes>::new())
        .expect("request");
    let resp = sender.send_request(req).await.expect("get");
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let body = http_body_util::BodyExt::collect(resp.into_body())
        .await
        .expect("body")
        .to_bytes();
    (status, headers, String::from_utf8_lossy(&body).into_owned())
}

fn ids_in(sy: &Switchyard) -> BTreeSet<String> {
    sy.audit()
        .iter()
        .filter_map(|r| r["id"].as_str().map(str::to_owned))
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn postgres_outage_is_spooled_and_backfilled_exactly_once_and_logs_read_it() {
    let mut pg = Postgres::start();
    let fake = FakeProvider::start().await;
    let config = format!(
        "{}\n[audit]\npostgres_url = \"{}\"\nretention_days = 30\n\n\
         [prices.\"claude-*\"]\ninput = 3.0\noutput = 15.0\n",
        provider("anthropic", &fake, 10_000),
        pg.url()
    );
    let sy = Switchyard::start(&config);
    let count = |pg: &Postgres| -> usize { pg.try_count().unwrap_or(0) };

    assert_eq!(ok_count(&burst(&[sy.addr], "claude-a", 20, 5).await), 20);
    wait_for(
        "20 rows in PostgreSQL",
        Duration::from_secs(30),
        async || count(&pg) == 20,
    )
    .await;

    pg.kill();
    assert_eq!(
        ok_count(&burst(&[sy.addr], "claude-b", 30, 5).await),
        30,
        "requests never wait on or fail because of the database"
    );
    sy.wait_audit(50);
    wait_for(
        "sink notices the outage",
        Duration::from_secs(30),
        async || status(sy.addr).await["audit"]["postgres"]["state"] == "spooling",
    )
    .await;

    pg.restart();
    fake.push(fake_provider::Behavior::error(400));
    let answers = burst(&[sy.addr], "claude-c", 10, 1).await;
    assert_eq!(answers.iter().filter(|(s, _)| *s == 400).count(), 1);
    wait_for(
        "every record in PostgreSQL",
        Duration::from_secs(60),
        async || count(&pg) >= 60,
    )
    .await;
    // Let a late duplicate (if the backfill were not idempotent) land.
    tokio::time::sleep(Duration::from_secs(2)).await;

    let rows = pg.sql("SELECT count(*), count(DISTINCT id) FROM audit_records");
    assert_eq!(rows, "60|60", "exactly one row per request id");
    let in_db: BTreeSet<String> = pg
        .sql("SELECT id FROM audit_records")
        .lines()
        .map(str::to_owned)
        .collect();
    assert_eq!(
        in_db,
        ids_in(&sy),
        "the table holds exactly the audit file's records"
    );
    let by_model: BTreeMap<String, usize> = pg
        .sql("SELECT model, count(*) FROM audit_records GROUP BY model")
        .lines()
        .filter_map(|l| l.split_once('|'))
        .map(|(m, c)| (m.to_owned(), c.parse().unwrap_or(0)))
        .collect();
    assert_eq!(by_model.get("claude-b"), Some(&30), "{by_model:?}");
    let indexes =
        pg.sql("SELECT indexname FROM pg_indexes WHERE tablename = 'audit_records' ORDER BY 1");
    for idx in [
        "audit_records_ts",
        "audit_records_status",
        "audit_records_provider",
        "audit_records_model",
    ] {
        assert!(indexes.contains(idx), "{indexes}");
    }
    let s = status(sy.addr).await;
    assert_eq!(s["audit"]["postgres"]["state"], "connected", "{s}");
    assert_eq!(s["audit"]["postgres"]["tls"], false, "{s}");
    assert!(s["audit"]["postgres"]["pending_since"].is_null(), "{s}");
    let log = sy.log();
    assert_eq!(log.matches("PostgreSQL unreachable").count(), 1, "{log}");
    assert!(log.contains("backfilled into PostgreSQL"), "{log}");

    // `switchyard logs` from another machine (no local audit file) reads
    // the fleet's trail from PostgreSQL, with the same filters.
    let elsewhere = tempfile::tempdir().expect("temp dir");
    let other_config = elsewhere.path().join("switchyard.toml");
    std::fs::write(
        &other_config,
        format!("[audit]\npostgres_url = \"{}\"\n", pg.url()),
    )
    .expect("config");
    let logs = |args: &[&str]| {
        let mut cmd = std::process::Command::new(BIN);
        scrubbed(&mut cmd, elsewhere.path());
        cmd.current_dir(elsewhere.path())
            .arg("logs")
            .arg("--config")
            .arg(&other_config)
            .args(args);
        run(&mut cmd)
    };
    let last = logs(&["--json", "--last", "5"]);
    assert!(last.status.success(), "{}", last.stderr);
    let lines: Vec<Value> = last
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).expect("json line"))
        .collect();
    assert_eq!(lines.len(), 5, "{}", last.stdout);
    assert!(
        lines.iter().all(|l| l["model"] == "claude-c"),
        "{}",
        last.stdout
    );
    assert!(!elsewhere.path().join("state/audit.jsonl").exists());

    let failed = logs(&["--json", "--status", "4xx"]);
    assert!(failed.status.success(), "{}", failed.stderr);
    let failed: Vec<Value> = failed
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).expect("json"))
        .collect();
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0]["status"], 400);

    let table = logs(&["--last", "3", "--status", "2xx"]);
    assert!(table.status.success(), "{}", table.stderr);
    assert_eq!(
        table.stdout.lines().count(),
        4,
        "header + 3 rows: {}",
        table.stdout
    );
    assert!(table.stdout.contains("claude-c"), "{}", table.stdout);
    assert_eq!(logs(&["--json", "--since", "2999-01-01"]).stdout, "");
    assert_eq!(
        logs(&["--json", "--since", "1h"]).stdout.lines().count(),
        60
    );

    // The server's sums (--summary from PostgreSQL) are exactly what the
    // replica's own files add up to, for every dimension at once.
    let every = "credential,model,provider,client,host,kind,day";
    let summary = |args: &[&str]| -> Value {
        let out = logs(&[&["--summary", "--json", "--by", every][..], args].concat());
        assert!(out.status.success(), "{}", out.stderr);
        serde_json::from_str(&out.stdout).expect("one JSON object")
    };
    let mut from_db = summary(&[]);
    assert_eq!(from_db["source"], "postgres", "{from_db}");
    assert_eq!(from_db["total"]["calls"], 60, "{from_db}");
    assert_eq!(from_db["total"]["errors"], 1, "{from_db}");
    assert!(
        from_db["total"]["cost_usd"]
            .as_f64()
            .is_some_and(|c| c > 0.0),
        "{from_db}"
    );
    let b = from_db["groups"]
        .as_array()
        .and_then(|g| g.iter().find(|g| g["model"] == "claude-b"))
        .cloned()
        .unwrap_or_default();
    assert_eq!(b["calls"], 30, "{from_db}");
    assert_eq!(b["credential"], "anthropic/team", "{from_db}");
    let file_only = elsewhere.path().join("file-only.toml");
    std::fs::write(
        &file_only,
        format!(
            "[audit]\npath = {:?}\n",
            sy.audit_path().display().to_string()
        ),
    )
    .expect("config");
    let mut cmd = std::process::Command::new(BIN);
    scrubbed(&mut cmd, elsewhere.path());
    cmd.current_dir(elsewhere.path())
        .args(["logs", "--config"])
        .arg(&file_only)
        .args(["--summary", "--json", "--by", every]);
    let out = run(&mut cmd);
    let mut from_file: Value = serde_json::from_str(&out.stdout).expect("one JSON object");
    assert_eq!(from_file["source"], "file");
    from_db["source"] = Value::Null;
    from_file["source"] = Value::Null;
    assert_eq!(from_db, from_file);
    let failed = summary(&["--status", "4xx"]);
    assert_eq!(failed["total"]["calls"], 1, "{failed}");
    let future = logs(&["--summary", "--since", "2999-01-01"]);
    assert!(future.stdout.is_empty(), "{}", future.stdout);
    assert!(
        future.stderr.contains("no records since"),
        "{}",
        future.stderr
    );
}

/// `sslmode=verify-full` with `postgres_ca` and a client certificate:
/// records and `switchyard logs` go over TLS, SCRAM bound to the
/// certificate (`channel_binding=require` fails unless the end-point hash
/// is right). A server nothing vouches for, or one asking for a certificate
/// the replica does not have, gets nothing, and the warning says why.
#[tokio::test(flavor = "multi_thread")]
async fn the_audit_trail_reaches_postgres_over_verified_tls_only() {
    const PASSWORD: &str = "Zq9-pg-tls-secret";
    let pg = Postgres::start_tls();
    let pki = pg.pki();
    pg.sql(&format!(
        "CREATE ROLE sy LOGIN SUPERUSER PASSWORD '{PASSWORD}'"
    ));
    let fake = FakeProvider::start().await;
    let url = format!(
        "postgres://sy:{PASSWORD}@127.0.0.1:{}/postgres?sslmode=verify-full&channel_binding=require",
        pg.port
    );
    let config = |tls: &str| {
        format!(
            "{}\n[audit]\npostgres_url = \"{url}\"\n{tls}",
            provider("anthropic", &fake, 10_000)
        )
    };
    let ca = format!("postgres_ca = \"{}\"\n", pki.ca().display());
    let client = pki.client_config("postgres");
    let sy = Switchyard::start(&config(&format!("{ca}{client}")));
    assert_eq!(ok_count(&burst(&[sy.addr], "claude-tls", 5, 1).await), 5);
    wait_for(
        "5 rows in PostgreSQL",
        Duration::from_secs(30),
        async || pg.try_count() == Some(5),
    )
    .await;
    let over_tls = pg.sql(
        "SELECT count(*) FROM pg_stat_ssl JOIN pg_stat_activity USING (pid) \
         WHERE usename = 'sy' AND application_name = 'switchyard' \
         AND ssl AND client_dn = '/CN=sy'",
    );
    assert_ne!(over_tls, "0", "{}", sy.log());
    let logs = |sy: &Switchyard| {
        run(sy.command().args([
            "logs",
            "--config",
            "switchyard.toml",
            "--json",
            "--last",
            "5",
        ]))
    };
    let read = logs(&sy);
    assert!(!read.stderr.contains("cannot read"), "{}", read.stderr);
    assert_eq!(
        read.stdout
            .lines()
            .filter(|l| l.contains(r#""model": "claude-tls""#))
            .count(),
        5,
        "{}",
        read.stdout
    );
    let check = run(sy.command().args(["check", "--config", "switchyard.toml"]));
    assert!(
        check.stdout.contains("over TLS (trusting")
            && check.stdout.contains("with a client certificate")
            && !check.stdout.contains(PASSWORD),
        "{}",
        check.stdout
    );
    let s = status(sy.addr).await;
    assert_eq!(s["audit"]["postgres"]["tls"], true, "{s}");
    assert_no_secrets(&sy, &[PASSWORD]);

    // Without postgres_ca the system's roots decide; here they hold the CA.
    let ca_file = pki.ca().display().to_string();
    let system = Switchyard::start_with(&config(&client), &[("SSL_CERT_FILE", &ca_file)], &[]);
    assert_eq!(
        ok_count(&burst(&[system.addr], "claude-sys", 2, 1).await),
        2
    );
    wait_for(
        "7 rows in PostgreSQL",
        Duration::from_secs(30),
        async || pg.try_count() == Some(7),
    )
    .await;

    // Without the CA the system's roots do not know the server's
    // certificate; without a client certificate the server hangs up.
    for (tls, says) in [
        (client, "invalid peer certificate"),
        (ca, "requires a valid client certificate"),
    ] {
        let replica = Switchyard::start(&config(&tls));
        assert_eq!(ok_count(&burst(&[replica.addr], "claude-x", 1, 1).await), 1);
        wait_for("spooling", Duration::from_secs(30), async || {
            status(replica.addr).await["audit"]["postgres"]["state"] == "spooling"
        })
        .await;
        let log = replica.log();
        let warning = log.lines().find(|l| l.contains("PostgreSQL unreachable"));
        assert!(warning.is_some_and(|w| w.contains(says)), "{log}");
        let read = logs(&replica);
        assert!(
            read.stderr
                .contains("cannot read the audit trail from PostgreSQL")
                && read.stderr.contains(says),
            "{}",
            read.stderr
        );
        assert_no_secrets(&replica, &[PASSWORD]);
    }
    assert_eq!(
        pg.try_count(),
        Some(7),
        "only the trusted replicas' records"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_replica_killed_during_a_postgres_outage_backfills_when_it_starts_again() {
    let mut pg = Postgres::start();
    let fake = FakeProvider::start().await;
    let shared_dir = tempfile::tempdir().expect("temp dir");
    let audit = shared_dir.path().join("audit.jsonl");
    let config = format!(
        "{}\n[audit]\npath = \"{}\"\npostgres_url = \"{}\"\nretention_days = 30\n",
        provider("anthropic", &fake, 10_000),
        audit.display(),
        pg.url()
    );
    let mut first = Switchyard::start(&config);
    assert_eq!(ok_count(&burst(&[first.addr], "before", 5, 5).await), 5);
    wait_for("5 rows", Duration::from_secs(30), async || {
        pg.try_count() == Some(5)
    })
    .await;

    pg.kill();
    assert_eq!(ok_count(&burst(&[first.addr], "during", 7, 5).await), 7);
    wait_for(
        "12 lines in the shared audit file",
        Duration::from_secs(15),
        async || read_audit(&audit).len() == 12,
    )
    .await;
    wait_for("spooling", Duration::from_secs(30), async || {
        status(first.addr).await["audit"]["postgres"]["state"] == "spooling"
    })
    .await;
    // A crash, not a shutdown: nothing gets a chance to flush to the database.
    signal(first.pid(), "KILL");
    first.terminate_wait_only();
    assert!(shared_dir.path().join("audit.jsonl.pg-pending").exists());

    pg.restart();
    // A row past retention, to be deleted by the next start.
    pg.sql(
        "INSERT INTO audit_records (id, ts, kind, record) \
         VALUES ('ancient', now() - interval '40 days', 'gateway', '{}')",
    );
    let second = Switchyard::start(&config);
    wait_for("backfilled on start", Duration::from_secs(60), async || {
        pg.try_count() == Some(12)
    })
    .await;
    assert_eq!(
        pg.sql("SELECT count(*), count(DISTINCT id) FROM audit_records"),
        "12|12"
    );
    assert_eq!(
        pg.sql("SELECT count(*) FROM audit_records WHERE id = 'ancient'"),
        "0"
    );
    assert_eq!(
        pg.sql("SELECT count(*) FROM audit_records WHERE model = 'during'"),
        "7"
    );
    drop(second);
}
