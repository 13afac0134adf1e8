//! The master key that encrypts secrets at rest, and private files.

use std::io::Write;
use std::path::Path;

use anyhow::Context;
use portcullis_crypto::MasterKey;
use secrecy::ExposeSecret;

use crate::config::Config;

/// The configured master key, or the key file in the data directory, created
/// (mode 0600) when absent.
pub fn load_or_create(config: &Config) -> anyhow::Result<MasterKey> {
    if let Some(text) = &config.master_key {
        return MasterKey::parse(text.expose_secret())
            .map_err(|_| anyhow::anyhow!("PORTCULLIS_MASTER_KEY is not a valid 32-byte key"));
    }
    let path = config.data_dir.join("master.key");
    if path.exists() {
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("cannot read the master key file {}", path.display()))?;
        return MasterKey::parse(&text)
            .map_err(|_| anyhow::anyhow!("{} does not hold a valid 32-byte key", path.display()));
    }
    create_data_dir(&config.data_dir)?;
    let key = MasterKey::generate();
    write_private_file(&path, format!("{}\n", key.to_base64()).as_bytes())?;
    tracing::warn!(
        file = %path.display(),
        "created a new master key; back it up: without it, stored keys and secrets cannot be decrypted"
    );
    Ok(key)
}

/// Creates the data directory (and parents) if missing, accessible only by its
/// owner (0700): it holds the database and the master key.
pub fn create_data_dir(dir: &Path) -> anyhow::Result<()> {
    if dir.is_dir() {
        return Ok(());
    }
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder
        .create(dir)
        .with_context(|| format!("cannot create the data directory {}", dir.display()))
}

/// Creates a file readable only by its owner (0600) and writes it; refuses to
/// overwrite an existing file.
pub fn write_private_file(path: &Path, contents: &[u8]) -> anyhow::Result<()> {
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts
        .open(path)
        .with_context(|| format!("cannot create {}", path.display()))?;
    f.write_all(contents)
        .with_context(|| format!("cannot write {}", path.display()))?;
    Ok(())
}

/// Writes straight to the controlling terminal (not stdout or stderr, which may
/// be a log file). Returns false when there is no terminal.
pub fn write_to_terminal(text: &str) -> bool {
    match std::fs::OpenOptions::new().write(true).open("/dev/tty") {
        Ok(mut tty) => tty.write_all(text.as_bytes()).is_ok(),
        Err(_) => false,
    }
}
