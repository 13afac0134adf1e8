//! Policy conditions: JSON Logic compiled once with `datalogic-rs`, evaluated
//! per check against arena-built data.
//!
//! The data a condition sees:
//!
//! ```json
//! {
//!   "subject":  {"id": "…", "roles": ["…"], "groups": ["…"], "attributes": {…}},
//!   "resource": {"type": "documents", "id": "42", "owner": "…", "team": "…", "attributes": {…}},
//!   "context":  {"ip": "10.1.2.3", "hour": 10, "day": 3, "weekday": "wednesday", …extra},
//!   "hour": 10, "day": 3, "weekday": "wednesday", "ip": "10.1.2.3"
//! }
//! ```
//!
//! `day` is the ISO weekday (1 = Monday .. 7 = Sunday); `weekday` its lowercase
//! English name. Absent values are `null`. `subject.roles` and
//! `subject.groups` are the names held at the check's instant (roles with
//! inclusion, groups with ancestors), sorted; they are only computed for
//! conditions that may read them.
//!
//! Two operators are added to JSON Logic:
//! - `ip_in_range`: `{"ip_in_range": [ip, "10.0.0.0/8"]}` or with a list of
//!   ranges; a range may be a CIDR block or a single address. A `null` ip is
//!   in no range; an ip or range that does not parse is an evaluation error.
//! - `string_like`: `{"string_like": [text, "pattern"]}`, where `*` matches
//!   any run of characters and `?` exactly one (IAM's `StringLike`). A
//!   non-string text matches nothing; a pattern longer than
//!   [`MAX_PATTERN_LEN`] bytes is an evaluation error (a match costs up to
//!   the pattern's length times the text's).

use std::cell::RefCell;
use std::fmt::Write as _;
use std::net::IpAddr;

use datalogic_rs::bumpalo::Bump;
use datalogic_rs::datavalue::NumberValue;
use datalogic_rs::operator::EvalContext;
use datalogic_rs::{ArenaExt, CustomOperator, DataValue, Engine, Error, Logic};
use ipnet::IpNet;
use serde_json::{Map, Value};
use uuid::Uuid;

use crate::request::CheckRequest;
use crate::syntax::MAX_PATTERN_LEN;

/// Builds the engine every realm compiles and evaluates with.
pub(crate) fn new_engine() -> Engine {
    Engine::builder()
        .add_operator("ip_in_range", IpInRange)
        .add_operator("string_like", StringLike)
        .build()
}

/// A compiled condition.
pub(crate) struct Condition {
    pub(crate) logic: Logic,
    /// Whether the condition may read `subject.roles` / `subject.groups`.
    pub(crate) needs_sets: bool,
    /// Size of the source JSON, for the heap estimate.
    pub(crate) source_bytes: usize,
}

impl Condition {
    /// Compiles a (validated) condition.
    pub(crate) fn compile(engine: &Engine, value: &serde_json::Value) -> Result<Self, String> {
        let text = value.to_string();
        let logic = engine.compile(text.as_str()).map_err(|e| e.to_string())?;
        Ok(Self {
            logic,
            needs_sets: reads_subject_sets(value),
            source_bytes: text.len(),
        })
    }

    /// Evaluates against `data`; truthiness per JSON Logic.
    pub(crate) fn holds<'a>(
        &'a self,
        engine: &Engine,
        data: &'a DataValue<'a>,
        arena: &'a Bump,
    ) -> Result<bool, Error> {
        engine
            .evaluate(&self.logic, data, arena)
            .map(|v| engine.truthy(v))
    }
}

/// Whether a condition may read the subject's role or group names: any `var`
/// or `missing` path that names them (or the whole subject or data), or any
/// path computed at run time.
fn reads_subject_sets(value: &serde_json::Value) -> bool {
    fn path_reads(p: &str) -> bool {
        p.is_empty()
            || p == "subject"
            || p.starts_with("subject.roles")
            || p.starts_with("subject.groups")
    }
    fn arg_reads(arg: &serde_json::Value) -> bool {
        match arg {
            serde_json::Value::String(s) => path_reads(s),
            serde_json::Value::Number(_) | serde_json::Value::Null => false,
            serde_json::Value::Array(items) => items.iter().any(arg_reads),
            // A path computed by an expression: could be anything.
            serde_json::Value::Object(_) | serde_json::Value::Bool(_) => true,
        }
    }
    let mut stack = vec![value];
    while let Some(v) = stack.pop() {
        match v {
            serde_json::Value::Object(map) => {
                for (key, arg) in map {
                    if matches!(key.as_str(), "var" | "missing" | "missing_some") {
                        let path_arg = match (key.as_str(), arg) {
                            ("var", serde_json::Value::Array(items)) => items.first(),
                            ("missing_some", serde_json::Value::Array(items)) => items.get(1),
                            _ => Some(arg),
                        };
                        if path_arg.is_some_and(arg_reads) {
                            return true;
                        }
                    }
                    stack.push(arg);
                }
            }
            serde_json::Value::Array(items) => stack.extend(items.iter()),
            _ => {}
        }
    }
    false
}

thread_local! {
    static ARENA: RefCell<Bump> = RefCell::new(Bump::new());
}

/// Arena memory kept between checks on one thread; above it the arena is
/// replaced after use.
const ARENA_KEEP_BYTES: usize = 1 << 20;

/// Runs `f` with this thread's evaluation arena, reset first.
pub(crate) fn with_arena<R>(f: impl FnOnce(&Bump) -> R) -> R {
    ARENA.with(|cell| match cell.try_borrow_mut() {
        Ok(mut arena) => {
            arena.reset();
            let out = f(&arena);
            if arena.allocated_bytes() > ARENA_KEEP_BYTES {
                *arena = Bump::new();
            }
            out
        }
        // Re-entered (cannot happen today): use a fresh arena.
        Err(_) => f(&Bump::new()),
    })
}

const WEEKDAYS: [&str; 7] = [
    "monday",
    "tuesday",
    "wednesday",
    "thursday",
    "friday",
    "saturday",
    "sunday",
];

/// Deepest attribute nesting copied into condition data; deeper values read
/// as `null`.
const MAX_ATTRIBUTE_DEPTH: usize = 32;

fn json_to_data<'a>(value: &'a serde_json::Value, arena: &'a Bump, depth: usize) -> DataValue<'a> {
    match value {
        serde_json::Value::Null => DataValue::Null,
        serde_json::Value::Bool(b) => DataValue::Bool(*b),
        serde_json::Value::Number(n) => match n.as_i64() {
            Some(i) => DataValue::Number(NumberValue::Integer(i)),
            None => DataValue::Number(NumberValue::Float(n.as_f64().unwrap_or(f64::NAN))),
        },
        serde_json::Value::String(s) => DataValue::String(s.as_str()),
        _ if depth >= MAX_ATTRIBUTE_DEPTH => DataValue::Null,
        serde_json::Value::Array(items) => DataValue::Array(
            arena.alloc_slice_fill_iter(items.iter().map(|v| json_to_data(v, arena, depth + 1))),
        ),
        serde_json::Value::Object(map) => map_to_data(map, arena, depth),
    }
}

fn map_to_data<'a>(
    map: &'a serde_json::Map<String, serde_json::Value>,
    arena: &'a Bump,
    depth: usize,
) -> DataValue<'a> {
    DataValue::Object(
        arena.alloc_slice_fill_iter(
            map.iter()
                .map(|(k, v)| (k.as_str(), json_to_data(v, arena, depth + 1))),
        ),
    )
}

fn opt_str(s: Option<&str>) -> DataValue<'_> {
    s.map_or(DataValue::Null, DataValue::String)
}

fn names<'a>(arena: &'a Bump, names: &[&'a str]) -> DataValue<'a> {
    DataValue::Array(arena.alloc_slice_fill_iter(names.iter().map(|n| DataValue::String(n))))
}

/// Builds the data a condition sees (see the module docs).
/// `stored` are the subject's attributes from the realm, used when the
/// request brings none.
pub(crate) fn build_data<'a>(
    arena: &'a Bump,
    request: &CheckRequest<'a>,
    stored: Option<&'a Map<String, Value>>,
    roles: &[&'a str],
    groups: &[&'a str],
) -> &'a DataValue<'a> {
    let mut buf = Uuid::encode_buffer();
    let subject_id: &'a str = arena.alloc_str(request.subject.hyphenated().encode_lower(&mut buf));
    let attributes = request
        .subject_attributes
        .or(stored)
        .map_or(DataValue::Object(&[]), |m| map_to_data(m, arena, 1));
    let subject = DataValue::Object(arena.alloc_slice_fill_iter([
        ("id", DataValue::String(subject_id)),
        ("roles", names(arena, roles)),
        ("groups", names(arena, groups)),
        ("attributes", attributes),
    ]));

    let res = request.resource;
    let resource = DataValue::Object(arena.alloc_slice_fill_iter([
        ("type", DataValue::String(res.kind.as_str())),
        ("id", opt_str(res.id.as_deref())),
        ("owner", opt_str(res.owner.as_deref())),
        ("team", opt_str(res.team.as_deref())),
        ("attributes", map_to_data(&res.attributes, arena, 1)),
    ]));

    let ctx = request.context;
    let ip = ctx.ip.map_or(DataValue::Null, |ip| {
        let mut s = datalogic_rs::bumpalo::collections::String::new_in(arena);
        let _ = write!(s, "{ip}");
        DataValue::String(s.into_bump_str())
    });
    let hour = DataValue::Number(NumberValue::Integer(i64::from(ctx.hour)));
    let day = DataValue::Number(NumberValue::Integer(i64::from(ctx.day)));
    let weekday = usize::from(ctx.day)
        .checked_sub(1)
        .and_then(|i| WEEKDAYS.get(i))
        .map_or(DataValue::Null, |w| DataValue::String(w));
    let builtins = [
        ("ip", ip),
        ("hour", hour),
        ("day", day),
        ("weekday", weekday),
    ];
    let mut context = datalogic_rs::bumpalo::collections::Vec::with_capacity_in(
        builtins.len() + ctx.extra.len(),
        arena,
    );
    context.extend(builtins.iter().copied());
    context.extend(
        ctx.extra
            .iter()
            .filter(|(k, _)| !matches!(k.as_str(), "ip" | "hour" | "day" | "weekday"))
            .map(|(k, v)| (k.as_str(), json_to_data(v, arena, 1))),
    );
    let context = DataValue::Object(context.into_bump_slice());

    arena.alloc(DataValue::Object(arena.alloc_slice_fill_iter([
        ("subject", subject),
        ("resource", resource),
        ("context", context),
        ("hour", hour),
        ("day", day),
        ("weekday", weekday),
        ("ip", ip),
    ])))
}

/// `{"ip_in_range": [ip, range-or-ranges]}`.
struct IpInRange;

/// Parses a CIDR block or a single address.
pub(crate) fn parse_range(s: &str) -> Option<IpNet> {
    s.parse::<IpNet>()
        .ok()
        .or_else(|| s.parse::<IpAddr>().ok().map(IpNet::from))
}

fn in_range(ip: IpAddr, range: &DataValue<'_>) -> Result<bool, Error> {
    let text = range
        .as_str()
        .ok_or_else(|| Error::invalid_arguments("ip_in_range: a range must be a string"))?;
    let net = parse_range(text).ok_or_else(|| {
        Error::invalid_arguments("ip_in_range: a range must be a CIDR block or an address")
    })?;
    Ok(net.contains(&ip))
}

impl CustomOperator for IpInRange {
    fn evaluate<'a>(
        &self,
        args: &[&'a DataValue<'a>],
        _ctx: &mut EvalContext<'_, 'a>,
        arena: &'a Bump,
    ) -> datalogic_rs::Result<&'a DataValue<'a>> {
        let (Some(ip), Some(ranges)) = (args.first(), args.get(1)) else {
            return Err(Error::invalid_arguments(
                "ip_in_range takes an address and a range (or a list of ranges)",
            ));
        };
        let ip = match ip {
            DataValue::Null => return Ok(arena.bool(false)),
            DataValue::String(s) => s
                .parse::<IpAddr>()
                .map_err(|_| Error::invalid_arguments("ip_in_range: not an IP address"))?,
            _ => return Err(Error::invalid_arguments("ip_in_range: not an IP address")),
        };
        let inside = match ranges {
            DataValue::Array(items) => {
                let mut any = false;
                for r in items.iter() {
                    any |= in_range(ip, r)?;
                }
                any
            }
            single => in_range(ip, single)?,
        };
        Ok(arena.bool(inside))
    }
}

/// `{"string_like": [text, pattern]}`.
struct StringLike;

impl CustomOperator for StringLike {
    fn evaluate<'a>(
        &self,
        args: &[&'a DataValue<'a>],
        _ctx: &mut EvalContext<'_, 'a>,
        arena: &'a Bump,
    ) -> datalogic_rs::Result<&'a DataValue<'a>> {
        let (Some(text), Some(pattern)) = (args.first(), args.get(1)) else {
            return Err(Error::invalid_arguments(
                "string_like takes a text and a pattern",
            ));
        };
        let pattern = pattern
            .as_str()
            .ok_or_else(|| Error::invalid_arguments("string_like: the pattern must be a string"))?;
        if pattern.len() > MAX_PATTERN_LEN {
            return Err(Error::invalid_arguments(
                "string_like: the pattern is too long",
            ));
        }
        let matched = text.as_str().is_some_and(|t| like(pattern, t));
        Ok(arena.bool(matched))
    }
}

/// Glob with `*` (any run) and `?` (one character), by characters.
pub(crate) fn like(pattern: &str, text: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    let (mut pi, mut ti) = (0usize, 0usize);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        match p.get(pi) {
            Some('*') => {
                star = Some((pi, ti));
                pi += 1;
            }
            Some(&c) if c == '?' || Some(&c) == t.get(ti) => {
                pi += 1;
                ti += 1;
            }
            _ => match star {
                Some((sp, st)) => {
                    pi = sp + 1;
                    ti = st + 1;
                    star = Some((sp, st + 1));
                }
                None => return false,
            },
        }
    }
    p.get(pi..)
        .is_some_and(|rest| rest.iter().all(|&c| c == '*'))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::request::{Context, Resource};
    use serde_json::json;

    fn eval(cond: serde_json::Value, request: &CheckRequest<'_>) -> Result<bool, Error> {
        let engine = new_engine();
        let c = Condition::compile(&engine, &cond).unwrap();
        with_arena(|arena| {
            let data = build_data(arena, request, None, &["admin"], &["eng"]);
            c.holds(&engine, data, arena)
        })
    }

    #[test]
    fn data_shape_and_operators() {
        let resource = Resource {
            kind: "documents".into(),
            id: Some("42".into()),
            owner: Some("bob".into()),
            ..Resource::default()
        };
        let mut extra = serde_json::Map::new();
        extra.insert("risk".into(), json!(7));
        extra.insert("hour".into(), json!(99));
        let context = Context {
            ip: Some("10.1.2.3".parse().unwrap()),
            hour: 10,
            day: 3,
            extra,
        };
        let mut attrs = serde_json::Map::new();
        attrs.insert("department".into(), json!("sales"));
        let req = CheckRequest {
            subject: Uuid::nil(),
            subject_attributes: Some(&attrs),
            action: "read",
            resource: &resource,
            context: &context,
            now: 0,
            explain: false,
        };
        for (cond, expected) in [
            (json!({"==": [{"var": "hour"}, 10]}), true),
            (json!({"==": [{"var": "context.hour"}, 10]}), true),
            (json!({"==": [{"var": "context.risk"}, 7]}), true),
            (json!({"==": [{"var": "weekday"}, "wednesday"]}), true),
            (json!({"==": [{"var": "resource.type"}, "documents"]}), true),
            (json!({"==": [{"var": "resource.owner"}, "bob"]}), true),
            (
                json!({"==": [{"var": "subject.attributes.department"}, "sales"]}),
                true,
            ),
            (json!({"in": ["admin", {"var": "subject.roles"}]}), true),
            (json!({"in": ["eng", {"var": "subject.groups"}]}), true),
            (json!({"ip_in_range": [{"var": "ip"}, "10.0.0.0/8"]}), true),
            (
                json!({"ip_in_range": [{"var": "context.ip"}, ["192.168.0.0/16", "10.1.2.3"]]}),
                true,
            ),
            (
                json!({"ip_in_range": [{"var": "ip"}, "192.168.0.0/16"]}),
                false,
            ),
            (
                json!({"ip_in_range": [{"var": "nothing"}, "0.0.0.0/0"]}),
                false,
            ),
            (
                json!({"string_like": [{"var": "resource.owner"}, "b?b*"]}),
                true,
            ),
            (
                json!({"string_like": [{"var": "resource.owner"}, "a*"]}),
                false,
            ),
        ] {
            assert_eq!(eval(cond.clone(), &req).unwrap(), expected, "{cond}");
        }
        assert!(
            eval(
                json!({"ip_in_range": [{"var": "hour"}, "10.0.0.0/8"]}),
                &req
            )
            .is_err()
        );
        assert!(eval(json!({"ip_in_range": [{"var": "ip"}, "nonsense"]}), &req).is_err());
    }

    #[test]
    fn subject_set_detection() {
        assert!(!reads_subject_sets(&json!({"==": [{"var": "hour"}, 1]})));
        assert!(!reads_subject_sets(
            &json!({"==": [{"var": "subject.attributes.x"}, 1]})
        ));
        assert!(reads_subject_sets(
            &json!({"in": ["a", {"var": "subject.roles"}]})
        ));
        assert!(reads_subject_sets(
            &json!({"in": ["a", {"var": ["subject.groups", []]}]})
        ));
        assert!(reads_subject_sets(
            &json!({"var": {"cat": ["subject.", "roles"]}})
        ));
        assert!(reads_subject_sets(&json!({"missing": ["subject"]})));
    }

    #[test]
    fn like_globs() {
        assert!(like("a?c", "abc"));
        assert!(!like("a?c", "ac"));
        assert!(like("*", ""));
        assert!(like("a*", "añb"));
        assert!(like("?", "ñ"));
    }
}

#[cfg(test)]
#[path = "condition_fuzz_tests.rs"]
mod fuzz_tests;
