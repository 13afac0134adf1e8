//! cedar-policy on the benchmark realm: one JSON line.
//!
//! ```sh
//! cargo run --release --example cedar -- --seconds 10
//! ```
//!
//! # Mapping (the same realm, in Cedar's terms)
//! - **Entities.** `User::"<uuid>"` (its stored attributes as attributes),
//!   `Group::"<name>"`, `Role::"<name>"`, `Kind::"<resource kind>"`, and
//!   `Res::"<kind>:<action>"` (parent: its kind) for every kind and action.
//! - **Memberships as parents.** A user's parents are its groups; a group's
//!   parent is its parent group (nesting); a role's parents are the roles it
//!   includes; a role granted to a user or group is a parent of it. Cedar
//!   computes the transitive closure once, when the store is built.
//! - **Grants as data.** Each `Res::"<kind>:<action>"` lists in attributes
//!   who holds a permission covering it: `all`, `team`, `own` (and
//!   `deny_all`, `deny_team`, `deny_own`) are the sets of roles, groups and
//!   users granted `<kind>:<action>:<scope>`, `<kind>:*:<scope>`,
//!   `*:<action>:<scope>` or `*:*:<scope>`. The request's resource is its
//!   `Res`; `principal in resource.all` is "holds it through any path".
//! - **Two grant policies**: permit when the principal is in the holders at
//!   the request's reach (`all`; `team` when the principal is `in` the
//!   resource's team group or owns the resource; `own` when it owns it);
//!   forbid likewise with the deny sets. Forbid wins, as in our engine.
//! - **The realm's policies** become one Cedar policy per statement: the
//!   attachment is the principal scope (`in Group`, `in Role`, `== User`,
//!   none for the realm), actions the action scope, resource kinds the
//!   resource scope (`resource in Kind::"…"`), and the JSON Logic condition is translated
//!   (comparisons, `and`/`or`/`!`, `in` over a literal list, `ip_in_range`;
//!   `subject.attributes.x` is the user's stored attribute `principal.x`).
//!   A statement outside that subset is left out and counted.
//! - **Requests**: principal the user, action `Action::"<name>"`, resource
//!   `Res::"<kind>:<action>"`; the context carries the resource's `owner` (a `User`)
//!   and `team` (a `Group`), `hour`, `day` and `ip`.
//! - **Not modelled:** validity windows. Cedar has no attributes on parent
//!   edges, so memberships, role grants and permission grants are
//!   materialised at the benchmark instant (`synthetic::NOW`): a link that
//!   does not hold then is left out. Decisions at that instant are the same;
//!   the store would have to be rebuilt as windows open and close.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::str::FromStr as _;

use cedar_policy::{
    Authorizer, Context, Decision, Entities, Entity, EntityId, EntityTypeName, EntityUid,
    PolicySet, Request, RestrictedExpression,
};
use portcullis_authz_bench::{
    Agreement, Options, Workload, build, main_with, measure, progress, report,
};
use portcullis_policy::model::{Attachment, Effect, Grantee, RealmSnapshot, Statement};
use portcullis_policy::synthetic::{self, NOW, SampleRequest};
use portcullis_policy::{Permission, Segment};
use serde_json::{Value, json};
use uuid::Uuid;

fn main() -> std::process::ExitCode {
    main_with(run)
}

fn run() -> Result<Value, String> {
    let opts = Options::parse(Options {
        seconds: 10.0,
        requests: 200_000,
        max_checks: u64::MAX,
    })?;
    progress("cedar: generating the realm");
    let w = Workload::generate(opts.requests);
    progress("cedar: building entities and policies");
    let mut skipped = 0usize;
    let ((entities, policies), built) = build(|| {
        let uids = Uids::new()?;
        let names = Names::of(&w.snapshot, &w.requests);
        let entities = entities(&w.snapshot, &uids, &names)?;
        let store = Entities::from_entities(entities, None).map_err(|e| e.to_string())?;
        let (text, left_out) = policies(&w.snapshot);
        skipped = left_out;
        let policies = PolicySet::from_str(&text).map_err(|e| format!("{e}\n{text}"))?;
        Ok(((store, policies), ()))
    })?;
    progress("cedar: building requests");
    let uids = Uids::new()?;
    let requests = w
        .requests
        .iter()
        .map(|r| request(r, &uids))
        .collect::<Result<Vec<_>, _>>()?;
    let authorizer = Authorizer::new();
    progress("cedar: measuring");
    let speed = measure(&opts, requests.len(), |i| {
        requests.get(i).is_some_and(|q| {
            authorizer.is_authorized(q, &policies, &entities).decision() == Decision::Allow
        })
    });
    drop(requests);
    let ours = w.our_decisions()?;
    let agreement = Agreement::of(&speed.decisions, &ours);
    Ok(report(
        "cedar",
        &built,
        &speed,
        &agreement,
        json!({
            "policies": policies.policies().count(),
            "statements_left_out": skipped,
            "entities": entities.iter().count(),
        }),
    ))
}

/// Entity type names.
struct Uids {
    user: EntityTypeName,
    group: EntityTypeName,
    role: EntityTypeName,
    kind: EntityTypeName,
    res: EntityTypeName,
    action: EntityTypeName,
}

impl Uids {
    fn new() -> Result<Self, String> {
        let name = |n: &str| EntityTypeName::from_str(n).map_err(|e| e.to_string());
        Ok(Self {
            user: name("User")?,
            group: name("Group")?,
            role: name("Role")?,
            kind: name("Kind")?,
            res: name("Res")?,
            action: name("Action")?,
        })
    }

    fn of(&self, ty: &EntityTypeName, id: &str) -> EntityUid {
        EntityUid::from_type_name_and_id(ty.clone(), EntityId::new(id))
    }

    fn user(&self, id: Uuid) -> EntityUid {
        self.of(&self.user, &id.to_string())
    }
}

/// Every resource kind and action the realm or the requests name.
struct Names {
    kinds: Vec<String>,
    actions: Vec<String>,
}

impl Names {
    fn of(s: &RealmSnapshot, requests: &[SampleRequest]) -> Self {
        let mut kinds = Vec::new();
        let mut actions: Vec<String> = synthetic::ACTIONS.iter().map(|a| (*a).to_owned()).collect();
        let permissions = s.roles.iter().flat_map(|r| r.permissions.iter());
        for p in permissions.chain(s.permission_grants.iter().map(|g| &g.permission)) {
            if let Segment::Name(k) = &p.resource {
                kinds.push(k.clone());
            }
            if let Segment::Name(a) = &p.action {
                actions.push(a.clone());
            }
        }
        for st in s.policies.iter().flat_map(|p| p.statements.iter()) {
            kinds.extend(st.resources.iter().cloned());
            actions.extend(st.actions.iter().cloned());
        }
        for r in requests {
            kinds.push(r.resource.kind.clone());
            actions.push(r.action.clone());
        }
        kinds.retain(|k| k != "*");
        actions.retain(|a| a != "*");
        kinds.sort();
        kinds.dedup();
        actions.sort();
        actions.dedup();
        Self { kinds, actions }
    }
}

/// Every entity of the realm, links materialised at [`NOW`].
fn entities(s: &RealmSnapshot, uids: &Uids, names: &Names) -> Result<Vec<Entity>, String> {
    let group_name: HashMap<Uuid, &str> =
        s.groups.iter().map(|g| (g.id, g.name.as_str())).collect();
    let role_name: HashMap<Uuid, &str> = s.roles.iter().map(|r| (r.id, r.name.as_str())).collect();
    let group = |id: &Uuid| group_name.get(id).map(|n| uids.of(&uids.group, n));
    let role = |id: &Uuid| role_name.get(id).map(|n| uids.of(&uids.role, n));
    let holder = |to: &Grantee| match to {
        Grantee::User(u) => Some(uids.user(*u)),
        Grantee::Group(g) => group(g),
    };

    let mut links: Vec<(Grantee, EntityUid)> = Vec::new();
    for m in &s.memberships {
        if m.validity.holds_at(NOW)
            && let Some(g) = group(&m.group)
        {
            links.push((Grantee::User(m.user), g));
        }
    }
    for g in &s.role_grants {
        if g.validity.holds_at(NOW)
            && let Some(r) = role(&g.role)
        {
            links.push((g.to, r));
        }
    }
    for g in &s.groups {
        if let Some(parent) = g.parent.as_ref().and_then(group) {
            links.push((Grantee::Group(g.id), parent));
        }
    }
    let mut user_parents: HashMap<Uuid, HashSet<EntityUid>> = HashMap::new();
    let mut group_parents: HashMap<Uuid, HashSet<EntityUid>> = HashMap::new();
    for (to, parent) in links {
        match to {
            Grantee::User(u) => user_parents.entry(u).or_default().insert(parent),
            Grantee::Group(g) => group_parents.entry(g).or_default().insert(parent),
        };
    }

    // Holders by permission text, then by the attribute of its scope.
    let mut holders: HashMap<(Segment, Segment), HashMap<String, HashSet<EntityUid>>> =
        HashMap::new();
    let mut hold = |p: &Permission, effect: Effect, who: EntityUid| {
        let deny = if effect == Effect::Deny { "deny_" } else { "" };
        holders
            .entry((p.resource.clone(), p.action.clone()))
            .or_default()
            .entry(format!("{deny}{}", p.scope))
            .or_default()
            .insert(who);
    };
    for r in &s.roles {
        for p in &r.permissions {
            hold(p, Effect::Allow, uids.of(&uids.role, &r.name));
        }
    }
    for g in &s.permission_grants {
        if g.validity.holds_at(NOW)
            && let Some(who) = holder(&g.to)
        {
            hold(&g.permission, g.effect, who);
        }
    }

    let mut out = Vec::new();
    let stored: HashMap<Uuid, &serde_json::Map<String, Value>> =
        s.subject_attributes.iter().map(|(u, a)| (*u, a)).collect();
    let mut users: HashSet<Uuid> = user_parents.keys().copied().collect();
    users.extend(stored.keys().copied());
    for u in users {
        let mut attrs = HashMap::new();
        if let Some(a) = stored.get(&u) {
            for (k, v) in a.iter() {
                if let Value::String(text) = v {
                    attrs.insert(k.clone(), RestrictedExpression::new_string(text.clone()));
                }
            }
        }
        let parents = user_parents.remove(&u).unwrap_or_default();
        out.push(Entity::new(uids.user(u), attrs, parents).map_err(|e| e.to_string())?);
    }
    for g in &s.groups {
        let parents = group_parents.remove(&g.id).unwrap_or_default();
        out.push(Entity::new_no_attrs(uids.of(&uids.group, &g.name), parents));
    }
    for r in &s.roles {
        let parents: HashSet<EntityUid> = r.includes.iter().filter_map(role).collect();
        out.push(Entity::new_no_attrs(uids.of(&uids.role, &r.name), parents));
    }
    for kind in &names.kinds {
        out.push(Entity::new_no_attrs(
            uids.of(&uids.kind, kind),
            HashSet::new(),
        ));
        for action in &names.actions {
            let mut attrs: HashMap<String, HashSet<EntityUid>> = HashMap::new();
            for resource in [Segment::Name(kind.clone()), Segment::Any] {
                for act in [Segment::Name(action.clone()), Segment::Any] {
                    for (attr, who) in holders.get(&(resource.clone(), act)).into_iter().flatten() {
                        attrs
                            .entry(attr.clone())
                            .or_default()
                            .extend(who.iter().cloned());
                    }
                }
            }
            let attrs = attrs
                .into_iter()
                .map(|(attr, who)| {
                    let set = who.into_iter().map(RestrictedExpression::new_entity_uid);
                    (attr, RestrictedExpression::new_set(set))
                })
                .collect();
            let uid = uids.of(&uids.res, &format!("{kind}:{action}"));
            let parents = HashSet::from([uids.of(&uids.kind, kind)]);
            out.push(Entity::new(uid, attrs, parents).map_err(|e| e.to_string())?);
        }
    }
    Ok(out)
}

/// The grant policies, then one policy per translatable statement; the
/// number of statements left out.
fn policies(s: &RealmSnapshot) -> (String, usize) {
    let reach = |prefix: &str| {
        format!(
            "(resource has {prefix}all && principal in resource.{prefix}all)\n  \
             || (resource has {prefix}team && ((context has team && principal in context.team) \
             || (context has owner && context.owner == principal)) && principal in resource.{prefix}team)\n  \
             || (resource has {prefix}own && context has owner && context.owner == principal \
             && principal in resource.{prefix}own)"
        )
    };
    let mut text = format!(
        "@id(\"grants\")\npermit(principal, action, resource) when {{\n  {}\n}};\n\
         @id(\"denied-grants\")\nforbid(principal, action, resource) when {{\n  {}\n}};\n",
        reach(""),
        reach("deny_")
    );
    let group_name: HashMap<Uuid, &str> =
        s.groups.iter().map(|g| (g.id, g.name.as_str())).collect();
    let role_name: HashMap<Uuid, &str> = s.roles.iter().map(|r| (r.id, r.name.as_str())).collect();
    let mut left_out = 0;
    for p in s.policies.iter().filter(|p| p.enabled) {
        let principal = match p.attached_to {
            Attachment::Realm => Some("principal".to_owned()),
            Attachment::User(u) => Some(format!("principal == User::\"{u}\"")),
            Attachment::Group(g) => group_name
                .get(&g)
                .map(|n| format!("principal in Group::{}", quote(n))),
            Attachment::Role(r) => role_name
                .get(&r)
                .map(|n| format!("principal in Role::{}", quote(n))),
        };
        for (n, st) in p.statements.iter().enumerate() {
            match principal
                .as_ref()
                .and_then(|pr| statement(&p.name, n, pr, st))
            {
                Some(policy) => text.push_str(&policy),
                None => left_out += 1,
            }
        }
    }
    (text, left_out)
}

fn quote(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_default()
}

/// One statement as a Cedar policy, if it is within the translated subset.
fn statement(policy: &str, n: usize, principal: &str, st: &Statement) -> Option<String> {
    let effect = match st.effect {
        Effect::Allow => "permit",
        Effect::Deny => "forbid",
    };
    let plain = |p: &str| !p.contains([':', '/', '*', '?']);
    let list = |items: &[String], ty: &str| -> String {
        let uids: Vec<String> = items
            .iter()
            .map(|a| format!("{ty}::{}", quote(a)))
            .collect();
        format!("[{}]", uids.join(", "))
    };
    let action = if st.actions.is_empty() || st.actions.iter().any(|a| a == "*") {
        "action".to_owned()
    } else if st.actions.iter().all(|a| plain(a)) {
        format!("action in {}", list(&st.actions, "Action"))
    } else {
        return None;
    };
    let resource = if st.resources.is_empty() || st.resources.iter().any(|r| r == "*") {
        "resource".to_owned()
    } else if st.resources.iter().all(|r| plain(r)) {
        match st.resources.as_slice() {
            [one] => format!("resource in Kind::{}", quote(one)),
            many => format!("resource in {}", list(many, "Kind")),
        }
    } else {
        return None;
    };
    let when = match &st.condition {
        Some(c) => format!(" when {{ {} }}", condition(c)?),
        None => String::new(),
    };
    Some(format!(
        "@id({})\n{effect}({principal}, {action}, {resource}){when};\n",
        quote(&format!("{policy}#{n}"))
    ))
}

/// A variable of a condition: its Cedar expression and, when it may be
/// absent, the test that it is present.
fn var(path: &str) -> Option<(String, Option<String>)> {
    let optional = |e: &str, has: &str| Some((e.to_owned(), Some(has.to_owned())));
    match path {
        "hour" | "context.hour" => Some(("context.hour".into(), None)),
        "day" | "context.day" => Some(("context.day".into(), None)),
        "ip" | "context.ip" => optional("context.ip", "context has ip"),
        "resource.owner" => optional("context.owner", "context has owner"),
        "resource.team" => optional("context.team", "context has team"),
        _ => {
            let key = path.strip_prefix("subject.attributes.")?;
            if !key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                return None;
            }
            optional(&format!("principal.{key}"), &format!("principal has {key}"))
        }
    }
}

/// A literal JSON value as Cedar.
fn literal(v: &Value) -> Option<String> {
    match v {
        Value::Bool(b) => Some(b.to_string()),
        Value::Number(n) => n.as_i64().map(|i| i.to_string()),
        Value::String(s) => Some(quote(s)),
        Value::Array(items) => {
            let items: Option<Vec<String>> = items.iter().map(literal).collect();
            Some(format!("[{}]", items?.join(", ")))
        }
        _ => None,
    }
}

/// Translates the JSON Logic subset the realm uses; `None` outside it.
fn condition(c: &Value) -> Option<String> {
    let obj = c.as_object()?;
    let (op, args) = obj.iter().next()?;
    let args: Vec<&Value> = match args {
        Value::Array(a) => a.iter().collect(),
        other => vec![other],
    };
    let var_of = |v: &Value| {
        v.as_object()
            .and_then(|o| o.get("var"))
            .and_then(Value::as_str)
            .and_then(var)
    };
    match op.as_str() {
        "and" | "or" => {
            let parts: Option<Vec<String>> = args.iter().map(|a| condition(a)).collect();
            let join = if op == "and" { " && " } else { " || " };
            Some(format!("({})", parts?.join(join)))
        }
        "!" => Some(format!("!({})", condition(args.first()?)?)),
        "==" | "!=" | "<" | "<=" | ">" | ">=" => {
            let (left, right) = (args.first()?, args.get(1)?);
            let (e, has) = var_of(left)?;
            if right.is_null() {
                let has = has?;
                return match op.as_str() {
                    "==" => Some(format!("!({has})")),
                    "!=" => Some(format!("({has})")),
                    _ => None,
                };
            }
            let value = literal(right)?;
            let test = format!("{e} {op} {value}");
            Some(match (has, op.as_str()) {
                (None, _) => format!("({test})"),
                (Some(has), "!=") => format!("(!({has}) || {test})"),
                (Some(has), _) => format!("({has} && {test})"),
            })
        }
        "in" => {
            let (e, has) = var_of(args.first()?)?;
            let list = literal(args.get(1)?).filter(|l| l.starts_with('['))?;
            let test = format!("{list}.contains({e})");
            Some(match has {
                None => format!("({test})"),
                Some(has) => format!("({has} && {test})"),
            })
        }
        "ip_in_range" => {
            let (e, has) = var_of(args.first()?)?;
            let ranges: Vec<&str> = match args.get(1)? {
                Value::String(s) => vec![s.as_str()],
                Value::Array(a) => a.iter().map(Value::as_str).collect::<Option<_>>()?,
                _ => return None,
            };
            let tests: Vec<String> = ranges
                .iter()
                .map(|r| format!("{e}.isInRange(ip({}))", quote(r)))
                .collect();
            let test = format!("({})", tests.join(" || "));
            Some(match has {
                None => test,
                Some(has) => format!("({has} && {test})"),
            })
        }
        _ => None,
    }
}

/// A request as Cedar's, built before timing (the caller's translation is
/// not the engine's work).
fn request(r: &SampleRequest, uids: &Uids) -> Result<Request, String> {
    let mut ctx: BTreeMap<String, RestrictedExpression> = BTreeMap::new();
    if let Some(owner) = &r.resource.owner {
        let owner = uids.of(&uids.user, &owner.to_ascii_lowercase());
        ctx.insert("owner".into(), RestrictedExpression::new_entity_uid(owner));
    }
    if let Some(team) = &r.resource.team {
        let team = uids.of(&uids.group, team);
        ctx.insert("team".into(), RestrictedExpression::new_entity_uid(team));
    }
    let hour = RestrictedExpression::new_long(i64::from(r.context.hour));
    ctx.insert("hour".into(), hour);
    let day = RestrictedExpression::new_long(i64::from(r.context.day));
    ctx.insert("day".into(), day);
    if let Some(ip) = r.context.ip {
        ctx.insert("ip".into(), RestrictedExpression::new_ip(ip.to_string()));
    }
    let context = Context::from_pairs(ctx).map_err(|e| e.to_string())?;
    Request::new(
        uids.user(r.subject),
        uids.of(&uids.action, &r.action),
        uids.of(&uids.res, &format!("{}:{}", r.resource.kind, r.action)),
        context,
        None,
    )
    .map_err(|e| e.to_string())
}
