#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use serde_json::json;

use super::*;
use crate::urn::{ENTERPRISE_USER, GROUP, USER};

fn path(s: &str) -> AttrPath {
    AttrPath::parse(s).unwrap()
}

#[test]
fn user_schema_document() {
    let v = serde_json::to_value(&ResourceSchema::user().core).unwrap();
    assert_eq!(v["id"], USER);
    assert_eq!(v["schemas"], json!([crate::urn::SCHEMA]));
    let attrs = v["attributes"].as_array().unwrap();
    let user_name = attrs.iter().find(|a| a["name"] == "userName").unwrap();
    assert_eq!(
        user_name,
        &json!({
            "name": "userName", "type": "string", "multiValued": false,
            "description": "Unique identifier for the user, used to authenticate.",
            "required": true, "caseExact": false, "mutability": "readWrite",
            "returned": "default", "uniqueness": "server"
        })
    );
    let password = attrs.iter().find(|a| a["name"] == "password").unwrap();
    assert_eq!(
        (&password["mutability"], &password["returned"]),
        (&json!("writeOnly"), &json!("never"))
    );
    let emails = attrs.iter().find(|a| a["name"] == "emails").unwrap();
    assert_eq!(emails["multiValued"], true);
    assert_eq!(emails["type"], "complex");
    let subs: Vec<&str> = emails["subAttributes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert_eq!(subs, ["value", "display", "type", "primary"]);
    let groups = attrs.iter().find(|a| a["name"] == "groups").unwrap();
    assert_eq!(groups["mutability"], "readOnly");
    // Round trip.
    let back: Schema = serde_json::from_value(v).unwrap();
    assert_eq!(&back, &ResourceSchema::user().core);
}

#[test]
fn group_and_enterprise_documents() {
    let docs = ResourceSchema::documents();
    let ids: Vec<&str> = docs.iter().map(|d| d.id.as_str()).collect();
    assert_eq!(ids, [USER, GROUP, ENTERPRISE_USER]);
    let group = &docs[1];
    let members = group.attribute("members").unwrap();
    assert!(members.multi_valued);
    assert_eq!(
        members.sub_attribute("value").unwrap().mutability,
        Mutability::Immutable
    );
    assert!(group.attribute("displayName").unwrap().required);
    let ent = &docs[2];
    let names: Vec<&str> = ent.attributes.iter().map(|a| a.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "employeeNumber",
            "costCenter",
            "organization",
            "division",
            "department",
            "manager"
        ]
    );
    let manager = serde_json::to_value(ent.attribute("manager").unwrap()).unwrap();
    let subs: Vec<&str> = manager["subAttributes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert_eq!(subs, ["value", "$ref", "displayName"]);
    assert_eq!(
        manager["subAttributes"][1]["referenceTypes"],
        json!(["User"])
    );
}

#[test]
fn common_attributes() {
    let user = ResourceSchema::user();
    let id = user.resolve(&path("ID")).unwrap();
    assert!(id.attribute.case_exact);
    assert_eq!(id.attribute.returned, Returned::Always);
    assert_eq!(id.attribute.mutability, Mutability::ReadOnly);
    assert!(
        user.resolve(&path("externalId"))
            .unwrap()
            .attribute
            .case_exact
    );
    assert!(
        !user
            .resolve(&path("userName"))
            .unwrap()
            .attribute
            .case_exact
    );
    let modified = user.resolve(&path("meta.lastModified")).unwrap();
    assert_eq!(modified.leaf().kind, AttributeType::DateTime);
    assert_eq!(modified.canonical(), "meta.lastModified");
}

#[test]
fn resolution_and_canonical_paths() {
    let user = ResourceSchema::user();
    let canonical = |s: &str| user.canonical_path(&path(s));
    assert_eq!(canonical("USERNAME").as_deref(), Some("userName"));
    assert_eq!(
        canonical("name.FAMILYNAME").as_deref(),
        Some("name.familyName")
    );
    assert_eq!(canonical("emails.value").as_deref(), Some("emails.value"));
    assert_eq!(
        canonical("urn:ietf:params:scim:schemas:core:2.0:User:userName").as_deref(),
        Some("userName")
    );
    assert_eq!(
        canonical("urn:ietf:params:scim:schemas:extension:enterprise:2.0:user:EMPLOYEENUMBER")
            .as_deref(),
        Some("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber")
    );
    assert_eq!(
        canonical("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value")
            .as_deref(),
        Some("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value")
    );
    assert_eq!(
        canonical("department").as_deref(),
        Some("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department"),
        "unqualified extension attributes resolve when no core attribute has the name"
    );
    assert_eq!(canonical("shoeSize"), None);
    assert_eq!(canonical("name.nickname"), None);
    assert_eq!(canonical("urn:example:x:userName"), None);
    let group = ResourceSchema::group();
    assert_eq!(
        group.canonical_path(&path("members.VALUE")).as_deref(),
        Some("members.value")
    );
    assert_eq!(
        group.canonical_path(&path("displayName")).as_deref(),
        Some("displayName")
    );
    assert_eq!(group.canonical_path(&path("department")), None);
}

#[test]
fn extension_named_as_a_whole() {
    let user = ResourceSchema::user();
    let whole = path(ENTERPRISE_USER);
    assert_eq!(
        user.extension_named_by(&whole).map(|e| e.id.as_str()),
        Some(ENTERPRISE_USER)
    );
    assert!(
        user.extension_named_by(&path(
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:USER"
        ))
        .is_some()
    );
    assert!(
        user.extension_named_by(&path(
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department"
        ))
        .is_none()
    );
    assert!(user.extension_named_by(&path("userName")).is_none());
    assert_eq!(user.schema_urns(true), [USER, ENTERPRISE_USER]);
    assert_eq!(user.schema_urns(false), [USER]);
}

#[test]
fn builders_set_characteristics() {
    let a = AttributeDef::new("x", AttributeType::Integer)
        .multi()
        .required()
        .case_exact()
        .mutability(Mutability::Immutable)
        .returned(Returned::Request)
        .uniqueness(Uniqueness::Global)
        .canonical(&["a"])
        .describe("d");
    let v = serde_json::to_value(&a).unwrap();
    assert_eq!(
        v,
        json!({"name": "x", "type": "integer", "multiValued": true, "description": "d", "required": true,
               "canonicalValues": ["a"], "caseExact": true, "mutability": "immutable",
               "returned": "request", "uniqueness": "global"})
    );
}
