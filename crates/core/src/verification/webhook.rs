//! The external verifier's webhook: `POST /api/v1/identity/verification/
//! webhook`, signed like a service key's request (see
//! [`crate::service_keys::signature`]) with the realm's webhook secret, the
//! key id being [`WEBHOOK_KEY_ID`]. The timestamp is part of the signed
//! string and must be within 300 s of the server's clock; a nonce is
//! accepted once; signatures are compared in constant time.

use time::OffsetDateTime;
use uuid::Uuid;

use super::documents::{Decision, DocumentView, parse_decision};
use super::{Verification, count};
use crate::error::{Error, Result};
use crate::model::Realm;
use crate::service_keys::signature::{self, SignedRequest};
use crate::users::RealmAdmin;

/// The `X-Portcullis-Key` of webhook requests.
pub const WEBHOOK_KEY_ID: &str = "verification-webhook";

const BAD: Error = Error::NotAuthenticated("invalid request signature");

/// A decision as the webhook sends it.
#[derive(Debug, Clone)]
pub struct WebhookDecision {
    /// The document.
    pub document_id: Uuid,
    /// The decision.
    pub decision: Decision,
}

/// Proof that a webhook request to a realm was signed with its secret.
#[derive(Debug)]
pub struct WebhookProof {
    realm_id: Uuid,
}

fn aad(realm_id: Uuid) -> Vec<u8> {
    format!("verification_webhook_secret:{realm_id}").into_bytes()
}

impl Verification<'_> {
    /// Sets a new webhook secret for the realm, returned once (the verifier
    /// signs with its text). The one before stops working.
    pub async fn rotate_webhook_secret(&self, admin: &RealmAdmin) -> Result<String> {
        admin.writable()?;
        let realm_id = admin.realm_id();
        let secret = format!("pcvw_{}", portcullis_crypto::random_token());
        let sealed = self
            .i
            .keys
            .master()
            .encrypt(secret.as_bytes(), &aad(realm_id))?;
        self.i
            .store
            .put_webhook_secret(realm_id, &sealed, self.i.clock.now())
            .await?;
        crate::audit::event(
            self.i,
            realm_id,
            admin.actor(),
            "verification.webhook_secret.rotated",
            format!("realm:{realm_id}"),
            serde_json::json!({}),
        )
        .await;
        Ok(secret)
    }

    /// Checks a webhook request's signature (headers, timestamp, body
    /// digest, signature under the realm's secret, nonce not seen before):
    /// the proof [`Self::decide_by_webhook`] takes.
    pub async fn check_webhook(
        &self,
        realm: &Realm,
        request: &SignedRequest<'_>,
    ) -> Result<WebhookProof> {
        match self.verify_webhook(realm, request).await {
            Ok(()) => Ok(WebhookProof { realm_id: realm.id }),
            Err(e) => {
                count("document", "webhook_refused");
                Err(e)
            }
        }
    }

    /// Applies the decision a verified webhook request carries.
    pub async fn decide_by_webhook(
        &self,
        proof: WebhookProof,
        input: WebhookDecision,
    ) -> Result<DocumentView> {
        let (status, reason) = parse_decision(&input.decision)?;
        let doc = self
            .i
            .store
            .get_document(proof.realm_id, input.document_id)
            .await?
            .ok_or(Error::NotFound("document"))?;
        let user = self.user_of(proof.realm_id, doc.user_id).await?;
        self.decide(
            &user,
            doc,
            status,
            reason,
            WEBHOOK_KEY_ID,
            Some(crate::audit::Actor::from(None::<Uuid>)),
        )
        .await
    }

    async fn verify_webhook(&self, realm: &Realm, r: &SignedRequest<'_>) -> Result<()> {
        let now = self.i.clock.now();
        let ts = signature::check_request(r, now.unix_timestamp())?;
        let secret = match self.i.store.get_webhook_secret(realm.id).await? {
            Some(sealed) => {
                let plain = self.i.keys.master().decrypt(&sealed, &aad(realm.id))?;
                Some(
                    String::from_utf8(plain.to_vec())
                        .map_err(|_| Error::Internal("webhook secret"))?,
                )
            }
            None => None,
        };
        let Some(secret) = secret else {
            // As slow as a realm with a secret: sign once anyway.
            let _ = signature::signed_by_any(r, &["no webhook secret"]);
            return Err(BAD);
        };
        if !signature::signed_by_any(r, &[secret.as_str()]) || r.key_id != WEBHOOK_KEY_ID {
            return Err(BAD);
        }
        // Remembered for as long as the timestamp would be accepted.
        let until = OffsetDateTime::from_unix_timestamp(ts + signature::MAX_SKEW_SECONDS + 1)
            .unwrap_or(now);
        let key = format!("verification-webhook:{}:{}", realm.id, r.nonce);
        if !crate::edge::Edge::new(self.i).first_use(&key, until).await {
            return Err(Error::NotAuthenticated(
                "X-Portcullis-Nonce was used already",
            ));
        }
        Ok(())
    }
}
