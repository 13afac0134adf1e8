//! Seeds the benchmark realm into a stopped server's SQLite database, and
//! writes the HTTP request bodies of the same requests. One JSON line.
//!
//! ```sh
//! cargo run --release --example seed -- --db bench.db --admin-email admin@bench.test \
//!     --bodies bodies.jsonl --requests 200000
//! ```
//!
//! With `--allowed-bodies FILE`, also the bodies of only those requests our
//! engine allows (judged as the server will: stored attributes, the UTC
//! hour and weekday now), for a run without denied checks.
//!
//! The realm is the admin's. Rows are inserted in one transaction with
//! their columns named (the table's other columns must be nullable or have
//! a default; `PRAGMA table_info` says which exist), then the realm's
//! `authz_revision` is bumped so a running server would reload.
//!
//! Two adjustments keep the server's decisions equal to our engine's on the
//! generated snapshot at `synthetic::NOW`:
//! - **Time.** The server judges validity at its clock's now, so every
//!   window is shifted by (now − `NOW`): a window that holds at `NOW` holds
//!   for the next day or more, one that expired a day before still has.
//! - **Duplicates.** The generator may give a user the same group or role
//!   twice (with different windows); the schema holds one row per pair. The
//!   row kept is one whose window holds at `NOW` if any does (for the same
//!   permission granted twice with different effects, the deny), which
//!   keeps every decision at `NOW`.

use std::collections::HashMap;
use std::io::Write as _;
use std::time::{SystemTime, UNIX_EPOCH};

use portcullis_authz_bench::{SEED, main_with, progress};
use portcullis_policy::model::{
    Attachment, Effect, Grantee, Micros, PermissionGrant, RealmSnapshot, Validity,
};
use portcullis_policy::synthetic::{self, NOW, SampleRequest, Shape};
use portcullis_policy::{CheckRequest, CompiledRealm, Context};
use rusqlite::types::Value as Sql;
use rusqlite::{Connection, OptionalExtension as _, Transaction};
use serde_json::{Map, Value, json};
use uuid::Uuid;

fn main() -> std::process::ExitCode {
    main_with(run)
}

struct Args {
    db: String,
    admin_email: String,
    bodies: String,
    allowed_bodies: Option<String>,
    requests: usize,
}

fn args() -> Result<Args, String> {
    let mut db = None;
    let mut admin_email = None;
    let mut bodies = None;
    let mut allowed_bodies = None;
    let mut requests = 200_000usize;
    let argv: Vec<String> = std::env::args().skip(1).collect();
    let mut it = argv.iter();
    while let Some(flag) = it.next() {
        let value = it.next().ok_or_else(|| format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--db" => db = Some(value.clone()),
            "--admin-email" => admin_email = Some(value.clone()),
            "--bodies" => bodies = Some(value.clone()),
            "--allowed-bodies" => allowed_bodies = Some(value.clone()),
            "--requests" => requests = value.parse().map_err(|_| "bad --requests")?,
            other => return Err(format!("unknown option {other}")),
        }
    }
    Ok(Args {
        db: db.ok_or("--db is required")?,
        admin_email: admin_email.ok_or("--admin-email is required")?,
        bodies: bodies.ok_or("--bodies is required")?,
        allowed_bodies,
        requests,
    })
}

fn run() -> Result<Value, String> {
    let args = args()?;
    let started = std::time::Instant::now();
    let shape = Shape::benchmark();
    let snapshot = synthetic::realm(&shape, SEED);
    let requests = synthetic::requests(&shape, &snapshot, args.requests, SEED);
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_err(|e| e.to_string())?
        .as_micros();
    let now = i64::try_from(now).map_err(|e| e.to_string())?;
    let shift = now - NOW;

    progress("seed: writing the realm into SQLite");
    let mut conn = Connection::open(&args.db).map_err(sql)?;
    conn.pragma_update(None, "journal_mode", "WAL")
        .map_err(sql)?;
    conn.pragma_update(None, "synchronous", "NORMAL")
        .map_err(sql)?;
    let tx = conn.transaction().map_err(sql)?;
    let realm: Vec<u8> = tx
        .query_row(
            "SELECT realm_id FROM users WHERE email = ?1",
            [&args.admin_email],
            |row| row.get(0),
        )
        .optional()
        .map_err(sql)?
        .ok_or_else(|| format!("no user {} in {}", args.admin_email, args.db))?;
    let realm = Uuid::from_slice(&realm).map_err(|e| e.to_string())?;
    let mut seeder = Seeder {
        tx: &tx,
        realm,
        now,
        shift,
        counts: Map::new(),
    };
    seeder.seed(&snapshot)?;
    let counts = seeder.counts;
    tx.commit().map_err(sql)?;

    progress("seed: writing the request bodies");
    write_bodies(&args.bodies, requests.iter())?;
    let mut allowed = Value::Null;
    if let Some(path) = &args.allowed_bodies {
        let realm = CompiledRealm::compile(&snapshot).map_err(|e| e.to_string())?;
        let secs = now / 1_000_000;
        let hour = u8::try_from(secs % 86_400 / 3600).unwrap_or(0);
        // 1970-01-01 was a Thursday (ISO 4).
        let day = u8::try_from((secs / 86_400 + 3) % 7 + 1).unwrap_or(1);
        let kept: Vec<&SampleRequest> = requests
            .iter()
            .filter(|r| {
                let context = Context {
                    hour,
                    day,
                    ..r.context.clone()
                };
                realm
                    .check(&CheckRequest {
                        subject: r.subject,
                        subject_attributes: None,
                        action: &r.action,
                        resource: &r.resource,
                        context: &context,
                        now: NOW,
                        explain: false,
                    })
                    .allowed
            })
            .collect();
        allowed = json!(kept.len());
        write_bodies(path, kept.into_iter())?;
    }
    Ok(json!({
        "allowed_bodies": allowed,
        "realm": realm.to_string(),
        "shift_us": shift,
        "rows": counts,
        "bodies": requests.len(),
        "seconds": started.elapsed().as_secs_f64(),
    }))
}

fn sql(e: rusqlite::Error) -> String {
    format!("SQLite: {e}")
}

fn blob(id: Uuid) -> Sql {
    Sql::Blob(id.as_bytes().to_vec())
}

fn opt_blob(id: Option<Uuid>) -> Sql {
    id.map_or(Sql::Null, blob)
}

fn text(s: &str) -> Sql {
    Sql::Text(s.to_owned())
}

fn opt_text(s: Option<&str>) -> Sql {
    s.map_or(Sql::Null, text)
}

/// A deterministic row id: the kind of row and its index.
fn row_id(kind: u128, i: usize) -> Uuid {
    Uuid::from_u128((0x0190_0000_0000_7000_8000_00f0 | kind) << 96 | i as u128)
}

/// Of two rows for the same key, the one to keep (see the module docs).
fn better(old: &Validity, new: &Validity) -> bool {
    !old.holds_at(NOW) && new.holds_at(NOW)
}

/// One item per key, in the order keys first appear: a later item with the
/// same key replaces the kept one when `replace(kept, later)`. Also returns
/// how many items were duplicates.
fn keep_one<K: std::hash::Hash + Eq + Clone, T>(
    items: impl IntoIterator<Item = (K, T)>,
    replace: impl Fn(&T, &T) -> bool,
) -> (Vec<(K, T)>, u64) {
    let mut index: HashMap<K, usize> = HashMap::new();
    let mut kept: Vec<(K, T)> = Vec::new();
    let mut duplicates = 0;
    for (key, item) in items {
        match index.get(&key) {
            Some(&i) => {
                duplicates += 1;
                if let Some(slot) = kept.get_mut(i)
                    && replace(&slot.1, &item)
                {
                    slot.1 = item;
                }
            }
            None => {
                index.insert(key.clone(), kept.len());
                kept.push((key, item));
            }
        }
    }
    (kept, duplicates)
}

struct Seeder<'a> {
    tx: &'a Transaction<'a>,
    realm: Uuid,
    now: Micros,
    shift: Micros,
    counts: Map<String, Value>,
}

impl Seeder<'_> {
    fn bound(&self, t: Option<Micros>) -> Sql {
        t.map_or(Sql::Null, |t| Sql::Integer(t + self.shift))
    }

    /// A prepared insert of the named columns that exist in `table`;
    /// fails if the table has a required column not named.
    fn insert(&self, table: &str, wanted: &[&str]) -> Result<(String, Vec<bool>), String> {
        let mut stmt = self
            .tx
            .prepare(&format!("PRAGMA table_info({table})"))
            .map_err(sql)?;
        let info: Vec<(String, bool, bool)> = stmt
            .query_map([], |row| {
                let name: String = row.get(1)?;
                let not_null: bool = row.get(3)?;
                let default: Option<String> = row.get(4)?;
                let pk: i64 = row.get(5)?;
                Ok((name, not_null || pk > 0, default.is_some()))
            })
            .map_err(sql)?
            .collect::<Result<_, _>>()
            .map_err(sql)?;
        if info.is_empty() {
            return Err(format!("no table {table}"));
        }
        for (name, required, has_default) in &info {
            if *required && !has_default && !wanted.contains(&name.as_str()) {
                return Err(format!(
                    "{table}.{name} is required and the seeding does not know it"
                ));
            }
        }
        let present: Vec<bool> = wanted
            .iter()
            .map(|w| info.iter().any(|(n, _, _)| n == w))
            .collect();
        let names: Vec<&str> = wanted
            .iter()
            .zip(&present)
            .filter(|(_, p)| **p)
            .map(|(w, _)| *w)
            .collect();
        let marks = vec!["?"; names.len()].join(", ");
        Ok((
            format!(
                "INSERT INTO {table} ({}) VALUES ({marks})",
                names.join(", ")
            ),
            present,
        ))
    }

    /// Inserts rows (values in the order of `wanted`, absent columns
    /// skipped) and records the count.
    fn rows(
        &mut self,
        table: &str,
        wanted: &[&str],
        rows: impl IntoIterator<Item = Vec<Sql>>,
    ) -> Result<(), String> {
        let (statement, present) = self.insert(table, wanted)?;
        let mut stmt = self.tx.prepare(&statement).map_err(sql)?;
        let mut n = 0u64;
        for row in rows {
            let values = row
                .into_iter()
                .zip(&present)
                .filter(|(_, p)| **p)
                .map(|(v, _)| v);
            stmt.execute(rusqlite::params_from_iter(values))
                .map_err(|e| format!("{table}: {e}"))?;
            n += 1;
        }
        self.counts.insert(table.to_owned(), json!(n));
        Ok(())
    }

    fn seed(&mut self, s: &RealmSnapshot) -> Result<(), String> {
        let (realm, now) = (blob(self.realm), Sql::Integer(self.now));
        let attributes: HashMap<Uuid, &Map<String, Value>> =
            s.subject_attributes.iter().map(|(u, a)| (*u, a)).collect();
        let users = (0..Shape::benchmark().users).map(|i| {
            let id = synthetic::user_id(i);
            let email = format!("user-{i}@bench.test");
            let attrs = attributes.get(&id).map_or_else(
                || "{}".to_owned(),
                |a| Value::Object((*a).clone()).to_string(),
            );
            vec![
                blob(id),
                realm.clone(),
                text(&email),
                text(&email),
                Sql::Null,
                Sql::Null,
                Sql::Integer(1),
                Sql::Integer(0),
                Sql::Text(attrs),
                now.clone(),
                now.clone(),
            ]
        });
        self.rows(
            "users",
            &[
                "id",
                "realm_id",
                "email",
                "email_canonical",
                "name",
                "password_hash",
                "active",
                "is_admin",
                "attributes",
                "created_at",
                "updated_at",
            ],
            users,
        )?;

        let roles = s.roles.iter().map(|r| {
            vec![
                blob(r.id),
                realm.clone(),
                text(&r.name),
                opt_text(r.description.as_deref()),
                Sql::Integer(i64::from(r.builtin)),
                now.clone(),
                now.clone(),
            ]
        });
        let role_columns = [
            "id",
            "realm_id",
            "name",
            "description",
            "builtin",
            "created_at",
            "updated_at",
        ];
        self.rows("roles", &role_columns, roles)?;
        let mut permissions: Vec<(Uuid, String)> = s
            .roles
            .iter()
            .flat_map(|r| r.permissions.iter().map(|p| (r.id, p.to_string())))
            .collect();
        permissions.sort();
        permissions.dedup();
        let permissions = permissions
            .into_iter()
            .map(|(role, p)| vec![realm.clone(), blob(role), Sql::Text(p)]);
        self.rows(
            "role_permissions",
            &["realm_id", "role_id", "permission"],
            permissions,
        )?;
        let includes = s.roles.iter().flat_map(|r| {
            let realm = realm.clone();
            r.includes
                .iter()
                .map(move |i| vec![realm.clone(), blob(r.id), blob(*i)])
        });
        self.rows(
            "role_includes",
            &["realm_id", "role_id", "included_role_id"],
            includes,
        )?;

        // Parents before children: the generator picks parents among
        // earlier groups.
        let groups = s.groups.iter().map(|g| {
            vec![
                blob(g.id),
                realm.clone(),
                text(&g.name),
                opt_text(g.description.as_deref()),
                opt_blob(g.parent),
                now.clone(),
                now.clone(),
            ]
        });
        self.rows(
            "groups",
            &[
                "id",
                "realm_id",
                "name",
                "description",
                "parent_id",
                "created_at",
                "updated_at",
            ],
            groups,
        )?;

        let (mut members, duplicates) = keep_one(
            s.memberships
                .iter()
                .map(|m| ((m.group, m.user), m.validity)),
            better,
        );
        members.sort_by_key(|((g, u), _)| (*g, *u));
        let rows: Vec<Vec<Sql>> = members
            .into_iter()
            .map(|((group, user), v)| {
                vec![
                    realm.clone(),
                    blob(group),
                    blob(user),
                    self.bound(v.not_before),
                    self.bound(v.expires_at),
                    now.clone(),
                ]
            })
            .collect();
        self.rows(
            "group_members",
            &[
                "realm_id",
                "group_id",
                "user_id",
                "not_before",
                "expires_at",
                "created_at",
            ],
            rows,
        )?;
        self.counts
            .insert("duplicate_memberships".into(), json!(duplicates));

        let (grants, duplicates) = keep_one(
            s.role_grants.iter().map(|g| ((g.role, g.to), g.validity)),
            better,
        );
        let rows: Vec<Vec<Sql>> = grants
            .iter()
            .enumerate()
            .map(|(i, (key, v))| {
                let (user, group) = grantee_columns(key.1);
                vec![
                    blob(row_id(1, i)),
                    realm.clone(),
                    blob(key.0),
                    opt_blob(user),
                    opt_blob(group),
                    self.bound(v.not_before),
                    self.bound(v.expires_at),
                    now.clone(),
                ]
            })
            .collect();
        self.rows(
            "role_grants",
            &[
                "id",
                "realm_id",
                "role_id",
                "user_id",
                "group_id",
                "not_before",
                "expires_at",
                "created_at",
            ],
            rows,
        )?;
        self.counts
            .insert("duplicate_role_grants".into(), json!(duplicates));

        let (kept, duplicates) = keep_one(
            s.permission_grants
                .iter()
                .map(|g| ((g.to, g.permission.to_string()), g)),
            |old: &&PermissionGrant, new: &&PermissionGrant| {
                let deny_wins = old.effect == Effect::Allow
                    && new.effect == Effect::Deny
                    && new.validity.holds_at(NOW);
                better(&old.validity, &new.validity) || deny_wins
            },
        );
        let rows: Vec<Vec<Sql>> = kept
            .iter()
            .enumerate()
            .map(|(i, (key, g))| {
                let (user, group) = grantee_columns(g.to);
                let effect = match g.effect {
                    Effect::Allow => "allow",
                    Effect::Deny => "deny",
                };
                vec![
                    blob(row_id(2, i)),
                    realm.clone(),
                    opt_blob(user),
                    opt_blob(group),
                    Sql::Text(key.1.clone()),
                    text(effect),
                    self.bound(g.validity.not_before),
                    self.bound(g.validity.expires_at),
                    now.clone(),
                ]
            })
            .collect();
        self.rows(
            "permission_grants",
            &[
                "id",
                "realm_id",
                "user_id",
                "group_id",
                "permission",
                "effect",
                "not_before",
                "expires_at",
                "created_at",
            ],
            rows,
        )?;
        self.counts
            .insert("duplicate_permission_grants".into(), json!(duplicates));

        let mut policies = Vec::new();
        for p in &s.policies {
            let (kind, id) = match p.attached_to {
                Attachment::Realm => ("realm", None),
                Attachment::User(id) => ("user", Some(id)),
                Attachment::Group(id) => ("group", Some(id)),
                Attachment::Role(id) => ("role", Some(id)),
            };
            let statements = serde_json::to_string(&p.statements).map_err(|e| e.to_string())?;
            policies.push(vec![
                blob(p.id),
                realm.clone(),
                text(&p.name),
                opt_text(p.description.as_deref()),
                Sql::Integer(i64::from(p.priority)),
                text(kind),
                opt_blob(id),
                Sql::Text(statements),
                Sql::Integer(i64::from(p.enabled)),
                now.clone(),
                now.clone(),
            ]);
        }
        self.rows(
            "policies",
            &[
                "id",
                "realm_id",
                "name",
                "description",
                "priority",
                "attached_kind",
                "attached_id",
                "statements",
                "enabled",
                "created_at",
                "updated_at",
            ],
            policies,
        )?;

        // Hours and weekdays of conditions in UTC, as the comparison with
        // our engine assumes.
        let has_time_zone: bool = self
            .tx
            .query_row(
                "SELECT COUNT(*) FROM pragma_table_info('realms') WHERE name = 'time_zone'",
                [],
                |row| row.get::<_, i64>(0),
            )
            .map_err(sql)?
            > 0;
        if has_time_zone {
            self.tx
                .execute(
                    "UPDATE realms SET time_zone = 'UTC' WHERE id = ?1",
                    [blob(self.realm)],
                )
                .map_err(sql)?;
        }
        self.tx
            .execute(
                "UPDATE realms SET authz_revision = authz_revision + 1 WHERE id = ?1",
                [blob(self.realm)],
            )
            .map_err(sql)?;
        Ok(())
    }
}

fn grantee_columns(to: Grantee) -> (Option<Uuid>, Option<Uuid>) {
    match to {
        Grantee::User(id) => (Some(id), None),
        Grantee::Group(id) => (None, Some(id)),
    }
}

/// The body of `POST /api/v1/authz/check` for a request. The subject's
/// attributes are not sent: the server uses the stored ones, which the
/// generator gives every request too.
pub fn body(r: &SampleRequest) -> Value {
    let mut resource = Map::new();
    resource.insert("type".into(), json!(r.resource.kind));
    for (key, value) in [
        ("id", &r.resource.id),
        ("owner", &r.resource.owner),
        ("team", &r.resource.team),
    ] {
        if let Some(v) = value {
            resource.insert(key.into(), json!(v));
        }
    }
    let mut body = json!({
        "subject": r.subject.to_string(),
        "action": r.action,
        "resource": resource,
    });
    if let (Some(ip), Some(obj)) = (r.context.ip, body.as_object_mut()) {
        obj.insert("context".into(), json!({ "ip": ip.to_string() }));
    }
    body
}

fn write_bodies<'a>(
    path: &str,
    requests: impl Iterator<Item = &'a SampleRequest>,
) -> Result<(), String> {
    let file = std::fs::File::create(path).map_err(|e| format!("{path}: {e}"))?;
    let mut out = std::io::BufWriter::new(file);
    for r in requests {
        writeln!(out, "{}", body(r)).map_err(|e| format!("{path}: {e}"))?;
    }
    out.flush().map_err(|e| format!("{path}: {e}"))
}
