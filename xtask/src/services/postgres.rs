//! A throwaway PostgreSQL cluster: initdb in a fresh temporary directory,
//! started on a free loopback port with durability turned off, and removed
//! when stopped. Never touches a system cluster (Debian's on 5432).

use std::fs;
use std::os::unix::fs::chown;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail};
use nix::sys::signal::{Signal, kill};
use nix::unistd::{Pid, User};

use super::{Service, apt};
use crate::process::{TempDir, check_interrupted, free_port, is_root, run_quiet, tail, which};

/// How long the server may take to accept connections.
const START_TIMEOUT: Duration = Duration::from_secs(60);
/// Attempts with a new port when the picked one was taken meanwhile.
const START_ATTEMPTS: u32 = 3;
/// The superuser, trusted on loopback.
const SUPERUSER: &str = "postgres";

/// A running throwaway cluster, stopped and deleted when dropped.
pub struct Postgres {
    bin: PathBuf,
    /// Runs the server tools as this system user (when we are root).
    run_as: Option<User>,
    port: u16,
    running: bool,
    /// Holds `data/`, the socket and `postgres.log`; dropped last.
    dir: TempDir,
}

impl Postgres {
    /// Installs PostgreSQL if needed, then creates and starts a cluster.
    pub fn start() -> Result<Self> {
        let bin = ensure_installed()?;
        let run_as = if is_root() {
            let user = User::from_name(SUPERUSER)
                .context("looking up the postgres user")?
                .context(
                    "running as root, initdb needs the `postgres` system user \
                     (created by Debian's postgresql package)",
                )?;
            Some(user)
        } else {
            None
        };
        let dir = TempDir::new("portcullis-pg")?;
        if let Some(user) = &run_as {
            chown(dir.path(), Some(user.uid.as_raw()), Some(user.gid.as_raw()))
                .with_context(|| format!("chown {} to postgres", dir.path().display()))?;
        }
        if dir.path().to_string_lossy().contains('\'') {
            bail!("temporary directory {} has a quote", dir.path().display());
        }
        let mut pg = Self {
            bin,
            run_as,
            port: 0,
            running: false,
            dir,
        };
        eprintln!(
            "xtask: PostgreSQL ({}) cluster in {}",
            pg.bin.display(),
            pg.dir.path().display()
        );
        pg.initdb()?;
        pg.start_server()?;
        eprintln!("xtask: PostgreSQL ready at {}", pg.url());
        Ok(pg)
    }

    /// The superuser's URL of the `postgres` database.
    pub fn url(&self) -> String {
        format!("postgres://{SUPERUSER}@127.0.0.1:{}/postgres", self.port)
    }

    fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    fn log_file(&self) -> PathBuf {
        self.dir.path().join("postgres.log")
    }

    /// A command for one of the server's tools, as the postgres user if needed.
    fn tool(&self, name: &str) -> Command {
        let exe = self.bin.join(name);
        let mut cmd = match &self.run_as {
            Some(user) => {
                let mut cmd = Command::new("runuser");
                cmd.args(["-u", &user.name, "--"]).arg(exe);
                cmd
            }
            None => Command::new(exe),
        };
        cmd.current_dir(self.dir.path());
        for var in [
            "PGDATA",
            "PGHOST",
            "PGPORT",
            "PGUSER",
            "PGDATABASE",
            "PGOPTIONS",
        ] {
            cmd.env_remove(var);
        }
        cmd
    }

    fn initdb(&self) -> Result<()> {
        let data = self.data_dir();
        let attempt = |locale: &[&str]| {
            let mut cmd = self.tool("initdb");
            cmd.arg("-D")
                .arg(&data)
                .args(["-A", "trust", "-U", SUPERUSER, "--no-sync", "-E", "UTF8"])
                .args(locale);
            run_quiet(&mut cmd)
        };
        if attempt(&["--locale=C.UTF-8"]).is_ok() {
            return Ok(());
        }
        check_interrupted()?;
        eprintln!("xtask: initdb with C.UTF-8 failed; retrying with the C locale");
        if data.exists() {
            fs::remove_dir_all(&data).with_context(|| format!("removing {}", data.display()))?;
        }
        attempt(&["--no-locale"]).with_context(|| match &self.run_as {
            Some(user) => format!(
                "initdb as {} failed: can that user reach {}? (set TMPDIR to a directory it can)",
                user.name,
                self.dir.path().display()
            ),
            None => "initdb failed".to_owned(),
        })
    }

    fn start_server(&mut self) -> Result<()> {
        for attempt in 1..=START_ATTEMPTS {
            check_interrupted()?;
            self.port = free_port()?;
            let options = format!(
                "-c listen_addresses=127.0.0.1 -p {port} -k '{dir}' -c fsync=off \
                 -c synchronous_commit=off -c full_page_writes=off -c max_connections=300",
                port = self.port,
                dir = self.dir.path().display(),
            );
            let mut cmd = self.tool("pg_ctl");
            cmd.arg("-D")
                .arg(self.data_dir())
                .arg("-l")
                .arg(self.log_file())
                .args(["-o", &options, "-s", "-w", "-t"])
                .arg(START_TIMEOUT.as_secs().to_string())
                .arg("start");
            // pg_ctl polls until the server is up or has died; it may still be
            // running when pg_ctl fails (timeout), so stop it on any failure.
            self.running = true;
            let started = run_quiet(&mut cmd).context("pg_ctl start");
            match started.and_then(|()| self.wait_ready()) {
                Ok(()) => return Ok(()),
                Err(err) => {
                    let log = tail(&self.log_file(), 4000);
                    let _ = self.stop_server();
                    if attempt < START_ATTEMPTS && log.contains("could not bind") {
                        eprintln!("xtask: port {} was taken; trying another", self.port);
                        continue;
                    }
                    eprintln!(
                        "--- PostgreSQL log ({}) ---\n{log}",
                        self.log_file().display()
                    );
                    return Err(err);
                }
            }
        }
        bail!("PostgreSQL did not start after {START_ATTEMPTS} attempts")
    }

    /// Polls `pg_isready` on the TCP port until it accepts connections or
    /// time runs out (pg_ctl has already seen the server start).
    fn wait_ready(&self) -> Result<()> {
        let deadline = Instant::now() + START_TIMEOUT;
        let port = self.port.to_string();
        loop {
            check_interrupted()?;
            let status = Command::new(self.bin.join("pg_isready"))
                .args([
                    "-q",
                    "-h",
                    "127.0.0.1",
                    "-p",
                    &port,
                    "-U",
                    SUPERUSER,
                    "-d",
                    "postgres",
                ])
                .args(["-t", "2"])
                .status()
                .context("running pg_isready")?;
            match status.code() {
                Some(0) => return Ok(()),
                // 1: rejecting (starting up), 2: no response yet.
                Some(1 | 2) => {}
                _ => bail!("pg_isready failed: {status}"),
            }
            if Instant::now() > deadline {
                bail!("PostgreSQL not ready after {START_TIMEOUT:?}");
            }
            thread::sleep(Duration::from_millis(50));
        }
    }

    /// Stops the server: fast shutdown, then immediate, then SIGKILL.
    fn stop_server(&mut self) -> Result<()> {
        if !self.running {
            return Ok(());
        }
        let data = self.data_dir();
        for mode in ["fast", "immediate"] {
            let mut cmd = self.tool("pg_ctl");
            cmd.arg("-D")
                .arg(&data)
                .args(["-m", mode, "-s", "-w", "-t", "30", "stop"]);
            if run_quiet(&mut cmd).is_ok() {
                self.running = false;
                return Ok(());
            }
            if !data.join("postmaster.pid").exists() {
                // Never started, or already gone.
                self.running = false;
                return Ok(());
            }
        }
        let pid = postmaster_pid(&data)?;
        kill(pid, Signal::SIGKILL).with_context(|| format!("killing postmaster {pid}"))?;
        self.running = false;
        Ok(())
    }
}

/// The postmaster's process id, from the first line of `postmaster.pid`.
fn postmaster_pid(data: &Path) -> Result<Pid> {
    let file = data.join("postmaster.pid");
    let text = fs::read_to_string(&file).with_context(|| format!("reading {}", file.display()))?;
    let pid: i32 = text
        .lines()
        .next()
        .unwrap_or_default()
        .trim()
        .parse()
        .with_context(|| format!("parsing {}", file.display()))?;
    Ok(Pid::from_raw(pid))
}

impl Service for Postgres {
    fn name(&self) -> &'static str {
        "postgres"
    }

    fn env(&self) -> Vec<(String, String)> {
        vec![
            ("TEST_POSTGRES_URL".to_owned(), self.url()),
            ("TEST_REQUIRE_POSTGRES".to_owned(), "1".to_owned()),
        ]
    }

    fn stop(&mut self) -> Result<()> {
        let was_running = self.running;
        self.stop_server()?;
        if was_running {
            eprintln!("xtask: PostgreSQL stopped");
        }
        Ok(())
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        if let Err(err) = self.stop_server() {
            eprintln!("xtask: stopping PostgreSQL: {err:#}");
        }
        // `dir` is removed after this, when the fields drop.
    }
}

/// The directory with `initdb`, `pg_ctl` and `postgres`, installing Debian's
/// `postgresql` package if none is found.
fn ensure_installed() -> Result<PathBuf> {
    if let Some(bin) = find_bin_dir() {
        return Ok(bin);
    }
    apt::ensure_packages(
        &["postgresql"],
        "PostgreSQL (initdb, pg_ctl) is not installed",
    )?;
    find_bin_dir()
        .context("postgresql was installed, but no initdb found in /usr/lib/postgresql/*/bin")
}

/// `initdb` on `PATH` (resolving symlinks), else the newest
/// `/usr/lib/postgresql/<version>/bin`.
fn find_bin_dir() -> Option<PathBuf> {
    let complete = |dir: &Path| {
        ["initdb", "pg_ctl", "postgres", "pg_isready"]
            .iter()
            .all(|tool| dir.join(tool).is_file())
    };
    if let Some(initdb) = which("initdb") {
        let dir = fs::canonicalize(initdb)
            .ok()
            .and_then(|p| p.parent().map(Path::to_path_buf));
        if let Some(dir) = dir.filter(|d| complete(d)) {
            return Some(dir);
        }
    }
    let mut versions: Vec<(Vec<u32>, PathBuf)> = fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|entry| {
            let entry = entry.ok()?;
            let version = entry
                .file_name()
                .to_str()?
                .split('.')
                .map(str::parse)
                .collect::<Result<Vec<u32>, _>>()
                .ok()?;
            Some((version, entry.path().join("bin")))
        })
        .filter(|(_, bin)| complete(bin))
        .collect();
    versions.sort();
    versions.pop().map(|(_, bin)| bin)
}
