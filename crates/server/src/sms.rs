//! The SMS adapter: an HTTP webhook of an SMS gateway.
//!
//! Each message is POSTed as JSON `{"to": "+4915112345678", "message": "..."}`
//! with two headers a gateway uses to check it:
//!
//! - `X-Portcullis-Timestamp`: Unix seconds when the request was signed;
//! - `X-Portcullis-Signature`: `sha256=` and the lower-case hex HMAC-SHA256,
//!   under the configured secret, of `<timestamp>.<body>` (the exact bytes
//!   sent).
//!
//! A gateway recomputes the HMAC, compares it in constant time and refuses
//! timestamps more than a few minutes old, so a captured request cannot be
//! replayed later. Connection failures, timeouts, 408, 429 and 5xx answers
//! are retried (three attempts in all); other answers are final. Errors name
//! the status or the failing step, never the message, the URL or the secret.

use std::time::Duration;

use async_trait::async_trait;
use portcullis_core::mail::SendError;
use portcullis_core::mfa::OutgoingSms;
use portcullis_core::ports::SmsSender;
use secrecy::{ExposeSecret, SecretString};

use crate::config::SmsConfig;

/// Header with the signing time (Unix seconds).
pub const TIMESTAMP_HEADER: &str = "x-portcullis-timestamp";
/// Header with `sha256=<hex HMAC-SHA256 of "<timestamp>.<body>">`.
pub const SIGNATURE_HEADER: &str = "x-portcullis-signature";
/// Attempts at one message.
const ATTEMPTS: u32 = 3;
/// How long one attempt may take.
const TIMEOUT: Duration = Duration::from_secs(10);

/// Posts SMS to a gateway's webhook.
pub struct WebhookSmsSender {
    client: reqwest::Client,
    url: url::Url,
    secret: SecretString,
    retry_pause: Duration,
    /// Stamps each attempt (the gateway checks the stamp against its own
    /// wall clock).
    clock: portcullis_core::SharedClock,
}

impl std::fmt::Debug for WebhookSmsSender {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebhookSmsSender")
            .field("host", &self.url.host_str())
            .finish_non_exhaustive()
    }
}

/// `sha256=<hex>`: the signature of a body sent at `timestamp`.
pub fn signature(secret: &[u8], timestamp: i64, body: &[u8]) -> String {
    let mut signed = format!("{timestamp}.").into_bytes();
    signed.extend_from_slice(body);
    let mac = portcullis_crypto::hmac_sha256(secret, &signed);
    let hex: String = mac.iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256={hex}")
}

impl WebhookSmsSender {
    /// A sender for a configured webhook that stamps its attempts with
    /// `clock`; retries after 1 s, then 2 s.
    pub fn new(config: &SmsConfig, clock: portcullis_core::SharedClock) -> anyhow::Result<Self> {
        let client = reqwest::Client::builder()
            .timeout(TIMEOUT)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|_| anyhow::anyhow!("cannot build the SMS webhook's HTTP client"))?;
        Ok(Self {
            client,
            url: config.url.clone(),
            secret: config.secret.clone(),
            retry_pause: Duration::from_secs(1),
            clock,
        })
    }

    /// The same sender with another first pause between attempts (doubled
    /// after each).
    pub fn with_retry_pause(mut self, pause: Duration) -> Self {
        self.retry_pause = pause;
        self
    }

    /// One attempt: `Ok`, or the error and whether another attempt may help.
    async fn attempt(&self, body: &[u8]) -> Result<(), SendError> {
        let timestamp = self.clock.now().unix_timestamp();
        let sig = signature(self.secret.expose_secret().as_bytes(), timestamp, body);
        let answer = self
            .client
            .post(self.url.clone())
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header(TIMESTAMP_HEADER, timestamp.to_string())
            .header(SIGNATURE_HEADER, sig)
            .body(body.to_vec())
            .send()
            .await;
        match answer {
            Ok(r) if r.status().is_success() => Ok(()),
            Ok(r) => {
                let status = r.status();
                Err(SendError {
                    message: format!("the SMS gateway answered {status}"),
                    permanent: status.is_client_error()
                        && status != reqwest::StatusCode::REQUEST_TIMEOUT
                        && status != reqwest::StatusCode::TOO_MANY_REQUESTS,
                })
            }
            // reqwest's error text names the URL (it may hold credentials).
            Err(e) => Err(SendError {
                message: format!("cannot reach the SMS gateway: {}", e.without_url()),
                permanent: false,
            }),
        }
    }
}

#[async_trait]
impl SmsSender for WebhookSmsSender {
    async fn send(&self, sms: &OutgoingSms) -> Result<(), SendError> {
        let body = serde_json::to_vec(&serde_json::json!({
            "to": sms.to,
            "message": sms.message,
        }))
        .map_err(|_| SendError {
            message: "cannot encode the SMS".to_owned(),
            permanent: true,
        })?;
        let mut pause = self.retry_pause;
        let mut attempt = 1;
        loop {
            match self.attempt(&body).await {
                Ok(()) => return Ok(()),
                Err(e) if e.permanent || attempt >= ATTEMPTS => return Err(e),
                Err(e) => {
                    tracing::debug!(attempt, error = %e.message, "SMS webhook attempt failed; retrying");
                    portcullis_core::clock::wait(pause).await;
                    pause *= 2;
                    attempt += 1;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::signature;

    #[test]
    fn signature_covers_timestamp_and_body() {
        let s = signature(b"secret", 1_700_000_000, b"{\"to\":\"+1\"}");
        assert!(s.starts_with("sha256=") && s.len() == 7 + 64, "{s}");
        assert_ne!(s, signature(b"secret", 1_700_000_001, b"{\"to\":\"+1\"}"));
        assert_ne!(s, signature(b"secret", 1_700_000_000, b"{\"to\":\"+2\"}"));
        assert_ne!(s, signature(b"secret2", 1_700_000_000, b"{\"to\":\"+1\"}"));
        // HMAC-SHA256("key", "1.x"), computed with Python's hmac module.
        assert_eq!(
            signature(b"key", 1, b"x"),
            "sha256=fc4913c41a7bf793267e2a384f3261c9436ec2cd097bd745e7b0d99113f510ec"
        );
    }
}
