//! An SMS gateway on loopback: a real HTTP server (axum) that receives
//! Portcullis's webhook calls, checks their signatures with its own
//! HMAC-SHA256 (the `hmac` and `sha2` crates, not Portcullis's code) and a
//! five-minute timestamp window, and keeps the accepted messages in memory.
//! It can answer the next calls with 503 to exercise the sender's retries.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use tokio::sync::Notify;

/// Largest clock difference accepted between the signature and now.
const MAX_SKEW_SECONDS: i64 = 300;

/// One message the gateway accepted.
#[derive(Debug, Clone)]
pub struct ReceivedSms {
    /// The recipient.
    pub to: String,
    /// The text.
    pub message: String,
}

impl ReceivedSms {
    /// The first run of six digits in the text.
    pub fn code(&self) -> Option<String> {
        let bytes = self.message.as_bytes();
        (0..bytes.len().saturating_sub(5)).find_map(|i| {
            let run = bytes.get(i..i + 6)?;
            let before = i.checked_sub(1).and_then(|j| bytes.get(j));
            let after = bytes.get(i + 6);
            let digit = |b: Option<&u8>| b.is_some_and(u8::is_ascii_digit);
            (run.iter().all(u8::is_ascii_digit) && !digit(before) && !digit(after))
                .then(|| String::from_utf8_lossy(run).into_owned())
        })
    }
}

struct Gateway {
    secret: Vec<u8>,
    accepted: Mutex<Vec<ReceivedSms>>,
    rejected: AtomicUsize,
    fail_next: AtomicUsize,
    calls: AtomicUsize,
    arrived: Notify,
}

/// A running gateway. Dropping it stops the server.
pub struct SmsGateway {
    addr: SocketAddr,
    state: Arc<Gateway>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for SmsGateway {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl std::fmt::Debug for SmsGateway {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmsGateway")
            .field("addr", &self.addr)
            .finish()
    }
}

fn hex_decode(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
        .collect()
}

async fn receive(State(g): State<Arc<Gateway>>, headers: HeaderMap, body: Bytes) -> StatusCode {
    g.calls.fetch_add(1, Ordering::SeqCst);
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let verified = (|| {
        let timestamp: i64 = header("x-portcullis-timestamp")?.parse().ok()?;
        // A gateway's own wall clock, as a real one would read it.
        #[allow(clippy::disallowed_methods)]
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        if (now - timestamp).abs() > MAX_SKEW_SECONDS {
            return None;
        }
        let tag = hex_decode(header("x-portcullis-signature")?.strip_prefix("sha256=")?)?;
        let mut mac = Hmac::<Sha256>::new_from_slice(&g.secret).ok()?;
        mac.update(format!("{timestamp}.").as_bytes());
        mac.update(&body);
        mac.verify_slice(&tag).ok()
    })();
    if verified.is_none() || header("content-type") != Some("application/json") {
        g.rejected.fetch_add(1, Ordering::SeqCst);
        return StatusCode::UNAUTHORIZED;
    }
    if g.fail_next
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
        .is_ok()
    {
        return StatusCode::SERVICE_UNAVAILABLE;
    }
    let Ok(json) = serde_json::from_slice::<serde_json::Value>(&body) else {
        return StatusCode::BAD_REQUEST;
    };
    let (Some(to), Some(message)) = (json["to"].as_str(), json["message"].as_str()) else {
        return StatusCode::BAD_REQUEST;
    };
    g.accepted.lock().expect("inbox").push(ReceivedSms {
        to: to.to_owned(),
        message: message.to_owned(),
    });
    g.arrived.notify_waiters();
    StatusCode::NO_CONTENT
}

impl SmsGateway {
    /// Starts a gateway on a free loopback port that accepts requests
    /// signed with `secret`.
    pub async fn start(secret: &str) -> SmsGateway {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind an SMS gateway");
        let addr = listener.local_addr().expect("addr");
        let state = Arc::new(Gateway {
            secret: secret.as_bytes().to_vec(),
            accepted: Mutex::new(Vec::new()),
            rejected: AtomicUsize::new(0),
            fail_next: AtomicUsize::new(0),
            calls: AtomicUsize::new(0),
            arrived: Notify::new(),
        });
        let app = axum::Router::new()
            .route("/hook", post(receive))
            .with_state(state.clone());
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        SmsGateway { addr, state, task }
    }

    /// The webhook's URL.
    pub fn url(&self) -> String {
        format!("http://{}/hook", self.addr)
    }

    /// Answers the next `n` well-signed calls with 503.
    pub fn fail_next(&self, n: usize) {
        self.state.fail_next.store(n, Ordering::SeqCst);
    }

    /// Calls refused for a bad signature, timestamp or content type.
    pub fn rejected(&self) -> usize {
        self.state.rejected.load(Ordering::SeqCst)
    }

    /// Every call received.
    pub fn calls(&self) -> usize {
        self.state.calls.load(Ordering::SeqCst)
    }

    /// Messages accepted so far for `to`.
    pub fn messages_to(&self, to: &str) -> Vec<ReceivedSms> {
        self.state
            .accepted
            .lock()
            .expect("inbox")
            .iter()
            .filter(|m| m.to == to)
            .cloned()
            .collect()
    }

    /// Waits (up to 10 s) until `count` messages for `to` were accepted and
    /// returns the last of them; panics on time-out.
    pub async fn wait_for(&self, to: &str, count: usize) -> ReceivedSms {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            let arrived = self.state.arrived.notified();
            let got = self.messages_to(to);
            if got.len() >= count {
                return got.into_iter().nth(count - 1).expect("message");
            }
            if tokio::time::timeout_at(deadline, arrived).await.is_err() {
                #[allow(clippy::panic)]
                {
                    panic!(
                        "timed out waiting for SMS {count} to {to}; calls {}, rejected {}",
                        self.calls(),
                        self.rejected()
                    );
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_found_in_texts() {
        let sms = |m: &str| ReceivedSms {
            to: String::new(),
            message: m.to_owned(),
        };
        assert_eq!(
            sms("012345 is your code.\n\n@h #012345").code().as_deref(),
            Some("012345")
        );
        assert_eq!(
            sms("+4915112345678 then 654321").code().as_deref(),
            Some("654321")
        );
        assert_eq!(sms("no code here 12345").code(), None);
    }
}
