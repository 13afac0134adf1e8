//! Outgoing e-mail: the records of the persistent outbox, per-realm
//! templates, and the delivery worker's pass.
//!
//! A service never sends mail itself: it renders a message from the realm's
//! template and enqueues it, encrypted with the master key (the bodies hold
//! secrets such as reset links), in the same call; a worker (spawned by the
//! server) claims due messages with a lease, sends them through a
//! [`Mailer`], and on failure schedules a retry with exponential backoff,
//! giving up after [`MAX_ATTEMPTS`]. Bodies are cleared once a message is
//! sent or given up. A mail server that is down loses nothing: messages wait
//! in the table.

pub mod signup;
pub mod templates;

use std::sync::Arc;

use portcullis_crypto::MasterKey;
use time::{Duration, OffsetDateTime};
use uuid::Uuid;

use crate::app::Inner;
use crate::error::{Error, Result};
use crate::model::{Email, Realm, new_id};
use crate::ports::Mailer;

pub use crate::model::mail::{
    EmailToken, EmailTokenPurpose, MailKind, MailStatus, MailTemplate, MxAnswer, OutboxMessage,
    OutgoingMail, Rendered, SendError, TemplateSource,
};

/// Attempts at a message before it is given up.
pub const MAX_ATTEMPTS: u32 = 10;
/// Pause after the first failed attempt; doubled after each further one.
pub const FIRST_RETRY: Duration = Duration::seconds(30);
/// Longest pause between two attempts.
pub const MAX_RETRY: Duration = Duration::hours(1);
/// How long a claimed message is reserved for its worker.
pub const LEASE: Duration = Duration::minutes(5);
/// Messages one worker pass claims at most.
const BATCH: u32 = 20;
/// Longest error text kept with a message.
const MAX_ERROR_LEN: usize = 500;

/// The pause before attempt `attempts + 1`, after `attempts` failures.
pub fn backoff(attempts: u32) -> Duration {
    let doublings = attempts.saturating_sub(1).min(16);
    let pause = FIRST_RETRY * 2_i32.pow(doublings);
    pause.min(MAX_RETRY)
}

/// What one pass of the delivery worker did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DeliveryReport {
    /// Messages claimed.
    pub claimed: usize,
    /// Messages sent.
    pub sent: usize,
    /// Messages scheduled for another attempt.
    pub retried: usize,
    /// Messages given up.
    pub failed: usize,
}

/// The associated data of a message's ciphertext: its id, so a ciphertext
/// copied to another row does not decrypt.
fn aad(id: Uuid) -> Vec<u8> {
    let mut v = b"mail_outbox:".to_vec();
    v.extend_from_slice(id.as_bytes());
    v
}

/// Encrypts a rendered message for the outbox row `id`.
pub(crate) fn seal(master: &MasterKey, id: Uuid, content: &Rendered) -> Result<Vec<u8>> {
    let plain = zeroize::Zeroizing::new(
        serde_json::to_vec(content).map_err(|_| Error::Internal("mail encoding"))?,
    );
    Ok(master.encrypt(&plain, &aad(id))?)
}

/// Decrypts what [`seal`] made for the row `id`.
pub(crate) fn open(master: &MasterKey, id: Uuid, sealed: &[u8]) -> Result<Rendered> {
    let plain = master.decrypt(sealed, &aad(id))?;
    serde_json::from_slice(&plain).map_err(|_| Error::Internal("mail decoding"))
}

/// Cuts an error text to [`MAX_ERROR_LEN`] on a character boundary and
/// drops control characters.
fn clip_error(text: &str) -> String {
    text.chars()
        .filter(|c| !c.is_control())
        .take(MAX_ERROR_LEN)
        .collect()
}

/// A caller proven to administer its realm's mail templates.
#[derive(Debug, Clone)]
pub struct TemplateAdmin {
    realm_id: Uuid,
    /// Whether the caller authenticated recently: changes need it.
    fresh: bool,
}

impl TemplateAdmin {
    /// `Ok` when made by [`Mail::require_fresh_admin`]; a change reached
    /// with a read-only proof is a bug, refused.
    fn writable(&self) -> Result<()> {
        match self.fresh {
            true => Ok(()),
            false => Err(Error::Internal("admin-write-without-fresh-authentication")),
        }
    }
}

/// A kind's template as a realm uses it.
#[derive(Debug, Clone, PartialEq)]
pub struct EffectiveTemplate {
    /// The kind.
    pub kind: MailKind,
    /// The template in force.
    pub source: TemplateSource,
    /// Whether the realm overrides the default.
    pub custom: bool,
    /// Last change of the override.
    pub updated_at: Option<OffsetDateTime>,
}

/// Mail service: templates, enqueueing, delivery.
pub struct Mail<'a> {
    i: &'a Inner,
}

impl<'a> Mail<'a> {
    pub(crate) fn new(i: &'a Inner) -> Self {
        Self { i }
    }

    // The services Mail works with, built here and nowhere else in it.

    /// Collaborator: users.
    fn users(&self) -> crate::users::Users<'a> {
        crate::users::Users::new(self.i)
    }

    /// Proves the caller administers the realm it acts in (`users:manage`).
    pub async fn require_admin(
        &self,
        requester: &crate::access::Requester,
    ) -> Result<TemplateAdmin> {
        self.users().require_admin(requester).await?;
        Ok(TemplateAdmin {
            realm_id: requester.realm().id,
            fresh: false,
        })
    }

    /// Proves the caller administers its realm and authenticated recently:
    /// what changing a template needs.
    pub async fn require_fresh_admin(
        &self,
        requester: &crate::access::Requester,
    ) -> Result<TemplateAdmin> {
        self.users().require_fresh_admin(requester).await?;
        Ok(TemplateAdmin {
            realm_id: requester.realm().id,
            fresh: true,
        })
    }

    /// A kind's template in force in the admin's realm.
    pub async fn template(
        &self,
        admin: &TemplateAdmin,
        kind: MailKind,
    ) -> Result<EffectiveTemplate> {
        Ok(
            match self.i.store.get_mail_template(admin.realm_id, kind).await? {
                Some(t) => EffectiveTemplate {
                    kind,
                    source: t.source,
                    custom: true,
                    updated_at: Some(t.updated_at),
                },
                None => EffectiveTemplate {
                    kind,
                    source: templates::default_source(kind),
                    custom: false,
                    updated_at: None,
                },
            },
        )
    }

    /// Overrides a kind's template after checking that it compiles and
    /// renders with sample values.
    pub async fn put_template(
        &self,
        admin: &TemplateAdmin,
        kind: MailKind,
        source: TemplateSource,
    ) -> Result<EffectiveTemplate> {
        admin.writable()?;
        templates::validate(kind, &source).map_err(Error::Validation)?;
        let template = MailTemplate {
            realm_id: admin.realm_id,
            kind,
            source,
            updated_at: self.i.clock.now(),
        };
        self.i.store.put_mail_template(&template).await?;
        Ok(EffectiveTemplate {
            kind,
            source: template.source,
            custom: true,
            updated_at: Some(template.updated_at),
        })
    }

    /// Removes a realm's override: the default applies again.
    pub async fn delete_template(&self, admin: &TemplateAdmin, kind: MailKind) -> Result<()> {
        admin.writable()?;
        if self
            .i
            .store
            .delete_mail_template(admin.realm_id, kind)
            .await?
        {
            Ok(())
        } else {
            Err(Error::NotFound("mail template override"))
        }
    }

    /// Renders a kind for a realm (its override, else the default) and
    /// queues it for `to`. Returns the message id.
    pub(crate) async fn enqueue(
        &self,
        realm: &Realm,
        kind: MailKind,
        to: &Email,
        values: serde_json::Map<String, serde_json::Value>,
    ) -> Result<Uuid> {
        let i = self.i;
        let source = match i.store.get_mail_template(realm.id, kind).await? {
            Some(t) => t.source,
            None => templates::default_source(kind),
        };
        let mut values = values;
        values.insert("realm".into(), realm.display_name.clone().into());
        values.insert("realm_name".into(), realm.name.as_str().into());
        values.insert("email".into(), to.as_str().into());
        let content = match templates::render(&source, &serde_json::Value::Object(values.clone())) {
            Ok(c) => c,
            Err(e) => {
                // An override that no longer renders (it was valid when
                // saved) must not stop the mail: fall back to the default.
                tracing::warn!(realm = %realm.name, kind = kind.as_str(), error = %e, "mail template override failed to render; using the default");
                templates::render(
                    &templates::default_source(kind),
                    &serde_json::Value::Object(values),
                )
                .map_err(|_| Error::Internal("mail template"))?
            }
        };
        let now = i.clock.now();
        let id = new_id();
        let message = OutboxMessage {
            id,
            realm_id: realm.id,
            kind,
            recipient: to.as_str().to_owned(),
            sealed: Some(seal(&i.master, id, &content)?),
            status: MailStatus::Pending,
            attempts: 0,
            next_attempt_at: now,
            lease_id: None,
            lease_until: None,
            last_error: None,
            created_at: now,
            sent_at: None,
        };
        i.store.enqueue_mail(&message).await?;
        metrics::counter!("portcullis_mail_queued_total", "kind" => kind.as_str()).increment(1);
        i.mail_wakeup.notify_one();
        Ok(id)
    }

    /// One pass of the delivery worker: claims due messages, sends them and
    /// settles each. Without a configured mailer it does nothing (messages
    /// stay queued).
    pub async fn deliver_due(&self) -> Result<DeliveryReport> {
        let i = self.i;
        let Some(mailer) = i.mailer.clone() else {
            return Ok(DeliveryReport::default());
        };
        let now = i.clock.now();
        let lease = new_id();
        let claimed = i.store.claim_mail(lease, now, now + LEASE, BATCH).await?;
        let mut report = DeliveryReport {
            claimed: claimed.len(),
            ..Default::default()
        };
        for message in claimed {
            match self.attempt(&*mailer, &message, lease).await? {
                Attempt::Sent => report.sent += 1,
                Attempt::Retry => report.retried += 1,
                Attempt::GaveUp => report.failed += 1,
            }
        }
        Ok(report)
    }

    async fn attempt(
        &self,
        mailer: &dyn Mailer,
        message: &OutboxMessage,
        lease: Uuid,
    ) -> Result<Attempt> {
        let i = self.i;
        let attempts = message.attempts.saturating_add(1);
        let content = match message
            .sealed
            .as_deref()
            .map(|s| open(&i.master, message.id, s))
        {
            Some(Ok(content)) => content,
            _ => {
                // Another master key, or a tampered row: retrying cannot help.
                tracing::error!(mail_id = %message.id, "a queued mail cannot be decrypted; giving it up");
                i.store
                    .mark_mail_failed(message.id, lease, attempts, "cannot be decrypted", None)
                    .await?;
                count_delivery(message.kind, "failed");
                return Ok(Attempt::GaveUp);
            }
        };
        let mail = OutgoingMail {
            to: message.recipient.clone(),
            content,
        };
        match mailer.send(&mail).await {
            Ok(()) => {
                i.store
                    .mark_mail_sent(message.id, lease, i.clock.now())
                    .await?;
                count_delivery(message.kind, "sent");
                Ok(Attempt::Sent)
            }
            Err(e) => {
                let error = clip_error(&e.message);
                let give_up = e.permanent || attempts >= MAX_ATTEMPTS;
                let retry_at = (!give_up).then(|| i.clock.now() + backoff(attempts));
                tracing::warn!(
                    mail_id = %message.id,
                    kind = message.kind.as_str(),
                    attempts,
                    error = %error,
                    retry_at = ?retry_at,
                    "sending a mail failed"
                );
                i.store
                    .mark_mail_failed(message.id, lease, attempts, &error, retry_at)
                    .await?;
                if give_up {
                    count_delivery(message.kind, "failed");
                    Ok(Attempt::GaveUp)
                } else {
                    count_delivery(message.kind, "retry");
                    Ok(Attempt::Retry)
                }
            }
        }
    }

    /// Waits until a message is queued on this instance (the worker also
    /// polls, for messages queued elsewhere and retries that fall due).
    pub async fn queued(&self) {
        self.i.mail_wakeup.notified().await;
    }

    /// A realm's latest queued, sent and failed messages, newest first (for
    /// operators and tests; bodies stay sealed).
    pub async fn outbox(&self, realm_id: Uuid, limit: u32) -> Result<Vec<OutboxMessage>> {
        Ok(self.i.store.list_mail(realm_id, limit).await?)
    }

    /// Whether a mailer is configured.
    pub fn can_send(&self) -> bool {
        self.i.mailer.is_some()
    }
}

enum Attempt {
    Sent,
    Retry,
    GaveUp,
}

fn count_delivery(kind: MailKind, result: &'static str) {
    metrics::counter!("portcullis_mail_delivery_total", "kind" => kind.as_str(), "result" => result)
        .increment(1);
}

/// The adapters core talks to outside storage, chosen by the server.
#[derive(Clone, Default)]
pub struct Adapters {
    /// Sends mail; `None` keeps messages queued.
    pub mailer: Option<Arc<dyn Mailer>>,
    /// Looks up MX records for signup checks; `None` skips the check.
    pub mx: Option<Arc<dyn crate::ports::MxResolver>>,
    /// Sends SMS codes; `None`: SMS is not offered.
    pub sms: Option<Arc<dyn crate::ports::SmsSender>>,
    /// The edge's shared state; `None`: in process.
    pub edge: Option<Arc<dyn crate::ports::EdgeState>>,
    /// Looks up TXT records for organizations' domain verification;
    /// `None`: domains are verified by administrators only.
    pub dns: Option<Arc<dyn crate::ports::TxtResolver>>,
}

impl std::fmt::Debug for Adapters {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Adapters")
            .field("mailer", &self.mailer.is_some())
            .field("mx", &self.mx.is_some())
            .field("sms", &self.sms.is_some())
            .field("edge", &self.edge.is_some())
            .field("dns", &self.dns.is_some())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_is_capped() {
        assert_eq!(backoff(1), Duration::seconds(30));
        assert_eq!(backoff(2), Duration::seconds(60));
        assert_eq!(backoff(3), Duration::seconds(120));
        assert_eq!(backoff(8), Duration::hours(1));
        assert_eq!(backoff(u32::MAX), Duration::hours(1));
    }

    #[test]
    fn sealed_bodies_are_bound_to_their_row() {
        let key = MasterKey::generate();
        let id = new_id();
        let content = Rendered {
            subject: "s".into(),
            text: "secret link".into(),
            html: "<p>secret link</p>".into(),
        };
        let sealed = seal(&key, id, &content).unwrap();
        assert!(!sealed.windows(6).any(|w| w == b"secret"));
        assert_eq!(open(&key, id, &sealed).unwrap(), content);
        assert!(open(&key, new_id(), &sealed).is_err());
    }

    #[test]
    fn kinds_round_trip() {
        for k in MailKind::ALL {
            assert_eq!(MailKind::parse(k.as_str()), Some(k));
        }
        assert_eq!(MailKind::parse("nope"), None);
        assert!(clip_error(&"x\r\n".repeat(400)).len() <= MAX_ERROR_LEN);
    }
}
