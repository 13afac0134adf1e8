//! Property tests: no PATCH request makes parsing or application panic,
//! and a failed request leaves the resource as it was.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use proptest::prelude::*;
use serde_json::{Value, json};

use super::*;
use crate::schema::ResourceSchema;

fn path() -> impl Strategy<Value = Option<String>> {
    prop::option::weighted(
        0.85,
        prop_oneof![
            6 => prop::sample::select(vec![
                "userName",
                "active",
                "title",
                "name",
                "name.givenName",
                "emails",
                "emails.value",
                "emails[type eq \"work\"]",
                "emails[type eq \"work\"].value",
                "emails[value co \"x\"].primary",
                "phoneNumbers[type eq \"mobile\" and primary eq true].value",
                "members",
                "members[value eq \"u1\"]",
                "members[value eq \"u1\"].display",
                "displayName",
                "id",
                "meta",
                "meta.version",
                "groups",
                "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User",
                "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager",
                "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value",
                "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department",
                "x509Certificates",
                "externalId",
                "",
                "unknown",
                "name[type eq \"x\"]",
            ])
            .prop_map(str::to_owned),
            1 => "[a-zA-Z.\\[\\]\" ]{0,20}",
        ],
    )
}

fn value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i32>().prop_map(Value::from),
        prop::sample::select(vec![
            "True",
            "false",
            "work",
            "u1",
            "x",
            "2011-05-13T04:42:34Z",
            ""
        ])
        .prop_map(Value::from),
    ];
    leaf.prop_recursive(3, 16, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map(
                prop::sample::select(vec![
                    "value",
                    "type",
                    "primary",
                    "display",
                    "givenName",
                    "active",
                    "id",
                    "emails",
                    "name.familyName",
                    "schemas",
                    crate::urn::ENTERPRISE_USER,
                    "department"
                ])
                .prop_map(str::to_owned),
                inner,
                0..4,
            )
            .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

fn operation() -> impl Strategy<Value = Value> {
    let op = prop_oneof![
        12 => prop::sample::select(vec!["add", "Replace", "remove", "REMOVE"]),
        1 => Just("bad"),
    ];
    (op, path(), prop::option::of(value())).prop_map(|(op, path, value)| {
        let mut o = serde_json::Map::new();
        o.insert("op".into(), op.into());
        if let Some(p) = path {
            o.insert("path".into(), p.into());
        }
        if let Some(v) = value {
            o.insert("value".into(), v);
        }
        Value::Object(o)
    })
}

fn resource() -> Value {
    json!({
        "schemas": [crate::urn::USER], "id": "u1", "userName": "b", "displayName": "G",
        "name": {"givenName": "B"}, "active": true,
        "emails": [{"value": "a@x", "type": "work", "primary": true}, "stray", null],
        "members": [{"value": "u1"}], "meta": {"version": "1"},
        crate::urn::ENTERPRISE_USER: {"department": "D"}
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn patches_never_panic_and_failures_change_nothing(ops in prop::collection::vec(operation(), 1..4)) {
        let body = json!({"schemas": [crate::urn::PATCH_OP], "Operations": ops});
        let Ok(request) = PatchRequest::parse(&body, &PatchLimits::default()) else { return Ok(()); };
        for schema in [ResourceSchema::user(), ResourceSchema::group()] {
            let mut r = resource();
            match request.apply(&mut r, schema) {
                Ok(changed) => {
                    prop_assert_eq!(changed, r != resource());
                }
                Err(_) => prop_assert_eq!(&r, &resource()),
            }
        }
        let _ = request.members_delta();
    }

    #[test]
    fn arbitrary_bodies_never_panic(body in value()) {
        let _ = PatchRequest::parse(&body, &PatchLimits::default());
        let _ = PatchRequest::parse(&json!({"schemas": [crate::urn::PATCH_OP], "Operations": [body]}), &PatchLimits::default());
    }
}
