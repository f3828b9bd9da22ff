//! Real Redis and PostgreSQL servers for the fleet tests: each on a free
//! loopback port with its own temp data dir, killed when dropped.
//! `scripts/test.sh` installs them (Debian `redis-server`, `postgresql`);
//! a missing binary fails the test.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::peers;

/// A port that was free a moment ago.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

fn wait_until(what: &str, deadline: Duration, mut ok: impl FnMut() -> bool) {
    let until = Instant::now() + deadline;
    while !ok() {
        assert!(
            Instant::now() < until,
            "{what} did not happen within {deadline:?}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn stop(child: &mut Option<Child>, signal: &str) {
    if let Some(mut c) = child.take() {
        super::signal(c.id() as i32, signal);
        super::wait_exit(&mut c, Duration::from_secs(30));
    }
}

/// A private CA with a server certificate for `127.0.0.1` and a client
/// certificate (common name `client_cn`), as PEM files in `dir`: what a
/// managed Redis or PostgreSQL with mutual TLS hands out.
pub struct Pki {
    dir: PathBuf,
}

impl Pki {
    pub fn create(dir: &Path, client_cn: &str) -> Pki {
        use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};
        let named = |cn: &str, sans: Vec<String>| {
            let mut params = CertificateParams::new(sans).expect("params");
            params.distinguished_name.push(DnType::CommonName, cn);
            params
        };
        let ca_key = KeyPair::generate().expect("key");
        let mut ca = named("switchyard test CA", Vec::new());
        ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let ca_cert = ca.self_signed(&ca_key).expect("CA");
        let issuer = Issuer::new(ca, ca_key);
        let pki = Pki {
            dir: dir.to_path_buf(),
        };
        std::fs::write(pki.ca(), ca_cert.pem()).expect("write CA");
        for (name, cn, sans) in [
            ("server", "127.0.0.1", vec!["127.0.0.1".to_owned()]),
            ("client", client_cn, Vec::new()),
        ] {
            let key = KeyPair::generate().expect("key");
            let cert = named(cn, sans).signed_by(&key, &issuer).expect("sign");
            std::fs::write(dir.join(format!("{name}.pem")), cert.pem()).expect("write cert");
            std::fs::write(dir.join(format!("{name}.key")), key.serialize_pem())
                .expect("write key");
        }
        pki
    }

    pub fn ca(&self) -> PathBuf {
        self.dir.join("ca.pem")
    }

    pub fn file(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// The `*_client_cert` and `*_client_key` lines of a config section.
    pub fn client_config(&self, prefix: &str) -> String {
        format!(
            "{prefix}_client_cert = \"{}\"\n{prefix}_client_key = \"{}\"\n",
            self.file("client.pem").display(),
            self.file("client.key").display()
        )
    }
}

/// A redis-server without persistence.
pub struct Redis {
    pub port: u16,
    /// The TLS port, when started with [`Redis::start_tls`].
    tls_port: Option<u16>,
    dir: tempfile::TempDir,
    child: Option<Child>,
}

impl Redis {
    pub fn start() -> Redis {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut redis = Redis {
            port: free_port(),
            tls_port: None,
            dir,
            child: None,
        };
        redis.restart();
        redis
    }

    /// Also listening with TLS, on a certificate for `127.0.0.1` that only
    /// [`Redis::pki`]'s CA vouches for, and asking every TLS client for a
    /// certificate from that CA (`tls-auth-clients yes`, Redis's default).
    /// The plain port stays for [`Redis::command`].
    pub fn start_tls() -> Redis {
        let dir = tempfile::tempdir().expect("temp dir");
        Pki::create(dir.path(), "switchyard");
        let mut redis = Redis {
            port: free_port(),
            tls_port: Some(free_port()),
            dir,
            child: None,
        };
        redis.restart();
        redis
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/0", self.port)
    }

    /// The `rediss://` URL of a [`Redis::start_tls`] server.
    pub fn tls_url(&self) -> String {
        let port = self.tls_port.expect("started with start_tls");
        format!("rediss://127.0.0.1:{port}/0")
    }

    /// The CA and client certificate of a [`Redis::start_tls`] server.
    pub fn pki(&self) -> Pki {
        Pki {
            dir: self.dir.path().to_path_buf(),
        }
    }

    /// Starts it (again) on the same port, empty.
    pub fn restart(&mut self) {
        assert!(self.child.is_none(), "redis is running");
        let bin = peers::require("redis-server");
        let log = std::fs::File::create(self.dir.path().join("redis.log")).expect("log");
        let child = Command::new(bin)
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no", "--daemonize", "no"])
            .args(self.tls_args())
            .arg("--dir")
            .arg(self.dir.path())
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn redis-server");
        self.child = Some(child);
        wait_until("redis answering PING", Duration::from_secs(20), || {
            self.command(&["PING"]).is_some_and(|r| r == "PONG")
        });
    }

    fn tls_args(&self) -> Vec<String> {
        let Some(port) = self.tls_port else {
            return Vec::new();
        };
        let file = |name: &str| self.dir.path().join(name).display().to_string();
        vec![
            "--tls-port".into(),
            port.to_string(),
            "--tls-cert-file".into(),
            file("server.pem"),
            "--tls-key-file".into(),
            file("server.key"),
            "--tls-ca-cert-file".into(),
            file("ca.pem"),
            "--tls-auth-clients".into(),
            "yes".into(),
        ]
    }

    /// SIGKILL: a crash, not a shutdown.
    pub fn kill(&mut self) {
        stop(&mut self.child, "KILL");
    }

    /// Sends one command (RESP) and returns the reply as text (arrays:
    /// elements joined by newlines). None when it cannot connect.
    pub fn command(&self, args: &[&str]) -> Option<String> {
        let mut s = TcpStream::connect(("127.0.0.1", self.port)).ok()?;
        s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
        let mut req = format!("*{}\r\n", args.len());
        for a in args {
            req.push_str(&format!("${}\r\n{a}\r\n", a.len()));
        }
        s.write_all(req.as_bytes()).ok()?;
        let mut buf = Vec::new();
        let mut chunk = [0u8; 65536];
        // Replies here are small; read until a full reply is parsed.
        loop {
            let n = s.read(&mut chunk).ok()?;
            if n == 0 {
                return None;
            }
            buf.extend_from_slice(&chunk[..n]);
            if let Some((reply, _)) = parse(&buf) {
                return Some(reply);
            }
        }
    }
}

/// One RESP reply: (text, bytes used), or None if incomplete.
fn parse(buf: &[u8]) -> Option<(String, usize)> {
    let end = buf.windows(2).position(|w| w == b"\r\n")?;
    let line = std::str::from_utf8(&buf[1..end]).ok()?;
    let rest = end + 2;
    match buf.first()? {
        b'+' | b'-' | b':' => Some((line.to_owned(), rest)),
        b'$' => {
            let len: i64 = line.parse().ok()?;
            if len < 0 {
                return Some((String::new(), rest));
            }
            let len = len as usize;
            (buf.len() >= rest + len + 2).then(|| {
                (
                    String::from_utf8_lossy(&buf[rest..rest + len]).into_owned(),
                    rest + len + 2,
                )
            })
        }
        b'*' => {
            let n: i64 = line.parse().ok()?;
            let mut used = rest;
            let mut items = Vec::new();
            for _ in 0..n.max(0) {
                let (item, u) = parse(&buf[used..])?;
                items.push(item);
                used += u;
            }
            Some((items.join("\n"), used))
        }
        _ => None,
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        if let Some(c) = self.child.as_mut() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

const PG_BIN: &str = "/usr/lib/postgresql/15/bin";

/// A PostgreSQL cluster in a temp dir. PostgreSQL refuses to run as root,
/// so as root it runs as the `postgres` user (the Debian package creates it).
pub struct Postgres {
    pub port: u16,
    dir: tempfile::TempDir,
    child: Option<Child>,
    user: Option<(u32, u32)>,
    tls: bool,
}

fn pg_bin(name: &str) -> PathBuf {
    let p = Path::new(PG_BIN).join(name);
    assert!(
        p.exists(),
        "{} is missing: install the `postgresql` Debian package (scripts/test.sh does)",
        p.display()
    );
    p
}

fn id_of(flag: &str) -> u32 {
    let out = Command::new("id")
        .args([flag, "postgres"])
        .output()
        .expect("id");
    assert!(
        out.status.success(),
        "no `postgres` user: install the `postgresql` package"
    );
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .expect("numeric id")
}

impl Postgres {
    pub fn start() -> Postgres {
        Postgres::start_with(false)
    }

    /// Serving TCP with TLS only (`hostssl`, plain connections rejected),
    /// on a certificate for `127.0.0.1` that only [`Postgres::pki`]'s CA
    /// vouches for. `postgres` logs in without a password (for
    /// [`Postgres::sql`]); every other role needs SCRAM and a client
    /// certificate from that CA naming it (`clientcert=verify-full`): the
    /// PKI's is for `sy`.
    pub fn start_tls() -> Postgres {
        Postgres::start_with(true)
    }

    fn start_with(tls: bool) -> Postgres {
        let dir = tempfile::tempdir().expect("temp dir");
        let root = unsafe { libc::geteuid() } == 0;
        let user = root.then(|| (id_of("-u"), id_of("-g")));
        if let Some((uid, gid)) = user {
            std::os::unix::fs::chown(dir.path(), Some(uid), Some(gid)).expect("chown data dir");
        }
        let data = dir.path().join("data");
        let mut initdb = Command::new(pg_bin("initdb"));
        initdb
            .arg("-D")
            .arg(&data)
            .args(["-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync"])
            .stdout(Stdio::null());
        let out = as_user(&mut initdb, user).output().expect("initdb");
        assert!(
            out.status.success(),
            "initdb failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let mut pg = Postgres {
            port: free_port(),
            dir,
            child: None,
            user,
            tls,
        };
        if tls {
            pg.write_tls_files();
        }
        pg.restart();
        pg
    }

    fn write_tls_files(&self) {
        let pki = Pki::create(self.dir.path(), "sy");
        let data = self.dir.path().join("data");
        let hba = "local all all trust\n\
                   hostssl all postgres 127.0.0.1/32 trust\n\
                   hostssl all all 127.0.0.1/32 scram-sha-256 clientcert=verify-full\n\
                   hostnossl all all 127.0.0.1/32 reject\n";
        let read = |name: &str| std::fs::read_to_string(pki.file(name)).expect("read PKI file");
        for (name, text, mode) in [
            ("server.crt", read("server.pem"), 0o644),
            ("server.key", read("server.key"), 0o600),
            ("root.crt", read("ca.pem"), 0o644),
            ("pg_hba.conf", hba.to_owned(), 0o600),
        ] {
            let path = data.join(name);
            std::fs::write(&path, text).expect("write TLS file");
            std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(mode))
                .expect("chmod");
            if let Some((uid, gid)) = self.user {
                std::os::unix::fs::chown(&path, Some(uid), Some(gid)).expect("chown");
            }
        }
    }

    /// The CA and client certificate of a [`Postgres::start_tls`] server.
    pub fn pki(&self) -> Pki {
        Pki {
            dir: self.dir.path().to_path_buf(),
        }
    }

    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    pub fn restart(&mut self) {
        assert!(self.child.is_none(), "postgres is running");
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.path().join("postgres.log"))
            .expect("log");
        let mut cmd = Command::new(pg_bin("postgres"));
        cmd.arg("-D")
            .arg(self.dir.path().join("data"))
            .args(["-p", &self.port.to_string()])
            .arg("-k")
            .arg(self.dir.path())
            .args(["-c", "listen_addresses=127.0.0.1", "-c", "fsync=off"])
            .args(["-c", if self.tls { "ssl=on" } else { "ssl=off" }])
            .args([
                "-c",
                if self.tls {
                    "ssl_ca_file=root.crt"
                } else {
                    "ssl_ca_file="
                },
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log);
        self.child = Some(
            as_user(&mut cmd, self.user)
                .spawn()
                .expect("spawn postgres"),
        );
        wait_until(
            "postgres accepting connections",
            Duration::from_secs(30),
            || self.try_sql("SELECT 1").is_some_and(|r| r == "1"),
        );
    }

    /// SIGQUIT: PostgreSQL's immediate shutdown, which is a crash as far as
    /// clients and recovery go (no checkpoint; connections cut).
    pub fn kill(&mut self) {
        stop(&mut self.child, "QUIT");
    }

    /// Runs SQL with psql; the unaligned, tuples-only output.
    pub fn sql(&self, sql: &str) -> String {
        self.try_sql(sql)
            .unwrap_or_else(|| panic!("psql failed: {sql}\n{}", self.log()))
    }

    /// Rows in the audit table; None while unreachable or not migrated yet.
    pub fn try_count(&self) -> Option<usize> {
        self.try_sql("SELECT count(*) FROM audit_records")?
            .parse()
            .ok()
    }

    fn try_sql(&self, sql: &str) -> Option<String> {
        let out = Command::new(pg_bin("psql"))
            .args([
                "-h",
                "127.0.0.1",
                "-p",
                &self.port.to_string(),
                "-U",
                "postgres",
            ])
            .args(["-d", "postgres", "-XAtqc", sql])
            .output()
            .ok()?;
        out.status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("postgres.log")).unwrap_or_default()
    }
}

fn as_user(cmd: &mut Command, user: Option<(u32, u32)>) -> &mut Command {
    use std::os::unix::process::CommandExt;
    if let Some((uid, gid)) = user {
        cmd.uid(uid).gid(gid).env("HOME", "/tmp");
    }
    cmd
}

impl Drop for Postgres {
    fn drop(&mut self) {
        // SIGQUIT lets the postmaster take its children down with it.
        if let Some(c) = self.child.as_mut() {
            unsafe { libc::kill(c.id() as i32, libc::SIGQUIT) };
            let until = Instant::now() + Duration::from_secs(30);
            while matches!(c.try_wait(), Ok(None)) && Instant::now() < until {
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}
