//! Installing Debian packages the services need, on a machine that lacks them.

use std::process::Command;

use anyhow::{Context as _, Result, bail};

use crate::process::{is_root, run, succeeds, which};

/// Installs `packages` with apt-get (`apt-get update` first), as root or
/// through `sudo -n`. Fails with an explanation when neither is possible.
pub fn ensure_packages(packages: &[&str], why: &str) -> Result<()> {
    let list = packages.join(" ");
    if which("apt-get").is_none() {
        bail!("{why}, and this machine has no apt-get: install {list} yourself");
    }
    let sudo = if is_root() {
        false
    } else if which("sudo").is_some() && succeeds(Command::new("sudo").args(["-n", "true"])) {
        true
    } else {
        bail!(
            "{why}; installing it needs root, and `sudo -n` is not available: \
             run `sudo apt-get install {list}` (or re-run as root)"
        );
    };
    let apt = |args: &[&str]| {
        let mut cmd = if sudo {
            let mut cmd = Command::new("sudo");
            cmd.args(["-n", "env", "DEBIAN_FRONTEND=noninteractive", "apt-get"]);
            cmd
        } else {
            let mut cmd = Command::new("apt-get");
            cmd.env("DEBIAN_FRONTEND", "noninteractive");
            cmd
        };
        cmd.args(args);
        cmd
    };
    eprintln!("xtask: {why}: installing {list} with apt-get");
    run(&mut apt(&["update"])).context("apt-get update")?;
    let mut install = apt(&["install", "-y", "--no-install-recommends"]);
    install.args(packages);
    run(&mut install).with_context(|| format!("apt-get install {list}"))
}
