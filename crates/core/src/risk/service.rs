//! The adaptive-security service: the realm's policy, the login and
//! refresh assessments with their audit records, known devices and their
//! new-device notices.

use std::sync::Arc;

use serde_json::json;
use uuid::Uuid;

use super::{
    Assessment, Baseline, Decision, GeoIp, KnownDevice, RiskPolicy, Signals, assess_login,
    assess_refresh,
};
use crate::access::{Allowed, RealmsManage};
use crate::accounts::RequestMeta;
use crate::app::Inner;
use crate::error::{Error, Result};
use crate::model::{Realm, User};

/// Adaptive security.
pub struct Risk<'a> {
    i: &'a Inner,
}

impl<'a> Risk<'a> {
    pub(crate) fn new(i: &'a Inner) -> Self {
        Self { i }
    }

    // The services Risk works with, built here and nowhere else in it.

    /// Collaborator: mail.
    fn mail(&self) -> crate::mail::Mail<'a> {
        crate::mail::Mail::new(self.i)
    }

    /// The realm's policy (the defaults until an administrator sets one).
    pub async fn policy(&self, realm: &Realm) -> Result<RiskPolicy> {
        Ok(self
            .i
            .store
            .get_risk_policy(realm.id)
            .await?
            .unwrap_or_default())
    }

    /// Sets the realm's policy (`realms:manage:all`).
    pub async fn set_policy(
        &self,
        admin: &Allowed<RealmsManage>,
        policy: RiskPolicy,
    ) -> Result<RiskPolicy> {
        let caller = &admin.caller();
        let mut errors = Vec::new();
        if !(1..=100).contains(&policy.step_up_at) {
            errors.push(crate::FieldError::new("step_up_at", "must be 1 to 100"));
        }
        if !(1..=100).contains(&policy.block_at) || policy.block_at < policy.step_up_at {
            errors.push(crate::FieldError::new(
                "block_at",
                "must be 1 to 100, and not below step_up_at",
            ));
        }
        if !(30..=86_400).contains(&policy.fresh_auth_max_age) {
            errors.push(crate::FieldError::new(
                "fresh_auth_max_age",
                "must be 30 to 86400 seconds",
            ));
        }
        if !errors.is_empty() {
            return Err(Error::Validation(errors));
        }
        let realm = &caller.realm;
        let now = self.i.clock.now();
        self.i.store.put_risk_policy(realm.id, &policy, now).await?;
        self.audit(
            realm.id,
            *caller,
            "risk.policy.update",
            format!("realm:{}", realm.id),
            json!(policy),
        )
        .await;
        Ok(policy)
    }

    /// The signals of a request.
    pub fn signals(&self, meta: &RequestMeta) -> Signals {
        let geo = self.i.geoip.get().map(|g| &**g as &dyn GeoIp);
        Signals::of(
            meta.ip.as_deref(),
            meta.user_agent.as_deref(),
            meta.accept_language.as_deref(),
            meta.canary.as_deref(),
            geo,
            self.i.clock.now(),
        )
    }

    /// Assesses a login whose password was right: the account's devices and
    /// last sign-in, its recent failures. Audited when a check fired.
    pub(crate) async fn assess_login(
        &self,
        realm: &Realm,
        user: &User,
        recent_failures: u64,
        meta: &RequestMeta,
    ) -> Result<(Assessment, Signals)> {
        let signals = self.signals(meta);
        let policy = self.policy(realm).await?;
        let devices = self.i.store.list_devices(realm.id, user.id).await?;
        let known = devices.iter().any(|d| d.fingerprint == signals.fingerprint);
        let last = devices.first().map(KnownDevice::baseline);
        let a = assess_login(
            last.as_ref(),
            known,
            !devices.is_empty(),
            recent_failures,
            &signals,
            &policy,
        );
        if !a.fired.is_empty() {
            self.audit_assessment(realm.id, user.id, "risk.login", &a, &signals)
                .await;
        }
        Ok((a, signals))
    }

    /// After a login: the device is remembered (a new one is mailed to the
    /// user when the realm wants it and the account had others), and the
    /// session gets its baseline.
    pub(crate) async fn after_login(
        &self,
        realm: &Realm,
        user: &User,
        session_id: Uuid,
        meta: &RequestMeta,
        canary: Option<Vec<u8>>,
    ) -> Result<()> {
        let signals = self.signals(meta);
        let devices = self.i.store.list_devices(realm.id, user.id).await?;
        let existing = devices
            .iter()
            .find(|d| d.fingerprint == signals.fingerprint);
        let device = KnownDevice {
            realm_id: realm.id,
            user_id: user.id,
            fingerprint: signals.fingerprint.clone(),
            description: signals.describe(),
            first_seen_at: existing.map_or(signals.at, |d| d.first_seen_at),
            last_seen_at: signals.at,
            last_network: signals.network.clone(),
            country: signals.geo.country.clone(),
            location: signals.geo.location,
        };
        self.i.store.upsert_device(&device).await?;
        if existing.is_none() && !devices.is_empty() && self.policy(realm).await?.notify_new_device
        {
            let mut values = serde_json::Map::new();
            values.insert("device".into(), device.description.clone().into());
            values.insert(
                "ip".into(),
                device
                    .last_network
                    .clone()
                    .unwrap_or_else(|| "unknown network".into())
                    .into(),
            );
            let time = device
                .last_seen_at
                .format(time::macros::format_description!(
                    "[year]-[month]-[day] [hour]:[minute] UTC"
                ))
                .unwrap_or_default();
            values.insert("time".into(), time.into());
            self.mail()
                .enqueue(realm, crate::mail::MailKind::NewDevice, &user.email, values)
                .await?;
        }
        let baseline = Baseline::from_signals(&signals, canary);
        self.i
            .store
            .put_baseline(realm.id, user.id, session_id, &baseline, signals.at)
            .await?;
        Ok(())
    }

    /// Assesses a refresh of a session against its baseline, which moves on
    /// when the refresh is allowed. Audited when a check fired.
    pub(crate) async fn check_refresh(
        &self,
        realm: &Realm,
        user_id: Uuid,
        session_id: Uuid,
        meta: &RequestMeta,
    ) -> Result<Assessment> {
        let signals = self.signals(meta);
        let Some(base) = self.i.store.get_baseline(realm.id, session_id).await? else {
            // A session from before the checks: this use becomes its baseline.
            let baseline = Baseline::from_signals(&signals, None);
            self.i
                .store
                .put_baseline(realm.id, user_id, session_id, &baseline, signals.at)
                .await?;
            return Ok(Assessment::of(Vec::new(), &RiskPolicy::default()));
        };
        let policy = self.policy(realm).await?;
        let a = assess_refresh(&base, &signals, &policy);
        if !a.fired.is_empty() {
            self.audit_assessment(realm.id, user_id, "risk.refresh", &a, &signals)
                .await;
        }
        // The baseline moves on with an allowed use that changed something,
        // or at most once a minute (a write per refresh would cost the
        // refresh path more than the checks).
        let updated = base.updated(&signals);
        let changed = Baseline {
            seen_at: base.seen_at,
            ..updated.clone()
        } != base;
        if a.decision == Decision::Allow
            && (changed || signals.at - base.seen_at >= super::PARALLEL_WINDOW)
        {
            self.i
                .store
                .put_baseline(realm.id, user_id, session_id, &updated, signals.at)
                .await?;
        }
        Ok(a)
    }

    /// The user's known devices, most recent first.
    pub async fn devices(&self, realm: &Realm, user_id: Uuid) -> Result<Vec<KnownDevice>> {
        Ok(self.i.store.list_devices(realm.id, user_id).await?)
    }

    /// Forgets one of the user's devices (its next sign-in is new again).
    pub async fn forget_device(
        &self,
        realm: &Realm,
        user_id: Uuid,
        fingerprint: &str,
    ) -> Result<()> {
        match self
            .i
            .store
            .delete_device(realm.id, user_id, fingerprint)
            .await?
        {
            true => Ok(()),
            false => Err(Error::NotFound("device")),
        }
    }

    async fn audit_assessment(
        &self,
        realm_id: Uuid,
        user_id: Uuid,
        action: &str,
        a: &Assessment,
        s: &Signals,
    ) {
        let detail = json!({
            "checks": a.names(),
            "score": a.score,
            "decision": a.decision,
            "network": s.network,
            "country": s.geo.country,
            "device": s.describe(),
        });
        self.audit(
            realm_id,
            Some(user_id),
            action,
            format!("user:{user_id}"),
            detail,
        )
        .await;
    }

    async fn audit(
        &self,
        realm_id: Uuid,
        actor: impl Into<crate::audit::Actor>,
        action: &str,
        target: String,
        detail: serde_json::Value,
    ) {
        crate::audit::event(self.i, realm_id, actor, action, target, detail).await;
    }
}

/// The server's GeoIP database, set once at start-up.
pub(crate) type GeoIpSlot = std::sync::OnceLock<Arc<dyn GeoIp>>;
