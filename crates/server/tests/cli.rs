//! The `portcullis` binary as an operator runs it.
// These tests wait for a real process: they poll with real deadlines.
#![allow(clippy::disallowed_methods)]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_portcullis");

/// A command with a clean environment: no inherited PORTCULLIS_* variables.
fn portcullis(data: &Path) -> Command {
    let mut c = Command::new(BIN);
    for (k, _) in std::env::vars() {
        if k.starts_with("PORTCULLIS_") {
            c.env_remove(k);
        }
    }
    c.env("PORTCULLIS_DATA_DIR", data)
        .env("PORTCULLIS_LOG_FORMAT", "json")
        .env("PORTCULLIS_ARGON2_MEMORY_KIB", "1024")
        .env("PORTCULLIS_ARGON2_ITERATIONS", "1")
        .stdin(Stdio::null());
    c
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[test]
fn help_lists_commands_and_settings() {
    let dir = tempfile::tempdir().unwrap();
    let o = portcullis(dir.path()).arg("--help").output().unwrap();
    assert!(o.status.success());
    let t = text(&o);
    for needle in [
        "serve",
        "migrate",
        "admin",
        "PORTCULLIS_BIND",
        "PORTCULLIS_DATABASE_URL",
        "PORTCULLIS_MASTER_KEY",
    ] {
        assert!(t.contains(needle), "{needle} missing from --help:\n{t}");
    }
    let o = portcullis(dir.path())
        .args(["admin", "--help"])
        .output()
        .unwrap();
    let t = text(&o);
    for needle in ["create-user", "set-password", "list-realms", "rotate-keys"] {
        assert!(
            t.contains(needle),
            "{needle} missing from admin --help:\n{t}"
        );
    }
}

#[test]
fn invalid_configuration_stops_start_up_naming_the_setting() {
    let dir = tempfile::tempdir().unwrap();
    let o = portcullis(dir.path())
        .env("PORTCULLIS_BINDD", "x")
        .arg("migrate")
        .output()
        .unwrap();
    assert!(!o.status.success());
    assert!(text(&o).contains("PORTCULLIS_BINDD"), "{}", text(&o));
    let o = portcullis(dir.path())
        .env("PORTCULLIS_ACCESS_TOKEN_TTL", "soon")
        .arg("migrate")
        .output()
        .unwrap();
    assert!(!o.status.success());
    assert!(
        text(&o).contains("PORTCULLIS_ACCESS_TOKEN_TTL"),
        "{}",
        text(&o)
    );
}

#[test]
fn migrate_and_admin_commands() {
    let dir = tempfile::tempdir().unwrap();
    let o = portcullis(dir.path()).arg("migrate").output().unwrap();
    assert!(o.status.success(), "{}", text(&o));
    assert!(dir.path().join("portcullis.db").exists());

    // The admin commands open the store; the first `serve` bootstraps, so bootstrap
    // through a short serve first.
    bootstrap_through_serve(dir.path(), &[]);

    let o = portcullis(dir.path())
        .args(["admin", "list-realms"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("main"));

    let mut child = portcullis(dir.path())
        .args([
            "admin",
            "create-user",
            "--email",
            "ops@example.com",
            "--password-stdin",
            "--admin",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"a fine stdin secret\n")
        .unwrap();
    let o = child.wait_with_output().unwrap();
    assert!(o.status.success(), "{}", text(&o));
    assert!(!text(&o).contains("a fine stdin secret"));

    let o = portcullis(dir.path())
        .args(["admin", "set-password", "--email", "ops@example.com"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        text(&o).contains("password: "),
        "a generated password is shown"
    );

    let o = portcullis(dir.path())
        .args(["admin", "set-password", "--email", "nobody@example.com"])
        .output()
        .unwrap();
    assert!(!o.status.success());

    let o = portcullis(dir.path())
        .args(["admin", "rotate-keys", "--realm", "main"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
}

/// Kills the server if a test fails before stopping it.
struct Running(std::process::Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Bootstraps the data directory through a short `serve` (with `env` set
/// and a chosen administrator password), stopped once it is ready.
fn bootstrap_through_serve(data: &Path, env: &[(&str, &str)]) {
    let port = free_port();
    let mut command = portcullis(data);
    command
        .env("PORTCULLIS_BIND", format!("127.0.0.1:{port}"))
        .env(
            "PORTCULLIS_BOOTSTRAP_ADMIN_PASSWORD",
            "operator chosen secret",
        )
        .envs(env.iter().copied())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let mut server = Running(command.spawn().unwrap());
    wait_ready(port);
    terminate(&mut server);
}

fn wait_ready(port: u16) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", port)) {
            let _ =
                s.write_all(b"GET /health/ready HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
            let mut buf = String::new();
            use std::io::Read;
            let _ = s.read_to_string(&mut buf);
            if buf.starts_with("HTTP/1.1 200") {
                return;
            }
        }
        assert!(Instant::now() < deadline, "server did not become ready");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn terminate(running: &mut Running) {
    let child = &mut running.0;
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            assert!(status.success(), "graceful shutdown exits 0, got {status}");
            return;
        }
        assert!(Instant::now() < deadline, "server did not stop on SIGTERM");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn first_start_bootstraps_and_keeps_secrets_out_of_the_log() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let log = dir.path().join("server.log");
    let guide = dir.path().join("server.out");
    let mut server = Running(
        portcullis(dir.path())
            .env("PORTCULLIS_BIND", format!("127.0.0.1:{port}"))
            .stdout(std::fs::File::create(&guide).unwrap())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap(),
    );
    wait_ready(port);
    // Without a terminal, the generated password goes to a private file.
    let pw_file = dir.path().join("bootstrap-admin-password");
    let key_file = dir.path().join("master.key");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        for f in [&pw_file, &key_file] {
            let mode = std::fs::metadata(f).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600, "{}", f.display());
        }
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let sub = dir.path().join("nested");
        let port2 = free_port();
        let o = portcullis(&sub)
            .env("PORTCULLIS_BIND", format!("127.0.0.1:{port2}"))
            .arg("migrate")
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", text(&o));
        let mode = std::fs::metadata(&sub).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o700, "a new data directory is private");
    }
    let password = std::fs::read_to_string(&pw_file).unwrap();
    assert!(password.len() >= 20);
    // Log in with it over HTTP.
    let body = format!(r#"{{"email":"admin@portcullis.local","password":"{password}"}}"#);
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    write!(
        s,
        "POST /api/v1/auth/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut reply = String::new();
    use std::io::Read;
    s.read_to_string(&mut reply).unwrap();
    assert!(reply.starts_with("HTTP/1.1 200"), "{reply}");
    let token_start = reply.find("\"refresh_token\":\"").unwrap() + 17;
    let refresh = &reply[token_start..token_start + 43];
    terminate(&mut server);
    let logged = std::fs::read_to_string(&log).unwrap();
    assert!(logged.contains("Portcullis is listening"), "{logged}");
    assert!(
        !logged.contains(&password),
        "the password must not be logged"
    );
    assert!(!logged.contains(refresh), "tokens must not be logged");
    // The first-start guide is for people: on stdout, without the password.
    let guide = std::fs::read_to_string(&guide).unwrap();
    assert!(guide.contains("Portcullis is ready"), "{guide}");
    assert!(!guide.contains(&password), "{guide}");
    // Every log line is JSON.
    for line in logged.lines() {
        assert!(
            serde_json::from_str::<serde_json::Value>(line).is_ok(),
            "{line}"
        );
    }
    // A second start does not bootstrap again.
    let port = free_port();
    let mut server = Running(
        portcullis(dir.path())
            .env("PORTCULLIS_BIND", format!("127.0.0.1:{port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    wait_ready(port);
    terminate(&mut server);
    assert_eq!(std::fs::read_to_string(&pw_file).unwrap(), password);
}

/// The tests' MaxMind DB writer (no database is shipped or downloaded).
#[path = "../src/geoip/writer.rs"]
#[allow(dead_code)]
mod mmdb_writer;

/// Runs a command that should stop by itself; kills it after 60 s.
fn run_to_exit(command: &mut Command) -> Output {
    let child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    match rx.recv_timeout(Duration::from_secs(60)) {
        Ok(o) => o.unwrap(),
        Err(_) => {
            let _ = Command::new("kill")
                .args(["-KILL", &pid.to_string()])
                .status();
            panic!("portcullis did not stop by itself");
        }
    }
}

#[test]
fn geoip_databases_are_checked_at_start_up() {
    use mmdb_writer::{Value, Writer};
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let asn_record = Value::map([("autonomous_system_number", Value::U32(64_496))]);
    let mut asn = Writer::new("GeoLite2-ASN", 6, 24);
    asn.insert("198.51.100.0/24", &asn_record).unwrap();
    let asn_path = dir.path().join("GeoLite2-ASN.mmdb");
    std::fs::write(&asn_path, asn.to_bytes()).unwrap();
    let garbage = dir.path().join("garbage.mmdb");
    std::fs::write(&garbage, b"this is not a MaxMind database at all").unwrap();
    let missing = dir.path().join("GeoLite2-City.mmdb");

    for (var, path, reason) in [
        ("PORTCULLIS_GEOIP_DB", &missing, "cannot read"),
        ("PORTCULLIS_GEOIP_ASN_DB", &garbage, "not a MaxMind DB file"),
        ("PORTCULLIS_GEOIP_DB", &asn_path, "'GeoLite2-ASN' database"),
    ] {
        let o = run_to_exit(
            portcullis(&data)
                .env("PORTCULLIS_BIND", format!("127.0.0.1:{}", free_port()))
                .env(var, path)
                .arg("serve"),
        );
        let t = text(&o);
        assert!(!o.status.success(), "{var}={}: {t}", path.display());
        assert!(t.contains(&format!("{var}: ")), "{t}");
        assert!(t.contains(reason), "{t}");
    }
    assert!(!data.exists(), "refused before the database was opened");

    // A City and an ASN database: loaded, and said so once each.
    let mut city = Writer::new("GeoLite2-City", 6, 28);
    city.insert(
        "198.51.100.0/24",
        &Value::map([("country", Value::map([("iso_code", Value::str("DE"))]))]),
    )
    .unwrap();
    let city_path = dir.path().join("city.mmdb");
    std::fs::write(&city_path, city.to_bytes()).unwrap();
    let port = free_port();
    let log = dir.path().join("server.log");
    let mut server = Running(
        portcullis(&data)
            .env("PORTCULLIS_BIND", format!("127.0.0.1:{port}"))
            .env("PORTCULLIS_GEOIP_DB", &city_path)
            .env("PORTCULLIS_GEOIP_ASN_DB", &asn_path)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap(),
    );
    wait_ready(port);
    terminate(&mut server);
    let logged = std::fs::read_to_string(&log).unwrap();
    let loaded: Vec<serde_json::Value> = logged
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|l| l["message"] == "GeoIP database loaded")
        .collect();
    assert_eq!(loaded.len(), 2, "{logged}");
    assert_eq!(loaded[0]["level"], "INFO");
    assert_eq!(loaded[0]["database_type"], "GeoLite2-City");
    assert_eq!(loaded[0]["setting"], "PORTCULLIS_GEOIP_DB");
    assert_eq!(loaded[0]["built"], "2025-11-24");
    assert_eq!(loaded[1]["database_type"], "GeoLite2-ASN");
}

/// Fails unless stdout is free of log lines.
fn assert_no_log_lines_in_stdout(o: &Output) {
    assert_eq!(log_lines_in_stdout(o), Vec::<String>::new(), "{}", text(o));
}

/// The lines of stdout that are log records (JSON objects).
fn log_lines_in_stdout(o: &Output) -> Vec<String> {
    String::from_utf8_lossy(&o.stdout)
        .lines()
        .filter(|l| l.trim_start().starts_with('{'))
        .map(str::to_owned)
        .collect()
}

/// Asserts every row of a table starts each column where its header does.
fn assert_aligned(table: &str) {
    let mut lines = table.lines().filter(|l| !l.trim().is_empty());
    let header = lines.next().expect("a header line");
    let starts: Vec<usize> = header
        .char_indices()
        .filter(|&(i, c)| c != ' ' && (i == 0 || header.as_bytes()[i - 1] == b' '))
        .map(|(i, _)| i)
        .collect();
    assert!(starts.len() > 1, "{table}");
    let mut rows = 0;
    for row in lines {
        rows += 1;
        for &at in &starts[1..] {
            let bytes = row.as_bytes();
            assert!(
                at < bytes.len() && bytes[at - 1] == b' ' && bytes[at] != b' ',
                "column at {at} misaligned:\n{table}"
            );
        }
    }
    assert!(rows > 0, "no rows:\n{table}");
}

#[test]
fn a_port_in_use_stops_start_up_before_announcing() {
    let dir = tempfile::tempdir().unwrap();
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap();
    let o = run_to_exit(
        portcullis(dir.path())
            .env("PORTCULLIS_BIND", addr.to_string())
            .arg("serve"),
    );
    let (out, err) = (
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr),
    );
    assert!(!o.status.success(), "{out}{err}");
    for said in [&out, &err] {
        assert!(
            !said.contains("is ready"),
            "announced before binding: {said}"
        );
        assert!(!said.contains("Log in as"), "banner before binding: {said}");
    }
    assert!(
        err.contains(&addr.to_string()),
        "the address is named: {err}"
    );
    assert!(
        !dir.path().join("bootstrap-admin-password").exists(),
        "nothing bootstrapped on a failed start"
    );
    drop(taken);
}

#[test]
fn admin_output_is_for_people_and_logs_go_to_stderr() {
    let dir = tempfile::tempdir().unwrap();
    // A fresh directory: opening it creates the master key, which is logged.
    let o = portcullis(dir.path())
        .args(["admin", "list-realms"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    assert_no_log_lines_in_stdout(&o);
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("created a new master key"),
        "the log goes to stderr: {}",
        text(&o)
    );

    // The error names what was not found.
    let o = portcullis(dir.path())
        .args(["admin", "rotate-keys", "--realm", "nope"])
        .output()
        .unwrap();
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains(r#"realm "nope" not found"#), "{err}");
    let o = portcullis(dir.path())
        .args([
            "admin",
            "set-password",
            "--realm",
            "nope",
            "--email",
            "a@example.com",
        ])
        .output()
        .unwrap();
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains(r#"realm "nope" not found"#), "{err}");

    // A realm whose name is wider than a fixed column.
    let realm = "a-realm-whose-name-is-rather-long";
    bootstrap_through_serve(dir.path(), &[("PORTCULLIS_DEFAULT_REALM", realm)]);

    let o = portcullis(dir.path())
        .args(["admin", "list-realms"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    assert_no_log_lines_in_stdout(&o);
    let table = String::from_utf8_lossy(&o.stdout);
    assert!(table.contains(realm), "{table}");
    assert_aligned(&table);

    let o = portcullis(dir.path())
        .args([
            "admin",
            "set-password",
            "--realm",
            realm,
            "--email",
            "nobody@example.com",
        ])
        .output()
        .unwrap();
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains(r#"user "nobody@example.com" not found"#),
        "{err}"
    );
    assert_no_log_lines_in_stdout(&o);
}

#[test]
fn a_bootstrap_password_that_breaks_a_rule_names_the_setting_and_the_rule() {
    let dir = tempfile::tempdir().unwrap();
    let o = run_to_exit(
        portcullis(dir.path())
            .env("PORTCULLIS_BIND", format!("127.0.0.1:{}", free_port()))
            .env("PORTCULLIS_BOOTSTRAP_ADMIN_PASSWORD", "tiny")
            .arg("serve"),
    );
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success(), "{}", text(&o));
    assert!(err.contains("PORTCULLIS_BOOTSTRAP_ADMIN_PASSWORD"), "{err}");
    assert!(err.contains("must be at least 8 characters"), "{err}");
    assert!(!text(&o).contains("tiny"), "the password is not shown");

    // From a file, the key and the file are named.
    let file = dir.path().join("portcullis.toml");
    std::fs::write(&file, "bootstrap_admin_password = \"password\"\n").unwrap();
    let o = run_to_exit(
        portcullis(dir.path())
            .env("PORTCULLIS_BIND", format!("127.0.0.1:{}", free_port()))
            .arg("--config")
            .arg(&file)
            .arg("serve"),
    );
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success(), "{}", text(&o));
    assert!(
        err.contains(&format!("bootstrap_admin_password in {}", file.display())),
        "{err}"
    );
    assert!(err.contains("most commonly used passwords"), "{err}");
}

#[test]
fn an_instance_whose_master_key_cannot_open_the_keys_refuses_to_start() {
    let dir = tempfile::tempdir().unwrap();
    // The first instance seals the realm's keys with the data directory's
    // master.key.
    bootstrap_through_serve(dir.path(), &[]);
    let other_key = "11".repeat(32);
    let port = free_port();
    let o = run_to_exit(
        portcullis(dir.path())
            .env("PORTCULLIS_BIND", format!("127.0.0.1:{port}"))
            .env("PORTCULLIS_MASTER_KEY", &other_key),
    );
    let out = text(&o);
    assert!(!o.status.success(), "{out}");
    assert!(
        out.contains("master key cannot open the signing key"),
        "{out}"
    );
    assert!(out.contains("of realm main"), "{out}");
    assert!(out.contains("PORTCULLIS_MASTER_KEY"), "{out}");
    assert!(
        std::net::TcpStream::connect(("127.0.0.1", port)).is_err(),
        "nothing listens"
    );
    // The admin commands open the same way and refuse as well.
    let o = portcullis(dir.path())
        .env("PORTCULLIS_MASTER_KEY", &other_key)
        .args(["admin", "list-realms"])
        .output()
        .unwrap();
    assert!(!o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("master key cannot open"), "{}", text(&o));
    // The right key, given explicitly, is accepted.
    let own = std::fs::read_to_string(dir.path().join("master.key")).unwrap();
    let o = portcullis(dir.path())
        .env("PORTCULLIS_MASTER_KEY", own.trim())
        .args(["admin", "list-realms"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
}

#[test]
fn a_redis_url_is_checked_and_an_unreachable_redis_does_not_stop_start_up() {
    let dir = tempfile::tempdir().unwrap();
    let o = portcullis(dir.path())
        .env("PORTCULLIS_REDIS_URL", "http://:hunter2-secret@cache:6379")
        .arg("migrate")
        .output()
        .unwrap();
    assert!(!o.status.success());
    assert!(text(&o).contains("PORTCULLIS_REDIS_URL"), "{}", text(&o));
    assert!(!text(&o).contains("hunter2-secret"), "{}", text(&o));
    // Nothing listens there: the instance starts, limiting per instance,
    // and connects once Redis answers.
    let url = format!("redis://127.0.0.1:{}/", free_port());
    bootstrap_through_serve(dir.path(), &[("PORTCULLIS_REDIS_URL", &url)]);
}

#[test]
fn sigterm_finishes_the_request_in_flight_and_refuses_new_connections() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let mut command = portcullis(dir.path());
    command
        .env("PORTCULLIS_BIND", format!("127.0.0.1:{port}"))
        .env(
            "PORTCULLIS_BOOTSTRAP_ADMIN_PASSWORD",
            "operator chosen secret",
        )
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let mut server = Running(command.spawn().unwrap());
    wait_ready(port);
    // A login whose body is still arriving when SIGTERM comes.
    let body = br#"{"email":"admin@portcullis.local","password":"operator chosen secret"}"#;
    let (first, rest) = body.split_at(20);
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    write!(
        stream,
        "POST /api/v1/auth/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )
    .unwrap();
    stream.write_all(first).unwrap();
    std::thread::sleep(Duration::from_millis(300));
    let status = Command::new("kill")
        .args(["-TERM", &server.0.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    // New connections are refused once the server has stopped accepting.
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
        assert!(Instant::now() < deadline, "still accepting after SIGTERM");
        std::thread::sleep(Duration::from_millis(20));
    }
    // The request in flight is answered whole.
    stream.write_all(rest).unwrap();
    let mut answer = String::new();
    use std::io::Read;
    stream.read_to_string(&mut answer).unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(answer.contains("access_token"), "{answer}");
    // And the server exits cleanly.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(status) = server.0.try_wait().unwrap() {
            assert!(status.success(), "graceful shutdown exits 0, got {status}");
            break;
        }
        assert!(Instant::now() < deadline, "server did not stop on SIGTERM");
        std::thread::sleep(Duration::from_millis(50));
    }
}
