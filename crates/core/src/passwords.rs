//! Password policy (NIST SP 800-63B) and hashing off the async runtime.

use std::sync::Arc;

use portcullis_crypto::{PasswordHasher, Verification};
use secrecy::{ExposeSecret, SecretString};
use tokio::sync::Semaphore;

use crate::error::{Error, FieldError, Result};
use crate::model::Email;

/// Longest password accepted, in Unicode code points.
pub const MAX_PASSWORD_LENGTH: usize = 256;

/// Checks a new password against NIST SP 800-63B: `min_len..=256` code points,
/// no composition rules, not on the common-password blocklist, and not
/// containing the account's email local part.
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
        let local = email.local_part().to_lowercase();
        if local.chars().count() >= 3 && password.to_lowercase().contains(&local) {
            return Err(FieldError::new(
                field,
                "must not contain your email address",
            ));
        }
    }
    Ok(())
}

/// Hashes and verifies passwords on the blocking thread pool, at most
/// `concurrency` at once, so a flood of logins cannot starve other requests.
#[derive(Clone)]
pub struct Passwords {
    hasher: PasswordHasher,
    permits: Arc<Semaphore>,
}

impl std::fmt::Debug for Passwords {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Passwords")
            .field("params", &self.hasher.params())
            .finish()
    }
}

impl Passwords {
    /// A hasher with bounded concurrency.
    pub fn new(hasher: PasswordHasher, concurrency: usize) -> Self {
        Self {
            hasher,
            permits: Arc::new(Semaphore::new(concurrency.max(1))),
        }
    }

    async fn run<T: Send + 'static>(
        &self,
        job: impl FnOnce(&PasswordHasher) -> T + Send + 'static,
    ) -> Result<T> {
        let _permit = self
            .permits
            .acquire()
            .await
            .map_err(|_| Error::Internal("hasher closed"))?;
        let hasher = self.hasher.clone();
        tokio::task::spawn_blocking(move || job(&hasher))
            .await
            .map_err(|_| Error::Internal("hash task"))
    }

    /// Hashes a password into a PHC string.
    pub async fn hash(&self, password: SecretString) -> Result<String> {
        Ok(self
            .run(move |h| h.hash(password.expose_secret()))
            .await??)
    }

    /// Verifies a password against a stored PHC string. A hash that cannot be
    /// parsed counts as a mismatch (and is logged), never as an error to the client.
    pub async fn verify(&self, password: SecretString, phc: String) -> Result<Verification> {
        let outcome = self
            .run(move |h| h.verify(password.expose_secret(), &phc))
            .await?;
        Ok(outcome.unwrap_or_else(|e| {
            tracing::warn!(error = %e, "stored password hash could not be verified");
            Verification::Invalid
        }))
    }

    /// Spends the same time as a verification, for unknown accounts.
    pub async fn dummy_verify(&self, password: SecretString) -> Result<()> {
        self.run(move |h| h.dummy_verify(password.expose_secret()))
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "current_thread")]
    async fn hashing_runs_off_the_async_runtime() {
        let hasher = PasswordHasher::new(portcullis_crypto::Argon2Params::default()).unwrap();
        let p = Passwords::new(hasher, 1);
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
        assert!(!ok(&"x".repeat(257)));
        assert!(ok(&"é".repeat(256)), "code points, not bytes");
        // Seven code points that are many bytes are still too short.
        assert!(!ok("ééééééé"));
    }
}
