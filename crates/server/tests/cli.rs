//! The `portcullis` binary as an operator runs it.
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
    let port = free_port();
    let mut server = Running(
        portcullis(dir.path())
            .env("PORTCULLIS_BIND", format!("127.0.0.1:{port}"))
            .env(
                "PORTCULLIS_BOOTSTRAP_ADMIN_PASSWORD",
                "operator chosen secret",
            )
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    wait_ready(port);
    terminate(&mut server);

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
    let mut server = Running(
        portcullis(dir.path())
            .env("PORTCULLIS_BIND", format!("127.0.0.1:{port}"))
            .stdout(std::fs::File::create(&log).unwrap())
            .stderr(Stdio::null())
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
