#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::collections::HashMap;

use serde_json::{Value, json};

use super::*;
use crate::ScimType;

fn body(ops: Value) -> Vec<u8> {
    serde_json::to_vec(
        &json!({"schemas": [urn::BULK_REQUEST], "failOnErrors": 1, "Operations": ops}),
    )
    .unwrap()
}

fn rfc_example() -> BulkRequest {
    // RFC 7644 §3.7.2, shortened.
    BulkRequest::parse(
        &body(json!([
            {"method": "POST", "path": "/Groups", "bulkId": "ytrewq",
             "data": {"schemas": [urn::GROUP], "displayName": "Group B",
                      "members": [{"type": "User", "value": "bulkId:qwerty"}]}},
            {"method": "POST", "path": "/Users", "bulkId": "qwerty",
             "data": {"schemas": [urn::USER], "userName": "Alice"}},
            {"method": "patch", "path": "/Groups/bulkId:ytrewq", "version": "W/\"1\"",
             "data": {"schemas": [urn::PATCH_OP], "Operations": [{"op": "add", "path": "members", "value": [{"value": "u9"}]}]}},
            {"method": "DELETE", "path": "/Users/b7c14771"}
        ])),
        &BulkLimits::default(),
    )
    .unwrap()
}

#[test]
fn parse_the_rfc_example() {
    let r = rfc_example();
    assert_eq!(r.fail_on_errors, Some(1));
    let methods: Vec<BulkMethod> = r.operations.iter().map(|o| o.method).collect();
    assert_eq!(
        methods,
        [
            BulkMethod::Post,
            BulkMethod::Post,
            BulkMethod::Patch,
            BulkMethod::Delete
        ]
    );
    assert_eq!(r.operations[0].references(), ["qwerty"]);
    assert_eq!(r.operations[2].references(), ["ytrewq"]);
    assert!(r.operations[3].references().is_empty());
}

#[test]
fn execution_order_follows_references() {
    assert_eq!(rfc_example().execution_order(), [1, 3, 0, 2]);
    // A cycle and an unknown reference come last, in the client's order.
    let r = BulkRequest::parse(
        &body(json!([
            {"method": "POST", "path": "/Groups", "bulkId": "a", "data": {"members": [{"value": "bulkId:b"}]}},
            {"method": "POST", "path": "/Groups", "bulkId": "b", "data": {"members": [{"value": "bulkId:a"}]}},
            {"method": "POST", "path": "/Users", "bulkId": "c", "data": {"manager": "bulkId:zzz"}},
            {"method": "POST", "path": "/Users", "bulkId": "d", "data": {}}
        ])),
        &BulkLimits::default(),
    )
    .unwrap();
    assert_eq!(r.execution_order(), [3, 0, 1, 2]);
}

#[test]
fn resolve_references() {
    let mut r = rfc_example();
    let ids = HashMap::from([
        ("qwerty".to_owned(), "92b7".to_owned()),
        ("ytrewq".to_owned(), "e9e3".to_owned()),
    ]);
    resolve_bulk_ids(&mut r.operations[0], &ids).unwrap();
    assert_eq!(
        r.operations[0].data.as_ref().unwrap()["members"][0]["value"],
        "92b7"
    );
    resolve_bulk_ids(&mut r.operations[2], &ids).unwrap();
    assert_eq!(r.operations[2].path, "/Groups/e9e3");
    let mut op = r.operations[0].clone();
    op.data = Some(json!({"members": [{"value": "bulkId:nope"}]}));
    assert_eq!(resolve_bulk_ids(&mut op, &ids).unwrap_err(), "nope");
}

#[test]
fn limits_and_validation() {
    let limits = BulkLimits {
        max_operations: 1,
        max_payload_size: 200,
    };
    let two = body(
        json!([{"method": "DELETE", "path": "/Users/1"}, {"method": "DELETE", "path": "/Users/2"}]),
    );
    assert_eq!(BulkRequest::parse(&two, &limits).unwrap_err().status, 413);
    let big = vec![b' '; 201];
    let e = BulkRequest::parse(&big, &limits).unwrap_err();
    assert_eq!((e.status, e.scim_type), (413, None));
    let d = BulkLimits::default();
    let e = BulkRequest::parse(b"{}", &d).unwrap_err();
    assert_eq!(e.scim_type, Some(ScimType::InvalidSyntax));
    let e = BulkRequest::parse(
        &serde_json::to_vec(&json!({"schemas": ["x"], "Operations": []})).unwrap(),
        &d,
    )
    .unwrap_err();
    assert_eq!(e.scim_type, Some(ScimType::InvalidSyntax));
    let e = BulkRequest::parse(
        &body(json!([{"method": "POST", "path": "/Users", "data": {}}])),
        &d,
    )
    .unwrap_err();
    assert_eq!(
        e.scim_type,
        Some(ScimType::InvalidValue),
        "POST needs a bulkId"
    );
    let e = BulkRequest::parse(
        &body(json!([{"method": "POST", "path": "/Users", "bulkId": "x", "data": {}}, {"method": "POST", "path": "/Users", "bulkId": "x", "data": {}}])),
        &d,
    )
    .unwrap_err();
    assert!(e.detail.contains("twice"));
    let e =
        BulkRequest::parse(&body(json!([{"method": "PUT", "path": "/Users/1"}])), &d).unwrap_err();
    assert_eq!(e.scim_type, Some(ScimType::InvalidSyntax), "PUT needs data");
    assert!(BulkRequest::parse(&body(json!([{"method": "GET", "path": "/Users"}])), &d).is_err());
}

#[test]
fn fail_on_errors() {
    let mut r = rfc_example();
    assert!(!r.should_stop(0));
    assert!(r.should_stop(1));
    r.fail_on_errors = None;
    assert!(!r.should_stop(1000));
    r.fail_on_errors = Some(3);
    assert!(!r.should_stop(2) && r.should_stop(3));
}

#[test]
fn response_shape() {
    let r = rfc_example();
    let ok = BulkOperationResponse {
        method: BulkMethod::Post,
        bulk_id: Some("qwerty".into()),
        version: Some("W/\"1\"".into()),
        location: Some("https://example.com/v2/Users/92b7".into()),
        status: 201,
        response: None,
    };
    let failed = BulkOperationResponse::error(
        &r.operations[1],
        &crate::ScimError::new(ScimType::Uniqueness, "userName taken"),
    );
    let v = serde_json::to_value(BulkResponse::new(vec![ok, failed])).unwrap();
    assert_eq!(v["schemas"], json!([urn::BULK_RESPONSE]));
    assert_eq!(v["Operations"][0]["status"], "201");
    assert_eq!(v["Operations"][0]["method"], "POST");
    assert_eq!(v["Operations"][1]["status"], "409");
    assert_eq!(v["Operations"][1]["response"]["scimType"], "uniqueness");
    assert_eq!(v["Operations"][1]["bulkId"], "qwerty");
    let back: BulkResponse = serde_json::from_value(v).unwrap();
    assert_eq!(back.operations[1].status, 409);
}
