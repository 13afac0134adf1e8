//! Child processes, signals and scratch directories shared by every command.
//!
//! Long-running children (test runs, servers, the load generator) run as a
//! [`Job`]: in a process group of their own, so that Ctrl-C or SIGTERM sent to
//! xtask reaches the whole tree through our handler, and xtask itself survives
//! long enough to stop its services and remove its temporary files.

use std::io::Read as _;
use std::net::{Ipv4Addr, TcpListener};
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context as _, Result, bail};
use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;

/// Set once the first SIGINT, SIGTERM or SIGHUP has arrived.
static INTERRUPTED: AtomicBool = AtomicBool::new(false);
/// Process groups of the running [`Job`]s, signalled by the handler.
static JOBS: Mutex<Vec<i32>> = Mutex::new(Vec::new());

/// Installs the handler for SIGINT, SIGTERM and SIGHUP.
///
/// The first signal sends SIGTERM to every running job's process group and
/// marks the run as interrupted; a second one sends SIGKILL. xtask keeps
/// running, so the guards of the services it started can stop them.
pub fn install_signal_handler() -> Result<()> {
    ctrlc::set_handler(|| {
        let again = INTERRUPTED.swap(true, Ordering::SeqCst);
        let signal = if again {
            Signal::SIGKILL
        } else {
            Signal::SIGTERM
        };
        eprintln!("\nxtask: interrupted: sending {signal} to child processes, then cleaning up");
        let groups = JOBS.lock().map(|g| g.clone()).unwrap_or_default();
        for group in groups {
            // The group may have exited meanwhile: nothing to do then.
            let _ = killpg(Pid::from_raw(group), signal);
        }
    })
    .context("installing the signal handler")
}

/// True once a termination signal has arrived.
pub fn interrupted() -> bool {
    INTERRUPTED.load(Ordering::SeqCst)
}

/// Fails if a termination signal has arrived, so that a long sequence stops.
pub fn check_interrupted() -> Result<()> {
    if interrupted() {
        bail!("interrupted");
    }
    Ok(())
}

/// A child process leading its own process group, registered with the
/// signal handler. Dropping it terminates the group.
pub struct Job {
    name: String,
    child: Child,
    exited: Option<ExitStatus>,
}

impl Job {
    /// Spawns `cmd` in a new process group.
    pub fn spawn(name: &str, cmd: &mut Command) -> Result<Self> {
        cmd.process_group(0);
        let child = cmd
            .spawn()
            .with_context(|| format!("starting {name}: {cmd:?}"))?;
        let group = i32::try_from(child.id()).context("process id out of range")?;
        if let Ok(mut jobs) = JOBS.lock() {
            jobs.push(group);
        }
        let job = Self {
            name: name.to_owned(),
            child,
            exited: None,
        };
        if interrupted() {
            // The handler ran before the group was registered.
            let _ = killpg(job.group(), Signal::SIGTERM);
        }
        Ok(job)
    }

    /// The operating system's id of the job's leader.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    fn group(&self) -> Pid {
        Pid::from_raw(i32::try_from(self.child.id()).unwrap_or(i32::MAX))
    }

    /// The child, e.g. to take its piped standard output.
    pub fn child_mut(&mut self) -> &mut Child {
        &mut self.child
    }

    /// Waits for the job's leader to exit.
    pub fn wait(&mut self) -> Result<ExitStatus> {
        if let Some(status) = self.exited {
            return Ok(status);
        }
        let status = self
            .child
            .wait()
            .with_context(|| format!("waiting for {}", self.name))?;
        self.exited = Some(status);
        Ok(status)
    }

    /// The exit status if the leader has exited, without blocking.
    pub fn try_wait(&mut self) -> Result<Option<ExitStatus>> {
        if self.exited.is_none() {
            self.exited = self
                .child
                .try_wait()
                .with_context(|| format!("checking on {}", self.name))?;
        }
        Ok(self.exited)
    }

    /// Sends SIGTERM to the group, waits up to `grace` for the leader to
    /// exit, then sends SIGKILL. Does nothing if it has already exited.
    pub fn terminate(&mut self, grace: Duration) -> Result<()> {
        if self.try_wait()?.is_some() {
            return Ok(());
        }
        let _ = killpg(self.group(), Signal::SIGTERM);
        let deadline = Instant::now() + grace;
        while Instant::now() < deadline {
            if self.try_wait()?.is_some() {
                return Ok(());
            }
            thread::sleep(Duration::from_millis(20));
        }
        eprintln!(
            "xtask: {} did not stop within {grace:?}: killing it",
            self.name
        );
        let _ = killpg(self.group(), Signal::SIGKILL);
        self.wait().map(|_| ())
    }
}

impl Drop for Job {
    fn drop(&mut self) {
        if let Err(err) = self.terminate(Duration::from_secs(10)) {
            eprintln!("xtask: stopping {}: {err:#}", self.name);
        }
        let group = i32::try_from(self.child.id()).unwrap_or(i32::MAX);
        if let Ok(mut jobs) = JOBS.lock() {
            jobs.retain(|g| *g != group);
        }
    }
}

/// Runs a short command to completion with inherited output; fails unless it
/// exits successfully.
pub fn run(cmd: &mut Command) -> Result<()> {
    let status = cmd
        .stdin(Stdio::null())
        .status()
        .with_context(|| format!("running {cmd:?}"))?;
    if !status.success() {
        bail!("{cmd:?} failed: {status}");
    }
    Ok(())
}

/// Runs a short command with captured output, which is printed only if it
/// fails.
pub fn run_quiet(cmd: &mut Command) -> Result<()> {
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("running {cmd:?}"))?;
    if !out.status.success() {
        eprintln!("{}", String::from_utf8_lossy(&out.stdout));
        eprintln!("{}", String::from_utf8_lossy(&out.stderr));
        bail!("{cmd:?} failed: {}", out.status);
    }
    Ok(())
}

/// Whether a command runs and exits successfully, its output discarded.
pub fn succeeds(cmd: &mut Command) -> bool {
    cmd.stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// A loopback TCP port that was free a moment ago.
pub fn free_port() -> Result<u16> {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .context("binding 127.0.0.1:0 to pick a port")?;
    Ok(listener
        .local_addr()
        .context("reading the bound port")?
        .port())
}

/// Finds an executable on `PATH`.
pub fn which(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file())
}

/// True when running as root.
pub fn is_root() -> bool {
    nix::unistd::geteuid().is_root()
}

/// A fresh directory under the system's temporary directory, removed with
/// everything in it when dropped.
pub struct TempDir {
    path: PathBuf,
}

impl TempDir {
    /// Creates `<tmp>/<prefix>-<pid>-<unique>`.
    pub fn new(prefix: &str) -> Result<Self> {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let base = std::env::temp_dir();
        for _ in 0..100 {
            let nanos = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|d| d.subsec_nanos())
                .unwrap_or_default();
            let n = COUNTER.fetch_add(1, Ordering::Relaxed);
            let path = base.join(format!("{prefix}-{}-{nanos:x}{n}", std::process::id()));
            match std::fs::create_dir(&path) {
                Ok(()) => return Ok(Self { path }),
                Err(err) if err.kind() == std::io::ErrorKind::AlreadyExists => continue,
                Err(err) => {
                    return Err(err).with_context(|| format!("creating {}", path.display()));
                }
            }
        }
        bail!(
            "could not create a unique directory under {}",
            base.display()
        )
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        if let Err(err) = std::fs::remove_dir_all(&self.path) {
            eprintln!("xtask: removing {}: {err}", self.path.display());
        }
    }
}

/// The last `max` bytes of a log file, for error messages.
pub fn tail(path: &Path, max: usize) -> String {
    let mut text = String::new();
    match std::fs::File::open(path) {
        Ok(mut file) => {
            let mut bytes = Vec::new();
            if file.read_to_end(&mut bytes).is_ok() {
                let start = bytes.len().saturating_sub(max);
                text = String::from_utf8_lossy(bytes.get(start..).unwrap_or_default()).into_owned();
            }
        }
        Err(err) => text = format!("(cannot read {}: {err})", path.display()),
    }
    text
}

/// Random bytes from the kernel, as lower-case hex.
pub fn random_hex(bytes: usize) -> Result<String> {
    let mut buf = vec![0u8; bytes];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut buf))
        .context("reading /dev/urandom")?;
    Ok(buf.iter().map(|b| format!("{b:02x}")).collect())
}

/// The workspace root (the parent of this crate's directory).
pub fn workspace_root() -> PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest.parent().unwrap_or(manifest).to_path_buf()
}

/// Cargo's target directory (`CARGO_TARGET_DIR` or `<root>/target`).
pub fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .map(|p| {
            if p.is_absolute() {
                p
            } else {
                workspace_root().join(p)
            }
        })
        .unwrap_or_else(|| workspace_root().join("target"))
}

/// A `cargo` command (the one that runs us, if any) in the workspace root.
pub fn cargo() -> Command {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.current_dir(workspace_root());
    cmd
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn temp_dir_is_created_and_removed() {
        let dir = TempDir::new("xtask-selftest").unwrap();
        let path = dir.path().to_path_buf();
        std::fs::write(path.join("f"), b"x").unwrap();
        assert!(path.is_dir());
        drop(dir);
        assert!(!path.exists());
    }

    #[test]
    fn free_port_is_nonzero() {
        assert_ne!(free_port().unwrap(), 0);
    }
}
