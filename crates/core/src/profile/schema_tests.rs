#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use serde_json::{Value, json};

use super::*;
use crate::error::Error;
use crate::profile::check::compile_pattern;
use crate::profile::{Document, MAX_DOCUMENT_KEYS};

fn doc(v: Value) -> Document {
    match v {
        Value::Object(m) => m,
        other => panic!("not an object: {other}"),
    }
}

fn errors(e: Error) -> Vec<(String, String)> {
    match e {
        Error::Validation(list) => list.into_iter().map(|f| (f.field, f.reason)).collect(),
        other => panic!("not a validation error: {other:?}"),
    }
}

/// The fields an error names, sorted.
fn fields_named(e: Error) -> Vec<String> {
    let mut named: Vec<String> = errors(e).into_iter().map(|(f, _)| f).collect();
    named.sort();
    named
}

fn schema(v: Value) -> ProfileSchema {
    serde_json::from_value(v).unwrap()
}

/// A schema with custom fields of every kind beside the built-ins.
fn rich() -> CompiledSchema {
    let mut s = ProfileSchema {
        version: 1,
        ..ProfileSchema::default()
    };
    let extra: Vec<ProfileField> = serde_json::from_value(json!([
        {"name": "nickname", "kind": {"type": "string", "min_length": 2, "max_length": 20, "pattern": "[a-z][a-z0-9_]*"}},
        {"name": "height_m", "kind": {"type": "number", "min": 0.3, "max": 3.0}},
        {"name": "shoe_size", "kind": {"type": "integer", "min": 10, "max": 60}},
        {"name": "birthdate", "kind": {"type": "date"}, "claim": "birthdate", "claim_scope": "profile"},
        {"name": "newsletter", "kind": {"type": "boolean"}},
        {"name": "team", "kind": {"type": "one_of", "options": ["red", "blue"]}},
        {"name": "website", "kind": {"type": "url"}},
        {"name": "work_phone", "kind": {"type": "phone"}},
        {"name": "backup_email", "kind": {"type": "email"}},
        {"name": "tags", "kind": {"type": "string", "max_length": 16}, "multivalued": true, "max_items": 3,
         "claim": "tags", "claim_scope": "org:tags"},
        {"name": "employee_id", "kind": {"type": "string"}, "required": true,
         "readable_by": ["user", "admin"], "editable_by": ["admin"]},
        {"name": "risk_notes", "kind": {"type": "string"}, "readable_by": ["admin"], "editable_by": ["admin"]},
        {"name": "department", "kind": {"type": "string"}, "required": true}
    ]))
    .unwrap();
    s.fields.extend(extra);
    s.compile().unwrap()
}

// ---- the schema itself ----

#[test]
fn the_default_schema_compiles_and_round_trips_through_json() {
    let s = ProfileSchema::default();
    assert_eq!(s.version, 0);
    let names: Vec<&str> = s.fields.iter().map(|f| f.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "given_name",
            "family_name",
            "locale",
            "zoneinfo",
            "picture",
            "phone_number",
            "address"
        ]
    );
    assert!(
        s.fields
            .iter()
            .all(|f| !f.required && f.editable_by == Audience::both())
    );
    s.compile().unwrap();
    let text = serde_json::to_string(&s).unwrap();
    assert_eq!(serde_json::from_str::<ProfileSchema>(&text).unwrap(), s);
    rich();
}

#[test]
fn a_schema_in_json_reads_as_documented() {
    let s = schema(json!({"version": 3, "fields": [
        {"name": "nickname", "kind": {"type": "string", "max_length": 40}, "claim": "nickname", "claim_scope": "profile"},
        {"name": "team", "kind": {"type": "one_of", "options": ["a"]}, "readable_by": ["admin"], "editable_by": []}
    ]}));
    assert_eq!(s.fields[0].claim_scope, Some(ClaimScope::Profile));
    assert_eq!(s.fields[0].readable_by, Audience::both());
    assert!(s.fields[1].editable_by.is_empty());
    s.compile().unwrap();
    // Unknown attributes are refused, in fields and in kinds.
    for bad in [
        json!({"version": 1, "fields": [{"name": "a", "kind": {"type": "string"}, "colour": "red"}]}),
        json!({"version": 1, "fields": [{"name": "a", "kind": {"type": "string", "maxlen": 3}}]}),
        json!({"version": 1, "fields": [{"name": "a", "kind": {"type": "blob"}}]}),
        json!({"version": 1, "fields": [{"name": "a", "kind": {"type": "string"}, "readable_by": ["world"]}]}),
    ] {
        assert!(serde_json::from_value::<ProfileSchema>(bad).is_err());
    }
}

#[test]
fn every_problem_of_a_schema_is_named_in_one_error() {
    let s = schema(json!({"version": 1, "fields": [
        {"name": "Nick", "kind": {"type": "string"}},
        {"name": "sub", "kind": {"type": "string"}},
        {"name": "email", "kind": {"type": "string"}},
        {"name": "ok", "kind": {"type": "string", "min_length": 9, "max_length": 4, "pattern": "(unclosed"}},
        {"name": "ok", "kind": {"type": "number", "min": 2.0, "max": 1.0}},
        {"name": "team", "kind": {"type": "one_of", "options": ["a", "a", " b", ""]}},
        {"name": "given_name", "kind": {"type": "integer"}, "claim": "first_name"},
        {"name": "phone_number", "kind": {"type": "phone"}, "claim_scope": "profile", "claim": "phone_number"},
        {"name": "dept", "kind": {"type": "string"}, "claim": "dept"},
        {"name": "notes", "kind": {"type": "string"}, "claim": "roles", "claim_scope": "openid"},
        {"name": "secret", "kind": {"type": "string"}, "readable_by": ["admin"], "editable_by": ["admin", "user"],
         "claim": "secret", "claim_scope": "profile"},
        {"name": "flags", "kind": {"type": "boolean"}, "multivalued": true, "max_items": 500},
        {"name": "lonely", "kind": {"type": "string"}, "max_items": 2, "claim_scope": "profile"},
        {"name": "stuck", "kind": {"type": "string"}, "required": true, "editable_by": []},
        {"name": "label", "kind": {"type": "string"}, "display_name": "<b>Label</b>", "help_text": "a\u{7}b"},
        {"name": "_archived", "kind": {"type": "string"}},
        {"name": "dup_claim", "kind": {"type": "string"}, "claim": "dept", "claim_scope": "profile"}
    ]}));
    let named = fields_named(s.compile().unwrap_err());
    for expected in [
        "fields[0].name",
        "fields[1].name",
        "fields[2].name",
        "fields[3].kind.min_length",
        "fields[3].kind.pattern",
        "fields[4].name",
        "fields[4].kind.min",
        "fields[5].kind.options[1]",
        "fields[5].kind.options[2]",
        "fields[5].kind.options[3]",
        "fields[6].kind.type",
        "fields[6].claim",
        "fields[7].claim_scope",
        "fields[8].claim_scope",
        "fields[9].claim",
        "fields[9].claim_scope",
        "fields[10].claim",
        "fields[10].editable_by",
        "fields[11].max_items",
        "fields[11].multivalued",
        "fields[12].max_items",
        "fields[12].claim_scope",
        "fields[13].required",
        "fields[14].display_name",
        "fields[14].help_text",
        "fields[15].name",
        "fields[16].claim",
    ] {
        assert!(
            named.contains(&expected.to_owned()),
            "{expected} missing from {named:?}"
        );
    }
}

#[test]
fn schema_limits_hold() {
    let many: Vec<Value> = (0..=MAX_FIELDS)
        .map(|i| json!({"name": format!("f{i}"), "kind": {"type": "boolean"}}))
        .collect();
    let named = fields_named(
        schema(json!({"version": 1, "fields": many}))
            .compile()
            .unwrap_err(),
    );
    assert_eq!(named, ["fields"]);

    let options: Vec<String> = (0..=MAX_OPTIONS).map(|i| format!("o{i}")).collect();
    let long_pattern = "a".repeat(MAX_PATTERN_LEN + 1);
    let s = schema(json!({"version": 1, "fields": [
        {"name": "a", "kind": {"type": "one_of", "options": options}},
        {"name": "b", "kind": {"type": "string", "pattern": long_pattern}},
        {"name": "c", "kind": {"type": "string", "max_length": MAX_STRING_LEN + 1}},
        {"name": "d", "kind": {"type": "string", "max_length": 0}},
        {"name": "e", "kind": {"type": "one_of", "options": []}},
        {"name": &"n".repeat(MAX_NAME_LEN + 1), "kind": {"type": "date"}},
        {"name": "g", "kind": {"type": "string"}, "claim": "x".repeat(MAX_CLAIM_LEN + 1), "claim_scope": "profile"},
        {"name": "h", "kind": {"type": "string"}, "claim": "h", "claim_scope": "s".repeat(MAX_SCOPE_LEN + 1)},
        {"name": "i", "kind": {"type": "string"}, "help_text": "h".repeat(MAX_HELP_LEN + 1)}
    ]}));
    let named = fields_named(s.compile().unwrap_err());
    for expected in [
        "fields[0].kind.options",
        "fields[1].kind.pattern",
        "fields[2].kind.max_length",
        "fields[3].kind.max_length",
        "fields[4].kind.options",
        "fields[5].name",
        "fields[6].claim",
        "fields[7].claim_scope",
        "fields[8].help_text",
    ] {
        assert!(
            named.contains(&expected.to_owned()),
            "{expected} missing from {named:?}"
        );
    }
}

#[test]
fn a_hostile_pattern_is_refused_quickly_by_the_size_limit() {
    for hostile in [
        "(a{1000}){1000}",
        "\\w{1000}\\w{1000}",
        "((((((((((a*)*)*)*)*)*)*)*)*)*)*{200}",
    ] {
        let s = schema(json!({"version": 1, "fields": [
            {"name": "a", "kind": {"type": "string", "pattern": hostile}}
        ]}));
        let e = errors(s.compile().unwrap_err());
        assert_eq!(e[0].0, "fields[0].kind.pattern", "{hostile}");
    }
    let nested = format!("{}a{}", "(".repeat(100), ")".repeat(100));
    assert!(compile_pattern(&nested).is_err());
    // Patterns are anchored: a match must cover the whole value.
    let re = compile_pattern("[a-z]+").unwrap();
    assert!(re.is_match("abc"));
    assert!(!re.is_match("abc1"));
    let re = compile_pattern("a|b").unwrap();
    assert!(!re.is_match("ab"));
}

// ---- writing documents ----

#[test]
fn a_replace_normalises_every_kind() {
    let s = rich();
    let input = doc(json!({
        "given_name": "  Ada  ",
        "family_name": "Lovelace",
        "locale": "en-GB",
        "zoneinfo": "Europe/London",
        "picture": "https://example.com/a b.png",
        "phone_number": "+44 (20) 7946-0958",
        "address": {"street_address": "12 St James's Square\r\nFlat 2", "locality": " London ", "country": "UK", "region": ""},
        "nickname": "ada_l",
        "height_m": 1.65,
        "shoe_size": 38,
        "birthdate": "1815-12-10",
        "newsletter": true,
        "team": "red",
        "website": "http://EXAMPLE.org",
        "work_phone": "+1.202.555.0143",
        "backup_email": "Ada@Example.ORG",
        "tags": [" maths ", "poetry"],
        "department": "Analytical Engines"
    }));
    let out = s.replace(&Document::new(), &input, Audience::User).unwrap();
    assert_eq!(out["given_name"], "Ada");
    assert_eq!(out["picture"], "https://example.com/a%20b.png");
    assert_eq!(out["phone_number"], "+442079460958");
    assert_eq!(
        out["address"],
        json!({"street_address": "12 St James's Square\nFlat 2", "locality": "London", "country": "UK"})
    );
    assert_eq!(out["height_m"], 1.65);
    assert_eq!(out["shoe_size"], 38);
    assert_eq!(out["website"], "http://example.org/");
    assert_eq!(out["work_phone"], "+12025550143");
    assert_eq!(out["backup_email"], "Ada@example.org");
    assert_eq!(out["tags"], json!(["maths", "poetry"]));
    assert!(!out.contains_key("employee_id"));
}

#[test]
fn every_wrong_field_is_named_in_one_error() {
    let s = rich();
    let input = doc(json!({
        "given_name": "Ada\u{0}",
        "family_name": "x".repeat(256),
        "locale": "english please",
        "picture": "javascript:alert(1)",
        "phone_number": "+0123456789",
        "address": {"city": "London", "locality": 3},
        "nickname": "A",
        "height_m": "tall",
        "shoe_size": 38.5,
        "birthdate": "2023-02-29",
        "newsletter": "yes",
        "team": "green",
        "website": "https://user:pw@example.com/",
        "work_phone": "555-0143",
        "backup_email": "not an address",
        "tags": ["a", "a", "b", "c"],
        "department": ["Engines"],
        "unknown_thing": 1,
        "_archived": {},
        "risk_notes": "I may not even know this exists",
        "employee_id": "E-1"
    }));
    let e = errors(
        s.replace(&Document::new(), &input, Audience::User)
            .unwrap_err(),
    );
    let named: Vec<&str> = e.iter().map(|(f, _)| f.as_str()).collect();
    for expected in [
        "given_name",
        "family_name",
        "locale",
        "picture",
        "phone_number",
        "address.city",
        "address.locality",
        "nickname",
        "height_m",
        "shoe_size",
        "birthdate",
        "newsletter",
        "team",
        "website",
        "work_phone",
        "backup_email",
        "tags",
        "department",
        "unknown_thing",
        "_archived",
        "risk_notes",
        "employee_id",
    ] {
        assert!(named.contains(&expected), "{expected} missing from {e:?}");
    }
    let reason = |field: &str| e.iter().find(|(f, _)| f == field).unwrap().1.clone();
    // A field the user cannot see answers as an unknown one; one the user
    // sees but may not edit says so.
    assert_eq!(reason("risk_notes"), reason("unknown_thing"));
    assert_eq!(reason("employee_id"), "may not be changed by the user");
    assert_eq!(reason("given_name"), "must not contain control characters");
    // Items are named by index.
    let s2 = rich();
    let e = fields_named(
        s2.merge(
            &Document::new(),
            &doc(json!({"tags": ["ok", 5, "ok"]})),
            Audience::User,
        )
        .unwrap_err(),
    );
    assert_eq!(e, ["tags[1]", "tags[2]"]);
}

#[test]
fn control_characters_and_bidi_overrides_are_refused_in_text() {
    let s = rich();
    for bad in [
        "a\u{1b}[31mred",
        "tab\there",
        "line\nbreak",
        "\u{202E}evil",
        "a\u{2028}b",
        "del\u{7f}",
    ] {
        let e = s
            .merge(
                &Document::new(),
                &doc(json!({"given_name": bad})),
                Audience::User,
            )
            .unwrap_err();
        assert_eq!(fields_named(e), ["given_name"], "{bad:?}");
    }
    // Unicode letters, marks and emoji are fine.
    s.merge(
        &Document::new(),
        &doc(json!({"given_name": "Zoë 🦀 Łukasz"})),
        Audience::User,
    )
    .unwrap();
}

#[test]
fn required_fields_are_enforced_on_replace_for_the_editor_who_can_supply_them() {
    let s = rich();
    // The user must supply `department` (user-editable and required) but
    // not `employee_id` (required, but only an administrator edits it).
    let e = fields_named(
        s.replace(
            &Document::new(),
            &doc(json!({"given_name": "Ada"})),
            Audience::User,
        )
        .unwrap_err(),
    );
    assert_eq!(e, ["department"]);
    // An administrator must supply both.
    let e = fields_named(
        s.replace(
            &Document::new(),
            &doc(json!({"given_name": "Ada"})),
            Audience::Admin,
        )
        .unwrap_err(),
    );
    assert_eq!(e, ["department", "employee_id"]);
    // Empty strings and null count as absent.
    let e = fields_named(
        s.replace(
            &Document::new(),
            &doc(json!({"department": "  ", "employee_id": null})),
            Audience::Admin,
        )
        .unwrap_err(),
    );
    assert_eq!(e, ["department", "employee_id"]);
}

#[test]
fn a_replace_keeps_what_the_editor_may_not_edit_and_accepts_it_echoed_unchanged() {
    let s = rich();
    let stored = doc(json!({
        "given_name": "Ada", "nickname": "ada", "employee_id": "E-1", "risk_notes": "watch",
        "department": "Engines", "legacy": "kept", "_archived": {"1": {"old": 1}}
    }));
    // The user reads her view, changes a name, writes it all back.
    let mut view = s.view(&stored, Audience::User);
    assert!(
        !view.contains_key("risk_notes")
            && !view.contains_key("legacy")
            && !view.contains_key("_archived")
    );
    view.insert("given_name".into(), json!("Augusta Ada"));
    view.remove("nickname");
    let out = s.replace(&stored, &view, Audience::User).unwrap();
    assert_eq!(out["given_name"], "Augusta Ada");
    assert!(
        !out.contains_key("nickname"),
        "left out of a replace: removed"
    );
    assert_eq!(out["employee_id"], "E-1");
    assert_eq!(out["risk_notes"], "watch");
    assert_eq!(out["legacy"], "kept");
    assert_eq!(out["_archived"], json!({"1": {"old": 1}}));
    // Echoing a read-only field with other spacing is still unchanged.
    view.insert("employee_id".into(), json!(" E-1 "));
    s.replace(&stored, &view, Audience::User).unwrap();
    // Changing it, or removing it, is refused.
    for attempt in [json!("E-2"), Value::Null] {
        view.insert("employee_id".into(), attempt);
        let e = errors(s.replace(&stored, &view, Audience::User).unwrap_err());
        assert_eq!(
            e,
            [(
                "employee_id".to_owned(),
                "may not be changed by the user".to_owned()
            )]
        );
    }
}

#[test]
fn a_merge_checks_only_what_it_is_given_and_keeps_required_fields_set() {
    let s = rich();
    let stored = doc(json!({"given_name": "Ada", "department": "Engines"}));
    // A merge without the required `employee_id` (never set) passes.
    let out = s
        .merge(
            &stored,
            &doc(json!({"nickname": "ada", "given_name": null})),
            Audience::Admin,
        )
        .unwrap();
    assert_eq!(
        out,
        doc(json!({"nickname": "ada", "department": "Engines"}))
    );
    // A merge removing a required field that is set is refused.
    for removal in [Value::Null, json!(""), json!("   ")] {
        let e = errors(
            s.merge(
                &stored,
                &doc(json!({"department": removal})),
                Audience::User,
            )
            .unwrap_err(),
        );
        assert_eq!(
            e,
            [(
                "department".to_owned(),
                "is required: it cannot be removed".to_owned()
            )]
        );
    }
    // Stored values that no longer fit are not re-checked by a merge that leaves them alone.
    let odd = doc(json!({"department": "Engines", "nickname": "NOT VALID"}));
    s.merge(&odd, &doc(json!({"team": "blue"})), Audience::User)
        .unwrap();
    // A multivalued field: an empty list removes it; over max_items is refused.
    let out = s
        .merge(
            &doc(json!({"tags": ["a"]})),
            &doc(json!({"tags": []})),
            Audience::User,
        )
        .unwrap();
    assert!(!out.contains_key("tags"));
    let e = errors(
        s.merge(
            &Document::new(),
            &doc(json!({"tags": ["a", "b", "c", "d"]})),
            Audience::User,
        )
        .unwrap_err(),
    );
    assert_eq!(
        e[0],
        ("tags".to_owned(), "must hold at most 3 values".to_owned())
    );
    let e = fields_named(
        s.merge(
            &Document::new(),
            &doc(json!({"tags": "a", "nickname": ["ab"]})),
            Audience::User,
        )
        .unwrap_err(),
    );
    assert_eq!(e, ["nickname", "tags"]);
}

#[test]
fn value_kinds_hold_their_edges() {
    let s = rich();
    let ok = |v: Value| s.merge(&Document::new(), &doc(v), Audience::Admin).unwrap();
    let bad = |v: Value| s.merge(&Document::new(), &doc(v), Audience::Admin).is_err();
    assert_eq!(
        ok(json!({"birthdate": "2024-02-29"}))["birthdate"],
        "2024-02-29"
    );
    for d in [
        "2023-02-29",
        "2024-13-01",
        "2024-1-01",
        "24-01-01",
        "2024/01/01",
        "2024-01-01T00:00:00Z",
        "+024-01-01",
    ] {
        assert!(bad(json!({"birthdate": d})), "{d}");
    }
    for p in ["+12345678", "+123456789012345"] {
        ok(json!({"work_phone": p}));
    }
    for p in [
        "+1234567",
        "+1234567890123456",
        "+0234567890",
        "12345678901",
        "+12345678x",
        "++12345678",
    ] {
        assert!(bad(json!({"work_phone": p})), "{p}");
    }
    for u in [
        "ftp://example.com/",
        "data:text/html,<script>",
        "//example.com",
        "https://",
        "/relative",
    ] {
        assert!(bad(json!({"website": u})), "{u}");
    }
    assert_eq!(ok(json!({"shoe_size": 10}))["shoe_size"], 10);
    for n in [
        json!(9),
        json!(61),
        json!(40.0),
        json!("40"),
        json!(9_223_372_036_854_775_808_u64),
    ] {
        assert!(bad(json!({"shoe_size": n})), "{n}");
    }
    assert!(bad(json!({"height_m": 3.01})));
    assert_eq!(ok(json!({"height_m": 2}))["height_m"], 2);
    assert!(bad(json!({"team": "Red"})));
    assert!(bad(json!({"nickname": "x".repeat(21)})));
    assert!(bad(json!({"address": "London"})));
    assert!(!ok(json!({"address": {"locality": "  "}})).contains_key("address"));
    assert!(bad(json!({"given_name": 5})));
    assert!(bad(json!({"newsletter": 1})));
}

#[test]
fn a_huge_document_is_refused_whole() {
    let s = rich();
    let big: Document = (0..=MAX_DOCUMENT_KEYS)
        .map(|i| (format!("k{i}"), json!(1)))
        .collect();
    assert_eq!(
        errors(s.merge(&Document::new(), &big, Audience::User).unwrap_err()).len(),
        1
    );
    // Unknown names are cut in errors.
    let long = "k".repeat(10_000);
    let e = fields_named(
        s.merge(&Document::new(), &doc(json!({long: 1})), Audience::User)
            .unwrap_err(),
    );
    assert!(e[0].chars().count() <= 65);
}

// ---- reading ----

#[test]
fn a_view_shows_each_reader_what_it_may_read() {
    let s = rich();
    let stored = doc(
        json!({"given_name": "Ada", "risk_notes": "watch", "employee_id": "E-1", "gone": 1, "_archived": {}}),
    );
    assert_eq!(
        s.view(&stored, Audience::User),
        doc(json!({"given_name": "Ada", "employee_id": "E-1"}))
    );
    assert_eq!(
        s.view(&stored, Audience::Admin),
        doc(json!({"given_name": "Ada", "employee_id": "E-1", "risk_notes": "watch"}))
    );
}

#[test]
fn claims_follow_the_granted_scopes() {
    let s = rich();
    let stored = doc(json!({
        "given_name": "Ada", "family_name": "Lovelace", "locale": "en", "picture": "https://example.com/a.png",
        "phone_number": "+442079460958", "address": {"locality": "London"}, "birthdate": "1815-12-10",
        "tags": ["maths"], "nickname": "ada", "risk_notes": "watch"
    }));
    assert!(s.claims(&stored, &["openid"], true).is_empty());
    assert_eq!(
        s.claims(&stored, &["openid", "profile"], true),
        doc(
            json!({"given_name": "Ada", "family_name": "Lovelace", "locale": "en",
                   "picture": "https://example.com/a.png", "birthdate": "1815-12-10"})
        )
    );
    assert_eq!(
        s.claims(&stored, &["phone"], false),
        doc(json!({"phone_number": "+442079460958", "phone_number_verified": false}))
    );
    assert_eq!(
        s.claims(&stored, &["address"], false),
        doc(json!({"address": {"locality": "London"}}))
    );
    assert_eq!(
        s.claims(&stored, &["org:tags"], false),
        doc(json!({"tags": ["maths"]}))
    );
    // No phone number, no phone_number_verified.
    assert!(s.claims(&Document::new(), &["phone"], true).is_empty());
    // A built-in whose claim the schema dropped is not released.
    let mut quiet = ProfileSchema::default();
    quiet.fields[0].claim = None;
    quiet.fields[0].claim_scope = None;
    let quiet = quiet.compile().unwrap();
    assert!(
        !quiet
            .claims(&stored, &["profile"], false)
            .contains_key("given_name")
    );
}

// ---- migration ----

#[test]
fn a_migration_keeps_what_fits_and_archives_the_rest_by_version() {
    let old = schema(json!({"version": 4, "fields": [
        {"name": "nickname", "kind": {"type": "string"}},
        {"name": "age", "kind": {"type": "number"}},
        {"name": "team", "kind": {"type": "string"}},
        {"name": "tag", "kind": {"type": "string"}},
        {"name": "colours", "kind": {"type": "string"}, "multivalued": true},
        {"name": "pets", "kind": {"type": "string"}, "multivalued": true},
        {"name": "fax", "kind": {"type": "string"}}
    ]}));
    let new = schema(json!({"version": 5, "fields": [
        {"name": "nickname", "kind": {"type": "string", "max_length": 4}},
        {"name": "age", "kind": {"type": "integer"}},
        {"name": "team", "kind": {"type": "one_of", "options": ["red", "blue"]}},
        {"name": "tag", "kind": {"type": "string"}, "multivalued": true},
        {"name": "colours", "kind": {"type": "string"}},
        {"name": "pets", "kind": {"type": "string"}},
        {"name": "ssn", "kind": {"type": "string"}, "required": true}
    ]}));
    let stored = doc(json!({
        "nickname": "augusta", "age": 36, "team": "red", "tag": "x", "colours": ["green"],
        "pets": ["cat", "dog"], "fax": "+441234", "_archived": {"2": {"pager": "123"}}
    }));
    let out = ProfileSchema::migrate(&stored, &old, &new).unwrap();
    assert_eq!(
        out,
        doc(json!({
            "age": 36, "team": "red", "tag": ["x"], "colours": "green",
            "_archived": {
                "2": {"pager": "123"},
                "4": {"nickname": "augusta", "pets": ["cat", "dog"], "fax": "+441234"}
            }
        }))
    );
    // Nothing was lost: every stored value is either kept or archived.
    let archive = ProfileSchema::archived(&out).unwrap();
    assert_eq!(archive["4"]["nickname"], "augusta");
    // The result passes a merge under the new schema, and a replace asks for the new required field.
    let compiled = new.compile().unwrap();
    compiled
        .merge(&out, &doc(json!({"age": 37})), Audience::User)
        .unwrap();
    let e = fields_named(
        compiled
            .replace(&out, &compiled.view(&out, Audience::User), Audience::User)
            .unwrap_err(),
    );
    assert_eq!(e, ["ssn"]);
    // The archive is neither shown nor released.
    assert!(
        !compiled
            .view(&out, Audience::Admin)
            .contains_key(ARCHIVE_KEY)
    );
}

#[test]
fn a_migration_is_refused_backwards_or_to_a_bad_schema_and_never_overwrites_an_archive() {
    let v1 = schema(json!({"version": 1, "fields": [{"name": "a", "kind": {"type": "string"}}]}));
    let v2 = schema(json!({"version": 2, "fields": []}));
    let stored = doc(json!({"a": "new", "_archived": {"1": {"a": "older"}}}));
    assert_eq!(
        fields_named(ProfileSchema::migrate(&stored, &v2, &v1).unwrap_err()),
        ["version"]
    );
    assert_eq!(
        fields_named(ProfileSchema::migrate(&stored, &v1, &v1).unwrap_err()),
        ["version"]
    );
    let bad =
        schema(json!({"version": 3, "fields": [{"name": "Bad", "kind": {"type": "string"}}]}));
    assert_eq!(
        fields_named(ProfileSchema::migrate(&stored, &v2, &bad).unwrap_err()),
        ["fields[0].name"]
    );
    // Archiving again under version 1 would mean the document was not
    // stored under version 1: refused, not overwritten.
    assert!(matches!(
        ProfileSchema::migrate(&stored, &v1, &v2),
        Err(Error::Conflict(_))
    ));
    let out = ProfileSchema::migrate(&doc(json!({"a": "new", "b": null})), &v1, &v2).unwrap();
    assert_eq!(out, doc(json!({"_archived": {"1": {"a": "new"}}})));
    // A migration of a document with nothing to archive adds no archive.
    let out = ProfileSchema::migrate(
        &doc(json!({"a": "x"})),
        &v1,
        &schema(json!({"version": 2, "fields": [
            {"name": "a", "kind": {"type": "string"}}
        ]})),
    )
    .unwrap();
    assert_eq!(out, doc(json!({"a": "x"})));
}

#[test]
fn the_default_schema_takes_todays_attributes() {
    // What realms stored as attributes before schemas existed passes the
    // default schema unchanged.
    let s = ProfileSchema::default().compile().unwrap();
    let today = doc(json!({
        "given_name": "Ada", "family_name": "Lovelace", "locale": "en-GB", "zoneinfo": "Europe/London",
        "picture": "https://example.com/ada.png", "phone_number": "+442079460958",
        "address": {"formatted": "12 St James's Square\nLondon", "country": "UK"}
    }));
    assert_eq!(
        s.replace(&Document::new(), &today, Audience::User).unwrap(),
        today
    );
    assert_eq!(s.view(&today, Audience::User), today);
}

mod properties {
    use proptest::prelude::*;

    use super::*;

    fn json_value() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(Value::from),
            any::<f64>()
                .prop_filter("finite", |f| f.is_finite())
                .prop_map(Value::from),
            ".{0,40}".prop_map(Value::String),
            "\\+[0-9 ]{0,20}".prop_map(Value::String),
        ];
        leaf.prop_recursive(3, 16, 4, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
                prop::collection::btree_map("[a-z_]{1,15}", inner, 0..5)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    fn field_name() -> impl Strategy<Value = String> {
        prop_oneof![
            Just("given_name".to_owned()),
            Just("address".to_owned()),
            Just("phone_number".to_owned()),
            Just("tags".to_owned()),
            Just("shoe_size".to_owned()),
            Just("birthdate".to_owned()),
            Just("employee_id".to_owned()),
            "[a-z_]{1,12}",
        ]
    }

    proptest! {
        #[test]
        fn writes_never_panic_and_what_they_accept_is_stable(
            input in prop::collection::btree_map(field_name(), json_value(), 0..8),
            admin in any::<bool>(),
        ) {
            let s = rich();
            let editor = if admin { Audience::Admin } else { Audience::User };
            let input: Document = input.into_iter().collect();
            if let Ok(out) = s.merge(&Document::new(), &input, editor) {
                // Normalising is idempotent: what was stored is accepted as it is.
                let again = s.merge(&Document::new(), &out, Audience::Admin).unwrap();
                prop_assert_eq!(again, out);
            }
            let _ = s.replace(&Document::new(), &input, editor);
        }

        #[test]
        fn a_migration_loses_no_value(
            stored in prop::collection::btree_map(field_name(), json_value(), 0..8),
        ) {
            let old = rich();
            let new = ProfileSchema { version: 2, ..ProfileSchema::default() };
            let stored: Document = stored.into_iter().filter(|(_, v)| !v.is_null()).collect();
            let out = ProfileSchema::migrate(&stored, old.schema(), &new).unwrap();
            let archive = ProfileSchema::archived(&out).and_then(|a| a.get("1")).and_then(Value::as_object);
            for (k, v) in &stored {
                let kept = out.contains_key(k);
                let archived = archive.is_some_and(|a| a.get(k) == Some(v));
                prop_assert!(kept != archived, "{} = {} lost or doubled", k, v);
            }
            // What is kept fits the new schema.
            let compiled = new.compile().unwrap();
            let mut kept = out.clone();
            kept.remove(ARCHIVE_KEY);
            prop_assert_eq!(compiled.replace(&Document::new(), &kept, Audience::Admin).unwrap(), kept);
        }
    }
}
