//! The profile service: a realm's profile schema (read, replaced by an
//! administrator, every stored profile migrated), a user's profile as an
//! administrator or the user sees and writes it, and the claims a profile
//! releases to tokens.
//!
//! # Where a profile comes from
//! A user without a stored profile has the one today's accounts imply: the
//! built-in fields found in the account's attributes (`given_name`,
//! `family_name`, `locale`, `zoneinfo`, `picture`, `phone_number`,
//! `address`), as far as the realm's schema accepts them. The first write
//! stores it. So a realm that never set a schema releases the claims it
//! always did.
//!
//! # Schema changes
//! Every version of a realm's schema is kept. Replacing it stores the new
//! version, then migrates the realm's stored profiles in batches of
//! [`MIGRATION_BATCH`] with [`ProfileSchema::migrate`] (values the new
//! schema refuses are archived, never dropped). A profile a batch did not
//! reach (a racing write, a restart) is migrated when it is next read.
//!
//! # `name`
//! The account's `name` (the `name` claim) follows `given_name` and
//! `family_name`: when a profile write changes either, and the account's
//! name is unset or was the previous "given family", it becomes the new
//! "given family" (unset when both are). A name set apart from them (by
//! an administrator, or at registration) is left alone; the name is never
//! split into the two fields.

use std::collections::BTreeMap;

use serde_json::Value;
use time::OffsetDateTime;
use uuid::Uuid;

use super::model::StoredProfile;
use super::{ARCHIVE_KEY, Audience, CompiledSchema, Document, ProfileSchema};
use crate::app::Inner;
use crate::error::{Error, Result};
use crate::model::User;
use crate::tokens::Principal;
use crate::users::RealmAdmin;

/// Profiles migrated per batch after a schema change.
pub const MIGRATION_BATCH: u64 = 200;
/// Attempts at a write that races another.
const WRITE_ATTEMPTS: usize = 3;

/// A profile as its reader sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct ProfileRead {
    /// The user.
    pub user_id: Uuid,
    /// The schema version the profile follows.
    pub schema_version: u32,
    /// The fields the reader may read.
    pub profile: Document,
    /// Values earlier schema changes archived, by schema version
    /// (administrators only).
    pub archived: Option<Document>,
    /// Last change (`None` before the first write).
    pub updated_at: Option<OffsetDateTime>,
    /// The user's verification state (read-only), on the reads and writes
    /// of one profile.
    pub verification: Option<crate::verification::VerificationSummary>,
}

/// The result of a schema change.
#[derive(Debug, Clone)]
pub struct SchemaChange {
    /// The schema now in force.
    pub schema: ProfileSchema,
    /// Stored profiles migrated to it.
    pub migrated: u64,
    /// Stored profiles left for their next read (they changed meanwhile).
    pub deferred: u64,
}

/// A user's profile, loaded and brought to the realm's current schema.
struct Loaded {
    compiled: CompiledSchema,
    document: Document,
    revision: u64,
    updated_at: Option<OffsetDateTime>,
}

/// Profiles of a realm's users.
pub struct Profiles<'a> {
    pub(super) i: &'a Inner,
}

impl<'a> Profiles<'a> {
    pub(crate) fn new(i: &'a Inner) -> Self {
        Self { i }
    }

    /// The realm's schema (version 0, the built-ins, when it never set
    /// one).
    pub async fn schema(&self, admin: &RealmAdmin) -> Result<ProfileSchema> {
        self.current_schema(admin.realm_id()).await
    }

    pub(crate) async fn current_schema(&self, realm_id: Uuid) -> Result<ProfileSchema> {
        Ok(self
            .i
            .store
            .get_profile_schema(realm_id, None)
            .await?
            .map(|s| s.schema)
            .unwrap_or_default())
    }

    async fn schema_at(&self, realm_id: Uuid, version: u32) -> Result<ProfileSchema> {
        if version == 0 {
            return Ok(ProfileSchema::default());
        }
        Ok(self
            .i
            .store
            .get_profile_schema(realm_id, Some(version))
            .await?
            .map(|s| s.schema)
            .unwrap_or_default())
    }

    /// Replaces the realm's schema with `schema` (checked whole, every
    /// problem named; its version must be greater than the current one)
    /// and migrates every stored profile to it.
    pub async fn put_schema(
        &self,
        admin: &RealmAdmin,
        schema: ProfileSchema,
    ) -> Result<SchemaChange> {
        admin.writable()?;
        let realm_id = admin.realm_id();
        let current = self.current_schema(realm_id).await?;
        let mut errors = match schema.compile() {
            Ok(_) => Vec::new(),
            Err(Error::Validation(e)) => e,
            Err(other) => return Err(other),
        };
        if schema.version <= current.version {
            errors.push(crate::FieldError::new(
                "version",
                format!(
                    "must be greater than the current version, {}",
                    current.version
                ),
            ));
        }
        if !errors.is_empty() {
            return Err(Error::Validation(errors));
        }
        let now = self.i.clock.now();
        match self
            .i
            .store
            .put_profile_schema(realm_id, &schema, now)
            .await
        {
            Ok(()) => {}
            Err(crate::StoreError::Stale) => {
                return Err(Error::Conflict(
                    "the profile schema changed meanwhile: read it again and retry".into(),
                ));
            }
            Err(e) => return Err(e.into()),
        }
        let (migrated, deferred) = self.migrate_all(realm_id, &schema).await?;
        crate::audit::event(
            self.i,
            realm_id,
            admin.actor(),
            "profile.schema.update",
            format!("realm:{realm_id}"),
            serde_json::json!({
                "version": schema.version,
                "fields": schema.fields.iter().map(|f| f.name.as_str()).collect::<Vec<_>>(),
                "migrated": migrated,
                "deferred": deferred,
            }),
        )
        .await;
        Ok(SchemaChange {
            schema,
            migrated,
            deferred,
        })
    }

    /// Migrates the realm's profiles stored under older versions to `new`,
    /// a batch at a time; `(migrated, deferred)`.
    async fn migrate_all(&self, realm_id: Uuid, new: &ProfileSchema) -> Result<(u64, u64)> {
        let mut olds: BTreeMap<u32, ProfileSchema> = BTreeMap::new();
        let (mut migrated, mut deferred) = (0u64, 0u64);
        let mut after = None;
        loop {
            let batch = self
                .i
                .store
                .profiles_below_version(realm_id, new.version, after, MIGRATION_BATCH)
                .await?;
            let Some(last) = batch.last() else { break };
            after = Some(last.user_id);
            for p in batch {
                if let std::collections::btree_map::Entry::Vacant(slot) =
                    olds.entry(p.schema_version)
                {
                    slot.insert(self.schema_at(realm_id, p.schema_version).await?);
                }
                let Some(old) = olds.get(&p.schema_version) else {
                    continue;
                };
                let document = match ProfileSchema::migrate(&p.document, old, new) {
                    Ok(d) => d,
                    Err(e) => {
                        tracing::warn!(user = %p.user_id, error = %e, "a profile was left under its schema");
                        deferred += 1;
                        continue;
                    }
                };
                let next = StoredProfile {
                    document,
                    schema_version: new.version,
                    revision: p.revision.saturating_add(1),
                    updated_at: self.i.clock.now(),
                    ..p.clone()
                };
                if self.i.store.save_profile(&next, p.revision).await? {
                    migrated += 1;
                } else {
                    deferred += 1;
                }
            }
        }
        metrics::counter!("portcullis_profile_migrations_total").increment(migrated);
        Ok((migrated, deferred))
    }

    /// Loads `user`'s profile under the realm's current schema.
    async fn load(&self, user: &User) -> Result<Loaded> {
        let schema = self.current_schema(user.realm_id).await?;
        let stored = self.i.store.get_profile(user.realm_id, user.id).await?;
        self.load_from(user, schema, stored).await
    }

    /// [`Self::load`] from the schema and stored profile already read.
    async fn load_from(
        &self,
        user: &User,
        schema: ProfileSchema,
        stored: Option<crate::profile::model::StoredProfile>,
    ) -> Result<Loaded> {
        let compiled = schema.compile().map_err(|e| {
            tracing::error!(error = %e, "a stored profile schema does not compile");
            Error::Internal("profile-schema")
        })?;
        let Some(stored) = stored else {
            return Ok(Loaded {
                document: legacy_document(&compiled, user),
                compiled,
                revision: 0,
                updated_at: None,
            });
        };
        let mut document = stored.document;
        if stored.schema_version < schema.version {
            let old = self.schema_at(user.realm_id, stored.schema_version).await?;
            match ProfileSchema::migrate(&document, &old, &schema) {
                Ok(d) => document = d,
                // Kept as it is: writes carry values the schema does not
                // know over, and readers see only the schema's fields.
                Err(e) => {
                    tracing::warn!(user = %user.id, error = %e, "a profile could not be migrated")
                }
            }
        }
        Ok(Loaded {
            compiled,
            document,
            revision: stored.revision,
            updated_at: Some(stored.updated_at),
        })
    }

    fn read(&self, user: &User, loaded: &Loaded, reader: Audience) -> ProfileRead {
        ProfileRead {
            user_id: user.id,
            schema_version: loaded.compiled.version(),
            profile: loaded.compiled.view(&loaded.document, reader),
            archived: (reader == Audience::Admin)
                .then(|| ProfileSchema::archived(&loaded.document).cloned())
                .flatten(),
            updated_at: loaded.updated_at,
            verification: None,
        }
    }

    pub(super) async fn user_of_realm(&self, realm_id: Uuid, user_id: Uuid) -> Result<User> {
        self.i
            .store
            .get_user(realm_id, user_id)
            .await?
            .ok_or(Error::NotFound("user"))
    }

    pub(super) async fn me(&self, who: &Principal) -> Result<User> {
        match self.i.store.get_user(who.realm.id, who.user_id).await? {
            Some(u) if u.active => Ok(u),
            _ => Err(Error::NotAuthenticated("account no longer active")),
        }
    }

    /// A user's profile as an administrator sees it.
    pub async fn get_as_admin(&self, admin: &RealmAdmin, user_id: Uuid) -> Result<ProfileRead> {
        let user = self.user_of_realm(admin.realm_id(), user_id).await?;
        let loaded = self.load(&user).await?;
        let read = self.read(&user, &loaded, Audience::Admin);
        self.with_verification(&user, read).await
    }

    /// Replaces the fields an administrator edits in a user's profile
    /// ([`CompiledSchema::replace`]).
    pub async fn replace_as_admin(
        &self,
        admin: &RealmAdmin,
        user_id: Uuid,
        input: Document,
    ) -> Result<ProfileRead> {
        admin.writable()?;
        let user = self.user_of_realm(admin.realm_id(), user_id).await?;
        let read = self
            .write(user.clone(), admin.actor(), Audience::Admin, |c, d| {
                c.replace(d, &input, Audience::Admin)
            })
            .await?;
        self.with_verification(&user, read).await
    }

    /// The caller's own profile.
    pub async fn get_own(&self, who: &Principal) -> Result<ProfileRead> {
        let user = self.me(who).await?;
        let loaded = self.load(&user).await?;
        let read = self.read(&user, &loaded, Audience::User);
        self.with_verification(&user, read).await
    }

    /// Merges a change into the caller's own profile
    /// ([`CompiledSchema::merge`]).
    pub async fn merge_own(&self, who: &Principal, patch: Document) -> Result<ProfileRead> {
        let user = self.me(who).await?;
        let actor = crate::audit::Actor::from(Some(user.id));
        let read = self
            .write(user.clone(), actor, Audience::User, |c, d| {
                c.merge(d, &patch, Audience::User)
            })
            .await?;
        self.with_verification(&user, read).await
    }

    async fn write(
        &self,
        mut user: User,
        actor: crate::audit::Actor,
        editor: Audience,
        change: impl Fn(&CompiledSchema, &Document) -> Result<Document>,
    ) -> Result<ProfileRead> {
        for _ in 0..WRITE_ATTEMPTS {
            let loaded = self.load(&user).await?;
            let document = change(&loaded.compiled, &loaded.document)?;
            let now = self.i.clock.now();
            let next = StoredProfile {
                realm_id: user.realm_id,
                user_id: user.id,
                document,
                schema_version: loaded.compiled.version(),
                revision: loaded.revision.saturating_add(1),
                updated_at: now,
            };
            if !self.i.store.save_profile(&next, loaded.revision).await? {
                continue;
            }
            let changed = changed_fields(&loaded.document, &next.document);
            if !changed.is_empty() {
                self.sync_name(&mut user, &loaded.document, &next.document, now)
                    .await?;
                if changed.iter().any(|n| n == "phone_number") {
                    let phone = next.document.get("phone_number").and_then(Value::as_str);
                    self.verification()
                        .profile_phone_changed(&user, actor, phone)
                        .await?;
                }
                self.audit(
                    &user,
                    actor,
                    editor,
                    &loaded.compiled,
                    &next.document,
                    &changed,
                )
                .await;
            }
            let after = Loaded {
                document: next.document,
                revision: next.revision,
                updated_at: Some(now),
                compiled: loaded.compiled,
            };
            return Ok(self.read(&user, &after, editor));
        }
        Err(Error::Conflict(
            "the profile changed meanwhile: read it again and retry".into(),
        ))
    }

    /// Keeps the account's name in step with `given_name` and
    /// `family_name` (see the module's documentation).
    async fn sync_name(
        &self,
        user: &mut User,
        before: &Document,
        after: &Document,
        now: OffsetDateTime,
    ) -> Result<()> {
        let (old, new) = (full_name(before), full_name(after));
        if old == new || (user.name.is_some() && user.name != old) {
            return Ok(());
        }
        user.name = new;
        user.updated_at = now;
        self.i.store.update_user(user).await?;
        Ok(())
    }

    async fn audit(
        &self,
        user: &User,
        actor: crate::audit::Actor,
        editor: Audience,
        compiled: &CompiledSchema,
        document: &Document,
        changed: &[String],
    ) {
        // Values of fields only administrators read never reach the trail:
        // their names do.
        let mut values = Document::new();
        for name in changed {
            let shown = compiled
                .field(name)
                .is_some_and(|f| f.readable_by.contains(&Audience::User));
            if shown {
                values.insert(
                    name.clone(),
                    document.get(name).cloned().unwrap_or(Value::Null),
                );
            }
        }
        crate::audit::event(
            self.i,
            user.realm_id,
            actor,
            "profile.update",
            format!("user:{}", user.id),
            serde_json::json!({
                "by": editor.as_str(),
                "fields": changed,
                "values": values,
                "schema_version": compiled.version(),
            }),
        )
        .await;
    }

    /// The claims `user`'s profile releases for the granted `scopes`
    /// ([`CompiledSchema::claims`]); `picture` is the avatar's URL when
    /// the user has one and the profile holds no other picture.
    /// A realm that never set a schema, for a user who never wrote a
    /// profile, releases exactly what it always did: the attributes'
    /// values as they are.
    ///
    /// `phone_number_verified` is true while the released number is the
    /// one the user verified by SMS ([`crate::verification`]).
    pub async fn claims(&self, user: &User, scopes: &[&str]) -> Result<Document> {
        // One read of each: this runs for every ID token and UserInfo answer.
        let stored = self.i.store.get_profile(user.realm_id, user.id).await?;
        let schema = self.current_schema(user.realm_id).await?;
        let (mut out, mut document) = if stored.is_none() && schema.version == 0 {
            let phone = user.attributes.get("phone_number").and_then(Value::as_str);
            let verified = self.phone_claim_verified(user, scopes, phone).await?;
            (legacy_claims(user, scopes, verified), Document::new())
        } else {
            let loaded = self.load_from(user, schema, stored).await?;
            let phone = loaded.document.get("phone_number").and_then(Value::as_str);
            let verified = self.phone_claim_verified(user, scopes, phone).await?;
            let claims = loaded.compiled.claims(&loaded.document, scopes, verified);
            (claims, loaded.document)
        };
        if scopes.contains(&"profile")
            && !out.contains_key("picture")
            && !document.contains_key("picture")
            && self
                .i
                .store
                .avatar_digest(user.realm_id, user.id)
                .await?
                .is_some()
        {
            let realm = self.i.store.get_realm(user.realm_id).await?;
            if let Some(realm) = realm {
                let url = Value::String(self.avatar_url(&realm.name, user.id));
                document.insert("picture".into(), url.clone());
                out.insert("picture".into(), url);
            }
        }
        Ok(out)
    }

    /// Whether `phone`, released under the `phone` scope, is verified
    /// (read only when it is released).
    async fn phone_claim_verified(
        &self,
        user: &User,
        scopes: &[&str],
        phone: Option<&str>,
    ) -> Result<bool> {
        if !scopes.contains(&"phone") || phone.is_none() {
            return Ok(false);
        }
        self.verification()
            .phone_verified(user.realm_id, user.id, phone)
            .await
    }

    fn verification(&self) -> crate::verification::Verification<'a> {
        crate::verification::Verification::new(self.i)
    }

    /// `read` with the user's verification state (read-only).
    async fn with_verification(&self, user: &User, mut read: ProfileRead) -> Result<ProfileRead> {
        let phone = read.profile.get("phone_number").and_then(Value::as_str);
        let summary = self
            .verification()
            .summary(user.realm_id, user.id, phone)
            .await?;
        read.verification = Some(summary);
        Ok(read)
    }

    /// Sets `user`'s `phone_number` to a number just verified, when the
    /// realm's schema has that field and accepts the value (a schema that
    /// refuses it leaves the profile as it is).
    pub(crate) async fn set_verified_phone(&self, user: &User, phone: &str) -> Result<()> {
        let mut patch = Document::new();
        patch.insert("phone_number".into(), Value::String(phone.to_owned()));
        let actor = crate::audit::Actor::from(Some(user.id));
        let written = self
            .write(user.clone(), actor, Audience::Admin, |c, d| {
                if c.field("phone_number").is_none() {
                    return Ok(d.clone());
                }
                c.merge(d, &patch, Audience::Admin)
            })
            .await;
        match written {
            Ok(_) => Ok(()),
            Err(Error::Validation(e) | Error::InvalidInput(e)) => {
                tracing::warn!(user = %user.id, errors = e.len(), "the profile schema refused a verified phone number");
                Ok(())
            }
            Err(e) => Err(e),
        }
    }

    /// The stable public URL of a user's avatar.
    pub fn avatar_url(&self, realm: &crate::model::RealmName, user_id: Uuid) -> String {
        format!("{}/avatars/{user_id}", self.i.settings.issuer(realm))
    }
}

/// The built-in fields an account's attributes hold, as far as `compiled`
/// accepts each (see the module's documentation).
fn legacy_document(compiled: &CompiledSchema, user: &User) -> Document {
    let mut doc = Document::new();
    for name in [
        "given_name",
        "family_name",
        "locale",
        "zoneinfo",
        "picture",
        "phone_number",
        "address",
    ] {
        let Some(value) = user.attributes.get(name) else {
            continue;
        };
        let Some(field) = compiled.field(name) else {
            continue;
        };
        let editor = field
            .editable_by
            .iter()
            .next()
            .copied()
            .unwrap_or(Audience::Admin);
        let mut one = Document::new();
        one.insert(name.to_owned(), value.clone());
        if let Ok(merged) = compiled.merge(&doc, &one, editor) {
            doc = merged;
        }
    }
    doc
}

/// The claims Portcullis released from an account's attributes before
/// profiles existed: strings for the profile's names, the phone number
/// with its `phone_number_verified`, the address object; as stored.
fn legacy_claims(user: &User, scopes: &[&str], verified: bool) -> Document {
    let mut out = Document::new();
    let attr = |name: &str| user.attributes.get(name).cloned();
    if scopes.contains(&"profile") {
        for name in ["given_name", "family_name", "locale", "zoneinfo"] {
            if let Some(v) = attr(name).filter(Value::is_string) {
                out.insert(name.into(), v);
            }
        }
    }
    if scopes.contains(&"phone")
        && let Some(phone) = attr("phone_number").filter(Value::is_string)
    {
        out.insert("phone_number".into(), phone);
        out.insert("phone_number_verified".into(), Value::Bool(verified));
    }
    if scopes.contains(&"address")
        && let Some(address) = attr("address").filter(Value::is_object)
    {
        out.insert("address".into(), address);
    }
    out
}

/// "given family", or `None` when both are unset.
fn full_name(doc: &Document) -> Option<String> {
    let part = |k: &str| doc.get(k).and_then(Value::as_str).unwrap_or("").trim();
    let name = format!("{} {}", part("given_name"), part("family_name"));
    let name = name.trim();
    (!name.is_empty()).then(|| name.to_owned())
}

/// The names of the fields whose values differ, sorted.
fn changed_fields(before: &Document, after: &Document) -> Vec<String> {
    let mut names: Vec<String> = before
        .keys()
        .chain(after.keys())
        .filter(|k| k.as_str() != ARCHIVE_KEY)
        .filter(|k| before.get(*k) != after.get(*k))
        .cloned()
        .collect();
    names.sort();
    names.dedup();
    names
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn doc(v: Value) -> Document {
        v.as_object().cloned().unwrap()
    }

    #[test]
    fn profile_full_name_and_changes() {
        assert_eq!(
            full_name(&doc(
                json!({"given_name": "Ada", "family_name": "Lovelace"})
            ))
            .as_deref(),
            Some("Ada Lovelace")
        );
        assert_eq!(
            full_name(&doc(json!({"family_name": "Lovelace"}))).as_deref(),
            Some("Lovelace")
        );
        assert_eq!(full_name(&doc(json!({}))), None);
        let before = doc(json!({"a": 1, "b": 2, "_archived": {}}));
        let after = doc(json!({"b": 3, "c": 4}));
        assert_eq!(changed_fields(&before, &after), vec!["a", "b", "c"]);
    }

    #[test]
    fn profile_legacy_document_keeps_what_the_schema_accepts() {
        let compiled = ProfileSchema::default().compile().unwrap();
        let mut user = crate::model::User {
            id: Uuid::nil(),
            realm_id: Uuid::nil(),
            email: crate::model::Email::parse("a@example.com").unwrap(),
            name: None,
            password_hash: None,
            active: true,
            email_verified: false,
            attributes: Default::default(),
            created_at: OffsetDateTime::UNIX_EPOCH,
            updated_at: OffsetDateTime::UNIX_EPOCH,
            last_login_at: None,
        };
        user.attributes = doc(json!({
            "given_name": "Ada",
            "locale": "not a locale!",
            "department": "R&D",
            "phone_number": "+44 20 7946 0958",
        }));
        let d = legacy_document(&compiled, &user);
        assert_eq!(d.get("given_name"), Some(&json!("Ada")));
        assert_eq!(d.get("phone_number"), Some(&json!("+442079460958")));
        assert!(!d.contains_key("locale"));
        assert!(!d.contains_key("department"));
    }
}
