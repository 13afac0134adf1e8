use super::*;

fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

#[test]
fn defaults() {
    let c = Config::load(None, env(&[("PATH", "/bin")])).unwrap();
    assert_eq!(c.bind.to_string(), "127.0.0.1:8080");
    assert_eq!(c.settings.public_url, "http://127.0.0.1:8080");
    assert_eq!(c.data_dir, PathBuf::from("./portcullis-data"));
    assert_eq!(
        c.database_url.expose(),
        "sqlite://./portcullis-data/portcullis.db"
    );
    assert_eq!(c.settings.access_token_ttl, Duration::minutes(15));
    assert_eq!(c.settings.refresh_token_ttl, Duration::days(7));
    assert_eq!(c.settings.argon2.memory_kib, 19456);
    assert_eq!(c.settings.default_realm.as_str(), "main");
    assert!(c.bootstrap_admin_password.is_none());
}

#[test]
fn env_overrides_file() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("p.toml");
    std::fs::write(
        &file,
        "bind = \"127.0.0.1:9000\"\naccess_token_ttl = 600\nlog_level = \"debug\"\n",
    )
    .unwrap();
    let c = Config::load(
        Some(&file),
        env(&[
            ("PORTCULLIS_BIND", "0.0.0.0:7000"),
            ("PORTCULLIS_REFRESH_TOKEN_TTL", "2d"),
        ]),
    )
    .unwrap();
    assert_eq!(c.bind.to_string(), "0.0.0.0:7000");
    assert_eq!(c.settings.public_url, "http://localhost:7000");
    assert_eq!(c.settings.access_token_ttl, Duration::minutes(10));
    assert_eq!(c.settings.refresh_token_ttl, Duration::days(2));
    assert_eq!(c.log_level, "debug");
}

#[test]
fn unknown_keys_are_errors_naming_the_setting() {
    let e = Config::load(None, env(&[("PORTCULLIS_BINDD", "x")])).unwrap_err();
    assert_eq!(e.setting, "PORTCULLIS_BINDD");
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("p.toml");
    std::fs::write(&file, "colour = \"blue\"\n").unwrap();
    let e = Config::load(Some(&file), env(&[])).unwrap_err();
    assert!(e.to_string().contains("colour"), "{e}");
}

#[test]
fn invalid_values_name_the_setting() {
    for (var, value) in [
        ("PORTCULLIS_BIND", "not-an-address"),
        ("PORTCULLIS_PUBLIC_URL", "ftp://x"),
        ("PORTCULLIS_DATABASE_URL", "mysql://x"),
        ("PORTCULLIS_ACCESS_TOKEN_TTL", "15 parsecs"),
        ("PORTCULLIS_ACCESS_TOKEN_TTL", "0"),
        ("PORTCULLIS_ARGON2_MEMORY_KIB", "lots"),
        ("PORTCULLIS_ARGON2_MEMORY_KIB", "1"),
        ("PORTCULLIS_LOG_FORMAT", "xml"),
        ("PORTCULLIS_MASTER_KEY", "too-short"),
        ("PORTCULLIS_DEFAULT_REALM", "Not Valid"),
        ("PORTCULLIS_BOOTSTRAP_ADMIN_EMAIL", "nobody"),
        ("PORTCULLIS_LOGIN_MAX_FAILURES", "0"),
    ] {
        let e = Config::load(None, env(&[(var, value)])).unwrap_err();
        assert_eq!(e.setting, var, "{var}={value}: {e}");
    }
}

#[test]
fn database_url_hides_password() {
    let c = Config::load(
        None,
        env(&[(
            "PORTCULLIS_DATABASE_URL",
            "postgres://app:s3cret@db/portcullis",
        )]),
    )
    .unwrap();
    assert!(!format!("{:?}", c.database_url).contains("s3cret"));
    assert!(!c.database_url.to_string().contains("s3cret"));
    assert!(c.database_url.expose().contains("s3cret"));
}

#[test]
fn secret_files() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("pw");
    std::fs::write(&file, "from-a-file\n").unwrap();
    let c = Config::load(
        None,
        env(&[(
            "PORTCULLIS_BOOTSTRAP_ADMIN_PASSWORD_FILE",
            file.to_str().unwrap(),
        )]),
    )
    .unwrap();
    use secrecy::ExposeSecret;
    assert_eq!(
        c.bootstrap_admin_password.unwrap().expose_secret(),
        "from-a-file"
    );
}

#[test]
fn smtp_settings_from_file_and_env_hide_the_password() {
    let c = Config::load(None, env(&[])).unwrap();
    assert!(c.mail.smtp_url.is_none());
    assert_eq!(c.mail.from, "noreply@localhost");

    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("p.toml");
    std::fs::write(
        &file,
        "public_url = \"https://id.example.com\"\nsmtp_url = \"smtp://mailer:hunter2secret@mail.example.com:587?tls=required\"\n",
    )
    .unwrap();
    let c = Config::load(Some(&file), env(&[])).unwrap();
    let url = c.mail.smtp_url.as_ref().unwrap();
    assert!(url.expose().contains("hunter2secret"));
    for shown in [url.to_string(), format!("{url:?}"), format!("{:?}", c.mail)] {
        assert!(!shown.contains("hunter2secret"), "{shown}");
        assert!(shown.contains("mail.example.com"), "{shown}");
    }
    assert_eq!(c.mail.from, "noreply@id.example.com");

    let c = Config::load(
        Some(&file),
        env(&[("PORTCULLIS_SMTP_FROM", "Acme ID <id@acme.example>")]),
    )
    .unwrap();
    assert_eq!(c.mail.from, "Acme ID <id@acme.example>");

    for (var, value) in [
        ("PORTCULLIS_SMTP_URL", "http://mail.example.com"),
        ("PORTCULLIS_SMTP_URL", "smtp://user:topsecret@[::1"),
        (
            "PORTCULLIS_SMTP_URL",
            "smtp://mail.example.com?tls=sometimes",
        ),
        ("PORTCULLIS_SMTP_FROM", "not an address"),
    ] {
        let e = Config::load(None, env(&[(var, value)])).unwrap_err();
        assert_eq!(e.setting, var, "{value}");
        assert!(!e.to_string().contains("topsecret"), "{e}");
    }
}

#[test]
fn sms_webhook_needs_an_http_url_and_a_long_secret() {
    let secret = "s".repeat(MIN_SMS_SECRET_LEN);
    let c = Config::load(None, env(&[])).unwrap();
    assert!(c.sms.is_none());
    let c = Config::load(
        None,
        env(&[
            (
                "PORTCULLIS_SMS_WEBHOOK_URL",
                "https://user:pw@sms.example.com/hook",
            ),
            ("PORTCULLIS_SMS_WEBHOOK_SECRET", &secret),
        ]),
    )
    .unwrap();
    let sms = c.sms.unwrap();
    assert_eq!(sms.url.host_str(), Some("sms.example.com"));
    let shown = format!("{sms:?}");
    assert!(!shown.contains("pw") && !shown.contains(&secret), "{shown}");

    let e = Config::load(
        None,
        env(&[("PORTCULLIS_SMS_WEBHOOK_URL", "https://sms.example.com/hook")]),
    )
    .unwrap_err();
    assert_eq!(e.setting, "PORTCULLIS_SMS_WEBHOOK_URL");
    let e = Config::load(None, env(&[("PORTCULLIS_SMS_WEBHOOK_SECRET", &secret)])).unwrap_err();
    assert_eq!(e.setting, "PORTCULLIS_SMS_WEBHOOK_SECRET");
    let e = Config::load(
        None,
        env(&[
            ("PORTCULLIS_SMS_WEBHOOK_URL", "https://sms.example.com/hook"),
            ("PORTCULLIS_SMS_WEBHOOK_SECRET", "short"),
        ]),
    )
    .unwrap_err();
    assert_eq!(e.setting, "PORTCULLIS_SMS_WEBHOOK_SECRET");
    assert!(!e.to_string().contains("short"));
    for bad in ["ftp://sms.example.com", "not a url", "https://"] {
        let e = Config::load(
            None,
            env(&[
                ("PORTCULLIS_SMS_WEBHOOK_URL", bad),
                ("PORTCULLIS_SMS_WEBHOOK_SECRET", &secret),
            ]),
        )
        .unwrap_err();
        assert_eq!(e.setting, "PORTCULLIS_SMS_WEBHOOK_URL", "{bad}");
    }
}

#[test]
fn revocation_sync_interval() {
    let c = Config::load(None, env(&[])).unwrap();
    assert_eq!(
        c.settings.revocation_sync_interval,
        std::time::Duration::from_millis(250)
    );
    let c = Config::load(None, env(&[("PORTCULLIS_REVOCATION_SYNC_MS", "100")])).unwrap();
    assert_eq!(
        c.settings.revocation_sync_interval,
        std::time::Duration::from_millis(100)
    );
    for bad in ["0", "2000", "fast"] {
        let e = Config::load(None, env(&[("PORTCULLIS_REVOCATION_SYNC_MS", bad)])).unwrap_err();
        assert_eq!(e.setting, "PORTCULLIS_REVOCATION_SYNC_MS", "{bad}");
    }
}

#[test]
fn document_retention_days() {
    let c = Config::load(None, env(&[])).unwrap();
    assert_eq!(c.settings.document_retention, time::Duration::days(30));
    let c = Config::load(None, env(&[("PORTCULLIS_DOCUMENT_RETENTION_DAYS", "7")])).unwrap();
    assert_eq!(c.settings.document_retention, time::Duration::days(7));
    for bad in ["0", "3651", "soon"] {
        let e =
            Config::load(None, env(&[("PORTCULLIS_DOCUMENT_RETENTION_DAYS", bad)])).unwrap_err();
        assert_eq!(e.setting, "PORTCULLIS_DOCUMENT_RETENTION_DAYS", "{bad}");
    }
}
