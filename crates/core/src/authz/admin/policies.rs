//! Policies, in native fields or as IAM documents.

use super::*;

impl Authz<'_> {
    // ---- policies ----

    /// Every policy, highest priority first.
    pub async fn list_policies(&self, admin: &Allowed<PoliciesRead>) -> Result<Read<Vec<Policy>>> {
        let caller = &admin.caller();
        let view = self.view(caller.realm.id, None).await?;
        let mut items = view.snapshot.policies.clone();
        items.sort_by(|a, b| b.priority.cmp(&a.priority).then(a.name.cmp(&b.name)));
        Ok(Read { view, value: items })
    }

    /// One policy by id or name.
    pub async fn get_policy(
        &self,
        admin: &Allowed<PoliciesRead>,
        policy: &str,
    ) -> Result<Read<Policy>> {
        let caller = &admin.caller();
        let view = self.view(caller.realm.id, None).await?;
        let p = find_policy(&view, policy)?.clone();
        Ok(Read { view, value: p })
    }

    /// Creates a policy from a native or IAM-style body.
    pub async fn create_policy(
        &self,
        admin: &Allowed<PoliciesManage>,
        body: PolicyInput,
    ) -> Result<Read<Policy>> {
        let caller = &admin.caller();
        let id = new_id();
        let revision = self
            .apply(caller, "policy.create", |view| {
                let policy = parse_policy(view, id, &body, None)?;
                if view.snapshot.policies.iter().any(|p| p.name == policy.name) {
                    return Err(Error::Conflict(format!(
                        "a policy named '{}' exists",
                        policy.name
                    )));
                }
                Ok(Built {
                    target: format!("policy:{id}"),
                    before: None,
                    after: to_json(&policy),
                    change: AuthzChange::CreatePolicy(policy),
                    missing: "policy",
                })
            })
            .await?;
        let view = self.view(caller.realm.id, Some(revision)).await?;
        let p = find_policy(&view, &id.to_string())?.clone();
        Ok(Read { view, value: p })
    }

    /// Changes a policy: fields given replace the stored ones.
    pub async fn update_policy(
        &self,
        admin: &Allowed<PoliciesManage>,
        policy: &str,
        body: PolicyInput,
    ) -> Result<Read<Policy>> {
        let caller = &admin.caller();
        let mut policy_id = None;
        let revision = self
            .apply(caller, "policy.update", |view| {
                let old = find_policy(view, policy)?;
                policy_id = Some(old.id);
                let new = parse_policy(view, old.id, &body, Some(old))?;
                if new.name != old.name && view.snapshot.policies.iter().any(|p| p.name == new.name)
                {
                    return Err(Error::Conflict(format!(
                        "a policy named '{}' exists",
                        new.name
                    )));
                }
                Ok(Built {
                    target: format!("policy:{}", old.id),
                    before: to_json(old),
                    after: to_json(&new),
                    change: AuthzChange::UpdatePolicy(new),
                    missing: "policy",
                })
            })
            .await?;
        let id = policy_id.ok_or(Error::Internal("authz-policy"))?;
        let view = self.view(caller.realm.id, Some(revision)).await?;
        let p = find_policy(&view, &id.to_string())?.clone();
        Ok(Read { view, value: p })
    }

    /// Deletes a policy.
    pub async fn delete_policy(
        &self,
        admin: &Allowed<PoliciesManage>,
        policy: &str,
    ) -> Result<i64> {
        let caller = &admin.caller();
        self.apply(caller, "policy.delete", |view| {
            let old = find_policy(view, policy)?;
            Ok(Built {
                target: format!("policy:{}", old.id),
                before: to_json(old),
                after: None,
                change: AuthzChange::DeletePolicy(old.id),
                missing: "policy",
            })
        })
        .await
    }
}

/// Fields a policy body may have.
const POLICY_FIELDS: &[&str] = &[
    "name",
    "description",
    "priority",
    "enabled",
    "attached_to",
    "effect",
    "actions",
    "resources",
    "resource",
    "condition",
    "document",
];

fn find_policy<'v>(view: &'v View, policy: &str) -> Result<&'v Policy> {
    let by_id = Uuid::parse_str(policy).ok();
    view.snapshot
        .policies
        .iter()
        .find(|p| Some(p.id) == by_id || p.name == policy)
        .ok_or(Error::NotFound("policy"))
}

fn syntax_err(prefix: &str, e: syntax::SyntaxError) -> FieldError {
    let field = if prefix.is_empty() {
        e.field
    } else if e.field.is_empty() {
        prefix.to_owned()
    } else {
        format!("{prefix}.{}", e.field)
    };
    FieldError::new(field, e.message)
}

/// Parses a policy body (native fields or an IAM `document`), over `old`'s
/// values for a PATCH.
fn parse_policy(view: &View, id: Uuid, body: &Value, old: Option<&Policy>) -> Result<Policy> {
    let Some(obj) = body.as_object() else {
        return Err(Error::input("", "a policy is a JSON object"));
    };
    let mut errors: Vec<FieldError> = obj
        .keys()
        .filter(|k| !POLICY_FIELDS.contains(&k.as_str()))
        .map(|k| FieldError::new(k.clone(), "is not a known field"))
        .collect();
    let name = match (obj.get("name"), old) {
        (Some(Value::String(n)), _) => input::policy_name(n).map_err(|e| errors.push(e)).ok(),
        (Some(_), _) => {
            errors.push(FieldError::new("name", "must be a string"));
            None
        }
        (None, Some(o)) => Some(o.name.clone()),
        (None, None) => {
            errors.push(FieldError::new("name", "is required"));
            None
        }
    };
    let description = match obj.get("description") {
        Some(Value::String(d)) => input::description("description", Some(d))
            .map_err(|e| errors.push(e))
            .ok()
            .flatten(),
        Some(Value::Null) => None,
        Some(_) => {
            errors.push(FieldError::new("description", "must be a string"));
            None
        }
        None => old.and_then(|o| o.description.clone()),
    };
    let priority = match obj.get("priority") {
        Some(v) => match v.as_i64().and_then(|p| i32::try_from(p).ok()) {
            Some(p) if (-1_000_000..=1_000_000).contains(&p) => p,
            _ => {
                errors.push(FieldError::new(
                    "priority",
                    "must be an integer between -1000000 and 1000000",
                ));
                0
            }
        },
        None => old.map_or(0, |o| o.priority),
    };
    let enabled = match obj.get("enabled") {
        Some(Value::Bool(b)) => *b,
        Some(_) => {
            errors.push(FieldError::new("enabled", "must be true or false"));
            true
        }
        None => old.is_none_or(|o| o.enabled),
    };
    let attached_to = match obj.get("attached_to") {
        None => old.map_or(Attachment::Realm, |o| o.attached_to),
        Some(v) => attachment(view, v).unwrap_or_else(|e| {
            errors.push(e);
            Attachment::Realm
        }),
    };
    let native_keys = ["effect", "actions", "resources", "resource", "condition"];
    let has_native = native_keys.iter().any(|k| obj.contains_key(*k));
    let statements = match (obj.get("document"), has_native) {
        (Some(_), true) => {
            errors.push(FieldError::new(
                "document",
                "give either an IAM-style document or effect/actions/resources/condition, not both",
            ));
            Vec::new()
        }
        (Some(doc), false) => match syntax::iam_document(doc) {
            Ok(s) => s,
            Err(e) => {
                errors.push(syntax_err("document", e));
                Vec::new()
            }
        },
        (None, true) => {
            // Native fields, over the stored single statement for a PATCH.
            let mut stmt = Map::new();
            if let Some(o) = old
                && let [s] = o.statements.as_slice()
            {
                stmt.insert("effect".into(), json!(s.effect.as_str()));
                stmt.insert("actions".into(), json!(s.actions));
                stmt.insert("resources".into(), json!(s.resources));
                if let Some(c) = &s.condition {
                    stmt.insert("condition".into(), c.clone());
                }
            }
            for k in native_keys {
                if let Some(v) = obj.get(k) {
                    if k == "resource" {
                        stmt.remove("resources");
                    }
                    if k == "resources" {
                        stmt.remove("resource");
                    }
                    stmt.insert(k.to_owned(), v.clone());
                }
            }
            match syntax::native_statement(&Value::Object(stmt)) {
                Ok(s) => vec![s],
                Err(e) => {
                    errors.push(syntax_err("", e));
                    Vec::new()
                }
            }
        }
        (None, false) => match old {
            Some(o) => o.statements.clone(),
            None => {
                errors.push(FieldError::new(
                    "effect",
                    "is required (or give an IAM-style 'document')",
                ));
                Vec::new()
            }
        },
    };
    finish(errors)?;
    Ok(Policy {
        id,
        name: name.unwrap_or_default(),
        description,
        priority,
        attached_to,
        statements,
        enabled,
    })
}

/// `{"kind": "realm" | "user" | "group" | "role", "id": ...}` (group and role
/// by id or name).
fn attachment(view: &View, v: &Value) -> std::result::Result<Attachment, FieldError> {
    let bad = || {
        FieldError::new(
            "attached_to",
            "must be {\"kind\": \"realm\"|\"user\"|\"group\"|\"role\", \"id\": ...}",
        )
    };
    let obj = v.as_object().ok_or_else(bad)?;
    if obj.keys().any(|k| k != "kind" && k != "id") {
        return Err(bad());
    }
    let kind = obj.get("kind").and_then(Value::as_str).ok_or_else(bad)?;
    let id = obj.get("id").and_then(Value::as_str);
    match (kind, id) {
        ("realm", None) => Ok(Attachment::Realm),
        ("user", Some(u)) => Uuid::parse_str(u)
            .map(Attachment::User)
            .map_err(|_| FieldError::new("attached_to.id", "must be a user id")),
        ("group", Some(g)) => {
            input::group_in_body(view, "attached_to.id", g).map(Attachment::Group)
        }
        ("role", Some(r)) => input::role_in_body(view, "attached_to.id", r).map(Attachment::Role),
        _ => Err(bad()),
    }
}
