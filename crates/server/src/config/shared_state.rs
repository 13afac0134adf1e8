//! The shared state of several instances: `redis_url` (or `redis_url_file`).

use std::fmt;
use std::path::PathBuf;

use secrecy::{ExposeSecret as _, SecretString};

use super::{ConfigError, err, read_secret_file};

/// A Redis URL whose `Debug` and `Display` hide the password.
#[derive(Clone)]
pub struct RedisUrl(SecretString);

impl RedisUrl {
    /// The full URL, password included: pass it to the client, never to a log.
    pub fn expose(&self) -> &str {
        self.0.expose_secret()
    }
}

impl fmt::Display for RedisUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        super::write_redacted(f, self.expose())
    }
}

impl fmt::Debug for RedisUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RedisUrl({self})")
    }
}

/// The Redis URL of `redis_url` or `redis_url_file`, checked without ever
/// echoing it; `n` names a setting as the operator wrote it.
pub(super) fn redis_url(
    url: Option<String>,
    file: Option<PathBuf>,
    n: impl Fn(&str) -> String,
) -> Result<Option<RedisUrl>, ConfigError> {
    let (setting, url) = match (url, file) {
        (Some(_), Some(_)) => {
            return Err(err(
                n("redis_url_file"),
                "set either the Redis URL or the Redis URL file, not both",
            ));
        }
        (Some(u), None) => (n("redis_url"), SecretString::from(u)),
        (None, Some(f)) => {
            let setting = n("redis_url_file");
            let url = read_secret_file(setting.clone(), &f)?;
            (setting, url)
        }
        (None, None) => return Ok(None),
    };
    if url.expose_secret().starts_with("redis+sentinel://") {
        if !portcullis_redis::is_sentinel_url(url.expose_secret()) {
            return Err(err(
                &setting,
                "is not a Sentinel URL such as \
                 redis+sentinel://:PASSWORD@sentinel-1:26379,sentinel-2:26379/mymaster/0",
            ));
        }
        return Ok(Some(RedisUrl(url)));
    }
    let parsed = url::Url::parse(url.expose_secret()).map_err(|_| {
        err(
            &setting,
            "is not a URL such as redis://host:6379/0 or rediss://:password@host:6380",
        )
    })?;
    match parsed.scheme() {
        "redis" | "rediss" | "valkey" | "valkeys" => {
            if parsed.host_str().is_none_or(str::is_empty) {
                return Err(err(&setting, "must name a host"));
            }
        }
        "redis+unix" | "unix" => {
            if parsed.path().is_empty() || parsed.path() == "/" {
                return Err(err(&setting, "must name the socket's path"));
            }
        }
        _ => {
            return Err(err(
                &setting,
                "must start with redis://, rediss:// (TLS), redis+unix:// or redis+sentinel:// \
                 (Redis Cluster is not supported)",
            ));
        }
    }
    Ok(Some(RedisUrl(url)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(url: &str) -> Result<Option<RedisUrl>, ConfigError> {
        redis_url(Some(url.to_owned()), None, |k| k.to_owned())
    }

    #[test]
    fn redis_urls_are_checked_and_their_passwords_hidden() {
        let ok = check("redis://:s3cret@cache.internal:6379/2")
            .unwrap()
            .unwrap();
        assert_eq!(ok.to_string(), "redis://:***@cache.internal:6379/2");
        assert!(!format!("{ok:?}").contains("s3cret"));
        assert!(check("rediss://cache.internal:6380").unwrap().is_some());
        assert!(check("redis+unix:///run/redis.sock").unwrap().is_some());
        let sentinel = check("redis+sentinel://:s3cret@s1:26379,s2:26379/mymaster/1")
            .unwrap()
            .unwrap();
        assert_eq!(
            sentinel.to_string(),
            "redis+sentinel://***@s1:26379,s2:26379/mymaster/1"
        );
        assert!(!format!("{sentinel:?}").contains("s3cret"));
        for bad in [
            "http://cache:6379",
            "redis-sentinel://s1:26379/mymaster",
            "redis+sentinel://s1:26379/",
            "redis+cluster://c1:6379",
            "cache:6379",
            "redis+unix://",
        ] {
            let e = check(bad).unwrap_err();
            assert_eq!(e.setting, "redis_url", "{bad}");
        }
        assert!(redis_url(None, None, |k| k.to_owned()).unwrap().is_none());
        let both = redis_url(
            Some("redis://a".to_owned()),
            Some(PathBuf::from("/x")),
            |k| k.to_owned(),
        );
        assert_eq!(both.unwrap_err().setting, "redis_url_file");
    }
}
