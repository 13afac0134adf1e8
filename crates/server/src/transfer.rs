//! `portcullis admin export` and `portcullis admin import`: a realm to and
//! from a file, with the operator's rights, progress on the terminal.

use portcullis_core::clock::Stopwatch;
use std::io::Write as _;
use std::path::Path;

use anyhow::Context as _;
use portcullis_core::Portcullis;
use portcullis_core::transfer::{
    Caller, ExportOptions, ImportOptions, Importer, LineReader, LineReport, Outcome, ReadLine,
    convert,
};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

/// The input formats `import` reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum InputFormat {
    /// Portcullis JSON Lines (docs/import-export.md).
    Portcullis,
    /// A Keycloak realm export (`realm-export.json`).
    Keycloak,
    /// An Auth0 bulk-import file (a JSON array of users).
    Auth0,
    /// CSV with a header row: email, name, password_hash.
    Csv,
}

/// Writes `realm` to `output` (standard output when `None`); returns the
/// number of users.
pub async fn export(
    core: &Portcullis,
    realm: &str,
    output: Option<&Path>,
    factors: bool,
) -> anyhow::Result<u64> {
    let transfer = core.transfer();
    let mut export = transfer
        .export(Caller::Operator, realm, ExportOptions { factors })
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let mut out: Box<dyn tokio::io::AsyncWrite + Unpin + Send> = match output {
        Some(p) => Box::new(tokio::io::BufWriter::new(
            tokio::fs::File::create(p)
                .await
                .with_context(|| format!("cannot create {}", p.display()))?,
        )),
        None => Box::new(tokio::io::BufWriter::new(tokio::io::stdout())),
    };
    let mut lines = 0u64;
    while let Some(chunk) = export
        .next_chunk()
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?
    {
        lines += chunk.iter().filter(|&&b| b == b'\n').count() as u64;
        out.write_all(&chunk).await?;
    }
    out.flush().await?;
    Ok(lines)
}

/// Progress and the report file.
struct Sink {
    report: Option<std::io::BufWriter<std::fs::File>>,
    started: Stopwatch,
    last: Stopwatch,
}

impl Sink {
    fn take(&mut self, importer: &Importer<'_>, reports: Vec<LineReport>) -> anyhow::Result<()> {
        for r in reports {
            if let Some(w) = &mut self.report {
                serde_json::to_writer(&mut *w, &r)?;
                w.write_all(b"\n")?;
            } else if r.outcome == Outcome::Refused {
                eprintln!(
                    "line {}: refused: {}: {}",
                    r.line,
                    r.field.as_deref().unwrap_or("line"),
                    r.reason.as_deref().unwrap_or("")
                );
            }
        }
        if self.last.elapsed().as_millis() >= 500 {
            self.last = Stopwatch::start();
            let s = importer.summary();
            let rate = s.lines as f64 / self.started.elapsed().as_secs_f64().max(0.001);
            eprint!(
                "\r{} lines: {} created, {} updated, {} refused ({rate:.0} lines/s)   ",
                s.lines, s.created, s.updated, s.refused
            );
        }
        Ok(())
    }
}

/// Imports `file` into `realm`; returns the summary as JSON.
pub async fn import(
    core: &Portcullis,
    realm: &str,
    file: &Path,
    format: InputFormat,
    dry_run: bool,
    report: Option<&Path>,
) -> anyhow::Result<serde_json::Value> {
    let transfer = core.transfer();
    let mut importer = transfer
        .importer(Caller::Operator, realm, ImportOptions { dry_run })
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let mut sink = Sink {
        report: match report {
            Some(p) => Some(std::io::BufWriter::new(
                std::fs::File::create(p)
                    .with_context(|| format!("cannot create {}", p.display()))?,
            )),
            None => None,
        },
        started: Stopwatch::start(),
        last: Stopwatch::start(),
    };
    let input = tokio::fs::File::open(file)
        .await
        .with_context(|| format!("cannot open {}", file.display()))?;
    let reader = BufReader::with_capacity(256 * 1024, input);
    match format {
        InputFormat::Portcullis => {
            let mut lines = LineReader::new(reader);
            while let Some(line) = lines.next().await? {
                let reports = match line {
                    ReadLine::Line(n, bytes) => importer.line(n, &bytes).await,
                    ReadLine::TooLong(n) => importer.too_long(n),
                };
                sink.take(&importer, reports)?;
            }
        }
        InputFormat::Csv => {
            let mut lines = reader.lines();
            let header = lines.next_line().await?.unwrap_or_default();
            let cols = convert::csv_header(&header)
                .map_err(|e| anyhow::anyhow!("line 1: {}: {}", e.field, e.reason))?;
            let mut n = 1;
            while let Some(line) = lines.next_line().await? {
                n += 1;
                if line.trim().is_empty() {
                    continue;
                }
                let reports = match convert::csv_user(&cols, &line) {
                    Ok(rec) => importer.record(n, rec).await,
                    Err(e) => vec![LineReport::refused(n, Some("user"), e)],
                };
                sink.take(&importer, reports)?;
            }
        }
        InputFormat::Keycloak | InputFormat::Auth0 => {
            let text = tokio::fs::read(file).await?;
            let value: serde_json::Value =
                serde_json::from_slice(&text).context("the file is not valid JSON")?;
            drop(text);
            let records = match format {
                InputFormat::Keycloak => convert::keycloak(&value),
                _ => convert::auth0(&value),
            };
            drop(value);
            for (n, rec) in records {
                let reports = match rec {
                    Ok(rec) => importer.record(n, rec).await,
                    Err(e) => vec![LineReport::refused(n, None, e)],
                };
                sink.take(&importer, reports)?;
            }
        }
    }
    let last = importer.finish().await;
    sink.take(&importer, last)?;
    if let Some(w) = &mut sink.report {
        w.flush()?;
    }
    let s = importer.summary();
    eprintln!(
        "\r{} lines: {} created, {} updated, {} refused in {:.1}s{}",
        s.lines,
        s.created,
        s.updated,
        s.refused,
        sink.started.elapsed().as_secs_f64(),
        if dry_run {
            " (dry run: nothing written)"
        } else {
            ""
        }
    );
    Ok(serde_json::to_value(s)?)
}
