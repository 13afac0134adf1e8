//! casbin-rs on the benchmark realm: one JSON line.
//!
//! ```sh
//! cargo run --release --example casbin -- --seconds 10 --max-checks 1000
//! ```
//!
//! # Mapping (RBAC with domains, the realm as the one domain)
//! - **`g` rules** (`g = _, _, _`): user → group (memberships), group →
//!   parent group (nesting), user or group → role (role grants), role →
//!   included role. casbin's role manager follows them transitively, so
//!   `g(user, X, realm)` is "reaches X through any path" (its default depth
//!   limit of 10 links is enough for this realm).
//! - **`p` rules** (`p = sub, dom, obj, act, scope, cond, c1, c2, eft`): one
//!   per role permission (`sub` the role), per permission granted to a user
//!   or group (`sub` the user id or group name, `eft` allow or deny), and per
//!   policy statement and resource (`sub` the user, group or role it is
//!   attached to, `*` for the realm; scope `all`).
//! - **Scopes** in the matcher: `all` always; `team` when the subject owns
//!   the resource or `g(subject, team, realm)` (the team is one of its
//!   groups, ancestors included); `own` when it owns it.
//! - **Deny wins**: `some(where (p.eft == allow)) && !some(where (p.eft ==
//!   deny))`, as in our engine.
//! - **Conditions**: casbin has no JSON Logic; the matcher knows the four
//!   condition shapes the generator writes (working hours on weekdays, a
//!   department equal to a value, an address in up to two CIDR blocks with
//!   `ipMatch`, an owner present), named by `cond` with their values in
//!   `c1`/`c2`. Any other condition leaves its statement out (counted).
//! - **Not modelled:** validity windows. casbin's links and rules have no
//!   time, so they are materialised at the benchmark instant
//!   (`synthetic::NOW`): a grant or membership that does not hold then is
//!   left out. Decisions at that instant are the same.
//! - **Efficiency**: the matcher tests the cheap string fields first and
//!   calls `g()` last; casbin still evaluates the matcher once per `p` rule
//!   for every check, so it is time-boxed (`--max-checks`, `--seconds`).

use std::collections::HashMap;

use casbin::{CoreApi, DefaultModel, Enforcer, MgmtApi, NullAdapter};
use portcullis_authz_bench::{
    Agreement, Options, Workload, build, main_with, measure, progress, report,
};
use portcullis_policy::model::{Attachment, Effect, Grantee, RealmSnapshot, Statement};
use portcullis_policy::synthetic::NOW;
use portcullis_policy::{Permission, Segment};
use serde_json::{Value, json};
use uuid::Uuid;

/// The model: RBAC with domains, scopes, deny-wins and the known conditions.
const MODEL: &str = r#"
[request_definition]
r = sub, dom, obj, act, owner, team, hour, day, dept, ip

[policy_definition]
p = sub, dom, obj, act, scope, cond, c1, c2, eft

[role_definition]
g = _, _, _

[policy_effect]
e = some(where (p.eft == allow)) && !some(where (p.eft == deny))

[matchers]
m = r.dom == p.dom && (p.obj == "*" || p.obj == r.obj) && (p.act == "*" || p.act == r.act) && (p.sub == "*" || g(r.sub, p.sub, r.dom)) && (p.scope == "all" || r.owner == r.sub || (p.scope == "team" && r.team != "" && g(r.sub, r.team, r.dom))) && (p.cond == "" || (p.cond == "hours" && r.hour >= 9 && r.hour <= 17 && r.day >= 1 && r.day <= 5) || (p.cond == "dept" && r.dept == p.c1) || (p.cond == "ip" && r.ip != "" && (ipMatch(r.ip, p.c1) || ipMatch(r.ip, p.c2))) || (p.cond == "owner" && r.owner != ""))
"#;

const DOMAIN: &str = "realm";

fn main() -> std::process::ExitCode {
    main_with(run)
}

fn run() -> Result<Value, String> {
    let opts = Options::parse(Options {
        seconds: 10.0,
        requests: 200_000,
        max_checks: 1000,
    })?;
    progress("casbin: generating the realm");
    let w = Workload::generate(opts.requests);
    progress("casbin: loading rules");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .map_err(|e| e.to_string())?;
    let mut left_out = 0;
    let mut counts = (0usize, 0usize);
    let (enforcer, built) = build(|| {
        let (p, g, skipped) = rules(&w.snapshot);
        left_out = skipped;
        counts = (p.len(), g.len());
        let enforcer = runtime.block_on(async {
            let model = DefaultModel::from_str(MODEL).await?;
            let mut e = Enforcer::new(model, NullAdapter).await?;
            e.enable_auto_save(false);
            e.enable_auto_build_role_links(false);
            e.add_policies(p).await?;
            e.add_grouping_policies(g).await?;
            e.build_role_links()?;
            casbin::Result::Ok(e)
        });
        Ok((enforcer.map_err(|e| e.to_string())?, ()))
    })?;
    progress("casbin: measuring");
    let mut errors = 0usize;
    let mut first_error = None;
    let speed = measure(&opts, w.requests.len(), |i| {
        let Some(r) = w.requests.get(i) else {
            return false;
        };
        let args = (
            r.subject.to_string(),
            DOMAIN,
            r.resource.kind.as_str(),
            r.action.as_str(),
            r.resource.owner.as_deref().unwrap_or(""),
            r.resource.team.as_deref().unwrap_or(""),
            i64::from(r.context.hour),
            i64::from(r.context.day),
            r.attributes
                .get("department")
                .and_then(Value::as_str)
                .unwrap_or(""),
            r.context.ip.map(|ip| ip.to_string()).unwrap_or_default(),
        );
        match enforcer.enforce(args) {
            Ok(allowed) => allowed,
            Err(e) => {
                errors += 1;
                first_error.get_or_insert_with(|| e.to_string());
                false
            }
        }
    });
    let ours = w.our_decisions()?;
    let agreement = Agreement::of(&speed.decisions, &ours);
    Ok(report(
        "casbin",
        &built,
        &speed,
        &agreement,
        json!({
            "p_rules": counts.0,
            "g_rules": counts.1,
            "statements_left_out": left_out,
            "errors": errors,
            "first_error": first_error,
        }),
    ))
}

fn segment(s: &Segment) -> String {
    s.to_string()
}

/// `p` rules, `g` rules, and the number of statements left out.
fn rules(s: &RealmSnapshot) -> (Vec<Vec<String>>, Vec<Vec<String>>, usize) {
    let group_name: HashMap<Uuid, &str> =
        s.groups.iter().map(|g| (g.id, g.name.as_str())).collect();
    let role_name: HashMap<Uuid, &str> = s.roles.iter().map(|r| (r.id, r.name.as_str())).collect();
    let grantee = |to: &Grantee| match to {
        Grantee::User(u) => Some(u.to_string()),
        Grantee::Group(g) => group_name.get(g).map(|n| (*n).to_owned()),
    };
    let link = |a: String, b: &str| vec![a, b.to_owned(), DOMAIN.to_owned()];
    let rule = |sub: &str, p: &Permission, effect: Effect| {
        let eft = match effect {
            Effect::Allow => "allow",
            Effect::Deny => "deny",
        };
        [
            sub,
            DOMAIN,
            &segment(&p.resource),
            &segment(&p.action),
            &p.scope.to_string(),
            "",
            "",
            "",
            eft,
        ]
        .map(str::to_owned)
        .to_vec()
    };

    let mut g = Vec::new();
    for m in &s.memberships {
        if m.validity.holds_at(NOW)
            && let Some(group) = group_name.get(&m.group)
        {
            g.push(link(m.user.to_string(), group));
        }
    }
    for group in &s.groups {
        if let Some(parent) = group.parent.and_then(|p| group_name.get(&p)) {
            g.push(link(group.name.clone(), parent));
        }
    }
    for grant in &s.role_grants {
        if grant.validity.holds_at(NOW)
            && let (Some(to), Some(role)) = (grantee(&grant.to), role_name.get(&grant.role))
        {
            g.push(link(to, role));
        }
    }
    for role in &s.roles {
        for included in role.includes.iter().filter_map(|r| role_name.get(r)) {
            g.push(link(role.name.clone(), included));
        }
    }
    g.sort();
    g.dedup();

    let mut p = Vec::new();
    for role in &s.roles {
        for permission in &role.permissions {
            p.push(rule(&role.name, permission, Effect::Allow));
        }
    }
    for grant in &s.permission_grants {
        if grant.validity.holds_at(NOW)
            && let Some(to) = grantee(&grant.to)
        {
            p.push(rule(&to, &grant.permission, grant.effect));
        }
    }
    let mut left_out = 0;
    for policy in s.policies.iter().filter(|p| p.enabled) {
        let sub = match policy.attached_to {
            Attachment::Realm => Some("*".to_owned()),
            Attachment::User(u) => Some(u.to_string()),
            Attachment::Group(id) => group_name.get(&id).map(|n| (*n).to_owned()),
            Attachment::Role(id) => role_name.get(&id).map(|n| (*n).to_owned()),
        };
        for st in &policy.statements {
            match sub.as_deref().and_then(|sub| statement(sub, st)) {
                Some(rules) => p.extend(rules),
                None => left_out += 1,
            }
        }
    }
    p.sort();
    p.dedup();
    (p, g, left_out)
}

/// A statement's rules (one per action and resource), if casbin can say it.
fn statement(sub: &str, st: &Statement) -> Option<Vec<Vec<String>>> {
    let plain = |p: &str| p == "*" || !p.contains([':', '/', '*', '?']);
    let all = vec!["*".to_owned()];
    let actions = if st.actions.is_empty() {
        &all
    } else {
        &st.actions
    };
    let resources = if st.resources.is_empty() {
        &all
    } else {
        &st.resources
    };
    if !actions.iter().chain(resources.iter()).all(|p| plain(p)) {
        return None;
    }
    let (cond, c1, c2) = match &st.condition {
        None => (String::new(), String::new(), String::new()),
        Some(c) => condition(c)?,
    };
    let eft = match st.effect {
        Effect::Allow => "allow",
        Effect::Deny => "deny",
    };
    let mut out = Vec::new();
    for obj in resources {
        for act in actions {
            out.push(vec![
                sub.to_owned(),
                DOMAIN.to_owned(),
                obj.clone(),
                act.clone(),
                "all".to_owned(),
                cond.clone(),
                c1.clone(),
                c2.clone(),
                eft.to_owned(),
            ]);
        }
    }
    Some(out)
}

/// The condition shapes the matcher knows: name and two values.
fn condition(c: &Value) -> Option<(String, String, String)> {
    let hours = json!({"and": [
        {">=": [{"var": "hour"}, 9]},
        {"<=": [{"var": "hour"}, 17]},
        {"in": [{"var": "day"}, [1, 2, 3, 4, 5]]}]});
    if *c == hours {
        return Some(("hours".into(), String::new(), String::new()));
    }
    if *c == json!({"!=": [{"var": "resource.owner"}, null]}) {
        return Some(("owner".into(), String::new(), String::new()));
    }
    let (op, args) = c.as_object()?.iter().next()?;
    let var = args.get(0)?.get("var")?.as_str()?;
    match (op.as_str(), var, args.get(1)?) {
        ("==", "subject.attributes.department", Value::String(v)) => {
            Some(("dept".into(), v.clone(), String::new()))
        }
        ("ip_in_range", "ip" | "context.ip", ranges) => {
            let ranges: Vec<&str> = match ranges {
                Value::String(s) => vec![s.as_str()],
                Value::Array(a) => a.iter().map(Value::as_str).collect::<Option<_>>()?,
                _ => return None,
            };
            match ranges.as_slice() {
                [one] => Some(("ip".into(), (*one).to_owned(), (*one).to_owned())),
                [a, b] => Some(("ip".into(), (*a).to_owned(), (*b).to_owned())),
                _ => None,
            }
        }
        _ => None,
    }
}
