//! The real services that tests and benchmarks run against, each started
//! fresh in a temporary directory on loopback and stopped afterwards.
//!
//! To add one, write a module with a type that implements [`Service`],
//! install its package with [`apt::ensure_packages`], and add a [`Kind`].

pub mod apt;
pub mod postgres;
pub mod redis;

use anyhow::Result;

pub use postgres::Postgres;
pub use redis::Redis;

/// A running service, stopped when dropped.
pub trait Service {
    /// A short name for messages.
    fn name(&self) -> &'static str;
    /// The environment variables through which tests reach the service.
    fn env(&self) -> Vec<(String, String)>;
    /// Stops the service and removes its files. Calling it again does nothing.
    fn stop(&mut self) -> Result<()>;
}

/// The services a command can ask for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// A throwaway PostgreSQL cluster; sets `TEST_POSTGRES_URL` and
    /// `TEST_REQUIRE_POSTGRES=1`.
    Postgres,
    /// A throwaway Redis server; sets `TEST_REDIS_URL` and
    /// `TEST_REQUIRE_REDIS=1`.
    Redis,
}

/// Several running services, stopped in reverse order of start when dropped.
#[derive(Default)]
pub struct Services {
    running: Vec<Box<dyn Service>>,
}

impl Services {
    /// Starts each kind in turn. If one fails, those already started stop.
    pub fn start(kinds: &[Kind]) -> Result<Self> {
        let mut services = Self::default();
        for kind in kinds {
            crate::process::check_interrupted()?;
            let service: Box<dyn Service> = match kind {
                Kind::Postgres => Box::new(Postgres::start()?),
                Kind::Redis => Box::new(Redis::start()?),
            };
            services.running.push(service);
        }
        Ok(services)
    }

    /// The environment variables of every service.
    pub fn env(&self) -> Vec<(String, String)> {
        self.running.iter().flat_map(|s| s.env()).collect()
    }

    /// Stops every service, reporting the first failure after trying all.
    pub fn stop(&mut self) -> Result<()> {
        let mut first_error = None;
        while let Some(mut service) = self.running.pop() {
            if let Err(err) = service.stop() {
                eprintln!("xtask: stopping {}: {err:#}", service.name());
                first_error.get_or_insert(err);
            }
        }
        first_error.map_or(Ok(()), Err)
    }
}

impl Drop for Services {
    fn drop(&mut self) {
        // Errors were printed by `stop`.
        let _ = self.stop();
    }
}
