//! The check API: single checks, batches, effective permissions.

use std::net::IpAddr;
use std::sync::Arc;

use portcullis_policy::{CheckRequest, Context, Decision, EffectivePermission, Resource};
use portcullis_proto as proto;
use serde_json::{Map, Value};
use uuid::Uuid;

use super::{Authz, Caller, Read, View};
use crate::access::AuthzCheck;
use crate::error::{Error, FieldError, Result};
use crate::model::{AuditRecord, new_id};

/// A check as the API receives it.
pub type CheckInput = proto::CheckRequestBody;
/// A decision, with its explanation when one was asked for, and the view
/// it was made at.
pub type CheckOutcome = Read<Decision>;
/// The resource of a check.
pub type ResourceInput = proto::CheckResource;

/// Most checks in one batch.
pub const MAX_BATCH: usize = 1000;
/// Longest action, resource type, id, owner or team string.
const MAX_FIELD: usize = 256;

/// A user's effective access: roles and groups held now, and each
/// permission with its sources.
#[derive(Debug, Clone)]
pub struct EffectiveAccess {
    /// The user.
    pub user_id: Uuid,
    /// Names of the roles held now.
    pub roles: Vec<String>,
    /// Names of the groups the user is in now.
    pub groups: Vec<String>,
    /// The permissions, with their sources.
    pub permissions: Vec<EffectivePermission>,
}

/// A check parsed and ready for the engine.
struct Parsed {
    subject: Uuid,
    action: String,
    resource: Resource,
    context: Context,
    explain: bool,
}

impl Authz<'_> {
    /// Decides one check.
    pub async fn check(&self, caller: &Caller<'_>, input: CheckInput) -> Result<CheckOutcome> {
        let min = input.min_revision;
        let parsed = self.parse_check(caller, input, "")?;
        let view = self.view_for(caller, parsed.subject, min).await?;
        let (decision, denied) = self.decide(caller, &view, &parsed);
        if let Some(record) = denied {
            self.i.audit.record(record).await;
        }
        Ok(Read {
            view,
            value: decision,
        })
    }

    /// Decides up to 1,000 checks at one revision.
    pub async fn check_batch(
        &self,
        caller: &Caller<'_>,
        input: proto::CheckBatchRequest,
    ) -> Result<Read<Vec<Decision>>> {
        if input.checks.is_empty() || input.checks.len() > MAX_BATCH {
            return Err(Error::input(
                "checks",
                format!("must hold 1 to {MAX_BATCH} checks"),
            ));
        }
        let mut min = input.min_revision;
        let mut parsed = Vec::with_capacity(input.checks.len());
        for (n, check) in input.checks.into_iter().enumerate() {
            min = min.max(check.min_revision);
            parsed.push(self.parse_check(caller, check, &format!("checks[{n}]."))?);
        }
        // One permission check for the batch, not one per check.
        let subject = parsed
            .iter()
            .find(|p| p.subject != caller.who.user_id)
            .map_or(caller.who.user_id, |p| p.subject);
        let view = self.view_for(caller, subject, min).await?;
        let mut results = Vec::with_capacity(parsed.len());
        for p in &parsed {
            let (decision, denied) = self.decide(caller, &view, p);
            if let Some(record) = denied {
                self.i.audit.record(record).await;
            }
            results.push(decision);
        }
        Ok(Read {
            view,
            value: results,
        })
    }

    /// `POST /auth/authorize`: may the bearer do this action on this resource?
    pub async fn authorize(
        &self,
        caller: &Caller<'_>,
        input: proto::AuthorizeRequest,
    ) -> Result<CheckOutcome> {
        self.check(
            caller,
            CheckInput {
                subject: None,
                action: input.action,
                resource: proto::CheckResource {
                    kind: input.resource,
                    id: input.resource_id,
                    owner: input.owner,
                    team: input.team,
                    attributes: Map::new(),
                },
                context: None,
                explain: false,
                min_revision: None,
            },
        )
        .await
    }

    /// A user's effective permissions with their sources. A user may read its
    /// own; others need `authz:check:all`.
    pub async fn effective_permissions(
        &self,
        caller: &Caller<'_>,
        user: Uuid,
        min_revision: Option<i64>,
    ) -> Result<Read<EffectiveAccess>> {
        let view = self.view_for(caller, user, min_revision).await?;
        let now = self.now_micros();
        let access = EffectiveAccess {
            user_id: user,
            roles: view.compiled.role_names(user, now),
            groups: view.compiled.group_names(user, now),
            permissions: view.compiled.effective_permissions(user, now),
        };
        Ok(Read {
            view,
            value: access,
        })
    }

    /// The realm's current authorization revision (for ETags).
    pub async fn revision(&self, caller: &Caller<'_>) -> Result<i64> {
        Ok(self.view(caller.realm.id, None).await?.revision())
    }

    /// The view a check for `subject` runs at (at least `min_revision`),
    /// after the caller's right to check another subject than itself
    /// (`authz:check`), decided on the current view: one view read serves
    /// both unless the check asks for a newer revision.
    async fn view_for(
        &self,
        caller: &Caller<'_>,
        subject: Uuid,
        min_revision: Option<i64>,
    ) -> Result<Arc<View>> {
        let realm = &caller.realm;
        if subject == caller.who.user_id {
            return self.view(realm.id, min_revision).await;
        }
        let view = self.view(realm.id, None).await?;
        let ip = caller.ip.and_then(|ip| ip.parse().ok());
        self.access()
            .decide_in::<AuthzCheck>(&view, realm, caller.who.user_id, ip)?;
        match min_revision {
            Some(m) if m > view.revision() => self.view(realm.id, min_revision).await,
            _ => Ok(view),
        }
    }

    fn parse_check(&self, caller: &Caller<'_>, input: CheckInput, prefix: &str) -> Result<Parsed> {
        let mut errors = Vec::new();
        let field = |name: &str| format!("{prefix}{name}");
        let subject = match input.subject.as_deref() {
            None => caller.who.user_id,
            Some(s) => match Uuid::parse_str(s) {
                Ok(id) => id,
                Err(_) => {
                    errors.push(FieldError::new(field("subject"), "must be a user id"));
                    caller.who.user_id
                }
            },
        };
        let mut text = |name: &str, value: &str, required: bool| {
            if (required && value.is_empty()) || value.len() > MAX_FIELD {
                errors.push(FieldError::new(
                    field(name),
                    format!("must be 1-{MAX_FIELD} characters"),
                ));
            }
        };
        text("action", &input.action, true);
        text("resource.type", &input.resource.kind, true);
        for (name, v) in [
            ("resource.id", &input.resource.id),
            ("resource.owner", &input.resource.owner),
            ("resource.team", &input.resource.team),
        ] {
            if let Some(v) = v {
                text(name, v, true);
            }
        }
        let mut extra = input.context.unwrap_or_default();
        let ip = match extra.remove("ip") {
            None | Some(Value::Null) => caller.ip.and_then(|ip| ip.parse::<IpAddr>().ok()),
            Some(Value::String(s)) => match s.parse::<IpAddr>() {
                Ok(ip) => Some(ip),
                Err(_) => {
                    errors.push(FieldError::new(
                        field("context.ip"),
                        "must be an IP address",
                    ));
                    None
                }
            },
            Some(_) => {
                errors.push(FieldError::new(
                    field("context.ip"),
                    "must be an IP address",
                ));
                None
            }
        };
        super::input::finish(errors)?;
        Ok(Parsed {
            subject,
            action: input.action,
            resource: Resource {
                kind: input.resource.kind,
                id: input.resource.id,
                owner: input.resource.owner,
                team: input.resource.team,
                attributes: input.resource.attributes,
            },
            context: self.context(caller.realm, ip, extra),
            explain: input.explain,
        })
    }

    /// The context of a check made now: hour and ISO weekday in the realm's
    /// time zone.
    pub(crate) fn context(
        &self,
        realm: &crate::model::Realm,
        ip: Option<IpAddr>,
        extra: Map<String, Value>,
    ) -> Context {
        let (hour, day) = realm.time_zone.hour_and_weekday(self.i.clock.now());
        Context {
            ip,
            hour,
            day,
            extra,
        }
    }

    /// Decides a parsed check; for a denial, the audit record to write too.
    fn decide(
        &self,
        caller: &Caller<'_>,
        view: &View,
        p: &Parsed,
    ) -> (Decision, Option<AuditRecord>) {
        let _span = tracing::debug_span!(
            "authz.evaluate",
            action = %p.action,
            revision = view.revision(),
            allowed = tracing::field::Empty,
        )
        .entered();
        let started = crate::clock::Stopwatch::start();
        let decision: Decision = view.compiled.check(&CheckRequest {
            subject: p.subject,
            subject_attributes: None,
            action: &p.action,
            resource: &p.resource,
            context: &p.context,
            now: self.now_micros(),
            explain: p.explain,
        });
        _span.record("allowed", decision.allowed);
        let hot = self.i.authz.metrics();
        hot.check_seconds.record(started.elapsed().as_secs_f64());
        if decision.allowed {
            hot.allowed.increment(1);
        } else {
            hot.denied.increment(1);
        }
        let denied = (!decision.allowed).then(|| self.denied_record(caller, view, p, &decision));
        (decision, denied)
    }

    /// The audit record of a denied check.
    fn denied_record(
        &self,
        caller: &Caller<'_>,
        view: &View,
        p: &Parsed,
        d: &Decision,
    ) -> AuditRecord {
        AuditRecord {
            id: new_id(),
            realm_id: caller.realm.id,
            actor: Some(caller.who.user_id),
            actor_realm_id: crate::audit::Actor::from(*caller).realm,
            action: "authz.check.deny".to_owned(),
            target: format!("user:{}", p.subject),
            before: None,
            after: Some(serde_json::json!({
                "action": p.action,
                "resource": {
                    "type": p.resource.kind,
                    "id": p.resource.id,
                    "owner": p.resource.owner,
                    "team": p.resource.team,
                },
                "reason": d.reason.as_str(),
                "revision": view.revision(),
            })),
            request_id: caller.request_id.map(str::to_owned),
            at: self.i.clock.now(),
        }
    }
}
