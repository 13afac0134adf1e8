//! SCIM `User`s: accounts with their SCIM record.

use std::collections::{HashMap, HashSet};

use portcullis_scim::query::project;
use portcullis_scim::schema::{AttributeDef, AttributeType, Mutability, ResourceSchema};
use portcullis_scim::wire::ListResponse;
use portcullis_scim::{ListQuery, PatchLimits, PatchRequest, ScimError, urn};
use secrecy::{ExposeSecret, SecretString};
use serde_json::{Map, Value, json};
use time::format_description::well_known::Rfc3339;
use uuid::Uuid;

use super::filter::{sort_field, translate};
use super::{
    MAX_DOCUMENT, Scim, ScimFailure, ScimResource, ScimResult, ScimUserQuery, ScimUserRecord,
    check_if_match, finish, member, opt_string, parse_id, resource_body, short_text, take,
};
use crate::access::{Allowed, ScimProvision};
use crate::error::Error;
use crate::model::{Email, User, new_id};
use crate::passwords::check_new_password;

/// A User body, checked.
#[derive(Debug)]
struct UserInput {
    user_name: String,
    /// The primary address of `emails`, when given.
    email: Option<Email>,
    name: Option<String>,
    /// `active`, when given (absent: active).
    active: Option<bool>,
    password: Option<SecretString>,
    record: ScimUserRecord,
}

fn rfc3339(t: time::OffsetDateTime) -> Value {
    t.format(&Rfc3339).map(Value::String).unwrap_or(Value::Null)
}

/// `active` as clients send it: a boolean, or (Microsoft Entra ID) the
/// string `"True"` / `"False"`.
fn boolean(field: &str, v: &Value) -> ScimResult<bool> {
    match v {
        Value::Bool(b) => Ok(*b),
        Value::String(s) if s.eq_ignore_ascii_case("true") => Ok(true),
        Value::String(s) if s.eq_ignore_ascii_case("false") => Ok(false),
        _ => Err(ScimError::invalid_value(format!("{field} must be true or false")).into()),
    }
}

/// Checks a value against its definition: its JSON type, its
/// sub-attributes (unknown ones refused), and drops what is read-only.
fn check_value(def: &AttributeDef, path: &str, v: &mut Value, multi_item: bool) -> ScimResult<()> {
    if def.multi_valued && !multi_item {
        let Value::Array(items) = v else {
            return Err(ScimError::invalid_value(format!("{path} must be an array")).into());
        };
        for item in items.iter_mut() {
            check_value(def, path, item, true)?;
        }
        return Ok(());
    }
    let ok = match def.kind {
        AttributeType::String
        | AttributeType::Reference
        | AttributeType::DateTime
        | AttributeType::Binary => v.is_string(),
        AttributeType::Boolean => v.is_boolean(),
        AttributeType::Decimal => v.is_number(),
        AttributeType::Integer => v.is_i64() || v.is_u64(),
        AttributeType::Complex => {
            let Value::Object(object) = v else {
                return Err(ScimError::invalid_value(format!("{path} must be an object")).into());
            };
            let keys: Vec<String> = object.keys().cloned().collect();
            for key in keys {
                let Some(sub) = def.sub_attribute(&key) else {
                    return Err(ScimError::invalid_value(format!(
                        "{path}.{key} is not an attribute of {path}"
                    ))
                    .into());
                };
                if sub.mutability == Mutability::ReadOnly {
                    object.remove(&key);
                    continue;
                }
                if let Some(value) = object.get_mut(&key)
                    && !value.is_null()
                {
                    check_value(sub, &format!("{path}.{}", sub.name), value, false)?;
                }
            }
            true
        }
    };
    if ok {
        Ok(())
    } else {
        Err(ScimError::invalid_value(format!("{path} must be of type {:?}", def.kind)).into())
    }
}

/// The primary address of `emails`: the one marked primary, else the
/// first; `None` when there is none.
fn primary_email(emails: Option<&Value>) -> ScimResult<Option<Email>> {
    let items = emails
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default();
    let Some(chosen) = items
        .iter()
        .find(|e| e.get("primary").and_then(Value::as_bool) == Some(true))
        .or_else(|| items.first())
    else {
        return Ok(None);
    };
    let value = chosen
        .get("value")
        .and_then(Value::as_str)
        .ok_or_else(|| ScimError::invalid_value("emails.value is required"))?;
    Email::parse(value)
        .map(Some)
        .map_err(|e| ScimError::invalid_value(format!("emails.value: {}", e.reason)).into())
}

/// The address of an account provisioned without one: its user name when
/// that is an address, else one in the reserved `.invalid` domain (no
/// mailbox: nothing is ever mailed to it, and it cannot reset a password).
fn address_for(user_name: &str, id: Uuid) -> ScimResult<Email> {
    if let Ok(e) = Email::parse(user_name) {
        return Ok(e);
    }
    Email::parse(&format!("scim-{}@users.invalid", id.simple()))
        .map_err(|e| ScimFailure::Core(Error::Validation(vec![e])))
}

fn parse_user(body: Value, min_password: u32) -> ScimResult<UserInput> {
    let schema = ResourceSchema::user();
    let mut object = resource_body(body, urn::USER)?;
    for read_only in ["id", "meta", "schemas", "groups"] {
        take(&mut object, read_only);
    }
    let user_name = match take(&mut object, "userName") {
        Some(Value::String(s)) => short_text("userName", &s)?,
        _ => return Err(ScimError::invalid_value("userName is required, a string").into()),
    };
    let external_id = opt_string(&object, "externalId")?;
    take(&mut object, "externalId");
    let active = match take(&mut object, "active") {
        None | Some(Value::Null) => None,
        Some(v) => Some(boolean("active", &v)?),
    };
    let password = match take(&mut object, "password") {
        None | Some(Value::Null) => None,
        Some(Value::String(p)) => Some(SecretString::from(p)),
        Some(_) => return Err(ScimError::invalid_value("password must be a string").into()),
    };
    let display_name = match take(&mut object, "displayName") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) if s.trim().is_empty() => None,
        Some(Value::String(s)) => Some(s),
        Some(_) => return Err(ScimError::invalid_value("displayName must be a string").into()),
    };
    // The enterprise extension: its queried fields in columns.
    let mut enterprise = take(&mut object, urn::ENTERPRISE_USER);
    let mut record = ScimUserRecord {
        user_name: Some(user_name.clone()),
        external_id,
        ..ScimUserRecord::default()
    };
    if let Some(ext) = enterprise.as_mut().filter(|e| !e.is_null()) {
        let Value::Object(e) = ext else {
            return Err(ScimError::invalid_value(format!(
                "{} must be an object",
                urn::ENTERPRISE_USER
            ))
            .into());
        };
        let ext_schema = schema
            .extension(urn::ENTERPRISE_USER)
            .ok_or(ScimFailure::Core(Error::Internal("scim-enterprise-schema")))?;
        let keys: Vec<String> = e.keys().cloned().collect();
        for key in keys {
            let Some(def) = ext_schema.attribute(&key) else {
                return Err(ScimError::invalid_value(format!(
                    "{key} is not an attribute of the Enterprise User extension"
                ))
                .into());
            };
            if let Some(v) = e.get_mut(&key).filter(|v| !v.is_null()) {
                // Entra ID sends the manager as its id alone.
                if def.name == "manager"
                    && let Value::String(id) = v
                {
                    *v = json!({ "value": id });
                }
                check_value(def, &def.name, v, false)?;
            }
        }
        record.employee_number = opt_string(e, "employeeNumber")?;
        record.department = opt_string(e, "department")?;
        record.manager_id = match member(e, "manager").and_then(|m| m.get("value")) {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) if s.trim().is_empty() => None,
            Some(Value::String(s)) => Some(Uuid::parse_str(s.trim()).map_err(|_| {
                ScimError::invalid_value(format!("manager.value `{s}` is not a user of this realm"))
            })?),
            Some(_) => {
                return Err(ScimError::invalid_value("manager.value must be a string").into());
            }
        };
        for key in ["employeeNumber", "department", "manager"] {
            take(e, key);
        }
        if !e.is_empty() {
            record
                .document
                .insert(urn::ENTERPRISE_USER.to_owned(), Value::Object(e.clone()));
        }
    }
    // Every other attribute: known to the schema, of its type.
    let keys: Vec<String> = object.keys().cloned().collect();
    for key in keys {
        let Some((None, def)) = schema.resolve_attribute(None, &key) else {
            return Err(
                ScimError::invalid_value(format!("{key} is not an attribute of User")).into(),
            );
        };
        let Some(mut value) = object.remove(&key) else {
            continue;
        };
        if value.is_null() || def.mutability == Mutability::ReadOnly {
            continue;
        }
        check_value(def, &def.name, &mut value, false)?;
        record.document.insert(def.name.clone(), value);
    }
    if let Some(a) = active {
        record.document.insert("active".into(), Value::Bool(a));
    }
    let email = primary_email(record.document.get("emails"))?;
    let name = match display_name {
        Some(n) => Some(n),
        None => record.document.get("name").and_then(|n| {
            n.get("formatted")
                .and_then(Value::as_str)
                .map(str::to_owned)
                .or_else(|| {
                    let given = n.get("givenName").and_then(Value::as_str).unwrap_or("");
                    let family = n.get("familyName").and_then(Value::as_str).unwrap_or("");
                    let full = format!("{given} {family}").trim().to_owned();
                    (!full.is_empty()).then_some(full)
                })
        }),
    };
    let name = crate::accounts::parse_name(name.as_deref())
        .map_err(|e| ScimError::invalid_value(format!("displayName: {}", e.reason)))?;
    if let Some(p) = &password {
        check_new_password("password", p.expose_secret(), min_password, email.as_ref())
            .map_err(|e| ScimError::invalid_value(format!("password: {}", e.reason)))?;
    }
    if Value::Object(record.document.clone()).to_string().len() > MAX_DOCUMENT {
        return Err(ScimError::status(
            413,
            format!("the user's attributes exceed {MAX_DOCUMENT} bytes"),
        )
        .into());
    }
    Ok(UserInput {
        user_name,
        email,
        name,
        active,
        password,
        record,
    })
}

impl Scim<'_> {
    /// The groups each of `users` belongs to directly now, as `groups`
    /// lists them: the memberships are read once for the whole page.
    async fn groups_of(
        &self,
        realm_id: Uuid,
        users: &[Uuid],
        base: &str,
    ) -> ScimResult<HashMap<Uuid, Vec<Value>>> {
        let view = crate::authz::Authz::new(self.i)
            .view(realm_id, None)
            .await?;
        let names = self.group_names(realm_id, &view).await?;
        let now = crate::model::micros(self.now());
        let wanted: HashSet<Uuid> = users.iter().copied().collect();
        let mut out: HashMap<Uuid, Vec<Value>> = HashMap::new();
        for m in &view.snapshot.memberships {
            if wanted.contains(&m.user) && m.validity.holds_at(now) {
                out.entry(m.user).or_default().push(json!({
                    "value": m.group.to_string(),
                    "$ref": format!("{base}/Groups/{}", m.group),
                    "display": names.get(&m.group).cloned().unwrap_or_default(),
                    "type": "direct",
                }));
            }
        }
        Ok(out)
    }

    /// A user as SCIM shows it.
    fn user_json(
        &self,
        base: &str,
        user: &User,
        rec: &ScimUserRecord,
        groups: Vec<Value>,
    ) -> Value {
        let mut out = Map::new();
        let mut doc = rec.document.clone();
        let extension = doc.remove(urn::ENTERPRISE_USER);
        let mut schemas = vec![Value::String(urn::USER.into())];
        out.insert("id".into(), Value::String(user.id.to_string()));
        if let Some(x) = &rec.external_id {
            out.insert("externalId".into(), Value::String(x.clone()));
        }
        out.insert(
            "userName".into(),
            Value::String(
                rec.user_name
                    .clone()
                    .unwrap_or_else(|| user.email.to_string()),
            ),
        );
        if let Some(n) = &user.name {
            out.insert("displayName".into(), Value::String(n.clone()));
        }
        // The account's flag is what counts; a provisioned account whose
        // client never set `active` (so active) shows none.
        let given = doc.remove("active").is_some();
        if given || rec.user_name.is_none() || !user.active {
            out.insert("active".into(), Value::Bool(user.active));
        }
        // The primary address is the account's, whatever changed it.
        let mut emails: Vec<Value> = doc
            .remove("emails")
            .and_then(|e| e.as_array().cloned())
            .unwrap_or_default();
        let primary = emails
            .iter()
            .position(|e| e.get("primary").and_then(Value::as_bool) == Some(true))
            .unwrap_or(0);
        match emails.get_mut(primary).and_then(Value::as_object_mut) {
            Some(e) => {
                e.insert("value".into(), Value::String(user.email.to_string()));
            }
            // Provisioned without addresses: none shown (the account's own
            // is its user name, or no mailbox).
            None if rec.user_name.is_some() => {}
            None => emails = vec![json!({ "value": user.email.to_string(), "primary": true })],
        }
        if !emails.is_empty() {
            out.insert("emails".into(), Value::Array(emails));
        }
        for (k, v) in doc {
            out.insert(k, v);
        }
        if !groups.is_empty() {
            out.insert("groups".into(), Value::Array(groups));
        }
        let mut ext = match extension {
            Some(Value::Object(e)) => e,
            _ => Map::new(),
        };
        if let Some(v) = &rec.employee_number {
            ext.insert("employeeNumber".into(), Value::String(v.clone()));
        }
        if let Some(v) = &rec.department {
            ext.insert("department".into(), Value::String(v.clone()));
        }
        if let Some(m) = rec.manager_id {
            ext.insert(
                "manager".into(),
                json!({ "value": m.to_string(), "$ref": format!("{base}/Users/{m}") }),
            );
        }
        if !ext.is_empty() {
            schemas.push(Value::String(urn::ENTERPRISE_USER.into()));
            out.insert(urn::ENTERPRISE_USER.into(), Value::Object(ext));
        }
        out.insert("schemas".into(), Value::Array(schemas));
        out.insert(
            "meta".into(),
            json!({
                "resourceType": "User",
                "created": rfc3339(user.created_at),
                "lastModified": rfc3339(user.updated_at),
                "location": format!("{base}/Users/{}", user.id),
            }),
        );
        Value::Object(out)
    }

    async fn load_user(
        &self,
        admin: &Allowed<ScimProvision>,
        id: &str,
    ) -> ScimResult<(User, ScimUserRecord)> {
        let id = parse_id(id, "user")?;
        self.i
            .store
            .scim_user(admin.realm().id, id)
            .await?
            .ok_or(ScimFailure::Core(Error::NotFound("user")))
    }

    async fn render_user(
        &self,
        admin: &Allowed<ScimProvision>,
        user: &User,
        rec: &ScimUserRecord,
    ) -> ScimResult<ScimResource> {
        let base = self.base_url(admin.realm().name.as_str());
        let groups = self
            .groups_of(admin.realm().id, &[user.id], &base)
            .await?
            .remove(&user.id)
            .unwrap_or_default();
        Ok(finish(self.user_json(&base, user, rec, groups)))
    }

    /// `GET /Users/{id}`.
    pub async fn get_user(
        &self,
        admin: &Allowed<ScimProvision>,
        id: &str,
    ) -> ScimResult<ScimResource> {
        let (user, rec) = self.load_user(admin, id).await?;
        self.render_user(admin, &user, &rec).await
    }

    /// Refuses a user name another account holds, and a manager that is
    /// not an account of the realm (or the user itself).
    async fn check_unique(&self, realm_id: Uuid, id: Uuid, input: &UserInput) -> ScimResult<()> {
        let canonical = input.user_name.to_lowercase();
        if let Some(other) = self
            .i
            .store
            .scim_user_id_by_name(realm_id, &canonical)
            .await?
            && other != id
        {
            return Err(ScimError::new(
                portcullis_scim::ScimType::Uniqueness,
                format!("userName `{}` is taken in this realm", input.user_name),
            )
            .into());
        }
        if let Some(m) = input.record.manager_id
            && (m == id || self.i.store.get_user(realm_id, m).await?.is_none())
        {
            return Err(ScimError::invalid_value(format!(
                "manager.value `{m}` is not another user of this realm"
            ))
            .into());
        }
        Ok(())
    }

    /// `POST /Users`.
    pub async fn create_user(
        &self,
        admin: &Allowed<ScimProvision>,
        body: Value,
    ) -> ScimResult<ScimResource> {
        let realm = admin.realm();
        let input = parse_user(body, realm.password_min_length)?;
        let id = new_id();
        self.check_unique(realm.id, id, &input).await?;
        let email = match input.email {
            Some(e) => e,
            None => address_for(&input.user_name, id)?,
        };
        let password_hash = match input.password {
            Some(p) => Some(self.i.passwords.hash(p).await?),
            None => None,
        };
        let now = self.now();
        let user = User {
            id,
            realm_id: realm.id,
            email,
            name: input.name,
            password_hash,
            active: input.active.unwrap_or(true),
            email_verified: false,
            attributes: Map::new(),
            created_at: now,
            updated_at: now,
            last_login_at: None,
        };
        self.i
            .store
            .save_scim_user(&user, &input.record, true)
            .await
            .map_err(uniqueness)?;
        crate::authz::Authz::new(self.i)
            .grant_default_role(realm.id, admin.caller(), user.id)
            .await?;
        let answer = self.render_user(admin, &user, &input.record).await?;
        self.audit(
            admin,
            "scim.user.create",
            format!("user:{id}"),
            json!({ "userName": input.user_name }),
        )
        .await;
        Ok(answer)
    }

    /// `PUT /Users/{id}`: replaces every writable attribute.
    pub async fn replace_user(
        &self,
        admin: &Allowed<ScimProvision>,
        id: &str,
        body: Value,
        if_match: Option<&str>,
    ) -> ScimResult<ScimResource> {
        let (user, rec) = self.load_user(admin, id).await?;
        let current = self.render_user(admin, &user, &rec).await?;
        check_if_match(if_match, &current.etag)?;
        self.write_user(admin, user, body, "scim.user.replace")
            .await
    }

    /// `PATCH /Users/{id}`.
    pub async fn patch_user(
        &self,
        admin: &Allowed<ScimProvision>,
        id: &str,
        body: &Value,
        if_match: Option<&str>,
    ) -> ScimResult<ScimResource> {
        let patch = PatchRequest::parse(body, &PatchLimits::default())?;
        let (user, rec) = self.load_user(admin, id).await?;
        let current = self.render_user(admin, &user, &rec).await?;
        check_if_match(if_match, &current.etag)?;
        let mut resource = current.body.clone();
        if !patch.apply(&mut resource, ResourceSchema::user())? {
            return Ok(current);
        }
        self.write_user(admin, user, resource, "scim.user.patch")
            .await
    }

    async fn write_user(
        &self,
        admin: &Allowed<ScimProvision>,
        mut user: User,
        body: Value,
        action: &str,
    ) -> ScimResult<ScimResource> {
        let realm = admin.realm();
        let input = parse_user(body, realm.password_min_length)?;
        self.check_unique(realm.id, user.id, &input).await?;
        let was_active = user.active;
        // Without addresses, the account keeps its own: it is how it signs in.
        if let Some(email) = input.email {
            if user.email.canonical() != email.canonical() {
                user.email_verified = false;
            }
            user.email = email;
        }
        user.name = input.name;
        user.active = input.active.unwrap_or(true);
        if let Some(p) = input.password {
            user.password_hash = Some(self.i.passwords.hash(p).await?);
        }
        user.updated_at = self.now();
        self.i
            .store
            .save_scim_user(&user, &input.record, false)
            .await
            .map_err(uniqueness)?;
        if was_active && !user.active {
            crate::users::cut_off(self.i, realm.id, user.id).await?;
        } else if !was_active && user.active {
            self.i.denylist.allow_user(user.id);
        }
        let answer = self.render_user(admin, &user, &input.record).await?;
        self.audit(
            admin,
            action,
            format!("user:{}", user.id),
            json!({ "userName": input.user_name, "active": user.active }),
        )
        .await;
        Ok(answer)
    }

    /// `DELETE /Users/{id}`.
    pub async fn delete_user(
        &self,
        admin: &Allowed<ScimProvision>,
        id: &str,
        if_match: Option<&str>,
    ) -> ScimResult<()> {
        let (user, rec) = self.load_user(admin, id).await?;
        if user.id == admin.caller().who.user_id {
            return Err(ScimFailure::Core(Error::Conflict(
                "you cannot delete your own account".into(),
            )));
        }
        if if_match.is_some() {
            let current = self.render_user(admin, &user, &rec).await?;
            check_if_match(if_match, &current.etag)?;
        }
        crate::users::remove_account(self.i, admin.realm().id, user.id).await?;
        self.audit(
            admin,
            "scim.user.delete",
            format!("user:{}", user.id),
            json!({}),
        )
        .await;
        Ok(())
    }

    /// `GET /Users` and `POST /Users/.search`: filtered, sorted and paged
    /// in the store.
    pub async fn list_users(
        &self,
        admin: &Allowed<ScimProvision>,
        query: &ListQuery,
    ) -> ScimResult<ListResponse<Value>> {
        let filter = query.filter.as_ref().map(translate).transpose()?;
        let sort = query
            .sort_by
            .as_ref()
            .map(|p| {
                sort_field(p).map(|f| {
                    (
                        f,
                        query.sort_order == portcullis_scim::SortOrder::Descending,
                    )
                })
            })
            .transpose()?;
        let q = ScimUserQuery {
            filter,
            sort,
            offset: query.offset() as u64,
            limit: query.count as u64,
        };
        let realm = admin.realm();
        // `count=0` asks for the total alone: the store reads no rows.
        let page = self.i.store.list_scim_users(realm.id, &q).await?;
        let base = self.base_url(realm.name.as_str());
        let ids: Vec<Uuid> = page.items.iter().map(|(u, _)| u.id).collect();
        let mut groups = self.groups_of(realm.id, &ids, &base).await?;
        let schema = ResourceSchema::user();
        let resources = page
            .items
            .iter()
            .map(|(user, rec)| {
                let mine = groups.remove(&user.id).unwrap_or_default();
                let body = finish(self.user_json(&base, user, rec, mine)).body;
                project(&body, schema, &query.attributes)
            })
            .collect();
        Ok(query.response(page.total, resources))
    }
}

/// A store conflict on save: the user name or address is taken.
fn uniqueness(e: crate::StoreError) -> ScimFailure {
    match e {
        crate::StoreError::Conflict(m) => {
            ScimError::new(portcullis_scim::ScimType::Uniqueness, m).into()
        }
        crate::StoreError::NotFound => {
            ScimError::invalid_value("manager.value is not a user of this realm").into()
        }
        other => other.into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(extra: Value) -> Value {
        let mut b = json!({
            "schemas": [urn::USER],
            "userName": "bjensen",
            "emails": [{"value": "BJensen@Example.com", "type": "work", "primary": true}],
        });
        if let (Some(b), Value::Object(e)) = (b.as_object_mut(), extra) {
            b.extend(e);
        }
        b
    }

    #[test]
    fn a_minimal_user_parses() {
        let u = parse_user(body(json!({})), 8).unwrap();
        assert_eq!(u.user_name, "bjensen");
        assert_eq!(u.email.unwrap().as_str(), "BJensen@example.com");
        assert_eq!(u.active, None);
        assert_eq!(u.record.user_name.as_deref(), Some("bjensen"));
    }

    #[test]
    fn entra_shapes_parse() {
        let u = parse_user(
            body(json!({
                "active": "False",
                urn::ENTERPRISE_USER: {"manager": "0190e7a4-4c5b-7000-8000-000000000001", "department": "Sales", "costCenter": "42"},
                "name": {"givenName": "Barbara", "familyName": "Jensen"}
            })),
            8,
        )
        .unwrap();
        assert_eq!(u.active, Some(false));
        assert_eq!(u.name.as_deref(), Some("Barbara Jensen"));
        assert_eq!(u.record.department.as_deref(), Some("Sales"));
        assert!(u.record.manager_id.is_some());
        assert_eq!(u.record.document[urn::ENTERPRISE_USER]["costCenter"], "42");
    }

    #[test]
    fn bad_bodies_name_what_is_wrong() {
        let err = |b: Value| match parse_user(b, 8) {
            Err(ScimFailure::Scim(e)) => e.detail,
            other => panic!("{other:?}"),
        };
        assert!(err(json!({"userName": "x"})).contains("schemas"));
        assert!(err(json!({"schemas": [urn::USER], "emails": []})).contains("userName"));
        assert!(
            err(json!({"schemas": [urn::USER], "userName": "x", "emails": [{"type": "work"}]}))
                .contains("emails.value")
        );
        assert!(
            parse_user(json!({"schemas": [urn::USER], "userName": "x"}), 8)
                .unwrap()
                .email
                .is_none()
        );
        assert_eq!(
            address_for("a@example.com", new_id()).unwrap().as_str(),
            "a@example.com"
        );
        assert!(
            address_for("jdoe", new_id())
                .unwrap()
                .as_str()
                .ends_with("@users.invalid")
        );
        assert!(err(body(json!({"nickName": 5}))).contains("nickName"));
        assert!(err(body(json!({"favouriteColour": "red"}))).contains("favouriteColour"));
        assert!(err(body(json!({"password": "short"}))).contains("password"));
        assert!(err(body(json!({"emails": [{"value": "not an address"}]}))).contains("emails"));
        assert!(err(body(json!({"name": {"nope": "x"}}))).contains("name.nope"));
    }
}
