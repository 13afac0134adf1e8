//! A throwaway Redis server: Debian's `redis-server` (installed when
//! missing) on a free loopback port, nothing saved to disk, its working
//! directory a fresh temporary one, stopped and removed afterwards. Never
//! touches a system Redis (Debian's on 6379).

use std::io::{Read as _, Write as _};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail};

use super::{Service, apt};
use crate::process::{Job, TempDir, check_interrupted, free_port, tail, which};

/// How long the server may take to answer `PING`.
const START_TIMEOUT: Duration = Duration::from_secs(30);
/// Attempts with a new port when the picked one was taken meanwhile.
const START_ATTEMPTS: u32 = 3;

/// A running throwaway server, stopped and deleted when dropped.
pub struct Redis {
    port: u16,
    job: Option<Job>,
    /// Holds `redis.log`; dropped last.
    dir: TempDir,
}

impl Redis {
    /// Installs Redis if needed, then starts a server.
    pub fn start() -> Result<Self> {
        let bin = ensure_installed()?;
        let dir = TempDir::new("portcullis-redis")?;
        let mut redis = Self {
            port: 0,
            job: None,
            dir,
        };
        for attempt in 1..=START_ATTEMPTS {
            check_interrupted()?;
            redis.port = free_port()?;
            let log = redis.log_file();
            let mut cmd = Command::new(&bin);
            cmd.current_dir(redis.dir.path())
                .args(["--bind", "127.0.0.1", "--port"])
                .arg(redis.port.to_string())
                .args(["--save", "", "--appendonly", "no", "--daemonize", "no"])
                .args(["--protected-mode", "yes", "--dir"])
                .arg(redis.dir.path())
                .arg("--logfile")
                .arg(&log)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null());
            redis.job = Some(Job::spawn("redis-server", &mut cmd)?);
            match redis.wait_ready() {
                Ok(()) => {
                    eprintln!("xtask: Redis ready at {}", redis.url());
                    return Ok(redis);
                }
                Err(err) => {
                    let text = tail(&log, 4000);
                    redis.stop_server()?;
                    if attempt < START_ATTEMPTS && text.contains("Address already in use") {
                        eprintln!("xtask: port {} was taken; trying another", redis.port);
                        continue;
                    }
                    eprintln!("--- Redis log ({}) ---\n{text}", log.display());
                    return Err(err);
                }
            }
        }
        bail!("Redis did not start after {START_ATTEMPTS} attempts")
    }

    /// The server's URL.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    fn log_file(&self) -> PathBuf {
        self.dir.path().join("redis.log")
    }

    /// Sends `PING` until the server answers `+PONG`, it exits, or time runs out.
    fn wait_ready(&mut self) -> Result<()> {
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            check_interrupted()?;
            if let Some(job) = self.job.as_mut()
                && let Some(status) = job.try_wait()?
            {
                bail!("redis-server exited: {status}");
            }
            if ping(self.port) {
                return Ok(());
            }
            if Instant::now() > deadline {
                bail!("Redis not ready after {START_TIMEOUT:?}");
            }
            thread::sleep(Duration::from_millis(30));
        }
    }

    fn stop_server(&mut self) -> Result<()> {
        match self.job.take() {
            Some(mut job) => job.terminate(Duration::from_secs(10)),
            None => Ok(()),
        }
    }
}

/// Whether a Redis server on the loopback port answers `PING`.
pub fn ping(port: u16) -> bool {
    let answer = || -> std::io::Result<bool> {
        let mut s = TcpStream::connect(("127.0.0.1", port))?;
        s.set_read_timeout(Some(Duration::from_secs(1)))?;
        s.write_all(b"PING\r\n")?;
        let mut buf = [0u8; 7];
        s.read_exact(&mut buf)?;
        Ok(&buf == b"+PONG\r\n")
    };
    answer().unwrap_or(false)
}

impl Service for Redis {
    fn name(&self) -> &'static str {
        "redis"
    }

    fn env(&self) -> Vec<(String, String)> {
        vec![
            ("TEST_REDIS_URL".to_owned(), self.url()),
            ("TEST_REQUIRE_REDIS".to_owned(), "1".to_owned()),
        ]
    }

    fn stop(&mut self) -> Result<()> {
        let was_running = self.job.is_some();
        self.stop_server()?;
        if was_running {
            eprintln!("xtask: Redis stopped");
        }
        Ok(())
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        if let Err(err) = self.stop_server() {
            eprintln!("xtask: stopping Redis: {err:#}");
        }
    }
}

/// `redis-server`, installing Debian's package if it is not on `PATH`.
fn ensure_installed() -> Result<PathBuf> {
    if let Some(bin) = which("redis-server") {
        return Ok(bin);
    }
    apt::ensure_packages(&["redis-server"], "Redis (redis-server) is not installed")?;
    which("redis-server").context("redis-server was installed, but it is not on PATH")
}
