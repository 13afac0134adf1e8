//! Password policy (NIST SP 800-63B) and hashing off the async runtime.

use std::sync::Arc;

use portcullis_crypto::{PasswordHasher, Verification};
use secrecy::{ExposeSecret, SecretString};
use std::sync::Mutex;
use std::sync::mpsc::{Receiver, RecvTimeoutError, TrySendError};
use tracing::Instrument as _;

use crate::error::{Error, FieldError, Result};
use crate::model::Email;

/// Longest password accepted, in Unicode code points.
pub const MAX_PASSWORD_LENGTH: usize = 256;

/// Checks a new password against NIST SP 800-63B: `min_len..=256` code points,
/// no composition rules, not on the common-password blocklist, and not
/// containing the account's email address (nor its local part, when that
/// has three characters or more).
pub fn check_new_password(
    field: &str,
    password: &str,
    min_len: u32,
    email: Option<&Email>,
) -> std::result::Result<(), FieldError> {
    let len = password.chars().count();
    if len < min_len as usize {
        return Err(FieldError::new(
            field,
            format!("must be at least {min_len} characters"),
        ));
    }
    if len > MAX_PASSWORD_LENGTH {
        return Err(FieldError::new(
            field,
            format!("must be at most {MAX_PASSWORD_LENGTH} characters"),
        ));
    }
    if portcullis_crypto::is_common_password(password) {
        return Err(FieldError::new(
            field,
            "is one of the most commonly used passwords; choose another",
        ));
    }
    if let Some(email) = email {
        let password = password.to_lowercase();
        let local = email.local_part().to_lowercase();
        let whole = email.canonical();
        if password.contains(&whole) || (local.chars().count() >= 3 && password.contains(&local)) {
            return Err(FieldError::new(
                field,
                "must not contain your email address",
            ));
        }
    }
    Ok(())
}

/// Password hashing jobs waiting for a hashing thread, at most.
const QUEUE_CAPACITY: usize = 1024;

type Job = Box<dyn FnOnce(&PasswordHasher) + Send>;

/// Hashes and verifies passwords on a small pool of dedicated threads (one per
/// core by default), never on the async runtime, so a flood of logins cannot
/// starve other requests. A hashing thread takes the next job the moment it is
/// free, without waiting for the async side to be scheduled. When the queue is
/// full, new work is refused with 503 instead of piling up.
#[derive(Clone)]
pub struct Passwords {
    params: portcullis_crypto::Argon2Params,
    jobs: std::sync::mpsc::SyncSender<Job>,
}

impl std::fmt::Debug for Passwords {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Passwords")
            .field("params", &self.params)
            .finish()
    }
}

impl Passwords {
    /// Starts `concurrency` hashing threads. They stop when the last clone of
    /// this value is dropped.
    pub fn new(hasher: PasswordHasher, concurrency: usize) -> Result<Self> {
        let (jobs, queue) = std::sync::mpsc::sync_channel::<Job>(QUEUE_CAPACITY);
        let queue = Arc::new(Mutex::new(queue));
        let mut started = 0;
        for n in 0..concurrency.max(1) {
            let queue = queue.clone();
            let hasher = hasher.clone();
            let spawned = std::thread::Builder::new()
                .name(format!("portcullis-hash-{n}"))
                .spawn(move || hashing_thread(&queue, &hasher));
            match spawned {
                Ok(_) => started += 1,
                Err(e) => tracing::error!(error = %e, "cannot start a password hashing thread"),
            }
        }
        if started == 0 {
            return Err(Error::Internal("no hashing thread"));
        }
        Ok(Self {
            params: hasher.params(),
            jobs,
        })
    }

    async fn run<T: Send + 'static>(
        &self,
        job: impl FnOnce(&PasswordHasher) -> T + Send + 'static,
    ) -> Result<T> {
        let (reply, answer) = tokio::sync::oneshot::channel();
        let job: Job = Box::new(move |hasher| {
            let _ = reply.send(job(hasher));
        });
        self.jobs.try_send(job).map_err(|e| match e {
            TrySendError::Full(_) => {
                tracing::warn!("password hashing queue full: refusing");
                Error::Unavailable
            }
            TrySendError::Disconnected(_) => Error::Internal("hasher stopped"),
        })?;
        answer.await.map_err(|_| Error::Internal("hash task"))
    }

    /// Hashes a password into a PHC string.
    pub async fn hash(&self, password: SecretString) -> Result<String> {
        Ok(self
            .run(move |h| h.hash(password.expose_secret()))
            .instrument(tracing::debug_span!("password.hash"))
            .await??)
    }

    /// Verifies a password against a stored PHC string. A hash that cannot be
    /// parsed counts as a mismatch (and is logged), never as an error to the client.
    pub async fn verify(&self, password: SecretString, phc: String) -> Result<Verification> {
        let outcome = self
            .run(move |h| h.verify(password.expose_secret(), &phc))
            .instrument(tracing::debug_span!("password.verify"))
            .await?;
        Ok(outcome.unwrap_or_else(|e| {
            tracing::warn!(error = %e, "stored password hash could not be verified");
            Verification::Invalid
        }))
    }

    /// Spends the same time as a verification, for unknown accounts.
    pub async fn dummy_verify(&self, password: SecretString) -> Result<()> {
        // Named as a real verification: a trace must not tell the two apart.
        self.run(move |h| h.dummy_verify(password.expose_secret()))
            .instrument(tracing::debug_span!("password.verify"))
            .await
    }
}

/// How long a hashing thread waits for work before freeing its working memory.
const IDLE_RELEASE: std::time::Duration = std::time::Duration::from_millis(200);

fn hashing_thread(queue: &Mutex<Receiver<Job>>, hasher: &PasswordHasher) {
    loop {
        let job = {
            let Ok(queue) = queue.lock() else { return };
            match queue.recv_timeout(IDLE_RELEASE) {
                Ok(job) => job,
                Err(RecvTimeoutError::Timeout) => {
                    drop(queue);
                    portcullis_crypto::release_thread_memory();
                    continue;
                }
                Err(RecvTimeoutError::Disconnected) => return,
            }
        };
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| job(hasher)));
        if outcome.is_err() {
            tracing::error!("a password hashing job panicked");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "current_thread")]
    async fn hashing_runs_off_the_async_runtime() {
        let hasher = PasswordHasher::new(portcullis_crypto::Argon2Params::default()).unwrap();
        let p = Passwords::new(hasher, 1).unwrap();
        let hashing = tokio::spawn({
            let p = p.clone();
            async move {
                for _ in 0..2 {
                    p.hash(SecretString::from("some password".to_owned()))
                        .await
                        .unwrap();
                }
            }
        });
        // On a single-threaded runtime this loop only makes progress while the
        // hashes run elsewhere.
        let mut ticks = 0u64;
        while !hashing.is_finished() {
            tokio::task::yield_now().await;
            ticks += 1;
        }
        assert!(ticks > 100, "the runtime was blocked ({ticks} ticks)");
        let phc = p
            .hash(SecretString::from("some password".to_owned()))
            .await
            .unwrap();
        assert!(matches!(
            p.verify(SecretString::from("some password".to_owned()), phc.clone())
                .await
                .unwrap(),
            Verification::Valid {
                needs_rehash: false
            }
        ));
        assert_eq!(
            p.verify(
                SecretString::from("garbage".to_owned()),
                "not a hash".to_owned()
            )
            .await
            .unwrap(),
            Verification::Invalid
        );
    }

    #[test]
    fn policy() {
        let email = Email::parse("alice.w@example.com").unwrap();
        let ok = |p: &str| check_new_password("password", p, 8, Some(&email)).is_ok();
        assert!(ok("correct horse battery"));
        assert!(!ok("short"));
        assert!(!ok("password"), "blocklisted");
        assert!(!ok("my-ALICE.W-secret"), "contains local part");
        // The whole address is refused whatever the local part's length.
        let short = Email::parse("x@example.com").unwrap();
        let ok_short = |p: &str| check_new_password("password", p, 8, Some(&short)).is_ok();
        assert!(!ok_short("x@example.com!!"), "contains the whole address");
        assert!(!ok_short("my X@EXAMPLE.COM pass"), "case-insensitive");
        assert!(
            ok_short("xylophone example"),
            "a one-letter local part alone is fine"
        );
        assert!(!ok(&"x".repeat(257)));
        assert!(ok(&"é".repeat(256)), "code points, not bytes");
        // Seven code points that are many bytes are still too short.
        assert!(!ok("ééééééé"));
    }
}
