#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use serde_json::{Value, json};

use super::*;
use crate::ScimType;
use crate::schema::ResourceSchema;
use crate::urn::{ENTERPRISE_USER, PATCH_OP};

fn request(ops: Value) -> Value {
    json!({"schemas": [PATCH_OP], "Operations": ops})
}

fn parse(ops: Value) -> Result<PatchRequest, ScimError> {
    PatchRequest::parse(&request(ops), &PatchLimits::default())
}

fn user() -> Value {
    json!({
        "schemas": [crate::urn::USER],
        "id": "u1",
        "userName": "bjensen",
        "name": {"givenName": "Barbara", "familyName": "Jensen"},
        "active": true,
        "emails": [
            {"value": "bjensen@example.com", "type": "work", "primary": true},
            {"value": "babs@jensen.org", "type": "home"}
        ],
        "meta": {"resourceType": "User", "version": "W/\"1\""}
    })
}

fn group() -> Value {
    json!({
        "schemas": [crate::urn::GROUP],
        "id": "g1",
        "displayName": "Admins",
        "members": [{"value": "u1", "type": "User"}, {"value": "u2", "type": "User"}, {"value": "g9", "type": "Group"}]
    })
}

/// Applies `ops` to `resource` with `schema`.
fn run(resource: &mut Value, schema: &ResourceSchema, ops: Value) -> Result<bool, ScimError> {
    parse(ops)?.apply(resource, schema)
}

fn patched_user(ops: Value) -> Value {
    let mut u = user();
    run(&mut u, ResourceSchema::user(), ops).unwrap_or_else(|e| panic!("{e}"));
    u
}

fn user_error(ops: Value) -> ScimError {
    let mut u = user();
    let e = run(&mut u, ResourceSchema::user(), ops).unwrap_err();
    assert_eq!(u, user(), "a failed PATCH changes nothing");
    e
}

// Parsing.

#[test]
fn parse_checks_the_envelope() {
    let limits = PatchLimits::default();
    let e = PatchRequest::parse(&json!([]), &limits).unwrap_err();
    assert_eq!(e.scim_type, Some(ScimType::InvalidSyntax));
    let e = PatchRequest::parse(&json!({"schemas": ["x"], "Operations": []}), &limits).unwrap_err();
    assert_eq!(e.scim_type, Some(ScimType::InvalidSyntax));
    assert!(e.detail.contains(PATCH_OP));
    let e = PatchRequest::parse(&json!({"schemas": [PATCH_OP]}), &limits).unwrap_err();
    assert_eq!(e.scim_type, Some(ScimType::InvalidSyntax));
    // `operations` in another case is accepted.
    let ok = PatchRequest::parse(
        &json!({"schemas": [PATCH_OP], "operations": [{"op": "add", "path": "title", "value": "x"}]}),
        &limits,
    )
    .unwrap();
    assert_eq!(ok.operations.len(), 1);
    assert!(PatchRequest::from_slice(b"{", &limits).is_err());
}

#[test]
fn op_is_case_insensitive() {
    let r = parse(json!([
        {"op": "Replace", "path": "title", "value": "x"},
        {"op": "ADD", "path": "title", "value": "x"},
        {"op": "remove", "path": "title"}
    ]))
    .unwrap();
    let kinds: Vec<PatchOpKind> = r.operations.iter().map(|o| o.kind).collect();
    assert_eq!(
        kinds,
        [PatchOpKind::Replace, PatchOpKind::Add, PatchOpKind::Remove]
    );
    let e = parse(json!([{"op": "move", "path": "title"}])).unwrap_err();
    assert_eq!(e.scim_type, Some(ScimType::InvalidSyntax));
    assert!(e.detail.starts_with("operation 0:"), "{}", e.detail);
}

#[test]
fn path_rules() {
    let e = parse(json!([{"op": "remove"}])).unwrap_err();
    assert_eq!(e.scim_type, Some(ScimType::NoTarget));
    let e = parse(json!([{"op": "add", "path": "title"}])).unwrap_err();
    assert_eq!(e.scim_type, Some(ScimType::InvalidValue));
    let e = parse(json!([{"op": "replace", "value": "x"}])).unwrap_err();
    assert_eq!(e.scim_type, Some(ScimType::InvalidValue));
    let e = parse(json!([{"op": "add", "path": "emails[type eq]", "value": "x"}])).unwrap_err();
    assert_eq!(e.scim_type, Some(ScimType::InvalidPath));
    let e = parse(json!([{"op": "add", "path": 3, "value": "x"}])).unwrap_err();
    assert_eq!(e.scim_type, Some(ScimType::InvalidPath));
    // An empty path counts as absent.
    let r = parse(json!([{"op": "replace", "path": "", "value": {"title": "x"}}])).unwrap();
    assert!(r.operations[0].path.is_none());
}

#[test]
fn path_grammar() {
    let p = PatchPath::parse(r#"emails[type eq "work"].value"#).unwrap();
    assert_eq!(p.attr, AttrPath::new("emails"));
    assert_eq!(p.sub.as_deref(), Some("value"));
    assert_eq!(p.to_string(), r#"emails[type eq "work"].value"#);
    let p = PatchPath::parse("name.familyName").unwrap();
    assert_eq!(p, PatchPath::attr(AttrPath::with_sub("name", "familyName")));
    let p = PatchPath::parse(
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value",
    )
    .unwrap();
    assert_eq!(p.attr.urn.as_deref(), Some(ENTERPRISE_USER));
    let p = PatchPath::parse(r#"members[value eq "2819c223"]"#).unwrap();
    assert!(p.filter.is_some() && p.sub.is_none());
    assert!(PatchPath::parse(r#"name.givenName[type eq "x"]"#).is_err());
    assert!(PatchPath::parse(r#"emails[type eq "work"]."#).is_err());
    assert!(PatchPath::parse(r#"emails[type eq "work"].value.x"#).is_err());
    assert!(PatchPath::parse("emails x").is_err());
}

#[test]
fn limits_on_count_and_size() {
    let limits = PatchLimits {
        max_operations: 2,
        max_value_bytes: 100,
        ..PatchLimits::default()
    };
    let op = json!({"op": "add", "path": "title", "value": "x"});
    let e = PatchRequest::parse(&request(json!([op, op, op])), &limits).unwrap_err();
    assert_eq!(e.scim_type, Some(ScimType::TooMany));
    let big = json!({"op": "add", "path": "title", "value": "x".repeat(200)});
    let e = PatchRequest::parse(&request(json!([big])), &limits).unwrap_err();
    assert_eq!(e.scim_type, Some(ScimType::InvalidValue));
    let default = PatchLimits::default();
    assert_eq!(default.max_operations, 1000);
    let ops: Vec<Value> = (0..1001).map(|_| op.clone()).collect();
    assert!(PatchRequest::parse(&request(Value::Array(ops)), &default).is_err());
}

// Add.

#[test]
fn add_to_multi_valued_appends() {
    let u = patched_user(
        json!([{"op": "add", "path": "emails", "value": [{"value": "b@x.org", "type": "other"}]}]),
    );
    assert_eq!(u["emails"].as_array().unwrap().len(), 3);
    assert_eq!(u["emails"][2]["value"], "b@x.org");
    // One value, not in an array.
    let u = patched_user(json!([{"op": "add", "path": "emails", "value": {"value": "c@x.org"}}]));
    assert_eq!(u["emails"][2], json!({"value": "c@x.org"}));
    // A value already there changes nothing.
    let mut u = user();
    let changed = run(
        &mut u,
        ResourceSchema::user(),
        json!([{"op": "add", "path": "emails", "value": [{"value": "babs@jensen.org", "type": "home"}]}]),
    )
    .unwrap();
    assert!(!changed);
    assert_eq!(u, user());
}

#[test]
fn add_primary_makes_others_non_primary() {
    let u = patched_user(
        json!([{"op": "add", "path": "emails", "value": [{"value": "n@x.org", "primary": true}]}]),
    );
    assert_eq!(u["emails"][0]["primary"], false);
    assert_eq!(u["emails"][2]["primary"], true);
}

#[test]
fn add_single_and_complex() {
    let u = patched_user(json!([
        {"op": "add", "path": "title", "value": "Tour Guide"},
        {"op": "add", "path": "name", "value": {"middleName": "Jane"}},
        {"op": "add", "path": "name.honorificPrefix", "value": "Ms."}
    ]));
    assert_eq!(u["title"], "Tour Guide");
    assert_eq!(
        u["name"],
        json!({"givenName": "Barbara", "familyName": "Jensen", "middleName": "Jane", "honorificPrefix": "Ms."})
    );
}

#[test]
fn add_without_path_merges() {
    let u = patched_user(json!([{"op": "add", "value": {
        "emails": [{"value": "z@x.org", "type": "other"}],
        "nickName": "Babs",
        "name": {"formatted": "Ms. Barbara J Jensen"}
    }}]));
    assert_eq!(u["nickName"], "Babs");
    assert_eq!(u["emails"].as_array().unwrap().len(), 3);
    assert_eq!(u["name"]["formatted"], "Ms. Barbara J Jensen");
    assert_eq!(u["name"]["givenName"], "Barbara");
}

#[test]
fn add_extension_attributes() {
    let u = patched_user(json!([
        {"op": "add", "path": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber", "value": "701984"}
    ]));
    assert_eq!(u[ENTERPRISE_USER]["employeeNumber"], "701984");
    assert_eq!(u["schemas"], json!([crate::urn::USER, ENTERPRISE_USER]));
    let u = patched_user(json!([{"op": "add", "value": {
        ENTERPRISE_USER: {"department": "Tour Operations", "manager": {"value": "m1"}}
    }}]));
    assert_eq!(
        u[ENTERPRISE_USER],
        json!({"department": "Tour Operations", "manager": {"value": "m1"}})
    );
    let u = patched_user(
        json!([{"op": "add", "path": ENTERPRISE_USER, "value": {"costCenter": "4130"}}]),
    );
    assert_eq!(u[ENTERPRISE_USER], json!({"costCenter": "4130"}));
}

// Replace.

#[test]
fn replace_single_multi_and_complex() {
    let u = patched_user(json!([
        {"op": "replace", "path": "userName", "value": "babs"},
        {"op": "replace", "path": "emails", "value": [{"value": "only@x.org", "type": "work"}]},
        {"op": "replace", "path": "name", "value": {"familyName": "Doe"}}
    ]));
    assert_eq!(u["userName"], "babs");
    assert_eq!(
        u["emails"],
        json!([{"value": "only@x.org", "type": "work"}])
    );
    assert_eq!(
        u["name"],
        json!({"givenName": "Barbara", "familyName": "Doe"}),
        "other sub-attributes stay"
    );
}

#[test]
fn replace_with_value_filter() {
    let u = patched_user(json!([
        {"op": "replace", "path": "emails[type eq \"work\"]", "value": {"value": "new@example.com", "type": "work"}}
    ]));
    assert_eq!(
        u["emails"][0],
        json!({"value": "new@example.com", "type": "work"})
    );
    assert_eq!(u["emails"][1]["value"], "babs@jensen.org");
    let u = patched_user(json!([
        {"op": "replace", "path": "emails[type eq \"home\"].value", "value": "babs@home.org"}
    ]));
    assert_eq!(
        u["emails"][1],
        json!({"value": "babs@home.org", "type": "home"})
    );
    assert_eq!(u["emails"][0]["value"], "bjensen@example.com");
}

#[test]
fn replace_filter_matching_nothing() {
    // `eq` conditions joined by `and`: the value is created (Entra).
    let u = patched_user(json!([
        {"op": "replace", "path": "phoneNumbers[type eq \"mobile\"].value", "value": "+1 555 0100"}
    ]));
    assert_eq!(
        u["phoneNumbers"],
        json!([{"type": "mobile", "value": "+1 555 0100"}])
    );
    // Anything else: noTarget.
    let e = user_error(json!([
        {"op": "replace", "path": "emails[value co \"nowhere\"].type", "value": "work"}
    ]));
    assert_eq!(e.scim_type, Some(ScimType::NoTarget));
}

#[test]
fn replace_without_path_and_null() {
    let u = patched_user(json!([
        {"op": "replace", "value": {"active": false, "name.givenName": "Babs", "title": "Boss"}},
        {"op": "replace", "path": "emails", "value": null}
    ]));
    assert_eq!(u["active"], false);
    assert_eq!(u["name"]["givenName"], "Babs");
    assert_eq!(u["title"], "Boss");
    assert!(u.get("emails").is_none());
}

#[test]
fn replace_with_attribute_names_in_another_case() {
    let u = patched_user(
        json!([{"op": "replace", "path": "USERNAME", "value": "x"}, {"op": "replace", "path": "Name.GivenName", "value": "y"}]),
    );
    assert_eq!(u["userName"], "x");
    assert_eq!(u["name"]["givenName"], "y");
    assert!(u.get("USERNAME").is_none());
}

// Remove.

#[test]
fn remove_attribute_sub_and_filtered() {
    let u = patched_user(json!([
        {"op": "remove", "path": "name.givenName"},
        {"op": "remove", "path": "emails[type eq \"home\"]"},
        {"op": "remove", "path": "active"}
    ]));
    assert_eq!(u["name"], json!({"familyName": "Jensen"}));
    assert_eq!(u["emails"].as_array().unwrap().len(), 1);
    assert!(u.get("active").is_none());
    let u = patched_user(json!([{"op": "remove", "path": "emails[type eq \"work\"].primary"}]));
    assert_eq!(
        u["emails"][0],
        json!({"value": "bjensen@example.com", "type": "work"})
    );
    // Removing every value removes the attribute.
    let u = patched_user(json!([{"op": "remove", "path": "emails[value pr]"}]));
    assert!(u.get("emails").is_none());
    // Nothing matched, or nothing there: no change.
    let mut u = user();
    assert!(!run(&mut u, ResourceSchema::user(), json!([{"op": "remove", "path": "emails[type eq \"other\"]"}, {"op": "remove", "path": "nickName"}])).unwrap());
}

#[test]
fn remove_required_is_refused() {
    let e = user_error(json!([{"op": "remove", "path": "userName"}]));
    assert_eq!(e.scim_type, Some(ScimType::InvalidValue));
    let e = user_error(json!([{"op": "replace", "path": "userName", "value": null}]));
    assert_eq!(e.scim_type, Some(ScimType::InvalidValue));
}

#[test]
fn remove_extension_attribute_and_extension() {
    let mut u = patched_user(
        json!([{"op": "add", "value": {ENTERPRISE_USER: {"division": "Theme Park", "department": "Tours"}}}]),
    );
    run(&mut u, ResourceSchema::user(), json!([{"op": "remove", "path": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:division"}])).unwrap();
    assert_eq!(u[ENTERPRISE_USER], json!({"department": "Tours"}));
    run(&mut u, ResourceSchema::user(), json!([{"op": "remove", "path": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department"}])).unwrap();
    assert!(u.get(ENTERPRISE_USER).is_none(), "an empty extension goes");
    assert_eq!(
        u["schemas"],
        json!([crate::urn::USER]),
        "and its URN with it"
    );
}

// Mutability and validation.

#[test]
fn read_only_attributes_are_refused() {
    for ops in [
        json!([{"op": "replace", "path": "id", "value": "other"}]),
        json!([{"op": "remove", "path": "meta"}]),
        json!([{"op": "add", "path": "meta.version", "value": "W/\"9\""}]),
        json!([{"op": "add", "path": "groups", "value": [{"value": "g1"}]}]),
        json!([{"op": "replace", "value": {"id": "other"}}]),
        json!([{"op": "replace", "path": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.displayName", "value": "x"}]),
    ] {
        let e = user_error(ops.clone());
        assert_eq!(e.scim_type, Some(ScimType::Mutability), "{ops}");
    }
    // Okta resends the unchanged id in a path-less replace.
    let u = patched_user(json!([{"op": "replace", "value": {"id": "u1", "active": false}}]));
    assert_eq!(u["active"], false);
}

#[test]
fn immutable_sub_attributes() {
    let mut g = group();
    let e = run(
        &mut g,
        ResourceSchema::group(),
        json!([{"op": "replace", "path": "members[value eq \"u1\"].value", "value": "u7"}]),
    )
    .unwrap_err();
    assert_eq!(e.scim_type, Some(ScimType::Mutability));
}

#[test]
fn unknown_attributes_and_types() {
    let e = user_error(json!([{"op": "add", "path": "shoeSize", "value": 42}]));
    assert_eq!(e.scim_type, Some(ScimType::InvalidPath));
    let e = user_error(json!([{"op": "add", "path": "name.nickname", "value": "x"}]));
    assert_eq!(e.scim_type, Some(ScimType::InvalidPath));
    let e = user_error(json!([{"op": "add", "path": "active", "value": "maybe"}]));
    assert_eq!(e.scim_type, Some(ScimType::InvalidValue));
    let e = user_error(json!([{"op": "add", "path": "title[value eq \"x\"]", "value": "x"}]));
    assert_eq!(e.scim_type, Some(ScimType::InvalidPath));
    let e =
        user_error(json!([{"op": "add", "path": "urn:example:custom:2.0:User:x", "value": "x"}]));
    assert_eq!(e.scim_type, Some(ScimType::InvalidPath));
    let e = user_error(
        json!([{"op": "add", "value": {"emails": "not an email object", "bad key!": 1}}]),
    );
    assert_eq!(e.scim_type, Some(ScimType::InvalidPath));
}

#[test]
fn operations_are_all_or_nothing() {
    let e = user_error(json!([
        {"op": "replace", "path": "title", "value": "ok"},
        {"op": "replace", "path": "id", "value": "no"}
    ]));
    assert!(e.detail.starts_with("operation 1:"), "{}", e.detail);
}

#[test]
fn non_object_resource_is_invalid() {
    let mut v = json!([1]);
    let e = run(
        &mut v,
        ResourceSchema::user(),
        json!([{"op": "add", "path": "title", "value": "x"}]),
    )
    .unwrap_err();
    assert_eq!(e.scim_type, Some(ScimType::InvalidValue));
}

// What providers send.

#[test]
fn entra_user_update() {
    // As Microsoft Entra ID sends it for a user attribute change.
    let body = json!({
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": [
            {"op": "Replace", "path": "active", "value": "False"},
            {"op": "Add", "path": "emails[type eq \"work\"].value", "value": "barbara@contoso.com"},
            {"op": "Replace", "path": "name.givenName", "value": "Barbara"},
            {"op": "Add", "path": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager", "value": "26118915-6090-4610-87e4-49d8ca9f808d"},
            {"op": "Add", "path": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber", "value": "1234"},
            {"op": "Add", "path": "phoneNumbers[type eq \"mobile\"].value", "value": "+1 555 0101"},
            {"op": "Add", "path": "roles", "value": [{"primary": "True", "type": "WindowsAzureActiveDirectoryRole", "value": "Admin"}]},
            {"op": "Replace", "path": "externalId", "value": "b7a41f5c"}
        ]
    });
    let patch = PatchRequest::parse(&body, &PatchLimits::default()).unwrap();
    let mut u = user();
    assert!(patch.apply(&mut u, ResourceSchema::user()).unwrap());
    assert_eq!(u["active"], false);
    assert_eq!(u["emails"][0]["value"], "barbara@contoso.com");
    assert_eq!(u["emails"][1]["value"], "babs@jensen.org");
    assert_eq!(
        u[ENTERPRISE_USER],
        json!({"manager": {"value": "26118915-6090-4610-87e4-49d8ca9f808d"}, "employeeNumber": "1234"})
    );
    assert_eq!(
        u["phoneNumbers"],
        json!([{"type": "mobile", "value": "+1 555 0101"}])
    );
    assert_eq!(u["roles"][0]["primary"], true);
    assert_eq!(u["externalId"], "b7a41f5c");
}

#[test]
fn entra_group_members() {
    let mut g = group();
    run(
        &mut g,
        ResourceSchema::group(),
        json!([
            {"op": "Add", "path": "members", "value": [{"value": "u3"}, {"value": "u1"}]},
            {"op": "Remove", "path": "members", "value": [{"value": "u2"}, {"value": "g9"}]},
            {"op": "Replace", "path": "displayName", "value": "Administrators"}
        ]),
    )
    .unwrap();
    assert_eq!(
        g["members"],
        json!([{"value": "u1", "type": "User"}, {"value": "u3"}])
    );
    assert_eq!(g["displayName"], "Administrators");
    // Remove without value removes every member.
    run(
        &mut g,
        ResourceSchema::group(),
        json!([{"op": "Remove", "path": "members"}]),
    )
    .unwrap();
    assert!(g.get("members").is_none());
}

#[test]
fn okta_shapes() {
    let u = patched_user(json!([{"op": "replace", "value": {"active": false}}]));
    assert_eq!(u["active"], false);
    let mut g = group();
    run(
        &mut g,
        ResourceSchema::group(),
        json!([
            {"op": "remove", "path": "members[value eq \"u2\"]"},
            {"op": "add", "path": "members", "value": [{"value": "u5", "display": "Five"}]},
            {"op": "replace", "value": {"id": "g1", "displayName": "Ops"}}
        ]),
    )
    .unwrap();
    assert_eq!(g["displayName"], "Ops");
    let ids: Vec<&str> = g["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["value"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["u1", "g9", "u5"]);
}

#[test]
fn coercions() {
    let def = ResourceSchema::user()
        .resolve(&AttrPath::new("active"))
        .unwrap()
        .attribute;
    assert_eq!(apply::coerce(json!("TRUE"), def).unwrap(), json!(true));
    assert!(apply::coerce(json!(1), def).is_err());
    let def = ResourceSchema::user()
        .resolve(&AttrPath::new("userName"))
        .unwrap()
        .attribute;
    assert_eq!(apply::coerce(json!(42), def).unwrap(), json!("42"));
    assert!(apply::coerce(json!({}), def).is_err());
    let def = ResourceSchema::user()
        .resolve(&AttrPath::with_sub("meta", "created"))
        .unwrap()
        .leaf()
        .clone();
    assert!(apply::coerce(json!("2020-01-01T00:00:00Z"), &def).is_ok());
    assert!(apply::coerce(json!("yesterday"), &def).is_err());
}

// Members delta.

fn delta(ops: Value) -> Option<(MembersDelta, PatchRequest)> {
    parse(ops).unwrap().members_delta()
}

#[test]
fn members_delta_of_entra_and_okta_requests() {
    let (d, rest) = delta(json!([
        {"op": "Add", "path": "members", "value": [{"value": "a"}, {"value": "b"}]},
        {"op": "Remove", "path": "members", "value": [{"value": "b"}, {"value": "c"}]},
        {"op": "remove", "path": "members[value eq \"d\" or value eq \"e\"]"},
        {"op": "Replace", "path": "displayName", "value": "x"}
    ]))
    .unwrap();
    assert_eq!(d.add, ["a"]);
    assert_eq!(d.remove, ["b", "c", "d", "e"]);
    assert_eq!(d.replace, None);
    assert_eq!(rest.operations.len(), 1);
    assert!(!d.is_empty());
}

#[test]
fn members_delta_replace_folds_later_changes() {
    let (d, _) = delta(json!([
        {"op": "add", "path": "members", "value": [{"value": "z"}]},
        {"op": "replace", "path": "members", "value": [{"value": "a"}, {"value": "b"}, {"value": "a"}]},
        {"op": "add", "path": "members", "value": [{"value": "c"}]},
        {"op": "remove", "path": "members[value eq \"a\"]"}
    ]))
    .unwrap();
    assert_eq!(d.replace, Some(vec!["b".to_owned(), "c".to_owned()]));
    assert!(d.add.is_empty() && d.remove.is_empty());
    let (d, _) = delta(json!([{"op": "remove", "path": "members"}])).unwrap();
    assert_eq!(d.replace, Some(vec![]));
}

#[test]
fn members_delta_without_path() {
    let (d, rest) = delta(json!([
        {"op": "replace", "value": {"displayName": "x", "members": [{"value": "m"}]}}
    ]))
    .unwrap();
    assert_eq!(d.replace, Some(vec!["m".to_owned()]));
    assert_eq!(rest.operations[0].value, Some(json!({"displayName": "x"})));
    // Remove then add of the same id: added.
    let (d, _) = delta(json!([
        {"op": "remove", "path": "members[value eq \"a\"]"},
        {"op": "add", "value": {"members": [{"value": "a"}]}}
    ]))
    .unwrap();
    assert_eq!((d.add, d.remove), (vec!["a".to_owned()], vec![]));
}

#[test]
fn members_delta_refuses_what_it_cannot_express() {
    assert!(delta(json!([{"op": "remove", "path": "members[type eq \"Group\"]"}])).is_none());
    assert!(
        delta(json!([{"op": "replace", "path": "members[value eq \"a\"].display", "value": "x"}]))
            .is_none()
    );
    assert!(
        delta(json!([{"op": "add", "path": "members", "value": [{"display": "no id"}]}])).is_none()
    );
}

#[test]
fn members_delta_agrees_with_apply() {
    let ops = json!([
        {"op": "add", "path": "members", "value": [{"value": "u4"}, {"value": "u1"}]},
        {"op": "remove", "path": "members", "value": [{"value": "u2"}]},
        {"op": "remove", "path": "members[value eq \"g9\"]"}
    ]);
    let (d, _) = delta(ops.clone()).unwrap();
    let mut g = group();
    run(&mut g, ResourceSchema::group(), ops).unwrap();
    let applied: Vec<String> = g["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["value"].as_str().unwrap().to_owned())
        .collect();
    let mut expected: Vec<String> = ["u1", "u2", "g9"]
        .iter()
        .map(|s| (*s).to_owned())
        .filter(|m| !d.remove.contains(m))
        .collect();
    for a in d.add {
        if !expected.contains(&a) {
            expected.push(a);
        }
    }
    assert_eq!(applied, expected);
}
