//! The real `portcullis` server binary, run on a free loopback port for a
//! benchmark or the end-to-end suites and stopped afterwards.

use std::fs::File;
use std::io::{Read as _, Write as _};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail};

use crate::process::{Job, check_interrupted, free_port, tail};

/// How long start-up (including migrations) may take.
const READY_TIMEOUT: Duration = Duration::from_secs(120);
/// The bootstrap administrator's e-mail address.
pub const ADMIN_EMAIL: &str = "admin@portcullis.test";

/// `http://{host}:{port}`, the host being `addr`'s IP unless named.
pub fn public_url(addr: SocketAddr, host: Option<&str>) -> String {
    match host {
        Some(host) => format!("http://{host}:{}", addr.port()),
        None => format!("http://{addr}"),
    }
}

/// A running server, stopped when dropped.
pub struct Server {
    job: Job,
    addr: SocketAddr,
    log: PathBuf,
}

impl Server {
    /// Starts `binary serve` with its data in `data_dir` and its database at
    /// `database_url`, logging warnings only, and waits until
    /// `GET /health/ready` answers 200.
    pub fn start(
        binary: &Path,
        data_dir: &Path,
        database_url: &str,
        admin_password: &str,
    ) -> Result<Self> {
        Self::start_logging(
            binary,
            data_dir,
            database_url,
            admin_password,
            "warn",
            None,
            &[],
        )
    }

    /// [`Server::start`] with another `PORTCULLIS_LOG_LEVEL`, and a public
    /// URL naming `public_host` (such as `localhost`, which WebAuthn needs:
    /// it refuses IP addresses) instead of the loopback address it listens
    /// on. The server's public URL is `http://{host}:{port}`, so its issuers
    /// are `http://{host}:{port}/realms/{realm}`; its output goes to
    /// `data_dir/server.log`. `settings` are more `PORTCULLIS_*` variables
    /// (such as the SMTP server's URL).
    pub fn start_logging(
        binary: &Path,
        data_dir: &Path,
        database_url: &str,
        admin_password: &str,
        log_level: &str,
        public_host: Option<&str>,
        settings: &[(&str, &str)],
    ) -> Result<Self> {
        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, free_port()?));
        let log = data_dir.join("server.log");
        let out = File::create(&log).with_context(|| format!("creating {}", log.display()))?;
        let err = out.try_clone().context("duplicating the log file")?;
        let mut cmd = Command::new(binary);
        cmd.arg("serve")
            .current_dir(data_dir)
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err);
        // Only the settings below: none inherited from the caller's shell.
        for (key, _) in std::env::vars_os() {
            if key.to_string_lossy().starts_with("PORTCULLIS_") {
                cmd.env_remove(key);
            }
        }
        cmd.env("PORTCULLIS_BIND", addr.to_string())
            .env("PORTCULLIS_PUBLIC_URL", public_url(addr, public_host))
            .env("PORTCULLIS_DATA_DIR", data_dir)
            .env("PORTCULLIS_DATABASE_URL", database_url)
            .env("PORTCULLIS_BOOTSTRAP_ADMIN_EMAIL", ADMIN_EMAIL)
            .env("PORTCULLIS_BOOTSTRAP_ADMIN_PASSWORD", admin_password)
            .env("PORTCULLIS_LOG_LEVEL", log_level)
            .envs(settings.iter().copied());
        let job = Job::spawn("portcullis serve", &mut cmd)?;
        let mut server = Self { job, addr, log };
        if let Err(err) = server.wait_ready() {
            eprintln!(
                "--- server log ({}) ---\n{}",
                server.log.display(),
                tail(&server.log, 4000)
            );
            return Err(err);
        }
        Ok(server)
    }

    /// The address the server listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The file that holds the server's output.
    pub fn log(&self) -> &Path {
        &self.log
    }

    /// CPU time the server has used so far, in clock ticks (`utime` +
    /// `stime` of /proc/PID/stat).
    pub fn cpu_ticks(&self) -> Result<u64> {
        let file = format!("/proc/{}/stat", self.job.pid());
        let stat = std::fs::read_to_string(&file).with_context(|| format!("reading {file}"))?;
        // The command name may hold spaces: fields count from after its ')'.
        let fields: Vec<&str> = stat
            .rsplit_once(')')
            .map(|(_, rest)| rest.split_whitespace().collect())
            .unwrap_or_default();
        let field = |n: usize| fields.get(n).and_then(|v| v.parse::<u64>().ok());
        // utime and stime are fields 14 and 15; after ')' they are the 12th and 13th.
        field(11)
            .zip(field(12))
            .map(|(u, s)| u + s)
            .with_context(|| format!("no CPU times in {file}"))
    }

    /// The server's resident set size in KiB (`VmRSS` in /proc).
    pub fn rss_kib(&self) -> Result<u64> {
        let file = format!("/proc/{}/status", self.job.pid());
        let status = std::fs::read_to_string(&file).with_context(|| format!("reading {file}"))?;
        status
            .lines()
            .find_map(|line| line.strip_prefix("VmRSS:"))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|kib| kib.parse().ok())
            .with_context(|| format!("no VmRSS in {file}"))
    }

    /// Stops the server (SIGTERM, then SIGKILL after a grace period).
    pub fn stop(mut self) -> Result<()> {
        self.job.terminate(Duration::from_secs(10))
    }

    fn wait_ready(&mut self) -> Result<()> {
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            check_interrupted()?;
            if let Some(status) = self.job.try_wait()? {
                bail!("the server exited during start-up: {status}");
            }
            let last = match http_get_status(self.addr, "/health/ready") {
                Ok(200) => return Ok(()),
                Ok(status) => format!("status {status}"),
                Err(err) => format!("{err:#}"),
            };
            if Instant::now() > deadline {
                bail!(
                    "the server was not ready after {READY_TIMEOUT:?} (GET /health/ready: {last})"
                );
            }
            thread::sleep(Duration::from_millis(50));
        }
    }
}

/// The status code of `GET path`, over a fresh connection.
fn http_get_status(addr: SocketAddr, path: &str) -> Result<u16> {
    let mut stream =
        TcpStream::connect_timeout(&addr, Duration::from_secs(1)).context("connecting")?;
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .context("read timeout")?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .context("sending")?;
    let mut head = [0u8; 64];
    let mut len = 0;
    while len < head.len() {
        let n = stream
            .read(head.get_mut(len..).unwrap_or_default())
            .context("reading")?;
        if n == 0 {
            break;
        }
        len += n;
    }
    let text = String::from_utf8_lossy(head.get(..len).unwrap_or_default()).into_owned();
    // "HTTP/1.1 200 OK"
    text.split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .with_context(|| format!("not an HTTP response: {text:?}"))
}
