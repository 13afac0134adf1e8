//! The per-request zero-trust check of bearer tokens (see
//! [`crate::zero_trust`]) and the session facts it reads.

use std::sync::Arc;

use serde_json::json;
use uuid::Uuid;

use super::{Accounts, RequestMeta};
use crate::error::{Error, Result};
use crate::model::Realm;
use crate::risk::{MismatchAction, device_fingerprint};
use crate::tokens::Principal;
use crate::zero_trust::SessionFacts;

/// The 401 of a session that ended.
const SESSION_ENDED: &str = "the session has ended; log in again";
/// The 401 of a session ended because its token came from another device.
const MISMATCH_ENDED: &str =
    "the session was ended: its token was used from another device; log in again";

impl Accounts<'_> {
    /// Authenticates a bearer token presented by a request, with the
    /// zero-trust checks: the token is live (not revoked, its session not
    /// ended, its account not deactivated), its session not expired, and
    /// the request comes from the session's device. Reads memory only,
    /// except for the first request of a session this instance has not
    /// seen (one read of the session) and the first request from another
    /// device (the realm's policy).
    pub async fn authenticate_request(
        &self,
        realm: Arc<Realm>,
        token: &str,
        meta: &RequestMeta,
    ) -> Result<Principal> {
        let mut who = self.authenticate(realm, token).await?;
        let Some(sid) = who.session_id else {
            return Ok(who);
        };
        let facts = self.session_facts(&who.realm, sid).await?;
        let now = self.i.clock.now();
        if facts.user_id != who.user_id || facts.expires_at <= now {
            return Err(Error::NotAuthenticated(SESSION_ENDED));
        }
        // A client's token is presented by the client, not the device
        // that signed in.
        if who.claims.client_id.is_none() && !facts.raised() && facts.fingerprint.is_some() {
            let (ua, lang) = (meta.user_agent.as_deref(), meta.accept_language.as_deref());
            // The headers of the last matching request again: no parsing.
            let key = self.i.sessions.device_key(ua, lang);
            if facts.matched(key) {
                return Ok(who);
            }
            let seen = device_fingerprint(ua, lang);
            if facts.fingerprint.as_deref() == Some(seen.as_str()) {
                facts.remember_match(key);
            } else {
                // The baseline may have moved on another instance (an
                // allowed refresh from a changed browser): read it again.
                let facts = self.load_facts(&who.realm, sid).await?;
                if facts.fingerprint.as_deref().is_some_and(|f| f != seen) {
                    self.device_mismatch(&who, &facts, &seen, meta).await?;
                }
                who.elevated_risk = facts.raised();
                return Ok(who);
            }
        }
        who.elevated_risk = facts.raised();
        Ok(who)
    }

    /// A session's facts: from memory, or read from the store (and kept).
    async fn session_facts(&self, realm: &Realm, sid: Uuid) -> Result<Arc<SessionFacts>> {
        match self.i.sessions.get(sid) {
            Some(facts) => Ok(facts),
            None => self.load_facts(realm, sid).await,
        }
    }

    /// Reads a session's facts from the store and keeps them (its raised
    /// risk, if any, stays). An ended session is denied from now on.
    async fn load_facts(&self, realm: &Realm, sid: Uuid) -> Result<Arc<SessionFacts>> {
        let i = self.i;
        let now = i.clock.now();
        let session = match i.store.get_session(realm.id, sid).await? {
            Some(s) if s.revoked_at.is_none() && s.expires_at > now => s,
            Some(s) => {
                if s.revoked_at.is_some() {
                    self.deny_session(sid);
                }
                i.sessions.remove(sid);
                return Err(Error::NotAuthenticated(SESSION_ENDED));
            }
            None => return Err(Error::NotAuthenticated(SESSION_ENDED)),
        };
        let baseline = i.store.get_baseline(realm.id, sid).await?;
        let raised = baseline
            .as_ref()
            .is_some_and(|b| b.risk_raised_at.is_some())
            || i.sessions.get(sid).is_some_and(|f| f.raised());
        let fingerprint = baseline.map(|b| b.fingerprint);
        let facts = Arc::new(SessionFacts::new(
            session.user_id,
            session.expires_at,
            fingerprint,
            raised,
        ));
        i.sessions.insert(sid, facts.clone());
        Ok(facts)
    }

    /// Keeps the facts of a session just started or refreshed, with the
    /// device fingerprint of the request that did it.
    pub(crate) fn remember_session(
        &self,
        sid: Uuid,
        user_id: Uuid,
        expires_at: time::OffsetDateTime,
        meta: &RequestMeta,
    ) {
        let fingerprint =
            device_fingerprint(meta.user_agent.as_deref(), meta.accept_language.as_deref());
        let raised = self.i.sessions.get(sid).is_some_and(|f| f.raised());
        self.i.sessions.insert(
            sid,
            Arc::new(SessionFacts::new(
                user_id,
                expires_at,
                Some(fingerprint),
                raised,
            )),
        );
    }

    /// A request from another device than its session's: raise the
    /// session's risk (audited once per instance), or end the session when
    /// the realm says so.
    async fn device_mismatch(
        &self,
        who: &Principal,
        facts: &SessionFacts,
        seen: &str,
        meta: &RequestMeta,
    ) -> Result<()> {
        let realm = &who.realm;
        let policy = self.risk().policy(realm).await?;
        let action = match policy.enabled {
            true => policy.on_device_mismatch,
            false => return Ok(()),
        };
        let Some(sid) = who.session_id else {
            return Ok(());
        };
        metrics::counter!("portcullis_zero_trust_device_mismatch_total", "action" => action.as_str())
            .increment(1);
        let detail = json!({
            "session_id": sid,
            "action": action.as_str(),
            "expected": facts.fingerprint,
            "seen": seen,
            "device": crate::device::describe_user_agent(meta.user_agent.as_deref().unwrap_or("")),
            "ip": meta.ip,
        });
        match action {
            MismatchAction::EndSession => {
                tracing::warn!(realm = %realm.name, session_id = %sid, "token used from another device: ending its session");
                self.end_session(realm.id, sid).await?;
                self.i.sessions.remove(sid);
                self.audit_mismatch(who, detail).await;
                Err(Error::NotAuthenticated(MISMATCH_ENDED))
            }
            MismatchAction::StepUp => {
                if facts.raise() {
                    tracing::warn!(realm = %realm.name, session_id = %sid, "token used from another device: session risk raised");
                    self.record_raised_risk(realm, who.user_id, sid).await?;
                    self.audit_mismatch(who, detail).await;
                }
                Ok(())
            }
        }
    }

    /// Records the raised risk with the session's baseline, where every
    /// instance's check of a sensitive operation reads it.
    async fn record_raised_risk(&self, realm: &Realm, user_id: Uuid, sid: Uuid) -> Result<()> {
        let i = self.i;
        let now = i.clock.now();
        if let Some(mut baseline) = i.store.get_baseline(realm.id, sid).await?
            && baseline.risk_raised_at.is_none()
        {
            baseline.risk_raised_at = Some(now);
            i.store
                .put_baseline(realm.id, user_id, sid, &baseline, now)
                .await?;
        }
        Ok(())
    }

    async fn audit_mismatch(&self, who: &Principal, detail: serde_json::Value) {
        crate::audit::event(
            self.i,
            who.realm.id,
            Some(who.user_id),
            "risk.session.device_mismatch",
            format!("user:{}", who.user_id),
            detail,
        )
        .await;
    }
}
