//! SCIM `Group`s: a realm's authorization groups and their direct members.
//! A realm has few groups next to its users, so lists are filtered, sorted
//! and paged in memory with the protocol crate's own evaluator: every
//! attribute can be filtered on.

use std::collections::{BTreeSet, HashMap};

use portcullis_policy::model::Group;
use portcullis_scim::query::project;
use portcullis_scim::schema::ResourceSchema;
use portcullis_scim::wire::ListResponse;
use portcullis_scim::{ListQuery, PatchLimits, PatchRequest, ScimError, ScimType, urn};
use serde_json::{Map, Value, json};
use time::format_description::well_known::Rfc3339;
use uuid::Uuid;

use super::{
    Scim, ScimFailure, ScimGroupRecord, ScimResource, ScimResult, check_if_match, finish, member,
    opt_string, parse_id, resource_body, short_text, take,
};
use crate::access::{Allowed, ScimProvision};
use crate::authz::{Authz, View};
use crate::error::Error;

/// Most members a group body may list.
pub const MAX_MEMBERS: usize = 10_000;

/// A Group body, checked.
#[derive(Debug)]
struct GroupInput {
    display_name: String,
    external_id: Option<String>,
    members: BTreeSet<Uuid>,
}

fn parse_group(body: Value) -> ScimResult<GroupInput> {
    let mut object = resource_body(body, urn::GROUP)?;
    for read_only in ["id", "meta", "schemas"] {
        take(&mut object, read_only);
    }
    let display_name = match take(&mut object, "displayName") {
        Some(Value::String(s)) => short_text("displayName", &s)?,
        _ => return Err(ScimError::invalid_value("displayName is required, a string").into()),
    };
    let external_id = opt_string(&object, "externalId")?;
    take(&mut object, "externalId");
    let mut members = BTreeSet::new();
    match take(&mut object, "members") {
        None | Some(Value::Null) => {}
        Some(Value::Array(items)) => {
            if items.len() > MAX_MEMBERS {
                return Err(ScimError::status(
                    413,
                    format!("a group body lists at most {MAX_MEMBERS} members"),
                )
                .into());
            }
            for item in items {
                let Value::Object(m) = item else {
                    return Err(ScimError::invalid_value("members are objects").into());
                };
                if let Some(Value::String(t)) = member(&m, "type")
                    && !t.eq_ignore_ascii_case("User")
                {
                    return Err(ScimError::invalid_value(
                        "members are users: groups nest through their parent, not as members",
                    )
                    .into());
                }
                let Some(Value::String(v)) = member(&m, "value") else {
                    return Err(ScimError::invalid_value("members.value is required").into());
                };
                let id = Uuid::parse_str(v.trim()).map_err(|_| {
                    ScimError::invalid_value(format!(
                        "members.value `{v}` is not a user of this realm"
                    ))
                })?;
                members.insert(id);
            }
        }
        Some(_) => return Err(ScimError::invalid_value("members must be an array").into()),
    }
    if let Some(key) = object.keys().next() {
        return Err(ScimError::invalid_value(format!("{key} is not an attribute of Group")).into());
    }
    Ok(GroupInput {
        display_name,
        external_id,
        members,
    })
}

/// An authorization group name for a display name: letters and digits
/// kept, runs of anything else one `-`.
fn slug(display_name: &str) -> String {
    let mut out = String::new();
    for c in display_name.chars() {
        if c.is_alphanumeric() {
            out.extend(c.to_lowercase());
        } else if !out.ends_with('-') {
            out.push('-');
        }
    }
    let out: String = out.trim_matches('-').chars().take(48).collect();
    let out = out.trim_matches('-').to_owned();
    if out.is_empty() { "group".into() } else { out }
}

impl Scim<'_> {
    /// The display name of every group: its SCIM name, else its own.
    pub(super) async fn group_names(
        &self,
        realm_id: Uuid,
        view: &View,
    ) -> ScimResult<HashMap<Uuid, String>> {
        let records = self.i.store.scim_groups(realm_id).await?;
        let mut names: HashMap<Uuid, String> = view
            .snapshot
            .groups
            .iter()
            .map(|g| (g.id, g.name.clone()))
            .collect();
        for r in records {
            names.insert(r.group_id, r.display_name);
        }
        Ok(names)
    }

    fn group_json(
        &self,
        base: &str,
        view: &View,
        g: &Group,
        rec: Option<&ScimGroupRecord>,
    ) -> Value {
        let now = crate::model::micros(self.now());
        let members: Vec<Value> = view
            .snapshot
            .memberships
            .iter()
            .filter(|m| m.group == g.id && m.validity.holds_at(now))
            .map(|m| {
                json!({
                    "value": m.user.to_string(),
                    "$ref": format!("{base}/Users/{}", m.user),
                    "type": "User",
                })
            })
            .collect();
        let mut out = Map::new();
        out.insert("schemas".into(), json!([urn::GROUP]));
        out.insert("id".into(), Value::String(g.id.to_string()));
        if let Some(x) = rec.and_then(|r| r.external_id.clone()) {
            out.insert("externalId".into(), Value::String(x));
        }
        out.insert(
            "displayName".into(),
            Value::String(rec.map_or_else(|| g.name.clone(), |r| r.display_name.clone())),
        );
        if !members.is_empty() {
            out.insert("members".into(), Value::Array(members));
        }
        let mut meta = Map::new();
        meta.insert("resourceType".into(), json!("Group"));
        if let Some(r) = rec {
            for (k, t) in [("created", r.created_at), ("lastModified", r.updated_at)] {
                if let Ok(s) = t.format(&Rfc3339) {
                    meta.insert(k.into(), Value::String(s));
                }
            }
        }
        meta.insert(
            "location".into(),
            Value::String(format!("{base}/Groups/{}", g.id)),
        );
        out.insert("meta".into(), Value::Object(meta));
        Value::Object(out)
    }

    async fn load_group(
        &self,
        admin: &Allowed<ScimProvision>,
        id: &str,
        min_revision: Option<i64>,
    ) -> ScimResult<(std::sync::Arc<View>, Group, Option<ScimGroupRecord>)> {
        let id = parse_id(id, "group")?;
        let realm_id = admin.realm().id;
        let view = Authz::new(self.i).view(realm_id, min_revision).await?;
        let g = view
            .snapshot
            .groups
            .iter()
            .find(|g| g.id == id)
            .cloned()
            .ok_or(ScimFailure::Core(Error::NotFound("group")))?;
        let rec = self
            .i
            .store
            .scim_groups(realm_id)
            .await?
            .into_iter()
            .find(|r| r.group_id == id);
        Ok((view, g, rec))
    }

    async fn render_group(
        &self,
        admin: &Allowed<ScimProvision>,
        id: Uuid,
        min_revision: Option<i64>,
    ) -> ScimResult<ScimResource> {
        let (view, g, rec) = self
            .load_group(admin, &id.to_string(), min_revision)
            .await?;
        let base = self.base_url(admin.realm().name.as_str());
        Ok(finish(self.group_json(&base, &view, &g, rec.as_ref())))
    }

    /// `GET /Groups/{id}`.
    pub async fn get_group(
        &self,
        admin: &Allowed<ScimProvision>,
        id: &str,
    ) -> ScimResult<ScimResource> {
        let id = parse_id(id, "group")?;
        self.render_group(admin, id, None).await
    }

    /// Refuses a display name another group has, and members that are not
    /// accounts of the realm.
    async fn check_group(
        &self,
        admin: &Allowed<ScimProvision>,
        id: Option<Uuid>,
        input: &GroupInput,
    ) -> ScimResult<()> {
        let realm_id = admin.realm().id;
        let view = Authz::new(self.i).view(realm_id, None).await?;
        let names = self.group_names(realm_id, &view).await?;
        let wanted = input.display_name.to_lowercase();
        if names
            .iter()
            .any(|(g, n)| Some(*g) != id && n.to_lowercase() == wanted)
        {
            return Err(ScimError::new(
                ScimType::Uniqueness,
                format!(
                    "displayName `{}` is taken in this realm",
                    input.display_name
                ),
            )
            .into());
        }
        for m in &input.members {
            if self.i.store.get_user(realm_id, *m).await?.is_none() {
                return Err(ScimError::invalid_value(format!(
                    "members.value `{m}` is not a user of this realm"
                ))
                .into());
            }
        }
        Ok(())
    }

    /// `POST /Groups`.
    pub async fn create_group(
        &self,
        admin: &Allowed<ScimProvision>,
        body: Value,
    ) -> ScimResult<ScimResource> {
        let input = parse_group(body)?;
        self.check_group(admin, None, &input).await?;
        let caller = admin.caller();
        let authz = Authz::new(self.i);
        let view = authz.view(admin.realm().id, None).await?;
        let mut name = slug(&input.display_name);
        if view.snapshot.groups.iter().any(|g| g.name == name) {
            name = format!(
                "{name}-{}",
                &crate::model::new_id().simple().to_string()[24..]
            );
        }
        let created = authz
            .create_group_by(
                &caller,
                crate::authz::GroupInput {
                    name,
                    description: None,
                    parent: None,
                },
            )
            .await?;
        let id = created.value.id;
        let now = self.now();
        let record = ScimGroupRecord {
            realm_id: admin.realm().id,
            group_id: id,
            display_name: input.display_name.clone(),
            external_id: input.external_id.clone(),
            created_at: now,
            updated_at: now,
        };
        if let Err(e) = self.i.store.save_scim_group(&record).await {
            // Undo the group rather than leave one SCIM cannot name.
            let _ = authz.delete_group_by(&caller, &id.to_string()).await;
            return Err(e.into());
        }
        let revision = self.set_members(admin, id, &input.members).await?;
        let answer = self.render_group(admin, id, revision).await?;
        self.audit(
            admin,
            "scim.group.create",
            format!("group:{id}"),
            json!({ "displayName": input.display_name }),
        )
        .await;
        Ok(answer)
    }

    /// Makes a group's direct members exactly `wanted`; the revision after
    /// the last change, if any.
    async fn set_members(
        &self,
        admin: &Allowed<ScimProvision>,
        group: Uuid,
        wanted: &BTreeSet<Uuid>,
    ) -> ScimResult<Option<i64>> {
        let caller = admin.caller();
        let authz = Authz::new(self.i);
        let view = authz.view(admin.realm().id, None).await?;
        let now = crate::model::micros(self.now());
        let current: BTreeSet<Uuid> = view
            .snapshot
            .memberships
            .iter()
            .filter(|m| m.group == group && m.validity.holds_at(now))
            .map(|m| m.user)
            .collect();
        let mut revision = None;
        let key = group.to_string();
        for user in wanted.difference(&current) {
            let body = portcullis_proto::AddMemberRequest {
                user_id: *user,
                expires_at: None,
                not_before: None,
            };
            revision = Some(authz.add_member_by(&caller, &key, body).await?);
        }
        for user in current.difference(wanted) {
            revision = Some(authz.remove_member_by(&caller, &key, *user).await?);
        }
        Ok(revision)
    }

    /// `PUT /Groups/{id}`.
    pub async fn replace_group(
        &self,
        admin: &Allowed<ScimProvision>,
        id: &str,
        body: Value,
        if_match: Option<&str>,
    ) -> ScimResult<ScimResource> {
        let current = self.get_group(admin, id).await?;
        check_if_match(if_match, &current.etag)?;
        self.write_group(admin, id, body, "scim.group.replace")
            .await
    }

    /// `PATCH /Groups/{id}`: applied to the group as SCIM shows it, then
    /// written as a replacement (members added and removed one by one).
    pub async fn patch_group(
        &self,
        admin: &Allowed<ScimProvision>,
        id: &str,
        body: &Value,
        if_match: Option<&str>,
    ) -> ScimResult<ScimResource> {
        let patch = PatchRequest::parse(body, &PatchLimits::default())?;
        let current = self.get_group(admin, id).await?;
        check_if_match(if_match, &current.etag)?;
        let mut resource = current.body.clone();
        if !patch.apply(&mut resource, ResourceSchema::group())? {
            return Ok(current);
        }
        self.write_group(admin, id, resource, "scim.group.patch")
            .await
    }

    async fn write_group(
        &self,
        admin: &Allowed<ScimProvision>,
        id: &str,
        body: Value,
        action: &str,
    ) -> ScimResult<ScimResource> {
        let (_, g, rec) = self.load_group(admin, id, None).await?;
        let input = parse_group(body)?;
        self.check_group(admin, Some(g.id), &input).await?;
        let now = self.now();
        let record = ScimGroupRecord {
            realm_id: admin.realm().id,
            group_id: g.id,
            display_name: input.display_name.clone(),
            external_id: input.external_id.clone(),
            created_at: rec.map_or(now, |r| r.created_at),
            updated_at: now,
        };
        self.i.store.save_scim_group(&record).await?;
        let revision = self.set_members(admin, g.id, &input.members).await?;
        let answer = self.render_group(admin, g.id, revision).await?;
        self.audit(
            admin,
            action,
            format!("group:{}", g.id),
            json!({ "displayName": input.display_name, "members": input.members.len() }),
        )
        .await;
        Ok(answer)
    }

    /// `DELETE /Groups/{id}`.
    pub async fn delete_group(
        &self,
        admin: &Allowed<ScimProvision>,
        id: &str,
        if_match: Option<&str>,
    ) -> ScimResult<()> {
        let current = self.get_group(admin, id).await?;
        check_if_match(if_match, &current.etag)?;
        let id = parse_id(id, "group")?;
        Authz::new(self.i)
            .delete_group_by(&admin.caller(), &id.to_string())
            .await?;
        self.audit(admin, "scim.group.delete", format!("group:{id}"), json!({}))
            .await;
        Ok(())
    }

    /// `GET /Groups` and `POST /Groups/.search`.
    pub async fn list_groups(
        &self,
        admin: &Allowed<ScimProvision>,
        query: &ListQuery,
    ) -> ScimResult<ListResponse<Value>> {
        let realm_id = admin.realm().id;
        let view = Authz::new(self.i).view(realm_id, None).await?;
        let records: HashMap<Uuid, ScimGroupRecord> = self
            .i
            .store
            .scim_groups(realm_id)
            .await?
            .into_iter()
            .map(|r| (r.group_id, r))
            .collect();
        let base = self.base_url(admin.realm().name.as_str());
        let all: Vec<Value> = view
            .snapshot
            .groups
            .iter()
            .map(|g| finish(self.group_json(&base, &view, g, records.get(&g.id))).body)
            .collect();
        let mut page = query.run(all, ResourceSchema::group());
        for r in &mut page.resources {
            *r = project(r, ResourceSchema::group(), &query.attributes);
        }
        Ok(page)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs_are_group_names() {
        assert_eq!(slug("Sales Team (EMEA)"), "sales-team-emea");
        assert_eq!(slug("  ***  "), "group");
        assert_eq!(slug("Équipe Ü"), "équipe-ü");
        assert!(slug(&"x".repeat(300)).len() <= 48);
    }

    #[test]
    fn group_bodies_are_checked() {
        let ok = parse_group(json!({
            "schemas": [urn::GROUP],
            "displayName": "Sales",
            "members": [{"value": "0190e7a4-4c5b-7000-8000-000000000001", "type": "User"}]
        }))
        .unwrap();
        assert_eq!(ok.members.len(), 1);
        let err = |b: Value| match parse_group(b) {
            Err(ScimFailure::Scim(e)) => e.detail,
            other => panic!("{other:?}"),
        };
        assert!(err(json!({"schemas": [urn::GROUP]})).contains("displayName"));
        assert!(err(json!({"schemas": [urn::GROUP], "displayName": "x", "members": [{"value": "g", "type": "Group"}]})).contains("users"));
        assert!(
            err(json!({"schemas": [urn::GROUP], "displayName": "x", "colour": 1}))
                .contains("colour")
        );
    }
}
