//! The composition root of Portcullis: reads configuration, picks the store
//! by URL scheme, wires the domain and the HTTP layer, serves, shuts down
//! gracefully. The only crate that knows every concrete type.

pub mod config;
pub mod dns;
pub mod geoip;
mod logging;
pub mod mail;
mod master_key;
pub mod sms;
mod telemetry;
pub mod transfer;
pub mod upstream;
pub mod workers;

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use portcullis_core::realms::Bootstrap;
use portcullis_core::{Portcullis, Settings, SharedClock, SystemClock};
use portcullis_crypto::MasterKey;
use portcullis_http::AppState;
use portcullis_store::SqlStore;
use secrecy::ExposeSecret;
use tokio::net::TcpListener;

pub use config::{Config, ConfigError};

/// How often the mail worker looks for due messages besides being woken.
const MAIL_POLL: Duration = Duration::from_secs(5);
pub use logging::init as init_logging;
pub use master_key::load_or_create as load_master_key;
pub use telemetry::Telemetry;

/// Wires a domain and its router over a migrated store, without mail
/// delivery or DNS checks (mail stays queued).
pub fn assemble(
    store: Arc<SqlStore>,
    clock: SharedClock,
    settings: Settings,
    master_key: MasterKey,
) -> anyhow::Result<(Portcullis, axum::Router)> {
    assemble_with(store, clock, settings, master_key, Default::default())
}

/// Wires a domain with its mail and DNS adapters, and its router.
pub fn assemble_with(
    store: Arc<SqlStore>,
    clock: SharedClock,
    settings: Settings,
    master_key: MasterKey,
    adapters: portcullis_core::mail::Adapters,
) -> anyhow::Result<(Portcullis, axum::Router)> {
    let core = Portcullis::with_adapters(store, clock, settings, master_key, adapters)
        .map_err(|e| anyhow::anyhow!("cannot build the domain: {e}"))?;
    let metrics = portcullis_http::install_metrics_recorder();
    let transport = std::sync::Arc::new(upstream::ReqwestUpstream::new()?);
    let upstream = portcullis_oidc::upstream::Upstream::new(transport, core.clock().clone());
    let router = portcullis_http::app(AppState::new(core.clone(), metrics, upstream));
    Ok((core, router))
}

/// Connects to the configured database and runs the migrations.
pub async fn open_store(config: &Config) -> anyhow::Result<Arc<SqlStore>> {
    if config.database_url.is_sqlite() {
        master_key::create_data_dir(&config.data_dir)?;
    }
    let mut store = SqlStore::connect(config.database_url.expose())
        .await
        .with_context(|| format!("cannot open the database {}", config.database_url))?;
    telemetry::observe_store(&mut store);
    store
        .migrate()
        .await
        .context("database migrations failed")?;
    Ok(Arc::new(store))
}

/// Opens the store and builds the domain, as `serve` and `admin` do.
pub async fn open(config: &Config) -> anyhow::Result<(Portcullis, axum::Router)> {
    let store = open_store(config).await?;
    let master = load_master_key(config)?;
    let clock: SharedClock = Arc::new(SystemClock);
    let mut adapters = mail::adapters(&config.mail, config.sms.as_ref(), clock.clone())?;
    let mut shared = None;
    if let Some(url) = &config.redis_url {
        let redis = portcullis_redis::Redis::open(url.expose())?;
        if redis.ping().await {
            tracing::info!(redis = %url, "shared state (rate limits, blocks, nonces) in Redis");
        } else {
            tracing::warn!(
                redis = %url,
                "Redis does not answer yet: rate limits and blocks are per instance, signed \
                 requests are refused, until it does"
            );
        }
        adapters.edge = Some(Arc::new(portcullis_redis::RedisEdgeState::new(
            redis.clone(),
        )));
        shared = Some(redis);
    }
    let (core, router) = assemble_with(store, clock, config.settings.clone(), master, adapters)?;
    if let Some(redis) = shared {
        share_through_redis(&core, redis);
    }
    // An instance whose master key does not open the database's keys would
    // refuse every token and fail every sign-in: it does not start.
    core.keys().check_master_key().await?;
    Ok((core, router))
}

/// Joins `core` to the other instances on `redis`: changes this instance
/// makes reach the others' caches at once and theirs reach this one's
/// (notices, and their listener, which the returned task runs), and the
/// caches' shared layer. (The edge's shared state is an adapter given to
/// [`assemble_with`].)
pub fn share_through_redis(
    core: &Portcullis,
    redis: portcullis_redis::Redis,
) -> tokio::task::JoinHandle<()> {
    let instance = uuid::Uuid::now_v7();
    core.set_notices(Arc::new(portcullis_redis::RedisNotices::new(
        redis.clone(),
        instance,
    )));
    core.set_shared_cache(Arc::new(portcullis_redis::RedisCache::new(redis.clone())));
    tokio::spawn(portcullis_redis::listen(redis, core.clone(), instance))
}

/// Serves on the configured address until SIGTERM or Ctrl-C.
pub async fn serve(config: Config) -> anyhow::Result<()> {
    // Before the database: a wrong GeoIP file stops start-up at once.
    let geoip =
        geoip::open(&config.geoip).map_err(|e| anyhow::anyhow!("invalid configuration: {e}"))?;
    // Before the database and the first-start guide: a port in use stops
    // start-up at once, with nothing created and nothing announced.
    let listener = TcpListener::bind(config.bind)
        .await
        .with_context(|| format!("cannot listen on {}", config.bind))?;
    if !config.settings.edge_defences {
        tracing::warn!(
            "edge defences are off (edge_defences): no blocks, rate limits, signed requests or \
             trusted proxies; this is only for measuring what they cost, never for production"
        );
    }
    let (core, router) = open(&config).await?;
    geoip::install(&core, geoip);
    let boot = core
        .realms()
        .bootstrap(
            &config.bootstrap_admin_email,
            config.bootstrap_admin_password.clone(),
        )
        .await
        .map_err(|e| anyhow::anyhow!("bootstrap failed: {}", bootstrap_error(&config, &e)))?;
    announce_bootstrap(&config, &core, &boot)?;
    core.warm_denylist()
        .await
        .map_err(|e| anyhow::anyhow!("cannot load the token denylist: {e}"))?;

    let housekeeping = {
        let core = core.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(60));
            loop {
                tick.tick().await;
                if let Err(e) = core.housekeeping().await {
                    tracing::warn!(error = %e, "housekeeping failed");
                }
            }
        })
    };

    // Revocations made by other instances on the same database (logouts,
    // ended sessions, deactivated accounts) reach this one within a second.
    let revocation_sync = {
        let core = core.clone();
        let every = core.settings().revocation_sync_interval;
        tokio::spawn(async move { core.run_revocation_sync(every).await })
    };

    let mail_worker = core
        .mail()
        .can_send()
        .then(|| mail::spawn_mail_worker(core.clone(), MAIL_POLL));

    let local = listener.local_addr()?;
    tracing::info!(
        address = %local,
        public_url = %config.settings.public_url,
        database = %config.database_url,
        "Portcullis is listening"
    );
    workers::serve(
        listener,
        router,
        workers::default_count(),
        shutdown_signal(),
    )
    .await
    .context("server error")?;
    housekeeping.abort();
    revocation_sync.abort();
    if let Some(worker) = mail_worker {
        worker.abort();
    }
    core.flush_audit().await;
    tracing::info!("shut down cleanly");
    Ok(())
}

/// A bootstrap error for the operator: a rule the configured administrator
/// settings break is named with the setting it came from (never its value).
fn bootstrap_error(config: &Config, e: &portcullis_core::Error) -> String {
    match e {
        portcullis_core::Error::Validation(fields) => fields
            .iter()
            .map(|f| match f.field.as_str() {
                "bootstrap_admin_password" => {
                    format!("{}: {}", config.bootstrap_admin_password_setting, f.reason)
                }
                _ => f.to_string(),
            })
            .collect::<Vec<_>>()
            .join("; "),
        other => other.to_string(),
    }
}

async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
    tracing::info!("shutdown requested; finishing in-flight requests");
}

/// Tells the operator how to log in after the first start. A generated
/// password goes to the terminal only (never to the log); without a terminal
/// it is written to a 0600 file in the data directory.
fn announce_bootstrap(config: &Config, core: &Portcullis, boot: &Bootstrap) -> anyhow::Result<()> {
    if !boot.created {
        return Ok(());
    }
    let email = boot
        .admin_email
        .as_ref()
        .map(ToString::to_string)
        .unwrap_or_default();
    let realm = &core.settings().default_realm;
    let base = &core.settings().public_url;
    tracing::info!(realm = %realm, admin = %email, "created the default realm and its administrator");
    let password_line = match &boot.generated_password {
        None => "Password: the one you configured (PORTCULLIS_BOOTSTRAP_ADMIN_PASSWORD)".to_owned(),
        Some(p) => {
            let banner = format!(
                "Password: {}   (shown once; change it after logging in)",
                p.expose_secret()
            );
            if master_key::write_to_terminal(&format!("\n{banner}\n")) {
                "Password: printed above on this terminal (shown once)".to_owned()
            } else {
                let path = config.data_dir.join("bootstrap-admin-password");
                master_key::write_private_file(&path, p.expose_secret().as_bytes())?;
                tracing::warn!(file = %path.display(), "no terminal: the generated administrator password was written to a file readable only by its owner; delete it after first login");
                format!(
                    "Password: in {} (mode 0600; delete it after logging in)",
                    path.display()
                )
            }
        }
    };
    let guide = format!(
        "\nPortcullis is ready. Log in as the bootstrap administrator:\n  Realm:    {realm}\n  Email:    {email}\n  {password_line}\n\n  curl -s {base}/api/v1/auth/login -H 'content-type: application/json' \\\n       -d '{{\"email\":\"{email}\",\"password\":\"...\"}}'\n\n  API reference: {base}/docs\n"
    );
    if !master_key::write_to_terminal(&guide) {
        println!("{guide}");
    }
    Ok(())
}
