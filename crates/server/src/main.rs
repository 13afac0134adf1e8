//! The `portcullis` binary.

use std::io::Read;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use portcullis_core::users::NewUser;
use portcullis_server::Config;
use secrecy::{ExposeSecret, SecretString};

/// mimalloc rather than the C library's allocator: a request allocates and
/// frees many small buffers on whichever worker thread runs it, and glibc's
/// arenas then contend on their locks (measured in `cargo xtask bench authz`).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Portcullis: identity and access management in one binary.
///
/// Configuration comes from an optional TOML file (--config) and from
/// PORTCULLIS_* environment variables, which take precedence. Run without a
/// command to serve with defaults: SQLite in ./portcullis-data, listening on
/// 127.0.0.1:8080.
#[derive(Debug, Parser)]
#[command(name = "portcullis", version, propagate_version = true, after_help = settings_help())]
struct Cli {
    /// Read settings from this TOML file (environment variables override it).
    #[arg(long, short = 'c', global = true, value_name = "PATH")]
    config: Option<PathBuf>,

    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the server (the default): migrate, create the first realm on first start, serve.
    Serve,
    /// Run the database migrations and exit.
    Migrate,
    /// Administration from the command line, with the operator's rights.
    #[command(subcommand)]
    Admin(AdminCommand),
}

#[derive(Debug, Subcommand)]
enum AdminCommand {
    /// Create a user in a realm.
    CreateUser(CreateUser),
    /// Set a user's password (ends the user's sessions).
    SetPassword(SetPassword),
    /// List the realms.
    ListRealms,
    /// Export a realm as JSON Lines (docs/import-export.md).
    Export {
        /// The realm.
        #[arg(long)]
        realm: String,
        /// The file to write (default: standard output).
        #[arg(long)]
        output: Option<std::path::PathBuf>,
        /// Include TOTP factors with their seeds in clear (keep the file secret).
        #[arg(long)]
        factors: bool,
    },
    /// Import users, roles, groups, grants and organizations into a realm.
    Import {
        /// The realm.
        #[arg(long)]
        realm: String,
        /// The file to read.
        file: std::path::PathBuf,
        /// Validate everything, write nothing.
        #[arg(long)]
        dry_run: bool,
        /// The file's format.
        #[arg(long, value_enum, default_value = "portcullis")]
        format: portcullis_server::transfer::InputFormat,
        /// Write the report of every line (JSON Lines) to this file;
        /// without it, refused lines are printed.
        #[arg(long)]
        report: Option<std::path::PathBuf>,
    },
    /// Add a new current signing key to a realm; old keys keep verifying until their tokens expire.
    RotateKeys {
        /// The realm.
        #[arg(long)]
        realm: String,
    },
}

#[derive(Debug, Args)]
struct CreateUser {
    /// The realm (default: the default realm).
    #[arg(long)]
    realm: Option<String>,
    /// Email address.
    #[arg(long)]
    email: String,
    /// Display name.
    #[arg(long)]
    name: Option<String>,
    /// Make the user a realm administrator.
    #[arg(long)]
    admin: bool,
    /// Read the password from standard input (otherwise a strong one is generated and printed).
    #[arg(long)]
    password_stdin: bool,
}

#[derive(Debug, Args)]
struct SetPassword {
    /// The realm (default: the default realm).
    #[arg(long)]
    realm: Option<String>,
    /// Email address.
    #[arg(long)]
    email: String,
    /// Read the password from standard input (otherwise a strong one is generated and printed).
    #[arg(long)]
    password_stdin: bool,
}

fn settings_help() -> String {
    let mut s = String::from("Settings (file key / environment variable):\n");
    for (key, doc) in portcullis_server::config::SETTINGS {
        s.push_str(&format!(
            "  {key:<30} PORTCULLIS_{}\n      {doc}\n",
            key.to_ascii_uppercase()
        ));
    }
    s.push_str("\nSecrets also accept *_FILE variants where listed.");
    s
}

fn password_from(stdin: bool) -> anyhow::Result<(SecretString, bool)> {
    if stdin {
        let mut text = String::new();
        std::io::stdin().read_to_string(&mut text)?;
        let text = text.trim_end_matches(['\r', '\n']).to_owned();
        if text.is_empty() {
            anyhow::bail!("no password on standard input");
        }
        Ok((SecretString::from(text), false))
    } else {
        Ok((
            SecretString::from(portcullis_crypto::generate_password()),
            true,
        ))
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let config = Config::load(cli.config.as_deref(), std::env::vars())
        .map_err(|e| anyhow::anyhow!("invalid configuration: {e}"))?;
    let telemetry = portcullis_server::init_logging(&config);
    let outcome = run_command(cli.command, config).await;
    telemetry.shutdown();
    outcome
}

async fn run_command(command: Option<Command>, config: Config) -> anyhow::Result<()> {
    let default_realm = config.settings.default_realm.to_string();
    match command.unwrap_or(Command::Serve) {
        Command::Serve => portcullis_server::serve(config).await,
        Command::Migrate => {
            portcullis_server::open_store(&config).await?;
            println!("migrations applied to {}", config.database_url);
            Ok(())
        }
        Command::Admin(cmd) => {
            let (core, _) = portcullis_server::open(&config).await?;
            match cmd {
                AdminCommand::ListRealms => {
                    let realms = core
                        .realms()
                        .list_as_operator()
                        .await
                        .map_err(|e| anyhow::anyhow!("{}", describe(&e, None, None)))?;
                    let rows: Vec<Vec<String>> = realms
                        .iter()
                        .map(|r| {
                            vec![
                                r.name.to_string(),
                                r.enabled.to_string(),
                                r.signing_alg.as_str().to_owned(),
                                core.realms().issuer(r),
                            ]
                        })
                        .collect();
                    print!("{}", table(&["NAME", "ENABLED", "ALG", "ISSUER"], &rows));
                }
                AdminCommand::CreateUser(args) => {
                    let (password, generated) = password_from(args.password_stdin)?;
                    let realm = args.realm.unwrap_or(default_realm);
                    let email = args.email.clone();
                    let e = |e: portcullis_core::Error| {
                        anyhow::anyhow!("{}", describe(&e, Some(&realm), Some(&email)))
                    };
                    let created = core
                        .users()
                        .create_as_operator(
                            &realm,
                            NewUser {
                                email: args.email,
                                password: Some(password.clone()),
                                name: args.name,
                                admin: args.admin,
                                attributes: None,
                            },
                        )
                        .await
                        .map_err(e)?;
                    let user = &created.user;
                    println!("created user {} ({}) in realm {realm}", user.email, user.id);
                    if generated {
                        println!("password: {}", password.expose_secret());
                    }
                }
                AdminCommand::SetPassword(args) => {
                    let (password, generated) = password_from(args.password_stdin)?;
                    let realm = args.realm.unwrap_or(default_realm);
                    let e = |e: portcullis_core::Error| {
                        anyhow::anyhow!("{}", describe(&e, Some(&realm), Some(&args.email)))
                    };
                    let user = core
                        .users()
                        .set_password_as_operator(&realm, &args.email, password.clone())
                        .await
                        .map_err(e)?;
                    println!(
                        "password set for {} in realm {realm}; their sessions were ended",
                        user.email
                    );
                    if generated {
                        println!("password: {}", password.expose_secret());
                    }
                }
                AdminCommand::Export {
                    realm,
                    output,
                    factors,
                } => {
                    let lines = portcullis_server::transfer::export(
                        &core,
                        &realm,
                        output.as_deref(),
                        factors,
                    )
                    .await?;
                    eprintln!("realm {realm}: {lines} lines exported");
                }
                AdminCommand::Import {
                    realm,
                    file,
                    dry_run,
                    format,
                    report,
                } => {
                    let summary = portcullis_server::transfer::import(
                        &core,
                        &realm,
                        &file,
                        format,
                        dry_run,
                        report.as_deref(),
                    )
                    .await?;
                    println!("{summary}");
                }
                AdminCommand::RotateKeys { realm } => {
                    let kid = core
                        .realms()
                        .rotate_keys(&realm)
                        .await
                        .map_err(|e| anyhow::anyhow!("{}", describe(&e, Some(&realm), None)))?;
                    println!(
                        "realm {realm}: new signing key {kid}; previous keys stay published until their tokens expire"
                    );
                }
            }
            Ok(())
        }
    }
}

/// What went wrong, naming the realm and the user the operator gave when one
/// of them was not found (quoted, so that control characters are escaped).
fn describe(e: &portcullis_core::Error, realm: Option<&str>, email: Option<&str>) -> String {
    use portcullis_core::Error;
    match (e, realm, email) {
        (Error::Validation(fields), _, _) => fields
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("; "),
        (Error::NotFound("realm"), Some(realm), _) => format!("realm {realm:?} not found"),
        (Error::NotFound("user"), Some(realm), Some(email)) => {
            format!("user {email:?} not found in realm {realm:?}")
        }
        (other, _, _) => other.to_string(),
    }
}

/// A table for people: a header and rows, each column padded to its widest
/// cell and separated by two spaces, the last column unpadded.
fn table(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let line = |cells: &mut dyn Iterator<Item = &str>| {
        let mut out = String::new();
        for (cell, width) in cells.zip(&widths) {
            if !out.is_empty() {
                out.push_str("  ");
            }
            out.push_str(cell);
            out.extend(std::iter::repeat_n(
                ' ',
                width.saturating_sub(cell.chars().count()),
            ));
        }
        let mut out = out.trim_end().to_owned();
        out.push('\n');
        out
    };
    let mut out = line(&mut header.iter().copied());
    for row in rows {
        out.push_str(&line(&mut row.iter().map(String::as_str)));
    }
    out
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_columns_are_as_wide_as_their_widest_cell() {
        let rows = vec![
            vec![
                "a-rather-long-realm-name".to_owned(),
                "true".to_owned(),
                "x".to_owned(),
            ],
            vec!["b".to_owned(), "false".to_owned(), "y".to_owned()],
        ];
        assert_eq!(
            table(&["NAME", "ENABLED", "ISSUER"], &rows),
            "NAME                      ENABLED  ISSUER\n\
             a-rather-long-realm-name  true     x\n\
             b                         false    y\n"
        );
        assert_eq!(table(&["NAME", "ALG"], &[]), "NAME  ALG\n");
    }
}
