//! A user's own pages (seed 003): preferences, a dashboard and the
//! activity feed, at `/users/{id}/...` where `{id}` is the user's id or
//! `me`. A user reads (and changes the preferences of) his own account;
//! an administrator of the realm (`users:manage:all`) anyone's in it.
//! Anyone else is told the user does not exist, whether or not it does.

use serde_json::{Map, Value};
use time::OffsetDateTime;
use uuid::Uuid;

use super::Profiles;
use super::model::Preferences;
use super::schema::{LOCALE_PATTERN, ZONEINFO_PATTERN};
use crate::access::Requester;
use crate::error::{Error, FieldError, Result};
use crate::model::mfa::MfaFactor;
use crate::model::{AuditRecord, Session, User};
use crate::orgs::Organization;

/// Most notification choices a user keeps.
pub const MAX_NOTIFICATIONS: usize = 32;
/// Largest page of activity.
pub const MAX_ACTIVITY_PAGE: u64 = 100;
/// Sign-ins a dashboard shows.
const RECENT_SIGN_INS: usize = 5;

/// Whose pages a caller reads, and whether it is the user himself.
#[derive(Debug, Clone)]
pub struct Subject {
    /// The user whose pages they are.
    pub user: User,
    /// Whether the caller is that user.
    pub is_self: bool,
}

/// A user's dashboard.
#[derive(Debug, Clone)]
pub struct Dashboard {
    /// The account.
    pub user: User,
    /// Active sessions, newest first.
    pub sessions: Vec<Session>,
    /// Second factors.
    pub factors: Vec<MfaFactor>,
    /// The latest sign-in events, newest first.
    pub recent_sign_ins: Vec<AuditRecord>,
    /// Group names.
    pub groups: Vec<String>,
    /// Role names held now.
    pub roles: Vec<String>,
    /// Organizations and the user's role in each.
    pub organizations: Vec<(Organization, String)>,
}

/// A page of activity.
#[derive(Debug, Clone)]
pub struct Activity {
    /// Events, newest first.
    pub items: Vec<AuditRecord>,
    /// The cursor of the next (older) page.
    pub next_cursor: Option<String>,
}

fn anchored(pattern: &str) -> Option<regex::Regex> {
    regex::Regex::new(&format!("^(?:{pattern})$")).ok()
}

fn text_choice(
    name: &str,
    value: &Value,
    pattern: &str,
    max: usize,
    errors: &mut Vec<FieldError>,
) -> Option<Option<String>> {
    match value {
        Value::Null => Some(None),
        Value::String(s) if s.is_empty() => Some(None),
        Value::String(s)
            if s.len() <= max && anchored(pattern).is_some_and(|re| re.is_match(s)) =>
        {
            Some(Some(s.clone()))
        }
        _ => {
            errors.push(FieldError::new(
                name,
                match name {
                    "locale" => "must be a language tag such as en or pt-BR, or null",
                    _ => "must be an IANA time zone such as Europe/Paris, or null",
                },
            ));
            None
        }
    }
}

fn notification_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"_.-".contains(&b))
}

/// Applies a preferences patch (`locale`, `time_zone`: a value or `null`;
/// `notifications`: names to `true`/`false`, `null` removing one), naming
/// every wrong field.
pub fn patch_preferences(prefs: &mut Preferences, patch: &Map<String, Value>) -> Result<()> {
    let mut errors = Vec::new();
    for (key, value) in patch {
        match key.as_str() {
            "locale" => {
                if let Some(v) = text_choice(key, value, LOCALE_PATTERN, 35, &mut errors) {
                    prefs.locale = v;
                }
            }
            "time_zone" => {
                if let Some(v) = text_choice(key, value, ZONEINFO_PATTERN, 64, &mut errors) {
                    prefs.time_zone = v;
                }
            }
            "notifications" => {
                let Value::Object(choices) = value else {
                    errors.push(FieldError::new(
                        key,
                        "must be an object of names to booleans",
                    ));
                    continue;
                };
                for (name, choice) in choices {
                    let field = format!(
                        "notifications.{}",
                        name.chars().take(64).collect::<String>()
                    );
                    if !notification_name(name) {
                        errors.push(FieldError::new(
                            field,
                            "names are 1 to 64 of a-z, 0-9, _ . -",
                        ));
                        continue;
                    }
                    match choice {
                        Value::Bool(b) => {
                            prefs.notifications.insert(name.clone(), Value::Bool(*b));
                        }
                        Value::Null => {
                            prefs.notifications.remove(name);
                        }
                        _ => errors.push(FieldError::new(field, "must be true, false or null")),
                    }
                }
                if prefs.notifications.len() > MAX_NOTIFICATIONS {
                    errors.push(FieldError::new(
                        key,
                        format!("at most {MAX_NOTIFICATIONS} choices"),
                    ));
                }
            }
            other => errors.push(FieldError::new(
                other.chars().take(64).collect::<String>(),
                "is not a preference (locale, time_zone, notifications)",
            )),
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(Error::Validation(errors))
    }
}

/// `at_micros.id`, the position of an audit record in the feed.
fn cursor_of(r: &AuditRecord) -> String {
    format!("{}.{}", crate::model::micros(r.at), r.id)
}

fn parse_cursor(s: &str) -> Option<(OffsetDateTime, Uuid)> {
    let (micros, id) = s.split_once('.')?;
    let micros: i64 = micros.parse().ok()?;
    let at = OffsetDateTime::from_unix_timestamp_nanos(i128::from(micros) * 1_000).ok()?;
    Some((at, id.parse().ok()?))
}

impl Profiles<'_> {
    /// The user `key` (`me` or an id) names for `requester`, if it may
    /// read that user's pages; 404 otherwise (never telling whether the
    /// user exists). Writes by an administrator to another user need a
    /// fresh authentication (`write`).
    pub async fn subject(&self, requester: &Requester, key: &str, write: bool) -> Result<Subject> {
        let who = &requester.who;
        let own = !requester.is_cross_realm()
            && (key == "me" || key.parse::<Uuid>().ok() == Some(who.user_id));
        if own {
            let user = self.me(who).await?;
            return Ok(Subject {
                user,
                is_self: true,
            });
        }
        let id: Uuid = key.parse().map_err(|_| Error::NotFound("user"))?;
        let users = crate::users::Users::new(self.i);
        let admin = match users.require_admin(requester).await {
            Ok(a) => a,
            Err(Error::Forbidden(_)) => return Err(Error::NotFound("user")),
            Err(e) => return Err(e),
        };
        if write {
            crate::access::Access::new(self.i).fresh(who).await?;
        }
        let user = self.user_of_realm(admin.realm_id(), id).await?;
        Ok(Subject {
            user,
            is_self: false,
        })
    }

    /// A user's preferences (empty before the first change).
    pub async fn preferences(&self, subject: &Subject) -> Result<Preferences> {
        let u = &subject.user;
        Ok(self
            .i
            .store
            .get_preferences(u.realm_id, u.id)
            .await?
            .unwrap_or_else(|| Preferences {
                realm_id: u.realm_id,
                user_id: u.id,
                ..Preferences::default()
            }))
    }

    /// Changes a user's preferences ([`patch_preferences`]).
    pub async fn patch_preferences(
        &self,
        requester: &Requester,
        subject: &Subject,
        patch: &Map<String, Value>,
    ) -> Result<Preferences> {
        let mut prefs = self.preferences(subject).await?;
        patch_preferences(&mut prefs, patch)?;
        prefs.updated_at = Some(self.i.clock.now());
        self.i.store.put_preferences(&prefs).await?;
        crate::audit::event(
            self.i,
            subject.user.realm_id,
            crate::audit::Actor::from(requester.caller()),
            "preferences.update",
            format!("user:{}", subject.user.id),
            serde_json::json!({ "fields": patch.keys().collect::<Vec<_>>() }),
        )
        .await;
        Ok(prefs)
    }

    /// A user's dashboard.
    pub async fn dashboard(&self, subject: &Subject) -> Result<Dashboard> {
        let u = &subject.user;
        let store = &self.i.store;
        let now = self.i.clock.now();
        let sessions: Vec<Session> = store
            .list_active_sessions(u.realm_id, u.id, now)
            .await?
            .into_iter()
            .filter(|s| s.parent_id.is_none())
            .collect();
        let factors = store
            .list_factors(u.realm_id, u.id)
            .await?
            .into_iter()
            .filter(|f| f.confirmed_at.is_some())
            .collect();
        let recent_sign_ins = store
            .list_user_audit(u.realm_id, u.id, None, 200)
            .await?
            .into_iter()
            .filter(|r| r.actor == Some(u.id) && r.action.starts_with("login"))
            .take(RECENT_SIGN_INS)
            .collect();
        let authz = crate::authz::Authz::new(self.i);
        let view = authz.view(u.realm_id, None).await?;
        let at = authz.now_micros();
        let organizations = crate::orgs::Organizations::new(self.i)
            .memberships(u.realm_id, u.id)
            .await?;
        Ok(Dashboard {
            user: u.clone(),
            sessions,
            factors,
            recent_sign_ins,
            groups: view.compiled.group_names(u.id, at),
            roles: view.compiled.role_names(u.id, at),
            organizations,
        })
    }

    /// A page of a user's security events (done by or to the user), newest
    /// first, after `cursor` (from a previous page).
    pub async fn activity(
        &self,
        subject: &Subject,
        cursor: Option<&str>,
        limit: u64,
    ) -> Result<Activity> {
        let mut errors = Vec::new();
        let before = match cursor {
            Some(c) => match parse_cursor(c) {
                Some(b) => Some(b),
                None => {
                    errors.push(FieldError::new("cursor", "is not a cursor of this feed"));
                    None
                }
            },
            None => None,
        };
        if !(1..=MAX_ACTIVITY_PAGE).contains(&limit) {
            errors.push(FieldError::new(
                "limit",
                format!("must be 1 to {MAX_ACTIVITY_PAGE}"),
            ));
        }
        if !errors.is_empty() {
            return Err(Error::Validation(errors));
        }
        let u = &subject.user;
        let mut items = self
            .i
            .store
            .list_user_audit(u.realm_id, u.id, before, limit.saturating_add(1))
            .await?;
        let more = items.len() as u64 > limit;
        items.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
        let next_cursor = if more {
            items.last().map(cursor_of)
        } else {
            None
        };
        Ok(Activity { items, next_cursor })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn profile_preferences_patch_names_every_wrong_field() {
        let mut p = Preferences::default();
        let patch = json!({"locale": "pt-BR", "time_zone": "America/Argentina/Buenos_Aires",
                           "notifications": {"security": true, "news": false}});
        patch_preferences(&mut p, patch.as_object().unwrap()).unwrap();
        assert_eq!(p.locale.as_deref(), Some("pt-BR"));
        assert_eq!(p.notifications.len(), 2);
        let patch = json!({"notifications": {"news": null}, "locale": null});
        patch_preferences(&mut p, patch.as_object().unwrap()).unwrap();
        assert_eq!(p.locale, None);
        assert_eq!(p.notifications.len(), 1);
        let bad = json!({"locale": "not a locale", "time_zone": 5, "theme": "dark",
                         "notifications": {"Bad Name": true, "ok": "yes"}});
        let Err(Error::Validation(errors)) = patch_preferences(&mut p, bad.as_object().unwrap())
        else {
            panic!("refused");
        };
        let mut fields: Vec<_> = errors.iter().map(|e| e.field.as_str()).collect();
        fields.sort();
        assert_eq!(
            fields,
            [
                "locale",
                "notifications.Bad Name",
                "notifications.ok",
                "theme",
                "time_zone"
            ]
        );
    }

    #[test]
    fn profile_activity_cursors_round_trip() {
        let r = AuditRecord {
            id: crate::model::new_id(),
            realm_id: Uuid::nil(),
            actor: None,
            actor_realm_id: None,
            action: "x".into(),
            target: "y".into(),
            before: None,
            after: None,
            request_id: None,
            at: OffsetDateTime::from_unix_timestamp(1_700_000_000).unwrap(),
        };
        assert_eq!(parse_cursor(&cursor_of(&r)), Some((r.at, r.id)));
        assert_eq!(parse_cursor("nope"), None);
        assert_eq!(parse_cursor("1.nope"), None);
    }
}
