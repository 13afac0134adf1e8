//! Redis Sentinel: `redis+sentinel://[[USER]:PASSWORD@]HOST[:PORT][,HOST[:PORT]...]/MASTER[/DB]`.
//! The sentinels are asked every second which server is the primary of
//! `MASTER`; when the answer changes (a failover), the instance's
//! connection moves to the new primary, and the notice listener with it.

use std::time::Duration;

use redis::{ConnectionAddr, ConnectionInfo, IntoConnectionInfo as _};

use crate::{CONNECTION_TIMEOUT, RESPONSE_TIMEOUT, Redis};

/// The sentinels' port when a URL names none.
const SENTINEL_PORT: u16 = 26379;
/// How often the sentinels are asked for the primary.
const POLL: Duration = Duration::from_secs(1);

/// A parsed `redis+sentinel://` URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SentinelUrl {
    pub(crate) nodes: Vec<(String, u16)>,
    pub(crate) master: String,
    pub(crate) db: i64,
    pub(crate) username: Option<String>,
    pub(crate) password: Option<String>,
}

impl SentinelUrl {
    /// `None` for anything but a well-formed sentinel URL.
    pub(crate) fn parse(url: &str) -> Option<Self> {
        let rest = url.strip_prefix("redis+sentinel://")?;
        let (auth, rest) = match rest.rsplit_once('@') {
            Some((auth, rest)) => (Some(auth), rest),
            None => (None, rest),
        };
        let (hosts, path) = rest.split_once('/')?;
        let mut path = path.split('/');
        let master = path.next().filter(|m| !m.is_empty())?.to_owned();
        let db = match path.next() {
            None | Some("") => 0,
            Some(db) => db.parse().ok()?,
        };
        if path.next().is_some() {
            return None;
        }
        let mut nodes = Vec::new();
        for host in hosts.split(',') {
            let (name, port) = match host.rsplit_once(':') {
                Some((name, port)) if !name.ends_with(':') => (name, port.parse().ok()?),
                _ => (host, SENTINEL_PORT),
            };
            let name = name.trim_start_matches('[').trim_end_matches(']');
            if name.is_empty() {
                return None;
            }
            nodes.push((name.to_owned(), port));
        }
        let decode = |s: &str| {
            percent_encoding::percent_decode_str(s)
                .decode_utf8()
                .ok()
                .map(|s| s.into_owned())
        };
        let (username, password) = match auth {
            None => (None, None),
            Some(auth) => match auth.split_once(':') {
                Some((user, pass)) => (
                    Some(decode(user)?).filter(|u| !u.is_empty()),
                    Some(decode(pass)?),
                ),
                None => (None, Some(decode(auth)?)),
            },
        };
        Some(Self {
            nodes,
            master,
            db,
            username,
            password,
        })
    }

    /// The connection to the primary at `host:port`, with the URL's
    /// database and credentials.
    pub(crate) fn primary(&self, host: &str, port: u16) -> redis::RedisResult<ConnectionInfo> {
        let mut settings = redis::RedisConnectionInfo::default().set_db(self.db);
        if let Some(u) = &self.username {
            settings = settings.set_username(u);
        }
        if let Some(p) = &self.password {
            settings = settings.set_password(p);
        }
        ConnectionAddr::Tcp(host.to_owned(), port)
            .into_connection_info()
            .map(|info| info.set_redis_settings(settings))
    }
}

/// Asks the sentinels, in turn, for the primary of `master`.
async fn ask(url: &SentinelUrl) -> Option<(String, u16)> {
    for (host, port) in &url.nodes {
        let Ok(client) = redis::Client::open(ConnectionAddr::Tcp(host.clone(), *port)) else {
            continue;
        };
        let conn = tokio::time::timeout(
            CONNECTION_TIMEOUT,
            client.get_multiplexed_async_connection(),
        )
        .await;
        let Ok(Ok(mut conn)) = conn else { continue };
        let answer = tokio::time::timeout(
            RESPONSE_TIMEOUT,
            redis::cmd("SENTINEL")
                .arg("get-master-addr-by-name")
                .arg(&url.master)
                .query_async::<Option<(String, u16)>>(&mut conn),
        )
        .await;
        if let Ok(Ok(Some(primary))) = answer {
            return Some(primary);
        }
    }
    None
}

/// Follows the primary forever (spawned by [`Redis::open`]).
pub(crate) async fn follow(redis: Redis, url: SentinelUrl) {
    let mut current: Option<(String, u16)> = None;
    loop {
        match ask(&url).await {
            Some(primary) if current.as_ref() != Some(&primary) => {
                match url
                    .primary(&primary.0, primary.1)
                    .and_then(|info| redis.relink(info))
                {
                    Ok(()) => {
                        tracing::info!(
                            primary = %format!("{}:{}", primary.0, primary.1),
                            master = %url.master,
                            "Redis primary found through Sentinel"
                        );
                        current = Some(primary);
                    }
                    Err(e) => {
                        tracing::warn!(error = %crate::describe(&e), "cannot use the Redis primary")
                    }
                }
            }
            Some(_) => {}
            None => {
                let _ = redis.record::<()>(
                    "sentinel",
                    Err(redis::RedisError::from((
                        redis::ErrorKind::Io,
                        "no sentinel answered for the primary",
                    ))),
                );
            }
        }
        portcullis_core::clock::wait(POLL).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sentinel_urls_are_read() {
        let u = SentinelUrl::parse("redis+sentinel://:s%40cret@s1:26380,s2,[::1]:26381/mymaster/2")
            .expect("valid");
        assert_eq!(
            u.nodes,
            vec![
                ("s1".to_owned(), 26380),
                ("s2".to_owned(), 26379),
                ("::1".to_owned(), 26381)
            ]
        );
        assert_eq!(u.master, "mymaster");
        assert_eq!(u.db, 2);
        assert_eq!(u.password.as_deref(), Some("s@cret"));
        assert_eq!(u.username, None);
        for bad in [
            "redis+sentinel://s1/",
            "redis+sentinel://s1",
            "redis+sentinel://s1:x/m",
            "redis+sentinel:///m",
            "redis+sentinel://s1/m/notanumber",
            "redis+sentinel://s1/m/0/extra",
            "redis://s1/m",
        ] {
            assert!(SentinelUrl::parse(bad).is_none(), "{bad}");
        }
    }
}
