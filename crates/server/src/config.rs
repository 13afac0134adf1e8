//! Configuration: a TOML file overridden by `PORTCULLIS_*` environment
//! variables, staged as raw values and then validated into [`Config`], with
//! errors that name the setting (`PORTCULLIS_BIND` or `bind` in the file).

use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use portcullis_core::LoginLimits;
use portcullis_core::Settings;
use portcullis_core::model::RealmName;
use portcullis_crypto::Argon2Params;
use secrecy::SecretString;
use serde::Deserialize;
use time::Duration;

use mail::{check_mailbox, check_smtp_url};

/// Prefix of every environment variable read as configuration.
pub const ENV_PREFIX: &str = "PORTCULLIS_";

/// A configuration problem, naming the setting.
#[derive(Debug, thiserror::Error)]
#[error("{setting}: {reason}")]
pub struct ConfigError {
    /// The setting as the operator wrote it (`PORTCULLIS_BIND`, or `bind` in FILE).
    pub setting: String,
    /// What is wrong.
    pub reason: String,
}

fn err(setting: impl Into<String>, reason: impl Into<String>) -> ConfigError {
    ConfigError {
        setting: setting.into(),
        reason: reason.into(),
    }
}

/// How logs are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// Human-readable when stderr (where logs go) is a terminal, JSON otherwise.
    Auto,
    /// Human-readable.
    Pretty,
    /// One JSON object per line.
    Json,
}

/// The SMS gateway's webhook.
#[derive(Clone)]
pub struct SmsConfig {
    /// Where messages are POSTed.
    pub url: url::Url,
    /// The HMAC-SHA256 signing secret.
    pub secret: SecretString,
}

impl fmt::Debug for SmsConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut shown = self.url.clone();
        if shown.password().is_some() {
            let _ = shown.set_password(Some("***"));
        }
        f.debug_struct("SmsConfig")
            .field("url", &shown.as_str())
            .finish_non_exhaustive()
    }
}

/// A GeoIP database file and the setting that named it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GeoIpFile {
    /// The setting as the operator wrote it (`PORTCULLIS_GEOIP_DB`, or `geoip_db in FILE`).
    pub setting: String,
    /// The file.
    pub path: PathBuf,
}

/// The GeoIP databases; opened and checked at start-up by [`crate::geoip::open`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GeoIpConfig {
    /// A City or Country database.
    pub db: Option<GeoIpFile>,
    /// An ASN database.
    pub asn_db: Option<GeoIpFile>,
}

/// Shortest accepted webhook secret, in characters.
pub const MIN_SMS_SECRET_LEN: usize = 32;

/// Outgoing mail.
#[derive(Debug, Clone)]
pub struct MailConfig {
    /// The SMTP server; `None` keeps mail queued.
    pub smtp_url: Option<SmtpUrl>,
    /// The From address.
    pub from: String,
    /// The DNS server for look-ups (MX checks, domain verification);
    /// `None`: the system's.
    pub dns_resolver: Option<SocketAddr>,
}

macro_rules! raw_config {
    ($( $(#[doc = $doc:literal])* $name:ident : $ty:ty ),* $(,)?) => {
        /// Settings as written in the file or the environment, before validation.
        #[derive(Debug, Default, Deserialize)]
        #[serde(deny_unknown_fields)]
        pub struct RawConfig {
            $( $(#[doc = $doc])* pub $name: Option<$ty>, )*
        }

        /// Every setting: its key, its type and what it does (for `--help` and docs).
        pub const SETTINGS: &[(&str, &str)] = &[
            $( (stringify!($name), concat!($($doc),*)), )*
        ];

        impl RawConfig {
            /// Applies one environment variable (key without the prefix, lower-case).
            fn set(&mut self, key: &str, value: &str) -> Result<(), String> {
                match key {
                    $( stringify!($name) => {
                        self.$name = Some(<$ty as FromEnv>::from_env(value)?);
                        Ok(())
                    } )*
                    _ => Err("unknown setting".to_owned()),
                }
            }
        }
    };
}

/// Parsing of an environment variable's text.
trait FromEnv: Sized {
    fn from_env(v: &str) -> Result<Self, String>;
}

impl FromEnv for String {
    fn from_env(v: &str) -> Result<Self, String> {
        Ok(v.to_owned())
    }
}

impl FromEnv for PathBuf {
    fn from_env(v: &str) -> Result<Self, String> {
        Ok(PathBuf::from(v))
    }
}

impl FromEnv for u32 {
    fn from_env(v: &str) -> Result<Self, String> {
        v.trim()
            .parse()
            .map_err(|_| format!("'{v}' is not a whole number"))
    }
}

impl FromEnv for DurationSetting {
    fn from_env(v: &str) -> Result<Self, String> {
        Ok(DurationSetting::Text(v.to_owned()))
    }
}

/// A duration: whole seconds, or text such as `90s`, `15m`, `12h`, `7d`.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum DurationSetting {
    /// Seconds.
    Seconds(u64),
    /// Text with a unit.
    Text(String),
}

impl DurationSetting {
    fn parse(&self) -> Result<Duration, String> {
        let secs = match self {
            DurationSetting::Seconds(s) => *s,
            DurationSetting::Text(t) => {
                let t = t.trim();
                let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
                let (num, unit) = t.split_at(split);
                let n: u64 = num.parse().map_err(|_| {
                    format!("'{t}' is not a duration such as 900, 90s, 15m, 12h or 7d")
                })?;
                let mult = match unit.trim() {
                    "" | "s" => 1,
                    "m" => 60,
                    "h" => 3600,
                    "d" => 86_400,
                    _ => return Err(format!("'{t}' has an unknown unit (use s, m, h or d)")),
                };
                n.checked_mul(mult).ok_or("duration too large")?
            }
        };
        if secs == 0 {
            return Err("must be greater than zero".to_owned());
        }
        i64::try_from(secs)
            .map(Duration::seconds)
            .map_err(|_| "duration too large".to_owned())
    }
}

raw_config! {
    /// Address and port to listen on (default `127.0.0.1:8080`).
    bind: String,
    /// Public base URL of the server, the base of every issuer (default `http://` + bind address).
    public_url: String,
    /// Directory for the SQLite database and the master key file (default `./portcullis-data`).
    data_dir: PathBuf,
    /// `sqlite://PATH` or `postgres://USER:PASS@HOST/DB` (default a SQLite file in the data directory).
    database_url: String,
    /// Name of the realm created at first start and served by the short `/api/v1/...` paths (default `main`).
    default_realm: String,
    /// Email of the administrator created at first start (default `admin@portcullis.local`).
    bootstrap_admin_email: String,
    /// Password of that administrator; when absent a strong one is generated and shown once.
    bootstrap_admin_password: String,
    /// File holding the bootstrap administrator's password.
    bootstrap_admin_password_file: PathBuf,
    /// Key (32 bytes, hex or base64) encrypting secrets at rest; when absent `master.key` in the data directory is used or created.
    master_key: String,
    /// File holding the master key.
    master_key_file: PathBuf,
    /// Log filter: `error`, `warn`, `info` (default), `debug`, `trace`, or a tracing directive list.
    log_level: String,
    /// `auto` (default: pretty on a terminal, JSON otherwise), `pretty` or `json`; logs go to stderr.
    log_format: String,
    /// Access-token lifetime (default `15m`).
    access_token_ttl: DurationSetting,
    /// Refresh-token lifetime (default `7d`).
    refresh_token_ttl: DurationSetting,
    /// Absolute session lifetime (default `30d`).
    session_ttl: DurationSetting,
    /// Argon2id memory in KiB (default 19456).
    argon2_memory_kib: u32,
    /// Argon2id iterations (default 2).
    argon2_iterations: u32,
    /// Argon2id parallelism (default 1).
    argon2_parallelism: u32,
    /// Password hashes computed at once (default: number of cores).
    hash_concurrency: u32,
    /// Failed logins per account within the window before it is locked (default 5).
    login_max_failures: u32,
    /// Failed logins per client IP within the window before it is refused (default 50).
    login_ip_max_failures: u32,
    /// The failed-login window (default `15m`).
    login_failure_window: DurationSetting,
    /// How often, in milliseconds, this instance reads the revocations (logouts, ended sessions, deactivated accounts) other instances made on the shared database (default 250, 50 to 1000: they are refused here within about this interval).
    revocation_sync_ms: u32,
    /// Days a decided identity document's images are kept before the sweep deletes them (default 30, 1 to 3650).
    document_retention_days: u32,
    /// SMTP server for outgoing mail: `smtp://host:25`, `smtp://user:pass@host:587?tls=required` (STARTTLS), `smtps://user:pass@host:465`; when absent, mail is queued but not sent.
    smtp_url: String,
    /// File holding the SMTP URL (it may contain a password).
    smtp_url_file: PathBuf,
    /// From address of outgoing mail, e.g. `Portcullis <noreply@id.example.com>` (default `noreply@` + the public URL's host).
    smtp_from: String,
    /// DNS server (`IP` or `IP:PORT`, UDP and TCP) for MX checks and organizations' domain verification (TXT records); when absent, the system's resolver configuration.
    dns_resolver: String,
    /// Lifetime of an organization's invitation link (default `7d`).
    org_invitation_ttl: DurationSetting,
    /// URL of an SMS gateway's webhook (`https://...`): each SMS code is POSTed there as JSON `{to, message}`, signed with HMAC-SHA256 (headers `X-Portcullis-Timestamp` and `X-Portcullis-Signature: sha256=<hex>` of `<timestamp>.<body>`); when absent, SMS codes are not offered.
    sms_webhook_url: String,
    /// The webhook's signing secret (at least 32 characters); required with `sms_webhook_url`.
    sms_webhook_secret: String,
    /// File holding the webhook's signing secret.
    sms_webhook_secret_file: PathBuf,
    /// A MaxMind-format GeoIP City or Country database (`GeoLite2-City.mmdb`, `GeoIP2-Country.mmdb`), read into memory at start-up: the `country_change` check, and with a City database `impossible_travel`; when absent, those checks do not fire.
    geoip_db: PathBuf,
    /// A MaxMind-format ASN database (`GeoLite2-ASN.mmdb`): the autonomous system number of each address (no check weighs it yet).
    geoip_asn_db: PathBuf,
    /// Proxies whose `X-Forwarded-For` names the client: addresses or CIDR networks, comma-separated (`10.0.0.0/8, ::1`); without it, the socket's address is the client's and the header is ignored.
    trusted_proxies: String,
    /// `on` (default) or `off`: rate limits by endpoint family and role (blocks apply either way).
    rate_limits: String,
    /// A JSON rate-limit policy (the document of `PUT /api/v1/security/rate-limits`), the default of realms without their own.
    rate_limits_file: PathBuf,
    /// `on` (default) or `off`: the edge defences (client address through trusted proxies, blocks, rate limits, HMAC-signed requests); off only to measure what the defences cost; never in production.
    edge_defences: String,
    /// Redis shared by the instances of one deployment: `redis://[:PASSWORD@]HOST:6379[/DB]`, `rediss://` (TLS), `redis+unix:///PATH` or `redis+sentinel://[:PASSWORD@]S1:26379,S2:26379/MASTER[/DB]`; rate-limit counters, strikes and blocks, HMAC nonces are then shared; when absent, they stay in this process.
    redis_url: String,
    /// File holding the Redis URL (it may contain a password).
    redis_url_file: PathBuf,
    /// An OpenTelemetry receiver of traces over OTLP/HTTP (protobuf), e.g. `http://otel-collector:4318`: spans of requests, database and Redis calls, password hashing and policy evaluation go there (`/v1/traces`); `traceparent` is honoured either way. Headers and service name by the standard `OTEL_EXPORTER_OTLP_HEADERS` and `OTEL_SERVICE_NAME`.
    otlp_endpoint: String,
}

/// The validated configuration.
#[derive(Debug)]
pub struct Config {
    /// Listen address.
    pub bind: SocketAddr,
    /// Data directory.
    pub data_dir: PathBuf,
    /// Database.
    pub database_url: DatabaseUrl,
    /// Bootstrap admin email.
    pub bootstrap_admin_email: String,
    /// Bootstrap admin password, if configured.
    pub bootstrap_admin_password: Option<SecretString>,
    /// The setting the bootstrap password came from, for error messages
    /// (`PORTCULLIS_BOOTSTRAP_ADMIN_PASSWORD`, `..._FILE`, or the key in the file).
    pub bootstrap_admin_password_setting: String,
    /// Master key text, if configured (else the key file is used).
    pub master_key: Option<SecretString>,
    /// Log filter.
    pub log_level: String,
    /// Log format.
    pub log_format: LogFormat,
    /// Domain settings.
    pub settings: Settings,
    /// Outgoing mail.
    pub mail: MailConfig,
    /// The SMS gateway; `None`: SMS codes are not offered.
    pub sms: Option<SmsConfig>,
    /// The GeoIP databases, if any.
    pub geoip: GeoIpConfig,
    /// The Redis shared by the instances, if any.
    pub redis_url: Option<RedisUrl>,
    /// Where traces go, if anywhere.
    pub otlp_endpoint: Option<OtlpEndpoint>,
}

/// Where a setting came from, for error messages.
fn name_of(key: &str, from_env: &BTreeMap<String, String>, file: Option<&Path>) -> String {
    match from_env.get(key) {
        Some(var) => var.clone(),
        None => match file {
            Some(f) => format!("{key} in {}", f.display()),
            None => key.to_owned(),
        },
    }
}

fn read_secret_file(setting: String, path: &Path) -> Result<SecretString, ConfigError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| err(setting, format!("cannot read {}: {e}", path.display())))?;
    Ok(SecretString::from(
        text.trim_end_matches(['\r', '\n']).to_owned(),
    ))
}

impl Config {
    /// Loads the file (if any) and then the environment variables starting with
    /// `PORTCULLIS_`. Unknown keys and invalid values are errors.
    pub fn load(
        file: Option<&Path>,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Self, ConfigError> {
        let mut raw = match file {
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .map_err(|e| err(format!("--config {}", path.display()), e.to_string()))?;
                toml::from_str::<RawConfig>(&text)
                    .map_err(|e| err(format!("{}", path.display()), e.message().to_owned()))?
            }
            None => RawConfig::default(),
        };
        let mut from_env = BTreeMap::new();
        for (var, value) in env {
            let Some(key) = var.strip_prefix(ENV_PREFIX) else {
                continue;
            };
            let key = key.to_ascii_lowercase();
            raw.set(&key, &value)
                .map_err(|reason| err(var.clone(), reason))?;
            from_env.insert(key, var);
        }
        Self::validate(raw, &from_env, file)
    }

    fn validate(
        raw: RawConfig,
        env: &BTreeMap<String, String>,
        file: Option<&Path>,
    ) -> Result<Self, ConfigError> {
        let n = |k: &str| name_of(k, env, file);

        let bind_text = raw.bind.unwrap_or_else(|| "127.0.0.1:8080".to_owned());
        let bind: SocketAddr = bind_text.parse().map_err(|_| {
            err(
                n("bind"),
                format!("'{bind_text}' is not an address:port such as 127.0.0.1:8080"),
            )
        })?;

        let public_url = match raw.public_url {
            Some(u) => {
                let parsed = url::Url::parse(&u)
                    .map_err(|e| err(n("public_url"), format!("'{u}' is not a URL: {e}")))?;
                if !matches!(parsed.scheme(), "http" | "https")
                    || parsed.query().is_some()
                    || parsed.fragment().is_some()
                    || parsed.host().is_none()
                {
                    return Err(err(
                        n("public_url"),
                        "must be an http(s) URL without query or fragment",
                    ));
                }
                parsed.as_str().trim_end_matches('/').to_owned()
            }
            None => {
                let host = if bind.ip().is_unspecified() {
                    "localhost".to_owned()
                } else if bind.is_ipv6() {
                    format!("[{}]", bind.ip())
                } else {
                    bind.ip().to_string()
                };
                format!("http://{host}:{}", bind.port())
            }
        };

        let data_dir = raw
            .data_dir
            .unwrap_or_else(|| PathBuf::from("./portcullis-data"));

        let database_url = match raw.database_url {
            Some(u) => {
                let known = ["sqlite:", "postgres://", "postgresql://"];
                if !known.iter().any(|p| u.starts_with(p)) {
                    let scheme = u.split(':').next().unwrap_or_default();
                    return Err(err(
                        n("database_url"),
                        format!(
                            "unsupported scheme '{scheme}': use sqlite://PATH or postgres://..."
                        ),
                    ));
                }
                DatabaseUrl(u)
            }
            None => DatabaseUrl(format!(
                "sqlite://{}",
                data_dir.join("portcullis.db").display()
            )),
        };

        let realm_text = raw.default_realm.unwrap_or_else(|| "main".to_owned());
        let default_realm =
            RealmName::parse(&realm_text).map_err(|e| err(n("default_realm"), e.reason))?;

        let bootstrap_admin_email = raw
            .bootstrap_admin_email
            .unwrap_or_else(|| "admin@portcullis.local".to_owned());
        portcullis_core::model::Email::parse(&bootstrap_admin_email)
            .map_err(|e| err(n("bootstrap_admin_email"), e.reason))?;

        let bootstrap_admin_password_setting = if raw.bootstrap_admin_password_file.is_some() {
            n("bootstrap_admin_password_file")
        } else {
            n("bootstrap_admin_password")
        };
        let bootstrap_admin_password = match (
            raw.bootstrap_admin_password,
            raw.bootstrap_admin_password_file,
        ) {
            (Some(_), Some(_)) => {
                return Err(err(
                    n("bootstrap_admin_password_file"),
                    "set either the password or the password file, not both",
                ));
            }
            (Some(p), None) => Some(SecretString::from(p)),
            (None, Some(f)) => Some(read_secret_file(n("bootstrap_admin_password_file"), &f)?),
            (None, None) => None,
        };

        let master_key = match (raw.master_key, raw.master_key_file) {
            (Some(_), Some(_)) => {
                return Err(err(
                    n("master_key_file"),
                    "set either the master key or the master key file, not both",
                ));
            }
            (Some(k), None) => Some((n("master_key"), SecretString::from(k))),
            (None, Some(f)) => Some((
                n("master_key_file"),
                read_secret_file(n("master_key_file"), &f)?,
            )),
            (None, None) => None,
        };
        if let Some((setting, key)) = &master_key {
            use secrecy::ExposeSecret;
            portcullis_crypto::MasterKey::parse(key.expose_secret()).map_err(|_| {
                err(
                    setting.clone(),
                    "must be 32 bytes as 64 hex characters or base64",
                )
            })?;
        }

        let observability = observability::apply(
            observability::RawObservability {
                log_level: raw.log_level,
                log_format: raw.log_format,
                otlp_endpoint: raw.otlp_endpoint,
            },
            n,
        )?;

        let dur = |key: &str, v: Option<DurationSetting>, default: Duration| match v {
            Some(d) => d.parse().map_err(|e| err(n(key), e)),
            None => Ok(default),
        };
        let mut settings = Settings::with_public_url(public_url);
        settings.default_realm = default_realm;
        settings.access_token_ttl = dur(
            "access_token_ttl",
            raw.access_token_ttl,
            Duration::minutes(15),
        )?;
        settings.refresh_token_ttl = dur(
            "refresh_token_ttl",
            raw.refresh_token_ttl,
            Duration::days(7),
        )?;
        settings.session_ttl = dur("session_ttl", raw.session_ttl, Duration::days(30))?;
        settings.org_invitation_ttl = dur(
            "org_invitation_ttl",
            raw.org_invitation_ttl,
            Duration::days(7),
        )?;
        let dns_resolver = match raw.dns_resolver.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(v) => Some(
                v.parse::<SocketAddr>()
                    .or_else(|_| v.parse::<std::net::IpAddr>().map(|ip| (ip, 53).into()))
                    .map_err(|_| err(n("dns_resolver"), "must be IP or IP:PORT"))?,
            ),
        };
        let defaults = Argon2Params::default();
        settings.argon2 = Argon2Params {
            memory_kib: raw.argon2_memory_kib.unwrap_or(defaults.memory_kib),
            iterations: raw.argon2_iterations.unwrap_or(defaults.iterations),
            parallelism: raw.argon2_parallelism.unwrap_or(defaults.parallelism),
        };
        portcullis_crypto::PasswordHasher::new(settings.argon2).map_err(|e| {
            err(
                n("argon2_memory_kib"),
                format!("invalid argon2 parameters: {e}"),
            )
        })?;
        if let Some(c) = raw.hash_concurrency {
            if c == 0 {
                return Err(err(n("hash_concurrency"), "must be at least 1"));
            }
            settings.hash_concurrency = c as usize;
        }
        if let Some(ms) = raw.revocation_sync_ms {
            if !(50..=1000).contains(&ms) {
                return Err(err(n("revocation_sync_ms"), "must be 50 to 1000"));
            }
            settings.revocation_sync_interval = std::time::Duration::from_millis(u64::from(ms));
        }
        if let Some(days) = raw.document_retention_days {
            if !(1..=3650).contains(&days) {
                return Err(err(n("document_retention_days"), "must be 1 to 3650"));
            }
            settings.document_retention = time::Duration::days(i64::from(days));
        }
        let window = dur(
            "login_failure_window",
            raw.login_failure_window,
            Duration::minutes(15),
        )?;
        settings.login = LoginLimits {
            max_failures_per_account: positive(n("login_max_failures"), raw.login_max_failures, 5)?,
            max_failures_per_ip: positive(
                n("login_ip_max_failures"),
                raw.login_ip_max_failures,
                50,
            )?,
            window,
        };

        let smtp_url = match (raw.smtp_url, raw.smtp_url_file) {
            (Some(_), Some(_)) => {
                return Err(err(
                    n("smtp_url_file"),
                    "set either the SMTP URL or the SMTP URL file, not both",
                ));
            }
            (Some(u), None) => Some((n("smtp_url"), SecretString::from(u))),
            (None, Some(f)) => Some((
                n("smtp_url_file"),
                read_secret_file(n("smtp_url_file"), &f)?,
            )),
            (None, None) => None,
        };
        let smtp_url = match smtp_url {
            Some((setting, url)) => Some(check_smtp_url(&setting, url)?),
            None => None,
        };
        let from = match raw.smtp_from {
            Some(f) => {
                check_mailbox(&f).map_err(|reason| err(n("smtp_from"), reason))?;
                f
            }
            None => {
                let host = url::Url::parse(&settings.public_url)
                    .ok()
                    .and_then(|u| match u.host() {
                        Some(url::Host::Domain(d)) if d.contains('.') => Some(d.to_owned()),
                        _ => None,
                    })
                    .unwrap_or_else(|| "localhost".to_owned());
                format!("noreply@{host}")
            }
        };

        let sms_secret = match (raw.sms_webhook_secret, raw.sms_webhook_secret_file) {
            (Some(_), Some(_)) => {
                return Err(err(
                    n("sms_webhook_secret_file"),
                    "set either the webhook secret or the webhook secret file, not both",
                ));
            }
            (Some(s), None) => Some((n("sms_webhook_secret"), SecretString::from(s))),
            (None, Some(f)) => Some((
                n("sms_webhook_secret_file"),
                read_secret_file(n("sms_webhook_secret_file"), &f)?,
            )),
            (None, None) => None,
        };
        let sms = match (raw.sms_webhook_url, sms_secret) {
            (None, None) => None,
            (None, Some((setting, _))) => {
                return Err(err(
                    setting,
                    "needs sms_webhook_url (PORTCULLIS_SMS_WEBHOOK_URL)",
                ));
            }
            (Some(_), None) => {
                return Err(err(
                    n("sms_webhook_url"),
                    "needs a signing secret: set sms_webhook_secret (PORTCULLIS_SMS_WEBHOOK_SECRET) or its _FILE",
                ));
            }
            (Some(u), Some((setting, secret))) => {
                use secrecy::ExposeSecret;
                let url = url::Url::parse(&u)
                    .ok()
                    .filter(|p| matches!(p.scheme(), "http" | "https") && p.host().is_some())
                    .ok_or_else(|| {
                        err(
                            n("sms_webhook_url"),
                            "must be an http(s) URL such as https://sms.example.com/hook",
                        )
                    })?;
                if secret.expose_secret().chars().count() < MIN_SMS_SECRET_LEN {
                    return Err(err(
                        setting,
                        format!("must be at least {MIN_SMS_SECRET_LEN} characters"),
                    ));
                }
                Some(SmsConfig { url, secret })
            }
        };

        let edge = edge::RawEdge {
            trusted_proxies: raw.trusted_proxies,
            rate_limits: raw.rate_limits,
            rate_limits_file: raw.rate_limits_file,
            edge_defences: raw.edge_defences,
        };
        edge::apply(edge, &mut settings, n)?;
        let redis_url = shared_state::redis_url(raw.redis_url, raw.redis_url_file, n)?;

        let geoip_file = |key: &str, path: Option<PathBuf>| match path {
            Some(p) if p.as_os_str().is_empty() => Err(err(n(key), "must be a file path")),
            Some(path) => Ok(Some(GeoIpFile {
                setting: n(key),
                path,
            })),
            None => Ok(None),
        };
        let geoip = GeoIpConfig {
            db: geoip_file("geoip_db", raw.geoip_db)?,
            asn_db: geoip_file("geoip_asn_db", raw.geoip_asn_db)?,
        };

        Ok(Config {
            mail: MailConfig {
                smtp_url,
                from,
                dns_resolver,
            },
            sms,
            geoip,
            bind,
            data_dir,
            database_url,
            bootstrap_admin_email,
            bootstrap_admin_password,
            bootstrap_admin_password_setting,
            master_key: master_key.map(|(_, k)| k),
            log_level: observability.log_level,
            log_format: observability.log_format,
            otlp_endpoint: observability.otlp_endpoint,
            settings,
            redis_url,
        })
    }
}

fn positive(setting: String, v: Option<u32>, default: u32) -> Result<u32, ConfigError> {
    match v {
        Some(0) => Err(err(setting, "must be at least 1")),
        Some(v) => Ok(v),
        None => Ok(default),
    }
}

mod edge;
mod mail;
mod urls;

pub(crate) use urls::write_redacted;
pub use urls::{DatabaseUrl, SmtpUrl};
mod observability;
mod shared_state;

pub use observability::OtlpEndpoint;
pub use shared_state::RedisUrl;
#[cfg(test)]
mod tests;
