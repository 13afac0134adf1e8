#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use serde_json::{Value, json};

use super::*;
use crate::ScimType;
use crate::urn::ENTERPRISE_USER;

fn q(pairs: &[(&str, &str)]) -> Result<ListQuery, crate::ScimError> {
    ListQuery::from_pairs(pairs.iter().copied(), &QueryLimits::default())
}

#[test]
fn defaults() {
    let query = q(&[]).unwrap();
    assert_eq!(query.filter, None);
    assert_eq!(query.sort_by, None);
    assert_eq!(query.sort_order, SortOrder::Ascending);
    assert_eq!(
        (query.start_index, query.count, query.offset()),
        (1, 100, 0)
    );
    assert_eq!(query.attributes, AttributeSelection::Default);
}

#[test]
fn start_index_and_count_are_clamped() {
    assert_eq!(q(&[("startIndex", "0")]).unwrap().start_index, 1);
    assert_eq!(q(&[("startIndex", "-5")]).unwrap().start_index, 1);
    assert_eq!(q(&[("startIndex", "11")]).unwrap().offset(), 10);
    assert_eq!(q(&[("count", "-1")]).unwrap().count, 0);
    assert_eq!(q(&[("count", "0")]).unwrap().count, 0);
    assert_eq!(q(&[("count", "5000")]).unwrap().count, 200);
    assert_eq!(
        q(&[("count", "99999999999999999999999")]).unwrap().count,
        200
    );
    assert_eq!(
        q(&[("startIndex", "-99999999999999999999999")])
            .unwrap()
            .start_index,
        1
    );
    let e = q(&[("count", "ten")]).unwrap_err();
    assert_eq!(e.scim_type, Some(ScimType::InvalidValue));
    assert!(q(&[("startIndex", "1.5")]).is_err());
    let limits = QueryLimits {
        max_results: 10,
        default_count: 50,
        ..QueryLimits::default()
    };
    assert_eq!(ListQuery::from_pairs([], &limits).unwrap().count, 10);
}

#[test]
fn parameters_and_their_errors() {
    let query = q(&[
        ("FILTER", r#"userName eq "x""#),
        ("sortBy", "name.familyName"),
        ("sortOrder", "DESCENDING"),
        ("attributes", "userName, emails.value"),
        ("unknown", "ignored"),
    ])
    .unwrap();
    assert!(query.filter.is_some());
    assert_eq!(
        query.sort_by,
        Some(AttrPath::with_sub("name", "familyName"))
    );
    assert_eq!(query.sort_order, SortOrder::Descending);
    assert_eq!(
        query.attributes,
        AttributeSelection::Include(vec![
            AttrPath::new("userName"),
            AttrPath::with_sub("emails", "value")
        ])
    );
    let e = q(&[("filter", "userName eq")]).unwrap_err();
    assert_eq!(e.scim_type, Some(ScimType::InvalidFilter));
    assert!(e.detail.contains("at character"), "{}", e.detail);
    assert_eq!(
        q(&[("sortOrder", "up")]).unwrap_err().scim_type,
        Some(ScimType::InvalidValue)
    );
    assert_eq!(
        q(&[("sortBy", "a b")]).unwrap_err().scim_type,
        Some(ScimType::InvalidValue)
    );
    assert_eq!(
        q(&[("attributes", "userName"), ("excludedAttributes", "emails")])
            .unwrap_err()
            .scim_type,
        Some(ScimType::InvalidValue)
    );
    assert_eq!(
        q(&[("attributes", "user name")]).unwrap_err().scim_type,
        Some(ScimType::InvalidValue)
    );
    // Empty values count as absent.
    let query = q(&[
        ("filter", ""),
        ("attributes", ""),
        ("excludedAttributes", "members"),
    ])
    .unwrap();
    assert_eq!(query.filter, None);
    assert_eq!(
        query.attributes,
        AttributeSelection::Exclude(vec![AttrPath::new("members")])
    );
}

#[test]
fn search_request_body() {
    let body: SearchRequest = serde_json::from_value(json!({
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:SearchRequest"],
        "attributes": ["displayName", "userName"],
        "filter": "displayName sw \"smith\"",
        "startIndex": 0,
        "count": 10
    }))
    .unwrap();
    let query = body.to_query(&QueryLimits::default()).unwrap();
    assert_eq!((query.start_index, query.count), (1, 10));
    assert!(matches!(query.attributes, AttributeSelection::Include(ref a) if a.len() == 2));
    let bad = SearchRequest {
        schemas: vec!["x".into()],
        ..SearchRequest::default()
    };
    assert_eq!(
        bad.to_query(&QueryLimits::default()).unwrap_err().scim_type,
        Some(ScimType::InvalidSyntax)
    );
}

fn user() -> Value {
    json!({
        "schemas": [crate::urn::USER, ENTERPRISE_USER],
        "id": "u1",
        "userName": "bjensen",
        "password": "secret",
        "name": {"givenName": "Barbara", "familyName": "Jensen"},
        "emails": [{"value": "b@example.com", "type": "work"}, {"value": "h@example.com", "type": "home"}],
        "groups": [{"value": "g1", "display": "Admins"}],
        "meta": {"resourceType": "User"},
        "custom": 1,
        ENTERPRISE_USER: {"employeeNumber": "7", "department": "Tours"}
    })
}

fn project_with(attributes: Option<&str>, excluded: Option<&str>) -> Value {
    let selection = AttributeSelection::parse(attributes, excluded).unwrap();
    project(&user(), ResourceSchema::user(), &selection)
}

#[test]
fn projection_default_drops_never() {
    let v = project_with(None, None);
    assert!(v.get("password").is_none());
    let mut expected = user();
    expected.as_object_mut().unwrap().remove("password");
    assert_eq!(v, expected);
}

#[test]
fn projection_attributes() {
    let v = project_with(Some("userName,name.givenName,emails.value"), None);
    assert_eq!(
        v,
        json!({
            "schemas": [crate::urn::USER, ENTERPRISE_USER],
            "id": "u1",
            "userName": "bjensen",
            "name": {"givenName": "Barbara"},
            "emails": [{"value": "b@example.com"}, {"value": "h@example.com"}]
        })
    );
    let v = project_with(
        Some("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department"),
        None,
    );
    assert_eq!(v[ENTERPRISE_USER], json!({"department": "Tours"}));
    assert!(v.get("userName").is_none());
    assert_eq!(v["id"], "u1", "returned always");
    let v = project_with(Some(ENTERPRISE_USER), None);
    assert_eq!(
        v[ENTERPRISE_USER],
        json!({"employeeNumber": "7", "department": "Tours"})
    );
    let v = project_with(
        Some("urn:ietf:params:scim:schemas:core:2.0:User:USERNAME,password"),
        None,
    );
    assert_eq!(v["userName"], "bjensen", "core URN prefix and case");
    assert!(
        v.get("password").is_none(),
        "never returned, even when asked"
    );
}

#[test]
fn projection_excluded_attributes() {
    let v = project_with(
        None,
        Some(
            "emails,name.familyName,id,urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber",
        ),
    );
    assert!(v.get("emails").is_none());
    assert_eq!(v["name"], json!({"givenName": "Barbara"}));
    assert_eq!(v["id"], "u1", "id is returned always");
    assert_eq!(v[ENTERPRISE_USER], json!({"department": "Tours"}));
    assert_eq!(v["custom"], 1);
    let v = project_with(None, Some(ENTERPRISE_USER));
    assert!(v.get(ENTERPRISE_USER).is_none());
    // Entra's `excludedAttributes=members` on groups.
    let group = json!({"id": "g", "displayName": "A", "members": [{"value": "u"}]});
    let v = project(
        &group,
        ResourceSchema::group(),
        &AttributeSelection::parse(None, Some("members")).unwrap(),
    );
    assert_eq!(v, json!({"id": "g", "displayName": "A"}));
}

fn users() -> Vec<Value> {
    vec![
        json!({"id": "1", "userName": "carol", "name": {"familyName": "Zeta"}, "emails": [{"value": "c@x", "primary": true}]}),
        json!({"id": "2", "userName": "Alice", "name": {"familyName": "alpha"}}),
        json!({"id": "3", "userName": "bob", "emails": [{"value": "b2@x"}, {"value": "a@x", "primary": true}]}),
        json!({"id": "4", "userName": "dave", "password": "x"}),
    ]
}

fn ids(page: &crate::wire::ListResponse) -> Vec<&str> {
    page.resources
        .iter()
        .map(|r| r["id"].as_str().unwrap())
        .collect()
}

#[test]
fn run_in_memory() {
    let schema = ResourceSchema::user();
    let page = q(&[("sortBy", "userName")]).unwrap().run(users(), schema);
    assert_eq!(
        ids(&page),
        ["2", "3", "1", "4"],
        "userName sorts ignoring case"
    );
    assert_eq!(
        (page.total_results, page.start_index, page.items_per_page),
        (4, Some(1), Some(4))
    );
    assert!(page.resources[3].get("password").is_none());

    let page = q(&[("sortBy", "name.familyName"), ("sortOrder", "descending")])
        .unwrap()
        .run(users(), schema);
    assert_eq!(
        ids(&page),
        ["3", "4", "1", "2"],
        "missing values first when descending"
    );

    let page = q(&[("sortBy", "emails"), ("startIndex", "2"), ("count", "2")])
        .unwrap()
        .run(users(), schema);
    assert_eq!(ids(&page), ["1", "2"], "primary email of bob is a@x");
    assert_eq!((page.total_results, page.items_per_page), (4, Some(2)));

    let page = q(&[
        ("filter", r#"userName sw "a" or userName eq "BOB""#),
        ("attributes", "userName"),
    ])
    .unwrap()
    .run(users(), schema);
    assert_eq!(page.total_results, 2);
    assert_eq!(page.resources[0], json!({"id": "2", "userName": "Alice"}));

    let page = q(&[("count", "0")]).unwrap().run(users(), schema);
    assert_eq!((page.total_results, page.resources.len()), (4, 0));
}
